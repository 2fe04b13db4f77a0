package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/tun/netstack"
)

// Network is what the proxies use to reach the far side: the tunnel's
// user-space stack in rootless mode ([Netstack]), the host's own network
// in tests ([HostNetwork]).
//
// Errors should wrap syscall errno values (ECONNREFUSED, EHOSTUNREACH,
// ENETUNREACH, ETIMEDOUT) and *net.DNSError where they apply: the proxies
// turn them into SOCKS reply codes.
type Network interface {
	// DialContext connects to address ("ip:port"; the proxies resolve
	// names with LookupHost first) on network "tcp", "tcp4" or "tcp6".
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
	// ListenPacket opens an unconnected UDP socket on network "udp4" or
	// "udp6" bound to address (usually "0.0.0.0:0" or "[::]:0").
	ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error)
	// LookupHost returns the addresses of host.
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// HostNetwork is the host's own network stack. The proxies need it only in
// tests; it resolves names with Resolver (net.DefaultResolver when nil).
type HostNetwork struct {
	Resolver *net.Resolver
}

// DialContext dials with a zero net.Dialer.
func (h HostNetwork) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, address)
}

// ListenPacket listens with a zero net.ListenConfig.
func (h HostNetwork) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	var lc net.ListenConfig
	return lc.ListenPacket(ctx, network, address)
}

// LookupHost resolves host with h.Resolver.
func (h HostNetwork) LookupHost(ctx context.Context, host string) ([]string, error) {
	r := h.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	return r.LookupHost(ctx, host)
}

// Netstack adapts a user-space stack made by netstack.CreateNetTUN. Names
// are resolved by the DNS servers given to CreateNetTUN.
type Netstack struct {
	Net *netstack.Net
}

// NewNetstack creates a user-space stack with the tunnel address local and
// the tunnel's DNS servers: the returned device carries its IP packets (give
// it to the data path, or to a DeferredDevice the data path already has).
func NewNetstack(local netip.Addr, dns []netip.Addr, mtu int) (tun.Device, Netstack, error) {
	dev, tnet, err := netstack.CreateNetTUN([]netip.Addr{local}, dns, mtu)
	if err != nil {
		return nil, Netstack{}, fmt.Errorf("proxy: creating user-space stack for %v: %w", local, err)
	}
	return dev, Netstack{Net: tnet}, nil
}

// DialContext connects through the stack.
func (n Netstack) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := n.Net.DialContext(ctx, network, address)
	if err != nil {
		return nil, errnoFromNetstack(err)
	}
	return c, nil
}

// ListenPacket opens a UDP socket in the stack. An empty or unspecified
// host means any local address of the network's family ("udp" means
// IPv4: PPTP tunnels carry IPv4 only).
func (n Netstack) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("proxy: listen %s %q: %w", network, address, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("proxy: listen %s %q: bad port", network, address)
	}
	var ip netip.Addr
	if host != "" {
		if ip, err = netip.ParseAddr(host); err != nil {
			return nil, fmt.Errorf("proxy: listen %s %q: %w", network, address, err)
		}
		ip = ip.Unmap()
	}
	if !ip.IsValid() || ip.IsUnspecified() {
		v6 := ip.Is6()
		switch network {
		case "udp6":
			v6 = true
		case "udp4":
			v6 = false
		case "udp":
		default:
			return nil, fmt.Errorf("proxy: listen %s: %w", network, net.UnknownNetworkError(network))
		}
		if ip, err = n.localAddr(v6); err != nil {
			return nil, fmt.Errorf("proxy: listen %s %q: %w", network, address, err)
		}
	}
	c, err := n.Net.ListenUDPAddrPort(netip.AddrPortFrom(ip, uint16(p)))
	if err != nil {
		return nil, errnoFromNetstack(err)
	}
	return c, nil
}

// localAddr returns the stack's own address of a family. gVisor takes a
// bind to 0.0.0.0 literally, as a bind to an address no route leaves
// from (it wants an empty address, which netstack's API cannot express),
// so sockets are bound to the stack's address instead. That is found the
// way a host's outgoing address is: by connecting a UDP socket, which
// sends nothing.
func (n Netstack) localAddr(v6 bool) (netip.Addr, error) {
	probe := netip.MustParseAddrPort("192.0.2.1:9") // TEST-NET-1
	if v6 {
		probe = netip.MustParseAddrPort("[2001:db8::1]:9") // documentation prefix
	}
	c, err := n.Net.DialUDPAddrPort(netip.AddrPort{}, probe)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("no local address: %w", errnoFromNetstack(err))
	}
	defer c.Close()
	ap := addrPortOf(c.LocalAddr())
	if !ap.Addr().IsValid() || ap.Addr().IsUnspecified() {
		return netip.Addr{}, errors.New("no local address")
	}
	return ap.Addr().Unmap(), nil
}

// LookupHost asks the stack's DNS servers.
func (n Netstack) LookupHost(ctx context.Context, host string) ([]string, error) {
	return n.Net.LookupContextHost(ctx, host)
}

// netstackErrno maps the text of a gVisor tcpip error, which gonet passes
// on as a plain errors.New string, to the errno a kernel socket would have
// returned, so that callers can use errors.Is.
func netstackErrno(text string) (syscall.Errno, bool) {
	switch text {
	case "connection was refused":
		return syscall.ECONNREFUSED, true
	case "no route to host":
		return syscall.EHOSTUNREACH, true
	case "network is unreachable":
		return syscall.ENETUNREACH, true
	case "host is down":
		return syscall.EHOSTDOWN, true
	case "operation timed out", "i/o timeout":
		return syscall.ETIMEDOUT, true
	case "connection reset by peer":
		return syscall.ECONNRESET, true
	case "connection aborted":
		return syscall.ECONNABORTED, true
	}
	return 0, false
}

// errnoFromNetstack replaces a netstack error text by its errno, keeping
// the *net.OpError around it.
func errnoFromNetstack(err error) error {
	var op *net.OpError
	if !errors.As(err, &op) {
		if e, ok := netstackErrno(err.Error()); ok {
			return e
		}
		return err
	}
	if op.Err == nil {
		return err
	}
	if e, ok := netstackErrno(op.Err.Error()); ok {
		cp := *op
		cp.Err = e
		return &cp
	}
	return err
}
