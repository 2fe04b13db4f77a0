package server

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/gopptp/gopptp/datapath"
	"github.com/gopptp/gopptp/internal/netcfg"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/ipcp"
	"github.com/gopptp/gopptp/ppp/ipv6cp"
	"github.com/gopptp/gopptp/pptp"
	"github.com/gopptp/gopptp/radius"
	"github.com/gopptp/gopptp/session"
)

// admit reserves what a new call needs: a session slot under the caps, a
// pair of tunnel addresses and a Call ID, and registers the call. It
// returns nil with the RFC error code, whether the refusal means "busy",
// and the reason.
func (s *Server) admit(peerCallID uint16, peer netip.Addr) (*call, pptp.ErrorCode, bool, string) {
	cfg := s.conf()
	refuse := func(key string, code pptp.ErrorCode, busy bool, why string) (*call, pptp.ErrorCode, bool, string) {
		bump(&s.count.refused, key, 1)
		return nil, code, busy, why
	}
	if n := s.active.Add(1); int(n) > cfg.MaxSessions {
		s.active.Add(-1)
		return refuse(refusedSessions, pptp.ErrorCodeNone, true, fmt.Sprintf("session limit of %d reached", cfg.MaxSessions))
	}
	if n := s.nego.Add(1); cfg.Defense.MaxStarting > 0 && int(n) > cfg.Defense.MaxStarting {
		s.nego.Add(-1)
		s.active.Add(-1)
		return refuse(refusedStarting, pptp.ErrorCodeNone, true, fmt.Sprintf("%d sessions already negotiating", cfg.Defense.MaxStarting))
	}
	lease, err := cfg.Pool.Acquire()
	if err != nil {
		s.nego.Add(-1)
		s.active.Add(-1)
		return refuse(refusedPool, pptp.ErrorCodeNoResource, false, err.Error())
	}
	id, ok := s.ids.acquire()
	if !ok {
		cfg.Pool.Release(lease)
		s.nego.Add(-1)
		s.active.Add(-1)
		return refuse(refusedCallID, pptp.ErrorCodeNoResource, false, "no free call ID")
	}
	cl := &call{id: id, peerID: peerCallID, peer: peer, lease: lease, cfg: cfg, pool: cfg.Pool, pool6: cfg.Pool6,
		done: make(chan error, 1), start: time.Now()}
	cl.negotiating.Store(true)
	s.mu.Lock()
	s.sessions[id] = cl
	s.mu.Unlock()
	return cl, 0, false, ""
}

// unadmit undoes admit for a call that never started.
func (s *Server) unadmit(cl *call) {
	s.release(cl)
}

// startCall answers an Outgoing-Call-Request (the usual direction: the
// client, as PNS, asks us, the PAC, to place a call). It returns nil when
// the call was refused.
func (s *Server) startCall(ctx context.Context, c *pptp.Conn, rq *pptp.OutgoingCallRequest, peer netip.Addr, log *slog.Logger, ended func(*call)) *call {
	cl, code, busy, why := s.admit(rq.CallID, peer)
	if cl == nil {
		res := pptp.OutgoingGeneralError
		if busy {
			res = pptp.OutgoingBusy
		}
		c.Send(&pptp.OutgoingCallReply{PeerCallID: rq.CallID, Result: res, ErrorCode: code})
		log.Warn("call refused", "reason", why)
		return nil
	}
	cl.local = localAddr(c)
	if err := s.launch(cl, peer, rq.RecvWindowSize, log); err != nil {
		s.unadmit(cl)
		c.Send(&pptp.OutgoingCallReply{PeerCallID: rq.CallID, Result: pptp.OutgoingGeneralError, ErrorCode: pptp.ErrorCodeNoResource})
		log.Warn("call refused", "reason", err)
		return nil
	}
	if err := c.Send(&pptp.OutgoingCallReply{
		CallID: cl.id, PeerCallID: rq.CallID, Result: pptp.OutgoingConnected,
		ConnectSpeed: max(rq.MaxBPS, 10_000_000), RecvWindowSize: ourRecvWindow,
	}); err != nil {
		s.releaseCall(cl)
		return nil
	}
	s.run(ctx, cl, ended)
	return cl
}

// acceptIncoming answers an Incoming-Call-Request: a peer acting as PAC
// (a LAC-style device) announces a call and we take it as PNS. The PPP
// roles stay the same: we authenticate the peer and assign its address.
// The session starts once the peer sends Incoming-Call-Connected.
func (s *Server) acceptIncoming(c *pptp.Conn, rq *pptp.IncomingCallRequest, peer netip.Addr, log *slog.Logger) *call {
	cl, code, _, why := s.admit(rq.CallID, peer)
	if cl == nil {
		c.Send(&pptp.IncomingCallReply{PeerCallID: rq.CallID, Result: pptp.IncomingGeneralError, ErrorCode: code})
		log.Warn("incoming call refused", "reason", why)
		return nil
	}
	cl.incoming = true
	cl.local = localAddr(c)
	if err := c.Send(&pptp.IncomingCallReply{CallID: cl.id, PeerCallID: rq.CallID, Result: pptp.IncomingConnect,
		RecvWindowSize: ourRecvWindow}); err != nil {
		s.unadmit(cl)
		return nil
	}
	return cl
}

// connectIncoming starts the session of an accepted incoming call; the
// peer's receive window comes with its Incoming-Call-Connected.
func (s *Server) connectIncoming(ctx context.Context, cl *call, m *pptp.IncomingCallConnected, peer netip.Addr, log *slog.Logger, ended func(*call)) error {
	if err := s.launch(cl, peer, m.RecvWindowSize, log); err != nil {
		s.unadmit(cl)
		return err
	}
	s.run(ctx, cl, ended)
	return nil
}

// launch registers an admitted call with the data path and builds its
// session.
func (s *Server) launch(cl *call, peer netip.Addr, peerWindow uint16, log *slog.Logger) error {
	dp, err := s.engine.AddCall(datapath.CallConfig{LocalID: cl.id, PeerID: cl.peerID, Peer: peer, Local: cl.local, PeerWindow: peerWindow})
	if err != nil {
		return err
	}
	cl.dp = dp
	cfg := cl.cfg
	slog := log.With("call", cl.id)
	cl.log = slog
	mtu, mru := cfg.MTU, cfg.MRU
	if mtu == 0 || mru == 0 {
		auto := 1400 // when the link cannot be found, the customary PPTP size
		if lm, err := netcfg.LinkMTU(peer); err == nil {
			auto = datapath.TunnelMTU(lm, peer)
		}
		mtu, mru = cmp.Or(mtu, auto), cmp.Or(mru, auto)
	}
	link := &sessionLink{Call: dp, srv: s, cl: cl, log: slog, mtu: mtu}
	scfg := session.Config{
		Role: session.Server, Name: cfg.Name, MRU: mru,
		EchoInterval: cfg.EchoInterval, EchoFailure: cfg.EchoFailure, FSM: cfg.FSM,
		Require: cfg.Auth, Verifier: s.verifierFor(cl, cl.local), PeerAddr: peer,
		AuthRetries: cfg.AuthRetries,
		IPCP:        ipcp.Config{Local: cl.lease.Local, Peer: cl.lease.Remote, DNS: cfg.DNS, NBNS: cfg.NBNS},
		MPPE:        cfg.MPPE, Log: slog,
		IPv6:   cfg.IPv6,
		IPV6CP: ipv6cp.Config{Local: s.iid, Random: randomIID},
	}
	hooks := session.Hooks{
		Up: func(i session.Info) {
			cl.upInfo.Store(&i)
			cl.user.Store(&i.User)
			s.settled(cl)
			setup := time.Since(cl.start)
			s.count.setup.Observe(setup.Seconds())
			s.sessionUp(cl, i)
			slog.Info("session up", "user", i.User, "auth", i.Auth, "local", i.Local, "remote", i.Peer,
				"mppe_send", i.MPPE.Send, "mppe_recv", i.MPPE.Recv, "setup_ms", setup.Milliseconds())
		},
		Authenticated: func(user string, m ppp.AuthMethod) {
			cl.user.Store(&user)
			bump(&s.count.loginsOK, m, 1)
			s.guard.loginOK(peer)
		},
		Authorize: s.authorize(cl),
		AuthFailed: func(user string, m ppp.AuthMethod, reason string) {
			bump(&s.count.loginsFailed, m, 1)
			// One line per failure, in a fixed form, for fail2ban: the
			// address comes before the user name, which the guesser
			// chooses, so no name can fake another address.
			s.log.Warn("login failed", "peer", peer.String(), "user", ppp.Printable([]byte(user), 64),
				"method", m, "reason", reason)
			if d := s.guard.loginFailed(peer, time.Now()); d > 0 {
				s.log.Warn("source locked out", "peer", peer.String(), "for", d.String(),
					"reason", "too many failed logins")
			}
		},
	}
	cl.sess = session.New(scfg, link, hooks)
	dp.Attach(cl.sess)
	return nil
}

// run starts a launched call's session. When it ends, its result goes to
// cl.done and then ended(cl) runs, on the session's goroutine: neither the
// session nor its end costs a goroutine while the session is idle.
func (s *Server) run(ctx context.Context, cl *call, ended func(*call)) {
	// The session outlives the server's context: on shutdown it still
	// terminates LCP with its peer, and is aborted only if that stalls.
	// Its context cannot end, which costs nothing to watch; Abort ends it.
	cl.cancel = cl.sess.Abort
	cl.sess.Start(context.WithoutCancel(ctx), func(err error) {
		cl.done <- err
		ended(cl)
	})
}

// settled takes a call out of the count of sessions negotiating, once.
func (s *Server) settled(cl *call) {
	if cl.negotiating.CompareAndSwap(true, false) {
		s.nego.Add(-1)
	}
}

// callEnded logs the end of a session that stopped on its own and frees its
// resources; it returns the reason for the Call-Disconnect-Notify.
func (s *Server) callEnded(cl *call, err error, log *slog.Logger) string {
	cl.setCause(causeOf(err, cl.sess.EndReason()))
	reason := cl.sess.EndReason()
	if err != nil {
		reason = err.Error()
	}
	if reason == "" {
		reason = "terminated"
	}
	s.logEnd(cl, reason, log)
	s.releaseCall(cl)
	return reason
}

// endCall stops a call from outside its session (the peer cleared it or
// the control connection went away) without waiting for PPP termination:
// the peer is no longer listening.
func (s *Server) endCall(cl *call, log *slog.Logger, reason string, cause radius.TerminateCause) {
	if cl == nil {
		return
	}
	cl.setCause(cause)
	cl.cancel()
	<-cl.done
	// A peer usually says why it hangs up in an LCP Terminate-Request
	// just before: keep that in the log line.
	if why := cl.sess.EndReason(); why != "" {
		reason += " (" + why + ")"
	}
	s.logEnd(cl, reason, log)
	s.releaseCall(cl)
}

func (s *Server) logEnd(cl *call, reason string, log *slog.Logger) {
	st := &cl.dp.Stats
	user := cl.sess.User() // the session has ended: safe to read
	if u := cl.user.Load(); u != nil {
		user = *u
	}
	log.Info("session down", "call", cl.id, "user", user, "reason", reason,
		"duration", time.Since(cl.start).Round(time.Second).String(),
		"rx_bytes", st.RxBytes.Load(), "tx_bytes", st.TxBytes.Load(),
		"rx_packets", st.RxPackets.Load(), "tx_packets", st.TxPackets.Load(),
		"lost", st.Lost.Load(), "drop_seq", st.DropSeq.Load(), "drop_mppe", st.DropMPPE.Load(),
		"drop_window", st.DropWindow.Load(), "drop_spoof", st.DropSpoof.Load(),
		"mppe_resets_sent", st.ResetsSent.Load(), "mppe_resyncs", st.Resyncs.Load(), "mppe_resets_received", st.ResetsReceived.Load())
}

func (s *Server) releaseCall(cl *call) {
	if cl.cancel != nil {
		cl.cancel()
	}
	s.sessionDown(cl)
	if cl.dp != nil {
		s.engine.RemoveCall(cl.dp)
	}
	s.release(cl)
}

// release returns what admit reserved.
func (s *Server) release(cl *call) {
	s.mu.Lock()
	// The call's counters move to the server's totals under the lock that
	// guards the session table, so that a scrape (which reads both under
	// it) never sees them twice or not at all: the totals never go back.
	if cl.dp != nil {
		st := &cl.dp.Stats
		s.count.endedRxBytes.Add(st.RxBytes.Load())
		s.count.endedTxBytes.Add(st.TxBytes.Load())
		s.count.endedRxPacket.Add(st.RxPackets.Load())
		s.count.endedTxPacket.Add(st.TxPackets.Load())
		s.count.endedLost.Add(st.Lost.Load())
		s.count.endedReordered.Add(st.Reordered.Load())
		s.count.endedLate.Add(st.DropSeq.Load())
		s.count.endedResetsSent.Add(st.ResetsSent.Load())
		s.count.endedResyncs.Add(st.Resyncs.Load())
		s.count.endedResetsRecv.Add(st.ResetsReceived.Load())
		for reason, n := range dropsOf(st) {
			bump(&s.count.endedDrops, reason, n)
		}
	}
	delete(s.sessions, cl.id)
	s.mu.Unlock()
	s.ids.release(cl.id)
	cl.claimMu.Lock()
	cl.pool.Release(cl.lease)
	if cl.claimed.IsValid() {
		cl.pool.Unclaim(cl.claimed)
	}
	cl.released = true
	cl.claimMu.Unlock()
	s.settled(cl)
	s.active.Add(-1)
}

// localAddr is our address on a control connection: the Called-Station-Id.
func localAddr(c *pptp.Conn) netip.Addr {
	ap, _ := netip.ParseAddrPort(c.LocalAddr().String())
	return ap.Addr().Unmap()
}

// dropsOf returns a call's dropped packets by reason.
func dropsOf(st *datapath.Stats) map[string]uint64 {
	return map[string]uint64{
		"window": st.DropWindow.Load(), "sequence": st.DropSeq.Load(), "mppe": st.DropMPPE.Load(),
		"unencrypted": st.DropPlain.Load(), "not_up": st.DropNotUp.Load(), "spoofed": st.DropSpoof.Load(),
	}
}

// Sessions returns the number of active sessions.
func (s *Server) Sessions() int { return int(s.active.Load()) }
