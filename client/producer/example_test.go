package producer_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"strand.dev/client/producer"
	"strand.dev/client/record"
)

// Send records asynchronously and learn their fate in callbacks; Close
// waits until every record is acknowledged.
func Example() {
	p, err := producer.New(
		producer.Bootstrap("127.0.0.1:9001"),
		producer.RequiredAcks(producer.AcksAll),
		producer.WithCompression(producer.CompressionZstd),
		producer.Linger(10*time.Millisecond),
	)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		r := &record.Record{Topic: "orders", Key: []byte(fmt.Sprintf("user-%d", i%10)), Value: []byte("hello")}
		p.Send(ctx, r, func(r *record.Record, err error) {
			if err != nil {
				log.Printf("record %s not delivered: %v", r.Key, err)
			}
		})
	}
	if err := p.Close(ctx); err != nil {
		log.Fatal(err)
	}
}

// SendSync is the simple way when each record must be acknowledged before
// going on.
func ExampleProducer_SendSync() {
	p, err := producer.New(producer.Bootstrap("127.0.0.1:9001"))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close(context.Background())
	r := &record.Record{Topic: "orders", Value: []byte("one")}
	if err := p.SendSync(context.Background(), r); err != nil {
		log.Fatal(err)
	}
	fmt.Println("written at offset", r.Offset)
}
