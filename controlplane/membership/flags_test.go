package membership

import (
	"errors"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/urfave/cli/v2"
)

// parseFlags runs Flags through urfave/cli's parsing with args and env.
func parseFlags(t *testing.T, o FlagOptions, args []string, env map[string]string) *cli.Context {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	app := &cli.App{Flags: Flags(o)}
	set := flag.NewFlagSet("test", flag.ContinueOnError)
	for _, f := range app.Flags {
		if err := f.Apply(set); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Parse(args); err != nil {
		t.Fatal(err)
	}
	return cli.NewContext(app, set, nil)
}

func TestFlagsHaveEnvTwins(t *testing.T) {
	for _, f := range Flags(FlagOptions{}) {
		name := f.Names()[0]
		ev, ok := f.(interface{ GetEnvVars() []string })
		want := "STRAND_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if !ok || len(ev.GetEnvVars()) != 1 || ev.GetEnvVars()[0] != want {
			t.Errorf("flag --%s: environment twin %v, want %s", name, ev.GetEnvVars(), want)
		}
	}
}

func TestConfigFromFlags(t *testing.T) {
	keyA, keyB := make([]byte, 32), make([]byte, 16)
	keyA[0], keyB[0] = 1, 2
	ring := filepath.Join(t.TempDir(), "keyring.json")
	if err := WriteKeyringFile(ring, [][]byte{keyA, keyB}); err != nil {
		t.Fatal(err)
	}
	c := parseFlags(t, FlagOptions{DefaultBind: "127.0.0.1:7301"}, []string{
		"--gossip-advertise", "10.0.0.5:7301", "--join", "10.0.0.1:7301, 10.0.0.2:7301", "--join", "10.0.0.3:7301",
		"--gossip-probe-timeout", "150ms",
	}, map[string]string{
		"STRAND_GOSSIP_KEYRING_FILE": ring,
		"STRAND_GOSSIP_PROFILE":      "conservative",
		"STRAND_GOSSIP_RETRY_JOIN":   "5s",
	})
	cfg, err := ConfigFromFlags(c)
	if err != nil {
		t.Fatal(err)
	}
	want := ConservativeTiming()
	want.ProbeTimeout = 150 * time.Millisecond
	switch {
	case cfg.BindAddr != "127.0.0.1:7301" || cfg.AdvertiseAddr != "10.0.0.5:7301":
		t.Errorf("addresses %q, %q", cfg.BindAddr, cfg.AdvertiseAddr)
	case strings.Join(cfg.Join, " ") != "10.0.0.1:7301 10.0.0.2:7301 10.0.0.3:7301":
		t.Errorf("join %q", cfg.Join)
	case cfg.RetryJoin != 5*time.Second:
		t.Errorf("retry join %v", cfg.RetryJoin)
	case len(cfg.Keys) != 2 || cfg.Keys[0][0] != 1 || cfg.Keys[1][0] != 2:
		t.Errorf("keys %v", cfg.Keys)
	case cfg.Timing != want:
		t.Errorf("timing %+v, want %+v", cfg.Timing, want)
	}

}

func TestConfigFromFlagsOneKey(t *testing.T) {
	key := make([]byte, 16)
	c := parseFlags(t, FlagOptions{}, []string{"--gossip-key", EncodeKey(key)}, nil)
	cfg, err := ConfigFromFlags(c)
	if err != nil || len(cfg.Keys) != 1 || cfg.BindAddr != "" || cfg.RetryJoin != DefaultFlagRetryJoin || cfg.Timing != DefaultTiming() {
		t.Errorf("one key: %+v, %v", cfg, err)
	}
}

// TestConfigFromFlagsRefuses: every bad setting is refused with the flag
// and its environment twin named.
func TestConfigFromFlagsRefuses(t *testing.T) {
	ring := filepath.Join(t.TempDir(), "keyring.json")
	if err := WriteKeyringFile(ring, [][]byte{make([]byte, 16)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		names string
	}{
		{"bind not host:port", []string{"--gossip-bind", "a:b:c"}, "--gossip-bind"},
		{"advertise a name", []string{"--gossip-advertise", "host.example:7301"}, "STRAND_GOSSIP_ADVERTISE"},
		{"advertise every interface", []string{"--gossip-advertise", "0.0.0.0:7301"}, "--gossip-advertise"},
		{"join not host:port", []string{"--join", "10.0.0.1:x"}, "--join"},
		{"negative retry", []string{"--gossip-retry-join", "-1s"}, "--gossip-retry-join"},
		{"short key", []string{"--gossip-key", "c2hvcnQ="}, "STRAND_GOSSIP_KEY"},
		{"missing keyring", []string{"--gossip-keyring-file", filepath.Join(t.TempDir(), "none")}, "--gossip-keyring-file"},
		{"key and keyring", []string{"--gossip-key", EncodeKey(make([]byte, 16)), "--gossip-keyring-file", ring}, "--gossip-keyring-file"},
		{"unknown profile", []string{"--gossip-profile", "warp"}, "--gossip-profile"},
		{"timeout above interval", []string{"--gossip-probe-timeout", "1s"}, "--gossip-probe-timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ConfigFromFlags(parseFlags(t, FlagOptions{}, tc.args, nil))
			if !errors.Is(err, ErrBadFlag) || !strings.Contains(err.Error(), tc.names) {
				t.Fatalf("err = %v; want ErrBadFlag naming %s", err, tc.names)
			}
		})
	}
}

func TestSplitList(t *testing.T) {
	got := SplitList([]string{" a:1 ,b:2", "", ",c:3,"})
	if strings.Join(got, "|") != "a:1|b:2|c:3" {
		t.Fatalf("SplitList = %q", got)
	}
}
