package membership

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// The gossip flags every Strand process that joins the pool takes (Flags),
// each with its STRAND_ environment twin.
const (
	FlagBind           = "gossip-bind"
	FlagAdvertise      = "gossip-advertise"
	FlagJoin           = "join"
	FlagRetryJoin      = "gossip-retry-join"
	FlagKey            = "gossip-key"
	FlagKeyringFile    = "gossip-keyring-file"
	FlagProfile        = "gossip-profile"
	FlagProbeInterval  = "gossip-probe-interval"
	FlagProbeTimeout   = "gossip-probe-timeout"
	FlagSuspicionMult  = "gossip-suspicion-mult"
	FlagGossipInterval = "gossip-interval"
	FlagGossipNodes    = "gossip-nodes"
)

// DefaultFlagRetryJoin is the default of --gossip-retry-join.
const DefaultFlagRetryJoin = 2 * time.Second

// FlagOptions says how Flags presents the gossip flags in one binary.
type FlagOptions struct {
	// DefaultBind is the default of --gossip-bind; empty leaves it without
	// one (the binary then decides whether gossip is needed).
	DefaultBind string
	// Category groups the flags in --help; empty puts them with the others.
	Category string
}

// envName is the environment twin of a flag: STRAND_ and the name in upper
// case with '-' as '_'.
func envName(flag string) []string {
	return []string{"STRAND_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

// Flags returns the gossip flags of a process that joins the pool: bind and
// advertised addresses, the members to join and the retry interval, the
// encryption key or keyring file, and the failure-detection timings (a
// profile and per-timing overrides). ConfigFromFlags reads them back. Every
// call returns new flag values, so two apps (or tests) never share one.
func Flags(o FlagOptions) []cli.Flag {
	lan := DefaultTiming()
	cat := o.Category
	return []cli.Flag{
		&cli.StringFlag{Name: FlagBind, EnvVars: envName(FlagBind), Value: o.DefaultBind, Category: cat,
			Usage: "host:port gossip listens on (TCP and UDP)"},
		&cli.StringFlag{Name: FlagAdvertise, EnvVars: envName(FlagAdvertise), Category: cat,
			Usage: "ip:port others reach this member's gossip at (default: the bind address; with a bind to every interface, a private address of this host)"},
		&cli.StringSliceFlag{Name: FlagJoin, EnvVars: envName(FlagJoin), Category: cat,
			Usage: "gossip addresses of existing members, comma separated (may include this member's own)"},
		&cli.DurationFlag{Name: FlagRetryJoin, EnvVars: envName(FlagRetryJoin), Value: DefaultFlagRetryJoin, Category: cat,
			Usage: "while no other member is alive, retry joining this often (0: a failed join at start is fatal)"},
		&cli.StringFlag{Name: FlagKey, EnvVars: envName(FlagKey), Category: cat,
			Usage: "base64 gossip encryption key (16, 24 or 32 bytes); the same in every process"},
		&cli.StringFlag{Name: FlagKeyringFile, EnvVars: envName(FlagKeyringFile), Category: cat,
			Usage: "file holding a JSON array of base64 keys, primary first (for key rotation); instead of --" + FlagKey},
		&cli.StringFlag{Name: FlagProfile, EnvVars: envName(FlagProfile), Value: "lan", Category: cat,
			Usage: "failure-detection timings: " + strings.Join(Profiles(), ", ") + " (see the membership package doc)"},
		&cli.DurationFlag{Name: FlagProbeInterval, EnvVars: envName(FlagProbeInterval), Category: cat,
			Usage: fmt.Sprintf("override the profile's probe interval (lan: %v)", lan.ProbeInterval)},
		&cli.DurationFlag{Name: FlagProbeTimeout, EnvVars: envName(FlagProbeTimeout), Category: cat,
			Usage: fmt.Sprintf("override the profile's probe timeout (lan: %v)", lan.ProbeTimeout)},
		&cli.IntFlag{Name: FlagSuspicionMult, EnvVars: envName(FlagSuspicionMult), Category: cat,
			Usage: fmt.Sprintf("override the profile's suspicion multiplier (lan: %d)", lan.SuspicionMult)},
		&cli.DurationFlag{Name: FlagGossipInterval, EnvVars: envName(FlagGossipInterval), Category: cat,
			Usage: fmt.Sprintf("override the profile's gossip interval (lan: %v)", lan.GossipInterval)},
		&cli.IntFlag{Name: FlagGossipNodes, EnvVars: envName(FlagGossipNodes), Category: cat,
			Usage: fmt.Sprintf("override the profile's gossip fan-out (lan: %d)", lan.GossipNodes)},
	}
}

// ErrBadFlag is wrapped by every error ConfigFromFlags returns; the message
// names the flag and its environment twin.
var ErrBadFlag = errors.New("bad gossip flag")

// ConfigFromFlags builds the gossip part of a Config (BindAddr,
// AdvertiseAddr, Join, RetryJoin, Keys, Timing) from the flags Flags
// defined; the caller fills in Role, ID, APIAddr, Rack, Logger and
// Registerer. It checks each setting on its own (addresses, keys, timings)
// and that --gossip-key and --gossip-keyring-file are not both given, so a
// bad setting stops the process before it binds anything.
func ConfigFromFlags(c *cli.Context) (Config, error) {
	bad := func(flag, format string, args ...any) error {
		return fmt.Errorf("%w: --%s (%s): %s", ErrBadFlag, flag, envName(flag)[0], fmt.Sprintf(format, args...))
	}
	var cfg Config
	cfg.BindAddr = strings.TrimSpace(c.String(FlagBind))
	if cfg.BindAddr != "" {
		if _, _, err := splitHostPort(cfg.BindAddr, DefaultGossipPort); err != nil {
			return Config{}, bad(FlagBind, "%q is not host:port: %v", cfg.BindAddr, err)
		}
	}
	cfg.AdvertiseAddr = strings.TrimSpace(c.String(FlagAdvertise))
	if cfg.AdvertiseAddr != "" {
		host, port, err := splitHostPort(cfg.AdvertiseAddr, DefaultGossipPort)
		switch {
		case err != nil:
			return Config{}, bad(FlagAdvertise, "%q is not ip:port: %v", cfg.AdvertiseAddr, err)
		case net.ParseIP(host) == nil:
			return Config{}, bad(FlagAdvertise, "%q must be an IP address and port", cfg.AdvertiseAddr)
		case net.ParseIP(host).IsUnspecified():
			return Config{}, bad(FlagAdvertise, "%q is no address others can reach", cfg.AdvertiseAddr)
		case port == 0:
			return Config{}, bad(FlagAdvertise, "%q needs a port", cfg.AdvertiseAddr)
		}
	}
	for _, a := range SplitList(c.StringSlice(FlagJoin)) {
		if _, _, err := splitHostPort(a, DefaultGossipPort); err != nil {
			return Config{}, bad(FlagJoin, "%q is not host:port: %v", a, err)
		}
		cfg.Join = append(cfg.Join, a)
	}
	cfg.RetryJoin = c.Duration(FlagRetryJoin)
	if cfg.RetryJoin < 0 {
		return Config{}, bad(FlagRetryJoin, "%v is negative", cfg.RetryJoin)
	}

	keyFile, key := strings.TrimSpace(c.String(FlagKeyringFile)), strings.TrimSpace(c.String(FlagKey))
	switch {
	case keyFile != "" && key != "":
		return Config{}, fmt.Errorf("%w: --%s and --%s exclude each other: give one key, or a keyring file holding every key", ErrBadFlag, FlagKey, FlagKeyringFile)
	case keyFile != "":
		keys, err := LoadKeyringFile(keyFile)
		if err != nil {
			return Config{}, bad(FlagKeyringFile, "%v", err)
		}
		cfg.Keys = keys
	case key != "":
		k, err := ParseKey(key)
		if err != nil {
			return Config{}, bad(FlagKey, "%v", err)
		}
		cfg.Keys = [][]byte{k}
	}

	timing, err := TimingProfile(c.String(FlagProfile))
	if err != nil {
		return Config{}, bad(FlagProfile, "%v", err)
	}
	if c.IsSet(FlagProbeInterval) {
		timing.ProbeInterval = c.Duration(FlagProbeInterval)
	}
	if c.IsSet(FlagProbeTimeout) {
		timing.ProbeTimeout = c.Duration(FlagProbeTimeout)
	}
	if c.IsSet(FlagSuspicionMult) {
		timing.SuspicionMult = c.Int(FlagSuspicionMult)
	}
	if c.IsSet(FlagGossipInterval) {
		timing.GossipInterval = c.Duration(FlagGossipInterval)
	}
	if c.IsSet(FlagGossipNodes) {
		timing.GossipNodes = c.Int(FlagGossipNodes)
	}
	if err := timing.Validate(); err != nil {
		return Config{}, fmt.Errorf("%w: --%s with its overrides (--%s, --%s, --%s, --%s, --%s): %v", ErrBadFlag,
			FlagProfile, FlagProbeInterval, FlagProbeTimeout, FlagSuspicionMult, FlagGossipInterval, FlagGossipNodes, err)
	}
	cfg.Timing = timing
	return cfg, nil
}

// SplitList flattens comma-separated flag values, trimming spaces and
// dropping empty entries.
func SplitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
