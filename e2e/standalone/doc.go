// Package standalone holds process-level tests of the Go client, the strand
// CLI and the load tester against a real standalone strand-data (a data
// node running without the control plane). The tests are in the _test
// files; this package has no API.
package standalone
