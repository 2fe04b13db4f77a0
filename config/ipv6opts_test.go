package config

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func TestIPv6Options(t *testing.T) {
	o := mustParseOpts(t, "+ipv6 defaultroute6 ms-dns6 2001:db8::53 ms-dns6 2001:db8::54")
	if !o.IPv6 || !o.DefaultRoute6 || fmt.Sprint(o.MSDNS6) != "[2001:db8::53 2001:db8::54]" {
		t.Errorf("IPv6 %v defaultroute6 %v ms-dns6 %v", o.IPv6, o.DefaultRoute6, o.MSDNS6)
	}
	// The last word wins, in pppd's spellings.
	for _, text := range []string{"+ipv6 noipv6", "+ipv6 -ipv6"} {
		if o := mustParseOpts(t, text); o.IPv6 {
			t.Errorf("%q: IPv6 on", text)
		}
	}
	if o := mustParseOpts(t, "defaultroute6 nodefaultroute6"); o.DefaultRoute6 {
		t.Error("nodefaultroute6 did not clear defaultroute6")
	}
	if o := mustParseOpts(t, "defaultroute6 -defaultroute6"); o.DefaultRoute6 {
		t.Error("-defaultroute6 did not clear defaultroute6")
	}
	// A third ms-dns6 drops the first, with a warning, like ms-dns.
	o, warns, err := parseOpts(t, "ms-dns6 fd00::1 ms-dns6 fd00::2 ms-dns6 fd00::3")
	if err != nil || fmt.Sprint(o.MSDNS6) != "[fd00::2 fd00::3]" || len(warns) != 1 {
		t.Errorf("three ms-dns6: %v %v %v", o.MSDNS6, warns, err)
	}
	for _, bad := range []string{"10.0.0.1", "ff02::1", "::", "dns.example", "::ffff:10.0.0.1"} {
		if _, _, err := parseOpts(t, "ms-dns6 "+bad); err == nil || !strings.Contains(err.Error(), "not an IPv6 unicast address") {
			t.Errorf("ms-dns6 %s: %v", bad, err)
		}
	}
	// The client takes the same words on its command line.
	c := NewPPPOptions()
	if _, err := c.ApplyWords([]string{"+ipv6", "defaultroute6"}, "command line"); err != nil || !c.IPv6 || !c.DefaultRoute6 {
		t.Errorf("command line: %v", err)
	}
}

func TestPptpdConfIPv6Prefix(t *testing.T) {
	c, _, err := parseConf(t, "ipv6-prefix 2001:db8:100::/56\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.IPv6Prefix != netip.MustParsePrefix("2001:db8:100::/56") {
		t.Errorf("prefix %v", c.IPv6Prefix)
	}
	if c, _, _ := parseConf(t, "localip 10.0.0.1\n"); c.IPv6Prefix.IsValid() {
		t.Error("a prefix without ipv6-prefix")
	}
	for _, tc := range []struct{ text, want string }{
		{"ipv6-prefix 2001:db8::/64\n", "at most /63"},
		{"ipv6-prefix ::/0\n", "at least /16"},
		{"ipv6-prefix 2000::/3\n", "at least /16"},
		{"ipv6-prefix 2001:db8::1/48\n", "host bits set (the prefix is 2001:db8::/48)"},
		{"ipv6-prefix 10.0.0.0/8\n", "not an IPv6 prefix"},
		{"ipv6-prefix 2001:db8::\n", "not an IPv6 prefix"},
		{"ipv6-prefix fe80::/48\n", "not a prefix for global or unique local"},
		{"ipv6-prefix\n", "needs a value"},
	} {
		if _, _, err := parseConf(t, tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.want)
		}
	}
}
