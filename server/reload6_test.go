package server

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/gopptp/gopptp/config"
	"github.com/gopptp/gopptp/ppp/auth"
)

type refuseAll struct{}

func (refuseAll) Verify(context.Context, *auth.Request) (*auth.Result, error) {
	return &auth.Result{Reason: "test"}, nil
}

func testPool(t *testing.T) *Pool {
	t.Helper()
	l, err := config.ParseAddrList("10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := config.ParseAddrList("10.0.0.2-9")
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPool(l, r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func testPool6(t *testing.T, s string) *Pool6 {
	t.Helper()
	p, err := NewPool6(netip.MustParsePrefix(s))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReloadPool6HandsOver: after a reload that changes ipv6-prefix, a
// session's /64 (from the old pool, or assigned by RADIUS and taken out
// of it) is reserved in the new pool while the session holds it, and
// freed there when IPv6 goes down. It used to go back to the old pool,
// and stay in use in the new one for good.
func TestReloadPool6HandsOver(t *testing.T) {
	old := testPool6(t, "2001:db8:100::/62")
	s, err := New(Config{Verifier: refuseAll{}, Pool: testPool(t), Pool6: old})
	if err != nil {
		t.Fatal(err)
	}
	pooled := &call{id: 1, cfg: &s.cfg, pool: s.cfg.Pool, pool6: old}
	framed := &call{id: 2, cfg: &s.cfg, pool: s.cfg.Pool, pool6: old}
	noPool := &call{id: 3, cfg: &s.cfg, pool: s.cfg.Pool}
	s.sessions[1], s.sessions[2], s.sessions[3] = pooled, framed, noPool

	p1, a, err := pooled.acquirePrefix6()
	if err != nil || p1.String() != "2001:db8:100:1::/64" || a != old.Server6Addr() {
		t.Fatalf("acquirePrefix6 = %v, %v, %v", p1, a, err)
	}
	p2 := netip.MustParsePrefix("2001:db8:100:3::/64")
	if _, err := s.claimPrefix6(framed, p2); err != nil {
		t.Fatal(err)
	}

	// The new pool contains the old one.
	n := testPool6(t, "2001:db8:100::/60")
	if err := s.Reload(Config{Verifier: refuseAll{}, Pool: testPool(t), Pool6: n}); err != nil {
		t.Fatal(err)
	}
	inUse := n.InUse()
	slices.SortFunc(inUse, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
	if !slices.Equal(inUse, []netip.Prefix{p1, p2}) {
		t.Fatalf("new pool in use %v, want %v and %v", inUse, p1, p2)
	}
	if noPool.pool6 != nil {
		t.Error("a session admitted without an IPv6 pool got one on reload")
	}
	pooled.releasePrefix6()
	framed.releasePrefix6()
	if q := n.InUse(); len(q) != 0 {
		t.Errorf("after the sessions' IPv6 went down the new pool still has %v in use", q)
	}
	// Both come back from the new pool (round-robin past the others).
	got := map[netip.Prefix]bool{}
	for range 15 {
		q, err := n.Acquire()
		if err != nil {
			t.Fatalf("new pool: %v after %d leases", err, len(got))
		}
		got[q] = true
	}
	if !got[p1] || !got[p2] {
		t.Errorf("leases of the new pool %v lack %v or %v", got, p1, p2)
	}
}
