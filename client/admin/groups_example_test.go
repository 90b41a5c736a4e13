package admin_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"strand.dev/client/admin"
	"strand.dev/client/wire"
)

// Show a consumer group's lag, then, once its consumers are stopped, move
// it back to the start of a topic.
func ExampleAdmin_ResetOffsets() {
	adm, err := admin.New(admin.Bootstrap("127.0.0.1:7001"))
	if err != nil {
		log.Fatal(err)
	}
	defer adm.Close()
	ctx := context.Background()
	d, err := adm.DescribeGroup(ctx, "billing")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("group %s is %s with %d members\n", d.GroupID, d.State, len(d.Members))
	for _, o := range d.Offsets {
		fmt.Printf("%s-%d: committed %d, end %d, lag %d\n", o.Topic, o.Partition, o.Offset, o.LogEndOffset, o.Lag)
	}
	offs, err := adm.ResetOffsets(ctx, admin.OffsetReset{Group: "billing", Topic: "orders", To: wire.ResetToEarliest})
	if errors.Is(err, admin.ErrGroupNotEmpty) {
		log.Fatal("stop the group's consumers first")
	}
	if err != nil {
		log.Fatal(err)
	}
	for _, o := range offs {
		fmt.Printf("%s-%d now at %d\n", o.Topic, o.Partition, o.Offset)
	}
}
