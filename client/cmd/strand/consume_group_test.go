package main

import (
	"strings"
	"testing"
)

func TestGroupConsumeUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"consume", "t", "--group", "g", "--partition", "1"},
		{"consume", "t", "--group", "g", "--offset", "5"},
		{"consume", "t", "--group", "g", "--commit-interval", "0s"},
		{"consume", "t", "--group", "g", "--max-messages", "-1"},
		{"consume", "t", "--instance-id", "i-1"},
		{"consume", "t", "--session-timeout", "10s"},
	} {
		code, _, stderr := runCLI(t, "", args...)
		if code != exitUsage {
			t.Errorf("strand %s: exit %d, want 2 (stderr %q)", strings.Join(args, " "), code, stderr)
		}
	}
}
