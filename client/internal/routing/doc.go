// Package routing is the client's view of where things are: the cached
// wire.Metadata of the cluster (nodes, topics, partition leaders, the active
// controller, the strand-meta nodes), refreshed on demand from any node that
// answers GET /v1/metadata — strand-meta nodes and data nodes alike, starting
// from the bootstrap list.
//
// A Router is shared by the producer, consumer and admin code of one client
// and is safe for concurrent use. Concurrent refreshes are coalesced into
// one request.
package routing
