package main

import (
	"flag"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestEveryFlagHasAnEnvTwin: each flag reads STRAND_<NAME> too.
func TestEveryFlagHasAnEnvTwin(t *testing.T) {
	for _, f := range flags() {
		names := f.Names()
		ev, ok := f.(interface{ GetEnvVars() []string })
		if !ok || len(ev.GetEnvVars()) == 0 {
			t.Errorf("flag --%s has no environment twin", names[0])
			continue
		}
		want := "STRAND_" + strings.ToUpper(strings.ReplaceAll(names[0], "-", "_"))
		if ev.GetEnvVars()[0] != want {
			t.Errorf("flag --%s reads %v, want %s", names[0], ev.GetEnvVars(), want)
		}
	}
}

func TestConfigFromFlags(t *testing.T) {
	app := &cli.App{Flags: flags()}
	set := flag.NewFlagSet("strand-meta", flag.ContinueOnError)
	for _, f := range app.Flags {
		if err := f.Apply(set); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"--id", "2", "--listen", "127.0.0.1:7002", "--peer-listen", "127.0.0.1:7102",
		"--initial-cluster", "1=127.0.0.1:7101@127.0.0.1:7001,2=127.0.0.1:7102@127.0.0.1:7002",
		"--data-dir", "/tmp/m2", "--cluster-id", "c", "--snapshot-count", "500", "--log-level", "warn"}
	if err := set.Parse(args); err != nil {
		t.Fatal(err)
	}
	cfg, err := configFrom(cli.NewContext(app, set, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.ID != 2 || cfg.SnapshotCount != 500 || len(cfg.InitialCluster) != 2 || cfg.InitialCluster[1].APIAddr != "127.0.0.1:7002" || cfg.PeerListenAddr != "127.0.0.1:7102" {
		t.Fatalf("config %+v", cfg)
	}
}
