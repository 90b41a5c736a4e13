package metaclient_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"strand.dev/client/metaclient"
	"strand.dev/client/wire"
)

// Propose a command and tell a stale controller epoch from other failures.
func ExampleClient_Propose() {
	c := metaclient.New([]string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Propose(ctx, &wire.Command{
		Type: wire.CmdCreateTopic,
		CreateTopic: &wire.CreateTopicCmd{ControllerEpoch: 3, Topic: wire.TopicRecord{
			Name:       "orders",
			Partitions: []*wire.PartitionRecord{{Partition: 0, Replicas: []int32{1, 2, 3}}},
		}},
	})
	switch {
	case errors.Is(err, wire.ErrStaleControllerEpoch):
		fmt.Println("another controller took over")
	case err != nil:
		fmt.Println("failed:", err)
	default:
		fmt.Println("created at version", resp.Version)
	}
}

// Follow the metadata image and wait for a topic to appear.
func ExampleWatcher() {
	c := metaclient.New([]string{"127.0.0.1:7001"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w := metaclient.NewWatcher(c, func(img *wire.Image) {
		fmt.Println("version", img.Version)
	})
	go w.Run(ctx)
	img, err := w.WaitFor(ctx, func(img *wire.Image) bool { return img.Topics["orders"] != nil })
	if err == nil {
		fmt.Println("orders has", len(img.Topics["orders"].Partitions), "partitions")
	}
}
