package metatest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"strand.dev/client/wire"
)

// The register under test: the ownership of one __consumer_offsets
// partition. claim_offsets_owner with expected_epoch is a compare-and-set:
// it succeeds only at the current epoch, which it increments.

type casKind int

const (
	opRead casKind = iota
	opCAS
)

type casInput struct {
	key      int32
	kind     casKind
	expected int64
	owner    string
}

type casOutcome int

const (
	outOK      casOutcome = iota // applied (CAS) or answered (read)
	outFailed                    // rejected by the state machine: epoch mismatch
	outNone                      // definitely not applied (NOT_LEADER, NO_LEADER, ...)
	outUnknown                   // may or may not have been applied
)

type casOutput struct {
	outcome casOutcome
	epoch   int64
	owner   string
}

type casState struct {
	epoch int64
	owner string
}

// casModel is the sequential specification of one register per key.
var casModel = porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[int32][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(casInput).key
			by[k] = append(by[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(by))
		for _, ops := range by {
			out = append(out, ops)
		}
		return out
	},
	Init: func() []any { return []any{casState{}} },
	Step: func(state, input, output any) []any {
		st, in, out := state.(casState), input.(casInput), output.(casOutput)
		if in.kind == opRead {
			if out.epoch == st.epoch && out.owner == st.owner {
				return []any{st}
			}
			return nil
		}
		next := casState{epoch: in.expected + 1, owner: in.owner}
		switch out.outcome {
		case outOK:
			if st.epoch == in.expected && out.epoch == in.expected+1 {
				return []any{next}
			}
			return nil
		case outFailed:
			if st.epoch != in.expected {
				return []any{st}
			}
			return nil
		case outNone:
			return []any{st}
		default:
			if st.epoch == in.expected {
				return []any{st, next}
			}
			return []any{st}
		}
	},
	Equal: func(a, b any) bool { return a.(casState) == b.(casState) },
	DescribeOperation: func(input, output any) string {
		in, out := input.(casInput), output.(casOutput)
		if in.kind == opRead {
			return fmt.Sprintf("read(%d) -> %d/%s", in.key, out.epoch, out.owner)
		}
		return fmt.Sprintf("cas(%d, %d, %s) -> %v %d", in.key, in.expected, in.owner, out.outcome, out.epoch)
	},
}

// classify maps a propose error to what it says about the command's fate.
func classify(err error) casOutcome {
	var we *wire.Error
	if !errors.As(err, &we) {
		return outUnknown // transport error: the request may have been handled
	}
	switch we.Code {
	case wire.CodeInvalidUpdateVersion:
		return outFailed
	case wire.CodeNotLeader, wire.CodeNoLeader, wire.CodeLeaderNotAvailable:
		return outNone
	default:
		return outUnknown
	}
}

// TestLinearizableCAS runs concurrent compare-and-set writers and readers
// against random members while the test isolates leaders, cuts followers off
// and restarts leaders, records the history and checks it with porcupine.
func TestLinearizableCAS(t *testing.T) {
	duration := 12 * time.Second
	if testing.Short() {
		duration = 4 * time.Second
	}
	c := newCluster(t, 3, clusterOpts{})
	const (
		clients = 8
		keys    = 3
	)
	start := time.Now()
	now := func() int64 { return time.Since(start).Nanoseconds() }
	var (
		mu      sync.Mutex
		history []porcupine.Operation
	)
	record := func(op porcupine.Operation) {
		mu.Lock()
		history = append(history, op)
		mu.Unlock()
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for cl := 0; cl < clients; cl++ {
		wg.Add(1)
		go func(cl int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(cl), 7))
			seen := map[int32]int64{}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				key := int32(rng.IntN(keys))
				addr := c.addr(uint64(1 + rng.IntN(3)))
				if rng.IntN(10) < 3 {
					call := now()
					img, err := readImage(addr, false)
					if err != nil {
						continue // a failed read constrains nothing
					}
					var out casOutput
					if o := img.OffsetsOwners[key]; o != nil {
						out.epoch, out.owner = o.Epoch, o.Coordinator
					}
					seen[key] = out.epoch
					record(porcupine.Operation{ClientId: cl, Input: casInput{key: key, kind: opRead}, Call: call, Output: out, Return: now()})
					continue
				}
				in := casInput{key: key, kind: opCAS, expected: seen[key], owner: fmt.Sprintf("c%d-%d", cl, i)}
				if rng.IntN(5) == 0 {
					in.expected += int64(rng.IntN(3)) - 1 // sometimes a stale or future guess
				}
				call := now()
				resp, err := propose(addr, claim(key, in.owner, in.expected))
				ret := now()
				out := casOutput{outcome: outOK, epoch: resp.Epoch}
				if err != nil {
					out = casOutput{outcome: classify(err)}
					if out.outcome == outUnknown {
						ret = math.MaxInt64 // it may take effect at any later time
					}
				} else {
					seen[key] = resp.Epoch
				}
				if out.outcome == outFailed {
					seen[key]++ // a hint only; reads correct it
				}
				record(porcupine.Operation{ClientId: cl, Input: in, Call: call, Output: out, Return: ret})
			}
		}(cl)
	}

	// Faults.
	rng := rand.New(rand.NewPCG(42, 42))
	deadline := time.Now().Add(duration)
	faults := 0
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(300+rng.IntN(500)) * time.Millisecond)
		leader := c.waitOnLeader()
		var others []uint64
		for id := uint64(1); id <= 3; id++ {
			if id != leader.id {
				others = append(others, id)
			}
		}
		switch faults % 3 {
		case 0: // isolate the leader
			c.links.partition([]uint64{leader.id}, others)
			time.Sleep(time.Duration(800+rng.IntN(800)) * time.Millisecond)
			c.links.heal()
		case 1: // cut a follower off
			f := others[rng.IntN(2)]
			c.links.partition([]uint64{f}, []uint64{leader.id, others[0] + others[1] - f})
			time.Sleep(time.Duration(300+rng.IntN(500)) * time.Millisecond)
			c.links.heal()
		case 2: // stop the leader, start it again
			c.stop(leader.id)
			time.Sleep(time.Duration(300+rng.IntN(500)) * time.Millisecond)
			c.start(leader.id, nil, false)
		}
		faults++
	}
	close(stop)
	wg.Wait()

	mu.Lock()
	h := append([]porcupine.Operation(nil), history...)
	mu.Unlock()
	var oks, unknown int
	for _, op := range h {
		if o := op.Output.(casOutput); op.Input.(casInput).kind == opCAS {
			switch o.outcome {
			case outOK:
				oks++
			case outUnknown:
				unknown++
			}
		}
	}
	t.Logf("%d operations (%d successful CAS, %d with unknown outcome), %d faults", len(h), oks, unknown, faults)
	if oks < 20 {
		t.Fatalf("only %d successful CAS operations: the test exercised too little", oks)
	}
	model := casModel.ToModel()
	res, info := porcupine.CheckOperationsVerbose(model, h, 2*time.Minute)
	switch res {
	case porcupine.Ok:
	case porcupine.Unknown:
		t.Logf("linearizability check timed out (inconclusive)")
	default:
		path := filepath.Join(t.TempDir(), "history.html")
		if err := porcupine.VisualizePath(model, info, path); err == nil {
			t.Logf("visualization: %s", path)
		}
		t.Fatalf("the history is not linearizable")
	}
}
