package server

import (
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// Defense bounds what one source address, and all of them together, can
// make the server do before anyone has authenticated. A concentrator on the
// Internet meets password guessers and connection floods every day; these
// limits keep one abusive address from locking out everybody else.
type Defense struct {
	// MaxHalfOpen caps control connections that have not finished the
	// Start-Control-Connection exchange, in all and per source address.
	MaxHalfOpen, MaxHalfOpenPerSource int
	// MaxStarting caps sessions still negotiating (accel-ppp's
	// max-starting): setting up a session costs CPU (MS-CHAP, keys), so
	// a reconnect storm is admitted in waves rather than all at once.
	MaxStarting int
	// ConnRate and ConnBurst are the per-source token bucket for new
	// control connections (per second, and the bucket size).
	ConnRate  float64
	ConnBurst int
	// LockoutFailures failed logins from one source within LockoutWindow
	// lock it out for LockoutTime, doubling for each further lockout up to
	// LockoutMax. 0 failures turns lockout off.
	LockoutFailures int
	LockoutWindow   time.Duration
	LockoutTime     time.Duration
	LockoutMax      time.Duration
}

// DefaultDefense is on unless configured otherwise: generous enough for an
// office of users behind one NAT address, tight enough to make password
// guessing slow.
func DefaultDefense() Defense {
	return Defense{
		MaxHalfOpen: 256, MaxHalfOpenPerSource: 16,
		MaxStarting: 256,
		ConnRate:    10, ConnBurst: 30,
		LockoutFailures: 10, LockoutWindow: 10 * time.Minute,
		LockoutTime: time.Minute, LockoutMax: time.Hour,
	}
}

// guard applies a Defense. Its state is per source address and bounded:
// idle entries are swept.
type guard struct {
	mu       sync.Mutex
	cfg      Defense
	sources  map[netip.Addr]*source
	halfOpen int
	lastGC   time.Time
}

type source struct {
	tokens      float64
	refilled    time.Time
	halfOpen    int
	failures    int
	failStart   time.Time
	lockedUntil time.Time
	lockouts    int
}

func newGuard(cfg Defense) *guard {
	return &guard{cfg: cfg, sources: map[netip.Addr]*source{}}
}

func (g *guard) setConfig(cfg Defense) {
	g.mu.Lock()
	g.cfg = cfg
	g.mu.Unlock()
}

// sourceKey is the unit a limit applies to: an IPv4 address, or the /64 an
// IPv6 address is in, since one host holds a whole /64 and could otherwise
// rotate through addresses to escape a lockout.
func sourceKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

func (g *guard) get(a netip.Addr, now time.Time) *source {
	k := sourceKey(a)
	s := g.sources[k]
	if s == nil {
		s = &source{tokens: float64(g.cfg.ConnBurst), refilled: now}
		g.sources[k] = s
	}
	return s
}

// lookup finds a source's state without creating it.
func (g *guard) lookup(a netip.Addr) *source { return g.sources[sourceKey(a)] }

// Refusal keys name the limit that refused a connection or a call (a
// metrics label and the start of the log reason).
const (
	refusedLockout        = "lockout"
	refusedRate           = "rate"
	refusedHalfOpen       = "half_open"
	refusedHalfOpenSource = "half_open_source"
	refusedSessions       = "session_limit"
	refusedStarting       = "starting_limit"
	refusedPool           = "pool"
	refusedCallID         = "call_id"
)

// admitConn decides whether a new control connection from a may proceed;
// when it may, the connection counts as half-open until established is
// called. Otherwise it returns the key of the limit that refused it and a
// sentence for the log.
func (g *guard) admitConn(a netip.Addr, now time.Time) (bool, string, string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweep(now)
	s := g.get(a, now)
	if now.Before(s.lockedUntil) {
		return false, refusedLockout, fmt.Sprintf("locked out for %v after failed logins", s.lockedUntil.Sub(now).Round(time.Second))
	}
	if g.cfg.ConnRate > 0 {
		s.tokens = min(float64(g.cfg.ConnBurst), s.tokens+now.Sub(s.refilled).Seconds()*g.cfg.ConnRate)
		s.refilled = now
		if s.tokens < 1 {
			return false, refusedRate, "more than the allowed rate of new connections"
		}
		s.tokens--
	}
	if g.cfg.MaxHalfOpen > 0 && g.halfOpen >= g.cfg.MaxHalfOpen {
		return false, refusedHalfOpen, "too many half-open control connections"
	}
	if g.cfg.MaxHalfOpenPerSource > 0 && s.halfOpen >= g.cfg.MaxHalfOpenPerSource {
		return false, refusedHalfOpenSource, "too many half-open control connections from this address"
	}
	g.halfOpen++
	s.halfOpen++
	return true, "", ""
}

// established ends a connection's half-open state (call it once).
func (g *guard) established(a netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.halfOpen--
	if s := g.lookup(a); s != nil {
		s.halfOpen--
	}
}

// loginFailed records a failed login from a and returns how long a is now
// locked out (0: not locked).
func (g *guard) loginFailed(a netip.Addr, now time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cfg.LockoutFailures <= 0 {
		return 0
	}
	s := g.get(a, now)
	if now.Sub(s.failStart) > g.cfg.LockoutWindow {
		s.failures, s.failStart = 0, now
	}
	s.failures++
	if s.failures < g.cfg.LockoutFailures {
		return 0
	}
	d := g.cfg.LockoutTime << min(s.lockouts, 20)
	d = min(d, g.cfg.LockoutMax)
	s.lockouts++
	s.failures = 0
	s.lockedUntil = now.Add(d)
	return d
}

// loginOK forgets a's failures: a user who found the password again is not
// a guesser.
func (g *guard) loginOK(a netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s := g.lookup(a); s != nil {
		s.failures = 0
	}
}

// lockedOut counts the sources locked out now.
func (g *guard) lockedOut(now time.Time) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, s := range g.sources {
		if now.Before(s.lockedUntil) {
			n++
		}
	}
	return n
}

// crowded is the number of sources above which sweeps run every second
// rather than every minute.
const crowded = 1 << 16

// sweep drops the state of addresses that have nothing left to remember,
// so that a scan from many addresses cannot grow the map without bound.
func (g *guard) sweep(now time.Time) {
	every := time.Minute
	if len(g.sources) > crowded {
		every = time.Second
	}
	if now.Sub(g.lastGC) < every {
		return
	}
	g.lastGC = now
	for a, s := range g.sources {
		idle := s.halfOpen == 0 && now.After(s.lockedUntil) && now.Sub(s.failStart) > g.cfg.LockoutWindow &&
			(g.cfg.ConnRate <= 0 || now.Sub(s.refilled).Seconds()*g.cfg.ConnRate >= float64(g.cfg.ConnBurst))
		// A source that was locked out keeps its history for a while so
		// that its next lockout is longer.
		if idle && now.Sub(s.lockedUntil) > g.cfg.LockoutMax {
			delete(g.sources, a)
		}
	}
}
