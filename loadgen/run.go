// Package loadgen is a PPTP load generator: it opens many real client
// sessions from one process against a server and measures how they fare.
//
// Every session is what the pptp client does, with the same packages: its
// own TCP control connection (Start-Control-Connection, Outgoing-Call,
// echo keepalive), then PPP over GRE (LCP, MS-CHAP-v2 with the server's
// authenticator response checked, CCP/MPPE, IPCP, LCP echo). What differs
// is the data path: there is no TUN device per session. The sessions of
// one source address share one raw GRE socket and one datapath.Engine
// without a TUN device; each call delivers the IP packets it receives to
// its session, which makes its own ICMP echo requests to the server's
// tunnel address and checks the replies.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopptp/gopptp/datapath"
	"github.com/gopptp/gopptp/internal/netcfg"
)

// engine is the data path of one source address: a raw GRE socket bound
// to it and connected to the server, and the Call IDs in use on it. The
// server tells calls apart by its own Call ID and our address; we tell
// them apart by ours, so ours must be unique per socket.
type engine struct {
	src netip.Addr
	e   *datapath.Engine
	ids idAlloc
}

// idAlloc hands out Call IDs 1..65535, round-robin from a random start so
// that a just-freed ID is not reused at once.
type idAlloc struct {
	mu   sync.Mutex
	used [1 << 16]bool
	next uint16
	n    int
}

func (a *idAlloc) get() (uint16, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n >= 1<<16-1 {
		return 0, false
	}
	for {
		id := a.next
		a.next++
		if id != 0 && !a.used[id] {
			a.used[id] = true
			a.n++
			return id, true
		}
	}
}

func (a *idAlloc) put(id uint16) {
	a.mu.Lock()
	if a.used[id] {
		a.used[id] = false
		a.n--
	}
	a.mu.Unlock()
}

// gen is one run.
type gen struct {
	cfg     Config
	ctx     context.Context // cancelled: interrupt
	log     *slog.Logger
	engines []*engine
	mru     int
	// stop is closed when the hold is over (or the run interrupted):
	// sessions that are up stop pinging and wait for the replies still
	// due, then leave quiet. teardown is closed once every session has:
	// then they tear down. The two steps keep a server busy with
	// thousands of teardowns from delaying the last pings' replies.
	stop, teardown chan struct{}
	quiet          sync.WaitGroup
	// gone is closed when, after the setup phase, no session is left up:
	// the hold ends early.
	gone      chan struct{}
	goneOnce  sync.Once
	setupDone atomic.Bool
	t0        time.Time

	mu       sync.Mutex
	failures tally
	lostWhy  tally
	setup    []time.Duration
	lastUp   time.Time

	started, up, failed, lost, negotiating atomic.Int64
	pingsSent, pingsAnswered, pingsLost    atomic.Uint64
	pingsBad, pingsLate, unexpected        atomic.Uint64
}

func (g *gen) enter(fn func() error) error {
	if g.cfg.Enter != nil {
		return g.cfg.Enter(fn)
	}
	return fn()
}

// Run opens cfg.Sessions sessions, holds them and tears them down. Its
// error is for a run that could not start (no raw socket, bad
// configuration); how the sessions fared is in the Result. Cancelling ctx
// stops starting sessions and tears down those that are up.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := check(&cfg); err != nil {
		return nil, err
	}
	g := &gen{cfg: cfg, ctx: ctx, log: cfg.Log, stop: make(chan struct{}), teardown: make(chan struct{}), gone: make(chan struct{}), failures: tally{}, lostWhy: tally{},
		setup: make([]time.Duration, 0, cfg.Sessions)}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if err := g.openEngines(); err != nil {
		return nil, err
	}
	ectx, ecancel := context.WithCancel(context.Background())
	var ewg sync.WaitGroup
	for _, e := range g.engines {
		ewg.Add(1)
		go func() {
			defer ewg.Done()
			if err := e.e.Run(ectx); err != nil {
				g.log.Error("GRE data path failed", "source", e.src, "err", err)
			}
		}()
	}
	defer func() {
		ecancel()
		ewg.Wait()
	}()

	pdone := make(chan struct{})
	pstop := make(chan struct{})
	go g.progress(pstop, pdone)
	defer func() {
		close(pstop)
		<-pdone
	}()

	// Setup phase.
	var setupWG, runWG sync.WaitGroup
	sem := make(chan struct{}, cfg.Concurrency)
	g.t0 = time.Now()
	g.note("starting %d sessions (rate %s, concurrency %d, %d source address(es))", cfg.Sessions, rateText(cfg.Rate), cfg.Concurrency, len(g.engines))
launch:
	for i := 0; i < cfg.Sessions; i++ {
		if cfg.Rate > 0 {
			at := g.t0.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second)))
			if d := time.Until(at); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					break launch
				}
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break launch
		}
		if ctx.Err() != nil {
			<-sem
			break
		}
		g.started.Add(1)
		setupWG.Add(1)
		runWG.Add(1)
		go func() {
			defer runWG.Done()
			var once sync.Once
			g.runSession(i, func() {
				once.Do(func() {
					<-sem
					setupWG.Done()
				})
			})
		}()
	}
	setupWG.Wait()
	setupEnd := time.Now()

	// Hold phase.
	res := &Result{Sessions: cfg.Sessions}
	g.mu.Lock()
	res.Up = len(g.setup)
	if res.Up > 0 {
		res.SetupTime = g.lastUp.Sub(g.t0)
	} else {
		res.SetupTime = setupEnd.Sub(g.t0)
	}
	g.mu.Unlock()
	if res.SetupTime > 0 {
		res.Rate = float64(res.Up) / res.SetupTime.Seconds()
	}
	g.note("setup done: %d up, %d failed in %v (%.1f/s); holding for %v", res.Up, g.failed.Load(),
		res.SetupTime.Round(time.Millisecond), res.Rate, cfg.Hold)
	holdStart := time.Now()
	g.setupDone.Store(true)
	g.checkGone()
	if ctx.Err() == nil && cfg.Hold > 0 {
		t := time.NewTimer(cfg.Hold)
		select {
		case <-t.C:
		case <-ctx.Done():
		case <-g.gone:
			g.note("no session left up: ending the hold")
		}
		t.Stop()
	}
	res.Held = time.Since(holdStart)
	res.Interrupted = ctx.Err() != nil
	g.note("hold over after %v: %d sessions up, %d lost; tearing down", res.Held.Round(time.Millisecond), g.up.Load()-g.lost.Load(), g.lost.Load())
	close(g.stop)
	g.quiet.Wait()
	close(g.teardown)
	runWG.Wait()
	g.note("teardown done in %v", time.Since(holdStart.Add(res.Held)).Round(time.Millisecond))

	g.mu.Lock()
	defer g.mu.Unlock()
	res.Started = int(g.started.Load())
	res.Failed = int(g.failed.Load())
	res.Lost = int(g.lost.Load())
	res.Failures = g.failures.sorted()
	res.LostReasons = g.lostWhy.sorted()
	res.Setup = slices.Clone(g.setup)
	slices.Sort(res.Setup)
	res.PingsSent = g.pingsSent.Load()
	res.PingsAnswered = g.pingsAnswered.Load()
	res.PingsLost = g.pingsLost.Load()
	res.PingsBad = g.pingsBad.Load()
	res.PingsLate = g.pingsLate.Load()
	res.Unexpected = g.unexpected.Load()
	return res, nil
}

func rateText(r float64) string {
	if r <= 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%g/s", r)
}

// check validates what Run cannot work without and fills in defaults.
func check(cfg *Config) error {
	switch {
	case !cfg.Server.Addr().Is4():
		return errors.New("loadgen: the server must be an IPv4 address")
	case cfg.Sessions < 1:
		return errors.New("loadgen: no sessions to open")
	case len(cfg.Users) == 0:
		return errors.New("loadgen: no user to log in as")
	case cfg.Rate < 0:
		return errors.New("loadgen: negative rate")
	}
	if cfg.Concurrency < 1 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = DefaultPingTimeout
	}
	if cfg.SetupTimeout <= 0 {
		cfg.SetupTimeout = DefaultSetupTimeout
	}
	if cfg.ProgressOut == nil {
		cfg.ProgressOut = io.Discard
	}
	return nil
}

// openEngines opens a GRE socket and engine per source address.
func (g *gen) openEngines() error {
	srcs := g.cfg.Sources
	mru := 1400 // pptp's customary size when the link is unknown
	err := g.enter(func() error {
		if len(srcs) == 0 {
			// Which address the kernel uses towards the server: a UDP
			// "connect" picks it and sends nothing.
			c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(g.cfg.Server))
			if err != nil {
				return fmt.Errorf("no route to %v: %w", g.cfg.Server.Addr(), err)
			}
			srcs = []netip.Addr{c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()}
			c.Close()
		}
		if lm, err := netcfg.LinkMTU(g.cfg.Server.Addr()); err == nil {
			mru = datapath.TunnelMTU(lm, g.cfg.Server.Addr())
		}
		for _, src := range srcs {
			s, err := datapath.ListenGRE(src, g.cfg.Server.Addr())
			if err != nil {
				return err
			}
			e := &engine{src: src}
			e.ids.next = uint16(rand.N(65535)) + 1
			e.e = datapath.NewEngine(datapath.Config{GRE: []*datapath.GRESocket{s}, Log: g.log.With("source", src.String())})
			g.engines = append(g.engines, e)
		}
		return nil
	})
	if err != nil {
		for _, e := range g.engines {
			e.e.Run(canceled()) // closes the socket
		}
		g.engines = nil
		return fmt.Errorf("loadgen: %w", err)
	}
	g.mru = mru
	return nil
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// note writes one progress line.
func (g *gen) note(format string, args ...any) {
	fmt.Fprintf(g.cfg.ProgressOut, "[%7.1fs] %s\n", time.Since(g.t0).Seconds(), fmt.Sprintf(format, args...))
}

func (g *gen) progress(stop, done chan struct{}) {
	defer close(done)
	if g.cfg.Progress <= 0 {
		return
	}
	t := time.NewTicker(g.cfg.Progress)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			g.note("started=%d up=%d failed=%d negotiating=%d lost=%d pings sent=%d lost=%d",
				g.started.Load(), g.up.Load(), g.failed.Load(), g.negotiating.Load(), g.lost.Load(),
				g.pingsSent.Load(), g.pingsLost.Load())
		}
	}
}

func (g *gen) recordFailure(reason string, err error) {
	g.failed.Add(1)
	ex := ""
	if err != nil {
		ex = err.Error()
	}
	g.mu.Lock()
	g.failures.add(reason, ex)
	g.mu.Unlock()
}

func (g *gen) recordLost(reason string, err error) {
	g.lost.Add(1)
	ex := ""
	if err != nil {
		ex = err.Error()
	}
	g.mu.Lock()
	g.lostWhy.add(reason, ex)
	g.mu.Unlock()
	g.checkGone()
}

// checkGone closes gone once the setup phase is over and every session
// that came up is lost.
func (g *gen) checkGone() {
	if g.setupDone.Load() && g.lost.Load() >= g.up.Load() {
		g.goneOnce.Do(func() { close(g.gone) })
	}
}

func (g *gen) recordUp(d time.Duration) {
	g.up.Add(1)
	g.mu.Lock()
	g.setup = append(g.setup, d)
	g.lastUp = time.Now()
	g.mu.Unlock()
}

// runSession is one session from start to teardown. release is called
// once the session is up or has failed: it frees a concurrency slot.
func (g *gen) runSession(i int, release func()) {
	eng := g.engines[i%len(g.engines)]
	s := &sess{g: g, i: i, eng: eng, user: g.cfg.Users[i%len(g.cfg.Users)]}
	defer s.cleanup()
	g.negotiating.Add(1)
	start := time.Now()
	reason, err := s.setup(start)
	g.negotiating.Add(-1)
	if reason != "" {
		g.recordFailure(reason, err)
		release()
		return
	}
	g.recordUp(time.Since(start))
	// Counted before release: Run waits for quiet only after every
	// setup has released.
	g.quiet.Add(1)
	release()
	var once sync.Once
	s.quiet = func() { once.Do(g.quiet.Done) }
	defer s.quiet()
	if reason, err := s.hold(); reason != "" {
		g.recordLost(reason, err)
	}
}
