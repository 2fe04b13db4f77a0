// Package ipv6cp implements the PPP IPv6 Control Protocol (RFC 5072) on the
// shared option automaton: the two ends agree on distinct 64-bit interface
// identifiers, from which each forms its link-local address (fe80::/64).
// Global addresses then come from router advertisements on the link.
package ipv6cp

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/gopptp/gopptp/ppp"
)

// OptInterfaceID is the Interface-Identifier option (RFC 5072 section 4.1).
// IPv6-Compression-Protocol (2) is always rejected.
const OptInterfaceID = 1

// ID is a 64-bit interface identifier; zero means "none chosen".
type ID uint64

// Config says what this end wants.
type Config struct {
	// Local is our tentative interface identifier; zero asks the peer to
	// suggest one.
	Local ID
	// Peer, when non-zero, is the identifier the peer must use (a server
	// that assigns them); zero accepts the peer's choice unless it is
	// zero or equal to ours.
	Peer ID
	// Random returns a fresh non-zero identifier with the universal/local
	// bit clear, for collisions and for a peer that asks for one.
	Random func() ID
}

// Result is the agreed identifiers, valid while IPV6CP is opened.
type Result struct {
	Local, Peer ID
}

// LinkLocal returns the fe80::/64 address of an interface identifier.
func (id ID) LinkLocal() netip.Addr {
	var b [16]byte
	b[0], b[1] = 0xfe, 0x80
	binary.BigEndian.PutUint64(b[8:], uint64(id))
	return netip.AddrFrom16(b)
}

// String formats id as IPv6 writes its low 64 bits.
func (id ID) String() string {
	return fmt.Sprintf("%x:%x:%x:%x", uint16(id>>48), uint16(id>>32), uint16(id>>16), uint16(id))
}

// Hooks are the session's reactions; they run on the session's goroutine.
type Hooks struct {
	Up       func(Result)
	Down     func()
	Finished func(reason string)
}

// IPV6CP is one link's IPv6 Control Protocol instance.
type IPV6CP struct {
	*ppp.FSM
	cfg   Config
	hooks Hooks

	want    ID   // the identifier we ask for
	noID    bool // the peer rejected the option
	peer    ID   // the peer's agreed identifier
	lastNak ID   // what we last suggested to the peer
	lastReq []byte
}

// New returns an IPV6CP instance sending through send.
func New(cfg Config, hooks Hooks, send func(ppp.Packet), timer ppp.Timer, fsmCfg ppp.Config) *IPV6CP {
	c := &IPV6CP{cfg: cfg, hooks: hooks}
	if c.cfg.Random == nil {
		c.cfg.Random = func() ID { return 0 }
	}
	c.FSM = ppp.NewFSM(ppp.ProtoIPV6CP, c, send, timer, fsmCfg)
	return c
}

// Result returns the agreed identifiers.
func (c *IPV6CP) Result() Result { return Result{Local: c.want, Peer: c.peer} }

// fresh returns a random identifier different from avoid (and non-zero).
func (c *IPV6CP) fresh(avoid ...ID) ID {
	for range 8 {
		id := c.cfg.Random() &^ (1 << 57) // the u bit clear: not EUI-64 derived
		if id != 0 && !contains(avoid, id) {
			return id
		}
	}
	return 0
}

func contains(ids []ID, id ID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// ResetRequest implements ppp.Layer.
func (c *IPV6CP) ResetRequest() {
	c.want = c.cfg.Local
	c.noID = false
	c.peer = 0
	c.lastNak = 0
}

// AppendRequest implements ppp.Layer.
func (c *IPV6CP) AppendRequest(b []byte) []byte {
	start := len(b)
	if !c.noID {
		b = appendID(b, c.want)
	}
	c.lastReq = append(c.lastReq[:0], b[start:]...)
	return b
}

func appendID(b []byte, id ID) []byte {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(id))
	return ppp.AppendOption(b, OptInterfaceID, v[:]...)
}

func idOf(o ppp.Option) (ID, bool) {
	if len(o.Data) != 8 {
		return 0, false
	}
	return ID(binary.BigEndian.Uint64(o.Data)), true
}

// GotAck implements ppp.Layer.
func (c *IPV6CP) GotAck(opts []byte) bool { return string(opts) == string(c.lastReq) }

// GotNak implements ppp.Layer: take the peer's suggestion, unless it is
// the one we suggested to the peer (then both ends chose alike: pick anew).
func (c *IPV6CP) GotNak(opts []byte) bool {
	os, err := ppp.ParseOptions(opts)
	if err != nil {
		return false
	}
	for _, o := range os {
		if o.Type != OptInterfaceID {
			continue
		}
		id, ok := idOf(o)
		if !ok {
			return false
		}
		switch {
		case id == 0 || (c.lastNak != 0 && id == c.lastNak):
			c.want = c.fresh(c.want, c.lastNak)
		default:
			c.want = id
		}
	}
	return true
}

// GotReject implements ppp.Layer.
func (c *IPV6CP) GotReject(opts []byte) bool {
	os, err := ppp.ParseOptions(opts)
	if err != nil {
		return false
	}
	for _, o := range os {
		if o.Type != OptInterfaceID {
			return false
		}
		c.noID = true
	}
	return true
}

// CheckRequest implements ppp.Layer with the rules of RFC 5072 section
// 4.1.
func (c *IPV6CP) CheckRequest(opts []byte, rejectOnly bool) (ppp.Code, []byte) {
	os, err := ppp.ParseOptions(opts)
	if err != nil {
		return ppp.ConfRej, nil
	}
	r := ppp.NewReply(rejectOnly)
	var peer ID
	saw := false
	for _, o := range os {
		if o.Type != OptInterfaceID {
			r.Reject(o) // IPv6-Compression-Protocol and anything unknown
			continue
		}
		id, ok := idOf(o)
		if !ok || saw {
			r.Reject(o)
			continue
		}
		saw = true
		switch {
		case id == 0 && c.want == 0:
			// Neither end has an identifier: negotiation cannot succeed.
			r.Reject(o)
		case c.cfg.Peer != 0 && id != c.cfg.Peer:
			c.lastNak = c.cfg.Peer
			r.Nak(o, idBytes(c.cfg.Peer))
		case id == 0 || id == c.want:
			s := c.fresh(c.want)
			c.lastNak = s
			r.Nak(o, idBytes(s))
		default:
			peer = id
		}
	}
	if !saw && c.cfg.Peer != 0 {
		r.NakAdd(OptInterfaceID, idBytes(c.cfg.Peer))
	}
	code, reply := r.Result(opts)
	if code == ppp.ConfAck {
		c.peer = peer
	}
	return code, reply
}

func idBytes(id ID) []byte {
	var v [8]byte
	binary.BigEndian.PutUint64(v[:], uint64(id))
	return v[:]
}

// LayerUp implements ppp.Layer.
func (c *IPV6CP) LayerUp() {
	if c.hooks.Up != nil {
		c.hooks.Up(c.Result())
	}
}

// LayerDown implements ppp.Layer.
func (c *IPV6CP) LayerDown() {
	if c.hooks.Down != nil {
		c.hooks.Down()
	}
}

// LayerStarted implements ppp.Layer.
func (c *IPV6CP) LayerStarted() {}

// LayerFinished implements ppp.Layer.
func (c *IPV6CP) LayerFinished(reason string) {
	if c.hooks.Finished != nil {
		c.hooks.Finished(reason)
	}
}

// ExtCode implements ppp.Layer: IPV6CP has no codes beyond 1-7.
func (c *IPV6CP) ExtCode(ppp.Packet) bool { return false }
