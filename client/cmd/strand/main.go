// Command strand is Strand's operator CLI: topics, produce, consume,
// consumer groups, cluster status, strand-meta membership and the load
// tester. Run `strand --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, newEnv())
	stop()
	os.Exit(code)
}
