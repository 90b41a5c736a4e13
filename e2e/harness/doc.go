// Package harness runs Strand's binaries as real processes for
// process-level tests: it builds them once per test binary, picks free
// loopback ports, starts and stops processes by PID (SIGTERM, SIGKILL,
// restart on the same data), waits for /healthz, and keeps each process's
// output in a log file that failing tests print.
package harness
