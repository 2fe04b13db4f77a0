// Package client is the PPTP client (the PNS of RFC 2637): it opens a
// control connection to a server, places an outgoing call, runs the PPP
// session over GRE, and brings up a TUN interface with the negotiated
// addresses, like pptp-linux and pppd together.
package client

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
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gopptp/gopptp/config"
	"github.com/gopptp/gopptp/datapath"
	"github.com/gopptp/gopptp/internal/netcfg"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/ccp"
	"github.com/gopptp/gopptp/ppp/ipcp"
	"github.com/gopptp/gopptp/pptp"
	"github.com/gopptp/gopptp/session"
)

// Exit codes, pppd's (see pppd(8), EXIT STATUS), so scripts that check
// them keep working.
const (
	ExitOK             = 0
	ExitFatal          = 1
	ExitOptionError    = 2
	ExitNotRoot        = 3
	ExitUserRequest    = 5
	ExitConnectFailed  = 8
	ExitNegotiation    = 10
	ExitPeerDead       = 15
	ExitHangup         = 16
	ExitAuthToPeerFail = 19
)

// Error is a failure with the exit status it maps to.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func fail(code int, format string, args ...any) error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Config describes one connection.
type Config struct {
	// Server is the server's host name or IPv4 address, with an optional
	// ":port".
	Server   string
	User     string
	Password string
	// Accept lists the authentication methods we agree to perform, by
	// preference.
	Accept []ppp.AuthMethod
	MPPE   ccp.Config

	IfName string // TUN interface name, default ppp0
	// MTU and MRU are pppd's mtu and mru; 0 derives them from the link
	// towards the server (datapath.TunnelMTU).
	MTU, MRU int

	// LocalIP and RemoteIP are pppd's "local:remote": addresses to ask
	// for, the zero Addr to let the server choose.
	LocalIP, RemoteIP netip.Addr
	DefaultRoute      bool
	UsePeerDNS        bool
	// TCPMSSClamp is the MSS clamp (config.MSSClampAuto: the link MTU
	// less 40; 0: off).
	TCPMSSClamp int

	EchoInterval time.Duration
	EchoFailure  int
	FSM          ppp.Config
	// ConnectTimeout bounds reaching the server and placing the call.
	ConnectTimeout time.Duration
	// GREWait is how long after placing the call we wait for the first
	// GRE packet before declaring GRE blocked (default 10 s).
	GREWait time.Duration

	Log *slog.Logger
}

// recvWindow is the Packet Recv. Window Size we announce: large, as
// Windows RRAS does, because our receiver buffers nothing and a small
// window would only throttle peers that honour it.
const recvWindow = 16384

// Client is one PPTP connection.
type Client struct {
	cfg Config
	log *slog.Logger

	// Up is closed when the network phase is up; Info then describes it.
	Up   chan struct{}
	info atomic.Pointer[session.Info]
}

// New returns a client for cfg.
func New(cfg Config) *Client {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.IfName == "" {
		cfg.IfName = "ppp0"
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 15 * time.Second
	}
	if cfg.GREWait == 0 {
		cfg.GREWait = 10 * time.Second
	}
	return &Client{cfg: cfg, log: cfg.Log, Up: make(chan struct{})}
}

// Info describes the established session; nil before Up is closed.
func (c *Client) Info() *session.Info { return c.info.Load() }

func resolve(server string) (netip.AddrPort, error) {
	host, port := server, pptp.Port
	if h, p, err := net.SplitHostPort(server); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return netip.AddrPort{}, fmt.Errorf("bad port in %q", server)
		}
		host, port = h, n
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if !a.Unmap().Is4() {
			return netip.AddrPort{}, fmt.Errorf("%s: only IPv4 servers are supported", host)
		}
		return netip.AddrPortFrom(a.Unmap(), uint16(port)), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip4", host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("cannot resolve %s: %v", host, err)
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(port)), nil
}

// Run connects, holds the session until ctx ends or the link drops, and
// tears everything down. The error is an *Error carrying pppd's exit code,
// or nil after a teardown we asked for.
func (c *Client) Run(ctx context.Context) error {
	srv, err := resolve(c.cfg.Server)
	if err != nil {
		return fail(ExitConnectFailed, "server unreachable: %v", err)
	}
	log := c.log.With("server", srv.Addr().String())
	d := net.Dialer{Timeout: c.cfg.ConnectTimeout}
	nc, err := d.DialContext(ctx, "tcp4", srv.String())
	if err != nil {
		if ctx.Err() != nil {
			return fail(ExitUserRequest, "interrupted while connecting")
		}
		return fail(ExitConnectFailed, "server unreachable: %v", err)
	}
	conn := pptp.NewConn(nc, 0)
	defer conn.Close()

	if err := c.startControl(conn); err != nil {
		return err
	}
	var b [2]byte
	rand.Read(b[:])
	callID := binary.BigEndian.Uint16(b[:]) | 1

	if c.cfg.MTU == 0 || c.cfg.MRU == 0 {
		auto := 1400 // when the link cannot be found, the customary PPTP size
		if lm, err := netcfg.LinkMTU(srv.Addr()); err == nil {
			auto = datapath.TunnelMTU(lm)
		}
		c.cfg.MTU, c.cfg.MRU = cmp.Or(c.cfg.MTU, auto), cmp.Or(c.cfg.MRU, auto)
	}

	// Everything that receives GRE must exist before we ask for the call:
	// the server starts LCP the moment it answers.
	localAP, _ := netip.ParseAddrPort(nc.LocalAddr().String())
	gs, err := datapath.ListenGRE(localAP.Addr().Unmap(), srv.Addr())
	if err != nil {
		return fail(ExitFatal, "%v", err)
	}
	dev, err := datapath.OpenTUN(c.cfg.IfName, c.cfg.MTU)
	if err != nil {
		gs.Close()
		return fail(ExitFatal, "%v", err)
	}
	engine := datapath.NewEngine(datapath.Config{GRE: gs, TUN: dev, DefaultCall: true, Log: log})
	ectx, ecancel := context.WithCancel(context.Background())
	engineDone := make(chan error, 1)
	go func() { engineDone <- engine.Run(ectx) }()
	defer func() {
		ecancel()
		<-engineDone
	}()

	dp, err := engine.AddCall(datapath.CallConfig{LocalID: callID, PeerUnknown: true, Peer: srv.Addr()})
	if err != nil {
		return fail(ExitFatal, "%v", err)
	}
	link := &clientLink{Call: dp, c: c, log: log, server: srv.Addr()}
	scfg := session.Config{
		Role: session.Client, MRU: c.cfg.MRU, EchoInterval: c.cfg.EchoInterval, EchoFailure: c.cfg.EchoFailure,
		FSM: c.cfg.FSM, Accept: c.cfg.Accept, User: c.cfg.User, Password: c.cfg.Password,
		IPCP: ipcp.Config{Local: c.cfg.LocalIP, Peer: c.cfg.RemoteIP, RequestDNS: c.cfg.UsePeerDNS},
		MPPE: c.cfg.MPPE, Log: log, SetupTimeout: 60 * time.Second,
	}
	var authFailed atomic.Bool
	sess := session.New(scfg, link, session.Hooks{
		Up: func(i session.Info) {
			c.info.Store(&i)
			if i.MPPE.Send.On {
				log.Info(fmt.Sprintf("%v enabled", i.MPPE.Send))
			}
			log.Info(fmt.Sprintf("local  IP address %v", i.Local))
			log.Info(fmt.Sprintf("remote IP address %v", i.Peer))
			for n, d := range i.DNS {
				which := "primary"
				if n == 1 {
					which = "secondary"
				}
				log.Info(fmt.Sprintf("%s   DNS address %v", which, d))
			}
			if c.cfg.UsePeerDNS {
				if err := writePeerDNS(i.DNS); err != nil {
					log.Warn("usepeerdns", "err", err)
				}
			}
			close(c.Up)
		},
		AuthFailed: func(string, ppp.AuthMethod, string) { authFailed.Store(true) },
	})
	dp.Attach(sess) // frames arriving from now on wait in its queue

	peerCallID, peerWindow, err := c.placeCall(conn, callID)
	if err != nil {
		return err
	}
	dp.SetPeerCall(peerCallID, peerWindow)
	log.Debug("call placed", "call", callID, "peer_call", peerCallID, "peer_window", peerWindow)

	// The session outlives ctx: on a signal it still has to terminate
	// LCP properly, so it gets its own context.
	sctx, scancel := context.WithCancel(context.Background())
	defer scancel()
	sessDone := make(chan error, 1)
	go func() { sessDone <- sess.Run(sctx) }()

	kctx, kcancel := context.WithCancel(context.Background())
	defer kcancel()
	go conn.Keepalive(kctx)
	ctrl := make(chan pptp.Message, 16)
	ctrlErr := make(chan error, 1)
	go func() {
		for {
			m, err := conn.Read()
			if err != nil {
				if pptp.Recoverable(err) {
					continue
				}
				ctrlErr <- err
				return
			}
			select {
			case ctrl <- m:
			case <-kctx.Done():
				return
			}
		}
	}()

	// A server that answers on TCP but whose GRE never arrives is behind
	// a firewall or NAT that drops IP protocol 47: say so quickly instead
	// of letting LCP time out.
	greWatch := time.NewTimer(c.cfg.GREWait)
	defer greWatch.Stop()

	var runErr error
	userStop := false
loop:
	for {
		select {
		case <-greWatch.C:
			if dp.Stats.RxControl.Load() == 0 && dp.Stats.RxPackets.Load() == 0 {
				scancel()
				<-sessDone
				link.cleanup()
				c.clearCall(conn, callID, ctrl, ctrlErr, log)
				return fail(ExitConnectFailed, "GRE blocked: the control connection to %v works but no GRE (IP protocol 47) packet came back in %v; a firewall or NAT between us drops it", srv.Addr(), c.cfg.GREWait)
			}
		case err := <-sessDone:
			link.cleanup()
			runErr = c.sessionError(err, authFailed.Load(), dp)
			break loop
		case <-ctx.Done():
			userStop = true
			log.Info("terminating on signal")
			sess.Close("User request")
			select {
			case <-sessDone:
			case <-time.After(4 * time.Second):
				scancel()
				<-sessDone
			}
			link.cleanup()
			break loop
		case m := <-ctrl:
			switch m := m.(type) {
			case *pptp.CallDisconnectNotify:
				log.Info("server disconnected the call", "result", m.Result, "reason", m.CallStatistics)
				return c.hangup(sessDone, scancel, link, authFailed.Load(), dp,
					fmt.Sprintf("server disconnected the call (%v)", m.Result))
			case *pptp.StopCtrlConnRequest:
				conn.Send(&pptp.StopCtrlConnReply{Result: pptp.StopOK})
				return c.hangup(sessDone, scancel, link, authFailed.Load(), dp,
					fmt.Sprintf("server closed the control connection (%v)", m.Reason))
			case *pptp.SetLinkInfo:
			default:
				log.Debug("ignoring control message", "type", m.Type())
			}
		case err := <-ctrlErr:
			if errors.Is(err, pptp.ErrEchoTimeout) {
				scancel()
				<-sessDone
				link.cleanup()
				return fail(ExitPeerDead, "server stopped answering on the control connection")
			}
			// pptpd closes the connection when its pppd exits, without a
			// Call-Disconnect-Notify: the session knows why.
			return c.hangup(sessDone, scancel, link, authFailed.Load(), dp,
				fmt.Sprintf("control connection lost: %v", err))
		}
	}
	c.clearCall(conn, callID, ctrl, ctrlErr, log)
	if userStop {
		return nil
	}
	return runErr
}

// hangup ends a session the server hung up on. The server usually hangs
// up because PPP failed (a wrong password, refused encryption), and our
// session knows that reason better than the bare disconnect does: give it
// a moment to finish and prefer its verdict.
func (c *Client) hangup(sessDone <-chan error, cancel context.CancelFunc, link *clientLink, authFailed bool, dp *datapath.Call, why string) error {
	var err error
	select {
	case err = <-sessDone:
	case <-time.After(time.Second):
		cancel()
		err = <-sessDone
	}
	link.cleanup()
	if err != nil && !errors.Is(err, context.Canceled) {
		return c.sessionError(err, authFailed, dp)
	}
	if authFailed {
		return fail(ExitAuthToPeerFail, "authentication failed")
	}
	return fail(ExitHangup, "%s", why)
}

// startControl runs SCCRQ/SCCRP.
func (c *Client) startControl(conn *pptp.Conn) error {
	host, _ := os.Hostname()
	if err := conn.Send(&pptp.StartCtrlConnRequest{ProtocolVersion: pptp.ProtocolVersion,
		FramingCaps: pptp.FramingAny, BearerCaps: pptp.BearerAny, FirmwareRevision: 1,
		HostName: host, VendorName: "gopptp"}); err != nil {
		return fail(ExitConnectFailed, "server unreachable: %v", err)
	}
	m, err := c.await(conn, pptp.TypeStartCtrlConnReply)
	if err != nil {
		return err
	}
	if r := m.(*pptp.StartCtrlConnReply); r.Result != pptp.StartSuccess {
		return fail(ExitConnectFailed, "server refused the control connection: %v (%v)", r.Result, r.ErrorCode)
	}
	return nil
}

// placeCall runs OCRQ/OCRP for callID and returns the server's Call ID and
// receive window.
func (c *Client) placeCall(conn *pptp.Conn, callID uint16) (peerCallID, peerWindow uint16, err error) {
	if err := conn.Send(&pptp.OutgoingCallRequest{CallID: callID, CallSerialNumber: 1,
		MinBPS: 2400, MaxBPS: 1_000_000_000, BearerType: pptp.BearerAny, FramingType: pptp.FramingAny,
		RecvWindowSize: recvWindow}); err != nil {
		return 0, 0, fail(ExitConnectFailed, "control connection lost: %v", err)
	}
	m, err := c.await(conn, pptp.TypeOutgoingCallReply)
	if err != nil {
		return 0, 0, err
	}
	r := m.(*pptp.OutgoingCallReply)
	if r.Result != pptp.OutgoingConnected {
		return 0, 0, fail(ExitConnectFailed, "server refused the call: %v (%v)", r.Result, r.ErrorCode)
	}
	if r.PeerCallID != callID {
		return 0, 0, fail(ExitConnectFailed, "server answered call %d, we placed call %d", r.PeerCallID, callID)
	}
	return r.CallID, r.RecvWindowSize, nil
}

// await reads until a message of type t arrives or the connect timeout
// passes.
func (c *Client) await(conn *pptp.Conn, t pptp.MessageType) (pptp.Message, error) {
	conn.SetReadDeadline(time.Now().Add(c.cfg.ConnectTimeout))
	defer conn.SetReadDeadline(time.Time{})
	for {
		m, err := conn.Read()
		if err != nil {
			if pptp.Recoverable(err) {
				continue
			}
			return nil, fail(ExitConnectFailed, "server unreachable: no %v: %v", t, err)
		}
		if m.Type() == t {
			return m, nil
		}
		if s, ok := m.(*pptp.StopCtrlConnRequest); ok {
			conn.Send(&pptp.StopCtrlConnReply{Result: pptp.StopOK})
			return nil, fail(ExitConnectFailed, "server closed the control connection (%v)", s.Reason)
		}
	}
}

// clearCall ends the call politely: Call-Clear-Request, then
// Stop-Control-Connection-Request, each waiting briefly for its answer.
// msgs and errs come from the connection's one reader goroutine.
func (c *Client) clearCall(conn *pptp.Conn, callID uint16, msgs <-chan pptp.Message, errs <-chan error, log *slog.Logger) {
	await := func(want pptp.MessageType) bool {
		timeout := time.After(2 * time.Second)
		for {
			select {
			case m := <-msgs:
				if m.Type() == want {
					return true
				}
				if _, ok := m.(*pptp.StopCtrlConnRequest); ok {
					conn.Send(&pptp.StopCtrlConnReply{Result: pptp.StopOK})
					return false
				}
			case <-errs:
				return false
			case <-timeout:
				return want == pptp.TypeCallDisconnectNotify // go on to Stop anyway
			}
		}
	}
	if conn.Send(&pptp.CallClearRequest{CallID: callID}) != nil || !await(pptp.TypeCallDisconnectNotify) {
		return
	}
	if conn.Send(&pptp.StopCtrlConnRequest{Reason: pptp.StopNone}) != nil {
		return
	}
	if await(pptp.TypeStopCtrlConnReply) {
		log.Debug("control connection closed")
	}
}

// sessionError turns the end of a session into the error the user sees.
func (c *Client) sessionError(err error, authFailed bool, dp *datapath.Call) error {
	switch {
	case err == nil:
		return fail(ExitHangup, "server terminated the link")
	case authFailed || errors.Is(err, session.ErrAuthFailed):
		return fail(ExitAuthToPeerFail, "%v", err)
	case errors.Is(err, session.ErrMPPE):
		return fail(ExitNegotiation, "%v", err)
	case errors.Is(err, session.ErrPeerDead):
		return fail(ExitPeerDead, "server not responding: %v", err)
	}
	if dp.Stats.RxControl.Load() == 0 && dp.Stats.RxPackets.Load() == 0 {
		return fail(ExitConnectFailed, "GRE blocked: the control connection works but no GRE (IP protocol 47) packet came back from the server; a firewall or NAT between us drops it (%v)", err)
	}
	return fail(ExitNegotiation, "%v", err)
}

// clientLink adds interface configuration to the call's data path.
type clientLink struct {
	*datapath.Call
	c        *Client
	log      *slog.Logger
	server   netip.Addr
	mru      int
	undo     []func() error
	configed bool
}

func (l *clientLink) SetFraming(acfc, pfc bool, peerMRU int) {
	l.mru = peerMRU
	l.Call.SetFraming(acfc, pfc, peerMRU)
}

func (l *clientLink) SetNetwork(up bool, local, peer netip.Addr) {
	if !up {
		l.Call.SetNetwork(false, local, peer)
		return
	}
	cfg := l.c.cfg
	mtu := cfg.MTU
	if l.mru > 0 && l.mru < mtu {
		mtu = l.mru
	}
	l.Call.SetMSSClamp(config.MSSClamp(cfg.TCPMSSClamp, mtu))
	if err := netcfg.AddPointToPoint(cfg.IfName, local, peer); err != nil {
		l.log.Error("configuring interface", "err", err)
	}
	if err := netcfg.Up(cfg.IfName, mtu); err != nil {
		l.log.Error("configuring interface", "err", err)
	}
	l.configed = true
	if cfg.DefaultRoute {
		l.defaultRoute()
	}
	l.Call.SetNetwork(true, local, peer)
}

// defaultRoute does what pppd's defaultroute does, keeping the server
// reachable outside the tunnel.
func (l *clientLink) defaultRoute() {
	ifname := l.c.cfg.IfName
	has, err := netcfg.HasDefaultRoute()
	if err != nil {
		l.log.Warn("defaultroute", "err", err)
		return
	}
	g, err := netcfg.RouteTo(l.server)
	if err == nil && g.Dev != ifname {
		if undo, err := netcfg.AddHostRouteVia(l.server, g); err == nil {
			l.undo = append(l.undo, undo)
		} else {
			l.log.Warn("route to the server", "err", err)
		}
	}
	if has {
		l.log.Warn("not replacing existing default route (pppd's defaultroute does not either)")
		return
	}
	undo, err := netcfg.AddDefaultRoute(ifname)
	if err != nil {
		l.log.Warn("defaultroute", "err", err)
		return
	}
	l.undo = append(l.undo, undo)
	l.log.Info("default route set through " + ifname)
}

// writePeerDNS writes the DNS servers to /etc/ppp/resolv.conf, as pppd's
// usepeerdns does; putting them to use is up to the system's ip-up
// scripts, as with pppd.
func writePeerDNS(dns []netip.Addr) error {
	if len(dns) == 0 {
		return nil
	}
	if _, err := os.Stat("/etc/ppp"); err != nil {
		return nil // no pppd layout on this system: nothing expects the file
	}
	var b strings.Builder
	for _, d := range dns {
		fmt.Fprintf(&b, "nameserver %v\n", d)
	}
	return os.WriteFile("/etc/ppp/resolv.conf", []byte(b.String()), 0o644)
}

func (l *clientLink) cleanup() {
	for i := len(l.undo) - 1; i >= 0; i-- {
		if err := l.undo[i](); err != nil {
			l.log.Debug("undo route", "err", err)
		}
	}
	l.undo = nil
}
