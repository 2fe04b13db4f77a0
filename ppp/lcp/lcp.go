// Package lcp implements the PPP Link Control Protocol (RFC 1661 section 6)
// on top of the shared option automaton: MRU, authentication protocol, magic
// number, protocol- and address/control-field compression, echo keepalive,
// and the rejection of everything a PPTP link has no use for (callback,
// multilink, quality protocols).
package lcp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"

	"github.com/gopptp/gopptp/ppp"
)

// Option types (RFC 1661 section 6, RFC 1570, RFC 1990).
const (
	OptMRU      = 1
	OptACCM     = 2
	OptAuth     = 3
	OptQuality  = 4
	OptMagic    = 5
	OptPFC      = 7
	OptACFC     = 8
	OptCallback = 13
	OptMRRU     = 17
	OptSSNHF    = 18
	OptEndpoint = 19
)

// DefaultMRU is the MRU a PPP peer assumes when none is negotiated.
const DefaultMRU = 1500

// minMRU is the smallest MRU we agree to send with; pppd uses the same floor.
const minMRU = 128

// Config says what this end wants from LCP.
type Config struct {
	// MRU is the largest frame we want to receive; it is requested when it
	// differs from DefaultMRU.
	MRU int
	// Require lists, in order of preference, the authentication methods we
	// ask the peer to perform (the server's side). Empty: we ask for none.
	Require []ppp.AuthMethod
	// Accept lists, in order of preference, the methods we agree to perform
	// when the peer asks us to authenticate (the client's side). Empty: we
	// reject the peer's Authentication-Protocol option.
	Accept []ppp.AuthMethod
	// Magic returns a random non-zero magic number (crypto/rand in
	// production, a fixed sequence in tests).
	Magic func() uint32
}

// Result is what the negotiation agreed on, valid while LCP is opened.
type Result struct {
	PeerMRU    int            // the peer receives frames up to this size
	Auth       ppp.AuthMethod // the peer authenticates itself to us with this
	PeerAuth   ppp.AuthMethod // we authenticate ourselves to the peer with this
	SendACFC   bool           // the peer accepts frames without FF 03
	SendPFC    bool           // the peer accepts one-octet protocol fields
	LocalMagic uint32
	PeerMagic  uint32
}

// Hooks are the session's reactions to LCP events. They run on the
// session's goroutine, inside FSM calls, and must not call back into LCP.
type Hooks struct {
	Up              func(Result)
	Down            func()
	Finished        func(reason string)
	ProtocolReject  func(p ppp.Protocol)
	Identification  func(text string)
	LoopbackWarning func()
}

// LCP is one link's Link Control Protocol instance.
type LCP struct {
	*ppp.FSM
	cfg   Config
	hooks Hooks
	send  func(ppp.Packet)
	log   *slog.Logger

	// What we ask for; reset by ResetRequest.
	wantMRU   int
	authIdx   int    // index into cfg.Require of the method we ask for
	refused   uint32 // bit i: the peer naked cfg.Require[i]
	noAuth    bool
	wantMagic uint32
	noMagic   bool
	wantPFC   bool
	wantACFC  bool
	lastReq   []byte

	got          Result // agreed options, both directions
	failure      string // set when negotiation cannot succeed; see Failure
	echoPending  int
	echoRequests uint64
}

// New returns an LCP instance. send transmits an LCP packet; timer is the
// Restart timer of its automaton.
func New(cfg Config, hooks Hooks, send func(ppp.Packet), timer ppp.Timer, fsmCfg ppp.Config, log *slog.Logger) *LCP {
	if cfg.MRU == 0 {
		cfg.MRU = DefaultMRU
	}
	l := &LCP{cfg: cfg, hooks: hooks, send: send, log: log}
	l.FSM = ppp.NewFSM(ppp.ProtoLCP, l, send, timer, fsmCfg)
	return l
}

// Result returns what was agreed. It is meaningful once Up has been called.
func (l *LCP) Result() Result { return l.got }

// Failure returns, once, a reason why negotiation cannot succeed (the peer
// refuses every authentication method we require, or rejects
// authentication altogether). The session checks it after each input and
// closes the link with that reason.
func (l *LCP) Failure() string {
	f := l.failure
	l.failure = ""
	return f
}

// ResetRequest implements ppp.Layer.
func (l *LCP) ResetRequest() {
	l.wantMRU = l.cfg.MRU
	l.authIdx = 0
	l.refused = 0
	l.noAuth = len(l.cfg.Require) == 0
	l.wantMagic = l.newMagic()
	l.noMagic = false
	l.wantPFC, l.wantACFC = true, true
	l.got = Result{PeerMRU: DefaultMRU}
}

func (l *LCP) newMagic() uint32 {
	for {
		if m := l.cfg.Magic(); m != 0 {
			return m
		}
	}
}

// AppendRequest implements ppp.Layer.
func (l *LCP) AppendRequest(b []byte) []byte {
	start := len(b)
	if l.wantMRU != DefaultMRU {
		b = ppp.AppendOption(b, OptMRU, byte(l.wantMRU>>8), byte(l.wantMRU))
	}
	if !l.noAuth {
		b = ppp.AppendOption(b, OptAuth, l.cfg.Require[l.authIdx].OptionData()...)
	}
	if !l.noMagic {
		b = ppp.AppendOption(b, OptMagic, binary.BigEndian.AppendUint32(nil, l.wantMagic)...)
	}
	if l.wantPFC {
		b = ppp.AppendOption(b, OptPFC)
	}
	if l.wantACFC {
		b = ppp.AppendOption(b, OptACFC)
	}
	l.lastReq = append(l.lastReq[:0], b[start:]...)
	return b
}

// GotAck implements ppp.Layer.
func (l *LCP) GotAck(opts []byte) bool {
	if !bytes.Equal(opts, l.lastReq) {
		return false
	}
	if !l.noAuth {
		l.got.Auth = l.cfg.Require[l.authIdx]
	} else {
		l.got.Auth = ppp.AuthNone
	}
	if !l.noMagic {
		l.got.LocalMagic = l.wantMagic
	}
	return true
}

// GotNak implements ppp.Layer.
func (l *LCP) GotNak(opts []byte) bool {
	os, err := ppp.ParseOptions(opts)
	if err != nil {
		return false
	}
	for _, o := range os {
		switch o.Type {
		case OptMRU:
			if len(o.Data) != 2 {
				return false
			}
			// A smaller MRU only means smaller frames for us to receive;
			// a larger one than we can take stays refused.
			if v := int(binary.BigEndian.Uint16(o.Data)); v >= minMRU && v <= l.cfg.MRU {
				l.wantMRU = v
			}
		case OptAuth:
			if l.noAuth {
				continue
			}
			l.nakAuth(o.Data)
		case OptMagic:
			if len(o.Data) != 4 {
				return false
			}
			// RFC 1661 section 6.4: a nak of our magic number means
			// the peer saw it as its own; choose another at random.
			l.wantMagic = l.newMagic()
		case OptPFC:
			l.wantPFC = false
		case OptACFC:
			l.wantACFC = false
		}
	}
	return true
}

// nakAuth handles a nak of the method we asked for: that method is refused
// for the rest of this negotiation; we move to the method the peer
// suggests if we allow it and it was not refused, else to our next method
// not yet refused. When none is left the peer refuses everything we
// require. Remembering refusals keeps a peer that alternates its
// suggestions from making us ask in circles.
func (l *LCP) nakAuth(data []byte) {
	l.refused |= 1 << l.authIdx
	if m, ok := ppp.ParseAuthOption(data); ok {
		if i := slices.Index(l.cfg.Require, m); i >= 0 && l.refused&(1<<i) == 0 {
			l.authIdx = i
			return
		}
	}
	for i := range l.cfg.Require {
		if l.refused&(1<<i) == 0 {
			l.authIdx = i
			return
		}
	}
	l.failure = fmt.Sprintf("peer refused to authenticate with %v (it offered %s)", l.cfg.Require, describeAuth(data))
}

func describeAuth(data []byte) string {
	if m, ok := ppp.ParseAuthOption(data); ok {
		return m.String()
	}
	if len(data) >= 2 {
		p := ppp.Protocol(binary.BigEndian.Uint16(data))
		if len(data) == 3 {
			return fmt.Sprintf("%v algorithm 0x%02x", p, data[2])
		}
		return p.String()
	}
	return "nothing"
}

// GotReject implements ppp.Layer.
func (l *LCP) GotReject(opts []byte) bool {
	os, err := ppp.ParseOptions(opts)
	if err != nil {
		return false
	}
	sent, _ := ppp.ParseOptions(l.lastReq)
	for _, o := range os {
		if !slices.ContainsFunc(sent, func(s ppp.Option) bool { return s.Type == o.Type }) {
			return false // RFC 1661 5.4: a reject may only name options we sent
		}
		switch o.Type {
		case OptMRU:
			l.wantMRU = DefaultMRU
		case OptAuth:
			l.failure = "peer refused to authenticate (rejected the Authentication-Protocol option)"
		case OptMagic:
			l.noMagic = true
		case OptPFC:
			l.wantPFC = false
		case OptACFC:
			l.wantACFC = false
		}
	}
	return true
}

// CheckRequest implements ppp.Layer.
func (l *LCP) CheckRequest(opts []byte, rejectOnly bool) (ppp.Code, []byte) {
	os, err := ppp.ParseOptions(opts)
	if err != nil {
		return ppp.ConfRej, nil // unparseable: an empty reject makes the peer retry
	}
	r := ppp.NewReply(rejectOnly)
	peer := Result{PeerMRU: DefaultMRU}
	for _, o := range os {
		switch o.Type {
		case OptMRU:
			if len(o.Data) != 2 {
				r.Reject(o)
				continue
			}
			v := int(binary.BigEndian.Uint16(o.Data))
			if v < minMRU {
				r.Nak(o, []byte{byte(minMRU >> 8), byte(minMRU)})
				continue
			}
			peer.PeerMRU = v
		case OptACCM:
			// Meaningless on a synchronous GRE link, but harmless: pppd
			// sends asyncmap 0 because its pty side is asynchronous.
			if len(o.Data) != 4 {
				r.Reject(o)
			}
		case OptAuth:
			if len(l.cfg.Accept) == 0 {
				r.Reject(o) // we never authenticate ourselves to this peer
				continue
			}
			m, ok := ppp.ParseAuthOption(o.Data)
			if ok && slices.Contains(l.cfg.Accept, m) {
				peer.PeerAuth = m
				continue
			}
			r.Nak(o, l.cfg.Accept[0].OptionData())
		case OptMagic:
			if len(o.Data) != 4 {
				r.Reject(o)
				continue
			}
			m := binary.BigEndian.Uint32(o.Data)
			if m == 0 || (!l.noMagic && m == l.wantMagic) {
				// Our own magic coming back suggests a looped-back link.
				if m != 0 && l.hooks.LoopbackWarning != nil {
					l.hooks.LoopbackWarning()
				}
				r.Nak(o, binary.BigEndian.AppendUint32(nil, l.newMagic()))
				continue
			}
			peer.PeerMagic = m
		case OptPFC:
			if len(o.Data) != 0 {
				r.Reject(o)
				continue
			}
			peer.SendPFC = true
		case OptACFC:
			if len(o.Data) != 0 {
				r.Reject(o)
				continue
			}
			peer.SendACFC = true
		default:
			// Callback (Windows asks for it), multilink, quality
			// protocols and anything unknown: not on a PPTP link.
			r.Reject(o)
		}
	}
	code, reply := r.Result(opts)
	if code == ppp.ConfAck {
		l.got.PeerMRU = peer.PeerMRU
		l.got.PeerAuth = peer.PeerAuth
		l.got.PeerMagic = peer.PeerMagic
		l.got.SendPFC = peer.SendPFC
		l.got.SendACFC = peer.SendACFC
	}
	return code, reply
}

// LayerUp implements ppp.Layer.
func (l *LCP) LayerUp() {
	l.echoPending = 0
	if l.hooks.Up != nil {
		l.hooks.Up(l.got)
	}
}

// LayerDown implements ppp.Layer.
func (l *LCP) LayerDown() {
	if l.hooks.Down != nil {
		l.hooks.Down()
	}
}

// LayerStarted implements ppp.Layer.
func (l *LCP) LayerStarted() {}

// LayerFinished implements ppp.Layer.
func (l *LCP) LayerFinished(reason string) {
	if l.hooks.Finished != nil {
		l.hooks.Finished(reason)
	}
}

// ExtCode implements ppp.Layer: Protocol-Reject, Echo, Discard,
// Identification and Time-Remaining.
func (l *LCP) ExtCode(p ppp.Packet) bool {
	switch p.Code {
	case ppp.ProtoRej:
		if len(p.Data) >= 2 && l.IsOpened() && l.hooks.ProtocolReject != nil {
			l.hooks.ProtocolReject(ppp.Protocol(binary.BigEndian.Uint16(p.Data)))
		}
	case ppp.EchoReq:
		if !l.IsOpened() || len(p.Data) < 4 {
			return true // RFC 1661 5.8: only answered in Opened
		}
		reply := binary.BigEndian.AppendUint32(nil, l.got.LocalMagic)
		reply = append(reply, p.Data[4:]...)
		l.send(ppp.Packet{Code: ppp.EchoRep, ID: p.ID, Data: reply})
	case ppp.EchoRep:
		if len(p.Data) >= 4 && l.got.LocalMagic != 0 && binary.BigEndian.Uint32(p.Data) == l.got.LocalMagic {
			if l.hooks.LoopbackWarning != nil {
				l.hooks.LoopbackWarning()
			}
			return true
		}
		l.echoPending = 0
	case ppp.DiscardReq:
	case ppp.Ident:
		if len(p.Data) >= 4 && l.hooks.Identification != nil {
			l.hooks.Identification(string(p.Data[4:]))
		}
	case ppp.TimeRemain:
	default:
		return false
	}
	return true
}

// EchoTick is called every lcp-echo-interval. It sends an Echo-Request and
// reports false when failures Echo-Requests in a row went unanswered, which
// means the peer is gone.
func (l *LCP) EchoTick(failures int) bool {
	if !l.IsOpened() {
		return true
	}
	if failures > 0 && l.echoPending >= failures {
		return false
	}
	l.echoPending++
	l.echoRequests++
	l.send(ppp.Packet{Code: ppp.EchoReq, ID: l.NextID(), Data: binary.BigEndian.AppendUint32(nil, l.got.LocalMagic)})
	return true
}

// SendProtocolReject rejects a frame of protocol p the peer sent us
// (RFC 1661 section 5.7): the rejected information is returned, truncated
// to fit the peer's MRU.
func (l *LCP) SendProtocolReject(p ppp.Protocol, info []byte) {
	if !l.IsOpened() {
		return // only sent in Opened; before that unknown frames are dropped
	}
	data := binary.BigEndian.AppendUint16(nil, uint16(p))
	if max := l.got.PeerMRU - 6; len(info) > max {
		info = info[:max]
	}
	data = append(data, info...)
	l.send(ppp.Packet{Code: ppp.ProtoRej, ID: l.NextID(), Data: data})
}
