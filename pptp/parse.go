package pptp

import "fmt"

// Parse decodes b, which must hold exactly one whole control message.
//
// It checks, in this order, that b holds at least the common header, the
// Magic Cookie, that the Length field equals len(b), the PPTP Message Type
// (control), the Control Message Type, that the length is the fixed length
// of that type, and that Reserved0 is zero. The error wraps ErrBadLength,
// ErrBadCookie, ErrNotControl or ErrReserved, or is an *UnknownTypeError;
// ErrorCodeOf maps it to the General Error Code to report to the peer.
//
// Reserved fields other than Reserved0 are not checked (see the comment on
// decoding in messages.go), and string fields end at their first NUL, so
// re-encoding a parsed message reproduces b except in those bytes.
func Parse(b []byte) (Message, error) {
	if len(b) < HeaderLen {
		return nil, lengthError("%d bytes, shorter than the %d-byte header", len(b), HeaderLen)
	}
	// The cookie comes first: if it is wrong, the other fields are not
	// a PPTP header at all and describing them would mislead.
	if c := be.Uint32(b[4:]); c != MagicCookie {
		return nil, fmt.Errorf("%w %#08x", ErrBadCookie, c)
	}
	if n := int(be.Uint16(b[0:])); n != len(b) {
		return nil, lengthError("Length field %d, message has %d bytes", n, len(b))
	}
	if pt := be.Uint16(b[2:]); pt != controlMessage {
		return nil, fmt.Errorf("%w: PPTP Message Type %d", ErrNotControl, pt)
	}
	t := MessageType(be.Uint16(b[8:]))
	want := t.Len()
	if want == 0 {
		return nil, &UnknownTypeError{Type: t}
	}
	if len(b) != want {
		return nil, lengthError("%v of %d bytes, want %d", t, len(b), want)
	}
	if r := be.Uint16(b[10:]); r != 0 {
		return nil, fmt.Errorf("%w: Reserved0 of %v is %#04x", ErrReserved, t, r)
	}

	p := b[HeaderLen:]
	switch t {
	case TypeStartCtrlConnRequest:
		return decodeStartCtrlConnRequest(p), nil
	case TypeStartCtrlConnReply:
		return decodeStartCtrlConnReply(p), nil
	case TypeStopCtrlConnRequest:
		return decodeStopCtrlConnRequest(p), nil
	case TypeStopCtrlConnReply:
		return decodeStopCtrlConnReply(p), nil
	case TypeEchoRequest:
		return decodeEchoRequest(p), nil
	case TypeEchoReply:
		return decodeEchoReply(p), nil
	case TypeOutgoingCallRequest:
		return decodeOutgoingCallRequest(p), nil
	case TypeOutgoingCallReply:
		return decodeOutgoingCallReply(p), nil
	case TypeIncomingCallRequest:
		return decodeIncomingCallRequest(p), nil
	case TypeIncomingCallReply:
		return decodeIncomingCallReply(p), nil
	case TypeIncomingCallConnected:
		return decodeIncomingCallConnected(p), nil
	case TypeCallClearRequest:
		return decodeCallClearRequest(p), nil
	case TypeCallDisconnectNotify:
		return decodeCallDisconnectNotify(p), nil
	case TypeWANErrorNotify:
		return decodeWANErrorNotify(p), nil
	case TypeSetLinkInfo:
		return decodeSetLinkInfo(p), nil
	}
	// Unreachable while Len and this switch list the same types; kept so
	// that a type added to one and not the other fails safely.
	return nil, &UnknownTypeError{Type: t}
}
