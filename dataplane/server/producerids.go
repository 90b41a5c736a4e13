package server

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strand.dev/dataplane/durablefile"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/wire"
)

// producerIDBlock is how many producer ids a node takes at once.
const producerIDBlock = 1000

// producerIDs hands out producer ids from blocks: in a cluster from
// strand-meta (allocate_producer_ids), on a standalone node from a block
// counter in the data directory (written before a block is used, so a
// restart never hands out an id twice). Safe for concurrent use.
type producerIDs struct {
	// take returns the first id of a new block of producerIDBlock ids.
	take func(ctx context.Context) (int64, error)

	mu        sync.Mutex
	next, end int64
}

// id returns a new producer id.
func (p *producerIDs) id(ctx context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.end {
		first, err := p.take(ctx)
		if err != nil {
			return 0, err
		}
		p.next, p.end = first, first+producerIDBlock
	}
	id := p.next
	p.next++
	return id, nil
}

// producerIDFile is a standalone node's producer id counter.
const producerIDFile = "producer-ids.json"

// localProducerIDs is the block source of a standalone node.
func localProducerIDs(dataDir string) func(context.Context) (int64, error) {
	var mu sync.Mutex
	path := filepath.Join(dataDir, producerIDFile)
	return func(context.Context) (int64, error) {
		mu.Lock()
		defer mu.Unlock()
		var st struct {
			Next int64 `json:"next"`
		}
		b, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return 0, wire.Errorf(wire.CodeKafkaStorageError, "read %s: %v", path, err)
		default:
			if err := json.Unmarshal(b, &st); err != nil {
				return 0, wire.Errorf(wire.CodeKafkaStorageError, "parse %s: %v", path, err)
			}
		}
		first := st.Next
		st.Next += producerIDBlock
		out, _ := json.Marshal(st)
		if err := durablefile.Write(path, out); err != nil {
			return 0, wire.Errorf(wire.CodeKafkaStorageError, "write %s: %v", path, err)
		}
		return first, nil
	}
}

// initProducerID answers POST wire.PathInitProducerID.
func (a *api) initProducerID(ctx *fasthttp.RequestCtx) error {
	if err := method(ctx, fasthttp.MethodPost); err != nil {
		return err
	}
	if a.pids == nil {
		return wire.Errorf(wire.CodeInvalidRequest, "this node hands out no producer ids")
	}
	c, cancel := context.WithTimeout(a.stopCtx, 10*time.Second)
	defer cancel()
	id, err := a.pids.id(c)
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) {
			return err
		}
		return wire.Errorf(wire.CodeRequestTimedOut, "allocate a block of producer ids: %v", err)
	}
	return writeJSON(ctx, wire.InitProducerIDResponse{ProducerID: id, ProducerEpoch: 0})
}
