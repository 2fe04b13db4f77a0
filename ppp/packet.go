package ppp

import (
	"encoding/binary"
	"fmt"
)

// Code is the Code field of an LCP-like control packet (RFC 1661 section 5).
type Code uint8

// Packet codes. 1-7 are common to every protocol that runs the automaton;
// the rest are protocol specific (LCP 8-13, CCP 14-15).
const (
	ConfReq     Code = 1
	ConfAck     Code = 2
	ConfNak     Code = 3
	ConfRej     Code = 4
	TermReq     Code = 5
	TermAck     Code = 6
	CodeRej     Code = 7
	ProtoRej    Code = 8  // LCP
	EchoReq     Code = 9  // LCP
	EchoRep     Code = 10 // LCP
	DiscardReq  Code = 11 // LCP
	Ident       Code = 12 // LCP, RFC 1570
	TimeRemain  Code = 13 // LCP, RFC 1570
	ResetReq    Code = 14 // CCP, RFC 1962
	ResetAck    Code = 15 // CCP, RFC 1962
	maxCodeName      = ResetAck
)

var codeNames = [...]string{
	ConfReq: "ConfReq", ConfAck: "ConfAck", ConfNak: "ConfNak", ConfRej: "ConfRej",
	TermReq: "TermReq", TermAck: "TermAck", CodeRej: "CodeRej", ProtoRej: "ProtRej",
	EchoReq: "EchoReq", EchoRep: "EchoRep", DiscardReq: "DiscReq", Ident: "Ident",
	TimeRemain: "TimeRem", ResetReq: "ResetReq", ResetAck: "ResetAck",
}

func (c Code) String() string {
	if c >= 1 && c <= maxCodeName {
		return codeNames[c]
	}
	return fmt.Sprintf("code-%d", uint8(c))
}

// CodeName names code as protocol p uses it: PAP and CHAP give codes 1-4
// their own meanings.
func CodeName(p Protocol, c Code) string {
	switch {
	case p == ProtoPAP && c >= 1 && c <= 3:
		return [...]string{"", "AuthReq", "AuthAck", "AuthNak"}[c]
	case p == ProtoCHAP && c >= 1 && c <= 4:
		return [...]string{"", "Challenge", "Response", "Success", "Failure"}[c]
	}
	return c.String()
}

// Packet is a control packet of LCP, IPCP, CCP, PAP or CHAP: code,
// identifier and data (RFC 1661 section 5).
type Packet struct {
	Code Code
	ID   uint8
	Data []byte
}

// ParsePacket decodes a control packet. Octets beyond the Length field are
// padding and are ignored, as RFC 1661 section 5 requires.
func ParsePacket(b []byte) (Packet, error) {
	if len(b) < 4 {
		return Packet{}, ErrShortPacket
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if n < 4 {
		return Packet{}, ErrShortPacket
	}
	if n > len(b) {
		return Packet{}, ErrPacketLength
	}
	return Packet{Code: Code(b[0]), ID: b[1], Data: b[4:n]}, nil
}

// Append appends the encoded packet to b.
func (p Packet) Append(b []byte) []byte {
	n := 4 + len(p.Data)
	b = append(b, byte(p.Code), p.ID, byte(n>>8), byte(n))
	return append(b, p.Data...)
}

// Option is one configuration option: type and value (the octets after the
// length field).
type Option struct {
	Type uint8
	Data []byte
}

// ParseOptions decodes a list of configuration options. A malformed list
// (an option shorter than 2 octets or running past the end) is an error: RFC
// 1661 gives no way to resynchronise inside it, so the packet is discarded.
func ParseOptions(b []byte) ([]Option, error) {
	var opts []Option
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, ErrOptionLength
		}
		n := int(b[1])
		if n < 2 || n > len(b) {
			return nil, ErrOptionLength
		}
		opts = append(opts, Option{Type: b[0], Data: b[2:n]})
		b = b[n:]
	}
	return opts, nil
}

// AppendOption appends one option with the given value to b.
func AppendOption(b []byte, typ uint8, data ...byte) []byte {
	b = append(b, typ, byte(2+len(data)))
	return append(b, data...)
}

// Append appends o to b.
func (o Option) Append(b []byte) []byte { return AppendOption(b, o.Type, o.Data...) }

// Reply collects the verdict on each option of a peer's Configure-Request
// and builds the answer RFC 1661 prescribes: a Configure-Reject with only
// the rejected options if any was rejected, else a Configure-Nak with only
// the suggested values if any was naked, else a Configure-Ack echoing the
// request.
type Reply struct {
	rej, nak   []byte
	rejectOnly bool
}

// NewReply starts a reply. With rejectOnly set (the peer ignored our naks
// for longer than the max-failure count, RFC 1661 section 4.6) every nak
// becomes a reject of the original option, so negotiation converges.
func NewReply(rejectOnly bool) *Reply { return &Reply{rejectOnly: rejectOnly} }

// Reject rejects option o as received.
func (r *Reply) Reject(o Option) { r.rej = o.Append(r.rej) }

// Nak naks option o, suggesting value instead.
func (r *Reply) Nak(o Option, value []byte) {
	if r.rejectOnly {
		r.Reject(o)
		return
	}
	r.nak = AppendOption(r.nak, o.Type, value...)
}

// NakAdd adds to a Configure-Nak an option the peer did not include but
// should (RFC 1661 section 5.3 allows this). It is dropped in reject-only
// mode, since there is nothing to reject.
func (r *Reply) NakAdd(typ uint8, value []byte) {
	if r.rejectOnly {
		return
	}
	r.nak = AppendOption(r.nak, typ, value...)
}

// Result returns the reply code and data for the request whose options were
// req.
func (r *Reply) Result(req []byte) (Code, []byte) {
	switch {
	case len(r.rej) > 0:
		return ConfRej, r.rej
	case len(r.nak) > 0:
		return ConfNak, r.nak
	}
	return ConfAck, req
}

// Printable renders peer-supplied text (a Terminate-Request reason, a user
// name, an authentication message) safe for a log line: at most max bytes,
// anything but printable ASCII replaced by '.', so a peer cannot forge log
// lines or smuggle terminal escapes.
func Printable(text []byte, max int) string {
	if len(text) > max {
		text = text[:max]
	}
	out := make([]byte, len(text))
	for i, c := range text {
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		out[i] = c
	}
	return string(out)
}
