// Package server is the PPTP access concentrator (the PAC of RFC 2637):
// it accepts control connections on TCP port 1723, answers
// Outgoing-Call-Requests, runs one PPP session per call over a shared GRE
// socket and TUN device, and configures routes for the addresses it hands
// out.
package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gopptp/gopptp/datapath"
	"github.com/gopptp/gopptp/internal/netcfg"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/auth"
	"github.com/gopptp/gopptp/ppp/ccp"
	"github.com/gopptp/gopptp/ppp/ipv6cp"
	"github.com/gopptp/gopptp/radius"
)

// Config is everything the server needs, already parsed and checked.
type Config struct {
	// Listen is the TCP address for control connections ("ip:port",
	// "[ipv6]:port"); the IP also binds the GRE socket when it is not
	// unspecified. An empty host (":port") listens on all addresses of
	// both families, 0.0.0.0 on IPv4 only, [::] on IPv6 only.
	Listen string
	Pool   *Pool
	// MaxSessions caps concurrent sessions (pptpd.conf connections).
	MaxSessions int
	// StartTimeout is the time a new connection has to send its first
	// message (pptpd.conf stimeout).
	StartTimeout time.Duration
	// TUNName names the shared TUN device.
	TUNName string
	// Workers is how many goroutines of each direction carry the
	// sessions' packets, each session on one of them; 0 means one per
	// CPU the process may use (GOMAXPROCS).
	Workers int
	// MTU is the largest IP packet we send into a tunnel (with the peer's
	// MRU, each route's MTU); MRU the largest we ask peers to send us.
	// 0 derives both from the link towards each peer (datapath.TunnelMTU).
	MTU int
	MRU int

	Name string // our CHAP name (pppd's name)
	Auth []ppp.AuthMethod
	MPPE ccp.Config
	DNS  [2]netip.Addr
	NBNS [2]netip.Addr
	// IPv6 runs IPV6CP with every peer (pppd's +ipv6). Pool6, when set,
	// gives each IPv6 session a /64 (pptpd.conf's ipv6-prefix), announced
	// in router advertisements with DNS6 (ms-dns6) as RDNSS.
	IPv6     bool
	Pool6    *Pool6
	DNS6     []netip.Addr
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

	// Defense limits unauthenticated work (DefaultDefense if zero).
	Defense Defense
	// Reload, when set, re-reads the configuration for pptpctl reload
	// (and is what SIGHUP calls); it hands the result to Server.Reload.
	Reload func() error
	// FramedRoutes are subnets routed to a user's session (pptpd.conf's
	// framed-route); RADIUS's Framed-Route adds to them.
	FramedRoutes map[string][]netip.Prefix

	// IdleTimeout ends a session without IP traffic for this long and
	// MaxConnect any session after this long (pppd's idle and maxconnect;
	// RADIUS's Idle-Timeout and Session-Timeout override them per user).
	// 0: no limit.
	IdleTimeout, MaxConnect time.Duration

	// Ready, when set, is called once the server has opened its
	// listeners, raw socket and TUN device, before it serves: pptpd drops
	// the privileges it no longer needs there.
	Ready func() error

	// RADIUS, when set, checks logins and accounts for sessions through
	// RADIUS servers; Verifier is then unused.
	RADIUS *radius.Config

	Log *slog.Logger

	// rad is the RADIUS client built from RADIUS.
	rad *aaa
}

// Server is a running PPTP server.
type Server struct {
	// cfg holds what cannot change while running (the listener, the TUN
	// device); live holds what Reload may replace. Each call takes a
	// snapshot of live when it is admitted and keeps it to its end.
	cfg     Config
	live    atomic.Pointer[Config]
	log     *slog.Logger
	engine  *datapath.Engine
	ids     *callIDs
	guard   *guard
	active  atomic.Int64 // admitted calls
	nego    atomic.Int64 // admitted calls not yet up
	ln      net.Listener
	wg      sync.WaitGroup
	acctWG  sync.WaitGroup // Accounting-Stops in flight
	dae     atomic.Pointer[radius.DAEServer]
	started time.Time
	count   counters
	// iid is our IPv6 interface identifier, the same for every session:
	// the server's link-local address on the shared TUN device.
	iid ipv6cp.ID
	// ipv6Once turns IPv6 on for the TUN device when the first IPv6
	// session comes up.
	ipv6Once sync.Once

	mu       sync.Mutex
	sessions map[uint16]*call
	locals   map[netip.Addr]int // local tunnel addresses on the TUN device, with users
}

// counters are the server-wide statistics behind pptpctl stats and the
// metrics.
type counters struct {
	connections   atomic.Uint64
	loginsOK      sync.Map // ppp.AuthMethod -> *atomic.Uint64
	loginsFailed  sync.Map
	refused       sync.Map // reason -> *atomic.Uint64
	endedRxBytes  atomic.Uint64
	endedTxBytes  atomic.Uint64
	endedRxPacket atomic.Uint64
	endedTxPacket atomic.Uint64
	// GRE sequence events of ended calls (datapath.Stats Lost, Reordered,
	// DropSeq).
	endedLost, endedReordered, endedLate atomic.Uint64
	endedDrops                           sync.Map                 // reason -> *atomic.Uint64
	setup                                prometheus.Histogram     // session setup latency
	radius                               *prometheus.HistogramVec // RADIUS latency by kind and outcome

	// Stateful MPPE events of ended calls (datapath.Stats ResetsSent,
	// Resyncs, ResetsReceived).
	endedResetsSent, endedResyncs, endedResetsRecv atomic.Uint64
}

func bump(m *sync.Map, key any, n uint64) {
	v, _ := m.LoadOrStore(key, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(n)
}

func snapshot(m *sync.Map) map[string]uint64 {
	out := map[string]uint64{}
	m.Range(func(k, v any) bool {
		out[fmt.Sprint(k)] = v.(*atomic.Uint64).Load()
		return true
	})
	return out
}

// ourRecvWindow is the Packet Recv. Window Size we announce. Our receiver
// buffers nothing (packets are processed or dropped as they arrive), so
// the window is only flow control; Windows RRAS announces 16384 for the
// same reason, and a small one would throttle peers that honour it on
// any link with a real round-trip time.
const ourRecvWindow = 16384

// New prepares a server; Run starts it.
func New(cfg Config) (*Server, error) {
	if err := cfg.normalize(); err != nil {
		return nil, err
	}
	if cfg.TUNName == "" {
		cfg.TUNName = "pptp0"
	}
	var seed [2]byte
	rand.Read(seed[:])
	s := &Server{cfg: cfg, log: cfg.Log, ids: newCallIDs(binary.BigEndian.Uint16(seed[:])),
		guard: newGuard(cfg.Defense), started: time.Now(),
		sessions: map[uint16]*call{}, locals: map[netip.Addr]int{}, iid: randomIID()}
	s.count.setup = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "pptp_session_setup_seconds",
		Help:    "Time from Outgoing-Call-Request to IP flowing (LCP, authentication, CCP, IPCP).",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	})
	s.count.radius = newRADIUSHistogram()
	if err := s.prepareRADIUS(&cfg); err != nil {
		return nil, err
	}
	s.cfg = cfg
	live := cfg
	s.live.Store(&live)
	return s, nil
}

func (c *Config) normalize() error {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Verifier == nil && c.RADIUS == nil {
		return errors.New("server: no authentication back-end")
	}
	if c.Pool == nil {
		return errors.New("server: no address pool")
	}
	if c.MaxSessions <= 0 || c.MaxSessions > c.Pool.Size() {
		c.MaxSessions = c.Pool.Size()
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 10 * time.Second
	}
	if c.Defense == (Defense{}) {
		c.Defense = DefaultDefense()
	}
	return nil
}

// conf returns the live configuration.
func (s *Server) conf() *Config { return s.live.Load() }

// Reload replaces the configuration for sessions that start from now on;
// established sessions keep theirs and are not disturbed. The listen
// address and the TUN device cannot change while running. Addresses that
// running sessions hold are reserved in the new pool.
func (s *Server) Reload(cfg Config) error {
	if err := cfg.normalize(); err != nil {
		return err
	}
	if err := s.prepareRADIUS(&cfg); err != nil {
		return err
	}
	cfg.Listen, cfg.TUNName, cfg.Log = s.cfg.Listen, s.cfg.TUNName, s.cfg.Log
	if old := s.conf().Pool6; old != nil && cfg.Pool6 != nil && old.Prefix() == cfg.Pool6.Prefix() {
		cfg.Pool6 = old // sessions keep their /64s, new ones avoid them
	}
	s.mu.Lock()
	for _, cl := range s.sessions {
		cl.claimMu.Lock()
		if !cl.released {
			cfg.Pool.Claim(cl.lease.Remote)
			if cl.claimed.IsValid() {
				cfg.Pool.Claim(cl.claimed)
			}
			cl.pool = cfg.Pool
		}
		// A session's /64 is claimed in a new ipv6-prefix pool under
		// claimMu, which its release takes too: it cannot be released
		// into the old pool after the claim, leaking it in the new one.
		// A session admitted without a pool keeps none.
		if cfg.Pool6 != nil && cl.pool6 != nil && cl.pool6 != cfg.Pool6 {
			if cl.prefix6.IsValid() {
				cfg.Pool6.Claim(cl.prefix6)
			}
			cl.pool6 = cfg.Pool6
		}
		cl.claimMu.Unlock()
	}
	s.live.Store(&cfg)
	s.mu.Unlock()
	s.guard.setConfig(cfg.Defense)
	s.log.Info("configuration reloaded", "auth", fmt.Sprint(cfg.Auth), "mppe", describeMPPE(cfg.MPPE),
		"max_sessions", cfg.MaxSessions, "sessions_kept", s.Sessions())
	return nil
}

// Run listens and serves until ctx ends; then every session is torn down
// and Run returns.
func (s *Server) Run(parent context.Context) error {
	ctx, stop := context.WithCancelCause(parent)
	defer stop(nil)
	network, gres, err := listenFamilies(s.cfg.Listen)
	if err != nil {
		return err
	}
	ln, err := net.Listen(network, s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	var gs []*datapath.GRESocket
	closeGRE := func() {
		for _, g := range gs {
			g.Close()
		}
	}
	for i, a := range gres {
		g, err := datapath.ListenGRE(a, netip.Addr{})
		if err != nil {
			if i > 0 && len(gs) > 0 {
				// All addresses: a host without IPv6 still serves IPv4.
				s.log.Warn("no GRE over IPv6, serving IPv4 clients only", "err", err)
				continue
			}
			ln.Close()
			closeGRE()
			return err
		}
		gs = append(gs, g)
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
		closeGRE()
		return err
	}
	if err := netcfg.Up(s.cfg.TUNName, devMTU); err != nil {
		ln.Close()
		closeGRE()
		dev.Close()
		return err
	}
	workers := s.cfg.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	s.engine = datapath.NewEngine(datapath.Config{GRE: gs, TUN: dev, CheckSource: true, Workers: workers, Log: s.log})
	ectx, ecancel := context.WithCancel(context.Background())
	engineDone := make(chan error, 1)
	go func() { engineDone <- s.engine.Run(ectx) }()

	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	stopRADIUS := s.startRADIUS(ctx)
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(); err != nil {
			stop(err)
		}
	}
	s.log.Info("pptpd listening", "addr", ln.Addr().String(), "tun", s.cfg.TUNName,
		"auth", fmt.Sprint(s.cfg.Auth), "mppe", describeMPPE(s.cfg.MPPE), "max_sessions", s.cfg.MaxSessions)
	if !netcfg.ForwardingEnabled() {
		s.log.Info("IP forwarding is off on this host: clients reach the server only, not the networks behind it (sysctl net.ipv4.ip_forward=1)")
	}
	if s.cfg.Pool6 != nil && !netcfg.Forwarding6Enabled() {
		s.log.Info("IPv6 forwarding is off on this host: IPv6 clients reach the server only (sysctl net.ipv6.conf.all.forwarding=1)")
	}
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
		s.count.connections.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(ctx, nc)
		}()
	}
	s.wg.Wait()
	stopRADIUS()
	ecancel()
	<-engineDone
	if parent.Err() == nil {
		return context.Cause(ctx)
	}
	return nil
}

// listenFamilies reads a listen address "host:port": the network for the
// control listener and the local addresses of the raw GRE sockets. An
// empty or unspecified host without a family ("" or "*") means all
// addresses of both families: a dual-stack listener and a GRE socket per
// family (the IPv6 one optional). 0.0.0.0 means IPv4 only, :: IPv6 only.
func listenFamilies(listen string) (network string, gre []netip.Addr, err error) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return "", nil, fmt.Errorf("listen address %q: %w", listen, err)
	}
	if host == "" || host == "*" {
		return "tcp", []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}, nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "", nil, fmt.Errorf("listen address %q: %w", listen, err)
	}
	if a.Zone() != "" {
		return "", nil, fmt.Errorf("listen address %q: link-local addresses are not supported", listen)
	}
	if a = a.Unmap(); a.Is4() {
		return "tcp4", []netip.Addr{a}, nil
	}
	return "tcp6", []netip.Addr{a}, nil
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
