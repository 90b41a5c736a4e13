// Package logging builds a Strand process's structured logger from its
// --log-level and --log-format flags, the same way in every binary.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"
)

// Flags are --log-level and --log-format with their STRAND_ environment
// twins; defaultFormat is "text" or "json".
func Flags(defaultFormat string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "log-level", EnvVars: []string{"STRAND_LOG_LEVEL"}, Value: "info",
			Usage: "debug, info, warn or error"},
		&cli.StringFlag{Name: "log-format", EnvVars: []string{"STRAND_LOG_FORMAT"}, Value: defaultFormat,
			Usage: "text or json"},
	}
}

// FromFlags is New with the values of Flags, writing to standard error.
func FromFlags(c *cli.Context) (*slog.Logger, error) {
	return New(os.Stderr, c.String("log-level"), c.String("log-format"))
}

// New returns a logger writing records at level or above to w, as
// logfmt-style text or as one JSON object per line. A bad level or format
// is an error naming the flag.
func New(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}
