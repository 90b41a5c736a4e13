package main

import (
	"github.com/urfave/cli/v2"

	"strand.dev/client/bench"
)

func benchConsumeCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "consume",
		Usage: "consume records from the earliest offset and report throughput",
		Flags: append(benchFlags(), consumerFlags()...),
		Action: func(c *cli.Context) error {
			return runBench(c, e, false, true, bench.Consume)
		},
	}
}
