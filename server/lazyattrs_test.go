package server

import (
	"bytes"
	"log/slog"
	"testing"
	"time"
)

// TestLazyAttrsSameOutput: loggers built on lazyAttrs write exactly what
// Logger.With would, in text and JSON, including attributes added by a
// later With and a group.
func TestLazyAttrsSameOutput(t *testing.T) {
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	for _, format := range []string{"text", "json"} {
		var want, got bytes.Buffer
		handler := func(b *bytes.Buffer) slog.Handler {
			o := &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: noTime}
			if format == "json" {
				return slog.NewJSONHandler(b, o)
			}
			return slog.NewTextHandler(b, o)
		}
		log := func(l *slog.Logger) {
			l.Info("control connection closed", "err", "EOF")
			c := l.With("call", uint16(7))
			c.Warn("session up", "user", "alice", "setup", 120*time.Millisecond)
			c.WithGroup("g").Debug("grouped", "k", 1)
		}
		log(slog.New(handler(&want)).With("peer", "10.0.0.1"))
		log(slog.New(&lazyAttrs{h: handler(&got), attrs: []slog.Attr{slog.String("peer", "10.0.0.1")}}))
		if got.String() != want.String() {
			t.Errorf("%s:\ngot  %s\nwant %s", format, got.String(), want.String())
		}
	}
}
