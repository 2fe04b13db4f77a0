// Package ccp implements the PPP Compression Control Protocol (RFC 1962)
// as far as a PPTP link needs it: negotiating Microsoft Point-to-Point
// Encryption (RFC 3078 section 2) and the Reset-Request/Reset-Ack exchange
// that resynchronises stateful MPPE. No compression algorithm is offered or
// accepted; MPPC (the C bit) is always naked away.
//
// Each direction is negotiated on its own: the options of our
// Configure-Request that the peer acks govern what the peer sends us (we
// decrypt with them), and the peer's request that we ack governs what we
// send.
//
// Like pppd, an end always asks for stateless mode; mppe-stateful only
// lets it accept stateful mode when the peer asks for it. pppd ends the
// link at once when it must reject a required MPPE option (for instance a
// stateful request it does not allow), so a request that pppd might refuse
// can never be a mere preference: require-mppe-stateful, our extension,
// asks for stateful mode and accepts nothing else.
package ccp

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gopptp/gopptp/ppp"
)

// OptMPPE is the CCP option type of MPPE (and MPPC), RFC 3078 section 2.
const OptMPPE = 18

// Bits of the 32-bit MPPE option value (RFC 3078 section 2).
const (
	BitH = 0x01000000 // stateless ("history-less") mode
	BitM = 0x00000080 // 56-bit keys
	BitS = 0x00000040 // 128-bit keys
	BitL = 0x00000020 // 40-bit keys
	BitD = 0x00000010 // obsolete
	BitC = 0x00000001 // MPPC compression

	strengthBits = BitL | BitM | BitS
	knownBits    = BitH | strengthBits
)

// Config says which MPPE variants this end allows.
type Config struct {
	// Allow40, Allow56 and Allow128 are the key lengths we accept. None set
	// means MPPE is off: CCP still runs but agrees on nothing.
	Allow40, Allow56, Allow128 bool
	// Required makes a CCP outcome without MPPE in both directions fatal.
	Required bool
	// AllowStateful accepts stateful mode when the peer asks for it
	// (pppd's mppe-stateful).
	AllowStateful bool
	// RequireStateful asks for stateful mode and insists on it in both
	// directions (require-mppe-stateful).
	RequireStateful bool
}

func (c Config) allowed() uint32 {
	var b uint32
	if c.Allow40 {
		b |= BitL
	}
	if c.Allow56 {
		b |= BitM
	}
	if c.Allow128 {
		b |= BitS
	}
	return b
}

// Enabled reports whether any MPPE variant is allowed.
func (c Config) Enabled() bool { return c.allowed() != 0 }

// Direction is the MPPE variant agreed for one direction.
type Direction struct {
	On        bool
	KeyBits   int // 40, 56 or 128
	Stateless bool
}

func (d Direction) String() string {
	if !d.On {
		return "none"
	}
	mode := "stateful"
	if d.Stateless {
		mode = "stateless"
	}
	return fmt.Sprintf("MPPE-%d %s", d.KeyBits, mode)
}

func directionOf(bits uint32) Direction {
	d := Direction{On: true, Stateless: bits&BitH != 0}
	switch {
	case bits&BitS != 0:
		d.KeyBits = 128
	case bits&BitM != 0:
		d.KeyBits = 56
	case bits&BitL != 0:
		d.KeyBits = 40
	default:
		return Direction{}
	}
	return d
}

// Result is what CCP agreed, valid while it is opened.
type Result struct {
	Send, Recv Direction
}

// Hooks are the session's reactions to CCP events; they run on the
// session's goroutine and must not call back into this CCP.
type Hooks struct {
	Up       func(Result)
	Down     func()
	Finished func(reason string)
	// ResetRequest runs when the peer asks for a stateful-MPPE resync:
	// our encrypter must flush before its next packet.
	ResetRequest func()
}

// A Reset-Request goes out again until its Reset-Ack arrives (RFC 1962
// section 2.2, as pppd does). The data path asks for one only when a
// packet it cannot decrypt arrives, and when the request is lost on a
// stalled link the next such packet may be a TCP retransmission seconds
// away: every one of those is lost to stateful MPPE too, so TCP backs off
// further. ResetRetry is well under TCP's backed-off retransmission
// timeouts; a peer that never acknowledges gets resetRetries more copies.
const (
	ResetRetry   = 250 * time.Millisecond
	resetRetries = 8
)

// resetEcho is how long after we flushed for a Reset-Request another with
// the same Identifier counts as a copy of it (a retransmission that crossed
// our Reset-Ack and flushed packet, such as the ones above) and gets the
// ack without a second flush: the sender's count jumps to a flag packet at
// every flush, so a second one would knock the peer out of step again just
// after the first resynchronised it. pppd retransmits after a second, and
// those, later than this, flush again in case the flushed packet was lost.
const resetEcho = 750 * time.Millisecond

// CCP is one link's Compression Control Protocol instance.
type CCP struct {
	*ppp.FSM
	cfg   Config
	hooks Hooks
	send  func(ppp.Packet)
	// timer is the FSM's restart timer, which the FSM leaves idle in
	// Opened; CCP uses it then to retransmit its Reset-Request.
	timer ppp.Timer
	// resetID is the Identifier of the outstanding Reset-Request and
	// resetLeft the copies still to send without a Reset-Ack (0: none
	// outstanding).
	resetID   uint8
	resetLeft int
	// The peer's last Reset-Request we flushed for, and when.
	flushedFor uint8
	flushedAt  time.Time
	hasFlushed bool
	now        func() time.Time

	want    uint32 // MPPE bits we ask for; 0 = ask for nothing
	lastReq []byte
	peer    uint32 // bits of the peer's request we acked
	res     Result
	failure string
	// peerAsked records that the peer's requests offered MPPE.
	peerAsked bool
}

// PeerAskedMPPE reports whether the peer asked for MPPE in this
// negotiation (it may end the link when we cannot agree).
func (c *CCP) PeerAskedMPPE() bool { return c.peerAsked }

// New returns a CCP instance.
func New(cfg Config, hooks Hooks, send func(ppp.Packet), timer ppp.Timer, fsmCfg ppp.Config) *CCP {
	c := &CCP{cfg: cfg, hooks: hooks, send: send, timer: timer, now: time.Now}
	c.FSM = ppp.NewFSM(ppp.ProtoCCP, c, send, timer, fsmCfg)
	return c
}

// SetConfig replaces the configuration before negotiation starts (MPPE
// turns out to be impossible because authentication gave no keys).
func (c *CCP) SetConfig(cfg Config) { c.cfg = cfg }

// Failure returns, once, why MPPE cannot be agreed.
func (c *CCP) Failure() string {
	f := c.failure
	c.failure = ""
	return f
}

// Result returns the agreed MPPE variants.
func (c *CCP) Result() Result { return c.res }

// initialRequest is what we ask for at the start: every allowed key length
// (the peer picks, as with pppd), stateless unless stateful is preferred.
func (c *CCP) initialRequest() uint32 {
	a := c.cfg.allowed()
	if a == 0 {
		return 0
	}
	if !c.cfg.RequireStateful {
		a |= BitH
	}
	return a
}

// ResetRequest implements ppp.Layer.
func (c *CCP) ResetRequest() {
	c.resetLeft = 0
	c.want = c.initialRequest()
	c.peer = 0
	c.res = Result{}
}

// AppendRequest implements ppp.Layer.
func (c *CCP) AppendRequest(b []byte) []byte {
	start := len(b)
	if c.want != 0 {
		b = ppp.AppendOption(b, OptMPPE, binary.BigEndian.AppendUint32(nil, c.want)...)
	}
	c.lastReq = append(c.lastReq[:0], b[start:]...)
	return b
}

// GotAck implements ppp.Layer.
func (c *CCP) GotAck(opts []byte) bool {
	if string(opts) != string(c.lastReq) {
		return false
	}
	if c.want != 0 {
		c.res.Recv = directionOf(c.want)
	}
	return true
}

// GotNak implements ppp.Layer.
func (c *CCP) GotNak(opts []byte) bool {
	os, err := ppp.ParseOptions(opts)
	if err != nil {
		return false
	}
	for _, o := range os {
		if o.Type != OptMPPE || c.want == 0 {
			continue
		}
		if len(o.Data) != 4 {
			return false
		}
		sug := binary.BigEndian.Uint32(o.Data)
		next := sug & strengthBits & c.cfg.allowed()
		next = strongest(next)
		if next == 0 {
			c.failure = fmt.Sprintf("MPPE: peer suggests %s, which is not allowed here", describe(sug))
			return true
		}
		switch {
		case sug&BitH != 0 && c.cfg.RequireStateful:
			c.failure = "MPPE: stateful mode is required here but the peer insists on stateless mode"
			return true
		case sug&BitH != 0 || !c.cfg.AllowStateful:
			next |= BitH
		}
		c.want = next
	}
	return true
}

// GotReject implements ppp.Layer.
func (c *CCP) GotReject(opts []byte) bool {
	os, err := ppp.ParseOptions(opts)
	if err != nil {
		return false
	}
	for _, o := range os {
		if o.Type != OptMPPE || c.want == 0 {
			return false // we asked for nothing else
		}
		if c.cfg.Required {
			c.failure = "MPPE required but peer refused"
		}
		c.want = 0
	}
	return true
}

// strongest keeps only the strongest key-length bit of b.
func strongest(b uint32) uint32 {
	switch {
	case b&BitS != 0:
		return BitS
	case b&BitM != 0:
		return BitM
	case b&BitL != 0:
		return BitL
	}
	return 0
}

// CheckRequest implements ppp.Layer.
func (c *CCP) CheckRequest(opts []byte, rejectOnly bool) (ppp.Code, []byte) {
	os, err := ppp.ParseOptions(opts)
	if err != nil {
		return ppp.ConfRej, nil
	}
	r := ppp.NewReply(rejectOnly)
	var acked uint32
	allowed := c.cfg.allowed()
	for _, o := range os {
		if o.Type == OptMPPE {
			c.peerAsked = true
		}
		if o.Type != OptMPPE || allowed == 0 || len(o.Data) != 4 {
			// Deflate, BSD, Predictor and MPPC-only offers: we do no
			// compression (pppd offers Deflate when MPPE is off).
			r.Reject(o)
			continue
		}
		req := binary.BigEndian.Uint32(o.Data)
		c.peerAsked = true
		sug := req & knownBits // drop MPPC, D and unknown bits
		switch {
		case c.cfg.RequireStateful:
			sug &^= BitH
		case !c.cfg.AllowStateful:
			sug |= BitH
		}
		str := strongest(sug & strengthBits & allowed)
		switch {
		case sug&strengthBits == 0:
			// No key length asked for: offer what we allow and let the
			// peer pick (pppd and Windows both do so).
			str = allowed
		case str == 0:
			// Only lengths we refuse: say which one we want instead.
			str = strongest(allowed)
		}
		sug = sug&BitH | str
		if sug != req {
			r.Nak(o, binary.BigEndian.AppendUint32(nil, sug))
			continue
		}
		acked = req
	}
	code, reply := r.Result(opts)
	if code == ppp.ConfAck {
		c.peer = acked
		if acked != 0 {
			c.res.Send = directionOf(acked)
		} else {
			c.res.Send = Direction{}
		}
	}
	return code, reply
}

// LayerUp implements ppp.Layer.
func (c *CCP) LayerUp() {
	if c.cfg.Required && (!c.res.Send.On || !c.res.Recv.On) {
		c.failure = fmt.Sprintf("MPPE required but not agreed (send %v, receive %v)", c.res.Send, c.res.Recv)
		return
	}
	if c.cfg.RequireStateful && (c.res.Send.Stateless || c.res.Recv.Stateless) {
		c.failure = fmt.Sprintf("stateful MPPE required but not agreed (send %v, receive %v)", c.res.Send, c.res.Recv)
		return
	}
	if c.hooks.Up != nil {
		c.hooks.Up(c.res)
	}
}

// LayerDown implements ppp.Layer.
func (c *CCP) LayerDown() {
	c.resetLeft = 0 // the FSM takes its timer back
	if c.hooks.Down != nil {
		c.hooks.Down()
	}
}

// LayerStarted implements ppp.Layer.
func (c *CCP) LayerStarted() {}

// LayerFinished implements ppp.Layer.
func (c *CCP) LayerFinished(reason string) {
	if c.cfg.Required && c.failure == "" {
		c.failure = "MPPE required but CCP failed: " + reason
	}
	if c.hooks.Finished != nil {
		c.hooks.Finished(reason)
	}
}

// ExtCode implements ppp.Layer: Reset-Request and Reset-Ack.
func (c *CCP) ExtCode(p ppp.Packet) bool {
	switch p.Code {
	case ppp.ResetReq:
		if c.IsOpened() {
			now := c.now()
			if !c.hasFlushed || p.ID != c.flushedFor || now.Sub(c.flushedAt) >= resetEcho {
				c.hasFlushed, c.flushedFor, c.flushedAt = true, p.ID, now
				if c.hooks.ResetRequest != nil {
					c.hooks.ResetRequest()
				}
			}
			c.send(ppp.Packet{Code: ppp.ResetAck, ID: p.ID})
		}
		return true
	case ppp.ResetAck:
		// Stateful MPPE resynchronises on the flushed packet itself;
		// the ack only ends the retransmissions of its request.
		if c.resetLeft > 0 && p.ID == c.resetID && c.IsOpened() {
			c.resetLeft = 0
			c.timer.Stop()
		}
		return true
	}
	return false
}

// SendResetRequest asks the peer to flush its stateful MPPE history after
// we lost packets (RFC 3078 section 8).
func (c *CCP) SendResetRequest() {
	// One outstanding request at a time: its retransmissions carry it.
	if c.IsOpened() && c.resetLeft == 0 {
		c.resetID = c.NextID()
		c.resetLeft = resetRetries
		c.send(ppp.Packet{Code: ppp.ResetReq, ID: c.resetID})
		c.timer.Start(ResetRetry)
	}
}

// Timeout handles the expiry of the restart timer: the FSM's, except in
// Opened, where it retransmits an unacknowledged Reset-Request.
func (c *CCP) Timeout() {
	if !c.IsOpened() {
		c.FSM.Timeout()
		return
	}
	if c.resetLeft == 0 {
		return
	}
	c.resetLeft--
	c.send(ppp.Packet{Code: ppp.ResetReq, ID: c.resetID})
	if c.resetLeft > 0 {
		c.timer.Start(ResetRetry)
	}
}

func describe(bits uint32) string {
	d := directionOf(bits)
	if !d.On {
		return fmt.Sprintf("option 0x%08x", bits)
	}
	return d.String()
}
