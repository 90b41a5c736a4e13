package admin_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"strand.dev/client/admin"
)

// Create a topic unless it exists, then show its partitions.
func Example() {
	adm, err := admin.New(admin.Bootstrap("127.0.0.1:7001", "127.0.0.1:9001"))
	if err != nil {
		log.Fatal(err)
	}
	defer adm.Close()
	ctx := context.Background()
	_, err = adm.CreateTopic(ctx, admin.NewTopic{Name: "orders", Partitions: 6, ReplicationFactor: 3,
		Configs: map[string]string{"retention.ms": "604800000"}})
	if err != nil && !errors.Is(err, admin.ErrTopicExists) {
		log.Fatal(err)
	}
	d, err := adm.DescribeTopic(ctx, "orders")
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range d.Partitions {
		fmt.Printf("partition %d: leader %d, ISR %v, high watermark %d\n", p.Partition, p.Leader, p.ISR, p.HighWatermark)
	}
}
