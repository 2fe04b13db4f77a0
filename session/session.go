// Package session runs one PPP session over one PPTP call: the phases of
// RFC 1661 section 3.2 (establish with LCP, authenticate, then the network
// phase with CCP/MPPE and IPCP) and their teardown.
//
// All protocol state of a session is owned by the goroutine that runs
// Session.Run; everything else (the data path delivering control frames,
// timers, authentication back-ends) talks to it by posting closures on its
// event channel. The data path itself never waits for a session.
package session

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/auth"
	"github.com/gopptp/gopptp/ppp/ccp"
	"github.com/gopptp/gopptp/ppp/ipcp"
	"github.com/gopptp/gopptp/ppp/ipv6cp"
	"github.com/gopptp/gopptp/ppp/lcp"
)

// Role says which end of the link we are.
type Role uint8

// Roles.
const (
	Server Role = iota // authenticator, assigns addresses
	Client             // authenticates itself, is assigned an address
)

// Config describes one session.
type Config struct {
	Role Role
	// Name is our name: the server's CHAP name (pppd's "name").
	Name string

	MRU          int           // our MRU, 0 = 1500
	EchoInterval time.Duration // LCP echo interval, 0 = off
	EchoFailure  int           // unanswered echoes before the link is declared dead
	FSM          ppp.Config    // restart timer and counters for every automaton
	// SetupTimeout bounds the time from start to the network phase.
	SetupTimeout time.Duration

	// Server side.
	Require  []ppp.AuthMethod // methods to ask for, by preference
	Verifier auth.Verifier
	// AuthRetries is how many more MS-CHAP attempts a peer gets after a
	// wrong password (Windows prompts its user again).
	AuthRetries int
	PeerAddr    netip.Addr // the peer's underlay address, for logs and back-ends

	// Client side.
	Accept   []ppp.AuthMethod // methods we agree to, by preference
	User     string
	Password string

	IPCP ipcp.Config
	MPPE ccp.Config

	// IPv6 runs IPV6CP next to IPCP (pppd's +ipv6) with IPV6CP's
	// configuration; the link must then be an IPv6Link. Without it the
	// peer's IPV6CP is answered with a Protocol-Reject, and IPv4 goes on.
	IPv6   bool
	IPV6CP ipv6cp.Config

	Log *slog.Logger
}

// Link is what the session needs from the data path of its call.
type Link interface {
	// SendControl sends one control packet of protocol p.
	SendControl(p ppp.Protocol, pkt []byte)
	// SetFraming tells the data path what the peer accepts: frames
	// without address/control field, one-octet protocols, and its MRU.
	SetFraming(acfc, pfc bool, peerMRU int)
	// SetMPPE installs the MPPE state of each direction (On false: clear).
	SetMPPE(send, recv ccp.Direction, sendKey, recvKey [16]byte) error
	// FlushMPPE makes the next encrypted packet a flushed one (the peer's
	// CCP Reset-Request).
	FlushMPPE()
	// SetNetwork starts or stops IP forwarding for the session.
	SetNetwork(up bool, local, peer netip.Addr)
}

// IPv6Link is a Link that carries IPv6 too.
type IPv6Link interface {
	Link
	// SetNetwork6 starts or stops IPv6 forwarding for the session with
	// the interface identifiers IPV6CP agreed on.
	SetNetwork6(up bool, local, peer ipv6cp.ID)
}

// Info describes an established session for logs, routes and accounting.
type Info struct {
	User        string
	Auth        ppp.AuthMethod
	Local, Peer netip.Addr
	DNS         []netip.Addr
	MPPE        ccp.Result
	PeerMRU     int
}

// Hooks report session milestones to the owner (server or client). They
// run on the session goroutine and must not block.
type Hooks struct {
	// Up: the network phase is complete and IP flows.
	Up func(Info)
	// Authenticated: the peer (server side) or we (client side) passed
	// authentication as user with method.
	Authenticated func(user string, method ppp.AuthMethod)
	// AuthFailed: the peer (server side) or we (client side) failed to
	// authenticate; user is the name used.
	AuthFailed func(user string, method ppp.AuthMethod, reason string)
	// Authorize (server side) runs after a successful login and returns
	// what the back-end decided for this user; an error ends the session.
	Authorize func(user string) (Authorization, error)
}

// Authorization is what an authentication back-end (RADIUS) decides for
// one user, overriding the session's configuration.
type Authorization struct {
	// MPPE, when set, replaces Config.MPPE.
	MPPE *ccp.Config
	// DNS and NBNS entries that are valid replace the configured ones.
	DNS, NBNS [2]netip.Addr
}

// Errors that end a session, for callers that need to tell them apart.
var (
	ErrAuthFailed = errors.New("authentication failed")
	ErrMPPE       = errors.New("encryption refused")
	ErrPeerDead   = errors.New("peer not responding")
)

// Session is one PPP session.
type Session struct {
	cfg   Config
	link  Link
	hooks Hooks
	log   *slog.Logger

	ctx context.Context

	// The event queue. An idle session has no goroutine: whoever posts an
	// event to it while none is draining its queue starts one, which ends
	// when the queue is empty. One goroutine at a time owns the protocol
	// state, and qmu orders each drain after the one before.
	qmu      sync.Mutex
	queue    []func() // events waiting
	spare    []func() // the previous batch's slice, for reuse
	draining bool     // a goroutine is draining the queue
	ended    bool     // the session finished: events are dropped
	finish   func(error)
	setupT   *time.Timer // the setup deadline
	echoT    *time.Timer // the next LCP echo tick
	stopCtx  func() bool // unregisters the context's AfterFunc
	// cancelVerify abandons the verifications in flight (a RADIUS
	// request, for one) once they no longer matter.
	cancelVerify context.CancelFunc

	lcp   *lcp.LCP
	ipcp  *ipcp.IPCP
	ipv6  *ipv6cp.IPV6CP // nil without Config.IPv6
	link6 IPv6Link
	ccp   *ccp.CCP
	asrv  *auth.Server
	acli  *auth.Client
	timrs []*timer

	lcpRes   lcp.Result
	user     string
	keys     struct{ send, recv [16]byte }
	haveKeys bool
	network  bool // network phase entered
	ipcpOpen bool
	ccpOpen  bool
	dataUp   bool
	ipv6Open bool
	data6Up  bool
	ipv6Res  ipv6cp.Result
	info     Info
	upAt     time.Time

	done       bool
	endErr     error
	endReason  string        // why LCP finished, when it did
	peerReason string        // the text of the peer's Terminate-Request
	dropped    atomic.Uint64 // control frames dropped because the queue was full
}

// New builds a session over link. Run starts it.
func New(cfg Config, link Link, hooks Hooks) *Session {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.SetupTimeout == 0 {
		cfg.SetupTimeout = 60 * time.Second
	}
	s := &Session{cfg: cfg, link: link, hooks: hooks, log: cfg.Log}
	magic := func() uint32 {
		var b [4]byte
		rand.Read(b[:])
		return binary.BigEndian.Uint32(b[:])
	}
	lcfg := lcp.Config{MRU: cfg.MRU, Magic: magic}
	if cfg.Role == Server {
		lcfg.Require = cfg.Require
	} else {
		lcfg.Accept = cfg.Accept
	}
	s.lcp = lcp.New(lcfg, lcp.Hooks{
		Up:              s.lcpUp,
		Down:            s.lcpDown,
		Finished:        s.lcpFinished,
		ProtocolReject:  s.protocolRejected,
		Identification:  func(t string) { s.log.Debug("LCP identification", "text", ppp.Printable([]byte(t), 64)) },
		LoopbackWarning: func() { s.log.Warn("LCP: peer uses our magic number; the link may be looped back") },
	}, s.sender(ppp.ProtoLCP), s.newTimer(func() { s.lcp.Timeout() }), cfg.FSM, s.log)
	s.ipcp = ipcp.New(cfg.IPCP, ipcp.Hooks{Up: s.ipcpUp, Down: s.ipcpDown, Finished: s.ncpFinished("IPCP")},
		s.sender(ppp.ProtoIPCP), s.newTimer(func() { s.ipcp.Timeout() }), cfg.FSM)
	s.ccp = ccp.New(cfg.MPPE, ccp.Hooks{Up: s.ccpUp, Down: s.ccpDown, Finished: s.ncpFinished("CCP"),
		ResetRequest: func() { s.link.FlushMPPE() }},
		s.sender(ppp.ProtoCCP), s.newTimer(func() { s.ccp.Timeout() }), cfg.FSM)
	fsms := []*ppp.FSM{s.lcp.FSM, s.ipcp.FSM, s.ccp.FSM}
	if l6, ok := link.(IPv6Link); ok && cfg.IPv6 {
		s.link6 = l6
		s.ipv6 = ipv6cp.New(cfg.IPV6CP, ipv6cp.Hooks{Up: s.ipv6Up, Down: s.ipv6Down, Finished: s.ncpFinished("IPV6CP")},
			s.sender(ppp.ProtoIPV6CP), s.newTimer(func() { s.ipv6.Timeout() }), cfg.FSM)
		fsms = append(fsms, s.ipv6.FSM)
	} else if cfg.IPv6 {
		s.log.Warn("IPv6 asked for, but the link cannot carry it; IPV6CP stays off")
	}
	for _, f := range fsms {
		f := f
		f.OnTransition(func(from, to ppp.State) {
			s.log.Debug("state", "proto", f.Protocol(), "from", from, "to", to)
		})
	}
	return s
}

func (s *Session) sender(p ppp.Protocol) func(ppp.Packet) {
	return func(pkt ppp.Packet) {
		s.log.Debug("sent", "proto", p, "code", ppp.CodeName(p, pkt.Code), "id", pkt.ID, "len", len(pkt.Data))
		s.link.SendControl(p, pkt.Append(nil))
	}
}

// maxQueue bounds the events waiting for a session: a frame from the data
// path that finds the queue this long is dropped.
const maxQueue = 256

// Deliver hands the session a control frame (protocol p, information field
// b) from the data path. b is copied; the call never blocks: when the
// session is too far behind the frame is dropped, like a lossy link would.
func (s *Session) Deliver(p ppp.Protocol, b []byte) {
	c := append([]byte(nil), b...)
	if !s.enqueue(func() { s.input(p, c) }, true) {
		s.dropped.Add(1)
	}
}

// ResetRequest asks the session to send a CCP Reset-Request (the data path
// lost stateful MPPE synchronisation). It never blocks.
func (s *Session) ResetRequest() {
	s.enqueue(func() { s.ccp.SendResetRequest() }, true)
}

// Close asks the session to terminate the link with reason; Run returns
// once LCP has finished (or its terminate timer gave up).
func (s *Session) Close(reason string) {
	s.post(func() { s.close(reason, nil) })
}

// post queues f to run on the session's goroutine; after the session has
// ended it is dropped.
func (s *Session) post(f func()) { s.enqueue(f, false) }

// enqueue queues f, unless the session has ended or, for a droppable
// event, the queue is full; it starts a goroutine to drain the queue if
// none is. It reports whether f was queued.
func (s *Session) enqueue(f func(), droppable bool) bool {
	s.qmu.Lock()
	if s.ended || (droppable && len(s.queue) >= maxQueue) {
		s.qmu.Unlock()
		return false
	}
	s.queue = append(s.queue, f)
	start := !s.draining && s.finish != nil
	if start {
		s.draining = true
	}
	s.qmu.Unlock()
	if start {
		go s.drain()
	}
	return true
}

// drain runs queued events until the queue is empty or the session ends.
func (s *Session) drain() {
	for {
		s.qmu.Lock()
		batch := s.queue
		if len(batch) == 0 || s.ended {
			s.draining = false
			s.qmu.Unlock()
			return
		}
		s.queue, s.spare = s.spare[:0], nil
		s.qmu.Unlock()
		for i, f := range batch {
			batch[i] = nil
			if s.done || s.ended {
				continue // the rest is dropped, as by a loop that exited
			}
			f()
			if !s.ended {
				s.checkFailures()
			}
		}
		if s.ended {
			return
		}
		s.qmu.Lock()
		s.spare = batch[:0]
		s.qmu.Unlock()
		if s.done {
			s.teardownData()
			s.end(s.endErr)
			return
		}
	}
}

// end finishes the session once: timers stop, later events are dropped,
// and Start's callback gets err. It runs on the goroutine draining the
// queue, which exits after it.
func (s *Session) end(err error) {
	s.stopTimers()
	if s.setupT != nil {
		s.setupT.Stop()
	}
	if s.cancelVerify != nil {
		s.cancelVerify()
	}
	if s.echoT != nil {
		s.echoT.Stop()
	}
	s.stopCtx()
	s.qmu.Lock()
	s.ended = true
	s.draining = false
	clear(s.queue)
	s.queue, s.spare = nil, nil
	finish := s.finish
	s.qmu.Unlock()
	finish(err)
}

// Run drives the session until the link terminates or ctx ends. It returns
// nil after an orderly termination we or the peer asked for, and an error
// saying why otherwise.
func (s *Session) Run(ctx context.Context) error {
	done := make(chan error, 1)
	s.Start(ctx, func(err error) { done <- err })
	return <-done
}

// Start drives the session like Run without occupying the caller's
// goroutine, or any while the session is idle: events run on a goroutine
// started when one arrives, so a server holding thousands of idle sessions
// pays no goroutine stack for each. done receives what Run would return,
// once, on the session's goroutine; it must not block for long.
func (s *Session) Start(ctx context.Context, done func(error)) {
	open := func() {
		s.lcp.Open()
		s.lcp.Up()
	}
	s.qmu.Lock()
	s.ctx = ctx
	s.finish = done
	s.setupT = time.AfterFunc(s.cfg.SetupTimeout, func() { s.post(s.setupExpired) })
	if s.cfg.EchoInterval > 0 {
		s.echoT = time.AfterFunc(s.cfg.EchoInterval, func() { s.post(s.echoTick) })
	}
	// LCP starts before any frame that arrived early is looked at, and
	// even when ctx has already ended: the context's event queues behind
	// it, because posting waits for qmu.
	s.queue = append([]func(){open}, s.queue...)
	s.draining = true
	if ctx.Done() != nil {
		s.stopCtx = context.AfterFunc(ctx, func() { s.post(s.ctxDone) })
	} else {
		// A context that cannot end costs nothing to watch; the owner
		// ends the session with Abort.
		s.stopCtx = func() bool { return false }
	}
	s.qmu.Unlock()
	go s.drain()
}

// Abort ends the session at once, as the end of its context does (Run
// returns context.Canceled unless the link was already ending for a
// reason of its own). A server that holds many sessions starts them with
// a context that cannot end and aborts them with this instead: watching a
// cancellable context costs every session an AfterFunc and a child
// registration.
func (s *Session) Abort() { s.post(s.aborted) }

func (s *Session) aborted() {
	s.teardownData()
	err := s.endErr
	if err == nil {
		err = context.Canceled
	}
	s.end(err)
}

// echoTick sends an LCP Echo-Request, or ends a link whose peer stopped
// answering them, and sets the next tick.
func (s *Session) echoTick() {
	if !s.lcp.EchoTick(s.cfg.EchoFailure) {
		s.close(fmt.Sprintf("no response to %d echo-requests", s.cfg.EchoFailure), ErrPeerDead)
	}
	s.echoT.Reset(s.cfg.EchoInterval)
}

func (s *Session) setupExpired() {
	if !s.dataUp {
		s.close("negotiation did not complete in "+s.cfg.SetupTimeout.String(), errors.New("setup timed out"))
	}
}

// ctxDone ends the session at once when its context ends.
func (s *Session) ctxDone() {
	s.teardownData()
	err := s.endErr // we may already know why the link is ending
	if err == nil {
		err = s.ctx.Err()
	}
	s.end(err)
}

// checkFailures turns a negotiation dead end reported by a layer into a
// link termination; layers cannot close themselves from inside the
// automaton.
func (s *Session) checkFailures() {
	if f := s.lcp.Failure(); f != "" {
		s.close(f, ErrAuthFailed)
	}
	// An NCP that finishes because LCP went down is not a failure.
	if f := s.ccp.Failure(); f != "" && s.lcp.IsOpened() {
		s.close(f, ErrMPPE)
	}
	if f := s.ipcp.Failure(); f != "" && s.lcp.IsOpened() {
		s.close(f, errors.New("IP negotiation failed"))
	}
}

func (s *Session) close(reason string, err error) {
	if s.endErr == nil && err != nil {
		s.endErr = fmt.Errorf("%w: %s", err, reason)
	}
	if s.lcp.State() == ppp.Initial || s.lcp.State() == ppp.Starting || s.lcp.State() == ppp.Closed || s.lcp.State() == ppp.Stopped {
		s.done = true
		return
	}
	s.lcp.Close(reason)
}

func (s *Session) input(p ppp.Protocol, b []byte) {
	var pkt ppp.Packet
	var err error
	switch p {
	case ppp.ProtoLCP, ppp.ProtoIPCP, ppp.ProtoCCP, ppp.ProtoPAP, ppp.ProtoCHAP, ppp.ProtoIPV6CP:
		pkt, err = ppp.ParsePacket(b)
		if err != nil {
			s.log.Debug("malformed control packet", "proto", p, "err", err)
			return
		}
		s.log.Debug("rcvd", "proto", p, "code", ppp.CodeName(p, pkt.Code), "id", pkt.ID, "len", len(pkt.Data))
	}
	switch p {
	case ppp.ProtoLCP:
		if pkt.Code == ppp.TermReq {
			s.peerTerminates(ppp.Printable(pkt.Data, 64))
		}
		s.lcp.Input(pkt)
		return
	}
	// RFC 1661 section 3.4: other protocols only once LCP is opened; in the
	// network phase only the negotiated ones.
	if !s.lcp.IsOpened() {
		return
	}
	switch p {
	case ppp.ProtoPAP, ppp.ProtoCHAP:
		switch {
		case s.asrv != nil && s.asrv.Method().Protocol() == p:
			s.asrv.Input(pkt)
		case s.acli != nil && s.lcpRes.PeerAuth.Protocol() == p:
			s.acli.Input(pkt)
		default:
			s.lcp.SendProtocolReject(p, b)
		}
	case ppp.ProtoIPCP:
		if !s.network {
			return // not yet: the peer retransmits
		}
		if s.ipcp.State() == ppp.Initial && pkt.Code == ppp.ConfReq {
			// The peer is ready for IPCP before our CCP is up (Windows
			// sends everything at once): start now rather than make it
			// wait a restart period; IP still flows only with MPPE on.
			s.startIPCP()
		}
		s.ipcp.Input(pkt)
	case ppp.ProtoCCP:
		if !s.network {
			return
		}
		s.ccp.Input(pkt)
	case ppp.ProtoIPV6CP:
		if s.ipv6 == nil {
			// IPv6 is off: say so, and the peer gives up IPV6CP
			// (Windows asks for it) while IPCP goes on.
			s.lcp.SendProtocolReject(p, b)
			return
		}
		if !s.network {
			return
		}
		if s.ipv6.State() == ppp.Initial && pkt.Code == ppp.ConfReq {
			s.startIPV6CP() // as for IPCP: the peer is ready before us
		}
		s.ipv6.Input(pkt)
	case ppp.ProtoIPv6:
		// IPv6 data reaches the session only while IPV6CP is not open:
		// RFC 1661 section 3.4 says discard it then; a protocol we do
		// not speak at all is rejected.
		if s.ipv6 == nil {
			s.lcp.SendProtocolReject(p, b)
		}
	default:
		// CBCP and anything else we do not speak.
		s.lcp.SendProtocolReject(p, b)
	}
}

// peerTerminates records why the peer ends the link, the first time it
// says so. A peer that gives up while encryption is being negotiated
// could not agree on MPPE (pppd says "MPPE required but peer refused"),
// and that is what we report rather than a plain hang-up.
func (s *Session) peerTerminates(text string) {
	if s.peerReason != "" || s.done {
		return
	}
	s.peerReason = "peer: " + text
	s.log.Info("peer is terminating the link", "reason", text)
	if s.endErr == nil && s.network && !s.ccpOpen && (s.cfg.MPPE.Required || s.ccp.PeerAskedMPPE()) {
		s.endErr = fmt.Errorf("%w: the peer ended the link during encryption negotiation (%s)", ErrMPPE, text)
	}
}

func (s *Session) lcpUp(r lcp.Result) {
	s.lcpRes = r
	s.link.SetFraming(r.SendACFC, r.SendPFC, r.PeerMRU)
	s.log.Debug("LCP up", "peer_mru", r.PeerMRU, "auth", r.Auth, "peer_auth", r.PeerAuth)
	switch s.cfg.Role {
	case Server:
		if r.Auth == ppp.AuthNone {
			s.enterNetwork()
			return
		}
		s.asrv = auth.NewServer(r.Auth, s.cfg.Name, s.sender(r.Auth.Protocol()), s.newTimer(func() { s.asrv.Timeout() }),
			auth.ServerHooks{Verify: s.verify, Done: s.serverAuthDone, Retry: func(user string, res *auth.Result) {
				if s.hooks.AuthFailed != nil {
					s.hooks.AuthFailed(user, r.Auth, res.Reason)
				}
			}})
		s.asrv.SetRetries(s.cfg.AuthRetries)
		s.asrv.Start()
	case Client:
		if r.PeerAuth == ppp.AuthNone {
			if s.cfg.MPPE.Required {
				s.close("MPPE required but the server asks for no authentication, so there are no keys", ErrMPPE)
				return
			}
			s.enterNetwork()
			return
		}
		s.user = s.cfg.User
		s.acli = auth.NewClient(r.PeerAuth, s.cfg.User, s.cfg.Password, s.sender(r.PeerAuth.Protocol()),
			s.newTimer(func() { s.acli.Timeout() }), s.clientAuthDone)
		s.acli.Start()
	}
}

func (s *Session) verify(req *auth.Request) {
	req.Peer = s.cfg.PeerAddr
	v := s.cfg.Verifier
	ctx, cancel := context.WithCancel(s.ctx)
	if prev := s.cancelVerify; prev != nil {
		s.cancelVerify = func() { prev(); cancel() }
	} else {
		s.cancelVerify = cancel
	}
	go func() {
		res, err := v.Verify(ctx, req)
		s.post(func() {
			if s.asrv != nil {
				s.asrv.Complete(res, err)
			}
		})
	}()
}

func (s *Session) serverAuthDone(res *auth.Result) {
	if s.cancelVerify != nil {
		s.cancelVerify()
		s.cancelVerify = nil
	}
	s.user = s.asrv.User()
	if !res.OK {
		if s.hooks.AuthFailed != nil {
			s.hooks.AuthFailed(s.user, s.asrv.Method(), res.Reason)
		}
		s.close("authentication failed", fmt.Errorf("%w: user %q: %s", ErrAuthFailed, s.user, res.Reason))
		return
	}
	s.log.Info("peer authenticated", "user", s.user, "method", s.asrv.Method())
	if s.hooks.Authenticated != nil {
		s.hooks.Authenticated(s.user, s.asrv.Method())
	}
	if res.Addr.IsValid() {
		s.cfg.IPCP.Peer = res.Addr
	}
	if s.hooks.Authorize != nil {
		a, err := s.hooks.Authorize(s.user)
		if err != nil {
			s.close("authorization failed: "+err.Error(), fmt.Errorf("%w: user %q: %v", ErrAuthFailed, s.user, err))
			return
		}
		s.authorize(a)
	}
	s.ipcp.SetConfig(s.cfg.IPCP)
	if res.HasKeys {
		s.keys.send, s.keys.recv, s.haveKeys = res.SendKey, res.RecvKey, true
	}
	s.enterNetwork()
}

// authorize applies a back-end's decisions before the network phase.
func (s *Session) authorize(a Authorization) {
	for i := range 2 {
		if a.DNS[i].IsValid() {
			s.cfg.IPCP.DNS[i] = a.DNS[i]
		}
		if a.NBNS[i].IsValid() {
			s.cfg.IPCP.NBNS[i] = a.NBNS[i]
		}
	}
	if a.MPPE != nil {
		s.cfg.MPPE = *a.MPPE
		s.ccp.SetConfig(s.cfg.MPPE)
	}
}

func (s *Session) clientAuthDone(res auth.ClientResult) {
	if !res.OK {
		if s.hooks.AuthFailed != nil {
			s.hooks.AuthFailed(s.cfg.User, s.lcpRes.PeerAuth, res.Reason)
		}
		s.close(res.Reason, ErrAuthFailed)
		return
	}
	s.log.Info("authenticated to peer", "method", s.lcpRes.PeerAuth)
	if res.HasKeys {
		s.keys.send, s.keys.recv, s.haveKeys = res.SendKey, res.RecvKey, true
	}
	s.enterNetwork()
}

// enterNetwork starts the network phase: CCP first when MPPE is on, and
// IPCP at once unless MPPE is required (then after CCP, as pppd does).
func (s *Session) enterNetwork() {
	s.network = true
	if s.cfg.MPPE.Enabled() {
		if !s.haveKeys {
			if s.cfg.MPPE.Required {
				s.close("MPPE required but the authentication method gives no keys (MS-CHAP or MS-CHAP-v2 needed)", ErrMPPE)
				return
			}
			// MPPE was only allowed: go on without it.
			s.cfg.MPPE = ccp.Config{}
			s.ccp.SetConfig(s.cfg.MPPE)
		}
	}
	s.ccp.Open()
	s.ccp.Up()
	if !s.cfg.MPPE.Required {
		s.startIPCP()
	}
}

func (s *Session) startIPCP() {
	s.startIPV6CP()
	if s.ipcp.State() != ppp.Initial {
		return
	}
	s.ipcp.Open()
	s.ipcp.Up()
}

// startIPV6CP starts IPV6CP, when on, at the time IPCP starts.
func (s *Session) startIPV6CP() {
	if s.ipv6 == nil || s.ipv6.State() != ppp.Initial {
		return
	}
	s.ipv6.Open()
	s.ipv6.Up()
}

func (s *Session) ccpUp(r ccp.Result) {
	s.ccpOpen = true
	s.info.MPPE = r
	if err := s.link.SetMPPE(r.Send, r.Recv, s.keys.send, s.keys.recv); err != nil {
		s.close("MPPE set-up failed: "+err.Error(), ErrMPPE)
		return
	}
	s.log.Debug("CCP up", "send", r.Send, "recv", r.Recv)
	s.startIPCP()
	s.maybeDataUp()
	s.maybeData6Up()
}

func (s *Session) ccpDown() {
	s.ccpOpen = false
	s.dataDown()
	s.data6Down()
	s.link.SetMPPE(ccp.Direction{}, ccp.Direction{}, [16]byte{}, [16]byte{})
}

func (s *Session) ipcpUp(r ipcp.Result) {
	s.ipcpOpen = true
	s.info.Local, s.info.Peer, s.info.DNS = r.Local, r.Peer, r.DNS
	s.maybeDataUp()
}

func (s *Session) ipcpDown() {
	s.ipcpOpen = false
	s.dataDown()
}

// maybeDataUp lets IP flow once IPCP is up and, when MPPE is required,
// CCP too: an unencrypted packet must never leave when encryption was
// demanded.
func (s *Session) maybeDataUp() {
	if s.dataUp || !s.ipcpOpen || (s.cfg.MPPE.Required && !s.ccpOpen) {
		return
	}
	s.dataUp = true
	s.upAt = time.Now()
	// The setup deadline is met: its timer goes now rather than sit in
	// every session's memory until it would have fired.
	if s.setupT != nil {
		s.setupT.Stop()
		s.setupT = nil
	}
	s.info.User = s.user
	s.info.PeerMRU = s.lcpRes.PeerMRU
	if s.cfg.Role == Server {
		s.info.Auth = s.lcpRes.Auth
	} else {
		s.info.Auth = s.lcpRes.PeerAuth
	}
	s.link.SetNetwork(true, s.info.Local, s.info.Peer)
	if s.hooks.Up != nil {
		s.hooks.Up(s.info)
	}
}

func (s *Session) dataDown() {
	if s.dataUp {
		s.dataUp = false
		s.link.SetNetwork(false, s.info.Local, s.info.Peer)
	}
}

func (s *Session) ipv6Up(r ipv6cp.Result) {
	s.ipv6Open = true
	s.ipv6Res = r
	s.log.Debug("IPV6CP up", "local", r.Local.LinkLocal(), "peer", r.Peer.LinkLocal())
	s.maybeData6Up()
}

func (s *Session) ipv6Down() {
	s.ipv6Open = false
	s.data6Down()
}

// maybeData6Up is maybeDataUp for IPv6, independent of IPv4: either may
// come up without the other.
func (s *Session) maybeData6Up() {
	if s.data6Up || !s.ipv6Open || (s.cfg.MPPE.Required && !s.ccpOpen) {
		return
	}
	s.data6Up = true
	s.link6.SetNetwork6(true, s.ipv6Res.Local, s.ipv6Res.Peer)
}

func (s *Session) data6Down() {
	if s.data6Up {
		s.data6Up = false
		s.link6.SetNetwork6(false, s.ipv6Res.Local, s.ipv6Res.Peer)
	}
}

func (s *Session) teardownData() {
	s.dataDown()
	s.data6Down()
}

func (s *Session) ncpFinished(name string) func(string) {
	return func(reason string) {
		s.log.Debug(name+" finished", "reason", reason)
		if name == "IPCP" && s.lcp.IsOpened() {
			s.close("IPCP failed: "+reason, errors.New("IP negotiation failed"))
		}
	}
}

func (s *Session) lcpDown() {
	s.dataDown()
	if s.asrv != nil {
		s.asrv.Stop()
	}
	if s.acli != nil {
		s.acli.Stop()
	}
	s.ipcp.Down()
	s.ccp.Down()
	s.ipcp.Close("LCP down")
	s.ccp.Close("LCP down")
	if s.ipv6 != nil {
		s.ipv6.Down()
		s.ipv6.Close("LCP down")
	}
	s.network = false
}

func (s *Session) lcpFinished(reason string) {
	s.log.Debug("LCP finished", "reason", reason)
	s.endReason = reason
	if s.endErr == nil && s.lcp.State() == ppp.Stopped && reason == "negotiation timed out" {
		s.endErr = errors.New("LCP negotiation timed out")
	}
	s.done = true
}

func (s *Session) protocolRejected(p ppp.Protocol) {
	switch p {
	case ppp.ProtoIPCP:
		s.ipcp.ProtocolRejected()
	case ppp.ProtoCCP:
		s.ccp.ProtocolRejected()
	case ppp.ProtoIPV6CP:
		// The peer does not speak IPv6: IPv4 goes on alone.
		if s.ipv6 != nil {
			s.log.Info("peer rejected IPV6CP: no IPv6 on this link")
			s.ipv6.ProtocolRejected()
		}
	default:
		s.log.Debug("peer rejected protocol", "proto", p)
	}
}

// EndReason says why the link ended once Run has returned: the reason
// carried by the LCP Terminate-Request (ours or the peer's, prefixed
// "peer: "), or what failed.
func (s *Session) EndReason() string {
	if s.endErr != nil {
		return s.endErr.Error()
	}
	if s.endReason != "" {
		return s.endReason
	}
	return s.peerReason
}

// User is the name the peer authenticated with (server) or we did
// (client); empty before authentication. Read it once Run has returned.
func (s *Session) User() string { return s.user }

// Info returns the session's description; meaningful once Up has run.
func (s *Session) Info() Info { return s.info }

// DroppedControl returns how many control frames were dropped because the
// session's queue was full.
func (s *Session) DroppedControl() uint64 { return s.dropped.Load() }

// timer is a ppp.Timer whose expiry runs fn on the session goroutine. A
// generation number discards expiries that raced with Stop or Start.
type timer struct {
	s   *Session
	fn  func()
	t   *time.Timer
	gen uint64
}

func (s *Session) newTimer(fn func()) *timer {
	t := &timer{s: s, fn: fn}
	s.timrs = append(s.timrs, t)
	return t
}

func (t *timer) Start(d time.Duration) {
	t.Stop()
	t.gen++
	gen := t.gen
	t.t = time.AfterFunc(d, func() {
		t.s.post(func() {
			if t.gen == gen {
				t.t = nil
				t.fn()
			}
		})
	})
}

func (t *timer) Stop() {
	if t.t != nil {
		t.t.Stop()
		t.t = nil
	}
	t.gen++
}

func (s *Session) stopTimers() {
	for _, t := range s.timrs {
		t.Stop()
	}
}
