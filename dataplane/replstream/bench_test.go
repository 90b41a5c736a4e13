package replstream

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"strand.dev/client/wire"
)

// BenchmarkStreamCatchUp streams a 64 MiB log (1 KiB records in 64 KiB
// batches) from a leader to a follower over loopback, the follower only
// reading the frames, with the records sent by sendfile or copied through
// the write buffer. Run: go test -bench StreamCatchUp -benchtime 10x ./replstream/
func BenchmarkStreamCatchUp(b *testing.B) {
	p := newPart(b, filepath.Join(b.TempDir(), "t-0"))
	for range 1024 {
		p.appendRecords(b, "x", 64, 1000)
	}
	size := p.log.Stats().SizeBytes
	for _, tc := range []struct {
		name     string
		sendfile int64
	}{{"sendfile", 1}, {"copy", -1}} {
		b.Run(tc.name, func(b *testing.B) {
			src := &fakeSource{parts: map[string]*fakePart{"t-0": p}}
			_, addr := startServer(b, src, ServerConfig{SendfileMinBytes: tc.sendfile})
			b.SetBytes(size)
			b.ResetTimer()
			for i := range b.N {
				c, err := Dial(context.Background(), addr, DialConfig{ReplicaID: 2})
				if err != nil {
					b.Fatal(err)
				}
				if err := c.SendFetch(Fetch{SID: 1, Gen: uint32(i + 1), LeaderEpoch: 3, Topic: "t"}); err != nil {
					b.Fatal(err)
				}
				var got int64
				for got < size {
					f, err := c.Next()
					if err != nil {
						b.Fatal(err)
					}
					if f.Type == wire.ReplicaFrameError {
						b.Fatal(fmt.Errorf("%v", f.Error.Err))
					}
					if f.Type == wire.ReplicaFrameData {
						got += int64(len(f.Data.Records))
					}
				}
				c.Close()
			}
		})
	}
}
