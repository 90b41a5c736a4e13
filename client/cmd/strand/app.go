package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"strand.dev/client/admin"
	"strand.dev/client/internal/conn"
	"strand.dev/client/internal/routing"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// env is the process's I/O, replaced in tests.
type env struct {
	stdin     io.Reader
	stdout    io.Writer
	stderr    io.Writer
	stdoutTTY bool // stdout is a terminal: progress lines are drawn
}

func newEnv() *env {
	tty := false
	if fi, err := os.Stdout.Stat(); err == nil {
		tty = fi.Mode()&os.ModeCharDevice != 0
	}
	return &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, stdoutTTY: tty}
}

// usageError is a command line that makes no sense: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// run runs the CLI and returns the exit code.
func run(ctx context.Context, args []string, e *env) int {
	app := newApp(e)
	err := app.RunContext(ctx, reorder(app, args))
	if err == nil {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(e.stderr, "strand: %s\nRun 'strand --help' for usage.\n", ue.msg)
		return exitUsage
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintf(e.stderr, "strand: %s\n", ee.msg)
		}
		return ee.code
	}
	fmt.Fprintf(e.stderr, "strand: error: %v\n", err)
	return exitFailure
}

// exitError ends the CLI with a code and an optional message.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func newApp(e *env) *cli.App {
	app := &cli.App{
		Name:                      "strand",
		Usage:                     "operate a Strand cluster: topics, produce, consume, consumer groups, status, load tests",
		Writer:                    e.stdout,
		ErrWriter:                 e.stderr,
		Reader:                    e.stdin,
		HideVersion:               true,
		DisableSliceFlagSeparator: true,
		ExitErrHandler:            func(*cli.Context, error) {},
		OnUsageError: func(c *cli.Context, err error, _ bool) error {
			return usagef("%v", err)
		},
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "bootstrap", Aliases: []string{"b"}, EnvVars: []string{"STRAND_BOOTSTRAP"},
				Value: strings.Join(conn.DefaultBootstrap, ","),
				Usage: "host:port[,host:port] of strand-meta or data nodes to ask for the cluster metadata (default: the local cluster of make run)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, EnvVars: []string{"STRAND_OUTPUT"}, Value: "table",
				Usage: "table (readable) or json (for scripts)"},
			&cli.DurationFlag{Name: "request-timeout", EnvVars: []string{"STRAND_REQUEST_TIMEOUT"}, Value: 30 * time.Second,
				Usage: "how long admin and status requests may take, retries included"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, EnvVars: []string{"STRAND_VERBOSE"},
				Usage: "log the client's retries and errors to stderr"},
		},
		Before: func(c *cli.Context) error {
			_, err := globalsOf(c)
			return err
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("unknown command %q", c.Args().First())
			}
			_ = cli.ShowAppHelp(c)
			return usagef("no command given")
		},
		Commands: []*cli.Command{
			topicCommand(e),
			produceCommand(e),
			consumeCommand(e),
			groupCommand(e),
			clusterCommand(e),
			metaCommand(e),
			benchCommand(e),
		},
	}
	setUsageErrors(app.Commands)
	return app
}

// setUsageErrors makes flag errors of every command usage errors, and makes
// command groups reject unknown subcommands.
func setUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usagef("%v", err) }
		if len(c.Subcommands) > 0 {
			name := c.Name
			c.Action = func(cc *cli.Context) error {
				if cc.Args().Present() {
					return usagef("unknown command %q for %q", cc.Args().First(), "strand "+name)
				}
				_ = cli.ShowSubcommandHelp(cc)
				return usagef("%q needs a subcommand", "strand "+name)
			}
			setUsageErrors(c.Subcommands)
		}
	}
}

// globals are the global flags, checked.
type globals struct {
	bootstrap      []string
	json           bool
	requestTimeout time.Duration
	logger         *slog.Logger
}

func globalsOf(c *cli.Context) (*globals, error) {
	boot, err := routing.ParseBootstrap(c.String("bootstrap"))
	if err != nil {
		// A bad bootstrap list is a failure to reach the cluster (exit 1),
		// as the bad-input rules ask, not a usage error.
		return nil, fmt.Errorf("--bootstrap: %w", err)
	}
	g := &globals{bootstrap: boot, requestTimeout: c.Duration("request-timeout")}
	switch c.String("output") {
	case "table", "":
	case "json":
		g.json = true
	default:
		return nil, usagef("--output %q: want table or json", c.String("output"))
	}
	if g.requestTimeout <= 0 {
		return nil, usagef("--request-timeout %v must be positive", g.requestTimeout)
	}
	if c.Bool("verbose") {
		g.logger = slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return g, nil
}

// newAdmin opens an admin client from the global flags.
func (g *globals) newAdmin() (*admin.Admin, error) {
	return admin.New(admin.Bootstrap(g.bootstrap...), admin.Logger(g.logger), admin.RetryTimeout(g.requestTimeout))
}

// withTimeout bounds a command's requests by --request-timeout.
func (g *globals) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.requestTimeout)
}

// oneArg returns a command's single positional argument.
func oneArg(c *cli.Context, what string) (string, error) {
	switch c.NArg() {
	case 0:
		return "", usagef("%s: missing %s", c.Command.HelpName, what)
	case 1:
		return c.Args().First(), nil
	}
	return "", usagef("%s: one %s expected, got %d arguments: %s", c.Command.HelpName, what, c.NArg(), strings.Join(c.Args().Slice(), " "))
}
