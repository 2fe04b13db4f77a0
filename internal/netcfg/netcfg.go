// Package netcfg configures interfaces, addresses, routes and proxy ARP
// entries through netlink: what pppd does with ioctls when a link comes up,
// done for our TUN devices.
package netcfg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"

	"github.com/vishvananda/netlink"
)

// onOwnStack runs f on a goroutine of its own and waits for it; the
// functions a session calls while it comes up or goes down go through it.
// The netlink package receives every answer into a 64 KiB array on the
// stack: on the caller's goroutine that grows the stack to 128 KiB, and a
// long-lived goroutine (a session's, a control connection's) keeps a grown
// stack for many GC cycles, since the runtime halves a stack at most once
// per cycle; with thousands of sessions that is gigabytes. A goroutine that
// ends gives its stack back at once, for the cost of a goroutine start
// next to a netlink round trip.
func onOwnStack(f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	return <-done
}

func link(name string) (netlink.Link, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	return l, nil
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, a.BitLen())}
}

// Up sets the MTU of interface name and brings it up.
func Up(name string, mtu int) error {
	l, err := link(name)
	if err != nil {
		return err
	}
	if mtu > 0 {
		if err := netlink.LinkSetMTU(l, mtu); err != nil {
			return fmt.Errorf("set MTU %d on %s: %w", mtu, name, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("bring %s up: %w", name, err)
	}
	return nil
}

// SetMTU changes the MTU of interface name.
func SetMTU(name string, mtu int) error {
	l, err := link(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetMTU(l, mtu)
}

// AddPointToPoint gives interface name the address local with peer at the
// other end, as pppd configures ppp0 ("inet local peer remote/32").
func AddPointToPoint(name string, local, peer netip.Addr) error {
	l, err := link(name)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: ipNet(local, 32), Peer: ipNet(peer, 32)}
	if err := netlink.AddrAdd(l, a); err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("add address %v peer %v to %s: %w", local, peer, name, err)
	}
	return nil
}

// AddLocal adds local/32 (an IPv6 address: /128) to interface name (the
// server's shared TUN holds every localip in use); an address already
// there is not an error.
func AddLocal(name string, local netip.Addr) error {
	return AddAddr(name, netip.PrefixFrom(local, local.BitLen()))
}

// AddAddr adds the address p.Addr() with the prefix length of p to
// interface name; an address already there is not an error. IPv6
// addresses skip duplicate address detection: on a point-to-point link
// whose identifiers IPV6CP made unique there is nothing to detect.
func AddAddr(name string, p netip.Prefix) error {
	l, err := link(name)
	if err != nil {
		return err
	}
	local := p.Addr()
	a := &netlink.Addr{IPNet: ipNet(local, p.Bits())}
	if local.Is6() {
		a.Flags = syscall.IFA_F_NODAD
	}
	if err := netlink.AddrAdd(l, a); err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("add address %v to %s: %w", local, name, err)
	}
	return nil
}

// DelAddr removes the address p.Addr() with the prefix length of p from
// interface name; an address not there is not an error.
func DelAddr(name string, p netip.Prefix) error {
	l, err := link(name)
	if err != nil {
		return err
	}
	a := &netlink.Addr{IPNet: ipNet(p.Addr(), p.Bits())}
	if err := netlink.AddrDel(l, a); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
		return fmt.Errorf("remove address %v from %s: %w", p.Addr(), name, err)
	}
	return nil
}

// HostRoute is a route to a tunnel peer through a device: a /32 (/128),
// or the subnet behind the peer when Bits is set.
type HostRoute struct {
	Dev  string
	Dst  netip.Addr
	Bits int        // prefix length of Dst; 0 means 32
	Src  netip.Addr // preferred source, the local tunnel address
	MTU  int        // path MTU towards the peer, 0 to leave unset
}

func (r HostRoute) prefix() netip.Prefix {
	if r.Bits == 0 {
		return netip.PrefixFrom(r.Dst, r.Dst.BitLen())
	}
	return netip.PrefixFrom(r.Dst, r.Bits).Masked()
}

func (r HostRoute) netlink() (*netlink.Route, error) {
	l, err := link(r.Dev)
	if err != nil {
		return nil, err
	}
	p := r.prefix()
	nr := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(p.Addr(), p.Bits()), Scope: netlink.SCOPE_LINK, MTU: r.MTU}
	if p.Addr().Is6() {
		nr.Scope = netlink.SCOPE_UNIVERSE // IPv6 routes have no scope
	}
	if r.Src.IsValid() {
		nr.Src = r.Src.AsSlice()
	}
	return nr, nil
}

// Add installs the route, replacing one to the same destination.
func (r HostRoute) Add() error { return onOwnStack(r.add) }

func (r HostRoute) add() error {
	nr, err := r.netlink()
	if err != nil {
		return err
	}
	if err := netlink.RouteReplace(nr); err != nil {
		return fmt.Errorf("route %v dev %s: %w", r.prefix(), r.Dev, err)
	}
	return nil
}

// Del removes the route; a route already gone is not an error.
func (r HostRoute) Del() error { return onOwnStack(r.del) }

func (r HostRoute) del() error {
	nr, err := r.netlink()
	if err != nil {
		return err
	}
	if err := netlink.RouteDel(nr); err != nil && !errors.Is(err, syscall.ESRCH) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("delete route %v dev %s: %w", r.prefix(), r.Dev, err)
	}
	return nil
}

// ProxyARP answers ARP for addr on the interface whose subnet holds it,
// so that hosts on that LAN reach a tunnel peer with a LAN address
// (pppd's proxyarp). It returns the interface used, or "" when no
// interface's subnet holds addr.
func ProxyARP(addr netip.Addr, except string) (dev string, err error) {
	err = onOwnStack(func() (err error) {
		dev, err = proxyARP(addr, except)
		return err
	})
	return dev, err
}

func proxyARP(addr netip.Addr, except string) (string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return "", err
	}
	for _, l := range links {
		if l.Attrs().Name == except || l.Attrs().Flags&net.FlagLoopback != 0 || l.Attrs().Flags&net.FlagPointToPoint != 0 {
			continue
		}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if a.IPNet.Contains(addr.AsSlice()) {
				n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: netlink.FAMILY_V4,
					Flags: netlink.NTF_PROXY, IP: addr.AsSlice()}
				if err := netlink.NeighSet(n); err != nil {
					return "", fmt.Errorf("proxy ARP for %v on %s: %w", addr, l.Attrs().Name, err)
				}
				return l.Attrs().Name, nil
			}
		}
	}
	return "", nil
}

// DelProxyARP removes a proxy ARP entry made by ProxyARP.
func DelProxyARP(addr netip.Addr, dev string) error {
	return onOwnStack(func() error { return delProxyARP(addr, dev) })
}

func delProxyARP(addr netip.Addr, dev string) error {
	l, err := link(dev)
	if err != nil {
		return err
	}
	n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: netlink.FAMILY_V4, Flags: netlink.NTF_PROXY, IP: addr.AsSlice()}
	if err := netlink.NeighDel(n); err != nil && !errors.Is(err, syscall.ENOENT) {
		return err
	}
	return nil
}

// LinkMTU returns the MTU of the interface the host would use to reach
// dst.
func LinkMTU(dst netip.Addr) (mtu int, err error) {
	err = onOwnStack(func() error {
		rs, err := netlink.RouteGet(dst.AsSlice())
		if err != nil || len(rs) == 0 {
			return fmt.Errorf("no route to %v: %w", dst, err)
		}
		l, err := netlink.LinkByIndex(rs[0].LinkIndex)
		if err != nil {
			return fmt.Errorf("interface of the route to %v: %w", dst, err)
		}
		mtu = l.Attrs().MTU
		return nil
	})
	return mtu, err
}

// Gateway describes how the host reaches an address now.
type Gateway struct {
	Dev string
	Via netip.Addr // invalid when the address is on a local subnet
	Src netip.Addr
}

// RouteTo asks the kernel how it would reach dst.
func RouteTo(dst netip.Addr) (Gateway, error) {
	rs, err := netlink.RouteGet(dst.AsSlice())
	if err != nil || len(rs) == 0 {
		return Gateway{}, fmt.Errorf("no route to %v: %w", dst, err)
	}
	r := rs[0]
	var g Gateway
	if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
		g.Dev = l.Attrs().Name
	}
	if v, ok := netip.AddrFromSlice(r.Gw); ok {
		g.Via = v.Unmap()
	}
	if s, ok := netip.AddrFromSlice(r.Src); ok {
		g.Src = s.Unmap()
	}
	return g, nil
}

// AddHostRouteVia pins dst to the path g (the client keeps the route to the
// VPN server outside the tunnel when the default route moves into it) and
// returns the undo. A route to dst that exists already is someone else's
// (or one a killed client left): it is left alone, and the error wraps
// syscall.EEXIST.
func AddHostRouteVia(dst netip.Addr, g Gateway) (func() error, error) {
	r, err := hostRoute(dst, g)
	if err != nil {
		return nil, err
	}
	if err := netlink.RouteAdd(r); err != nil {
		return nil, fmt.Errorf("route to %v via %s: %w", dst, g.Dev, err)
	}
	return func() error { return delRoute(r, dst) }, nil
}

// DelHostRouteVia removes the host route to dst through g, as
// AddHostRouteVia added it; one that is gone already, with its device or
// otherwise, is no error. Only a route through that device and gateway
// matches: another path to dst someone set up since is left alone.
func DelHostRouteVia(dst netip.Addr, g Gateway) error {
	r, err := hostRoute(dst, g)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	return delRoute(r, dst)
}

func hostRoute(dst netip.Addr, g Gateway) (*netlink.Route, error) {
	l, err := link(g.Dev)
	if err != nil {
		return nil, err
	}
	r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(dst, dst.BitLen())}
	if g.Via.IsValid() {
		r.Gw = g.Via.AsSlice()
	}
	return r, nil
}

func delRoute(r *netlink.Route, dst netip.Addr) error {
	if err := netlink.RouteDel(r); err != nil && !errors.Is(err, syscall.ESRCH) && !errors.Is(err, syscall.ENODEV) {
		return fmt.Errorf("removing route to %v: %w", dst, err)
	}
	return nil
}

// HasDefaultRoute reports whether an IPv4 default route exists.
func HasDefaultRoute() (bool, error) {
	rs, err := netlink.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: nil}, netlink.RT_FILTER_DST)
	if err != nil {
		return false, err
	}
	for _, r := range rs {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			if ones, _ := maskOnes(r.Dst); ones == 0 {
				return true, nil
			}
		}
	}
	return false, nil
}

func maskOnes(n *net.IPNet) (int, int) {
	if n == nil {
		return 0, 32
	}
	return n.Mask.Size()
}

// AddDefaultRoute routes everything through dev and returns the undo.
func AddDefaultRoute(dev string) (func() error, error) {
	l, err := link(dev)
	if err != nil {
		return nil, err
	}
	r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(netip.IPv4Unspecified(), 0), Scope: netlink.SCOPE_LINK}
	if err := netlink.RouteAdd(r); err != nil {
		return nil, fmt.Errorf("default route via %s: %w", dev, err)
	}
	return func() error { return netlink.RouteDel(r) }, nil
}

// ForwardingEnabled reports whether the host forwards IPv4 packets.
func ForwardingEnabled() bool {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	return err == nil && len(b) > 0 && b[0] == '1'
}

// PrepareIPv6 readies interface name for IPv6 addresses from IPV6CP and
// router advertisements we handle ourselves, and turns IPv6 on for it
// (datapath.OpenTUN turns it off): the kernel makes no link-local address
// of its own (the one from the negotiated interface identifier is added
// instead, as pppd does), and does not act on router advertisements.
func PrepareIPv6(name string) error {
	l, err := link(name)
	if err != nil {
		return err
	}
	if err := netlink.LinkSetIP6AddrGenMode(l, 1 /* IN6_ADDR_GEN_MODE_NONE */); err != nil {
		return fmt.Errorf("%s: no automatic IPv6 link-local address: %w", name, err)
	}
	for _, kv := range [][2]string{{"accept_ra", "0"}, {"disable_ipv6", "0"}} {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/"+kv[0], []byte(kv[1]), 0); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// HasDefaultRoute6 reports whether an IPv6 default route exists.
func HasDefaultRoute6() (bool, error) {
	rs, err := netlink.RouteListFiltered(netlink.FAMILY_V6, &netlink.Route{Dst: nil}, netlink.RT_FILTER_DST)
	if err != nil {
		return false, err
	}
	for _, r := range rs {
		if r.Dst == nil {
			return true, nil
		}
		if ones, _ := r.Dst.Mask.Size(); ones == 0 {
			return true, nil
		}
	}
	return false, nil
}

// AddRoute routes p through the point-to-point device dev and returns the
// undo; a route that exists already is an error wrapping syscall.EEXIST.
func AddRoute(dev string, p netip.Prefix) (func() error, error) {
	var del func() error
	err := onOwnStack(func() (err error) {
		del, err = addRoute(dev, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	// del, not a named result: the closure returned must not call itself.
	return func() error { return onOwnStack(del) }, nil
}

func addRoute(dev string, p netip.Prefix) (func() error, error) {
	l, err := link(dev)
	if err != nil {
		return nil, err
	}
	r := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(p.Addr(), p.Bits())}
	if p.Addr().Is4() {
		r.Scope = netlink.SCOPE_LINK
	}
	if err := netlink.RouteAdd(r); err != nil {
		return nil, fmt.Errorf("route %v dev %s: %w", p, dev, err)
	}
	return func() error {
		if err := netlink.RouteDel(r); err != nil && !errors.Is(err, syscall.ESRCH) && !errors.Is(err, syscall.ENODEV) {
			return fmt.Errorf("removing route to %v: %w", p, err)
		}
		return nil
	}, nil
}

// Forwarding6Enabled reports whether the host forwards IPv6 packets.
func Forwarding6Enabled() bool {
	b, err := os.ReadFile("/proc/sys/net/ipv6/conf/all/forwarding")
	return err == nil && len(b) > 0 && b[0] == '1'
}
