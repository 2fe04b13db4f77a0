package logging

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

type proto uint16

func (p proto) String() string { return "LCP" }

type opts struct{ On bool }

func (o opts) String() string { return "MPPE-128" }

func TestFormatsAgree(t *testing.T) {
	var text, js bytes.Buffer
	for _, l := range []*slog.Logger{New(&text, slog.LevelInfo, "text"), New(&js, slog.LevelInfo, "json")} {
		l.Info("state", "proto", proto(0xc021), "mppe", opts{true}, "err", errors.New("boom"), "n", 3)
		l.Debug("hidden")
	}
	if got := text.String(); !strings.Contains(got, `msg=state proto=LCP mppe=MPPE-128 err=boom n=3`) || strings.Contains(got, "hidden") {
		t.Errorf("text: %s", got)
	}
	var rec map[string]any
	if err := json.Unmarshal(js.Bytes(), &rec); err != nil {
		t.Fatalf("%v: %s", err, js.String())
	}
	if rec["proto"] != "LCP" || rec["mppe"] != "MPPE-128" || rec["err"] != "boom" || rec["n"] != 3.0 {
		t.Errorf("json: %v", rec)
	}
}
