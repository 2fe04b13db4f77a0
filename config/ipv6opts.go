package config

import (
	"fmt"
	"net/netip"
)

// ipv6Options are our IPv6 extensions to pppd's options; pppd's own IPv6
// words (+ipv6, defaultroute6) are in pppOptions.
var ipv6Options = map[string]optSpec{
	// ms-dns6 is ms-dns for IPv6: the server announces these DNS servers
	// in its router advertisements (RDNSS), since IPV6CP, unlike IPCP,
	// has no option for them.
	"ms-dns6": {nargs: 1, apply: func(c *optCtx, s string) error {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() || a.Is4In6() || a.IsMulticast() || a.IsUnspecified() {
			return fmt.Errorf("%q is not an IPv6 unicast address (host names are not resolved)", s)
		}
		return keepLastTwo(c, &c.opts().MSDNS6, "ms-dns6", a)
	}},
}
