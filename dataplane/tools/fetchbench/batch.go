package main

import (
	"crypto/rand"
	"time"

	"strand.dev/client/recordbatch"
)

// makeBatch builds one uncompressed batch of count records of size random
// bytes.
func makeBatch(size, count int) ([]byte, error) {
	b := recordbatch.NewBuilder(recordbatch.EncodeOptions{})
	ts := time.Now().UnixMilli()
	for range count {
		v := make([]byte, size)
		rand.Read(v)
		b.Add(recordbatch.Record{Timestamp: ts, Value: v})
	}
	return b.Build()
}
