// Package ppp implements the Point-to-Point Protocol (RFC 1661) pieces shared
// by every PPP protocol of a PPTP session: the frame codec, the control
// packet and option codecs, and the option-negotiation automaton that LCP,
// IPCP, IPV6CP and CCP all run (each supplies only its options through the
// Layer interface).
//
// PPTP carries PPP frames in GRE without HDLC framing (RFC 2637 section 4):
// there are no flags, no escaping and no FCS, only the optional
// address/control field and the protocol field.
package ppp

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Protocol is a PPP protocol number (RFC 1661 section 2, assigned numbers).
type Protocol uint16

// Protocol numbers used by a PPTP session.
const (
	ProtoIPv4   Protocol = 0x0021 // Internet Protocol version 4
	ProtoIPv6   Protocol = 0x0057 // Internet Protocol version 6
	ProtoMPPE   Protocol = 0x00fd // compressed/encrypted datagram (MPPE, RFC 3078)
	ProtoIPCP   Protocol = 0x8021 // IP Control Protocol (RFC 1332)
	ProtoIPV6CP Protocol = 0x8057 // IPv6 Control Protocol (RFC 5072)
	ProtoCCP    Protocol = 0x80fd // Compression Control Protocol (RFC 1962)
	ProtoLCP    Protocol = 0xc021 // Link Control Protocol
	ProtoPAP    Protocol = 0xc023 // Password Authentication Protocol (RFC 1334)
	ProtoCBCP   Protocol = 0xc029 // Microsoft Callback Control Protocol
	ProtoCHAP   Protocol = 0xc223 // Challenge Handshake Authentication Protocol (RFC 1994)
	ProtoEAP    Protocol = 0xc227 // Extensible Authentication Protocol (RFC 3748)
)

var protoNames = map[Protocol]string{
	ProtoIPv4: "IP", ProtoIPv6: "IPv6", ProtoMPPE: "MPPE", ProtoIPCP: "IPCP",
	ProtoIPV6CP: "IPV6CP", ProtoCCP: "CCP", ProtoLCP: "LCP", ProtoPAP: "PAP",
	ProtoCBCP: "CBCP", ProtoCHAP: "CHAP", ProtoEAP: "EAP",
}

func (p Protocol) String() string {
	if n, ok := protoNames[p]; ok {
		return n
	}
	return fmt.Sprintf("0x%04x", uint16(p))
}

// IsNetwork reports whether p carries network-layer datagrams (0x0001-0x3fff),
// as opposed to a control protocol (RFC 1661 section 2).
func (p Protocol) IsNetwork() bool { return p < 0x4000 }

// Valid reports whether p is a well-formed protocol number: the least
// significant bit of the low octet is 1 and of the high octet is 0.
func (p Protocol) Valid() bool { return p&0x0100 == 0 && p&0x0001 == 1 }

// Frame errors.
var (
	ErrShortFrame    = errors.New("ppp: frame too short")
	ErrBadProtocol   = errors.New("ppp: malformed protocol field")
	ErrShortPacket   = errors.New("ppp: control packet shorter than its header")
	ErrPacketLength  = errors.New("ppp: control packet length field exceeds the frame")
	ErrOptionLength  = errors.New("ppp: option length invalid")
	ErrNoAddrControl = errors.New("ppp: address/control field is not FF 03")
)

// ParseFrame splits a PPP frame as carried in GRE into its protocol and
// information field. The address and control field (FF 03) may be absent
// (address-and-control-field compression) and the protocol may be one octet
// (protocol-field compression); both forms are always accepted, because a
// receiver must accept uncompressed frames whatever was negotiated and
// peers differ in what they send before LCP is open.
func ParseFrame(b []byte) (Protocol, []byte, error) {
	if len(b) >= 2 && b[0] == 0xff {
		if b[1] != 0x03 {
			return 0, nil, ErrNoAddrControl
		}
		b = b[2:]
	}
	if len(b) == 0 {
		return 0, nil, ErrShortFrame
	}
	if b[0]&1 == 1 { // compressed one-octet protocol field
		return Protocol(b[0]), b[1:], nil
	}
	if len(b) < 2 {
		return 0, nil, ErrShortFrame
	}
	p := Protocol(binary.BigEndian.Uint16(b))
	if !p.Valid() {
		return 0, nil, ErrBadProtocol
	}
	return p, b[2:], nil
}

// HeaderLen returns the length of the PPP header PutHeader writes for p.
func HeaderLen(p Protocol, acfc, pfc bool) int {
	n := 2
	if acfc && p != ProtoLCP {
		n = 0
	}
	if pfc && p < 0x100 {
		return n + 1
	}
	return n + 2
}

// PutHeader writes the PPP header for protocol p so that it ends exactly at
// the end of b (b is the headroom in front of the information field) and
// returns the number of bytes written. acfc and pfc say whether the peer
// accepted address/control-field and protocol-field compression; LCP frames
// always carry the address and control field (RFC 1661 section 6.6).
func PutHeader(b []byte, p Protocol, acfc, pfc bool) int {
	n := HeaderLen(p, acfc, pfc)
	h := b[len(b)-n:]
	i := 0
	if n == 4 || n == 3 {
		h[0], h[1] = 0xff, 0x03
		i = 2
	}
	if pfc && p < 0x100 {
		h[i] = byte(p)
	} else {
		binary.BigEndian.PutUint16(h[i:], uint16(p))
	}
	return n
}

// AppendFrame appends a full uncompressed frame (FF 03, two-octet protocol,
// info) to b. The control plane uses it; the data path writes headers in
// place with PutHeader.
func AppendFrame(b []byte, p Protocol, info []byte) []byte {
	b = append(b, 0xff, 0x03, byte(p>>8), byte(p))
	return append(b, info...)
}
