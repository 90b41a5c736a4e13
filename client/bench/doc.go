// Package bench is Strand's load tester, the logic behind `strand bench`:
// Produce drives producers at a target rate (or as fast as they go) and
// measures send-to-acknowledgement latency; Consume reads a topic as fast as
// consumers can; E2E produces at a rate while consumers read the same topic
// and measures the time from send to consume.
//
// Each returns a Report: records, bytes, records/s, MB/s and latency
// percentiles (p50, p95, p99, p99.9, max) from an HdrHistogram with three
// significant digits. A progress callback, if given, is called about twice a
// second with the counts so far.
//
// Record values are RecordSize bytes of random letters, the same bytes for
// every record (as Kafka's producer-perf-test does), so compressed runs
// measure a very compressible payload. In E2E the first 8 bytes of a value
// carry the send time.
package bench
