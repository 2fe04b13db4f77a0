// Package testtool finds the external programs some tests check our work
// with (tshark, fail2ban-regex, systemd-analyze, freeradius).
package testtool

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RequireEnv names the environment variable that turns a missing tool
// from a skipped test into a failed one. CI sets it, so that a broken
// installation cannot quietly skip a check.
const RequireEnv = "GOPPTP_REQUIRE_TOOLS"

// Require returns the paths of the named programs. When one is missing
// the test is skipped, naming the Debian packages that provide them, or
// fails if RequireEnv is set.
func Require(tb testing.TB, packages string, names ...string) []string {
	tb.Helper()
	var paths, missing []string
	for _, name := range names {
		p, err := exec.LookPath(name)
		if err != nil {
			missing = append(missing, name)
		}
		paths = append(paths, p)
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%s not installed (Debian packages: %s)", strings.Join(missing, " and "), packages)
		if os.Getenv(RequireEnv) != "" {
			tb.Fatal(msg + "; " + RequireEnv + " is set, so this is a failure")
		}
		tb.Skip(msg + "; set " + RequireEnv + "=1 to make this a failure")
	}
	return paths
}

// Fail2banBans runs fail2ban-regex with the filter at filter over log
// lines and returns the address of each matched line, as fail2ban would
// ban them.
func Fail2banBans(tb testing.TB, filter string, lines []string) []string {
	tb.Helper()
	bin := Require(tb, "fail2ban", "fail2ban-regex")[0]
	// The filter includes common.conf, which fail2ban looks for next to
	// the filter.
	dir := filepath.Join(tb.TempDir(), "filter.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	for src, dst := range map[string]string{"/etc/fail2ban/filter.d/common.conf": "common.conf", filter: "f.conf"} {
		b, err := os.ReadFile(src)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	log := filepath.Join(tb.TempDir(), "pptpd.log")
	if err := os.WriteFile(log, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command(bin, "-o", "ip", log, filepath.Join(dir, "f.conf")).CombinedOutput()
	if err != nil {
		tb.Fatalf("fail2ban-regex: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}
