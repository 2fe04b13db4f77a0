package client

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/gopptp/gopptp/internal/netcfg"
	"github.com/gopptp/gopptp/nd"
	"github.com/gopptp/gopptp/ppp/ipv6cp"
)

// IPv6 on the client (+ipv6): IPV6CP gives the interface its link-local
// address from the negotiated interface identifier, as pppd does, and the
// kernel makes none of its own. The client then solicits a router
// advertisement and acts on it itself (the kernel's accept_ra is off on
// the interface): an autonomous /64 prefix becomes the address
// prefix + interface identifier, defaultroute6 adds a default route
// through the link, and with usepeerdns the RDNSS servers join the DNS
// servers from IPCP.

// rsDelays are the waits before each router solicitation while no
// advertisement has come (RFC 4861 allows three, 4 s apart; a PPP link
// has no reason to make the user wait that long).
var rsDelays = []time.Duration{0, time.Second, 3 * time.Second}

func randomIID() ipv6cp.ID {
	for {
		var b [8]byte
		rand.Read(b[:])
		if id := ipv6cp.ID(binary.BigEndian.Uint64(b[:])) &^ (1 << 57); id != 0 {
			return id
		}
	}
}

// v6Link is the IPv6 half of a clientLink.
type v6Link struct {
	mu          sync.Mutex
	up          bool
	local, peer ipv6cp.ID
	// ra receives the advertisements the peer sends, parsed, for the
	// connection loop; the newest wins when it is behind.
	ra chan nd.RouterAdvertisement
	// solicit tells the connection loop that IPV6CP came up.
	solicit chan struct{}
}

func newV6Link() v6Link {
	return v6Link{ra: make(chan nd.RouterAdvertisement, 1), solicit: make(chan struct{}, 1)}
}

// SetNetwork6 implements session.IPv6Link: it runs on the session
// goroutine.
func (l *clientLink) SetNetwork6(up bool, local, peer ipv6cp.ID) {
	if !up {
		l.v6.mu.Lock()
		l.v6.up = false
		l.v6.mu.Unlock()
		l.Call.SetNDHandler(nil)
		l.Call.SetIPv6(false, uint64(peer), netip.Prefix{})
		return
	}
	ifname := l.c.cfg.IfName
	// IPV6CP may come up before IPCP: the interface must be up for the
	// link-local address to be usable.
	if err := netcfg.Up(ifname, proxyMTU(l.mtu, l.peerMRU())); err != nil {
		l.log.Error("configuring interface", "err", err)
	}
	if err := netcfg.AddAddr(ifname, netip.PrefixFrom(local.LinkLocal(), 64)); err != nil {
		l.log.Error("configuring interface", "err", err)
	}
	l.v6.mu.Lock()
	l.v6.up, l.v6.local, l.v6.peer = true, local, peer
	l.v6.mu.Unlock()
	l.Call.SetNDHandler(l.routerMessage)
	l.Call.SetIPv6(true, uint64(peer), netip.Prefix{})
	l.log.Info(fmt.Sprintf("local  LL address %v", local.LinkLocal()))
	l.log.Info(fmt.Sprintf("remote LL address %v", peer.LinkLocal()))
	select {
	case l.v6.solicit <- struct{}{}:
	default:
	}
}

// routerMessage takes the peer's advertisements off the data path's
// receive goroutine; it never blocks.
func (l *clientLink) routerMessage(ip []byte) {
	m, err := nd.Parse(ip)
	if err != nil || m.Type != nd.TypeRouterAdvertisement {
		return
	}
	for {
		select {
		case l.v6.ra <- m.RA:
			return
		default:
		}
		select {
		case <-l.v6.ra: // drop the older one
		default:
		}
	}
}

// solicitRouter sends a router solicitation from our link-local address.
func (l *clientLink) solicitRouter() {
	l.v6.mu.Lock()
	up, local := l.v6.up, l.v6.local
	l.v6.mu.Unlock()
	if !up {
		return
	}
	if err := l.Call.SendLocalIP(nd.AppendRouterSolicitation(nil, local.LinkLocal(), nd.AllRouters)); err != nil {
		l.log.Debug("router solicitation not sent", "err", err)
	}
}

// maxSLAAC bounds the addresses router advertisements give the client:
// the server announces one /64, and a peer that announces a new prefix in
// every advertisement must not grow the interface's addresses without end.
const maxSLAAC = 4

// v6Up is what an advertisement set up on the client, to keep it from
// being done twice.
type v6Up struct {
	addrs    []netip.Prefix
	defRoute bool
	dns      []netip.Addr
	// capLogged: the prefixes past maxSLAAC were reported once already.
	capLogged bool
	// addAddr and delAddr change the interface's addresses; nil means
	// netcfg's (tests replace them).
	addAddr, delAddr func(ifname string, p netip.Prefix) error
}

// routerAdvertised acts on an advertisement (connection loop): addresses
// from autonomous /64 prefixes, the default route, and the DNS servers it
// returns when they are new.
func (l *clientLink) routerAdvertised(log *slog.Logger, st *v6Up, ra nd.RouterAdvertisement) (newDNS []netip.Addr) {
	cfg := l.c.cfg
	l.v6.mu.Lock()
	up, local := l.v6.up, l.v6.local
	l.v6.mu.Unlock()
	if !up {
		return nil
	}
	st.slaac(log, cfg.IfName, local, ra.Prefixes)
	if cfg.DefaultRoute6 && ra.RouterLifetime > 0 && !st.defRoute {
		st.defRoute = true
		l.addDefaultRoute6(log)
	}
	if cfg.UsePeerDNS && len(ra.RDNSS) > 0 && !slices.Equal(ra.RDNSS, st.dns) {
		st.dns = slices.Clone(ra.RDNSS)
		for _, d := range ra.RDNSS {
			log.Info(fmt.Sprintf("IPv6 DNS address %v", d))
		}
		return st.dns
	}
	return nil
}

// slaac forms addresses from the autonomous /64 prefixes of an
// advertisement, at most maxSLAAC of them, and removes the one of a
// prefix whose valid lifetime is now 0 (the router withdrew it).
func (st *v6Up) slaac(log *slog.Logger, ifname string, local ipv6cp.ID, ps []nd.PrefixInfo) {
	add, del := st.addAddr, st.delAddr
	if add == nil {
		add = netcfg.AddAddr
	}
	if del == nil {
		del = netcfg.DelAddr
	}
	for _, p := range ps {
		// SLAAC needs a /64 (RFC 4862 5.5.3 with RFC 7136's 64-bit
		// identifiers) that may be used for addresses, of global scope
		// (RFC 4862 5.5.3 b ignores the link-local prefix; multicast,
		// loopback, unspecified and IPv4-mapped ones make no address).
		q := p.Prefix.Masked()
		if !p.Autonomous || q.Bits() != 64 || !q.Addr().IsGlobalUnicast() || q.Addr().Is4In6() {
			continue
		}
		a := q.Addr().As16()
		binary.BigEndian.PutUint64(a[8:], uint64(local))
		addr := netip.PrefixFrom(netip.AddrFrom16(a), 64)
		i := slices.Index(st.addrs, addr)
		if p.ValidLifetime == 0 {
			// The link is authenticated PPP to the one router, so its
			// withdrawal is honoured at once (RFC 4862 5.5.3 e's
			// two-hour floor guards against forged advertisements on
			// shared links).
			if i < 0 {
				continue
			}
			if err := del(ifname, addr); err != nil {
				log.Error("removing the IPv6 address of a withdrawn prefix", "err", err)
				continue
			}
			st.addrs = slices.Delete(st.addrs, i, i+1)
			log.Info(fmt.Sprintf("global IPv6 address %v removed", addr.Addr()), "prefix", q)
			continue
		}
		if i >= 0 {
			continue
		}
		if len(st.addrs) >= maxSLAAC {
			if !st.capLogged {
				st.capLogged = true
				log.Warn(fmt.Sprintf("ignoring prefixes past %d in router advertisements", maxSLAAC), "prefix", q)
			}
			continue
		}
		if err := add(ifname, addr); err != nil {
			log.Error("IPv6 address from the router advertisement", "err", err)
			continue
		}
		st.addrs = append(st.addrs, addr)
		log.Info(fmt.Sprintf("global IPv6 address %v", addr.Addr()), "prefix", q)
	}
}

// addDefaultRoute6 is defaultroute for IPv6: a default route through the
// link when the host has none; with replacedefaultroute, ::/1 and 8000::/1
// instead, which win over an existing default route without removing it.
func (l *clientLink) addDefaultRoute6(log *slog.Logger) {
	cfg := l.c.cfg
	var routes []netip.Prefix
	switch has, err := netcfg.HasDefaultRoute6(); {
	case err != nil:
		log.Warn("defaultroute6", "err", err)
		return
	case cfg.ReplaceDefaultRoute:
		routes = []netip.Prefix{netip.MustParsePrefix("::/1"), netip.MustParsePrefix("8000::/1")}
	case has:
		log.Warn("not replacing the existing IPv6 default route (add replacedefaultroute)")
		return
	default:
		routes = []netip.Prefix{netip.MustParsePrefix("::/0")}
	}
	if l.server.Is6() && !l.virtual {
		// The tunnel runs over IPv6: the server's address must not
		// follow the default route into it.
		if u := pinServer(l.server, cfg.IfName, l.c.pins, log); u != nil {
			l.mu.Lock()
			l.undo = append(l.undo, u)
			l.mu.Unlock()
		}
	}
	for _, r := range routes {
		undo, err := netcfg.AddRoute(cfg.IfName, r)
		if err != nil {
			log.Warn("defaultroute6", "err", err)
			continue
		}
		l.mu.Lock()
		l.undo = append(l.undo, undo)
		l.installed = append(l.installed, r.String())
		l.mu.Unlock()
	}
	log.Info("IPv6 default route set through " + cfg.IfName)
}
