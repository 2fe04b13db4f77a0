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
	id, peerID  uint16
	peer        netip.Addr
	local       netip.Addr // our address on the control connection
	cfg         *Config    // the configuration when the call was admitted
	dp          *datapath.Call
	sess        *session.Session
	lease       Lease
	claimMu     sync.Mutex // guards pool, claimed and released
	pool        *Pool      // where lease came from (or the pool that took it over on reload)
	claimed     netip.Addr // an address assigned by the back-end, if any
	released    bool
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
}

type readResult struct {
	m   pptp.Message
	err error
}

// serveConn runs one control connection (PAC side).
func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	peerAP, _ := netip.ParseAddrPort(nc.RemoteAddr().String())
	peer := peerAP.Addr().Unmap()
	log := s.log.With("peer", peer.String())
	if ok, key, why := s.guard.admitConn(peer, time.Now()); !ok {
		bump(&s.count.refused, key, 1)
		log.Debug("control connection refused", "reason", why)
		nc.Close()
		return
	}
	halfOpen := true
	defer func() {
		if halfOpen {
			s.guard.established(peer)
		}
	}()
	c := pptp.NewConn(nc, 0)
	defer c.Close()

	c.SetReadDeadline(time.Now().Add(s.conf().StartTimeout))
	m, err := c.Read()
	if err != nil {
		log.Info("control connection closed before Start-Control-Connection-Request", "err", err)
		return
	}
	c.SetReadDeadline(time.Time{})
	rq, ok := m.(*pptp.StartCtrlConnRequest)
	if !ok {
		log.Warn("first control message is not Start-Control-Connection-Request", "type", m.Type())
		s.answerNotConnected(c, m)
		return
	}
	if rq.ProtocolVersion != pptp.ProtocolVersion {
		c.Send(&pptp.StartCtrlConnReply{ProtocolVersion: pptp.ProtocolVersion, Result: pptp.StartVersionUnsupported})
		log.Warn("unsupported PPTP protocol version", "version", fmt.Sprintf("%#04x", rq.ProtocolVersion))
		return
	}
	if err := c.Send(s.startReply(pptp.StartSuccess)); err != nil {
		log.Info("control connection failed", "err", err)
		return
	}
	halfOpen = false
	s.guard.established(peer)
	log.Debug("control connection established", "host", rq.HostName, "vendor", rq.VendorName)

	kctx, kcancel := context.WithCancel(ctx)
	defer kcancel()
	go c.Keepalive(kctx)

	msgs := make(chan readResult)
	go func() {
		for {
			m, err := c.Read()
			select {
			case msgs <- readResult{m, err}:
			case <-kctx.Done():
				return
			}
			if err != nil && !pptp.Recoverable(err) {
				return
			}
		}
	}()

	var cl *call
	var callDone chan error
	var pending *call // an incoming call waiting for its Incoming-Call-Connected
	defer func() {
		if pending != nil {
			s.unadmit(pending)
		}
	}()
	stopping := false // we sent Stop-Control-Connection-Request
	var stopTimer <-chan time.Time
	for {
		select {
		case r := <-msgs:
			if r.err != nil {
				if pptp.Recoverable(r.err) {
					log.Warn("ignoring bad control message", "err", r.err)
					continue
				}
				if !stopping {
					log.Info("control connection closed", "err", r.err)
				}
				s.endCall(cl, log, "control connection closed", radius.CauseLostCarrier)
				return
			}
			switch m := r.m.(type) {
			case *pptp.OutgoingCallRequest:
				if stopping {
					continue
				}
				if cl != nil || pending != nil {
					c.Send(&pptp.OutgoingCallReply{PeerCallID: m.CallID, Result: pptp.OutgoingGeneralError, ErrorCode: pptp.ErrorCodeNoResource})
					log.Warn("refused a second call on one control connection")
					continue
				}
				cl = s.startCall(ctx, c, m, peer, log)
				if cl != nil {
					callDone = cl.done
				}
			case *pptp.CallClearRequest:
				if pending != nil && m.CallID == pending.peerID {
					c.Send(&pptp.CallDisconnectNotify{CallID: pending.id, Result: pptp.DisconnectRequest})
					s.unadmit(pending)
					pending = nil
					continue
				}
				if cl != nil && m.CallID == cl.peerID {
					log.Debug("peer cleared the call")
					s.endCall(cl, log, "call cleared by peer", radius.CauseUserRequest)
					c.Send(&pptp.CallDisconnectNotify{CallID: cl.id, Result: pptp.DisconnectRequest})
					cl, callDone = nil, nil
				}
			case *pptp.StopCtrlConnRequest:
				c.Send(&pptp.StopCtrlConnReply{Result: pptp.StopOK})
				s.endCall(cl, log, "control connection stopped by peer", radius.CauseUserRequest)
				return
			case *pptp.StopCtrlConnReply:
				if stopping {
					return
				}
			case *pptp.StartCtrlConnRequest:
				c.Send(s.startReply(pptp.StartChannelExists))
			case *pptp.SetLinkInfo:
				log.Debug("Set-Link-Info", "send_accm", fmt.Sprintf("%#08x", m.SendACCM), "recv_accm", fmt.Sprintf("%#08x", m.RecvACCM))
			case *pptp.IncomingCallRequest:
				if stopping {
					continue
				}
				if cl != nil || pending != nil {
					c.Send(&pptp.IncomingCallReply{PeerCallID: m.CallID, Result: pptp.IncomingGeneralError, ErrorCode: pptp.ErrorCodeNoResource})
					log.Warn("refused a second call on one control connection")
					continue
				}
				pending = s.acceptIncoming(c, m, peer, log)
			case *pptp.IncomingCallConnected:
				if pending == nil || m.PeerCallID != pending.id {
					log.Debug("Incoming-Call-Connected for no call we accepted", "call", m.PeerCallID)
					continue
				}
				if err := s.connectIncoming(ctx, pending, m, peer, log); err != nil {
					log.Warn("incoming call failed", "err", err)
					c.Send(&pptp.CallDisconnectNotify{CallID: pending.id, Result: pptp.DisconnectGeneralError, ErrorCode: pptp.ErrorCodeNoResource})
				} else {
					cl, callDone = pending, pending.done
				}
				pending = nil
			case *pptp.CallDisconnectNotify:
				// A PAC peer (incoming call) hangs up.
				if cl != nil && cl.incoming && m.CallID == cl.peerID {
					log.Debug("peer disconnected the call", "result", m.Result)
					s.endCall(cl, log, "call disconnected by peer", radius.CauseUserRequest)
					cl, callDone = nil, nil
				}
			case *pptp.IncomingCallReply:
				// We never send Incoming-Call-Request, so there is no
				// call for this to answer.
				log.Debug("ignoring unexpected message", "type", m.Type())
			default:
				log.Debug("ignoring unexpected message", "type", m.Type())
			}
		case err := <-callDone:
			reason := s.callEnded(cl, err, log)
			if cl.incoming {
				c.Send(&pptp.CallClearRequest{CallID: cl.id})
			} else {
				c.Send(&pptp.CallDisconnectNotify{CallID: cl.id, Result: pptp.DisconnectAdminShutdown, CallStatistics: reason})
			}
			cl, callDone = nil, nil
			// One call per control connection, as poptop: close it.
			c.Send(&pptp.StopCtrlConnRequest{Reason: pptp.StopNone})
			stopping = true
			stopTimer = time.After(3 * time.Second)
		case <-stopTimer:
			return
		case <-ctx.Done():
			if cl != nil {
				cl.setCause(radius.CauseAdminReboot)
				cl.sess.Close("server shutting down")
				select {
				case err := <-callDone:
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
			return
		}
	}
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
