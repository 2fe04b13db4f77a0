package config

import (
	"math"
	"net/netip"
	"strings"
	"testing"
)

func TestParseAddrList(t *testing.T) {
	tests := []struct {
		in     string
		ranges string // AddrList.String of the result
		n      int
		first  string
		last   string
	}{
		{"10.0.0.1", "10.0.0.1", 1, "10.0.0.1", "10.0.0.1"},
		{"10.0.0.200-208", "10.0.0.200-10.0.0.208", 9, "10.0.0.200", "10.0.0.208"},
		{"10.0.0.7-7", "10.0.0.7", 1, "10.0.0.7", "10.0.0.7"},
		{"100.64.0.10-100.64.40.250", "100.64.0.10-100.64.40.250", 40*256 + 241, "100.64.0.10", "100.64.40.250"},
		{"100.64.0.0/18", "100.64.0.1-100.64.63.254", 1<<14 - 2, "100.64.0.1", "100.64.63.254"},
		{"10.0.0.0/31", "10.0.0.0-10.0.0.1", 2, "10.0.0.0", "10.0.0.1"},
		{"10.0.0.9/32", "10.0.0.9", 1, "10.0.0.9", "10.0.0.9"},
		{"10.0.0.0/30", "10.0.0.1-10.0.0.2", 2, "10.0.0.1", "10.0.0.2"},
		{"10.0.0.0/8", "10.0.0.1-10.255.255.254", 1<<24 - 2, "10.0.0.1", "10.255.255.254"},
		{"192.168.0.234,192.168.0.245-249,192.168.0.254",
			"192.168.0.234,192.168.0.245-192.168.0.249,192.168.0.254", 7, "192.168.0.234", "192.168.0.254"},
		{" 10.0.0.1 , 10.0.0.3 ", "10.0.0.1,10.0.0.3", 2, "10.0.0.1", "10.0.0.3"},
		// poptop's range in another octet: one address per value.
		{"192.168.0-2.5", "192.168.0.5,192.168.1.5,192.168.2.5", 3, "192.168.0.5", "192.168.2.5"},
		{"10-11.0.0.1", "10.0.0.1,11.0.0.1", 2, "10.0.0.1", "11.0.0.1"},
		{"2001:db8::1", "2001:db8::1", 1, "2001:db8::1", "2001:db8::1"},
		{"2001:db8::1-2001:db8::3", "2001:db8::1-2001:db8::3", 3, "2001:db8::1", "2001:db8::3"},
		{"2001:db8::/126", "2001:db8::1-2001:db8::3", 3, "2001:db8::1", "2001:db8::3"},
		{"2001:db8::/127", "2001:db8::-2001:db8::1", 2, "2001:db8::", "2001:db8::1"},
		{"::ffff:10.0.0.1", "10.0.0.1", 1, "10.0.0.1", "10.0.0.1"},
	}
	for _, tt := range tests {
		l, err := ParseAddrList(tt.in)
		if err != nil {
			t.Errorf("ParseAddrList(%q): %v", tt.in, err)
			continue
		}
		if got := l.String(); got != tt.ranges {
			t.Errorf("ParseAddrList(%q) = %s, want %s", tt.in, got, tt.ranges)
		}
		if got := l.Len(); got != tt.n {
			t.Errorf("ParseAddrList(%q).Len() = %d, want %d", tt.in, got, tt.n)
		}
		if got := l.At(0).String(); got != tt.first {
			t.Errorf("ParseAddrList(%q).At(0) = %s, want %s", tt.in, got, tt.first)
		}
		if got := l.At(tt.n - 1).String(); got != tt.last {
			t.Errorf("ParseAddrList(%q).At(%d) = %s, want %s", tt.in, tt.n-1, got, tt.last)
		}
		if l.At(tt.n).IsValid() || l.At(-1).IsValid() {
			t.Errorf("ParseAddrList(%q): At out of range returned a valid address", tt.in)
		}
		// The text form parses back to the same list.
		again, err := ParseAddrList(l.String())
		if err != nil || again.String() != l.String() {
			t.Errorf("ParseAddrList(%q): round trip gave %v, %v", tt.in, again, err)
		}
	}
}

func TestParseAddrListErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty address list"},
		{"  ", "empty address list"},
		{"10.0.0.1,", "empty item"},
		{",10.0.0.1", "empty item"},
		{"10.0.0.1,,10.0.0.2", "empty item"},
		{"10.0.0.256", "bad address"},
		{"host.example", "bad address"},
		{"10.0.0", "bad address"},
		{"010.0.0.1", "bad address"},
		{"fe80::1%eth0", "zones are not allowed"},
		{"10.0.0.238-234", "reversed"},
		{"10.0.0.234-8", "reversed"},
		{"10.0.0.9-10.0.0.1", "reversed"},
		{"2001:db8::9-2001:db8::1", "reversed"},
		{"10.0.0.1-2001:db8::1", "mixes IPv4 and IPv6"},
		{"10.0.0.1,2001:db8::1", "mixes IPv4 and IPv6"},
		{"2001:db8::/64,10.0.0.1", "mixes IPv4 and IPv6"},
		{"10.0.0.1-", "bad octet"},
		{"-10.0.0.1", "bad octet"},
		{"10.0.0.1-256", "out of range"},
		{"10.0.0.1-2-3", "more than one '-'"},
		{"10.0.0.1-10.0.0.x", "bad end address"},
		{"10.0.0-1", "want a.b.c.d-e"},
		{"10.0.0.1-0x10", "bad octet"},
		{"10.0.0.01-5", "bad octet"},
		{"10.0.0.5/24", "host bits are set (did you mean 10.0.0.0/24?)"},
		{"10.0.0.0/33", "bad block"},
		{"10.0.0.0/", "bad block"},
		{"::ffff:10.0.0.0/120", "dotted form"},
		{"2001:db8::1-ff", "want a.b.c.d-e"},
		// Found by FuzzParseAddrList: the block holds ::ffff:0:0/96,
		// whose addresses are IPv4 everywhere else.
		{"::/80", "reaches into the IPv4-mapped addresses"},
		{"::1-::1:0:0:0", "reaches into the IPv4-mapped addresses"},
	}
	for _, tt := range tests {
		l, err := ParseAddrList(tt.in)
		if err == nil {
			t.Errorf("ParseAddrList(%q) = %v, want error containing %q", tt.in, l, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseAddrList(%q) error %q, want it to contain %q", tt.in, err, tt.want)
		}
	}
}

func TestAddrListContainsAndAll(t *testing.T) {
	l, err := ParseAddrList("10.0.0.5,10.0.1.0/30,10.0.2.250-252")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.5", "10.0.1.1", "10.0.1.2", "10.0.2.250", "10.0.2.251", "10.0.2.252"}
	var got []string
	for i, a := range l.All() {
		if i != len(got) {
			t.Fatalf("All yielded index %d at position %d", i, len(got))
		}
		got = append(got, a.String())
		if l.At(i) != a {
			t.Errorf("At(%d) = %s, All gave %s", i, l.At(i), a)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("All = %v, want %v", got, want)
	}
	for _, s := range want {
		if !l.Contains(netip.MustParseAddr(s)) {
			t.Errorf("Contains(%s) = false", s)
		}
	}
	for _, s := range []string{"10.0.0.4", "10.0.0.6", "10.0.1.0", "10.0.1.3", "10.0.2.253", "::a00:5"} {
		if l.Contains(netip.MustParseAddr(s)) {
			t.Errorf("Contains(%s) = true", s)
		}
	}
	if !l.Contains(netip.MustParseAddr("::ffff:10.0.0.5")) {
		t.Error("Contains of an IPv4-mapped address in the list = false")
	}
	// Stopping early works.
	n := 0
	for range l.All() {
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Errorf("early stop: n = %d", n)
	}
}

func TestAddrListHuge(t *testing.T) {
	l, err := ParseAddrList("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	if len(l) != 1 {
		t.Fatalf("a /8 is %d ranges, want 1", len(l))
	}
	if got := l.At(1<<24 - 3).String(); got != "10.255.255.254" {
		t.Errorf("At(last) = %s", got)
	}
	if got := l.At(65536).String(); got != "10.1.0.1" {
		t.Errorf("At(65536) = %s", got)
	}
	v6, err := ParseAddrList("2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	if v6.Len() != math.MaxInt {
		t.Errorf("Len of a /32 = %d, want saturation at MaxInt", v6.Len())
	}
	if got := v6.At(math.MaxInt - 1).String(); got != "2001:db8::7fff:ffff:ffff:ffff" {
		t.Errorf("At(MaxInt-1) = %s", got)
	}
	two := append(AddrList{}, v6[0], v6[0])
	if two.Len() != math.MaxInt {
		t.Errorf("Len of two huge ranges = %d", two.Len())
	}
}

func TestAddrListOverlap(t *testing.T) {
	tests := []struct {
		a, b    string
		overlap bool
	}{
		{"10.0.0.1", "10.0.0.2-9", false},
		{"10.0.0.5", "10.0.0.2-9", true},
		{"10.0.0.10-20,10.0.1.1", "10.0.0.1-9,10.0.1.0/30", true},
		{"10.0.0.10-20", "10.0.0.1-9,10.0.0.21-30", false},
		{"10.0.0.0/16", "10.0.200.7", true},
	}
	for _, tt := range tests {
		a, err1 := ParseAddrList(tt.a)
		b, err2 := ParseAddrList(tt.b)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		x, y, got := a.overlap(b)
		if got != tt.overlap {
			t.Errorf("overlap(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.overlap)
		}
		if got && !x.overlaps(y) {
			t.Errorf("overlap(%s, %s) reported %s and %s, which do not overlap", tt.a, tt.b, x, y)
		}
	}
	self, _ := ParseAddrList("10.0.0.1-100,10.0.1.1,10.0.0.50")
	if _, _, ok := self.selfOverlap(); !ok {
		t.Error("selfOverlap missed 10.0.0.50 inside 10.0.0.1-100")
	}
	self, _ = ParseAddrList("10.0.0.1-100,10.0.0.101-200")
	if a, b, ok := self.selfOverlap(); ok {
		t.Errorf("selfOverlap reported %s and %s", a, b)
	}
}

func TestAddrListOverlapOrder(t *testing.T) {
	// The pair comes back as (range of l, range of o) whichever sorts first.
	a, _ := ParseAddrList("10.0.0.5")
	b, _ := ParseAddrList("10.0.0.1-9")
	x, y, ok := a.overlap(b)
	if !ok || x.String() != "10.0.0.5" || y.String() != "10.0.0.1-10.0.0.9" {
		t.Errorf("a.overlap(b) = %s, %s, %v", x, y, ok)
	}
	x, y, ok = b.overlap(a)
	if !ok || x.String() != "10.0.0.1-10.0.0.9" || y.String() != "10.0.0.5" {
		t.Errorf("b.overlap(a) = %s, %s, %v", x, y, ok)
	}
	// A long range of l followed by short ones of o.
	c, _ := ParseAddrList("10.0.0.1-100,10.0.1.1")
	d, _ := ParseAddrList("10.0.0.101,10.0.0.50")
	if _, _, ok := c.overlap(d); !ok {
		t.Error("missed 10.0.0.50 inside 10.0.0.1-100")
	}
}
