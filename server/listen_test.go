package server

import (
	"net/netip"
	"slices"
	"testing"
)

// TestListenFamilies: without an address both families are served (a
// dual-stack listener and a GRE socket each); 0.0.0.0, :: and a specific
// address serve their own family only.
func TestListenFamilies(t *testing.T) {
	v4any, v6any := netip.IPv4Unspecified(), netip.IPv6Unspecified()
	for _, tc := range []struct {
		listen, network string
		gre             []netip.Addr
	}{
		{":1723", "tcp", []netip.Addr{v4any, v6any}},
		{"0.0.0.0:1723", "tcp4", []netip.Addr{v4any}},
		{"[::]:1723", "tcp6", []netip.Addr{v6any}},
		{"10.0.1.1:1723", "tcp4", []netip.Addr{netip.MustParseAddr("10.0.1.1")}},
		{"[::ffff:10.0.1.1]:1723", "tcp4", []netip.Addr{netip.MustParseAddr("10.0.1.1")}},
		{"[2001:db8::1]:1723", "tcp6", []netip.Addr{netip.MustParseAddr("2001:db8::1")}},
		{"[fe80::1%eth0]:1723", "", nil},
		{"vpn.example.com:1723", "", nil},
		{"2001:db8::1", "", nil},
	} {
		network, gre, err := listenFamilies(tc.listen)
		if tc.network == "" {
			if err == nil {
				t.Errorf("%q accepted: %s %v", tc.listen, network, gre)
			}
			continue
		}
		if err != nil || network != tc.network || !slices.Equal(gre, tc.gre) {
			t.Errorf("%q: %s %v %v; want %s %v", tc.listen, network, gre, err, tc.network, tc.gre)
		}
	}
}
