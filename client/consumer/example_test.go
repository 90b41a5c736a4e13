package consumer_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"strand.dev/client/consumer"
)

// Read every partition of a topic from the beginning.
func Example() {
	c, err := consumer.New(consumer.Bootstrap("127.0.0.1:9001"), consumer.AutoOffsetReset(consumer.ResetEarliest))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if _, err := c.AssignTopic(ctx, "orders"); err != nil {
		log.Fatal(err)
	}
	for {
		recs, err := c.Poll(ctx)
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range recs {
			fmt.Printf("%s-%d@%d %s=%s\n", r.Topic, r.Partition, r.Offset, r.Key, r.Value)
		}
	}
}

// With ResetNone the application chooses where to start; without a Seek,
// Poll says so with a typed error.
func ExampleConsumer_Seek() {
	c, err := consumer.New(consumer.Bootstrap("127.0.0.1:9001"), consumer.AutoOffsetReset(consumer.ResetNone))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	tp := consumer.TopicPartition{Topic: "orders", Partition: 0}
	c.Assign(tp)
	if err := c.Seek(tp, 42); err != nil {
		log.Fatal(err)
	}
	recs, err := c.Poll(context.Background())
	var oor *consumer.OffsetOutOfRangeError
	if errors.As(err, &oor) {
		log.Fatalf("offset 42 is gone: %v", err)
	}
	fmt.Println(len(recs))
}

// commitOnRevoke commits what was processed of the partitions a rebalance
// takes away.
type commitOnRevoke struct{ g *consumer.GroupConsumer }

func (l commitOnRevoke) OnPartitionsRevoked(ctx context.Context, revoked []consumer.TopicPartition) {
	if err := l.g.CommitSync(ctx); err != nil {
		log.Printf("commit before the revocation of %v: %v", revoked, err)
	}
}

func (l commitOnRevoke) OnPartitionsAssigned(_ context.Context, assigned []consumer.TopicPartition) {
	log.Printf("now consuming %v", assigned)
}

// Members of a group share a topic's partitions; each commits after
// processing, and on revocation, so a successor resumes where it stopped.
func ExampleGroupConsumer() {
	g, err := consumer.NewGroup("billing", consumer.Bootstrap("127.0.0.1:7001"),
		consumer.AutoCommit(false), consumer.AutoOffsetReset(consumer.ResetEarliest))
	if err != nil {
		log.Fatal(err)
	}
	defer g.Close()
	if err := g.Subscribe([]string{"orders"}, commitOnRevoke{g}); err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for {
		recs, err := g.Poll(ctx)
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range recs {
			fmt.Printf("%s-%d@%d %s\n", r.Topic, r.Partition, r.Offset, r.Value)
		}
		if err := g.CommitSync(ctx); err != nil {
			log.Printf("commit: %v", err)
		}
	}
}
