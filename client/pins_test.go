package client

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

var testPin = pinRecord{Dst: netip.MustParseAddr("192.0.2.10"), Dev: "gopptp-none0", Via: netip.MustParseAddr("198.51.100.1")}

func readPins(t *testing.T, path string) pinFile {
	t.Helper()
	var f pinFile
	if err := json.Unmarshal([]byte(readFile(t, path)), &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func writePins(t *testing.T, path string, f pinFile) {
	t.Helper()
	data, err := json.Marshal(&f)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The pins are on disk, private, while in place, and the file goes with
// the last of them.
func TestPinStateAddRemove(t *testing.T) {
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	s := newPinState(resolv, "work", discard())
	if s.path != resolv+".gopptp-pins-work" {
		t.Errorf("state file %s", s.path)
	}
	if err := s.add(testPin); err != nil {
		t.Fatal(err)
	}
	v6 := pinRecord{Dst: netip.MustParseAddr("2001:db8::10"), Dev: "gopptp-none0"}
	if err := s.add(v6); err != nil {
		t.Fatal(err)
	}
	f := readPins(t, s.path)
	if f.PID != os.Getpid() || f.Start == 0 || f.Boot == "" || f.NetNS != netNS() || f.Link != "work" ||
		len(f.Pins) != 2 || f.Pins[0] != testPin || f.Pins[1] != v6 {
		t.Errorf("state %+v", f)
	}
	if st, err := os.Stat(s.path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("state file mode: %v %v", st.Mode(), err)
	}
	if err := s.remove(testPin); err != nil {
		t.Fatal(err)
	}
	if f := readPins(t, s.path); len(f.Pins) != 1 || f.Pins[0] != v6 {
		t.Errorf("after removing one: %+v", f.Pins)
	}
	if err := s.remove(v6); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.path); err == nil {
		t.Error("state file left behind after the last pin")
	}
}

// A dead owner's pins are removed by the next client (its route device is
// gone here, which is no error) and the file with them; a live owner's,
// or another network namespace's, are left alone.
func TestPinStateStale(t *testing.T) {
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	s := newPinState(resolv, "ppp0", discard())
	id, err := selfIdentity()
	if err != nil {
		t.Fatal(err)
	}
	dead := pinFile{PID: id.PID, Start: id.Start + 1, Boot: id.Boot, NetNS: netNS(), Link: "ppp0", Pins: []pinRecord{testPin}}

	other := dead
	other.NetNS = "net:[1]"
	writePins(t, s.path, other)
	if err := s.recoverStale(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.path); err != nil {
		t.Error("another network namespace's state was removed")
	}

	start1, err := procStartTime(1)
	if err != nil {
		t.Skip("no /proc/1/stat:", err)
	}
	alive := dead
	alive.PID, alive.Start = 1, start1
	writePins(t, s.path, alive)
	if err := s.recoverStale(); err != nil {
		t.Fatal(err)
	}
	if f := readPins(t, s.path); f.PID != 1 {
		t.Errorf("a live owner's state was changed: %+v", f)
	}
	if err := s.add(testPin); err == nil {
		t.Error("a live owner's state was taken over")
	}
	if f := readPins(t, s.path); f.PID != 1 {
		t.Errorf("a live owner's state was changed: %+v", f)
	}

	writePins(t, s.path, dead)
	if err := s.recoverStale(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.path); err == nil {
		t.Error("a dead owner's state was left behind")
	}
}

// Nothing but a regular file of ours is trusted: a symbolic link is
// removed, not followed, and so is bad content; a link name cannot lead
// the file elsewhere.
func TestPinStateUntrusted(t *testing.T) {
	dir := t.TempDir()
	resolv := filepath.Join(dir, "resolv.conf")
	s := newPinState(resolv, "../../x/y", discard())
	if filepath.Dir(s.path) != dir {
		t.Fatalf("state file %s outside %s", s.path, dir)
	}
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, s.path); err != nil {
		t.Fatal(err)
	}
	if err := s.recoverStale(); err == nil {
		t.Error("a symbolic link was taken for state")
	}
	if _, err := os.Lstat(s.path); err == nil {
		t.Error("the symbolic link was left")
	}
	if got := readFile(t, target); got != "precious" {
		t.Errorf("the link's target changed: %q", got)
	}
	os.Symlink(target, s.path)
	if err := s.add(testPin); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, target); got != "precious" {
		t.Errorf("add wrote through a symbolic link: %q", got)
	}
	s.remove(testPin)

	for _, bad := range []string{"", "{", "[]", `{"pins":[{"dst":"x"}]}`, string(make([]byte, maxPinFile+10))} {
		if err := os.WriteFile(s.path, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := s.recoverStale(); err == nil {
			t.Errorf("%.20q: no error", bad)
		}
		if _, err := os.Stat(s.path); err == nil {
			t.Errorf("%.20q: corrupt state left", bad)
		}
	}
}
