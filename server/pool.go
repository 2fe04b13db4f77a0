package server

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/gopptp/gopptp/config"
)

// ErrPoolExhausted is returned when every remote address is in use.
var ErrPoolExhausted = errors.New("address pool exhausted")

// Pool hands out tunnel addresses from pptpd.conf's localip and remoteip.
// As in poptop, a single localip is shared by every session, while a list
// pairs the i-th local address with the i-th remote one.
type Pool struct {
	mu     sync.Mutex
	local  config.AddrList
	remote config.AddrList
	used   map[netip.Addr]bool // remote addresses in use, pooled or not
	next   int
	named  map[string]*namedPool
}

// namedPool is one of pptpd.conf's ip-pool lines.
type namedPool struct {
	addrs config.AddrList
	next  int
}

// Lease is one session's pair of addresses.
type Lease struct {
	Local, Remote netip.Addr
}

// NewPool returns a pool over the given lists.
func NewPool(local, remote config.AddrList) (*Pool, error) {
	if local.Len() == 0 || remote.Len() == 0 {
		return nil, errors.New("localip and remoteip must each name at least one address")
	}
	return &Pool{local: local, remote: remote, used: map[netip.Addr]bool{}}, nil
}

// Size is the number of sessions the pool can address at once.
func (p *Pool) Size() int {
	if p.local.Len() > 1 && p.local.Len() < p.remote.Len() {
		return p.local.Len()
	}
	return p.remote.Len()
}

// Acquire leases the next free pair. Addresses are handed out round-robin
// so that a just-released address is not reused at once (a late packet of
// the old session must not reach the new one).
func (p *Pool) Acquire() (Lease, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.Size()
	for i := 0; i < n; i++ {
		idx := (p.next + i) % n
		r := p.remote.At(idx)
		if p.used[r] {
			continue
		}
		p.used[r] = true
		p.next = idx + 1
		return Lease{Local: p.localFor(idx), Remote: r}, nil
	}
	return Lease{}, ErrPoolExhausted
}

func (p *Pool) localFor(idx int) netip.Addr {
	if p.local.Len() == 1 {
		return p.local.At(0)
	}
	return p.local.At(idx)
}

// Release returns a lease's remote address to the pool.
func (p *Pool) Release(l Lease) {
	p.mu.Lock()
	delete(p.used, l.Remote)
	p.mu.Unlock()
}

// Claim marks addr, an address a secrets file or back-end assigns to a
// user, as in use; it fails if another session has it.
func (p *Pool) Claim(addr netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used[addr] {
		return false
	}
	p.used[addr] = true
	return true
}

// Unclaim releases an address taken with Claim.
func (p *Pool) Unclaim(addr netip.Addr) {
	p.mu.Lock()
	delete(p.used, addr)
	p.mu.Unlock()
}

// AddNamed adds a named pool that RADIUS's Framed-Pool can ask for. Its
// addresses share the in-use set with the rest, so pools may overlap.
func (p *Pool) AddNamed(name string, addrs config.AddrList) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.named == nil {
		p.named = map[string]*namedPool{}
	}
	p.named[name] = &namedPool{addrs: addrs}
}

// AcquireNamed claims the next free address of the named pool; release it
// with Unclaim.
func (p *Pool) AcquireNamed(name string) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	np := p.named[name]
	if np == nil {
		return netip.Addr{}, fmt.Errorf("no address pool named %q (ip-pool in pptpd.conf)", name)
	}
	n := np.addrs.Len()
	for i := 0; i < n; i++ {
		idx := (np.next + i) % n
		a := np.addrs.At(idx)
		if p.used[a] {
			continue
		}
		p.used[a] = true
		np.next = idx + 1
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("address pool %q: %w", name, ErrPoolExhausted)
}

// DefaultLocal is the local address for sessions whose remote address did
// not come from the pool.
func (p *Pool) DefaultLocal() netip.Addr { return p.local.At(0) }

// callIDs allocates the server's Call IDs: unique on the host (the GRE
// socket sees every call), non-zero, and not reused right away.
type callIDs struct {
	mu   sync.Mutex
	used map[uint16]bool
	next uint16
}

func newCallIDs(seed uint16) *callIDs {
	return &callIDs{used: map[uint16]bool{}, next: seed}
}

func (c *callIDs) acquire() (uint16, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 0; i < 1<<16; i++ {
		c.next++
		if c.next == 0 || c.used[c.next] {
			continue
		}
		c.used[c.next] = true
		return c.next, true
	}
	return 0, false
}

func (c *callIDs) release(id uint16) {
	c.mu.Lock()
	delete(c.used, id)
	c.mu.Unlock()
}
