// Package replstream is the replica stream between data nodes: one
// long-lived connection per (follower node, leader node) that carries every
// partition the two share, in both directions at once.
//
// A follower opens it with Dial (an HTTP Upgrade on the leader's API port,
// wire.PathReplicaStream) and then sends Fetch frames to start partitions at
// its log end offsets and Ack frames as it appends. The leader (Server, over
// the node's replica layer as a Source) pushes Data frames whenever a
// partition's log grows or its high watermark moves, without waiting for a
// request: records leave as soon as they are appended, and the follower's
// acknowledgements come back on the same connection while more records are
// in flight. Long regions go from the segment file to the socket with
// sendfile(2); short ones are copied into the write buffer so that many
// small partitions share one write. The frame layouts are documented with
// wire.ReplicaFrameType.
//
// Usage, follower side:
//
//	c, err := replstream.Dial(ctx, leaderAddr, replstream.DialConfig{ReplicaID: 2})
//	if err != nil { ... }
//	defer c.Close()
//	c.SendFetch(replstream.Fetch{SID: 1, Gen: 1, LeaderEpoch: 7, Offset: log.EndOffset(), Topic: "t", Partition: 0})
//	for {
//		f, err := c.Next()
//		if err != nil { ... reconnect ... }
//		switch f.Type {
//		case wire.ReplicaFrameData:
//			// append f.Data.Records, then:
//			c.SendAcks([]replstream.Ack{{SID: 1, Gen: 1, LogEndOffset: log.EndOffset()}})
//		}
//	}
//
// Leader side: mount Server.Handle on wire.PathReplicaStream.
package replstream
