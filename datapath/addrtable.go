package datapath

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
)

// addrTable maps a tunnel IPv4 address to its call. Lookups, one per packet
// from the TUN device, take no lock and allocate nothing: each bucket is an
// immutable slice replaced whole (copy on write) under mu when sessions come
// and go, which is rare next to packets.
type addrTable struct {
	mu      sync.Mutex
	buckets [addrBuckets]atomic.Pointer[[]addrEntry]
	// prefixes are subnets routed through sessions (a router's LAN behind
	// a client), longest first; consulted only when no address matches.
	prefixes atomic.Pointer[[]prefixEntry]
}

// prefixEntry is one routed subnet.
type prefixEntry struct {
	net, mask uint32
	bits      int
	call      *Call
}

func newPrefixEntry(p netip.Prefix, c *Call) prefixEntry {
	p = p.Masked()
	mask := uint32(0)
	if p.Bits() > 0 {
		mask = ^uint32(0) << (32 - p.Bits())
	}
	return prefixEntry{net: key(p.Addr()), mask: mask, bits: p.Bits(), call: c}
}

func (e prefixEntry) contains(a uint32) bool { return a&e.mask == e.net }

type addrEntry struct {
	addr uint32
	call *Call
}

const addrBuckets = 4096

func bucketOf(a uint32) uint32 {
	// Pools are usually consecutive addresses: the low bits spread them.
	return (a ^ a>>12) % addrBuckets
}

func key(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func (t *addrTable) lookup(a uint32) *Call {
	if p := t.buckets[bucketOf(a)].Load(); p != nil {
		for _, e := range *p {
			if e.addr == a {
				return e.call
			}
		}
	}
	return t.lookupPrefix(a)
}

func (t *addrTable) lookupPrefix(a uint32) *Call {
	p := t.prefixes.Load()
	if p == nil {
		return nil
	}
	for _, e := range *p {
		if e.contains(a) {
			return e.call
		}
	}
	return nil
}

// addPrefixes routes the subnets ps to c. It refuses, changing nothing, a
// subnet that another call already has.
func (t *addrTable) addPrefixes(ps []prefixEntry, c *Call) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var next []prefixEntry
	if old := t.prefixes.Load(); old != nil {
		next = append(next, *old...)
	}
	for _, n := range ps {
		for _, e := range next {
			if e.net == n.net && e.bits == n.bits && e.call != c {
				return fmt.Errorf("%s is routed to another session", netip.PrefixFrom(netip.AddrFrom4(be4(n.net)), n.bits))
			}
		}
		next = append(next, n)
	}
	slices.SortStableFunc(next, func(a, b prefixEntry) int { return b.bits - a.bits })
	t.prefixes.Store(&next)
	return nil
}

func (t *addrTable) removePrefixes(c *Call) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.prefixes.Load()
	if old == nil {
		return
	}
	next := slices.DeleteFunc(slices.Clone(*old), func(e prefixEntry) bool { return e.call == c })
	t.prefixes.Store(&next)
}

func be4(a uint32) [4]byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], a)
	return b
}

func (t *addrTable) add(a netip.Addr, c *Call) {
	k := key(a)
	t.mu.Lock()
	defer t.mu.Unlock()
	b := &t.buckets[bucketOf(k)]
	var next []addrEntry
	if old := b.Load(); old != nil {
		for _, e := range *old {
			if e.addr != k {
				next = append(next, e)
			}
		}
	}
	next = append(next, addrEntry{k, c})
	b.Store(&next)
}

func (t *addrTable) remove(a netip.Addr, c *Call) {
	k := key(a)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.filter(&t.buckets[bucketOf(k)], func(e addrEntry) bool { return !(e.addr == k && e.call == c) })
}

// removeCall drops every entry of c (a call removed before SetNetwork down).
func (t *addrTable) removeCall(c *Call) {
	a := c.tunnelIP.Load()
	if a == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.filter(&t.buckets[bucketOf(a)], func(e addrEntry) bool { return e.call != c })
}

func (t *addrTable) filter(b *atomic.Pointer[[]addrEntry], keep func(addrEntry) bool) {
	old := b.Load()
	if old == nil {
		return
	}
	var next []addrEntry
	for _, e := range *old {
		if keep(e) {
			next = append(next, e)
		}
	}
	if len(next) == 0 {
		b.Store(nil)
		return
	}
	b.Store(&next)
}
