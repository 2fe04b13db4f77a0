// Package server is the PPTP access concentrator (the PAC of RFC 2637):
// it accepts control connections on TCP port 1723, answers
// Outgoing-Call-Requests, runs one PPP session per call over a shared GRE
// socket and TUN device, and configures routes for the addresses it hands
// out.
package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopptp/gopptp/config"
	"github.com/gopptp/gopptp/datapath"
	"github.com/gopptp/gopptp/internal/netcfg"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/auth"
	"github.com/gopptp/gopptp/ppp/ccp"
	"github.com/gopptp/gopptp/ppp/ipcp"
	"github.com/gopptp/gopptp/pptp"
	"github.com/gopptp/gopptp/session"
)

// Config is everything the server needs, already parsed and checked.
type Config struct {
	// Listen is the TCP address for control connections ("ip:port");
	// the IP also binds the GRE socket when it is not unspecified.
	Listen string
	Pool   *Pool
	// MaxSessions caps concurrent sessions (pptpd.conf connections).
	MaxSessions int
	// StartTimeout is the time a new connection has to send its first
	// message (pptpd.conf stimeout).
	StartTimeout time.Duration
	// TUNName names the shared TUN device.
	TUNName string
	// MTU is the largest IP packet we send into a tunnel (with the peer's
	// MRU, each route's MTU); MRU the largest we ask peers to send us.
	// 0 derives both from the link towards each peer (datapath.TunnelMTU).
	MTU int
	MRU int

	Name     string // our CHAP name (pppd's name)
	Auth     []ppp.AuthMethod
	MPPE     ccp.Config
	DNS      [2]netip.Addr
	NBNS     [2]netip.Addr
	Verifier auth.Verifier
	ProxyARP bool
	// AuthRetries is how many more MS-CHAP attempts a peer gets after a
	// wrong password (auth.DefaultRetries is what Windows servers allow).
	AuthRetries int
	// TCPMSSClamp is the MSS clamp (config.MSSClampAuto: the session's
	// MTU less 40; 0: off).
	TCPMSSClamp int

	EchoInterval time.Duration
	EchoFailure  int
	FSM          ppp.Config

	Log *slog.Logger
}

// Server is a running PPTP server.
type Server struct {
	cfg    Config
	log    *slog.Logger
	engine *datapath.Engine
	ids    *callIDs
	active atomic.Int64
	ln     net.Listener
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[uint16]*call
	locals   map[netip.Addr]int // local tunnel addresses on the TUN device, with users
}

// ourRecvWindow is the Packet Recv. Window Size we announce. Our receiver
// buffers nothing (packets are processed or dropped as they arrive), so
// the window is only flow control; Windows RRAS announces 16384 for the
// same reason, and a small one would throttle peers that honour it on
// any link with a real round-trip time.
const ourRecvWindow = 16384

// New prepares a server; Run starts it.
func New(cfg Config) (*Server, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Verifier == nil {
		return nil, errors.New("server: no authentication back-end")
	}
	if cfg.Pool == nil {
		return nil, errors.New("server: no address pool")
	}
	if cfg.MaxSessions <= 0 || cfg.MaxSessions > cfg.Pool.Size() {
		cfg.MaxSessions = cfg.Pool.Size()
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 10 * time.Second
	}
	if cfg.TUNName == "" {
		cfg.TUNName = "pptp0"
	}
	var seed [2]byte
	rand.Read(seed[:])
	return &Server{cfg: cfg, log: cfg.Log, ids: newCallIDs(binary.BigEndian.Uint16(seed[:])),
		sessions: map[uint16]*call{}, locals: map[netip.Addr]int{}}, nil
}

// Run listens and serves until ctx ends; then every session is torn down
// and Run returns.
func (s *Server) Run(ctx context.Context) error {
	ap, err := netip.ParseAddrPort(s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", s.cfg.Listen, err)
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	gs, err := datapath.ListenGRE(ap.Addr().Unmap(), netip.Addr{})
	if err != nil {
		ln.Close()
		return err
	}
	// The shared device takes the largest packet any session may use;
	// each session's route carries its own MTU.
	devMTU := s.cfg.MTU
	if devMTU == 0 {
		devMTU = 1500
	}
	dev, err := datapath.OpenTUN(s.cfg.TUNName, devMTU)
	if err != nil {
		ln.Close()
		gs.Close()
		return err
	}
	if err := netcfg.Up(s.cfg.TUNName, devMTU); err != nil {
		ln.Close()
		gs.Close()
		dev.Close()
		return err
	}
	s.engine = datapath.NewEngine(datapath.Config{GRE: gs, TUN: dev, CheckSource: true, Log: s.log})
	ectx, ecancel := context.WithCancel(context.Background())
	engineDone := make(chan error, 1)
	go func() { engineDone <- s.engine.Run(ectx) }()

	s.log.Info("pptpd listening", "addr", ln.Addr().String(), "tun", s.cfg.TUNName,
		"auth", fmt.Sprint(s.cfg.Auth), "mppe", describeMPPE(s.cfg.MPPE), "max_sessions", s.cfg.MaxSessions)
	if !netcfg.ForwardingEnabled() {
		s.log.Info("IP forwarding is off on this host: clients reach the server only, not the networks behind it (sysctl net.ipv4.ip_forward=1)")
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.log.Error("accept failed", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, nc)
		}()
	}
	s.wg.Wait()
	ecancel()
	<-engineDone
	return nil
}

// Addr returns the control listener's address once Run is listening.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

func describeMPPE(c ccp.Config) string {
	if !c.Enabled() {
		return "off"
	}
	var s string
	for _, b := range []struct {
		on   bool
		name string
	}{{c.Allow128, "128"}, {c.Allow56, "56"}, {c.Allow40, "40"}} {
		if b.on {
			if s != "" {
				s += ","
			}
			s += b.name
		}
	}
	if c.Required {
		s += " required"
	}
	if c.AllowStateful {
		s += " stateful-allowed"
	}
	return s
}

// call is one active call of a control connection.
type call struct {
	id, peerID uint16
	dp         *datapath.Call
	sess       *session.Session
	lease      Lease
	claimMu    sync.Mutex
	claimed    netip.Addr // an address assigned by the back-end, if any
	released   bool
	cancel     context.CancelFunc
	done       chan error
	start      time.Time
	incoming   bool // the peer is the PAC (Incoming-Call-Request): we clear with CCRQ
	user       atomic.Pointer[string]
	upInfo     atomic.Pointer[session.Info]
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
	c := pptp.NewConn(nc, 0)
	defer c.Close()

	c.SetReadDeadline(time.Now().Add(s.cfg.StartTimeout))
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
				s.endCall(cl, log, "control connection closed")
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
					s.endCall(cl, log, "call cleared by peer")
					c.Send(&pptp.CallDisconnectNotify{CallID: cl.id, Result: pptp.DisconnectRequest})
					cl, callDone = nil, nil
				}
			case *pptp.StopCtrlConnRequest:
				c.Send(&pptp.StopCtrlConnReply{Result: pptp.StopOK})
				s.endCall(cl, log, "control connection stopped by peer")
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
				pending = s.acceptIncoming(c, m, log)
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
					s.endCall(cl, log, "call disconnected by peer")
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
				cl.sess.Close("server shutting down")
				select {
				case err := <-callDone:
					s.callEnded(cl, err, log)
				case <-time.After(4 * time.Second):
					s.endCall(cl, log, "server shutting down")
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
		MaxChannels: uint16(min(s.cfg.MaxSessions, 65535)), FirmwareRevision: 1,
		HostName: s.cfg.Name, VendorName: "gopptp",
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

// admit reserves what a new call needs: a session slot under the cap, a
// pair of tunnel addresses and a Call ID. It returns nil and the reason
// with the RFC's result for a refusal.
func (s *Server) admit(peerCallID uint16) (*call, pptp.ErrorCode, bool, string) {
	if n := s.active.Add(1); int(n) > s.cfg.MaxSessions {
		s.active.Add(-1)
		return nil, pptp.ErrorCodeNone, true, fmt.Sprintf("session limit of %d reached", s.cfg.MaxSessions)
	}
	lease, err := s.cfg.Pool.Acquire()
	if err != nil {
		s.active.Add(-1)
		return nil, pptp.ErrorCodeNoResource, false, err.Error()
	}
	id, ok := s.ids.acquire()
	if !ok {
		s.cfg.Pool.Release(lease)
		s.active.Add(-1)
		return nil, pptp.ErrorCodeNoResource, false, "no free call ID"
	}
	return &call{id: id, peerID: peerCallID, lease: lease, done: make(chan error, 1), start: time.Now()}, 0, false, ""
}

// unadmit undoes admit for a call that never started.
func (s *Server) unadmit(cl *call) {
	s.ids.release(cl.id)
	s.cfg.Pool.Release(cl.lease)
	s.active.Add(-1)
}

// startCall answers an Outgoing-Call-Request (the usual direction: the
// client, as PNS, asks us, the PAC, to place a call). It returns nil when
// the call was refused.
func (s *Server) startCall(ctx context.Context, c *pptp.Conn, rq *pptp.OutgoingCallRequest, peer netip.Addr, log *slog.Logger) *call {
	cl, code, busy, why := s.admit(rq.CallID)
	if cl == nil {
		res := pptp.OutgoingGeneralError
		if busy {
			res = pptp.OutgoingBusy
		}
		c.Send(&pptp.OutgoingCallReply{PeerCallID: rq.CallID, Result: res, ErrorCode: code})
		log.Warn("call refused", "reason", why)
		return nil
	}
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
	s.run(ctx, cl)
	return cl
}

// acceptIncoming answers an Incoming-Call-Request: a peer acting as PAC
// (a LAC-style device) announces a call and we take it as PNS. The PPP
// roles stay the same: we authenticate the peer and assign its address.
// The session starts once the peer sends Incoming-Call-Connected.
func (s *Server) acceptIncoming(c *pptp.Conn, rq *pptp.IncomingCallRequest, log *slog.Logger) *call {
	cl, code, _, why := s.admit(rq.CallID)
	if cl == nil {
		c.Send(&pptp.IncomingCallReply{PeerCallID: rq.CallID, Result: pptp.IncomingGeneralError, ErrorCode: code})
		log.Warn("incoming call refused", "reason", why)
		return nil
	}
	cl.incoming = true
	if err := c.Send(&pptp.IncomingCallReply{CallID: cl.id, PeerCallID: rq.CallID, Result: pptp.IncomingConnect,
		RecvWindowSize: ourRecvWindow}); err != nil {
		s.unadmit(cl)
		return nil
	}
	return cl
}

// connectIncoming starts the session of an accepted incoming call; the
// peer's receive window comes with its Incoming-Call-Connected.
func (s *Server) connectIncoming(ctx context.Context, cl *call, m *pptp.IncomingCallConnected, peer netip.Addr, log *slog.Logger) error {
	if err := s.launch(cl, peer, m.RecvWindowSize, log); err != nil {
		s.unadmit(cl)
		return err
	}
	s.run(ctx, cl)
	return nil
}

// launch registers an admitted call with the data path and builds its
// session.
func (s *Server) launch(cl *call, peer netip.Addr, peerWindow uint16, log *slog.Logger) error {
	dp, err := s.engine.AddCall(datapath.CallConfig{LocalID: cl.id, PeerID: cl.peerID, Peer: peer, PeerWindow: peerWindow})
	if err != nil {
		return err
	}
	cl.dp = dp
	slog := log.With("call", cl.id)
	mtu, mru := s.cfg.MTU, s.cfg.MRU
	if mtu == 0 || mru == 0 {
		auto := 1400 // when the link cannot be found, the customary PPTP size
		if lm, err := netcfg.LinkMTU(peer); err == nil {
			auto = datapath.TunnelMTU(lm)
		}
		mtu, mru = cmp.Or(mtu, auto), cmp.Or(mru, auto)
	}
	link := &sessionLink{Call: dp, srv: s, log: slog, mtu: mtu}
	scfg := session.Config{
		Role: session.Server, Name: s.cfg.Name, MRU: mru,
		EchoInterval: s.cfg.EchoInterval, EchoFailure: s.cfg.EchoFailure, FSM: s.cfg.FSM,
		Require: s.cfg.Auth, Verifier: &claimingVerifier{v: s.cfg.Verifier, pool: s.cfg.Pool, call: cl}, PeerAddr: peer,
		AuthRetries: s.cfg.AuthRetries,
		IPCP:        ipcp.Config{Local: cl.lease.Local, Peer: cl.lease.Remote, DNS: s.cfg.DNS, NBNS: s.cfg.NBNS},
		MPPE:        s.cfg.MPPE, Log: slog,
	}
	hooks := session.Hooks{
		Up: func(i session.Info) {
			cl.upInfo.Store(&i)
			cl.user.Store(&i.User)
			slog.Info("session up", "user", i.User, "auth", i.Auth, "local", i.Local, "remote", i.Peer,
				"mppe_send", i.MPPE.Send, "mppe_recv", i.MPPE.Recv, "setup_ms", time.Since(cl.start).Milliseconds())
		},
		AuthFailed: func(user, reason string) {
			// One line per failure, fixed form, for fail2ban.
			s.log.Warn("login failed", "user", ppp.Printable([]byte(user), 64), "peer", peer.String(), "reason", reason)
		},
	}
	cl.sess = session.New(scfg, link, hooks)
	dp.Attach(cl.sess)
	return nil
}

// run starts a launched call's session.
func (s *Server) run(ctx context.Context, cl *call) {
	// The session outlives the server's context: on shutdown it still
	// terminates LCP with its peer, and is cancelled only if that stalls.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cl.cancel = cancel
	s.mu.Lock()
	s.sessions[cl.id] = cl
	s.mu.Unlock()
	go func() { cl.done <- cl.sess.Run(sctx) }()
}

// callEnded logs the end of a session that stopped on its own and frees its
// resources; it returns the reason for the Call-Disconnect-Notify.
func (s *Server) callEnded(cl *call, err error, log *slog.Logger) string {
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
func (s *Server) endCall(cl *call, log *slog.Logger, reason string) {
	if cl == nil {
		return
	}
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
		"drop_window", st.DropWindow.Load(), "drop_spoof", st.DropSpoof.Load())
}

func (s *Server) releaseCall(cl *call) {
	if cl.cancel != nil {
		cl.cancel()
	}
	s.engine.RemoveCall(cl.dp)
	s.mu.Lock()
	delete(s.sessions, cl.id)
	s.mu.Unlock()
	s.ids.release(cl.id)
	s.cfg.Pool.Release(cl.lease)
	cl.claimMu.Lock()
	if cl.claimed.IsValid() {
		s.cfg.Pool.Unclaim(cl.claimed)
	}
	cl.released = true
	cl.claimMu.Unlock()
	s.active.Add(-1)
}

// Sessions returns the number of active sessions.
func (s *Server) Sessions() int { return int(s.active.Load()) }

// claimingVerifier makes sure an address a back-end assigns to a user is
// not in use by another session before the login succeeds.
type claimingVerifier struct {
	v    auth.Verifier
	pool *Pool
	call *call
}

func (v *claimingVerifier) Verify(ctx context.Context, req *auth.Request) (*auth.Result, error) {
	res, err := v.v.Verify(ctx, req)
	if err != nil || res == nil || !res.OK {
		return res, err
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
	if !v.pool.Claim(res.Addr) {
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
	log   *slog.Logger
	mtu   int // our MTU for the session
	mru   int // the peer's MRU
	route *netcfg.HostRoute
	parp  string
	local netip.Addr
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
	l.Call.SetMSSClamp(config.MSSClamp(s.cfg.TCPMSSClamp, mtu))
	r := netcfg.HostRoute{Dev: s.cfg.TUNName, Dst: peer, Src: local, MTU: mtu}
	if err := r.Add(); err != nil {
		l.log.Error("adding route to the peer", "err", err)
	} else {
		l.route = &r
	}
	if s.cfg.ProxyARP {
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
