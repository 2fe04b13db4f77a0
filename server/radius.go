package server

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/auth"
	"github.com/gopptp/gopptp/radius"
	"github.com/gopptp/gopptp/session"
)

// aaa is the RADIUS side of one configuration.
type aaa struct {
	client   *radius.Client
	verifier *radius.Verifier
	acct     *radius.Accounting
}

// prepareRADIUS builds the RADIUS client a configuration names, with its
// latency going to the server's metrics.
func (s *Server) prepareRADIUS(cfg *Config) error {
	if cfg.RADIUS == nil {
		return nil
	}
	rc := *cfg.RADIUS
	if rc.Log == nil {
		rc.Log = cfg.Log
	}
	rc.Observe = func(o radius.Observation) {
		s.count.radius.WithLabelValues(string(o.Kind), string(o.Outcome)).Observe(o.Latency.Seconds())
	}
	c, err := radius.NewClient(rc)
	if err != nil {
		return fmt.Errorf("RADIUS: %w", err)
	}
	cfg.rad = &aaa{client: c, verifier: radius.NewVerifier(c), acct: radius.NewAccounting(c)}
	return nil
}

// startRADIUS sends Accounting-On and opens the Dynamic Authorization
// listener, if configured; the function it returns waits for the
// Accounting-Stops of ended sessions and sends Accounting-Off.
func (s *Server) startRADIUS(ctx context.Context) (stop func()) {
	rad := s.cfg.rad
	if rad == nil {
		return func() {}
	}
	timeout := rad.client.Config().MaxWait
	if rad.acct.Enabled() {
		s.acctWG.Go(func() {
			actx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			if err := rad.acct.On(actx); err != nil {
				s.log.Warn("RADIUS Accounting-On failed", "err", err)
			}
		})
	}
	var daeDone chan struct{}
	if rad.client.Config().DAE.Listen != "" {
		d, err := radius.ListenDAE(ctx, rad.client, s)
		if err != nil {
			s.log.Error("RADIUS Dynamic Authorization listener not started", "err", err)
		} else {
			s.dae.Store(d)
			s.log.Info("RADIUS Dynamic Authorization listening", "addr", d.Addr().String())
			daeDone = make(chan struct{})
			go func() {
				defer close(daeDone)
				if err := d.Serve(ctx); err != nil {
					s.log.Error("RADIUS Dynamic Authorization listener stopped", "err", err)
				}
			}()
		}
	}
	return func() {
		if daeDone != nil {
			<-daeDone
		}
		s.acctWG.Wait()
		if rad.acct.Enabled() {
			actx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			if err := rad.acct.Off(actx); err != nil {
				s.log.Warn("RADIUS Accounting-Off failed", "err", err)
			}
		}
	}
}

func newRADIUSHistogram() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "pptp_radius_request_seconds",
		Help:    "RADIUS exchanges with one server, by kind (auth, acct) and outcome (accept, reject, response, timeout, error, ...).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
	}, []string{"kind", "outcome"})
}

// radiusCall is the RADIUS state of one call.
type radiusCall struct {
	verifier *radius.CallVerifier
	// rec describes the session for accounting and Disconnect-Request
	// matching, from the moment it is up.
	rec *radius.Record
	// acct runs the accounting; ended once.
	acct *radius.Session
	// prefix6 is the session's /64 once IPV6CP chose it, for the
	// accounting records; it may come before or after acct starts.
	prefix6 atomic.Pointer[netip.Prefix]
}

// grant returns the call's RADIUS grant, nil without RADIUS or before a
// login was accepted.
func (cl *call) grant() *radius.Grant {
	if cl.radius == nil {
		return nil
	}
	return cl.radius.verifier.Grant()
}

// setIPv6Prefix records the session's /64 (invalid: none) for accounting.
func (rc *radiusCall) setIPv6Prefix(p netip.Prefix) {
	rc.prefix6.Store(&p)
	if rc.acct != nil {
		rc.acct.SetIPv6Prefix(p)
	}
}

// verifierFor returns the auth.Verifier of a call: RADIUS, with the call's
// details, or the configured one.
func (s *Server) verifierFor(cl *call, local netip.Addr) auth.Verifier {
	cfg := cl.cfg
	if cfg.rad == nil {
		return &claimingVerifier{v: cfg.Verifier, call: cl}
	}
	rc := &radiusCall{}
	call := radius.Call{NASPort: uint32(cl.id), HasNASPort: true, SessionID: cfg.rad.acct.NewSessionID()}
	if local.IsValid() {
		call.CalledStationID = local.String()
	}
	rc.verifier = cfg.rad.verifier.ForCall(call)
	rc.rec = &radius.Record{SessionID: call.SessionID, NASPort: call.NASPort, HasNASPort: true,
		Peer: cl.peer, CalledStationID: call.CalledStationID}
	cl.radius = rc
	return &claimingVerifier{v: rc.verifier, call: cl, grant: rc.verifier.Grant}
}

// authorize turns a RADIUS grant into the session's settings (the session
// hook Authorize).
func (s *Server) authorize(cl *call) func(string) (session.Authorization, error) {
	return func(string) (session.Authorization, error) {
		var a session.Authorization
		if cl.radius == nil {
			return a, nil
		}
		g := cl.radius.verifier.Grant()
		if g == nil {
			return a, errors.New("RADIUS accepted the login without a grant")
		}
		m := g.ApplyMPPE(cl.cfg.MPPE)
		a.MPPE = &m
		a.DNS, a.NBNS = g.DNS, g.NBNS
		if g.Message != "" {
			cl.log.Info("RADIUS reply message", "user", g.User, "message", g.Message)
		}
		return a, nil
	}
}

// limits returns a session's time limits: RADIUS's Session-Timeout and
// Idle-Timeout, else pppd's maxconnect and idle.
func (cl *call) limits() (session, idle time.Duration) {
	session, idle = cl.cfg.MaxConnect, cl.cfg.IdleTimeout
	if cl.radius != nil {
		if g := cl.radius.verifier.Grant(); g != nil {
			if g.SessionTimeout > 0 {
				session = g.SessionTimeout
			}
			if g.IdleTimeout > 0 {
				idle = g.IdleTimeout
			}
		}
	}
	return session, idle
}

// sessionUp starts what a session needs once IP flows: its time limits
// and its accounting.
func (s *Server) sessionUp(cl *call, i session.Info) {
	sessLimit, idle := cl.limits()
	cl.timers.mu.Lock()
	cl.timers.upAt = time.Now()
	cl.timers.mu.Unlock()
	if sessLimit > 0 {
		cl.setSessionTimeout(sessLimit)
	}
	if idle > 0 {
		cl.watchIdle(idle)
	}
	rc := cl.radius
	if rc == nil {
		return
	}
	rec := *rc.rec
	rec.User, rec.Addr = i.User, i.Peer
	if g := rc.verifier.Grant(); g != nil {
		rec.User, rec.Class = g.User, g.Class
		rec.IPv6Prefix, rec.DelegatedPrefixes = g.IPv6Prefix, g.DelegatedPrefixes
	}
	if p := rc.prefix6.Load(); p != nil {
		rec.IPv6Prefix = *p
	}
	cl.radiusRec.Store(&rec)
	acct := cl.cfg.rad.acct
	if !acct.Enabled() {
		return
	}
	interval := cl.cfg.rad.client.Config().InterimInterval
	if g := rc.verifier.Grant(); g != nil && g.InterimInterval > 0 {
		interval = g.InterimInterval
	}
	st := &cl.dp.Stats
	// The updates outlive neither the session nor the server: End stops
	// them, and the server waits for the Stops before it exits.
	rc.acct = acct.Begin(context.Background(), rec, interval, func() radius.Counters {
		return radius.Counters{InOctets: st.RxBytes.Load(), OutOctets: st.TxBytes.Load(),
			InPackets: st.RxPackets.Load(), OutPackets: st.TxPackets.Load()}
	})
}

// sessionDown stops a session's timers and sends its Accounting-Stop in
// the background (the server waits for it before exiting).
func (s *Server) sessionDown(cl *call) {
	cl.timers.mu.Lock()
	cl.timers.stopped = true
	for _, t := range []*time.Timer{cl.timers.session, cl.timers.idle} {
		if t != nil {
			t.Stop()
		}
	}
	cl.timers.mu.Unlock()
	if cl.radius == nil || cl.radius.acct == nil {
		return
	}
	cause := radius.TerminateCause(cl.cause.Load())
	if cause == 0 {
		cause = radius.CauseNASRequest
	}
	a := cl.radius.acct
	s.acctWG.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cl.cfg.rad.client.Config().MaxWait)
		defer cancel()
		if err := a.End(ctx, cause); err != nil {
			cl.log.Warn("RADIUS Accounting-Stop failed", "err", err)
		}
	})
}

// callTimers are a session's time limits.
type callTimers struct {
	mu      sync.Mutex
	upAt    time.Time
	session *time.Timer
	idle    *time.Timer
	stopped bool
}

// setCause records why a session ends, for Acct-Terminate-Cause: the first
// reason given wins.
func (cl *call) setCause(c radius.TerminateCause) { cl.cause.CompareAndSwap(0, uint32(c)) }

// setSessionTimeout (re)arms the session limit, counted from when the
// session came up.
func (cl *call) setSessionTimeout(d time.Duration) {
	cl.timers.mu.Lock()
	defer cl.timers.mu.Unlock()
	if cl.timers.stopped {
		return
	}
	if cl.timers.session != nil {
		cl.timers.session.Stop()
	}
	left := time.Until(cl.timers.upAt.Add(d))
	cl.timers.session = time.AfterFunc(max(left, 0), func() {
		cl.setCause(radius.CauseSessionTimeout)
		cl.sess.Close(fmt.Sprintf("session time limit of %v reached", d))
	})
}

// watchIdle ends the session after idle without IP packets either way.
// It samples the packet counters, so that the data path pays nothing.
func (cl *call) watchIdle(idle time.Duration) {
	every := min(max(idle/8, time.Second), 30*time.Second)
	st := &cl.dp.Stats
	last, lastAt := st.RxPackets.Load()+st.TxPackets.Load(), time.Now()
	var check func()
	check = func() {
		n := st.RxPackets.Load() + st.TxPackets.Load()
		now := time.Now()
		if n != last {
			last, lastAt = n, now
		} else if now.Sub(lastAt) >= idle {
			cl.setCause(radius.CauseIdleTimeout)
			cl.sess.Close(fmt.Sprintf("idle for %v", idle))
			return
		}
		cl.timers.mu.Lock()
		defer cl.timers.mu.Unlock()
		if !cl.timers.stopped {
			cl.timers.idle = time.AfterFunc(every, check)
		}
	}
	cl.timers.mu.Lock()
	cl.timers.idle = time.AfterFunc(every, check)
	cl.timers.mu.Unlock()
}

// causeOf maps how a session ended on its own to an Acct-Terminate-Cause.
func causeOf(err error, endReason string) radius.TerminateCause {
	switch {
	case errors.Is(err, session.ErrPeerDead):
		return radius.CauseLostCarrier
	case errors.Is(err, session.ErrMPPE):
		return radius.CauseServiceUnavailable
	case errors.Is(err, session.ErrAuthFailed):
		return radius.CauseUserError
	case strings.HasPrefix(endReason, "peer:"):
		return radius.CauseUserRequest
	case err != nil:
		return radius.CauseNASError
	}
	return radius.CauseNASRequest
}

// Disconnect ends the sessions a RADIUS Disconnect-Request names
// (radius.Sessions).
func (s *Server) Disconnect(m radius.Match) (int, error) {
	n := 0
	for _, cl := range s.matching(m) {
		cl.setCause(radius.CauseAdminReset)
		cl.sess.Close("disconnected by RADIUS (Disconnect-Request)")
		n++
	}
	return n, nil
}

// SetSessionTimeout gives the sessions a RADIUS CoA-Request names a new
// Session-Timeout (radius.Sessions).
func (s *Server) SetSessionTimeout(m radius.Match, d time.Duration) (int, error) {
	cls := s.matching(m)
	for _, cl := range cls {
		cl.setSessionTimeout(d)
		cl.log.Info("session time limit changed by RADIUS (CoA-Request)", "limit", d.String())
	}
	return len(cls), nil
}

func (s *Server) matching(m radius.Match) []*call {
	var out []*call
	for _, cl := range s.snapshotCalls() {
		if rec := cl.radiusRec.Load(); rec != nil && m.Matches(rec) {
			out = append(out, cl)
		}
	}
	return out
}

// poolAddress gives a login RADIUS accepted with a Framed-Pool an address
// from that pool (pptpd.conf's ip-pool), or refuses it.
func poolAddress(cl *call, res *auth.Result, pool, user string) *auth.Result {
	cl.claimMu.Lock()
	defer cl.claimMu.Unlock()
	if cl.released {
		return &auth.Result{Reason: "call ended during authentication"}
	}
	a, err := cl.pool.AcquireNamed(pool)
	if err != nil {
		return &auth.Result{Reason: fmt.Sprintf("Framed-Pool of %s: %v", ppp.Printable([]byte(user), 64), err)}
	}
	cl.claimed = a
	r := *res
	r.Addr = a
	return &r
}
