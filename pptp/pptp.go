// Package pptp encodes and decodes the control messages of the
// Point-to-Point Tunneling Protocol, RFC 2637 section 2: the messages
// exchanged over the TCP control connection (port 1723) that set up the
// control connection itself and the calls whose PPP frames then travel in
// enhanced GRE (see package gre).
//
// The package is a pure codec: Parse and Marshal convert between the wire
// format and one Go struct per message type, and Reader splits a byte
// stream into messages. It opens no sockets and keeps no protocol state.
package pptp

import (
	"errors"
	"fmt"
	"strconv"
)

// Port is the well-known TCP port of the PPTP control connection.
const Port = 1723

// ProtocolVersion is the only defined value of the Protocol Version field
// of Start-Control-Connection-Request and -Reply: version 1, revision 0.
const ProtocolVersion uint16 = 0x0100

// MagicCookie is the constant carried by every control message so that a
// receiver can check it is synchronised with the TCP stream.
const MagicCookie uint32 = 0x1A2B3C4D

// HeaderLen is the length of the part common to every control message:
// Length, PPTP Message Type, Magic Cookie, Control Message Type and
// Reserved0. No valid message is shorter.
const HeaderLen = 12

// MaxMessageLen is the largest Length a Reader accepts. The largest message
// of RFC 2637 (Incoming-Call-Request) is 220 bytes; the margin leaves room
// for unknown message types that a peer may send without letting a corrupt
// length make the Reader buffer kilobytes of garbage.
const MaxMessageLen = 1024

// controlMessage is the PPTP Message Type of control messages. Type 2,
// management messages, is reserved by the RFC and never defined.
const controlMessage = 1

// MessageType is the Control Message Type field.
type MessageType uint16

// The control message types of RFC 2637 section 1.4.
const (
	TypeStartCtrlConnRequest  MessageType = 1  // SCCRQ
	TypeStartCtrlConnReply    MessageType = 2  // SCCRP
	TypeStopCtrlConnRequest   MessageType = 3  // StopCCRQ
	TypeStopCtrlConnReply     MessageType = 4  // StopCCRP
	TypeEchoRequest           MessageType = 5  // ECHORQ
	TypeEchoReply             MessageType = 6  // ECHORP
	TypeOutgoingCallRequest   MessageType = 7  // OCRQ
	TypeOutgoingCallReply     MessageType = 8  // OCRP
	TypeIncomingCallRequest   MessageType = 9  // ICRQ
	TypeIncomingCallReply     MessageType = 10 // ICRP
	TypeIncomingCallConnected MessageType = 11 // ICCN
	TypeCallClearRequest      MessageType = 12 // CCRQ
	TypeCallDisconnectNotify  MessageType = 13 // CDN
	TypeWANErrorNotify        MessageType = 14 // WEN
	TypeSetLinkInfo           MessageType = 15 // SLI
)

// Len returns the fixed length in bytes of messages of type t, header
// included, or 0 if t is not a type defined by RFC 2637.
func (t MessageType) Len() int {
	switch t {
	case TypeStartCtrlConnRequest, TypeStartCtrlConnReply:
		return 156
	case TypeStopCtrlConnRequest, TypeStopCtrlConnReply, TypeEchoRequest, TypeCallClearRequest:
		return 16
	case TypeEchoReply:
		return 20
	case TypeOutgoingCallRequest:
		return 168
	case TypeOutgoingCallReply:
		return 32
	case TypeIncomingCallRequest:
		return 220
	case TypeIncomingCallReply, TypeSetLinkInfo:
		return 24
	case TypeIncomingCallConnected:
		return 28
	case TypeCallDisconnectNotify:
		return 148
	case TypeWANErrorNotify:
		return 40
	}
	return 0
}

// String returns the customary abbreviation of the message type (SCCRQ,
// OCRP, CDN, ...), short enough for every log line.
func (t MessageType) String() string {
	switch t {
	case TypeStartCtrlConnRequest:
		return "SCCRQ"
	case TypeStartCtrlConnReply:
		return "SCCRP"
	case TypeStopCtrlConnRequest:
		return "StopCCRQ"
	case TypeStopCtrlConnReply:
		return "StopCCRP"
	case TypeEchoRequest:
		return "ECHORQ"
	case TypeEchoReply:
		return "ECHORP"
	case TypeOutgoingCallRequest:
		return "OCRQ"
	case TypeOutgoingCallReply:
		return "OCRP"
	case TypeIncomingCallRequest:
		return "ICRQ"
	case TypeIncomingCallReply:
		return "ICRP"
	case TypeIncomingCallConnected:
		return "ICCN"
	case TypeCallClearRequest:
		return "CCRQ"
	case TypeCallDisconnectNotify:
		return "CDN"
	case TypeWANErrorNotify:
		return "WEN"
	case TypeSetLinkInfo:
		return "SLI"
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}

// Name returns the full name the RFC gives the message type, such as
// "Start-Control-Connection-Request".
func (t MessageType) Name() string {
	switch t {
	case TypeStartCtrlConnRequest:
		return "Start-Control-Connection-Request"
	case TypeStartCtrlConnReply:
		return "Start-Control-Connection-Reply"
	case TypeStopCtrlConnRequest:
		return "Stop-Control-Connection-Request"
	case TypeStopCtrlConnReply:
		return "Stop-Control-Connection-Reply"
	case TypeEchoRequest:
		return "Echo-Request"
	case TypeEchoReply:
		return "Echo-Reply"
	case TypeOutgoingCallRequest:
		return "Outgoing-Call-Request"
	case TypeOutgoingCallReply:
		return "Outgoing-Call-Reply"
	case TypeIncomingCallRequest:
		return "Incoming-Call-Request"
	case TypeIncomingCallReply:
		return "Incoming-Call-Reply"
	case TypeIncomingCallConnected:
		return "Incoming-Call-Connected"
	case TypeCallClearRequest:
		return "Call-Clear-Request"
	case TypeCallDisconnectNotify:
		return "Call-Disconnect-Notify"
	case TypeWANErrorNotify:
		return "WAN-Error-Notify"
	case TypeSetLinkInfo:
		return "Set-Link-Info"
	}
	return t.String()
}

// Framing is a set of PPP framing bits. It is the Framing Capabilities of
// the Start-Control-Connection messages and the Framing Type of the call
// messages, where 3 (both bits) means either framing may be used.
type Framing uint32

// Framing bits (RFC 2637 sections 2.1 and 2.7).
const (
	FramingAsync Framing = 1 // asynchronous framing
	FramingSync  Framing = 2 // synchronous framing
	FramingAny           = FramingAsync | FramingSync
)

// Bearer is a set of bearer bits. It is the Bearer Capabilities of the
// Start-Control-Connection messages and the Bearer Type of the call
// messages, where 3 (both bits) means any type of channel.
type Bearer uint32

// Bearer bits (RFC 2637 sections 2.1 and 2.7).
const (
	BearerAnalog  Bearer = 1 // analog access
	BearerDigital Bearer = 2 // digital access
	BearerAny            = BearerAnalog | BearerDigital
)

// ErrorCode is a General Error Code (RFC 2637 section 2.16). Replies carry
// it next to their Result Code, which is then the message's General Error
// value.
type ErrorCode uint8

// General Error Codes.
const (
	ErrorCodeNone         ErrorCode = 0 // no general error
	ErrorCodeNotConnected ErrorCode = 1 // no control connection exists yet
	ErrorCodeBadFormat    ErrorCode = 2 // length is wrong or magic cookie incorrect
	ErrorCodeBadValue     ErrorCode = 3 // a field out of range or a reserved field non-zero
	ErrorCodeNoResource   ErrorCode = 4 // insufficient resources to handle the command now
	ErrorCodeBadCallID    ErrorCode = 5 // the Call ID is invalid in this context
	ErrorCodePACError     ErrorCode = 6 // a vendor-specific error in the PAC
)

// String returns the RFC's name of the code, such as "Bad-Call ID".
func (c ErrorCode) String() string {
	switch c {
	case ErrorCodeNone:
		return "None"
	case ErrorCodeNotConnected:
		return "Not-Connected"
	case ErrorCodeBadFormat:
		return "Bad-Format"
	case ErrorCodeBadValue:
		return "Bad-Value"
	case ErrorCodeNoResource:
		return "No-Resource"
	case ErrorCodeBadCallID:
		return "Bad-Call ID"
	case ErrorCodePACError:
		return "PAC-Error"
	}
	return "ErrorCode(" + strconv.Itoa(int(c)) + ")"
}

// StartResult is the Result Code of a Start-Control-Connection-Reply.
type StartResult uint8

// Result codes of Start-Control-Connection-Reply (RFC 2637 section 2.2).
const (
	StartSuccess            StartResult = 1 // control connection established
	StartGeneralError       StartResult = 2 // see the Error Code
	StartChannelExists      StartResult = 3 // a command channel already exists
	StartNotAuthorized      StartResult = 4 // requester may not establish a channel
	StartVersionUnsupported StartResult = 5 // requester's protocol version unsupported
)

// String names the result code.
func (r StartResult) String() string {
	switch r {
	case StartSuccess:
		return "Success"
	case StartGeneralError:
		return "General-Error"
	case StartChannelExists:
		return "Channel-Exists"
	case StartNotAuthorized:
		return "Not-Authorized"
	case StartVersionUnsupported:
		return "Version-Unsupported"
	}
	return "StartResult(" + strconv.Itoa(int(r)) + ")"
}

// StopReason is the Reason of a Stop-Control-Connection-Request.
type StopReason uint8

// Reasons of Stop-Control-Connection-Request (RFC 2637 section 2.3).
const (
	StopNone          StopReason = 1 // general request to clear the connection
	StopProtocol      StopReason = 2 // cannot support the peer's protocol version
	StopLocalShutdown StopReason = 3 // the requester is being shut down
)

// String returns the RFC's name of the reason.
func (r StopReason) String() string {
	switch r {
	case StopNone:
		return "None"
	case StopProtocol:
		return "Stop-Protocol"
	case StopLocalShutdown:
		return "Stop-Local-Shutdown"
	}
	return "StopReason(" + strconv.Itoa(int(r)) + ")"
}

// StopResult is the Result Code of a Stop-Control-Connection-Reply.
type StopResult uint8

// Result codes of Stop-Control-Connection-Reply (RFC 2637 section 2.4).
const (
	StopOK           StopResult = 1 // control connection closed
	StopGeneralError StopResult = 2 // not closed; see the Error Code
)

// String returns the RFC's name of the result code.
func (r StopResult) String() string {
	switch r {
	case StopOK:
		return "OK"
	case StopGeneralError:
		return "General-Error"
	}
	return "StopResult(" + strconv.Itoa(int(r)) + ")"
}

// EchoResult is the Result Code of an Echo-Reply.
type EchoResult uint8

// Result codes of Echo-Reply (RFC 2637 section 2.6).
const (
	EchoOK           EchoResult = 1 // the Echo-Reply is valid
	EchoGeneralError EchoResult = 2 // request not accepted; see the Error Code
)

// String returns the RFC's name of the result code.
func (r EchoResult) String() string {
	switch r {
	case EchoOK:
		return "OK"
	case EchoGeneralError:
		return "General-Error"
	}
	return "EchoResult(" + strconv.Itoa(int(r)) + ")"
}

// OutgoingResult is the Result Code of an Outgoing-Call-Reply.
type OutgoingResult uint8

// Result codes of Outgoing-Call-Reply (RFC 2637 section 2.8).
const (
	OutgoingConnected    OutgoingResult = 1 // call established
	OutgoingGeneralError OutgoingResult = 2 // see the Error Code
	OutgoingNoCarrier    OutgoingResult = 3 // no carrier detected
	OutgoingBusy         OutgoingResult = 4 // busy signal detected
	OutgoingNoDialTone   OutgoingResult = 5 // no dial tone
	OutgoingTimeout      OutgoingResult = 6 // not established in the time allotted
	OutgoingDoNotAccept  OutgoingResult = 7 // administratively prohibited
)

// String returns the RFC's name of the result code.
func (r OutgoingResult) String() string {
	switch r {
	case OutgoingConnected:
		return "Connected"
	case OutgoingGeneralError:
		return "General-Error"
	case OutgoingNoCarrier:
		return "No-Carrier"
	case OutgoingBusy:
		return "Busy"
	case OutgoingNoDialTone:
		return "No-Dial-Tone"
	case OutgoingTimeout:
		return "Time-out"
	case OutgoingDoNotAccept:
		return "Do-Not-Accept"
	}
	return "OutgoingResult(" + strconv.Itoa(int(r)) + ")"
}

// IncomingResult is the Result Code of an Incoming-Call-Reply.
type IncomingResult uint8

// Result codes of Incoming-Call-Reply (RFC 2637 section 2.10).
const (
	IncomingConnect      IncomingResult = 1 // the PAC should answer the call
	IncomingGeneralError IncomingResult = 2 // see the Error Code
	IncomingDoNotAccept  IncomingResult = 3 // the PAC should not accept the call
)

// String returns the RFC's name of the result code.
func (r IncomingResult) String() string {
	switch r {
	case IncomingConnect:
		return "Connect"
	case IncomingGeneralError:
		return "General-Error"
	case IncomingDoNotAccept:
		return "Do-Not-Accept"
	}
	return "IncomingResult(" + strconv.Itoa(int(r)) + ")"
}

// DisconnectResult is the Result Code of a Call-Disconnect-Notify.
type DisconnectResult uint8

// Result codes of Call-Disconnect-Notify (RFC 2637 section 2.13).
const (
	DisconnectLostCarrier   DisconnectResult = 1 // loss of carrier
	DisconnectGeneralError  DisconnectResult = 2 // see the Error Code
	DisconnectAdminShutdown DisconnectResult = 3 // administrative reasons
	DisconnectRequest       DisconnectResult = 4 // a Call-Clear-Request was received
)

// String returns the RFC's name of the result code.
func (r DisconnectResult) String() string {
	switch r {
	case DisconnectLostCarrier:
		return "Lost-Carrier"
	case DisconnectGeneralError:
		return "General-Error"
	case DisconnectAdminShutdown:
		return "Admin-Shutdown"
	case DisconnectRequest:
		return "Request"
	}
	return "DisconnectResult(" + strconv.Itoa(int(r)) + ")"
}

// Errors returned by Parse and Reader. They are wrapped with details, so
// compare with errors.Is.
var (
	// ErrBadLength reports a Length field that does not match the bytes of
	// the message or the fixed length of its type (General Error Bad-Format).
	ErrBadLength = errors.New("pptp: bad message length")

	// ErrBadCookie reports a Magic Cookie other than 0x1A2B3C4D (General
	// Error Bad-Format).
	ErrBadCookie = errors.New("pptp: bad magic cookie")

	// ErrNotControl reports a PPTP Message Type other than 1 (control).
	// The only other value the RFC names, 2, is a management message that
	// it never defines (General Error Bad-Value).
	ErrNotControl = errors.New("pptp: not a control message")

	// ErrReserved reports a non-zero Reserved0 field (General Error
	// Bad-Value).
	ErrReserved = errors.New("pptp: reserved field not zero")

	// ErrLostSync accompanies errors after which a Reader cannot find the
	// start of the next message: a length out of range or a bad magic
	// cookie. RFC 2637 section 1.4 requires closing the connection then.
	ErrLostSync = errors.New("pptp: control stream lost synchronisation")
)

// UnknownTypeError reports a well-formed message whose Control Message
// Type RFC 2637 does not define. The message was consumed in full, so the
// connection can carry on.
type UnknownTypeError struct {
	Type MessageType
}

// Error implements the error interface.
func (e *UnknownTypeError) Error() string {
	return "pptp: unknown control message type " + strconv.Itoa(int(e.Type))
}

// ErrorCodeOf returns the General Error Code with which a peer should be
// told about err, a decoding error from this package. It reports false
// if err is nil or not such an error.
func ErrorCodeOf(err error) (ErrorCode, bool) {
	var unknown *UnknownTypeError
	switch {
	case err == nil:
		return ErrorCodeNone, false
	case errors.Is(err, ErrBadLength), errors.Is(err, ErrBadCookie), errors.Is(err, ErrLostSync):
		return ErrorCodeBadFormat, true
	case errors.Is(err, ErrNotControl), errors.Is(err, ErrReserved), errors.As(err, &unknown):
		return ErrorCodeBadValue, true
	}
	return ErrorCodeNone, false
}

// lengthError wraps ErrBadLength with a description of the mismatch.
func lengthError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadLength}, args...)...)
}
