package pptp

import (
	"bytes"
	"encoding/binary"
)

// Message is one PPTP control message. The concrete types are the pointer
// types of this package's message structs, such as *EchoRequest; Parse
// returns them and a type switch tells them apart.
type Message interface {
	// Type returns the Control Message Type.
	Type() MessageType

	// Append appends the wire encoding of the message, header included,
	// to b and returns the extended buffer. Reserved fields are sent as
	// zero and string fields are truncated to their fixed size.
	Append(b []byte) []byte
}

// Marshal returns the wire encoding of m.
func Marshal(m Message) []byte {
	return m.Append(make([]byte, 0, m.Type().Len()))
}

// Field sizes of the fixed-size, NUL-padded string fields.
const (
	hostNameLen   = 64 // Host Name and Vendor String
	phoneLen      = 64 // Phone Number, Dialed Number, Dialing Number, Subaddress
	statisticsLen = 128
)

var be = binary.BigEndian

// appendHeader appends the 12 bytes common to all control messages. The
// Length comes from the type, so a message can never claim a length other
// than the one its encoder writes.
func appendHeader(b []byte, t MessageType) []byte {
	b = be.AppendUint16(b, uint16(t.Len()))
	b = be.AppendUint16(b, controlMessage)
	b = be.AppendUint32(b, MagicCookie)
	b = be.AppendUint16(b, uint16(t))
	return be.AppendUint16(b, 0) // Reserved0
}

// appendString appends s as a field of n bytes: truncated if longer,
// padded with NULs if shorter. A string of exactly n bytes has no
// terminating NUL, as the RFC allows.
func appendString(b []byte, s string, n int) []byte {
	if len(s) > n {
		s = s[:n]
	}
	b = append(b, s...)
	return append(b, make([]byte, n-len(s))...)
}

// getString decodes a NUL-padded string field. It stops at the first NUL,
// as the C implementations on the other end do, so bytes after it (stack
// garbage from a peer that did not clear its buffer) are dropped.
func getString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// Decoding. Each decodeX receives the body of a message (the bytes after
// the 12-byte header), whose length Parse has already checked against the
// fixed length of the type, so the fixed offsets below are in range.
//
// Reserved fields after Reserved0 (Reserved1, Reserved2) are ignored rather
// than rejected. RFC 2637 requires senders to zero them "to allow for
// protocol extensibility", which is what a receiver honours by not failing
// when a later revision, or a sloppy peer, puts something there; none of
// the captured peers (pptp-linux, PoPToP, Windows) does. Reserved0 is part
// of the common header that pptp-linux and PoPToP already check strictly,
// so Parse rejects it when non-zero.

// StartCtrlConnRequest is Start-Control-Connection-Request (SCCRQ, RFC 2637
// section 2.1), the first message on a new control connection.
type StartCtrlConnRequest struct {
	ProtocolVersion  uint16  // ProtocolVersion (0x0100)
	FramingCaps      Framing // framings the sender can provide
	BearerCaps       Bearer  // bearers the sender can provide
	MaxChannels      uint16  // sessions a PAC supports; 0 from a PNS
	FirmwareRevision uint16  // PAC firmware or PNS driver version
	HostName         string  // at most 64 bytes
	VendorName       string  // the Vendor String; at most 64 bytes
}

// Type returns TypeStartCtrlConnRequest.
func (m *StartCtrlConnRequest) Type() MessageType { return TypeStartCtrlConnRequest }

// Append implements Message.
func (m *StartCtrlConnRequest) Append(b []byte) []byte {
	b = appendHeader(b, m.Type())
	b = be.AppendUint16(b, m.ProtocolVersion)
	b = be.AppendUint16(b, 0) // Reserved1
	b = be.AppendUint32(b, uint32(m.FramingCaps))
	b = be.AppendUint32(b, uint32(m.BearerCaps))
	b = be.AppendUint16(b, m.MaxChannels)
	b = be.AppendUint16(b, m.FirmwareRevision)
	b = appendString(b, m.HostName, hostNameLen)
	return appendString(b, m.VendorName, hostNameLen)
}

func decodeStartCtrlConnRequest(p []byte) *StartCtrlConnRequest {
	return &StartCtrlConnRequest{
		ProtocolVersion:  be.Uint16(p[0:]),
		FramingCaps:      Framing(be.Uint32(p[4:])),
		BearerCaps:       Bearer(be.Uint32(p[8:])),
		MaxChannels:      be.Uint16(p[12:]),
		FirmwareRevision: be.Uint16(p[14:]),
		HostName:         getString(p[16:80]),
		VendorName:       getString(p[80:144]),
	}
}

// StartCtrlConnReply is Start-Control-Connection-Reply (SCCRP, RFC 2637
// section 2.2), the answer to a StartCtrlConnRequest.
type StartCtrlConnReply struct {
	ProtocolVersion  uint16
	Result           StartResult
	ErrorCode        ErrorCode // set when Result is StartGeneralError
	FramingCaps      Framing
	BearerCaps       Bearer
	MaxChannels      uint16
	FirmwareRevision uint16
	HostName         string
	VendorName       string
}

// Type returns TypeStartCtrlConnReply.
func (m *StartCtrlConnReply) Type() MessageType { return TypeStartCtrlConnReply }

// Append implements Message.
func (m *StartCtrlConnReply) Append(b []byte) []byte {
	b = appendHeader(b, m.Type())
	b = be.AppendUint16(b, m.ProtocolVersion)
	b = append(b, byte(m.Result), byte(m.ErrorCode))
	b = be.AppendUint32(b, uint32(m.FramingCaps))
	b = be.AppendUint32(b, uint32(m.BearerCaps))
	b = be.AppendUint16(b, m.MaxChannels)
	b = be.AppendUint16(b, m.FirmwareRevision)
	b = appendString(b, m.HostName, hostNameLen)
	return appendString(b, m.VendorName, hostNameLen)
}

func decodeStartCtrlConnReply(p []byte) *StartCtrlConnReply {
	return &StartCtrlConnReply{
		ProtocolVersion:  be.Uint16(p[0:]),
		Result:           StartResult(p[2]),
		ErrorCode:        ErrorCode(p[3]),
		FramingCaps:      Framing(be.Uint32(p[4:])),
		BearerCaps:       Bearer(be.Uint32(p[8:])),
		MaxChannels:      be.Uint16(p[12:]),
		FirmwareRevision: be.Uint16(p[14:]),
		HostName:         getString(p[16:80]),
		VendorName:       getString(p[80:144]),
	}
}

// StopCtrlConnRequest is Stop-Control-Connection-Request (StopCCRQ, RFC
// 2637 section 2.3). It closes the control connection and implicitly
// clears all its calls.
type StopCtrlConnRequest struct {
	Reason StopReason
}

// Type returns TypeStopCtrlConnRequest.
func (m *StopCtrlConnRequest) Type() MessageType { return TypeStopCtrlConnRequest }

// Append implements Message.
func (m *StopCtrlConnRequest) Append(b []byte) []byte {
	b = appendHeader(b, m.Type())
	b = append(b, byte(m.Reason), 0) // Reserved1
	return be.AppendUint16(b, 0)     // Reserved2
}

func decodeStopCtrlConnRequest(p []byte) *StopCtrlConnRequest {
	return &StopCtrlConnRequest{Reason: StopReason(p[0])}
}

// StopCtrlConnReply is Stop-Control-Connection-Reply (StopCCRP, RFC 2637
// section 2.4).
type StopCtrlConnReply struct {
	Result    StopResult
	ErrorCode ErrorCode
}

// Type returns TypeStopCtrlConnReply.
func (m *StopCtrlConnReply) Type() MessageType { return TypeStopCtrlConnReply }

// Append implements Message.
func (m *StopCtrlConnReply) Append(b []byte) []byte {
	b = appendHeader(b, m.Type())
	b = append(b, byte(m.Result), byte(m.ErrorCode))
	return be.AppendUint16(b, 0) // Reserved1
}

func decodeStopCtrlConnReply(p []byte) *StopCtrlConnReply {
	return &StopCtrlConnReply{Result: StopResult(p[0]), ErrorCode: ErrorCode(p[1])}
}

// EchoRequest is Echo-Request (ECHORQ, RFC 2637 section 2.5), the
// keep-alive of the control connection.
type EchoRequest struct {
	Identifier uint32 // copied into the matching EchoReply
}

// Type returns TypeEchoRequest.
func (m *EchoRequest) Type() MessageType { return TypeEchoRequest }

// Append implements Message.
func (m *EchoRequest) Append(b []byte) []byte {
	b = appendHeader(b, m.Type())
	return be.AppendUint32(b, m.Identifier)
}

func decodeEchoRequest(p []byte) *EchoRequest {
	return &EchoRequest{Identifier: be.Uint32(p)}
}

// EchoReply is Echo-Reply (ECHORP, RFC 2637 section 2.6).
type EchoReply struct {
	Identifier uint32 // the Identifier of the EchoRequest answered
	Result     EchoResult
	ErrorCode  ErrorCode
}

// Type returns TypeEchoReply.
func (m *EchoReply) Type() MessageType { return TypeEchoReply }

// Append implements Message.
func (m *EchoReply) Append(b []byte) []byte {
	b = appendHeader(b, m.Type())
	b = be.AppendUint32(b, m.Identifier)
	b = append(b, byte(m.Result), byte(m.ErrorCode))
	return be.AppendUint16(b, 0) // Reserved1
}

func decodeEchoReply(p []byte) *EchoReply {
	return &EchoReply{
		Identifier: be.Uint32(p[0:]),
		Result:     EchoResult(p[4]),
		ErrorCode:  ErrorCode(p[5]),
	}
}

// OutgoingCallRequest is Outgoing-Call-Request (OCRQ, RFC 2637 section
// 2.7), with which a PNS (the VPN client) asks the PAC to set up a call.
type OutgoingCallRequest struct {
	CallID           uint16 // chosen by the PNS; the PAC sends it in GRE
	CallSerialNumber uint16
	MinBPS, MaxBPS   uint32
	BearerType       Bearer
	FramingType      Framing
	RecvWindowSize   uint16 // Packet Recv. Window Size of the PNS
	ProcessingDelay  uint16 // Packet Processing Delay, in 1/10 s

	// PhoneNumberLength is sent as given rather than derived from
	// PhoneNumber, because peers disagree on it (pptp-linux sends 0 with
	// an empty number) and a codec should reproduce what it read.
	PhoneNumberLength uint16
	PhoneNumber       string // at most 64 bytes
	Subaddress        string // at most 64 bytes
}

// Type returns TypeOutgoingCallRequest.
func (m *OutgoingCallRequest) Type() MessageType { return TypeOutgoingCallRequest }

// Append implements Message.
func (m *OutgoingCallRequest) Append(b []byte) []byte {
	b = appendHeader(b, m.Type())
	b = be.AppendUint16(b, m.CallID)
	b = be.AppendUint16(b, m.CallSerialNumber)
	b = be.AppendUint32(b, m.MinBPS)
	b = be.AppendUint32(b, m.MaxBPS)
	b = be.AppendUint32(b, uint32(m.BearerType))
	b = be.AppendUint32(b, uint32(m.FramingType))
	b = be.AppendUint16(b, m.RecvWindowSize)
	b = be.AppendUint16(b, m.ProcessingDelay)
	b = be.AppendUint16(b, m.PhoneNumberLength)
	b = be.AppendUint16(b, 0) // Reserved1
	b = appendString(b, m.PhoneNumber, phoneLen)
	return appendString(b, m.Subaddress, phoneLen)
}

func decodeOutgoingCallRequest(p []byte) *OutgoingCallRequest {
	return &OutgoingCallRequest{
		CallID:            be.Uint16(p[0:]),
		CallSerialNumber:  be.Uint16(p[2:]),
		MinBPS:            be.Uint32(p[4:]),
		MaxBPS:            be.Uint32(p[8:]),
		BearerType:        Bearer(be.Uint32(p[12:])),
		FramingType:       Framing(be.Uint32(p[16:])),
		RecvWindowSize:    be.Uint16(p[20:]),
		ProcessingDelay:   be.Uint16(p[22:]),
		PhoneNumberLength: be.Uint16(p[24:]),
		PhoneNumber:       getString(p[28:92]),
		Subaddress:        getString(p[92:156]),
	}
}

// OutgoingCallReply is Outgoing-Call-Reply (OCRP, RFC 2637 section 2.8).
type OutgoingCallReply struct {
	CallID            uint16 // chosen by the PAC; the PNS sends it in GRE
	PeerCallID        uint16 // the CallID of the OutgoingCallRequest
	Result            OutgoingResult
	ErrorCode         ErrorCode
	CauseCode         uint16
	ConnectSpeed      uint32 // bits per second
	RecvWindowSize    uint16 // Packet Recv. Window Size of the PAC
	ProcessingDelay   uint16 // Packet Processing Delay, in 1/10 s
	PhysicalChannelID uint32
}

// Type returns TypeOutgoingCallReply.
func (m *OutgoingCallReply) Type() MessageType { return TypeOutgoingCallReply }

// Append implements Message.
func (m *OutgoingCallReply) Append(b []byte) []byte {
	b = appendHeader(b, m.Type())
	b = be.AppendUint16(b, m.CallID)
	b = be.AppendUint16(b, m.PeerCallID)
	b = append(b, byte(m.Result), byte(m.ErrorCode))
	b = be.AppendUint16(b, m.CauseCode)
	b = be.AppendUint32(b, m.ConnectSpeed)
	b = be.AppendUint16(b, m.RecvWindowSize)
	b = be.AppendUint16(b, m.ProcessingDelay)
	return be.AppendUint32(b, m.PhysicalChannelID)
}

func decodeOutgoingCallReply(p []byte) *OutgoingCallReply {
	return &OutgoingCallReply{
		CallID:            be.Uint16(p[0:]),
		PeerCallID:        be.Uint16(p[2:]),
		Result:            OutgoingResult(p[4]),
		ErrorCode:         ErrorCode(p[5]),
		CauseCode:         be.Uint16(p[6:]),
		ConnectSpeed:      be.Uint32(p[8:]),
		RecvWindowSize:    be.Uint16(p[12:]),
		ProcessingDelay:   be.Uint16(p[14:]),
		PhysicalChannelID: be.Uint32(p[16:]),
	}
}

// IncomingCallRequest is Incoming-Call-Request (ICRQ, RFC 2637 section
// 2.9), with which a PAC announces an inbound call to the PNS.
type IncomingCallRequest struct {
	CallID            uint16 // chosen by the PAC; the PNS sends it in GRE
	CallSerialNumber  uint16
	BearerType        Bearer
	PhysicalChannelID uint32

	// The number lengths are sent as given, like PhoneNumberLength of
	// OutgoingCallRequest.
	DialedNumberLength  uint16
	DialingNumberLength uint16
	DialedNumber        string // at most 64 bytes
	DialingNumber       string // at most 64 bytes
	Subaddress          string // at most 64 bytes
}

// Type returns TypeIncomingCallRequest.
func (m *IncomingCallRequest) Type() MessageType { return TypeIncomingCallRequest }

// Append implements Message.
func (m *IncomingCallRequest) Append(b []byte) []byte {
	b = appendHeader(b, m.Type())
	b = be.AppendUint16(b, m.CallID)
	b = be.AppendUint16(b, m.CallSerialNumber)
	b = be.AppendUint32(b, uint32(m.BearerType))
	b = be.AppendUint32(b, m.PhysicalChannelID)
	b = be.AppendUint16(b, m.DialedNumberLength)
	b = be.AppendUint16(b, m.DialingNumberLength)
	b = appendString(b, m.DialedNumber, phoneLen)
	b = appendString(b, m.DialingNumber, phoneLen)
	return appendString(b, m.Subaddress, phoneLen)
}

func decodeIncomingCallRequest(p []byte) *IncomingCallRequest {
	return &IncomingCallRequest{
		CallID:              be.Uint16(p[0:]),
		CallSerialNumber:    be.Uint16(p[2:]),
		BearerType:          Bearer(be.Uint32(p[4:])),
		PhysicalChannelID:   be.Uint32(p[8:]),
		DialedNumberLength:  be.Uint16(p[12:]),
		DialingNumberLength: be.Uint16(p[14:]),
		DialedNumber:        getString(p[16:80]),
		DialingNumber:       getString(p[80:144]),
		Subaddress:          getString(p[144:208]),
	}
}

// IncomingCallReply is Incoming-Call-Reply (ICRP, RFC 2637 section 2.10).
type IncomingCallReply struct {
	CallID         uint16 // chosen by the PNS; the PAC sends it in GRE
	PeerCallID     uint16 // the CallID of the IncomingCallRequest
	Result         IncomingResult
	ErrorCode      ErrorCode
	RecvWindowSize uint16 // Packet Recv. Window Size of the PNS
	TransmitDelay  uint16 // Packet Transmit Delay, in 1/10 s
}

// Type returns TypeIncomingCallReply.
func (m *IncomingCallReply) Type() MessageType { return TypeIncomingCallReply }

// Append implements Message.
func (m *IncomingCallReply) Append(b []byte) []byte {
	b = appendHeader(b, m.Type())
	b = be.AppendUint16(b, m.CallID)
	b = be.AppendUint16(b, m.PeerCallID)
	b = append(b, byte(m.Result), byte(m.ErrorCode))
	b = be.AppendUint16(b, m.RecvWindowSize)
	b = be.AppendUint16(b, m.TransmitDelay)
	return be.AppendUint16(b, 0) // Reserved1
}

func decodeIncomingCallReply(p []byte) *IncomingCallReply {
	return &IncomingCallReply{
		CallID:         be.Uint16(p[0:]),
		PeerCallID:     be.Uint16(p[2:]),
		Result:         IncomingResult(p[4]),
		ErrorCode:      ErrorCode(p[5]),
		RecvWindowSize: be.Uint16(p[6:]),
		TransmitDelay:  be.Uint16(p[8:]),
	}
}

// IncomingCallConnected is Incoming-Call-Connected (ICCN, RFC 2637 section
// 2.11), the last message of the incoming call three-way handshake.
type IncomingCallConnected struct {
	PeerCallID     uint16 // the CallID of the IncomingCallReply
	ConnectSpeed   uint32 // bits per second
	RecvWindowSize uint16 // Packet Recv. Window Size of the PAC
	TransmitDelay  uint16 // Packet Transmit Delay, in 1/10 s
	FramingType    Framing
}

// Type returns TypeIncomingCallConnected.
func (m *IncomingCallConnected) Type() MessageType { return TypeIncomingCallConnected }

// Append implements Message.
func (m *IncomingCallConnected) Append(b []byte) []byte {
	b = appendHeader(b, m.Type())
	b = be.AppendUint16(b, m.PeerCallID)
	b = be.AppendUint16(b, 0) // Reserved1
	b = be.AppendUint32(b, m.ConnectSpeed)
	b = be.AppendUint16(b, m.RecvWindowSize)
	b = be.AppendUint16(b, m.TransmitDelay)
	return be.AppendUint32(b, uint32(m.FramingType))
}

func decodeIncomingCallConnected(p []byte) *IncomingCallConnected {
	return &IncomingCallConnected{
		PeerCallID:     be.Uint16(p[0:]),
		ConnectSpeed:   be.Uint32(p[4:]),
		RecvWindowSize: be.Uint16(p[8:]),
		TransmitDelay:  be.Uint16(p[10:]),
		FramingType:    Framing(be.Uint32(p[12:])),
	}
}

// CallClearRequest is Call-Clear-Request (CCRQ, RFC 2637 section 2.12),
// with which the PNS asks the PAC to disconnect a call.
type CallClearRequest struct {
	CallID uint16 // the PNS's own Call ID for the call
}

// Type returns TypeCallClearRequest.
func (m *CallClearRequest) Type() MessageType { return TypeCallClearRequest }

// Append implements Message.
func (m *CallClearRequest) Append(b []byte) []byte {
	b = appendHeader(b, m.Type())
	b = be.AppendUint16(b, m.CallID)
	return be.AppendUint16(b, 0) // Reserved1
}

func decodeCallClearRequest(p []byte) *CallClearRequest {
	return &CallClearRequest{CallID: be.Uint16(p)}
}

// CallDisconnectNotify is Call-Disconnect-Notify (CDN, RFC 2637 section
// 2.13), with which the PAC reports that a call is gone.
type CallDisconnectNotify struct {
	CallID         uint16 // the PAC's own Call ID for the call
	Result         DisconnectResult
	ErrorCode      ErrorCode
	CauseCode      uint16 // Q.931 cause for ISDN calls
	CallStatistics string // vendor-specific text, at most 128 bytes
}

// Type returns TypeCallDisconnectNotify.
func (m *CallDisconnectNotify) Type() MessageType { return TypeCallDisconnectNotify }

// Append implements Message.
func (m *CallDisconnectNotify) Append(b []byte) []byte {
	b = appendHeader(b, m.Type())
	b = be.AppendUint16(b, m.CallID)
	b = append(b, byte(m.Result), byte(m.ErrorCode))
	b = be.AppendUint16(b, m.CauseCode)
	b = be.AppendUint16(b, 0) // Reserved1
	return appendString(b, m.CallStatistics, statisticsLen)
}

func decodeCallDisconnectNotify(p []byte) *CallDisconnectNotify {
	return &CallDisconnectNotify{
		CallID:         be.Uint16(p[0:]),
		Result:         DisconnectResult(p[2]),
		ErrorCode:      ErrorCode(p[3]),
		CauseCode:      be.Uint16(p[4:]),
		CallStatistics: getString(p[8:136]),
	}
}

// WANErrorNotify is WAN-Error-Notify (WEN, RFC 2637 section 2.14): the
// PAC's cumulative error counters for a call.
type WANErrorNotify struct {
	PeerCallID       uint16 // the PNS's Call ID for the call
	CRCErrors        uint32
	FramingErrors    uint32
	HardwareOverruns uint32
	BufferOverruns   uint32
	TimeoutErrors    uint32
	AlignmentErrors  uint32
}

// Type returns TypeWANErrorNotify.
func (m *WANErrorNotify) Type() MessageType { return TypeWANErrorNotify }

// Append implements Message.
func (m *WANErrorNotify) Append(b []byte) []byte {
	b = appendHeader(b, m.Type())
	b = be.AppendUint16(b, m.PeerCallID)
	b = be.AppendUint16(b, 0) // Reserved1
	b = be.AppendUint32(b, m.CRCErrors)
	b = be.AppendUint32(b, m.FramingErrors)
	b = be.AppendUint32(b, m.HardwareOverruns)
	b = be.AppendUint32(b, m.BufferOverruns)
	b = be.AppendUint32(b, m.TimeoutErrors)
	return be.AppendUint32(b, m.AlignmentErrors)
}

func decodeWANErrorNotify(p []byte) *WANErrorNotify {
	return &WANErrorNotify{
		PeerCallID:       be.Uint16(p[0:]),
		CRCErrors:        be.Uint32(p[4:]),
		FramingErrors:    be.Uint32(p[8:]),
		HardwareOverruns: be.Uint32(p[12:]),
		BufferOverruns:   be.Uint32(p[16:]),
		TimeoutErrors:    be.Uint32(p[20:]),
		AlignmentErrors:  be.Uint32(p[24:]),
	}
}

// SetLinkInfo is Set-Link-Info (SLI, RFC 2637 section 2.15), which tells
// the other end the PPP asynchronous control character maps negotiated by
// LCP. Windows peers send it in both directions, also with the defaults.
type SetLinkInfo struct {
	PeerCallID uint16 // the receiver's Call ID for the call
	SendACCM   uint32 // default 0xFFFFFFFF
	RecvACCM   uint32 // default 0xFFFFFFFF
}

// Type returns TypeSetLinkInfo.
func (m *SetLinkInfo) Type() MessageType { return TypeSetLinkInfo }

// Append implements Message.
func (m *SetLinkInfo) Append(b []byte) []byte {
	b = appendHeader(b, m.Type())
	b = be.AppendUint16(b, m.PeerCallID)
	b = be.AppendUint16(b, 0) // Reserved1
	b = be.AppendUint32(b, m.SendACCM)
	return be.AppendUint32(b, m.RecvACCM)
}

func decodeSetLinkInfo(p []byte) *SetLinkInfo {
	return &SetLinkInfo{
		PeerCallID: be.Uint16(p[0:]),
		SendACCM:   be.Uint32(p[4:]),
		RecvACCM:   be.Uint32(p[8:]),
	}
}
