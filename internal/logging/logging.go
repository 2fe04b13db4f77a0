// Package logging builds the slog loggers of the commands.
package logging

import (
	"fmt"
	"io"
	"log/slog"
)

// New returns a logger writing text or, with format "json", one JSON
// object per line.
func New(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: stringers}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// stringers logs values by their String method. The text handler does so
// already; the JSON handler would otherwise write protocol numbers and
// states as bare integers and option sets as objects, and the two formats
// would disagree.
func stringers(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindAny {
		return a
	}
	switch v := a.Value.Any().(type) {
	case error:
		a.Value = slog.StringValue(v.Error())
	case fmt.Stringer:
		a.Value = slog.StringValue(v.String())
	}
	return a
}
