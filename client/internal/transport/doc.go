// Package transport makes the HTTP calls of Strand's APIs (the data plane's
// produce, fetch, offsets and admin paths, and the JSON paths every node
// serves) and turns every answer into either a result or a typed error:
// *wire.Error when the node answered with Strand's error envelope, *NodeError
// when it could not be reached or answered something that is not Strand's
// protocol. Retriable tells callers which of them are worth a retry.
//
// A Client is safe for concurrent use and keeps HTTP/1.1 keep-alive
// connections per node. It never logs above debug level.
package transport
