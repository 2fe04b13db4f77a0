// Package gre encodes and decodes the enhanced GRE header that PPTP uses to
// carry PPP frames (RFC 2637 section 4.1), and tracks the per-call sequence
// and acknowledgement numbers of its sliding window (section 4.2).
//
// It is a pure codec with small state trackers: it opens no sockets, starts
// no goroutines and allocates nothing on the data path.
package gre

import (
	"encoding/binary"
	"errors"
)

// ProtocolPPP is the Protocol Type of enhanced GRE packets carrying PPP.
const ProtocolPPP uint16 = 0x880B

// Version is the GRE version number of enhanced GRE.
const Version = 1

// Header lengths: the fixed part, and the longest header, which carries
// both a sequence and an acknowledgement number.
const (
	MinHeaderLen = 8
	MaxHeaderLen = 16
)

// Bits of the first 16-bit word, laid out as C R K S s Recur(3) A Flags(4) Ver(3).
const (
	flagChecksum     = 0x8000 // C
	flagRouting      = 0x4000 // R
	flagKey          = 0x2000 // K
	flagSeq          = 0x1000 // S
	flagStrictRoute  = 0x0800 // s
	maskRecur        = 0x0700
	flagAck          = 0x0080 // A
	maskFlags        = 0x0078
	maskVersion      = 0x0007
	mustBeZero       = flagChecksum | flagRouting | flagStrictRoute | maskRecur | maskFlags
	fixedHeaderFlags = flagKey | Version
)

var be = binary.BigEndian

// Errors returned by Parse. They are returned unwrapped, without
// allocating, since a flood of bad packets must not cost garbage.
var (
	// ErrTruncated reports a packet shorter than its header.
	ErrTruncated = errors.New("gre: packet shorter than its header")

	// ErrVersion reports a GRE version other than 1: plain GRE (version
	// 0) or something else that is not PPTP.
	ErrVersion = errors.New("gre: not enhanced GRE (version 1)")

	// ErrProtocol reports a Protocol Type other than 0x880B (PPP).
	ErrProtocol = errors.New("gre: protocol type is not PPP (0x880B)")

	// ErrNoKey reports a clear K bit: PPTP always sends the Key, which
	// holds the payload length and call ID.
	ErrNoKey = errors.New("gre: key bit not set")

	// ErrReservedBits reports a set C, R, s, Recur or Flags bit, all of
	// which RFC 2637 requires to be zero.
	ErrReservedBits = errors.New("gre: reserved header bits set")

	// ErrPayloadLength reports a Payload Length larger than the bytes
	// that follow the header.
	ErrPayloadLength = errors.New("gre: payload length exceeds packet")

	// ErrNoSeq reports a payload in a packet without a sequence number.
	ErrNoSeq = errors.New("gre: payload without sequence number")

	// ErrEmpty reports a packet with neither a sequence number nor an
	// acknowledgement, which carries nothing.
	ErrEmpty = errors.New("gre: packet carries neither data nor acknowledgement")
)

// Header is an enhanced GRE header. PayloadLen and CallID are the two
// halves of the GRE Key.
type Header struct {
	CallID     uint16 // the receiver's (peer's) Call ID for the session
	PayloadLen uint16 // bytes of PPP payload after the header
	Seq        uint32 // valid if HasSeq
	Ack        uint32 // valid if HasAck
	HasSeq     bool   // S bit: the packet carries a payload
	HasAck     bool   // A bit: the packet acknowledges received data
}

// Len returns the length of the encoded header: 8, 12 or 16 bytes.
func (h Header) Len() int {
	n := MinHeaderLen
	if h.HasSeq {
		n += 4
	}
	if h.HasAck {
		n += 4
	}
	return n
}

// Put writes the header at the start of b and returns its length. The data
// path reserves Len (at most MaxHeaderLen) bytes of headroom in front of
// the payload and writes the header there, so packets are built without
// copying. If b is shorter than h.Len, Put writes nothing and returns 0.
func (h Header) Put(b []byte) int {
	n := h.Len()
	if len(b) < n {
		return 0
	}
	flags := uint16(fixedHeaderFlags)
	if h.HasSeq {
		flags |= flagSeq
	}
	if h.HasAck {
		flags |= flagAck
	}
	be.PutUint16(b[0:], flags)
	be.PutUint16(b[2:], ProtocolPPP)
	be.PutUint16(b[4:], h.PayloadLen)
	be.PutUint16(b[6:], h.CallID)
	off := MinHeaderLen
	if h.HasSeq {
		be.PutUint32(b[off:], h.Seq)
		off += 4
	}
	if h.HasAck {
		be.PutUint32(b[off:], h.Ack)
	}
	return n
}

// Append appends the encoded header to b and returns the extended slice.
func (h Header) Append(b []byte) []byte {
	var buf [MaxHeaderLen]byte
	n := h.Put(buf[:])
	return append(b, buf[:n]...)
}

// Parse decodes the enhanced GRE packet b (the IP payload) and returns its
// header and its payload, which is exactly PayloadLen bytes of b: bytes
// after it are ignored. Parse does not allocate.
//
// It rejects, with the errors of this package, packets that are not
// version 1, not protocol 0x880B, lack the K bit, set any bit RFC 2637
// requires to be zero, are shorter than the header or the payload length,
// carry a payload without a sequence number, or carry neither a sequence
// nor an acknowledgement number.
func Parse(b []byte) (Header, []byte, error) {
	if len(b) < MinHeaderLen {
		return Header{}, nil, ErrTruncated
	}
	flags := be.Uint16(b[0:])
	// Version first: a raw GRE socket also sees plain GRE tunnels, and
	// "not enhanced GRE" is the truthful answer for those.
	switch {
	case flags&maskVersion != Version:
		return Header{}, nil, ErrVersion
	case be.Uint16(b[2:]) != ProtocolPPP:
		return Header{}, nil, ErrProtocol
	case flags&flagKey == 0:
		return Header{}, nil, ErrNoKey
	case flags&mustBeZero != 0:
		return Header{}, nil, ErrReservedBits
	}
	h := Header{
		PayloadLen: be.Uint16(b[4:]),
		CallID:     be.Uint16(b[6:]),
		HasSeq:     flags&flagSeq != 0,
		HasAck:     flags&flagAck != 0,
	}
	n := h.Len()
	if len(b) < n {
		return Header{}, nil, ErrTruncated
	}
	off := MinHeaderLen
	if h.HasSeq {
		h.Seq = be.Uint32(b[off:])
		off += 4
	}
	if h.HasAck {
		h.Ack = be.Uint32(b[off:])
	}
	switch {
	case int(h.PayloadLen) > len(b)-n:
		return Header{}, nil, ErrPayloadLength
	case !h.HasSeq && h.PayloadLen > 0:
		return Header{}, nil, ErrNoSeq
	case !h.HasSeq && !h.HasAck:
		return Header{}, nil, ErrEmpty
	}
	return h, b[n : n+int(h.PayloadLen)], nil
}
