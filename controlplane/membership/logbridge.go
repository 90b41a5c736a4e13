package membership

import (
	"bytes"
	"context"
	"log/slog"
)

// logBridge turns memberlist's and serf's "[LEVEL] subsystem: message" lines
// into slog records.
type logBridge struct{ logger *slog.Logger }

func (b logBridge) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, lv := range []struct {
		tag   string
		level slog.Level
	}{
		{"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelInfo}, {"[WARN]", slog.LevelWarn},
		{"[ERR]", slog.LevelError}, {"[ERROR]", slog.LevelError},
	} {
		if i := bytes.Index(line, []byte(lv.tag)); i >= 0 {
			level = lv.level
			line = bytes.TrimSpace(line[i+len(lv.tag):])
			break
		}
	}
	if b.logger.Enabled(context.Background(), level) {
		b.logger.Log(context.Background(), level, string(line))
	}
	return len(p), nil
}
