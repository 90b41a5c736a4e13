package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		level, format string
		wantErr       string
		wantJSON      bool
		debugShown    bool
	}{
		{level: "info", format: "text"},
		{level: "INFO", format: "JSON", wantJSON: true},
		{level: "debug", format: "json", wantJSON: true, debugShown: true},
		{level: "warn", format: "text"},
		{level: "loud", format: "text", wantErr: "--log-level"},
		{level: "info", format: "xml", wantErr: "--log-format"},
	} {
		var buf bytes.Buffer
		lg, err := New(&buf, tc.level, tc.format)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New(%q, %q) error %v, want one naming %s", tc.level, tc.format, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("New(%q, %q): %v", tc.level, tc.format, err)
		}
		lg.Debug("dbg")
		lg.Warn("hello", "k", 1)
		out := buf.String()
		if strings.Contains(out, "dbg") != tc.debugShown {
			t.Errorf("level %q: debug record shown=%v, want %v:\n%s", tc.level, !tc.debugShown, tc.debugShown, out)
		}
		last := strings.TrimSpace(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:])
		var obj map[string]any
		isJSON := json.Unmarshal([]byte(last), &obj) == nil
		if isJSON != tc.wantJSON {
			t.Errorf("format %q: JSON=%v, want %v: %q", tc.format, isJSON, tc.wantJSON, last)
		}
		if !strings.Contains(last, "hello") {
			t.Errorf("record missing: %q", last)
		}
	}
}
