package main

import (
	"github.com/urfave/cli/v2"

	"strand.dev/client/bench"
)

func benchE2ECommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "e2e",
		Usage: "produce at --rate while consuming, and report the latency from send to consume",
		Flags: append(append(benchFlags(), producerFlags()...), consumerFlags()...),
		Action: func(c *cli.Context) error {
			return runBench(c, e, true, true, bench.E2E)
		},
	}
}
