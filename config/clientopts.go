package config

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ClientOptions are our client (pptp) extensions to pppd's options. The
// pppd options a client also uses (defaultroute, usepeerdns, persist ...)
// stay in PPPOptions.
type ClientOptions struct {
	// Server is "pptp-server HOST[:PORT]": the server to connect to, for
	// peers files ("pptp call NAME") that do not name it in a pty line.
	Server string
	// Pty is the command of pppd's "pty" option. pptp-linux peers files
	// run pptp through it ("pty \"pptp vpn.example.com --nolaunchpppd\""),
	// and the client takes the server from it.
	Pty string
	// Routes are "route PREFIX" (repeatable): networks routed through
	// the tunnel (a split tunnel).
	Routes []netip.Prefix
	// SOCKS5 and HTTPProxy are "socks5 ADDR:PORT" and "http-proxy
	// ADDR:PORT" (each repeatable): the rootless mode, with no TUN
	// device, serving proxies into the remote network instead.
	SOCKS5, HTTPProxy []string
	// ControlSocket is "control-socket PATH": where the client answers
	// status requests (default: a name derived from the link name).
	ControlSocket string
	// ResolvConf is "resolv-conf PATH": the file usepeerdns rewrites when
	// systemd-resolved does not run (default /etc/resolv.conf).
	ResolvConf string
}

// ProxyMode reports whether the client runs in rootless mode: any socks5
// or http-proxy option given.
func (c *ClientOptions) ProxyMode() bool { return len(c.SOCKS5) > 0 || len(c.HTTPProxy) > 0 }

// SetPeersDir changes where "call NAME" looks for NAME (default
// /etc/ppp/peers), for tests and unusual layouts.
func (o *PPPOptions) SetPeersDir(dir string) { o.peersDir = dir }

// PeersDir returns where "call NAME" looks for NAME.
func (o *PPPOptions) PeersDir() string {
	if o.peersDir == "" {
		return defaultPeersDir
	}
	return o.peersDir
}

// clientOptions is the table of our client options, kept apart from
// pppd's own. Options that append use slices.Clip so that a failed parse,
// which works on a shallow copy, never writes into the original's arrays.
var clientOptions = map[string]optSpec{
	"pptp-server": {nargs: 1, apply: func(c *optCtx, s string) error {
		if s == "" || strings.ContainsAny(s, " \t/") {
			return fmt.Errorf("%q is not HOST[:PORT]", s)
		}
		c.opts().Client.Server = s
		return nil
	}},
	"route": {nargs: 1, apply: func(c *optCtx, s string) error {
		p, err := parseRoute(s)
		if err != nil {
			return err
		}
		o := c.opts()
		if !slices.Contains(o.Client.Routes, p) {
			o.Client.Routes = append(slices.Clip(o.Client.Routes), p)
		}
		return nil
	}},
	"socks5": {nargs: 1, apply: func(c *optCtx, s string) error {
		if err := checkListenAddr(s); err != nil {
			return err
		}
		o := c.opts()
		o.Client.SOCKS5 = append(slices.Clip(o.Client.SOCKS5), s)
		return nil
	}},
	"http-proxy": {nargs: 1, apply: func(c *optCtx, s string) error {
		if err := checkListenAddr(s); err != nil {
			return err
		}
		o := c.opts()
		o.Client.HTTPProxy = append(slices.Clip(o.Client.HTTPProxy), s)
		return nil
	}},
	"control-socket": strArg(func(o *PPPOptions, s string) { o.Client.ControlSocket = s }),
	"resolv-conf":    strArg(func(o *PPPOptions, s string) { o.Client.ResolvConf = s }),
}

// ptyOption is pppd's pty: ignored as a command (we carry PPP ourselves),
// but kept, because the client takes the server from a pptp-linux
// command line.
var ptyOption = optSpec{nargs: 1, kind: kindIgnored, note: "pty is ignored: gopptp carries PPP itself",
	apply: func(c *optCtx, s string) error {
		c.opts().Client.Pty = s
		return nil
	}}

// parseRoute parses a route option: an IPv4 prefix, or an address taken
// as a /32. Host bits are cleared ("10.1.2.3/8" is 10.0.0.0/8), as ip(8)
// would refuse them.
func parseRoute(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 prefix such as 10.0.0.0/8", s)
		}
		return netip.PrefixFrom(a, 32), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 prefix such as 10.0.0.0/8", s)
	}
	return p.Masked(), nil
}

// checkListenAddr checks a proxy's listen address: HOST:PORT with a port.
func checkListenAddr(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil || port == "" {
		return fmt.Errorf("%q is not ADDRESS:PORT (for example 127.0.0.1:1080)", s)
	}
	if strings.ContainsAny(host, " \t/") {
		return fmt.Errorf("%q is not ADDRESS:PORT", s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: bad port", s)
	}
	return nil
}
