// Package ipcp implements the PPP IP Control Protocol (RFC 1332) with the
// Microsoft DNS and NBNS server options (RFC 1877) on the shared option
// automaton.
//
// The same layer serves both ends. The server knows both addresses and
// naks the peer into taking the one it assigns; the client asks for
// 0.0.0.0 (and, with usepeerdns, DNS 0.0.0.0) and takes what the server's
// naks suggest.
package ipcp

import (
	"fmt"
	"net/netip"

	"github.com/gopptp/gopptp/ppp"
)

// Option types.
const (
	OptAddresses   = 1 // IP-Addresses, deprecated by RFC 1332
	OptCompression = 2 // IP-Compression-Protocol (Van Jacobson)
	OptAddress     = 3
	OptDNS1        = 129 // RFC 1877
	OptNBNS1       = 130
	OptDNS2        = 131
	OptNBNS2       = 132
)

// Config says what this end offers and wants.
type Config struct {
	// Local is our address. Unspecified (the zero Addr) means "ask the
	// peer to assign one", which is what a client does.
	Local netip.Addr
	// Peer is the address the peer must use. The server sets it; a client
	// that leaves it zero accepts whatever address the server has.
	Peer netip.Addr
	// DNS and NBNS are the servers we tell the peer about when it asks
	// (the server's ms-dns and ms-wins). Unset entries are rejected.
	DNS, NBNS [2]netip.Addr
	// RequestDNS makes us ask the peer for DNS servers (usepeerdns).
	RequestDNS bool
}

// Result is the agreed configuration, valid while IPCP is opened.
type Result struct {
	Local, Peer netip.Addr
	DNS         []netip.Addr // DNS servers the peer gave us
}

// Hooks are the session's reactions to IPCP events; they run on the
// session's goroutine and must not call back into this IPCP.
type Hooks struct {
	Up       func(Result)
	Down     func()
	Finished func(reason string)
}

// IPCP is one link's IP Control Protocol instance.
type IPCP struct {
	*ppp.FSM
	cfg   Config
	hooks Hooks

	wantLocal netip.Addr
	noAddr    bool
	wantDNS   [2]netip.Addr
	askDNS    [2]bool
	lastReq   []byte
	peer      netip.Addr
	failure   string
}

// New returns an IPCP instance sending through send with the given Restart
// timer.
func New(cfg Config, hooks Hooks, send func(ppp.Packet), timer ppp.Timer, fsmCfg ppp.Config) *IPCP {
	c := &IPCP{cfg: cfg, hooks: hooks}
	c.FSM = ppp.NewFSM(ppp.ProtoIPCP, c, send, timer, fsmCfg)
	return c
}

// SetConfig replaces the configuration before negotiation starts (the
// server learns the peer's address from authentication).
func (c *IPCP) SetConfig(cfg Config) { c.cfg = cfg }

// Failure returns, once, why negotiation cannot succeed.
func (c *IPCP) Failure() string {
	f := c.failure
	c.failure = ""
	return f
}

// Result returns the agreed addresses.
func (c *IPCP) Result() Result {
	r := Result{Local: c.wantLocal, Peer: c.peer}
	for i, d := range c.wantDNS {
		if c.askDNS[i] && d.IsValid() && !d.IsUnspecified() {
			r.DNS = append(r.DNS, d)
		}
	}
	return r
}

var zero4 = netip.IPv4Unspecified()

// ResetRequest implements ppp.Layer.
func (c *IPCP) ResetRequest() {
	c.wantLocal = c.cfg.Local
	if !c.wantLocal.IsValid() {
		c.wantLocal = zero4
	}
	c.noAddr = false
	c.askDNS = [2]bool{c.cfg.RequestDNS, c.cfg.RequestDNS}
	c.wantDNS = [2]netip.Addr{zero4, zero4}
	c.peer = netip.Addr{}
}

// AppendRequest implements ppp.Layer.
func (c *IPCP) AppendRequest(b []byte) []byte {
	start := len(b)
	if !c.noAddr {
		b = appendAddr(b, OptAddress, c.wantLocal)
	}
	for i, opt := range [2]uint8{OptDNS1, OptDNS2} {
		if c.askDNS[i] {
			b = appendAddr(b, opt, c.wantDNS[i])
		}
	}
	c.lastReq = append(c.lastReq[:0], b[start:]...)
	return b
}

func appendAddr(b []byte, typ uint8, a netip.Addr) []byte {
	v := a.As4()
	return ppp.AppendOption(b, typ, v[:]...)
}

func addrOf(o ppp.Option) (netip.Addr, bool) {
	if len(o.Data) != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(o.Data)), true
}

// GotAck implements ppp.Layer.
func (c *IPCP) GotAck(opts []byte) bool {
	return string(opts) == string(c.lastReq)
}

// GotNak implements ppp.Layer.
func (c *IPCP) GotNak(opts []byte) bool {
	os, err := ppp.ParseOptions(opts)
	if err != nil {
		return false
	}
	for _, o := range os {
		a, ok := addrOf(o)
		if !ok {
			continue
		}
		switch o.Type {
		case OptAddress:
			// Only an end that asked to be assigned an address takes
			// the peer's suggestion; a server keeps its own.
			if !c.cfg.Local.IsValid() && !a.IsUnspecified() {
				c.wantLocal = a
			}
		case OptDNS1:
			if c.askDNS[0] {
				c.wantDNS[0] = a
			}
		case OptDNS2:
			if c.askDNS[1] {
				c.wantDNS[1] = a
			}
		}
	}
	return true
}

// GotReject implements ppp.Layer.
func (c *IPCP) GotReject(opts []byte) bool {
	os, err := ppp.ParseOptions(opts)
	if err != nil {
		return false
	}
	for _, o := range os {
		switch o.Type {
		case OptAddress:
			if !c.cfg.Local.IsValid() {
				c.failure = "peer refused to assign us an IP address"
			}
			c.noAddr = true
		case OptDNS1:
			c.askDNS[0] = false
		case OptDNS2:
			c.askDNS[1] = false
		default:
			return false
		}
	}
	return true
}

// CheckRequest implements ppp.Layer.
func (c *IPCP) CheckRequest(opts []byte, rejectOnly bool) (ppp.Code, []byte) {
	os, err := ppp.ParseOptions(opts)
	if err != nil {
		return ppp.ConfRej, nil
	}
	r := ppp.NewReply(rejectOnly)
	var peer netip.Addr
	sawAddr := false
	for _, o := range os {
		switch o.Type {
		case OptAddress:
			a, ok := addrOf(o)
			if !ok {
				r.Reject(o)
				continue
			}
			sawAddr = true
			switch {
			case c.cfg.Peer.IsValid() && a != c.cfg.Peer:
				r.Nak(o, c.cfg.Peer.AsSlice())
			case a.IsUnspecified():
				// The peer wants an address and we have none to give.
				r.Reject(o)
			default:
				peer = a
			}
		case OptDNS1, OptDNS2, OptNBNS1, OptNBNS2:
			a, ok := addrOf(o)
			want := c.serverFor(o.Type)
			switch {
			case !ok || !want.IsValid():
				r.Reject(o)
			case a != want:
				r.Nak(o, want.AsSlice())
			}
		default:
			// VJ compression, the deprecated IP-Addresses option and
			// anything unknown.
			r.Reject(o)
		}
	}
	if !sawAddr && c.cfg.Peer.IsValid() {
		// RFC 1332: the peer may omit its address; we insist on the one
		// we assign, as pppd does.
		r.NakAdd(OptAddress, c.cfg.Peer.AsSlice())
	}
	code, reply := r.Result(opts)
	if code == ppp.ConfAck {
		c.peer = peer
		if !peer.IsValid() {
			c.peer = c.cfg.Peer
		}
	}
	return code, reply
}

func (c *IPCP) serverFor(opt uint8) netip.Addr {
	switch opt {
	case OptDNS1:
		return c.cfg.DNS[0]
	case OptDNS2:
		return c.cfg.DNS[1]
	case OptNBNS1:
		return c.cfg.NBNS[0]
	case OptNBNS2:
		return c.cfg.NBNS[1]
	}
	return netip.Addr{}
}

// LayerUp implements ppp.Layer.
func (c *IPCP) LayerUp() {
	if c.wantLocal.IsUnspecified() {
		c.failure = "IPCP opened without an address for us"
		return
	}
	if c.hooks.Up != nil {
		c.hooks.Up(c.Result())
	}
}

// LayerDown implements ppp.Layer.
func (c *IPCP) LayerDown() {
	if c.hooks.Down != nil {
		c.hooks.Down()
	}
}

// LayerStarted implements ppp.Layer.
func (c *IPCP) LayerStarted() {}

// LayerFinished implements ppp.Layer.
func (c *IPCP) LayerFinished(reason string) {
	if c.hooks.Finished != nil {
		c.hooks.Finished(reason)
	}
}

// ExtCode implements ppp.Layer: IPCP has no codes beyond 1-7.
func (c *IPCP) ExtCode(ppp.Packet) bool { return false }

// String describes the result for logs.
func (r Result) String() string {
	return fmt.Sprintf("local %v remote %v dns %v", r.Local, r.Peer, r.DNS)
}
