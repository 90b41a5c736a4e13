// Package metaclient is the Go client of strand-meta's HTTP API: reading and
// watching the metadata image, proposing commands, and raft status and
// membership. Data nodes, controllers, coordinators and the strand CLI use it.
//
// A Client knows the addresses of the strand-meta nodes and needs no leader:
// any node answers reads and forwards proposals to the raft leader. Calls
// fail over between nodes and retry availability errors (no leader, node
// unreachable, timeouts) with capped exponential backoff until the caller's
// context ends. A command the state machine rejects comes back at once as a
// *wire.Error with its stable code. Answers are bounded in size
// (WithMaxResponseBytes). The client logs nothing unless given a logger.
//
// A Watcher keeps the newest image and calls a function on each newer
// version, across node restarts and leader changes.
//
// Usage:
//
//	c := metaclient.New([]string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"},
//		metaclient.WithTimeout(5*time.Second))
//	defer c.Close()
//
//	// Propose a command guarded by the controller epoch.
//	resp, err := c.Propose(ctx, &wire.Command{
//		Type:         wire.CmdDeleteTopic,
//		DeleteTopic:  &wire.DeleteTopicCmd{ControllerEpoch: epoch, Name: "orders"},
//	})
//	switch {
//	case errors.Is(err, wire.ErrStaleControllerEpoch):
//		// deposed: stop acting as the controller
//	case err != nil:
//		// ctx ended, or another rejection
//	default:
//		fmt.Println("applied at version", resp.Version)
//	}
//
//	// Follow the image.
//	w := metaclient.NewWatcher(c, func(img *wire.Image) {
//		fmt.Println("metadata version", img.Version)
//	})
//	go w.Run(ctx)
package metaclient
