package datapath

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
)

// linkLocal64 is the upper half of every fe80::/64 address.
const linkLocal64 = 0xfe80_0000_0000_0000

// prefix6Table maps a session's IPv6 /64 (its upper 64 bits) to its call:
// each IPv6 session owns exactly one /64, so finding the call for a
// destination is an exact match on the upper half of the address, done
// like addrTable's lookups without a lock or an allocation.
type prefix6Table struct {
	mu      sync.Mutex
	buckets [addrBuckets]atomic.Pointer[[]prefix6Entry]
	// prefixes are shorter prefixes routed through sessions (RADIUS's
	// Delegated-IPv6-Prefix), longest first; consulted only when no /64
	// matches, so that sessions without them cost nothing.
	prefixes atomic.Pointer[[]prefix6Route]
}

// prefix6Route is a prefix of /64 or shorter routed to a call, kept as a
// mask on the upper half of the address: delegated prefixes end at /64,
// where the interface identifier starts.
type prefix6Route struct {
	hi, mask uint64
	bits     int
	call     *Call
}

func (e prefix6Route) contains(hi uint64) bool { return hi&e.mask == e.hi }

type prefix6Entry struct {
	hi   uint64
	call *Call
}

func bucket6(hi uint64) uint64 {
	// Sessions' /64s usually differ in the bits just above the interface
	// identifier: fold those down.
	return (hi ^ hi>>12 ^ hi>>32) % addrBuckets
}

// hi64 returns the upper 64 bits of an IPv6 address in b (16 bytes).
func hi64(b []byte) uint64 { return binary.BigEndian.Uint64(b[:8]) }

func lo64(b []byte) uint64 { return binary.BigEndian.Uint64(b[8:16]) }

func (t *prefix6Table) lookup(hi uint64) *Call {
	if p := t.buckets[bucket6(hi)].Load(); p != nil {
		for _, e := range *p {
			if e.hi == hi {
				return e.call
			}
		}
	}
	if p := t.prefixes.Load(); p != nil {
		for _, e := range *p {
			if e.contains(hi) {
				return e.call
			}
		}
	}
	return nil
}

// newPrefix6Route checks that p is an IPv6 prefix of /64 or shorter and
// returns its entry for c.
func newPrefix6Route(p netip.Prefix, c *Call) (prefix6Route, error) {
	if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() || p.Bits() > 64 {
		return prefix6Route{}, fmt.Errorf("datapath: %v is not an IPv6 prefix of /64 or shorter", p)
	}
	a := p.Masked().Addr().As16()
	var mask uint64
	if p.Bits() > 0 {
		mask = ^uint64(0) << (64 - p.Bits())
	}
	return prefix6Route{hi: hi64(a[:]), mask: mask, bits: p.Bits(), call: c}, nil
}

// addPrefixes routes ps to c. It refuses, changing nothing, a prefix
// that another call already has.
func (t *prefix6Table) addPrefixes(ps []prefix6Route, c *Call) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var next []prefix6Route
	if old := t.prefixes.Load(); old != nil {
		next = append(next, *old...)
	}
	for _, n := range ps {
		for _, e := range next {
			if e.hi == n.hi && e.bits == n.bits && e.call != c {
				var a [16]byte
				binary.BigEndian.PutUint64(a[:8], n.hi)
				return fmt.Errorf("%v is routed to another session", netip.PrefixFrom(netip.AddrFrom16(a), n.bits))
			}
		}
		next = append(next, n)
	}
	slices.SortStableFunc(next, func(a, b prefix6Route) int { return b.bits - a.bits })
	t.prefixes.Store(&next)
	return nil
}

// removePrefixes drops c's prefixes.
func (t *prefix6Table) removePrefixes(c *Call) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.prefixes.Load()
	if old == nil {
		return
	}
	next := slices.DeleteFunc(slices.Clone(*old), func(e prefix6Route) bool { return e.call == c })
	if len(next) == 0 {
		t.prefixes.Store(nil)
		return
	}
	t.prefixes.Store(&next)
}

// add routes the /64 whose upper half is hi to c, replacing another call's
// entry (a late session that did not clean up must not keep it).
func (t *prefix6Table) add(hi uint64, c *Call) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := &t.buckets[bucket6(hi)]
	var next []prefix6Entry
	if old := b.Load(); old != nil {
		for _, e := range *old {
			if e.hi != hi {
				next = append(next, e)
			}
		}
	}
	next = append(next, prefix6Entry{hi, c})
	b.Store(&next)
}

// remove drops the entry for hi if it is c's.
func (t *prefix6Table) remove(hi uint64, c *Call) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := &t.buckets[bucket6(hi)]
	old := b.Load()
	if old == nil {
		return
	}
	var next []prefix6Entry
	for _, e := range *old {
		if e.hi != hi || e.call != c {
			next = append(next, e)
		}
	}
	if len(next) == 0 {
		b.Store(nil)
		return
	}
	b.Store(&next)
}

// prefix64 checks that p is a /64 and returns its upper half.
func prefix64(p netip.Prefix) (uint64, bool) {
	if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() || p.Bits() != 64 {
		return 0, false
	}
	a := p.Masked().Addr().As16()
	return hi64(a[:]), true
}
