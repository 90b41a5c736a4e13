// Package wire is the contract every Strand part shares: the stable error codes
// and their JSON envelope, the HTTP paths and parameters of the data plane and
// of strand-meta, and the JSON shapes of requests, responses and the metadata
// image.
//
// Nothing here does I/O. The package sits at the bottom of the module stack so
// that the data plane, the control plane, the coordinator and the client can
// all import it without cycles.
package wire
