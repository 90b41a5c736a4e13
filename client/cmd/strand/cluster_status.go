package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

func clusterCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:        "cluster",
		Usage:       "cluster-wide information",
		Subcommands: []*cli.Command{clusterStatusCommand(e)},
	}
}

func clusterStatusCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "metadata nodes and raft leader, active controller, coordinators, data nodes alive or failed",
		Action: func(c *cli.Context) error {
			g, err := globalsOf(c)
			if err != nil {
				return err
			}
			if c.NArg() > 0 {
				return usagef("cluster status takes no arguments")
			}
			adm, err := g.newAdmin()
			if err != nil {
				return err
			}
			defer adm.Close()
			ctx, cancel := g.withTimeout(c.Context)
			defer cancel()
			st, err := adm.ClusterStatus(ctx)
			if err != nil {
				return fmt.Errorf("cluster status: %w", err)
			}
			if g.json {
				return writeJSON(e.stdout, st)
			}
			w := e.stdout
			fmt.Fprintf(w, "cluster %s, metadata version %d\n", st.ClusterID, st.MetadataVersion)
			if st.Standalone {
				fmt.Fprintln(w, "\nmetadata nodes: none (a standalone data node, without the control plane)")
			} else {
				leader := "unknown"
				if st.RaftLeader != 0 {
					leader = fmt.Sprint(st.RaftLeader)
				}
				fmt.Fprintf(w, "\nmetadata nodes (raft leader: %s)\n", leader)
				t := newTable(w, "ADDR", "ID", "STATE", "TERM", "COMMIT", "IMAGE-VERSION", "ERROR")
				for _, m := range st.MetaNodes {
					if m.Error != "" {
						t.row(m.Addr, "-", "unreachable", "-", "-", "-", m.Error)
						continue
					}
					t.row(m.Addr, m.ID, m.State, m.Term, m.CommitIndex, m.ImageVersion, "")
				}
				if err := t.flush(); err != nil {
					return err
				}
			}
			ctl := st.Controller
			if ctl == "" {
				ctl = "none active"
			}
			fmt.Fprintf(w, "\nactive controller: %s\n", ctl)
			coords := strings.Join(st.Coordinators, ", ")
			if coords == "" {
				coords = "none"
			}
			fmt.Fprintf(w, "coordinators: %s\n", coords)
			alive := 0
			for _, n := range st.DataNodes {
				if n.Alive {
					alive++
				}
			}
			fmt.Fprintf(w, "\ndata nodes (%d alive, %d failed)\n", alive, len(st.DataNodes)-alive)
			t := newTable(w, "ID", "ADDR", "RACK", "STATE", "LEADS", "ERROR")
			for _, n := range st.DataNodes {
				state := "alive"
				switch {
				case n.Fenced:
					state = "fenced"
				case !n.Alive:
					state = "unreachable"
				}
				rack := n.Rack
				if rack == "" {
					rack = "-"
				}
				t.row(n.ID, n.Addr, rack, state, n.Leads, n.Error)
			}
			return t.flush()
		},
	}
}
