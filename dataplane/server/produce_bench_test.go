package server

import (
	"crypto/rand"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"strand.dev/client/recordbatch"
	"strand.dev/client/wire"
)

// BenchmarkProduceHTTP appends 1 KiB records in batches of several sizes
// through the HTTP produce path of an in-process node (acks=1, 4
// connections), to 1 and to 100 partitions. One op is one batch; MB/s is
// the append rate through HTTP.
func BenchmarkProduceHTTP(b *testing.B) {
	for _, size := range []int{16 << 10, 64 << 10, 256 << 10, 1 << 20} {
		for _, parts := range []int{1, 100} {
			b.Run("batch="+strconv.Itoa(size>>10)+"KiB/partitions="+strconv.Itoa(parts), func(b *testing.B) {
				benchProduce(b, size, parts)
			})
		}
	}
}

func benchProduce(b *testing.B, batchBytes, parts int) {
	tn := startNode(b, "", func(c *Config) { c.MaxRequestBytes = 8 << 20 })
	defer tn.stop()
	body, _ := jsonBody(wire.CreateTopicRequest{Topic: "bench", Partitions: int32(parts)})
	if st, _, out := tn.do("POST", wire.PathAdminTopics, nil, body); st != 200 {
		b.Fatalf("create: %d %s", st, out)
	}
	per := (batchBytes - 61) / 1040 // 1 KiB values plus record framing, within the batch size
	bb := recordbatch.NewBuilder(recordbatch.EncodeOptions{})
	v := make([]byte, 1024)
	rand.Read(v)
	for range per {
		bb.Add(recordbatch.Record{Timestamp: time.Now().UnixMilli(), Value: v})
	}
	batch, err := bb.Build()
	if err != nil {
		b.Fatal(err)
	}
	hc := &fasthttp.HostClient{Addr: tn.addr, MaxConns: 4}
	b.SetBytes(int64(len(batch)))
	b.ResetTimer()
	var wg sync.WaitGroup
	var next sync.Mutex
	n := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for {
				next.Lock()
				if n >= b.N {
					next.Unlock()
					return
				}
				i := n
				n++
				next.Unlock()
				req.SetRequestURI("http://" + tn.addr + wire.PathProduce + "?topic=bench&acks=1&partition=" + strconv.Itoa(i%parts))
				req.Header.SetMethod("POST")
				req.SetBodyRaw(batch)
				if err := hc.Do(req, resp); err != nil || resp.StatusCode() != 200 {
					b.Errorf("produce: %v %d %s", err, resp.StatusCode(), resp.Body())
					return
				}
			}
		}()
	}
	wg.Wait()
}
