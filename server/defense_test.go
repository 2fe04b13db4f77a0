package server

import (
	"net/netip"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestGuardConnectionRate(t *testing.T) {
	g := newGuard(Defense{ConnRate: 2, ConnBurst: 4})
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	admit := func(x netip.Addr, at time.Time) string {
		ok, key, _ := g.admitConn(x, at)
		if ok {
			g.established(x)
			return ""
		}
		return key
	}
	for i := range 4 {
		if k := admit(a, t0); k != "" {
			t.Fatalf("connection %d within the burst refused: %s", i, k)
		}
	}
	if k := admit(a, t0); k != refusedRate {
		t.Fatalf("fifth connection at once: %q, want %q", k, refusedRate)
	}
	// Another address has its own bucket.
	if k := admit(b, t0); k != "" {
		t.Errorf("other address refused: %s", k)
	}
	// Two per second refill.
	if k := admit(a, t0.Add(500*time.Millisecond)); k != "" {
		t.Errorf("after half a second: %s", k)
	}
	if k := admit(a, t0.Add(600*time.Millisecond)); k != refusedRate {
		t.Errorf("second one after half a second: %q", k)
	}
}

func TestGuardHalfOpen(t *testing.T) {
	g := newGuard(Defense{MaxHalfOpen: 3, MaxHalfOpenPerSource: 2})
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
	for _, x := range []netip.Addr{a, a} {
		if ok, k, _ := g.admitConn(x, t0); !ok {
			t.Fatalf("refused: %s", k)
		}
	}
	if ok, k, _ := g.admitConn(a, t0); ok || k != refusedHalfOpenSource {
		t.Errorf("third half-open from one source: %v %q", ok, k)
	}
	if ok, _, _ := g.admitConn(b, t0); !ok {
		t.Errorf("another source refused")
	}
	if ok, k, _ := g.admitConn(c, t0); ok || k != refusedHalfOpen {
		t.Errorf("fourth half-open in all: %v %q", ok, k)
	}
	g.established(a)
	if ok, k, _ := g.admitConn(c, t0); !ok {
		t.Errorf("after one established: %q", k)
	}
}

func TestGuardLockoutBackoff(t *testing.T) {
	g := newGuard(Defense{LockoutFailures: 3, LockoutWindow: time.Minute, LockoutTime: 10 * time.Second, LockoutMax: 25 * time.Second})
	a, other := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("198.51.100.8")
	now := t0
	fail := func(n int) time.Duration {
		var d time.Duration
		for range n {
			d = g.loginFailed(a, now)
		}
		return d
	}
	if d := fail(2); d != 0 {
		t.Fatalf("locked after 2 failures: %v", d)
	}
	if d := fail(1); d != 10*time.Second {
		t.Fatalf("third failure: lockout %v, want 10s", d)
	}
	if ok, k, _ := g.admitConn(a, now.Add(9*time.Second)); ok || k != refusedLockout {
		t.Errorf("during the lockout: %v %q", ok, k)
	}
	if ok, _, _ := g.admitConn(other, now.Add(time.Second)); !ok {
		t.Errorf("another address locked out too")
	}
	if got := g.lockedOut(now.Add(time.Second)); got != 1 {
		t.Errorf("lockedOut = %d", got)
	}
	now = now.Add(11 * time.Second)
	if ok, _, _ := g.admitConn(a, now); !ok {
		t.Errorf("after the lockout: still refused")
	} else {
		g.established(a)
	}
	// The next lockout doubles, then stops at the maximum.
	if d := fail(3); d != 20*time.Second {
		t.Errorf("second lockout %v, want 20s", d)
	}
	now = now.Add(21 * time.Second)
	if d := fail(3); d != 25*time.Second {
		t.Errorf("third lockout %v, want the 25s maximum", d)
	}
	// Failures spread wider than the window never lock.
	b := netip.MustParseAddr("198.51.100.9")
	for i := range 10 {
		if d := g.loginFailed(b, t0.Add(time.Duration(i)*31*time.Second)); d != 0 {
			t.Fatalf("slow failures locked out at %d", i)
		}
	}
	// A successful login forgets the failures.
	c := netip.MustParseAddr("198.51.100.10")
	g.loginFailed(c, t0)
	g.loginFailed(c, t0)
	g.loginOK(c)
	if d := g.loginFailed(c, t0); d != 0 {
		t.Errorf("failures counted across a successful login")
	}
}

func TestGuardIPv6Aggregates64(t *testing.T) {
	g := newGuard(Defense{LockoutFailures: 2, LockoutWindow: time.Minute, LockoutTime: time.Minute, LockoutMax: time.Hour})
	g.loginFailed(netip.MustParseAddr("2001:db8:1:2::1"), t0)
	if d := g.loginFailed(netip.MustParseAddr("2001:db8:1:2:ffff::9"), t0); d == 0 {
		t.Fatal("two failures from one /64 did not lock it out")
	}
	if ok, _, _ := g.admitConn(netip.MustParseAddr("2001:db8:1:2::abcd"), t0); ok {
		t.Error("a third address in the /64 got in")
	}
	if ok, _, _ := g.admitConn(netip.MustParseAddr("2001:db8:1:3::1"), t0); !ok {
		t.Error("the neighbouring /64 is locked out")
	}
}

func TestGuardSweep(t *testing.T) {
	g := newGuard(Defense{ConnRate: 10, ConnBurst: 10, LockoutFailures: 1, LockoutWindow: time.Minute,
		LockoutTime: time.Minute, LockoutMax: time.Hour})
	for i := range 1000 {
		a := netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		if ok, _, _ := g.admitConn(a, t0); ok {
			g.established(a)
		}
	}
	locked := netip.MustParseAddr("192.0.2.99")
	g.loginFailed(locked, t0)
	g.admitConn(netip.MustParseAddr("192.0.2.1"), t0.Add(2*time.Minute))
	if n := len(g.sources); n != 2 {
		t.Errorf("%d sources after a sweep, want the locked one and the newcomer", n)
	}
	// A source that was locked keeps its history until LockoutMax has passed.
	g.admitConn(netip.MustParseAddr("192.0.2.2"), t0.Add(62*time.Minute))
	if g.lookup(locked) != nil {
		t.Error("locked-out source never forgotten")
	}
}
