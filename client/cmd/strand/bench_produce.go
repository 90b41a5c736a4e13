package main

import (
	"github.com/urfave/cli/v2"

	"strand.dev/client/bench"
)

func benchProduceCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "produce",
		Usage: "produce records as fast as possible (or at --rate) and report throughput and send-to-ack latency",
		Flags: append(benchFlags(), producerFlags()...),
		Action: func(c *cli.Context) error {
			return runBench(c, e, true, false, bench.Produce)
		},
	}
}
