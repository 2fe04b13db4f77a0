package datapath

import (
	"encoding/binary"
	"net/netip"
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
}

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
	return nil
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
