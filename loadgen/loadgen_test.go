package loadgen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopptp/gopptp/ppp/ccp"
)

func TestParseFlags(t *testing.T) {
	dir := t.TempDir()
	secrets := filepath.Join(dir, "chap-secrets")
	if err := os.WriteFile(secrets, []byte("# users\nu1 pptpd \"p 1\" *\n* pptpd anything *\nu2 * p2 10.0.0.5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := ParseFlags([]string{"-n", "500", "-rate", "250", "10.0.0.1", "-hold", "5m", "-ping=10s",
		"-user", "alice", "-password", "pw", "-mppe", "40", "-source", "10.0.0.2,10.0.0.10-12", "-concurrency", "64"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := netip.MustParseAddrPort("10.0.0.1:1723")
	if cfg.Server != want || cfg.Sessions != 500 || cfg.Rate != 250 || cfg.Hold != 5*time.Minute || cfg.Ping != 10*time.Second ||
		cfg.Concurrency != 64 || cfg.MPPE != (ccp.Config{Allow40: true, Required: true}) {
		t.Errorf("parsed %+v", cfg)
	}
	if len(cfg.Users) != 1 || cfg.Users[0] != (User{"alice", "pw"}) {
		t.Errorf("users %v", cfg.Users)
	}
	if got := len(cfg.Sources); got != 4 || cfg.Sources[3] != netip.MustParseAddr("10.0.0.12") {
		t.Errorf("sources %v", cfg.Sources)
	}

	// Defaults, a port, and accounts from a secrets file ("*" clients
	// skipped, quoted passwords kept).
	cfg, err = ParseFlags([]string{"-secrets", secrets, "192.0.2.1:1724"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server != netip.MustParseAddrPort("192.0.2.1:1724") || cfg.Sessions != 1 || cfg.Concurrency != DefaultConcurrency ||
		cfg.MPPE != (ccp.Config{Allow128: true, Required: true}) || cfg.EchoInterval != 30*time.Second || cfg.EchoFailure != 4 ||
		cfg.PingTimeout != DefaultPingTimeout || cfg.SetupTimeout != DefaultSetupTimeout || cfg.Sources != nil {
		t.Errorf("defaults %+v", cfg)
	}
	if len(cfg.Users) != 2 || cfg.Users[0] != (User{"u1", "p 1"}) || cfg.Users[1] != (User{"u2", "p2"}) {
		t.Errorf("users from secrets: %v", cfg.Users)
	}
	if cfg, _ := ParseFlags([]string{"-user", "a", "-mppe", "none", "10.0.0.1"}, nil); cfg.MPPE.Enabled() {
		t.Errorf("-mppe none: %+v", cfg.MPPE)
	}

	bad := []struct {
		args []string
		msg  string
	}{
		{[]string{"-user", "a"}, "exactly one SERVER"},
		{[]string{"-user", "a", "10.0.0.1", "10.0.0.2"}, "exactly one SERVER"},
		{[]string{"-user", "a", "vpn.example.com"}, "IPv4 address"},
		{[]string{"-user", "a", "2001:db8::1"}, "IPv4 address"},
		{[]string{"-user", "a", "0.0.0.0"}, "IPv4 address"},
		{[]string{"-user", "a", "10.0.0.1:0"}, "bad port"},
		{[]string{"-user", "a", "10.0.0.1:x"}, "bad port"},
		{[]string{"10.0.0.1"}, "no account"},
		{[]string{"-user", "a", "-secrets", secrets, "10.0.0.1"}, "not both"},
		{[]string{"-secrets", filepath.Join(dir, "missing"), "10.0.0.1"}, "missing"},
		{[]string{"-user", "a", "-n", "0", "10.0.0.1"}, "-n must be"},
		{[]string{"-user", "a", "-n", "x", "10.0.0.1"}, "invalid value"},
		{[]string{"-user", "a", "-rate", "-1", "10.0.0.1"}, "-rate"},
		{[]string{"-user", "a", "-concurrency", "0", "10.0.0.1"}, "-concurrency"},
		{[]string{"-user", "a", "-hold", "-1s", "10.0.0.1"}, "negative"},
		{[]string{"-user", "a", "-hold", "5", "10.0.0.1"}, "invalid value"},
		{[]string{"-user", "a", "-ping-timeout", "0", "10.0.0.1"}, "positive"},
		{[]string{"-user", "a", "-mppe", "56", "10.0.0.1"}, "128, 40 or none"},
		{[]string{"-user", "a", "-source", "10.0.0.300", "10.0.0.1"}, "-source"},
		{[]string{"-user", "a", "-source", "2001:db8::1", "10.0.0.1"}, "not IPv4"},
		{[]string{"-user", "a", "-source", "10.0.0.0/8", "10.0.0.1"}, "at most"},
		{[]string{"-user", "a", "-bogus", "10.0.0.1"}, "not defined"},
	}
	for _, c := range bad {
		_, err := ParseFlags(c.args, nil)
		var ue *UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%q: error %v, want a usage error containing %q", c.args, err, c.msg)
		}
	}

	var out bytes.Buffer
	if _, err := ParseFlags([]string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "-concurrency") {
		t.Errorf("-h: %v\n%s", err, out.String())
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {90, 90 * time.Millisecond}, {99, 99 * time.Millisecond}, {99.9, 100 * time.Millisecond},
		{100, 100 * time.Millisecond}, {0.5, time.Millisecond}, {1, time.Millisecond}} {
		if got := Percentile(d, c.p); got != c.want {
			t.Errorf("p%v of 1..100ms = %v, want %v", c.p, got, c.want)
		}
	}
	if got := Percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
	one := []time.Duration{7 * time.Second}
	if Percentile(one, 1) != 7*time.Second || Percentile(one, 99) != 7*time.Second {
		t.Error("one value is every percentile")
	}
	// Nearest rank: p50 of 1..10 is 5 (not an interpolated 5.5), p99 of 10
	// values is the largest.
	ten := d[:10]
	if Percentile(ten, 50) != 5*time.Millisecond || Percentile(ten, 99) != 10*time.Millisecond || Percentile(ten, 10) != time.Millisecond {
		t.Errorf("1..10ms: p50 %v p99 %v p10 %v", Percentile(ten, 50), Percentile(ten, 99), Percentile(ten, 10))
	}
}

var (
	local = netip.MustParseAddr("100.64.0.7")
	peer  = netip.MustParseAddr("100.127.255.254")
)

// reply turns an echo request into the reply a host sends: addresses
// swapped, type 0, both checksums recomputed, TTL and identification
// changed as a kernel would.
func reply(req []byte) []byte {
	r := append([]byte(nil), req...)
	copy(r[12:16], req[16:20])
	copy(r[16:20], req[12:16])
	r[8] = 63
	binary.BigEndian.PutUint16(r[4:], 0x1234)
	fixIP(r)
	r[20] = icmpEchoReply
	fixICMP(r)
	return r
}

func fixIP(p []byte) {
	p[10], p[11] = 0, 0
	binary.BigEndian.PutUint16(p[10:], checksum(p[:20]))
}

func fixICMP(p []byte) {
	p[22], p[23] = 0, 0
	binary.BigEndian.PutUint16(p[22:], checksum(p[20:]))
}

func TestEchoBuildAndCheck(t *testing.T) {
	buf := make([]byte, PingLen)
	req := BuildEcho(buf, local, peer, 4711, 9)
	if len(req) != PingLen || req[0] != 0x45 || req[9] != protoICMP || req[20] != icmpEchoRequest {
		t.Fatalf("request % x", req)
	}
	if checksum(req[:20]) != 0 || checksum(req[20:]) != 0 {
		t.Fatal("request checksums do not verify")
	}
	if binary.BigEndian.Uint16(req[2:]) != PingLen || netip.AddrFrom4([4]byte(req[12:16])) != local || netip.AddrFrom4([4]byte(req[16:20])) != peer {
		t.Fatalf("request header % x", req[:20])
	}
	// A known vector: ping's classic example header checksum.
	if c := checksum([]byte{0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11, 0, 0, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8, 0, 0xc7}); c != 0xb861 {
		t.Errorf("RFC 1071 checksum %#04x, want 0xb861", c)
	}

	good := reply(req)
	seq, err := CheckEchoReply(good, local, peer, 4711)
	if err != nil || seq != 9 {
		t.Fatalf("reply: seq %d, %v", seq, err)
	}
	// Padding after the IP packet (what some links add) is ignored.
	if _, err := CheckEchoReply(append(append([]byte(nil), good...), 0, 0), local, peer, 4711); err != nil {
		t.Errorf("reply with trailing bytes: %v", err)
	}

	mutate := func(f func(p []byte)) []byte {
		p := append([]byte(nil), good...)
		f(p)
		return p
	}
	cases := []struct {
		name string
		pkt  []byte
		id   uint16
		want error
	}{
		{"the request itself", req, 4711, ErrAddresses},
		{"IPv6", mutate(func(p []byte) { p[0] = 0x65 }), 4711, ErrNotIPv4},
		{"short", good[:10], 4711, ErrNotIPv4},
		{"IP checksum", mutate(func(p []byte) { p[8]++ }), 4711, ErrIPChecksum},
		{"total length too long", mutate(func(p []byte) { binary.BigEndian.PutUint16(p[2:], PingLen+1); fixIP(p) }), 4711, ErrIPLength},
		{"truncated", good[:PingLen-1], 4711, ErrIPLength},
		{"fragment", mutate(func(p []byte) { p[6] = 0x20; fixIP(p) }), 4711, ErrFragment},
		{"UDP", mutate(func(p []byte) { p[9] = 17; fixIP(p) }), 4711, ErrNotICMP},
		{"other source", mutate(func(p []byte) { p[15]++; fixIP(p) }), 4711, ErrAddresses},
		{"ICMP checksum", mutate(func(p []byte) { p[30] ^= 1 }), 4711, ErrICMPChecksum},
		{"echo request", mutate(func(p []byte) { p[20] = icmpEchoRequest; fixICMP(p) }), 4711, ErrNotEchoReply},
		{"other identifier", good, 4712, ErrWrongID},
		{"payload changed", mutate(func(p []byte) { p[40] ^= 0xff; fixICMP(p) }), 4711, ErrPayloadChanged},
		{"sequence changed", mutate(func(p []byte) { p[27]++; fixICMP(p) }), 4711, ErrPayloadChanged},
	}
	for _, c := range cases {
		if _, err := CheckEchoReply(c.pkt, local, peer, c.id); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Different sequence numbers and identifiers make different payloads.
	other := BuildEcho(make([]byte, PingLen), local, peer, 4711, 10)
	if bytes.Equal(other[28:], req[28:]) {
		t.Error("payload does not depend on the sequence number")
	}
}

func TestIDAlloc(t *testing.T) {
	var a idAlloc
	a.next = 65534
	seen := map[uint16]bool{}
	for i := 0; i < 65535; i++ {
		id, ok := a.get()
		if !ok || id == 0 || seen[id] {
			t.Fatalf("get %d: id %d ok %v (seen %v)", i, id, ok, seen[id])
		}
		seen[id] = true
	}
	if _, ok := a.get(); ok {
		t.Fatal("all 65535 IDs handed out, and one more")
	}
	a.put(300)
	a.put(300) // twice is harmless
	if id, ok := a.get(); !ok || id != 300 {
		t.Errorf("after freeing 300: %d %v", id, ok)
	}
	// Round-robin: a freed ID is not reused while others are free.
	var b idAlloc
	b.next = 1
	x, _ := b.get()
	b.put(x)
	if y, _ := b.get(); y == x {
		t.Errorf("ID %d reused at once", x)
	}
}

var summaryRE = regexp.MustCompile(`^sessions: up=\d+ failed=\d+ setup_p50=\d+\.\dms setup_p99=\d+\.\dms rate=\d+\.\d/s pings_lost=\d+$`)

func TestReport(t *testing.T) {
	r := &Result{Sessions: 4, Started: 4, Up: 3, Failed: 1, SetupTime: 1500 * time.Millisecond, Rate: 2,
		Setup:    []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 30 * time.Millisecond},
		Failures: []Failure{{Reason: "authentication failed", Count: 1, Example: "authentication failed: E=691"}},
		Held:     time.Minute, PingsSent: 10, PingsAnswered: 9, PingsLost: 1}
	var b bytes.Buffer
	r.Report(&b)
	out := b.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if !summaryRE.MatchString(last) {
		t.Errorf("last line %q does not have the fixed form", last)
	}
	if last != "sessions: up=3 failed=1 setup_p50=20.0ms setup_p99=30.0ms rate=2.0/s pings_lost=1" {
		t.Errorf("summary %q", last)
	}
	for _, want := range []string{"p90=30.0ms", "max=30.0ms", "failed: 1 x authentication failed (e.g. authentication failed: E=691)", "pings: sent=10 answered=9 lost=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if r.OK() {
		t.Error("a run with a failure is OK")
	}
	ok := &Result{Sessions: 2, Up: 2, Setup: []time.Duration{1, 2}}
	if !ok.OK() {
		t.Error("a clean run is not OK")
	}
	for _, bad := range []Result{{Sessions: 2, Up: 2, Lost: 1}, {Sessions: 2, Up: 2, PingsLost: 1}, {Sessions: 2, Up: 2, PingsBad: 1}, {Sessions: 2, Up: 2, Interrupted: true}} {
		if bad.OK() {
			t.Errorf("%+v is OK", bad)
		}
	}
	// The tally sorts by count, then reason.
	ta := tally{}
	ta.add("b", "")
	ta.add("a", "")
	ta.add("c", "x")
	ta.add("c", "y")
	if got := ta.sorted(); len(got) != 3 || got[0].Reason != "c" || got[0].Count != 2 || got[0].Example != "x" || got[1].Reason != "a" {
		t.Errorf("tally %+v", got)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Sessions: 1, Users: []User{{"a", "b"}}},
		{Server: netip.MustParseAddrPort("10.0.0.1:1723"), Users: []User{{"a", "b"}}},
		{Server: netip.MustParseAddrPort("10.0.0.1:1723"), Sessions: 1},
	} {
		if _, err := Run(t.Context(), cfg); err == nil {
			t.Errorf("Run(%+v) started", cfg)
		}
	}
}
