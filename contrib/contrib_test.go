// Package contrib holds files for other programs (fail2ban, systemd);
// these tests check them with those programs.
package contrib

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gopptp/gopptp/internal/testtool"
)

func contribDir(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func TestFail2banFilter(t *testing.T) {
	lines := []string{
		// pptpd --fg, text and JSON.
		`time=2026-11-21T20:36:22.145+00:00 level=WARN msg="login failed" peer=198.51.100.1 user=alice method=MS-CHAP-v2 reason="wrong password"`,
		`{"time":"2026-11-21T20:36:22.145718+00:00","level":"WARN","msg":"login failed","peer":"2001:db8::2","user":"alice","method":"MS-CHAP-v2","reason":"wrong password"}`,
		// Through syslog.
		`Nov 21 20:36:22 vpn pptpd[123]: time=2026-11-21T20:36:22.145+00:00 level=WARN msg="login failed" peer=198.51.100.3 user=bob method=PAP reason="unknown user"`,
		`Nov 21 20:36:22 vpn pptpd[123]: {"time":"2026-11-21T20:36:22.145718+00:00","level":"WARN","msg":"login failed","peer":"198.51.100.4","user":"bob","method":"PAP","reason":"unknown user"}`,
		// A guesser's user name that tries to frame someone else.
		`time=2026-11-21T20:36:22.145+00:00 level=WARN msg="login failed" peer=198.51.100.5 user="x\" peer=192.0.2.99 user=" method=CHAP-MD5 reason="wrong password"`,
		// Lines that must not match.
		`time=2026-11-21T20:36:22.145+00:00 level=INFO msg="session up" user=alice auth=MS-CHAP-v2 local=192.168.0.1 remote=192.168.0.234`,
		`time=2026-11-21T20:36:22.145+00:00 level=INFO msg="login failed" peer=192.0.2.98 user=alice`,
		`time=2026-11-21T20:36:22.145+00:00 level=WARN msg="source locked out" peer=192.0.2.97 for=1m0s`,
	}
	got := testtool.Fail2banBans(t, filepath.Join(contribDir(t), "fail2ban", "filter.d", "pptpd.conf"), lines)
	want := []string{"198.51.100.1", "2001:db8::2", "198.51.100.3", "198.51.100.4", "198.51.100.5"}
	if !slices.Equal(got, want) {
		t.Errorf("fail2ban would ban %v, want %v", got, want)
	}
}

// TestSystemdUnit checks the unit with systemd's own parser: any complaint
// about our file fails.
func TestSystemdUnit(t *testing.T) {
	bin := testtool.Require(t, "systemd", "systemd-analyze")[0]
	b, err := os.ReadFile(filepath.Join(contribDir(t), "systemd", "pptpd.service"))
	if err != nil {
		t.Fatal(err)
	}
	// verify wants the ExecStart program to exist.
	exe := filepath.Join(t.TempDir(), "pptpd")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	unit := strings.ReplaceAll(string(b), "/usr/sbin/pptpd", exe)
	if !strings.Contains(unit, "ExecStart="+exe+" --fg") || !strings.Contains(unit, "ExecReload=/bin/kill -HUP $MAINPID") {
		t.Fatalf("unit lost its ExecStart or ExecReload:\n%s", unit)
	}
	path := filepath.Join(t.TempDir(), "pptpd.service")
	os.WriteFile(path, []byte(unit), 0o644)
	out, _ := exec.Command(bin, "verify", path).CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "pptpd.service") || strings.Contains(l, exe) {
			t.Errorf("systemd-analyze verify: %s", l)
		}
	}
}
