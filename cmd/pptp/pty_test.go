package main

import (
	"bytes"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopptp/gopptp/client"
)

// TestParsePtyArgs: the command lines pppd peers files and
// NetworkManager-pptp give pptp-linux are accepted and mean what they
// mean there.
func TestParsePtyArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want func(*ptyInvocation) bool
	}{
		// NetworkManager-pptp (nm-pptp-service.c).
		{[]string{"vpn.example.com", "--nolaunchpppd", "--loglevel", "0", "--logstring", "nm-pptp-service-1234"},
			func(i *ptyInvocation) bool {
				return i.cfg.Server == "vpn.example.com" && i.logLevel == 0 && i.logString == "nm-pptp-service-1234"
			}},
		// Debian's /etc/ppp/peers examples and pptpsetup.
		{[]string{"10.1.2.3", "--nolaunchpppd"}, func(i *ptyInvocation) bool { return i.cfg.Server == "10.1.2.3" && i.logLevel == 1 }},
		{[]string{"--loglevel=2", "--nolaunchpppd", "vpn"}, func(i *ptyInvocation) bool { return i.cfg.Server == "vpn" && i.logLevel == 2 }},
		{[]string{"vpn", "--nolaunchpppd", "--localbind", "10.0.0.5", "--phone", "555-1234", "--port", "10723"},
			func(i *ptyInvocation) bool {
				return i.cfg.Server == "vpn:10723" && i.cfg.LocalAddr == netip.MustParseAddr("10.0.0.5") && i.cfg.Phone == "555-1234"
			}},
		// GRE over IPv6: the local address of an IPv6 server's tunnel.
		{[]string{"2001:db8::1", "--nolaunchpppd", "--localbind", "2001:db8::5"},
			func(i *ptyInvocation) bool {
				return i.cfg.Server == "2001:db8::1" && i.cfg.LocalAddr == netip.MustParseAddr("2001:db8::5")
			}},
		{[]string{"vpn", "--nolaunchpppd", "--timeout", "0.3", "--idle-wait", "30", "--sync"},
			func(i *ptyInvocation) bool {
				return i.cfg.ReorderTimeout == 300*time.Millisecond && i.cfg.EchoInterval == 30*time.Second && i.cfg.Sync
			}},
		{[]string{"vpn", "--nolaunchpppd", "--nobuffer"}, func(i *ptyInvocation) bool { return i.cfg.ReorderTimeout == time.Millisecond }},
		{[]string{"vpn", "--nolaunchpppd", "--quirks", "BEZEQ_ISRAEL", "--debug", "--nohostroute", "--max-echo-wait", "10"},
			func(i *ptyInvocation) bool { return len(i.ignored) == 4 && len(i.warn) == 0 }},
		{[]string{"vpn", "--nolaunchpppd", "--rtmark", "7"}, func(i *ptyInvocation) bool { return len(i.warn) == 1 }},
	} {
		inv, err := parsePtyArgs(tc.args)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if !tc.want(inv) {
			t.Errorf("%q: parsed as %+v", tc.args, *inv)
		}
	}
}

// TestParsePtyArgsErrors: unknown options and malformed values are
// errors, as with pptp-linux, and so are pppd options after the server.
func TestParsePtyArgsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--nolaunchpppd"},
		{"vpn", "--nolaunchpppd", "--frobnicate"},
		{"vpn", "--nolaunchpppd", "--loglevel"},
		{"vpn", "--nolaunchpppd", "--loglevel", "many"},
		{"vpn", "--nolaunchpppd", "--loglevel", "5"},
		{"vpn", "--nolaunchpppd", "--timeout", "60"},
		{"vpn", "--nolaunchpppd", "--localbind", "not-an-address"},
		{"vpn", "--nolaunchpppd", "--port", "0"},
		{"vpn", "--nolaunchpppd", "--sync=yes"},
		{"vpn", "--nolaunchpppd", "--phone", strings.Repeat("5", 65)},
		{"vpn", "--nolaunchpppd", "name", "alice"},
		{"vpn", "--nolaunchpppd", "--", "name", "alice"},
	} {
		if inv, err := parsePtyArgs(args); err == nil {
			t.Errorf("%q accepted: %+v", args, *inv)
		}
	}
}

// TestIsPtyMode: --nolaunchpppd anywhere selects the relay, but not a
// pty option's text in the normal mode.
func TestIsPtyMode(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{[]string{"vpn", "--nolaunchpppd"}, true},
		{[]string{"--loglevel", "0", "--nolaunchpppd", "vpn"}, true},
		{[]string{"vpn", "name", "alice"}, false},
		{[]string{"call", "office"}, false},
		{[]string{"vpn", "pty", "pptp vpn --nolaunchpppd"}, false},
		{[]string{"vpn", "--", "--nolaunchpppd"}, false},
	} {
		if got := isPtyMode(tc.args); got != tc.want {
			t.Errorf("isPtyMode(%q) = %v", tc.args, got)
		}
	}
}

// TestRunPtyOptionErrors: a bad command line exits 2 with the usage on
// stderr and writes nothing to stdout, which pppd would read as PPP.
func TestRunPtyOptionErrors(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	var stderr bytes.Buffer
	if code := runPty([]string{"vpn", "--nolaunchpppd", "--bogus"}, r, w, &stderr); code != client.ExitOptionError {
		t.Errorf("exit %d", code)
	}
	if !strings.Contains(stderr.String(), "unknown option --bogus") || !strings.Contains(stderr.String(), "usage: pptp SERVER --nolaunchpppd") {
		t.Errorf("stderr: %s", stderr.String())
	}
	w.Close()
	buf := make([]byte, 1)
	if n, _ := r.Read(buf); n != 0 {
		t.Errorf("wrote %d bytes to stdout", n)
	}
}

func TestPtyLogLevel(t *testing.T) {
	if ptyLogLevel(0) != slog.LevelWarn || ptyLogLevel(1) != slog.LevelInfo || ptyLogLevel(2) != slog.LevelDebug {
		t.Error("pptp-linux's log levels map wrongly")
	}
}
