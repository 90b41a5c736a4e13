package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"strand.dev/client/metaclient"
)

func metaCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "meta",
		Usage: "strand-meta raft membership",
		Subcommands: []*cli.Command{
			metaMembersCommand(e),
			metaAddMemberCommand(e),
			metaRemoveMemberCommand(e),
		},
	}
}

// metaClient opens a client of the cluster's strand-meta nodes.
func metaClient(ctx context.Context, g *globals) (*metaclient.Client, error) {
	adm, err := g.newAdmin()
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	mc, err := adm.MetaClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("finding strand-meta: %w", err)
	}
	return mc, nil
}
