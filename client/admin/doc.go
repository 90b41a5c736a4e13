// Package admin manages a Strand cluster's topics and consumer groups and
// reports its state: create, delete, list and describe topics, alter and
// describe topic configs, list, describe and delete consumer groups and
// reset their committed offsets, and the status of the whole cluster
// (metadata nodes, the active controller, coordinators, data nodes).
//
// Group requests go to the coordinator owning the group, found by asking
// any coordinator the cluster metadata names (or the Coordinators option).
//
// Topic and config changes go to the cluster's active controller (or to a
// standalone data node), which the client finds from the cluster metadata;
// every other request goes to whichever node knows the answer. A request
// that fails for a reason worth retrying (no active controller yet, a node
// that cannot be reached) is retried with backoff until the context ends or
// the client's retry timeout passes.
//
//	adm, err := admin.New(admin.Bootstrap("127.0.0.1:9001"))
//	if err != nil { ... }
//	defer adm.Close()
//	_, err = adm.CreateTopic(ctx, admin.NewTopic{Name: "orders", Partitions: 6, ReplicationFactor: 3})
//	if errors.Is(err, admin.ErrTopicExists) { ... }
//	d, err := adm.DescribeGroup(ctx, "billing")
//	if errors.Is(err, admin.ErrGroupNotFound) { ... }
//	for _, o := range d.Offsets { fmt.Println(o.Topic, o.Partition, o.Offset, o.Lag) }
//
// An Admin is safe for concurrent use. It logs nothing unless given a
// logger with the Logger option.
package admin
