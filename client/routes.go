package client

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"

	"github.com/gopptp/gopptp/internal/netcfg"
)

// The two halves of the address space: routes to them through the tunnel
// win over any default route by being more specific, without removing it
// (OpenVPN's def1). replacedefaultroute uses them, so that a client that
// dies without cleaning up leaves the original default route in place:
// routes through the TUN device go with the device.
var halves = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/1"), netip.MustParsePrefix("128.0.0.0/1")}

// routePlan is what routes a session installs through the tunnel.
type routePlan struct {
	ifname   string
	server   netip.Addr
	peer     netip.Addr // the tunnel's remote address
	def      bool       // defaultroute
	replace  bool       // replacedefaultroute
	prefixes []netip.Prefix
}

// needsServerPin reports whether a route we add would carry the server's
// own address into the tunnel, so a host route must keep it outside. The
// IPv4 default route does not carry an IPv6 server (defaultroute6 pins
// that one, see addDefaultRoute6).
func (p routePlan) needsServerPin() bool {
	if (p.def || p.replace) && p.server.Is4() || p.peer == p.server {
		return true
	}
	for _, r := range p.prefixes {
		if r.Contains(p.server) {
			return true
		}
	}
	return false
}

// pin keeps the server outside the tunnel when the plan needs it, and
// returns the undo step (nil when none); state records the pin. It runs before the interface
// gets its addresses: when the tunnel's remote address is the server's
// own (localip set to the server's LAN address, common with PoPToP), the
// kernel's route to the peer through the tunnel would otherwise carry the
// tunnel's own packets into it, as pptp-linux avoids by adding its host
// route at start.
func (p routePlan) pin(state *pinState, log *slog.Logger) func() error {
	if !p.needsServerPin() {
		return nil
	}
	return pinServer(p.server, p.ifname, state, log)
}

// install adds the routes (the server's pin is pin's) and returns the
// undo steps (in the order they were done) and the routes now in place,
// for the status view. Failures are logged: the session is useful without
// one of its routes.
func (p routePlan) install(log *slog.Logger) (undo []func() error, installed []string) {
	if p.def {
		switch {
		case p.replace:
			ok := true
			for _, h := range halves {
				u, err := addRoute(p.ifname, h)
				if err != nil {
					log.Warn("replacedefaultroute", "err", err)
					ok = false
					continue
				}
				undo = append(undo, u)
			}
			if ok {
				installed = append(installed, "default (0.0.0.0/1, 128.0.0.0/1)")
				log.Info("default route replaced: everything goes through " + p.ifname)
			}
		default:
			has, err := netcfg.HasDefaultRoute()
			switch {
			case err != nil:
				log.Warn("defaultroute", "err", err)
			case has:
				log.Warn("not replacing existing default route (pppd's defaultroute does not either; add replacedefaultroute)")
			default:
				u, err := netcfg.AddDefaultRoute(p.ifname)
				if err != nil {
					log.Warn("defaultroute", "err", err)
				} else {
					undo = append(undo, u)
					installed = append(installed, "default")
					log.Info("default route set through " + p.ifname)
				}
			}
		}
	}
	for _, r := range p.prefixes {
		u, err := addRoute(p.ifname, r)
		if err != nil {
			log.Warn("route", "route", r.String(), "err", err)
			continue
		}
		undo = append(undo, u)
		installed = append(installed, r.String())
		log.Info("route " + r.String() + " set through " + p.ifname)
	}
	return undo, installed
}

// pinServer adds a host route that keeps the server's address on the path
// it takes now, outside the tunnel device ifname, and returns its undo, or
// nil when there is nothing to undo (failures are logged). The route is
// recorded in state (when not nil) for the next client to remove should
// this one be killed: it does not go with the tunnel device.
func pinServer(server netip.Addr, ifname string, state *pinState, log *slog.Logger) func() error {
	g, err := netcfg.RouteTo(server)
	switch {
	case err != nil:
		log.Warn("cannot find the route to the server to keep it outside the tunnel", "err", err)
		return nil
	case g.Dev == ifname:
		log.Warn("the server is already routed through " + ifname)
		return nil
	}
	rec := pinRecord{Dst: server, Dev: g.Dev, Via: g.Via}
	recorded := false
	if state != nil {
		if err := state.add(rec); err != nil {
			log.Warn("route to the server", "err", err)
		} else {
			recorded = true
		}
	}
	forget := func() {
		if recorded {
			if err := state.remove(rec); err != nil {
				log.Warn("route to the server", "err", err)
			}
		}
	}
	u, err := netcfg.AddHostRouteVia(server, g)
	if err != nil {
		// Not ours (an administrator's host route, say): not ours to
		// remove either, now or after a crash.
		forget()
		if errors.Is(err, syscall.EEXIST) {
			log.Info("a route to the server exists already; left as it is", "server", server)
		} else {
			log.Warn("route to the server", "err", err)
		}
		return nil
	}
	return func() error {
		err := u()
		if err == nil {
			forget()
		}
		return err
	}
}

// addRoute routes prefix through the point-to-point device dev and returns
// the undo. A route to the same prefix that exists already (the
// administrator's, or another link's) is left alone and reported.
func addRoute(dev string, prefix netip.Prefix) (func() error, error) {
	l, err := netlink.LinkByName(dev)
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", dev, err)
	}
	r := &netlink.Route{
		LinkIndex: l.Attrs().Index,
		Dst:       &net.IPNet{IP: prefix.Addr().AsSlice(), Mask: net.CIDRMask(prefix.Bits(), 32)},
		Scope:     netlink.SCOPE_LINK,
	}
	if err := netlink.RouteAdd(r); err != nil {
		if errors.Is(err, syscall.EEXIST) {
			return nil, fmt.Errorf("route to %v exists already; not replaced", prefix)
		}
		return nil, fmt.Errorf("route to %v through %s: %w", prefix, dev, err)
	}
	return func() error {
		if err := netlink.RouteDel(r); err != nil && !errors.Is(err, syscall.ESRCH) && !errors.Is(err, syscall.ENODEV) {
			return fmt.Errorf("removing route to %v: %w", prefix, err)
		}
		return nil
	}, nil
}
