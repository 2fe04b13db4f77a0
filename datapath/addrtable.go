package datapath

import (
	"encoding/binary"
	"net/netip"
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
}

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
	p := t.buckets[bucketOf(a)].Load()
	if p == nil {
		return nil
	}
	for _, e := range *p {
		if e.addr == a {
			return e.call
		}
	}
	return nil
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
