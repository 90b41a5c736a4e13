package bench_test

import (
	"context"
	"log"
	"os"

	"strand.dev/client/bench"
)

// Measure send-to-consume latency at 10,000 records/s of 1 KiB.
func ExampleE2E() {
	rep, err := bench.E2E(context.Background(), bench.Config{
		Bootstrap: []string{"127.0.0.1:9001"}, Topic: "bench", Partitions: 12,
		Records: 100000, RecordSize: 1024, Rate: 10000,
	})
	if err != nil {
		log.Fatal(err)
	}
	rep.WriteText(os.Stdout)
}
