// Package groupcli holds process-level tests of the consumer-group
// administration: `strand group list|describe|delete|reset-offsets` run as
// a process against a cluster of real processes (strand-meta, a controller,
// data nodes in cluster mode and two strand-coordinators), and against a
// standalone data node with a standalone coordinator. The tests are in the
// _test files; this package has no API.
package groupcli
