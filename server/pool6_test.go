package server

import (
	"net/netip"
	"testing"
)

func TestPool6(t *testing.T) {
	p, err := NewPool6(netip.MustParsePrefix("2001:db8:100::/62"))
	if err != nil {
		t.Fatal(err)
	}
	if a := p.Server6Addr(); a != netip.MustParseAddr("2001:db8:100::1") {
		t.Errorf("server address %v", a)
	}
	// Three /64s for sessions: the first is the server's.
	var got []netip.Prefix
	for range 3 {
		q, err := p.Acquire()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, q)
	}
	want := []string{"2001:db8:100:1::/64", "2001:db8:100:2::/64", "2001:db8:100:3::/64"}
	for i, q := range got {
		if q.String() != want[i] {
			t.Errorf("lease %d: %v, want %s", i, q, want[i])
		}
	}
	if _, err := p.Acquire(); err != ErrPool6Exhausted {
		t.Errorf("fourth lease: %v", err)
	}
	// Released ones come back; ones outside the pool, or the server's,
	// are ignored.
	p.Release(got[1])
	p.Release(netip.MustParsePrefix("2001:db8:100::/64"))
	p.Release(netip.MustParsePrefix("2001:db8:200:1::/64"))
	if q, err := p.Acquire(); err != nil || q != got[1] {
		t.Errorf("after release: %v %v", q, err)
	}
	// A new pool over the same prefix takes the leases over (reload).
	n, _ := NewPool6(netip.MustParsePrefix("2001:db8:100::/62"))
	for _, q := range p.InUse() {
		n.Claim(q)
	}
	if _, err := n.Acquire(); err != ErrPool6Exhausted {
		t.Errorf("claimed pool handed out a /64 in use: %v", err)
	}
	for _, bad := range []string{"2001:db8::/64", "10.0.0.0/8"} {
		if _, err := NewPool6(netip.MustParsePrefix(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	// A huge pool is bounded, and still works.
	big, err := NewPool6(netip.MustParsePrefix("2001:db8::/32"))
	if err != nil {
		t.Fatal(err)
	}
	if q, err := big.Acquire(); err != nil || q.String() != "2001:db8:0:1::/64" {
		t.Errorf("big pool: %v %v", q, err)
	}
}

// TestPool6Take: a /64 assigned elsewhere (RADIUS) is kept from Acquire
// when it lies in the pool, cannot be taken twice, and comes back with
// Release; one outside the pool is not the pool's concern, and the
// server's own /64 is never a session's.
func TestPool6Take(t *testing.T) {
	p, err := NewPool6(netip.MustParsePrefix("2001:db8:100::/63"))
	if err != nil {
		t.Fatal(err)
	}
	second := netip.MustParsePrefix("2001:db8:100:1::/64")
	if !p.Take(second) || p.Take(second) {
		t.Error("Take of a free /64 failed, or a taken one was taken again")
	}
	if q, err := p.Acquire(); err == nil {
		t.Errorf("Acquire gave %v, the /64 taken", q)
	}
	p.Release(second)
	if q, err := p.Acquire(); err != nil || q != second {
		t.Errorf("Acquire after Release = %v, %v", q, err)
	}
	if !p.Take(netip.MustParsePrefix("2001:db8:999::/64")) {
		t.Error("a /64 outside the pool refused")
	}
	if p.Take(netip.MustParsePrefix("2001:db8:100::/64")) {
		t.Error("the server's /64 taken")
	}
}

// TestPool6Bounds: a prefix so short that the pool's size overflows
// (::/0: 1<<64 is 0, and Acquire then searched 2^64-1 indexes holding
// the lock) is refused; the shortest accepted one works, and a full big
// pool says so without scanning it.
func TestPool6Bounds(t *testing.T) {
	for _, bad := range []string{"::/0", "2000::/3", "2001::/15"} {
		if _, err := NewPool6(netip.MustParsePrefix(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	p, err := NewPool6(netip.MustParsePrefix("2001::/16"))
	if err != nil {
		t.Fatal(err)
	}
	q, err := p.Acquire()
	if err != nil || q.String() != "2001:0:0:1::/64" {
		t.Fatalf("Acquire = %v, %v", q, err)
	}
	p.Release(q)
	if len(p.InUse()) != 0 {
		t.Errorf("Release left %v in use", p.InUse())
	}
	// A full pool: the count tells, whatever next points at.
	for i := uint64(1); i < p.size; i++ {
		p.used[i] = true
	}
	if _, err := p.Acquire(); err != ErrPool6Exhausted {
		t.Errorf("full pool: %v", err)
	}
}
