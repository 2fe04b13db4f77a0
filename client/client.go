// Package client is the PPTP client (the PNS of RFC 2637): it opens a
// control connection to a server, places an outgoing call, runs the PPP
// session over GRE, and brings up a TUN interface with the negotiated
// addresses, like pptp-linux and pppd together: routes, DNS servers,
// ip-up/ip-down scripts, reconnection (persist) and a status socket.
//
// In rootless mode there is no TUN device: the tunnel's packets go
// through a user-space TCP/IP stack that serves SOCKS5 and HTTP proxies
// into the remote network (package proxy), and only the raw GRE socket
// needs a privilege (CAP_NET_RAW).
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/gopptp/gopptp/config"
	"github.com/gopptp/gopptp/control"
	"github.com/gopptp/gopptp/datapath"
	"github.com/gopptp/gopptp/internal/netcfg"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/ccp"
	"github.com/gopptp/gopptp/ppp/ipcp"
	"github.com/gopptp/gopptp/ppp/ipv6cp"
	"github.com/gopptp/gopptp/pptp"
	"github.com/gopptp/gopptp/proxy"
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
	// Server is the server's host name, IPv4 address or IPv6 address
	// (in brackets when a ":port" follows), with an optional ":port".
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
	// DefaultRoute is pppd's defaultroute: a default route through the
	// tunnel if there is none, with a host route keeping the server
	// outside it. ReplaceDefaultRoute (pppd's replacedefaultroute, a
	// flag to DefaultRoute) overrides an existing default route.
	DefaultRoute, ReplaceDefaultRoute bool
	// Routes are networks routed through the tunnel (our "route").
	Routes []netip.Prefix
	// IPv6 is pppd's +ipv6: negotiate IPV6CP, and configure the
	// addresses and routes the server's router advertisements give.
	// DefaultRoute6 is pppd's defaultroute6 (with ReplaceDefaultRoute
	// as for IPv4).
	IPv6, DefaultRoute6 bool
	// UsePeerDNS is pppd's usepeerdns: ask for the server's DNS servers
	// (IPCP's, and with IPv6 the advertisement's RDNSS) and put them to
	// use as DNS says.
	UsePeerDNS bool
	DNS        DNSConfig
	// Scripts are the ip-up and ip-down scripts.
	Scripts Scripts
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

	// Persist is pppd's persist: connect again after the link drops,
	// Holdoff after it dropped, backing off from there while attempts
	// fail, and giving up after MaxFail failed attempts in a row (0: never).
	Persist bool
	MaxFail int
	Holdoff time.Duration

	// SOCKS5 and HTTPProxy are listen addresses for the rootless mode:
	// with any of them there is no TUN device, and the tunnel's traffic
	// goes through a user-space TCP/IP stack that serves these proxies.
	SOCKS5, HTTPProxy []string

	// Name names the link in the status view (pppd's linkname, or what
	// stands for it).
	Name string
	// ControlSocket is where status requests are answered; empty for
	// none.
	ControlSocket string

	Log *slog.Logger
}

// proxyMode reports whether the client runs rootless, serving proxies.
func (c *Config) proxyMode() bool { return len(c.SOCKS5) > 0 || len(c.HTTPProxy) > 0 }

// recvWindow is the Packet Recv. Window Size we announce: large, as
// Windows RRAS does, because our receiver buffers nothing and a small
// window would only throttle peers that honour it.
const recvWindow = 16384

// maxBackoff bounds the wait between failed attempts (unless holdoff is
// longer).
const maxBackoff = 2 * time.Minute

// Client is one PPTP connection, reconnected while Persist says so.
type Client struct {
	cfg Config
	log *slog.Logger

	// Up is closed when the network phase is first up; Info then
	// describes it.
	Up     chan struct{}
	upOnce sync.Once
	info   atomic.Pointer[session.Info]

	track   *tracker
	hangup  chan struct{}
	proxies []proxyServer
	// pins records the host routes to the server outside the tunnel.
	pins *pinState
}

// New returns a client for cfg.
func New(cfg Config) *Client {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.IfName == "" {
		cfg.IfName = "ppp0"
	}
	if cfg.Name == "" {
		cfg.Name = cfg.IfName
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 15 * time.Second
	}
	if cfg.GREWait == 0 {
		cfg.GREWait = 10 * time.Second
	}
	if cfg.DNS.ResolvConf == "" {
		cfg.DNS.ResolvConf = DefaultResolvConf
	}
	if cfg.DNS.Resolvectl == "" {
		cfg.DNS.Resolvectl = "resolvectl"
	}
	return &Client{cfg: cfg, log: cfg.Log, Up: make(chan struct{}), track: newTracker(&cfg), hangup: make(chan struct{}, 1),
		pins: newPinState(cfg.DNS.ResolvConf, cfg.Name, cfg.Log)}
}

// Info describes the current or last session; nil before Up is closed.
func (c *Client) Info() *session.Info { return c.info.Load() }

// Hangup ends the current session as pppd's SIGHUP does: Run connects
// again (after the hold-off) when Persist is set, and returns with
// ExitHangup otherwise. A hang-up while waiting to reconnect cuts the
// wait short.
func (c *Client) Hangup() {
	select {
	case c.hangup <- struct{}{}:
	default:
	}
}

func resolve(ctx context.Context, server, network string) (netip.AddrPort, error) {
	host, port := server, pptp.Port
	if h, p, err := net.SplitHostPort(server); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return netip.AddrPort{}, fmt.Errorf("bad port in %q", server)
		}
		host, port = h, n
	}
	// "[2001:db8::1]" without a port is an IPv6 address too.
	if len(host) > 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if a.Zone() != "" {
			// The GRE socket would need the zone's scope ID.
			return netip.AddrPort{}, fmt.Errorf("%s: link-local servers are not supported", host)
		}
		if (network == "ip4" && !a.Is4()) || (network == "ip6" && !a.Is6()) {
			return netip.AddrPort{}, fmt.Errorf("%s is not an %s address", host, map[string]string{"ip4": "IPv4", "ip6": "IPv6"}[network])
		}
		return netip.AddrPortFrom(a, uint16(port)), nil
	}
	// The first address is the one the resolver prefers: Go's sorts
	// A and AAAA records by RFC 6724 as getaddrinfo does, which puts
	// addresses the host has no route to last.
	ips, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("cannot resolve %s: %v", host, err)
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(port)), nil
}

// Run connects, holds the session until ctx ends or the link drops, and
// tears everything down; with Persist it connects again after a drop.
// The error is an *Error carrying pppd's exit code, or nil after a
// teardown we asked for.
func (c *Client) Run(ctx context.Context) error {
	if !c.cfg.proxyMode() {
		// A client killed while its DNS servers were in resolv.conf
		// left the original in a backup: put it back first.
		rc := newResolvConf(c.cfg.DNS.ResolvConf, c.cfg.Name, c.log)
		if err := rc.recoverStale(); err != nil {
			c.log.Warn("usepeerdns: restoring the original resolv.conf", "err", err)
		}
		// Its host route to the server outlived it too (it goes
		// through eth0 or wlan0, not the tunnel device), and would
		// stay for good: the next pin finds it in place and leaves it.
		if err := c.pins.recoverStale(); err != nil {
			c.log.Warn("removing the route to the server a killed pptp left", "err", err)
		}
	} else {
		ps, err := openProxies(&c.cfg, c.log)
		if err != nil {
			return fail(ExitFatal, "%v", err)
		}
		c.proxies = ps
		defer func() {
			for _, p := range ps {
				p.ln.Close()
			}
		}()
	}
	if c.cfg.ControlSocket != "" {
		ln, err := control.ListenClient(c.cfg.ControlSocket)
		if err != nil {
			c.log.Warn("no status socket", "err", err)
		} else {
			cctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				defer close(done)
				c.serveControl(cctx, ln)
			}()
			defer func() {
				cancel()
				<-done
			}()
		}
	}

	failures := 0
	for {
		c.track.connecting()
		wasUp, err := c.attempt(ctx)
		if err == nil || ctx.Err() != nil {
			c.track.stopping()
			return err
		}
		if wasUp {
			failures = 0
		} else {
			failures++
		}
		c.track.ended(err, failures)
		if !c.cfg.Persist {
			return err
		}
		if !retryable(err) {
			c.log.Error("not reconnecting after this error")
			return err
		}
		if c.cfg.MaxFail > 0 && failures >= c.cfg.MaxFail {
			c.log.Error(fmt.Sprintf("giving up after %d failed attempts in a row (maxfail %d)", failures, c.cfg.MaxFail), "err", err)
			return err
		}
		delay := retryDelay(c.cfg.Holdoff, failures)
		c.log.Warn("reconnecting", "reason", err.Error(), "in", delay, "failed_attempts", failures)
		c.track.waiting(time.Now().Add(delay))
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-c.hangup:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			c.track.stopping()
			return nil
		}
	}
}

// retryable reports whether persist should try again after err: not
// after a configuration or system error, which would only repeat, nor
// after a failed login, which retrying would turn into password guessing
// that locks the account out.
func retryable(err error) bool {
	var ce *Error
	if !errors.As(err, &ce) {
		return false
	}
	switch ce.Code {
	case ExitFatal, ExitOptionError, ExitNotRoot, ExitAuthToPeerFail:
		return false
	}
	return true
}

// retryDelay is the wait before the next attempt: holdoff after a link
// that was up dropped (failures 0), then doubling with each failed
// attempt, from at least a second, up to maxBackoff (or holdoff if that
// is longer).
func retryDelay(holdoff time.Duration, failures int) time.Duration {
	if failures <= 0 {
		return holdoff
	}
	if holdoff >= maxBackoff {
		return holdoff // and no doubling, which could overflow
	}
	d := max(holdoff, time.Second) << min(failures-1, 16)
	return min(d, maxBackoff)
}

// upState is what a session set up when it came up, to be undone when it
// goes down.
type upState struct {
	info    session.Info
	at      time.Time
	script  *scriptRun
	dns     dnsApplier
	proxies *proxyRun
	// allDNS: a default route through the tunnel is in place, so every
	// name goes to the server's DNS servers too (systemd-resolved's ~.).
	allDNS bool
}

// attempt makes one connection and holds it until it ends. wasUp says
// whether the session reached the network phase.
func (c *Client) attempt(ctx context.Context) (wasUp bool, err error) {
	srv, err := resolve(ctx, c.cfg.Server, "ip")
	if err != nil {
		if ctx.Err() != nil {
			return false, fail(ExitUserRequest, "interrupted while connecting")
		}
		return false, fail(ExitConnectFailed, "server unreachable: %v", err)
	}
	log := c.log.With("server", srv.Addr().String())
	log.Info("connecting", "attempt", c.track.snapshot().Attempts)
	d := net.Dialer{Timeout: c.cfg.ConnectTimeout}
	nc, err := d.DialContext(ctx, "tcp", srv.String())
	if err != nil {
		if ctx.Err() != nil {
			return false, fail(ExitUserRequest, "interrupted while connecting")
		}
		return false, fail(ExitConnectFailed, "server unreachable: %v", err)
	}
	conn := pptp.NewConn(nc, 0)
	defer conn.Close()

	if err := c.startControl(conn); err != nil {
		return false, err
	}
	var b [2]byte
	rand.Read(b[:])
	callID := binary.BigEndian.Uint16(b[:]) | 1

	mtu, mru := c.cfg.MTU, c.cfg.MRU
	if mtu == 0 || mru == 0 {
		auto := 1400 // when the link cannot be found, the customary PPTP size
		if lm, err := netcfg.LinkMTU(srv.Addr()); err == nil {
			auto = datapath.TunnelMTU(lm, srv.Addr())
		}
		mtu, mru = cmp.Or(mtu, auto), cmp.Or(mru, auto)
	}

	// Everything that receives GRE must exist before we ask for the call:
	// the server starts LCP the moment it answers.
	localAP, _ := netip.ParseAddrPort(nc.LocalAddr().String())
	gs, err := datapath.ListenGRE(localAP.Addr().Unmap(), srv.Addr())
	if err != nil {
		if c.cfg.proxyMode() {
			return false, fail(ExitFatal, "%v; grant it to the binary alone with: setcap cap_net_raw+ep %s", err, executable())
		}
		return false, fail(ExitFatal, "%v", err)
	}
	var dev tun.Device
	var deferred *proxy.DeferredDevice
	if c.cfg.proxyMode() {
		// The user-space stack needs the tunnel address, which IPCP
		// gives later; the data path needs its device now.
		deferred = proxy.NewDeferredDevice(mtu)
		dev = deferred
	} else {
		dev, err = datapath.OpenTUN(c.cfg.IfName, mtu)
		if err != nil {
			gs.Close()
			return false, fail(ExitFatal, "%v", err)
		}
		if c.cfg.IPv6 {
			if err := netcfg.PrepareIPv6(c.cfg.IfName); err != nil {
				log.Warn("IPv6", "err", err)
			}
		}
	}
	engine := datapath.NewEngine(datapath.Config{GRE: []*datapath.GRESocket{gs}, TUN: dev, DefaultCall: true, Log: log})
	ectx, ecancel := context.WithCancel(context.Background())
	engineDone := make(chan error, 1)
	go func() { engineDone <- engine.Run(ectx) }()
	defer func() {
		ecancel()
		<-engineDone
	}()

	dp, err := engine.AddCall(datapath.CallConfig{LocalID: callID, PeerUnknown: true, Peer: srv.Addr()})
	if err != nil {
		return false, fail(ExitFatal, "%v", err)
	}
	c.track.callPlaced(dp)
	link := &clientLink{Call: dp, c: c, log: log, server: srv.Addr(), mtu: mtu, virtual: c.cfg.proxyMode(), v6: newV6Link()}
	scfg := session.Config{
		Role: session.Client, MRU: mru, EchoInterval: c.cfg.EchoInterval, EchoFailure: c.cfg.EchoFailure,
		FSM: c.cfg.FSM, Accept: c.cfg.Accept, User: c.cfg.User, Password: c.cfg.Password,
		// The proxies resolve names through the tunnel's DNS servers,
		// so rootless mode always asks for them.
		IPCP: ipcp.Config{Local: c.cfg.LocalIP, Peer: c.cfg.RemoteIP, RequestDNS: c.cfg.UsePeerDNS || c.cfg.proxyMode()},
		MPPE: c.cfg.MPPE, Log: log, SetupTimeout: 60 * time.Second,
		// The rootless mode's user-space stack is IPv4 only.
		IPv6: c.cfg.IPv6 && !c.cfg.proxyMode(), IPV6CP: ipv6cp.Config{Local: randomIID(), Random: randomIID},
	}
	var authFailed atomic.Bool
	upc := make(chan session.Info, 1)
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
			// The rest (DNS, scripts, proxies) may block: the
			// connection loop does it, with the latest Info if IPCP
			// came up again before it got to the first.
			select {
			case upc <- i:
			default:
				select {
				case <-upc:
				default:
				}
				upc <- i
			}
		},
		AuthFailed: func(string, ppp.AuthMethod, string) { authFailed.Store(true) },
	})
	dp.Attach(sess) // frames arriving from now on wait in its queue

	peerCallID, peerWindow, err := c.placeCall(conn, callID, "")
	if err != nil {
		return false, err
	}
	dp.SetPeerCall(peerCallID, peerWindow)
	log.Debug("call placed", "call", callID, "peer_call", peerCallID, "peer_window", peerWindow)

	// The session outlives ctx: on a signal it still has to terminate
	// LCP properly, so it gets its own context.
	sctx, scancel := context.WithCancel(context.Background())
	defer scancel()
	sessDone := make(chan error, 1)
	go func() { sessDone <- sess.Run(sctx) }()

	ctrl, ctrlErr, stopControl := watchControl(conn)
	defer stopControl()

	// A server that answers on TCP but whose GRE never arrives is behind
	// a firewall or NAT that drops IP protocol 47: say so quickly instead
	// of letting LCP time out.
	greWatch := time.NewTimer(c.cfg.GREWait)
	defer greWatch.Stop()

	// stopSession terminates LCP ourselves and waits for the session.
	stopSession := func(reason string) {
		sess.Close(reason)
		select {
		case <-sessDone:
		case <-time.After(4 * time.Second):
			scancel()
			<-sessDone
		}
	}
	// abort ends the session without LCP: the link is gone.
	abort := func() {
		scancel()
		<-sessDone
	}

	// IPv6: router solicitations until an advertisement comes, and what
	// the advertisements set up.
	var (
		rsTimer <-chan time.Time
		rsSent  int
		v6      v6Up
	)
	var (
		runErr error
		up     *upState
		// polite: the control connection still works, so the call is
		// cleared politely at the end.
		polite = true
	)
loop:
	for {
		select {
		case <-greWatch.C:
			if dp.Stats.RxControl.Load() == 0 && dp.Stats.RxPackets.Load() == 0 {
				abort()
				runErr = fail(ExitConnectFailed, "GRE blocked: the control connection to %v works but no GRE (IP protocol 47) packet came back in %v; a firewall or NAT between us drops it", srv.Addr(), c.cfg.GREWait)
				break loop
			}
		case i := <-upc:
			up = c.sessionUp(log, up, i, link, deferred)
			if up == nil {
				stopSession("user-space stack failed")
				runErr = fail(ExitFatal, "cannot start the user-space network stack")
				break loop
			}
			if len(v6.dns) > 0 {
				c.addDNS6(log, up, v6.dns)
			}
		case <-link.v6.solicit:
			rsSent = 0
			rsTimer = time.After(rsDelays[0])
		case <-rsTimer:
			link.solicitRouter()
			if rsSent++; rsSent < len(rsDelays) {
				rsTimer = time.After(rsDelays[rsSent])
			} else {
				rsTimer = nil
			}
		case ra := <-link.v6.ra:
			rsTimer = nil
			if dns := link.routerAdvertised(log, &v6, ra); dns != nil && up != nil {
				c.addDNS6(log, up, dns)
			}
		case err := <-sessDone:
			runErr = c.sessionError(err, authFailed.Load(), dp)
			break loop
		case <-ctx.Done():
			log.Info("terminating on signal")
			stopSession("User request")
			break loop
		case <-c.hangup:
			log.Info("hangup requested")
			stopSession("User request")
			runErr = fail(ExitHangup, "hangup requested")
			break loop
		case m := <-ctrl:
			switch m := m.(type) {
			case *pptp.CallDisconnectNotify:
				log.Info("server disconnected the call", "result", m.Result, "reason", m.CallStatistics)
				runErr = c.hangupBy(sessDone, scancel, authFailed.Load(), dp,
					fmt.Sprintf("server disconnected the call (%v)", m.Result))
				polite = false
				break loop
			case *pptp.StopCtrlConnRequest:
				conn.Send(&pptp.StopCtrlConnReply{Result: pptp.StopOK})
				runErr = c.hangupBy(sessDone, scancel, authFailed.Load(), dp,
					fmt.Sprintf("server closed the control connection (%v)", m.Reason))
				polite = false
				break loop
			case *pptp.SetLinkInfo:
			default:
				log.Debug("ignoring control message", "type", m.Type())
			}
		case err := <-ctrlErr:
			polite = false
			if errors.Is(err, pptp.ErrEchoTimeout) {
				abort()
				runErr = fail(ExitPeerDead, "server stopped answering on the control connection")
				break loop
			}
			// pptpd closes the connection when its pppd exits, without a
			// Call-Disconnect-Notify: the session knows why.
			runErr = c.hangupBy(sessDone, scancel, authFailed.Load(), dp,
				fmt.Sprintf("control connection lost: %v", err))
			break loop
		}
	}
	c.sessionDown(log, up, link, dp)
	if polite {
		c.clearCall(conn, callID, ctrl, ctrlErr, log)
	}
	if runErr == nil && ctx.Err() == nil {
		// The session ended without saying why and without us asking.
		runErr = fail(ExitHangup, "link terminated")
	}
	return up != nil, runErr
}

// sessionUp puts a session that came up to use: proxies, or DNS and
// ip-up. prev is what an earlier IPCP of the same call set up (IPCP
// renegotiated): DNS and scripts stay, the user-space stack is made anew
// for the address. nil means the session cannot be used.
func (c *Client) sessionUp(log *slog.Logger, prev *upState, i session.Info, link *clientLink, deferred *proxy.DeferredDevice) *upState {
	up := &upState{info: i, at: time.Now()}
	if prev != nil {
		up.at, up.dns, up.script = prev.at, prev.dns, prev.script
		if prev.proxies != nil {
			prev.proxies.stop()
		}
	}
	c.track.up(i, link.routes())
	if deferred != nil {
		dev, nw, err := proxy.NewNetstack(i.Local, i.DNS, proxyMTU(link.mtu, link.peerMRU()))
		if err != nil {
			log.Error("user-space stack", "err", err)
			return nil
		}
		// Attach closes the previous stack, if any, now that its
		// proxies have stopped.
		if err := deferred.Attach(dev); err != nil {
			log.Error("user-space stack", "err", err)
			return nil
		}
		if len(i.DNS) == 0 {
			log.Warn("the server gave no DNS servers: the proxies cannot resolve names, only addresses")
		}
		up.proxies = serveProxies(c.proxies, nw, log)
	} else if prev == nil {
		up.allDNS = link != nil && link.defaultInstalled()
		if c.cfg.UsePeerDNS && len(i.DNS) > 0 {
			up.dns = c.applyDNS(log, i.DNS, up.allDNS)
		}
		up.script = c.cfg.Scripts.runUp(log, c.cfg.IfName, i)
	}
	c.upOnce.Do(func() { close(c.Up) })
	return up
}

// addDNS6 puts the IPv6 DNS servers of a router advertisement to use
// after IPCP's (usepeerdns).
func (c *Client) addDNS6(log *slog.Logger, up *upState, dns6 []netip.Addr) {
	if !c.cfg.UsePeerDNS || up.proxies != nil {
		return
	}
	all := append(slices.Clone(up.info.DNS), dns6...)
	if up.dns == nil {
		up.dns = c.applyDNS(log, all, up.allDNS)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := up.dns.apply(ctx, all); err != nil {
		log.Warn("usepeerdns", "err", err)
	}
}

// applyDNS puts the server's DNS servers to use and returns how to take
// them back, or nil when nothing changed.
func (c *Client) applyDNS(log *slog.Logger, servers []netip.Addr, all bool) dnsApplier {
	servers = usableDNS(log, servers)
	if len(servers) == 0 {
		return nil
	}
	if p := c.cfg.DNS.PPPResolvConf; p != "" {
		if err := writePPPResolvConf(p, servers); err != nil {
			log.Warn("usepeerdns", "err", err)
		}
	}
	var a dnsApplier
	if c.cfg.DNS.Resolved {
		// Only when the default route goes through the tunnel do all
		// names go to its servers: with pppd's defaultroute next to an
		// existing default route, queries to them would not even take
		// the tunnel.
		a = &resolvedDNS{bin: c.cfg.DNS.Resolvectl, ifname: c.cfg.IfName, full: all, log: log}
	} else {
		a = newResolvConf(c.cfg.DNS.ResolvConf, c.cfg.Name, log)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := a.apply(ctx, servers); err != nil {
		log.Warn("usepeerdns", "err", err)
		return nil
	}
	return a
}

// sessionDown undoes what the session set up, in pppd's order: routes,
// then ip-down, then DNS (so that pppd's own ip-down scripts, which undo
// their resolv.conf changes, run before we restore ours).
func (c *Client) sessionDown(log *slog.Logger, up *upState, link *clientLink, dp *datapath.Call) {
	if up != nil && up.proxies != nil {
		up.proxies.stop()
	}
	link.cleanup()
	if up == nil {
		return
	}
	st := linkStats{connect: time.Since(up.at), sent: dp.Stats.TxBytes.Load(), received: dp.Stats.RxBytes.Load()}
	log.Info(fmt.Sprintf("Connect time %.1f minutes.", st.connect.Minutes()))
	log.Info(fmt.Sprintf("Sent %d bytes, received %d bytes.", st.sent, st.received))
	if !c.cfg.proxyMode() {
		c.cfg.Scripts.runDown(log, up.script, c.cfg.IfName, up.info, st)
	}
	if up.dns != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := up.dns.restore(ctx); err != nil {
			log.Warn("usepeerdns: restoring DNS", "err", err)
		}
	}
}

// executable names our binary for messages.
func executable() string {
	if p, err := os.Executable(); err == nil {
		return p
	}
	return "pptp"
}

// hangupBy ends a session the server hung up on. The server usually
// hangs up because PPP failed (a wrong password, refused encryption), and
// our session knows that reason better than the bare disconnect does:
// give it a moment to finish and prefer its verdict.
func (c *Client) hangupBy(sessDone <-chan error, cancel context.CancelFunc, authFailed bool, dp *datapath.Call, why string) error {
	var err error
	select {
	case err = <-sessDone:
	case <-time.After(time.Second):
		cancel()
		err = <-sessDone
	}
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

// placeCall runs OCRQ/OCRP for callID (with the phone number pppd's user
// gave, in pty mode) and returns the server's Call ID and receive window.
func (c *Client) placeCall(conn *pptp.Conn, callID uint16, phone string) (peerCallID, peerWindow uint16, err error) {
	if len(phone) > 64 {
		phone = phone[:64]
	}
	if err := conn.Send(&pptp.OutgoingCallRequest{CallID: callID, CallSerialNumber: 1,
		MinBPS: 2400, MaxBPS: 1_000_000_000, BearerType: pptp.BearerAny, FramingType: pptp.FramingAny,
		RecvWindowSize: recvWindow, PhoneNumberLength: uint16(len(phone)), PhoneNumber: phone}); err != nil {
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
				return queued(msgs, want)
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

// watchControl runs the control connection's echo and reads its messages
// in the background once the call is placed: they arrive on msgs, the
// error that ends the reading on errs. stop ends both.
func watchControl(conn *pptp.Conn) (msgs <-chan pptp.Message, errs <-chan error, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	go conn.Keepalive(ctx)
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
			case <-ctx.Done():
				return
			}
		}
	}()
	return ctrl, ctrlErr, cancel
}

// queued reports whether msgs holds a message of type want, once the
// control connection's reader has failed: it queues what it read before
// it reports the error (the server closing the connection right after its
// Stop-Control-Connection-Reply), and a select picks among ready cases at
// random.
func queued(msgs <-chan pptp.Message, want pptp.MessageType) bool {
	for {
		select {
		case m := <-msgs:
			if m.Type() == want {
				return true
			}
		default:
			return false
		}
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

// clientLink adds interface configuration to the call's data path. Its
// methods run on the session goroutine; routes and peerMRU are read by
// the connection loop too.
type clientLink struct {
	*datapath.Call
	c      *Client
	log    *slog.Logger
	server netip.Addr
	mtu    int
	// virtual: rootless mode, no kernel interface to configure.
	virtual bool

	mu        sync.Mutex
	mru       int
	undo      []func() error
	installed []string
	configed  bool

	v6 v6Link
}

func (l *clientLink) SetFraming(acfc, pfc bool, peerMRU int) {
	l.mu.Lock()
	l.mru = peerMRU
	l.mu.Unlock()
	l.Call.SetFraming(acfc, pfc, peerMRU)
}

func (l *clientLink) peerMRU() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mru
}

func (l *clientLink) routes() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.installed...)
}

func (l *clientLink) SetNetwork(up bool, local, peer netip.Addr) {
	if !up {
		l.Call.SetNetwork(false, local, peer)
		return
	}
	cfg := l.c.cfg
	mtu := proxyMTU(l.mtu, l.peerMRU())
	l.Call.SetMSSClamp(config.MSSClamp(cfg.TCPMSSClamp, mtu))
	l.mu.Lock()
	configure := !l.virtual && !l.configed
	l.configed = true
	l.mu.Unlock()
	// IPCP may come up again after a renegotiation: the interface and
	// routes are set up once per call.
	if configure {
		plan := routePlan{ifname: cfg.IfName, server: l.server, peer: peer, def: cfg.DefaultRoute,
			replace: cfg.ReplaceDefaultRoute, prefixes: cfg.Routes}
		var undo []func() error
		if u := plan.pin(l.c.pins, l.log); u != nil {
			undo = append(undo, u)
		}
		if err := netcfg.AddPointToPoint(cfg.IfName, local, peer); err != nil {
			l.log.Error("configuring interface", "err", err)
		}
		if err := netcfg.Up(cfg.IfName, mtu); err != nil {
			l.log.Error("configuring interface", "err", err)
		}
		more, installed := plan.install(l.log)
		undo = append(undo, more...)
		l.mu.Lock()
		// Appended: IPv6 may have put its default route here first.
		l.undo, l.installed = append(l.undo, undo...), append(l.installed, installed...)
		l.mu.Unlock()
	}
	l.Call.SetNetwork(true, local, peer)
}

// defaultInstalled reports whether the session's routes include a
// default route (defaultroute or replacedefaultroute took effect).
func (l *clientLink) defaultInstalled() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.installed {
		if strings.HasPrefix(r, "default") {
			return true
		}
	}
	return false
}

// usableDNS keeps the DNS servers a resolver can use: unicast addresses
// outside loopback and link-local (which resolv.conf could not scope), at
// most three (what glibc reads). What the server sent otherwise is logged.
func usableDNS(log *slog.Logger, servers []netip.Addr) []netip.Addr {
	var ok []netip.Addr
	for _, a := range servers {
		a = a.Unmap()
		if !a.IsGlobalUnicast() && !a.IsPrivate() || len(ok) == 3 {
			log.Warn("usepeerdns: ignoring DNS server", "addr", a)
			continue
		}
		ok = append(ok, a)
	}
	return ok
}

// cleanup removes the routes, newest first.
func (l *clientLink) cleanup() {
	l.mu.Lock()
	undo := l.undo
	l.undo, l.installed = nil, nil
	l.mu.Unlock()
	for i := len(undo) - 1; i >= 0; i-- {
		if err := undo[i](); err != nil {
			l.log.Warn("removing route", "err", err)
		}
	}
}
