package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
)

// ErrPool6Exhausted is returned when every /64 of the IPv6 pool is in use.
var ErrPool6Exhausted = errors.New("IPv6 prefix pool exhausted")

// Pool6 hands out the /64s of pptpd.conf's ipv6-prefix, one per IPv6
// session. The first /64 is the server's own: its address on the TUN
// device (Server6Addr) lives there.
type Pool6 struct {
	prefix netip.Prefix
	base   uint64 // upper half of the first /64
	size   uint64 // /64s in the pool, the server's included
	mu     sync.Mutex
	used   map[uint64]bool // /64 indexes in use
	next   uint64
}

// maxPool6 bounds the /64s a pool offers: more than any server will have
// sessions, and small enough that a search for a free one is short.
const maxPool6 = 1 << 20

// MinPool6Bits is the shortest prefix NewPool6 accepts. Nothing shorter
// is ever delegated to one server (a /16 is a sixteenth of the global
// unicast space), and ::/0 would make the pool's size 1<<64, which
// overflows to 0.
const MinPool6Bits = 16

// NewPool6 returns a pool over prefix, which must be an IPv6 prefix of
// /MinPool6Bits to /63.
func NewPool6(prefix netip.Prefix) (*Pool6, error) {
	if !prefix.IsValid() || !prefix.Addr().Is6() || prefix.Bits() > 63 || prefix.Bits() < MinPool6Bits {
		return nil, fmt.Errorf("IPv6 pool %v: want an IPv6 prefix of /%d to /63", prefix, MinPool6Bits)
	}
	prefix = prefix.Masked()
	a := prefix.Addr().As16()
	// 64-bits is 1 to 48 here, so the shift neither overflows nor is 0.
	return &Pool6{prefix: prefix, base: binary.BigEndian.Uint64(a[:8]),
		size: min(uint64(1)<<(64-prefix.Bits()), maxPool6), used: map[uint64]bool{}, next: 1}, nil
}

// Prefix returns the pool's prefix.
func (p *Pool6) Prefix() netip.Prefix { return p.prefix }

func (p *Pool6) at(i uint64) netip.Prefix {
	var a [16]byte
	binary.BigEndian.PutUint64(a[:8], p.base+i)
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

// Server6Addr is the server's address in the pool: ::1 of the first /64.
func (p *Pool6) Server6Addr() netip.Addr {
	a := p.at(0).Addr().As16()
	a[15] = 1
	return netip.AddrFrom16(a)
}

// Acquire leases a free /64, round-robin so that a just-released one is
// not handed out again at once. The search is O(/64s in use), not
// O(pool size): a full pool is told by the count alone, and otherwise
// the scan passes at most every used index before it finds a free one.
func (p *Pool6) Acquire() (netip.Prefix, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// used holds only indexes 1 to size-1 (index() admits no others).
	if uint64(len(p.used)) >= p.size-1 {
		return netip.Prefix{}, ErrPool6Exhausted
	}
	for range p.size - 1 {
		i := p.next
		p.next++
		if p.next >= p.size {
			p.next = 1
		}
		if !p.used[i] {
			p.used[i] = true
			return p.at(i), nil
		}
	}
	return netip.Prefix{}, ErrPool6Exhausted
}

// index returns the index of the /64 q in the pool.
func (p *Pool6) index(q netip.Prefix) (uint64, bool) {
	if q.Bits() != 64 || !p.prefix.Contains(q.Addr()) {
		return 0, false
	}
	a := q.Addr().As16()
	i := binary.BigEndian.Uint64(a[:8]) - p.base
	return i, i > 0 && i < p.size
}

// Release returns a /64 Acquire or Claim gave out.
func (p *Pool6) Release(q netip.Prefix) {
	if i, ok := p.index(q); ok {
		p.mu.Lock()
		delete(p.used, i)
		p.mu.Unlock()
	}
}

// Claim marks q in use if it lies in the pool (a session that started
// under an earlier configuration keeps its /64 across a reload).
func (p *Pool6) Claim(q netip.Prefix) {
	if i, ok := p.index(q); ok {
		p.mu.Lock()
		p.used[i] = true
		p.mu.Unlock()
	}
}

// Take marks q in use for a session that was assigned it elsewhere
// (RADIUS's Framed-IPv6-Prefix), so that Acquire does not hand it out
// too. It reports false when q lies in the pool and is in use already; a
// q outside the pool is no business of the pool's, and true.
func (p *Pool6) Take(q netip.Prefix) bool {
	i, ok := p.index(q)
	if !ok {
		return q != p.at(0) // the server's own /64 is never a session's
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used[i] {
		return false
	}
	p.used[i] = true
	return true
}

// InUse returns the /64s handed out.
func (p *Pool6) InUse() []netip.Prefix {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]netip.Prefix, 0, len(p.used))
	for i := range p.used {
		out = append(out, p.at(i))
	}
	return out
}
