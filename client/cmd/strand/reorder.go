package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// reorder lets flags go anywhere on the command line: urfave/cli stops
// parsing flags at a command's first argument and knows global flags only
// before the command. So `strand topic create NAME --partitions 3 -b host:port`
// becomes `strand -b host:port topic create --partitions 3 NAME`. A flag the
// command does not know but the app does is global; tokens after "--" stay
// arguments.
func reorder(app *cli.App, args []string) []string {
	if len(args) == 0 {
		return args
	}
	var global, path, local, pos []string
	flags := app.Flags
	cmds := app.Commands
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if a == "--" {
			pos = append(pos, rest[i:]...)
			break
		}
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			dst := &local
			set := flags
			if !knows(flags, a) && knows(app.Flags, a) {
				dst, set = &global, app.Flags
			}
			*dst = append(*dst, a)
			if takesValue(set, a) && i+1 < len(rest) {
				i++
				*dst = append(*dst, rest[i])
			}
			continue
		}
		if len(pos) == 0 {
			if cmd := findCommand(cmds, a); cmd != nil {
				// Flags seen so far belong to the level before this command.
				path = append(path, local...)
				path = append(path, a)
				local = nil
				flags, cmds = cmd.Flags, cmd.Subcommands
				continue
			}
		}
		pos = append(pos, a)
	}
	out := []string{args[0]}
	out = append(out, global...)
	out = append(out, path...)
	out = append(out, local...)
	return append(out, pos...)
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// flagName is a flag token's name, without dashes and "=value".
func flagName(token string) string {
	name := strings.TrimLeft(token, "-")
	if i := strings.IndexByte(name, '='); i >= 0 {
		name = name[:i]
	}
	return name
}

func knows(flags []cli.Flag, token string) bool {
	name := flagName(token)
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// takesValue reports whether a flag token needs the next token as its value:
// a known non-boolean flag written without "=".
func takesValue(flags []cli.Flag, token string) bool {
	if strings.Contains(token, "=") {
		return false
	}
	name := flagName(token)
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				_, isBool := f.(*cli.BoolFlag)
				return !isBool
			}
		}
	}
	return false
}
