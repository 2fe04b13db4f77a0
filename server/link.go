package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/gopptp/gopptp/config"
	"github.com/gopptp/gopptp/datapath"
	"github.com/gopptp/gopptp/internal/netcfg"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/auth"
	"github.com/gopptp/gopptp/radius"
)

// claimingVerifier makes sure an address a back-end assigns to a user is
// not in use by another session before the login succeeds.
type claimingVerifier struct {
	v    auth.Verifier
	call *call
	// grant, with RADIUS, returns the Access-Accept's extras.
	grant func() *radius.Grant
}

func (v *claimingVerifier) Verify(ctx context.Context, req *auth.Request) (*auth.Result, error) {
	res, err := v.v.Verify(ctx, req)
	if err != nil || res == nil || !res.OK {
		return res, err
	}
	if v.grant != nil {
		if g := v.grant(); g != nil && g.Pool != "" && !res.Addr.IsValid() {
			return poolAddress(v.call, res, g.Pool, req.User), nil
		}
	}
	if !res.Addr.IsValid() || res.Addr == v.call.lease.Remote {
		if res.Allowed != nil && !res.Allowed(v.call.lease.Remote) {
			// pppd refuses such a peer its address and the link fails;
			// saying so at login is clearer.
			return &auth.Result{Reason: fmt.Sprintf("the secrets file allows %s no address from the pool (it would get %v)", ppp.Printable([]byte(req.User), 64), v.call.lease.Remote)}, nil
		}
		return res, nil
	}
	cl := v.call
	cl.claimMu.Lock()
	defer cl.claimMu.Unlock()
	if cl.released {
		return &auth.Result{Reason: "call ended during authentication"}, nil
	}
	if !cl.pool.Claim(res.Addr) {
		return &auth.Result{Reason: fmt.Sprintf("address %v assigned to %s is in use by another session", res.Addr, ppp.Printable([]byte(req.User), 64))}, nil
	}
	cl.claimed = res.Addr
	return res, nil
}

// sessionLink is the session's view of its call: the data path plus the
// host configuration (addresses and routes) the network phase needs.
type sessionLink struct {
	*datapath.Call
	srv   *Server
	cl    *call
	log   *slog.Logger
	mtu   int // our MTU for the session
	mru   int // the peer's MRU
	route *netcfg.HostRoute
	// subnets are the routes to the subnets behind the peer.
	subnets []netcfg.HostRoute
	parp    string
	local   netip.Addr
	v6      v6State // IPv6, when IPV6CP is up
}

func (l *sessionLink) SetFraming(acfc, pfc bool, peerMRU int) {
	l.mru = peerMRU
	l.Call.SetFraming(acfc, pfc, peerMRU)
}

func (l *sessionLink) SetNetwork(up bool, local, peer netip.Addr) {
	s := l.srv
	if !up {
		l.Call.SetNetwork(false, local, peer)
		if l.route != nil {
			if err := l.route.Del(); err != nil {
				l.log.Warn("removing route", "err", err)
			}
			l.route = nil
		}
		for _, r := range l.subnets {
			if err := r.Del(); err != nil {
				l.log.Warn("removing route", "err", err)
			}
		}
		l.subnets = nil
		if l.parp != "" {
			netcfg.DelProxyARP(peer, l.parp)
			l.parp = ""
		}
		s.releaseLocal(l.local)
		return
	}
	if err := s.holdLocal(local); err != nil {
		l.log.Error("adding local tunnel address", "err", err)
	}
	l.local = local
	mtu := l.mtu
	if l.mru > 0 && l.mru < mtu {
		mtu = l.mru
	}
	l.Call.SetMSSClamp(config.MSSClamp(l.cl.cfg.TCPMSSClamp, mtu))
	r := netcfg.HostRoute{Dev: s.cfg.TUNName, Dst: peer, Src: local, MTU: mtu}
	if err := r.Add(); err != nil {
		l.log.Error("adding route to the peer", "err", err)
	} else {
		l.route = &r
	}
	if l.cl.cfg.ProxyARP {
		dev, err := netcfg.ProxyARP(peer, s.cfg.TUNName)
		switch {
		case err != nil:
			l.log.Warn("proxy ARP", "err", err)
		case dev == "":
			l.log.Info("proxyarp: no interface's subnet holds the peer address", "remote", peer)
		default:
			l.parp = dev
		}
	}
	l.Call.SetNetwork(true, local, peer)
	l.routeSubnets(local, mtu)
}

// routeSubnets routes the subnets behind the peer (framed-route, RADIUS's
// Framed-Route) through the session and lets them be its packets' sources.
func (l *sessionLink) routeSubnets(local netip.Addr, mtu int) {
	cl := l.cl
	var ps []netip.Prefix
	if u := cl.user.Load(); u != nil {
		ps = append(ps, cl.cfg.FramedRoutes[*u]...)
	}
	if cl.radius != nil {
		if g := cl.radius.verifier.Grant(); g != nil {
			ps = append(ps, g.Routes...)
		}
	}
	if len(ps) == 0 {
		return
	}
	if err := l.Call.SetSubnets(ps); err != nil {
		l.log.Warn("not routing the subnets behind the peer", "subnets", fmt.Sprint(ps), "err", err)
		return
	}
	for _, p := range ps {
		r := netcfg.HostRoute{Dev: l.srv.cfg.TUNName, Dst: p.Addr(), Bits: p.Bits(), Src: local, MTU: mtu}
		if err := r.Add(); err != nil {
			l.log.Error("adding route to the subnet behind the peer", "err", err)
			continue
		}
		l.subnets = append(l.subnets, r)
	}
	l.log.Info("routing subnets through the session", "subnets", fmt.Sprint(ps))
}

func (s *Server) holdLocal(a netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locals[a] == 0 {
		if err := netcfg.AddLocal(s.cfg.TUNName, a); err != nil {
			return err
		}
	}
	s.locals[a]++
	return nil
}

func (s *Server) releaseLocal(a netip.Addr) {
	if !a.IsValid() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locals[a] > 0 {
		s.locals[a]--
	}
	// The address stays on the device: removing it would only race with
	// the next session that uses it.
}
