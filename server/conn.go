package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopptp/gopptp/datapath"
	"github.com/gopptp/gopptp/pptp"
	"github.com/gopptp/gopptp/radius"
	"github.com/gopptp/gopptp/session"
)

// call is one active call of a control connection.
type call struct {
	id, peerID uint16
	peer       netip.Addr
	local      netip.Addr // our address on the control connection
	cfg        *Config    // the configuration when the call was admitted
	dp         *datapath.Call
	sess       *session.Session
	lease      Lease
	claimMu    sync.Mutex // guards pool, claimed, released, pool6 and prefix6
	pool       *Pool      // where lease came from (or the pool that took it over on reload)
	claimed    netip.Addr // an address assigned by the back-end, if any
	released   bool
	// pool6 is the ipv6-prefix pool the session's /64 comes from, or is
	// kept out of (RADIUS), and prefix6 the /64 it holds there while
	// IPV6CP is up. Like pool, pool6 is the one that took the /64 over
	// on a reload, so that the /64 goes back where it is marked in use.
	pool6       *Pool6
	prefix6     netip.Prefix
	negotiating atomic.Bool
	cancel      context.CancelFunc
	done        chan error
	start       time.Time
	incoming    bool // the peer is the PAC (Incoming-Call-Request): we clear with CCRQ
	user        atomic.Pointer[string]
	upInfo      atomic.Pointer[session.Info]
	log         *slog.Logger
	// radius is the call's RADIUS state (nil without RADIUS); radiusRec
	// describes the session once it is up.
	radius    *radiusCall
	radiusRec atomic.Pointer[radius.Record]
	// cause is why the session ended (a radius.TerminateCause), set by
	// whoever ends it first.
	cause  atomic.Uint32
	timers callTimers
	// v6 is the session's IPv6 prefixes while IPV6CP is up (pptpctl,
	// and the check that a RADIUS-assigned /64 is not used twice).
	v6 atomic.Pointer[v6Info]
}

// serveConn runs one control connection (PAC side).
func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	if cc := s.establish(ctx, nc); cc != nil {
		defer cc.c.Close()
		cc.serve()
	}
}

// establish admits a control connection and answers its
// Start-Control-Connection-Request; it returns nil, the connection closed,
// when that fails. It is a function of its own so that its frame is off
// the stack of the goroutine that then waits on the connection for as long
// as the session lasts.
//
//go:noinline
func (s *Server) establish(ctx context.Context, nc net.Conn) *ctrl {
	peerAP, _ := netip.ParseAddrPort(nc.RemoteAddr().String())
	peer := peerAP.Addr().Unmap()
	log := slog.New(&lazyAttrs{h: s.log.Handler(), attrs: []slog.Attr{slog.String("peer", peer.String())}})
	if ok, key, why := s.guard.admitConn(peer, time.Now()); !ok {
		bump(&s.count.refused, key, 1)
		log.Debug("control connection refused", "reason", why)
		nc.Close()
		return nil
	}
	halfOpen := true
	defer func() {
		if halfOpen {
			s.guard.established(peer)
		}
	}()
	c := pptp.NewConn(nc, 0)
	fail := func() *ctrl {
		c.Close()
		return nil
	}

	c.SetReadDeadline(time.Now().Add(s.conf().StartTimeout))
	m, err := c.Read()
	if err != nil {
		log.Info("control connection closed before Start-Control-Connection-Request", "err", err)
		return fail()
	}
	c.SetReadDeadline(time.Time{})
	rq, ok := m.(*pptp.StartCtrlConnRequest)
	if !ok {
		log.Warn("first control message is not Start-Control-Connection-Request", "type", m.Type())
		s.answerNotConnected(c, m)
		return fail()
	}
	if rq.ProtocolVersion != pptp.ProtocolVersion {
		c.Send(&pptp.StartCtrlConnReply{ProtocolVersion: pptp.ProtocolVersion, Result: pptp.StartVersionUnsupported})
		log.Warn("unsupported PPTP protocol version", "version", fmt.Sprintf("%#04x", rq.ProtocolVersion))
		return fail()
	}
	if err := c.Send(s.startReply(pptp.StartSuccess)); err != nil {
		log.Info("control connection failed", "err", err)
		return fail()
	}
	halfOpen = false
	s.guard.established(peer)
	log.Debug("control connection established", "host", rq.HostName, "vendor", rq.VendorName)
	return &ctrl{s: s, ctx: ctx, c: c, log: log, peer: peer}
}

// ctrl is an established control connection. One goroutine, the one that
// accepted it, reads and handles its messages; the goroutine of its call's
// session reports the end of the call itself, and a shutdown of the server
// is handled by a goroutine started only then. The echo keepalive runs on
// a timer. An idle session thus costs two goroutines, its connection's and
// its session's, where a goroutine per concern would cost four.
type ctrl struct {
	s    *Server
	ctx  context.Context // the server's: its end shuts the connection down
	c    *pptp.Conn
	log  *slog.Logger
	peer netip.Addr

	// mu guards what follows and serialises the handling of events (a
	// message, the end of the call, the shutdown), so each sees the
	// connection as the one before left it.
	mu       sync.Mutex
	cl       *call // the call, once placed
	pending  *call // an incoming call waiting for its Incoming-Call-Connected
	stopping bool  // we sent Stop-Control-Connection-Request
	over     bool  // the reading goroutine is done with the connection

	// calls counts the goroutines of sessions that may still report their
	// end, so that serve returns only once nothing refers to cc.
	calls sync.WaitGroup
}

// serve reads and handles messages until the connection ends.
func (cc *ctrl) serve() {
	stopKeepalive := cc.c.StartKeepalive()
	defer stopKeepalive()
	shutdownDone := make(chan struct{})
	stopShutdown := context.AfterFunc(cc.ctx, func() {
		defer close(shutdownDone)
		cc.shutdown()
	})
	defer func() {
		if !stopShutdown() {
			<-shutdownDone
		}
		cc.calls.Wait()
	}()
	for {
		m, err := cc.c.Read()
		cc.mu.Lock()
		done := cc.handle(m, err)
		if done {
			cc.over = true
			if cc.pending != nil {
				cc.s.unadmit(cc.pending)
				cc.pending = nil
			}
		}
		cc.mu.Unlock()
		if done {
			return
		}
	}
}

// handle acts on what one Read returned, with cc.mu held, and reports
// whether the connection is finished.
func (cc *ctrl) handle(m pptp.Message, err error) bool {
	s, c, log := cc.s, cc.c, cc.log
	if err != nil {
		if pptp.Recoverable(err) {
			log.Warn("ignoring bad control message", "err", err)
			return false
		}
		// After our Stop-Control-Connection-Request the end of the
		// connection (or of the read deadline we set then) is expected.
		if !cc.stopping {
			log.Info("control connection closed", "err", err)
		}
		s.endCall(cc.cl, log, "control connection closed", radius.CauseLostCarrier)
		cc.cl = nil
		return true
	}
	switch m := m.(type) {
	case *pptp.OutgoingCallRequest:
		if cc.stopping {
			return false
		}
		if cc.cl != nil || cc.pending != nil {
			c.Send(&pptp.OutgoingCallReply{PeerCallID: m.CallID, Result: pptp.OutgoingGeneralError, ErrorCode: pptp.ErrorCodeNoResource})
			log.Warn("refused a second call on one control connection")
			return false
		}
		cc.calls.Add(1)
		cc.cl = s.startCall(cc.ctx, c, m, cc.peer, log, cc.callFinished)
		if cc.cl == nil {
			cc.calls.Done()
		}
	case *pptp.CallClearRequest:
		if cc.pending != nil && m.CallID == cc.pending.peerID {
			c.Send(&pptp.CallDisconnectNotify{CallID: cc.pending.id, Result: pptp.DisconnectRequest})
			s.unadmit(cc.pending)
			cc.pending = nil
			return false
		}
		if cl := cc.cl; cl != nil && m.CallID == cl.peerID {
			log.Debug("peer cleared the call")
			s.endCall(cl, log, "call cleared by peer", radius.CauseUserRequest)
			c.Send(&pptp.CallDisconnectNotify{CallID: cl.id, Result: pptp.DisconnectRequest})
			cc.cl = nil
		}
	case *pptp.StopCtrlConnRequest:
		c.Send(&pptp.StopCtrlConnReply{Result: pptp.StopOK})
		s.endCall(cc.cl, log, "control connection stopped by peer", radius.CauseUserRequest)
		cc.cl = nil
		return true
	case *pptp.StopCtrlConnReply:
		if cc.stopping {
			return true
		}
	case *pptp.StartCtrlConnRequest:
		c.Send(s.startReply(pptp.StartChannelExists))
	case *pptp.SetLinkInfo:
		log.Debug("Set-Link-Info", "send_accm", fmt.Sprintf("%#08x", m.SendACCM), "recv_accm", fmt.Sprintf("%#08x", m.RecvACCM))
	case *pptp.IncomingCallRequest:
		if cc.stopping {
			return false
		}
		if cc.cl != nil || cc.pending != nil {
			c.Send(&pptp.IncomingCallReply{PeerCallID: m.CallID, Result: pptp.IncomingGeneralError, ErrorCode: pptp.ErrorCodeNoResource})
			log.Warn("refused a second call on one control connection")
			return false
		}
		cc.pending = s.acceptIncoming(c, m, cc.peer, log)
	case *pptp.IncomingCallConnected:
		if cc.pending == nil || m.PeerCallID != cc.pending.id {
			log.Debug("Incoming-Call-Connected for no call we accepted", "call", m.PeerCallID)
			return false
		}
		cc.calls.Add(1)
		if err := s.connectIncoming(cc.ctx, cc.pending, m, cc.peer, log, cc.callFinished); err != nil {
			cc.calls.Done()
			log.Warn("incoming call failed", "err", err)
			c.Send(&pptp.CallDisconnectNotify{CallID: cc.pending.id, Result: pptp.DisconnectGeneralError, ErrorCode: pptp.ErrorCodeNoResource})
		} else {
			cc.cl = cc.pending
		}
		cc.pending = nil
	case *pptp.CallDisconnectNotify:
		// A PAC peer (incoming call) hangs up.
		if cl := cc.cl; cl != nil && cl.incoming && m.CallID == cl.peerID {
			log.Debug("peer disconnected the call", "result", m.Result)
			s.endCall(cl, log, "call disconnected by peer", radius.CauseUserRequest)
			cc.cl = nil
		}
	case *pptp.IncomingCallReply:
		// We never send Incoming-Call-Request, so there is no
		// call for this to answer.
		log.Debug("ignoring unexpected message", "type", m.Type())
	default:
		log.Debug("ignoring unexpected message", "type", m.Type())
	}
	return false
}

// callFinished runs on the goroutine of cl's session once Run has
// returned (and sent its result on cl.done). Unless the call was already
// ended from outside (endCall, which consumes cl.done), it frees the call,
// tells the peer, and closes the control connection as poptop does: one
// call per connection.
func (cc *ctrl) callFinished(cl *call) {
	defer cc.calls.Done()
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.cl != cl {
		return
	}
	cc.cl = nil
	reason := cc.s.callEnded(cl, <-cl.done, cc.log)
	if cl.incoming {
		cc.c.Send(&pptp.CallClearRequest{CallID: cl.id})
	} else {
		cc.c.Send(&pptp.CallDisconnectNotify{CallID: cl.id, Result: pptp.DisconnectAdminShutdown, CallStatistics: reason})
	}
	if cc.over {
		return
	}
	cc.c.Send(&pptp.StopCtrlConnRequest{Reason: pptp.StopNone})
	cc.stopping = true
	// The peer has this long to answer before the connection is closed
	// anyway: the read then fails and ends serve.
	cc.c.SetReadDeadline(time.Now().Add(3 * time.Second))
}

// shutdown runs when the server's context ends: it terminates the call's
// session (PPP first, then the call), sends Stop-Control-Connection-Request
// and closes the connection, which ends serve.
func (cc *ctrl) shutdown() {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.over {
		return
	}
	s, c, log := cc.s, cc.c, cc.log
	if cl := cc.cl; cl != nil {
		cc.cl = nil
		cl.setCause(radius.CauseAdminReboot)
		cl.sess.Close("server shutting down")
		select {
		case err := <-cl.done:
			s.callEnded(cl, err, log)
		case <-time.After(4 * time.Second):
			s.endCall(cl, log, "server shutting down", radius.CauseAdminReboot)
		}
		if cl.incoming {
			c.Send(&pptp.CallClearRequest{CallID: cl.id})
		} else {
			c.Send(&pptp.CallDisconnectNotify{CallID: cl.id, Result: pptp.DisconnectAdminShutdown, CallStatistics: "server shutting down"})
		}
	}
	c.Send(&pptp.StopCtrlConnRequest{Reason: pptp.StopLocalShutdown})
	cc.stopping = true
	c.Close()
}

func (s *Server) startReply(r pptp.StartResult) *pptp.StartCtrlConnReply {
	return &pptp.StartCtrlConnReply{
		ProtocolVersion: pptp.ProtocolVersion, Result: r,
		FramingCaps: pptp.FramingAny, BearerCaps: pptp.BearerAny,
		MaxChannels: uint16(min(s.conf().MaxSessions, 65535)), FirmwareRevision: 1,
		HostName: s.conf().Name, VendorName: "gopptp",
	}
}

// answerNotConnected gives a message that needs a control connection the
// reply RFC 2637 prescribes when there is none (General Error,
// Not-Connected).
func (s *Server) answerNotConnected(c *pptp.Conn, m pptp.Message) {
	switch m := m.(type) {
	case *pptp.OutgoingCallRequest:
		c.Send(&pptp.OutgoingCallReply{PeerCallID: m.CallID, Result: pptp.OutgoingGeneralError, ErrorCode: pptp.ErrorCodeNotConnected})
	case *pptp.EchoRequest:
		c.Send(&pptp.EchoReply{Identifier: m.Identifier, Result: pptp.EchoGeneralError, ErrorCode: pptp.ErrorCodeNotConnected})
	case *pptp.StopCtrlConnRequest:
		c.Send(&pptp.StopCtrlConnReply{Result: pptp.StopGeneralError, ErrorCode: pptp.ErrorCodeNotConnected})
	}
}

// lazyAttrs is a slog.Handler that adds its attributes to each record as
// it is handled, where Logger.With formats them once into a copy of the
// handler. The loggers of a connection and of its call live as long as the
// session and log a handful of lines; With's copies cost every session
// several hundred bytes of memory for its whole life. The output is the
// same: the attributes come first, then the record's own.
type lazyAttrs struct {
	h     slog.Handler
	attrs []slog.Attr
}

func (l *lazyAttrs) Enabled(ctx context.Context, level slog.Level) bool {
	return l.h.Enabled(ctx, level)
}

func (l *lazyAttrs) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	nr.AddAttrs(l.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(a)
		return true
	})
	return l.h.Handle(ctx, nr)
}

func (l *lazyAttrs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &lazyAttrs{h: l.h, attrs: append(l.attrs[:len(l.attrs):len(l.attrs)], attrs...)}
}

// WithGroup puts the attributes outside the group, as With followed by
// WithGroup would.
func (l *lazyAttrs) WithGroup(name string) slog.Handler {
	return l.h.WithAttrs(l.attrs).WithGroup(name)
}
