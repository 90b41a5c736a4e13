package main

import "github.com/urfave/cli/v2"

func topicCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "topic",
		Usage: "create, list, describe and delete topics",
		Subcommands: []*cli.Command{
			topicCreateCommand(e),
			topicListCommand(e),
			topicDescribeCommand(e),
			topicDeleteCommand(e),
		},
	}
}
