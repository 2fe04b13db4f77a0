package client

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var testServers = []netip.Addr{netip.MustParseAddr("10.0.2.53"), netip.MustParseAddr("10.0.2.54")}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestResolvConfApplyRestore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	original := "# ours\nnameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch example.org\noptions edns0"
	if err := os.WriteFile(path, []byte(original), 0o640); err != nil {
		t.Fatal(err)
	}
	r := newResolvConf(path, "work", discard())
	if err := r.apply(context.Background(), testServers); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, path)
	want := "# Written by pptp for work (usepeerdns); the original is restored when the link goes down.\n" +
		"nameserver 10.0.2.53\nnameserver 10.0.2.54\n# ours\nsearch example.org\noptions edns0\n"
	if got != want {
		t.Errorf("while up:\n%s\nwant:\n%s", got, want)
	}
	var b resolvBackup
	if err := json.Unmarshal([]byte(readFile(t, path+".gopptp-backup")), &b); err != nil {
		t.Fatal(err)
	}
	if b.PID != os.Getpid() || string(b.Original) != original || !b.Existed || b.Link != "work" || b.Boot == "" || b.Start == 0 {
		t.Errorf("backup %+v", b)
	}
	if err := r.restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != original {
		t.Errorf("restored:\n%s", got)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v after restore", st.Mode())
	}
	if _, err := os.Stat(path + ".gopptp-backup"); err == nil {
		t.Error("backup left behind")
	}
	// Nothing applied: nothing to do.
	if err := r.restore(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestResolvConfSymlinkAndMissing(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "stub-resolv.conf")
	os.WriteFile(target, []byte("nameserver 127.0.0.53\noptions trust-ad\n"), 0o644)
	path := filepath.Join(dir, "resolv.conf")
	if err := os.Symlink("stub-resolv.conf", path); err != nil {
		t.Fatal(err)
	}
	r := newResolvConf(path, "ppp0", discard())
	if err := r.apply(context.Background(), testServers[:1]); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Lstat(path); st.Mode()&os.ModeSymlink != 0 || !strings.Contains(readFile(t, path), "nameserver 10.0.2.53\noptions trust-ad\n") {
		t.Errorf("link not replaced by a file: %v\n%s", st.Mode(), readFile(t, path))
	}
	if got := readFile(t, target); got != "nameserver 127.0.0.53\noptions trust-ad\n" {
		t.Errorf("the link's target was changed:\n%s", got)
	}
	if err := r.restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l, err := os.Readlink(path); err != nil || l != "stub-resolv.conf" {
		t.Errorf("link not restored: %q %v", l, err)
	}

	missing := filepath.Join(dir, "none.conf")
	r = newResolvConf(missing, "ppp0", discard())
	if err := r.apply(context.Background(), testServers); err != nil {
		t.Fatal(err)
	}
	if err := r.restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(missing); err == nil {
		t.Error("a file that did not exist was left behind")
	}
}

func TestResolvConfChangedMeanwhile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(path, []byte("nameserver 192.0.2.1\n"), 0o644)
	r := newResolvConf(path, "ppp0", discard())
	if err := r.apply(context.Background(), testServers); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte("nameserver 198.51.100.1\n"), 0o644) // DHCP, say
	if err := r.restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != "nameserver 198.51.100.1\n" {
		t.Errorf("restore overwrote a newer file:\n%s", got)
	}
	if _, err := os.Stat(path + ".gopptp-backup"); err == nil {
		t.Error("backup left behind")
	}
}

// A second apply (a router advertisement's IPv6 servers after IPCP's)
// after someone else changed the file (Debian's ip-up.d usepeerdns, run
// by our ip-up) keeps the true original in the backup: exit restores it,
// not the foreign content.
func TestResolvConfReapplyKeepsOriginal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	original := "nameserver 192.0.2.1\nsearch example.org\n"
	if err := os.WriteFile(path, []byte(original), 0o640); err != nil {
		t.Fatal(err)
	}
	r := newResolvConf(path, "ppp0", discard())
	if err := r.apply(context.Background(), testServers[:1]); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte("nameserver 10.0.2.53\nnameserver 192.0.2.1\n"), 0o644)
	v6 := netip.MustParseAddr("2001:db8::53")
	if err := r.apply(context.Background(), []netip.Addr{testServers[0], v6}); err != nil {
		t.Fatal(err)
	}
	want := "# Written by pptp for ppp0 (usepeerdns); the original is restored when the link goes down.\n" +
		"nameserver 10.0.2.53\nnameserver 2001:db8::53\nsearch example.org\n"
	if got := readFile(t, path); got != want {
		t.Errorf("after the second apply:\n%s\nwant:\n%s", got, want)
	}
	var b resolvBackup
	if err := json.Unmarshal([]byte(readFile(t, path+".gopptp-backup")), &b); err != nil {
		t.Fatal(err)
	}
	if string(b.Original) != original || string(b.Wrote) != want || b.Mode != 0o640 {
		t.Errorf("backup after the second apply: original %q, wrote %q, mode %v", b.Original, b.Wrote, b.Mode)
	}
	if err := r.restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != original {
		t.Errorf("restored:\n%s\nwant:\n%s", got, original)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v after restore", st.Mode())
	}
	if _, err := os.Stat(path + ".gopptp-backup"); err == nil {
		t.Error("backup left behind")
	}
}

// A backup whose owner is gone is restored by the next client; one whose
// owner runs is left alone, and blocks a second client from changing the
// file.
func TestResolvConfStale(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	original := "nameserver 192.0.2.1\n"
	os.WriteFile(path, []byte(original), 0o644)
	owner := newResolvConf(path, "ppp0", discard())
	if err := owner.apply(context.Background(), testServers); err != nil {
		t.Fatal(err)
	}
	up := readFile(t, path)

	other := newResolvConf(path, "ppp1", discard())
	if err := other.recoverStale(); err != nil {
		t.Fatal(err)
	}
	if readFile(t, path) != up {
		t.Error("recovered a backup whose owner still runs")
	}
	if err := other.apply(context.Background(), testServers[:1]); err == nil || !strings.Contains(err.Error(), "managed by another pptp") {
		t.Errorf("second client changed the file: %v", err)
	}

	// The owner "dies": same PID, another start time (the PID reused).
	var b resolvBackup
	json.Unmarshal([]byte(readFile(t, path+".gopptp-backup")), &b)
	b.Start++
	data, _ := json.Marshal(b)
	os.WriteFile(path+".gopptp-backup", data, 0o600)
	if b.alive() {
		t.Fatal("a backup with another start time is alive")
	}
	if err := other.recoverStale(); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); got != original {
		t.Errorf("not recovered:\n%s", got)
	}
	if _, err := os.Stat(path + ".gopptp-backup"); err == nil {
		t.Error("backup left behind")
	}
	// Another boot: dead too.
	b.Start--
	b.Boot = "another-boot"
	if b.alive() {
		t.Error("a backup from another boot is alive")
	}

	// A corrupt backup is dropped rather than blocking usepeerdns.
	os.WriteFile(path+".gopptp-backup", []byte("{"), 0o600)
	if err := other.recoverStale(); err == nil {
		t.Error("corrupt backup: no error")
	}
	if _, err := os.Stat(path + ".gopptp-backup"); err == nil {
		t.Error("corrupt backup kept")
	}
}

func TestProcStartTime(t *testing.T) {
	a, err := procStartTime(os.Getpid())
	if err != nil || a == 0 {
		t.Fatalf("%d %v", a, err)
	}
	if b, _ := procStartTime(os.Getpid()); b != a {
		t.Errorf("start time changed: %d %d", a, b)
	}
	if _, err := procStartTime(1 << 30); err == nil {
		t.Error("no error for a process that does not exist")
	}
}

// fakeResolvectl installs a resolvectl that records its arguments, one
// call per line, and returns the record's path.
func fakeResolvectl(t *testing.T) (bin, record string) {
	dir := t.TempDir()
	record = filepath.Join(dir, "calls")
	bin = filepath.Join(dir, "resolvectl")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho \"$*\" >> "+record+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, record
}

func TestResolvedDNS(t *testing.T) {
	bin, record := fakeResolvectl(t)
	r := &resolvedDNS{bin: bin, ifname: "ppp0", full: true, log: discard()}
	if err := r.apply(context.Background(), testServers); err != nil {
		t.Fatal(err)
	}
	if err := r.restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := "dns ppp0 10.0.2.53 10.0.2.54\ndomain ppp0 ~.\ndefault-route ppp0 yes\nrevert ppp0\n"
	if got := readFile(t, record); got != want {
		t.Errorf("resolvectl calls:\n%s\nwant:\n%s", got, want)
	}
	// A split tunnel leaves the routing of queries to resolved.
	os.Remove(record)
	r.full = false
	r.apply(context.Background(), testServers[:1])
	if got := readFile(t, record); got != "dns ppp0 10.0.2.53\n" {
		t.Errorf("split tunnel: %s", got)
	}
	r.bin = "/bin/false"
	if err := r.apply(context.Background(), testServers); err == nil {
		t.Error("a failing resolvectl is not an error")
	}
}

func TestResolvedManages(t *testing.T) {
	bin, _ := fakeResolvectl(t)
	t.Setenv("PATH", filepath.Dir(bin))
	dir := t.TempDir()
	run := filepath.Join(dir, "resolve")
	os.Mkdir(run, 0o755)
	os.WriteFile(filepath.Join(run, "stub-resolv.conf"), []byte("nameserver 127.0.0.53\n"), 0o644)
	link := filepath.Join(dir, "resolv.conf")
	os.Symlink(filepath.Join(run, "stub-resolv.conf"), link)
	if !resolvedManages(link, run) {
		t.Error("resolved not detected")
	}
	file := filepath.Join(dir, "static.conf")
	os.WriteFile(file, []byte("nameserver 192.0.2.1\n"), 0o644)
	if resolvedManages(file, run) {
		t.Error("a static resolv.conf taken for resolved's")
	}
	if resolvedManages(link, filepath.Join(dir, "nosuch")) {
		t.Error("resolved detected without its runtime directory")
	}
	t.Setenv("PATH", dir)
	if resolvedManages(link, run) {
		t.Error("resolved detected without resolvectl")
	}
}
