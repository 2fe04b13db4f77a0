package server

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopptp/gopptp/internal/netcfg"
	"github.com/gopptp/gopptp/nd"
	"github.com/gopptp/gopptp/ppp/ipv6cp"
)

// IPv6 on a session (+ipv6): IPV6CP agrees on interface identifiers, the
// server's being one identifier for the whole server (its link-local
// address on the shared TUN device). With an ipv6-prefix pool the session
// then gets a /64 of its own: routed to it in the kernel and the data
// path, and announced to the peer in router advertisements (prefix with
// the autonomous flag, so the peer forms its address from its interface
// identifier; the link MTU; ms-dns6 as RDNSS). The server answers router
// solicitations itself and repeats the advertisement every raInterval.

// raInterval is how often the advertisement is repeated unsolicited
// (RFC 4861's MaxRtrAdvInterval default); routerLifetime and the RDNSS
// lifetime outlast three of them, as RFC 4861 and RFC 8106 advise.
const (
	raInterval     = 10 * time.Minute
	routerLifetime = 1800 // seconds
	rdnssLifetime  = 1800
	// raMinGap bounds how often a peer's solicitations are answered.
	raMinGap = 500 * time.Millisecond
)

// randomIID returns a random interface identifier with the
// universal/local bit clear (not derived from a hardware address).
func randomIID() ipv6cp.ID {
	for {
		var b [8]byte
		rand.Read(b[:])
		if id := ipv6cp.ID(binary.BigEndian.Uint64(b[:])) &^ (1 << 57); id != 0 {
			return id
		}
	}
}

// v6Info is what a session has of IPv6, for pptpctl.
type v6Info struct {
	Prefix    netip.Prefix   // the session's /64, if any
	Delegated []netip.Prefix // prefixes routed to it (RADIUS's Delegated-IPv6-Prefix)
}

// v6State is a session's IPv6 set-up, to be undone when IPV6CP goes down.
type v6State struct {
	prefix  netip.Prefix // the session's /64, if any
	server6 netip.Addr   // the server's address in the ipv6-prefix pool, if the session has a /64
	locals  []netip.Addr // addresses held on the TUN device
	route   *netcfg.HostRoute
	// delegated are the kernel routes to the prefixes delegated to the
	// session.
	delegated []netcfg.HostRoute
	timer     raTimer
	// ra is what the router advertisements say, read by the receive
	// goroutine (solicitations) and the timer; nil while down.
	ra     atomic.Pointer[raContent]
	lastRA atomic.Int64 // unix nanoseconds of the last advertisement sent
}

// raTimer repeats the router advertisement until stopped. stop may run
// while the callback is advertising; the callback re-arms only if its
// generation is still current, checked under mu, so a stopped timer never
// comes back. (It used to Reset itself after the Stop, and with IPV6CP up
// again two timers advertised, one of them for ever.)
type raTimer struct {
	mu  sync.Mutex
	gen uint64 // bumped by start and stop
	t   *time.Timer
}

// start calls f every interval from now on, stopping any earlier timer.
func (r *raTimer) start(every time.Duration, f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.t != nil {
		r.t.Stop()
	}
	r.gen++
	gen := r.gen
	var t *time.Timer
	// t is set under mu, and the callback reads it under mu only.
	t = time.AfterFunc(every, func() {
		if !r.current(gen) {
			return
		}
		f()
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.gen == gen {
			t.Reset(every)
		}
	})
	r.t = t
}

func (r *raTimer) current(gen uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gen == gen
}

// stop ends the repetition; a callback under way finishes but does not
// re-arm.
func (r *raTimer) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gen++
	if r.t != nil {
		r.t.Stop()
		r.t = nil
	}
}

type raContent struct {
	src netip.Addr // our link-local address on the session
	ra  nd.RouterAdvertisement
}

// SetNetwork6 implements session.IPv6Link.
func (l *sessionLink) SetNetwork6(up bool, local, peer ipv6cp.ID) {
	if !up {
		l.ipv6Down(peer)
		return
	}
	s, cfg, v := l.srv, l.cl.cfg, &l.v6
	s.ipv6Once.Do(func() {
		if err := netcfg.PrepareIPv6(s.cfg.TUNName); err != nil {
			l.log.Error("turning IPv6 on", "err", err)
		}
	})
	g := l.cl.grant()
	switch {
	case g != nil && g.IPv6Prefix.IsValid():
		if a, err := s.claimPrefix6(l.cl, g.IPv6Prefix); err != nil {
			l.log.Warn("IPv6 with link-local addresses only", "err", err)
		} else {
			v.prefix, v.server6 = g.IPv6Prefix, a
		}
	default:
		if p, a, err := l.cl.acquirePrefix6(); err != nil {
			l.log.Warn("IPv6 with link-local addresses only", "err", err)
		} else {
			v.prefix, v.server6 = p, a
		}
	}
	info := &v6Info{Prefix: v.prefix}
	for _, a := range []netip.Addr{local.LinkLocal(), v.server6} {
		if !a.IsValid() {
			continue
		}
		if err := s.holdLocal(a); err != nil {
			l.log.Warn("adding the server's IPv6 address", "addr", a, "err", err)
			continue
		}
		v.locals = append(v.locals, a)
	}
	mtu := l.mtu
	if l.mru > 0 && l.mru < mtu {
		mtu = l.mru
	}
	if v.prefix.IsValid() {
		r := netcfg.HostRoute{Dev: s.cfg.TUNName, Dst: v.prefix.Addr(), Bits: 64, Src: v.server6, MTU: mtu}
		if err := r.Add(); err != nil {
			l.log.Error("adding the route to the session's IPv6 prefix", "err", err)
		} else {
			v.route = &r
		}
	}
	if err := l.Call.SetIPv6(true, uint64(peer), v.prefix); err != nil {
		l.log.Error("IPv6 data path", "err", err)
	}
	if g != nil && len(g.DelegatedPrefixes) > 0 {
		info.Delegated = l.routeDelegated(g.DelegatedPrefixes, mtu)
	}
	l.cl.v6.Store(info)
	if rc := l.cl.radius; rc != nil {
		rc.setIPv6Prefix(v.prefix)
	}
	rc := &raContent{src: local.LinkLocal(), ra: nd.RouterAdvertisement{
		CurHopLimit: 64, RouterLifetime: routerLifetime, MTU: uint32(mtu)}}
	if v.prefix.IsValid() {
		rc.ra.Prefixes = []nd.PrefixInfo{{Prefix: v.prefix, OnLink: true, Autonomous: true,
			ValidLifetime: nd.Infinite, PreferredLifetime: nd.Infinite}}
		if len(cfg.DNS6) > 0 {
			rc.ra.RDNSS, rc.ra.RDNSSLifetime = cfg.DNS6, rdnssLifetime
		}
	}
	v.ra.Store(rc)
	l.Call.SetNDHandler(l.routerMessage)
	l.advertise(nd.AllNodes)
	v.timer.start(raInterval, func() { l.advertise(nd.AllNodes) })
	l.log.Info("IPv6 up", "local", local.LinkLocal(), "remote", peer.LinkLocal(), "prefix", v.prefix)
}

// claimPrefix6 makes p, a /64 RADIUS assigned to cl's session, the
// session's, unless another session has it: one from the ipv6-prefix pool
// (cl.pool6, may be nil) or another RADIUS assignment. The check and the
// claim happen under s.mu, so two sessions given the same /64 cannot both
// pass. It returns the server's address in the pool (invalid without
// one).
func (s *Server) claimPrefix6(cl *call, p netip.Prefix) (netip.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.sessions {
		if i := o.v6.Load(); o != cl && i != nil && i.Prefix == p {
			return netip.Addr{}, fmt.Errorf("Framed-IPv6-Prefix %v is in use by session %d", p, o.id)
		}
	}
	cl.claimMu.Lock()
	defer cl.claimMu.Unlock()
	pool := cl.pool6
	if pool == nil {
		cl.v6.Store(&v6Info{Prefix: p})
		return netip.Addr{}, nil
	}
	if !pool.Take(p) {
		return netip.Addr{}, fmt.Errorf("Framed-IPv6-Prefix %v is not free in the ipv6-prefix pool (another session or the server has it)", p)
	}
	// Recorded even when p lies outside the pool: a reload to a pool
	// that contains it must keep it from other sessions.
	cl.prefix6 = p
	cl.v6.Store(&v6Info{Prefix: p})
	return pool.Server6Addr(), nil
}

// acquirePrefix6 leases the session a /64 from its ipv6-prefix pool; it
// returns an invalid prefix, and no error, when there is no pool. a is
// the server's address in the pool.
func (cl *call) acquirePrefix6() (p netip.Prefix, a netip.Addr, err error) {
	cl.claimMu.Lock()
	defer cl.claimMu.Unlock()
	if cl.pool6 == nil {
		return netip.Prefix{}, netip.Addr{}, nil
	}
	if p, err = cl.pool6.Acquire(); err != nil {
		return netip.Prefix{}, netip.Addr{}, err
	}
	cl.prefix6 = p
	return p, cl.pool6.Server6Addr(), nil
}

// releasePrefix6 gives the session's /64 back to the pool that holds it
// now (the one a reload handed it over to, if any).
func (cl *call) releasePrefix6() {
	cl.claimMu.Lock()
	defer cl.claimMu.Unlock()
	if cl.pool6 != nil && cl.prefix6.IsValid() {
		cl.pool6.Release(cl.prefix6)
	}
	cl.prefix6 = netip.Prefix{}
}

// routeDelegated routes the prefixes RADIUS delegated to the session
// (Delegated-IPv6-Prefix) through it, in the data path and the kernel,
// and lets them be its packets' sources, as framed routes do for IPv4. It
// returns the prefixes routed.
func (l *sessionLink) routeDelegated(ps []netip.Prefix, mtu int) []netip.Prefix {
	if err := l.Call.SetSubnets6(ps); err != nil {
		l.log.Warn("not routing the delegated IPv6 prefixes", "prefixes", fmt.Sprint(ps), "err", err)
		return nil
	}
	for _, p := range ps {
		r := netcfg.HostRoute{Dev: l.srv.cfg.TUNName, Dst: p.Addr(), Bits: p.Bits(), Src: l.v6.server6, MTU: mtu}
		if err := r.Add(); err != nil {
			l.log.Error("adding the route to a delegated IPv6 prefix", "prefix", p, "err", err)
			continue
		}
		l.v6.delegated = append(l.v6.delegated, r)
	}
	l.log.Info("routing delegated IPv6 prefixes through the session", "prefixes", fmt.Sprint(ps))
	return ps
}

func (l *sessionLink) ipv6Down(peer ipv6cp.ID) {
	v := &l.v6
	v.ra.Store(nil)
	v.timer.stop()
	l.Call.SetNDHandler(nil)
	l.Call.SetIPv6(false, uint64(peer), v.prefix)
	for _, r := range v.delegated {
		if err := r.Del(); err != nil {
			l.log.Warn("removing route", "err", err)
		}
	}
	v.delegated = nil
	l.cl.v6.Store(nil)
	if v.route != nil {
		if err := v.route.Del(); err != nil {
			l.log.Warn("removing route", "err", err)
		}
		v.route = nil
	}
	l.cl.releasePrefix6()
	for _, a := range v.locals {
		l.srv.releaseLocal(a)
	}
	v.prefix, v.server6, v.locals = netip.Prefix{}, netip.Addr{}, nil
}

// routerMessage answers the peer's router solicitations (the data path's
// receive goroutine calls it; it must not block).
func (l *sessionLink) routerMessage(ip []byte) {
	m, err := nd.Parse(ip)
	if err != nil || m.Type != nd.TypeRouterSolicitation {
		return
	}
	dst := nd.AllNodes
	if m.Src.IsLinkLocalUnicast() {
		dst = m.Src
	}
	l.advertise(dst)
}

// advertise sends a router advertisement to dst, at most one per raMinGap
// so that a peer's solicitations cannot make us send more than it does.
func (l *sessionLink) advertise(dst netip.Addr) {
	rc := l.v6.ra.Load()
	if rc == nil {
		return
	}
	now := time.Now().UnixNano()
	last := l.v6.lastRA.Load()
	if now-last < int64(raMinGap) || !l.v6.lastRA.CompareAndSwap(last, now) {
		return
	}
	pkt := nd.AppendRouterAdvertisement(nil, rc.src, dst, &rc.ra)
	if err := l.Call.SendLocalIP(pkt); err != nil {
		l.log.Debug("router advertisement not sent", "err", err)
	}
}
