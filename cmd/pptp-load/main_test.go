package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestUsageErrorsExitTwo(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-user", "a", "-mppe", "56", "10.0.0.1"},
		{"-user", "a", "-n", "-3", "10.0.0.1"},
		{"-user", "a", "10.0.0.1", "10.0.0.2"},
		{"-nosuchflag", "10.0.0.1"},
	} {
		var out, errb bytes.Buffer
		if code := run(t.Context(), args, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
		if !strings.HasPrefix(errb.String(), "pptp-load: ") || out.Len() != 0 {
			t.Errorf("%q: stdout %q stderr %q", args, out.String(), errb.String())
		}
	}
}

func TestHelpExitsZero(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"-h"}, &out, &errb); code != 0 || !strings.Contains(errb.String(), "usage: pptp-load") {
		t.Errorf("-h: exit %d, stderr %q", code, errb.String())
	}
}

// TestNothingUpExitsOne: a run where no session comes up (nothing listens
// on 127.0.0.1:1; without root the raw GRE socket cannot even be opened)
// reports and exits 1, never panics.
func TestNothingUpExitsOne(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"-user", "a", "-password", "b", "-n", "2", "-progress", "0", "127.0.0.1:1"}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out.String(), errb.String())
	}
	if os.Geteuid() == 0 {
		if !strings.Contains(out.String(), "failed: 2 x connect failed: connection refused") ||
			!strings.Contains(out.String(), "sessions: up=0 failed=2 ") {
			t.Errorf("report:\n%s", out.String())
		}
	} else if !strings.Contains(errb.String(), "raw GRE socket") {
		t.Errorf("stderr: %s", errb.String())
	}
}
