package pptp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// sampleMessages holds one message of every type with every field set to
// something other than zero, so that a field swapped, dropped or put at
// the wrong offset shows up in a round trip.
func sampleMessages() []Message {
	return []Message{
		&StartCtrlConnRequest{ProtocolVersion: ProtocolVersion, FramingCaps: FramingAny, BearerCaps: BearerDigital,
			MaxChannels: 0x0102, FirmwareRevision: 0x0304, HostName: "pns.example.net", VendorName: "gopptp"},
		&StartCtrlConnReply{ProtocolVersion: ProtocolVersion, Result: StartGeneralError, ErrorCode: ErrorCodeNoResource,
			FramingCaps: FramingSync, BearerCaps: BearerAny, MaxChannels: 0xfffe, FirmwareRevision: 7,
			HostName: strings.Repeat("h", 64), VendorName: "v"},
		&StopCtrlConnRequest{Reason: StopLocalShutdown},
		&StopCtrlConnReply{Result: StopGeneralError, ErrorCode: ErrorCodePACError},
		&EchoRequest{Identifier: 0xdeadbeef},
		&EchoReply{Identifier: 0x01020304, Result: EchoGeneralError, ErrorCode: ErrorCodeNotConnected},
		&OutgoingCallRequest{CallID: 0xbeef, CallSerialNumber: 0x1234, MinBPS: 2400, MaxBPS: 10_000_000,
			BearerType: BearerAnalog, FramingType: FramingAsync, RecvWindowSize: 64, ProcessingDelay: 5,
			PhoneNumberLength: 7, PhoneNumber: "5551234", Subaddress: "ext 9"},
		&OutgoingCallReply{CallID: 0x1111, PeerCallID: 0x2222, Result: OutgoingBusy, ErrorCode: ErrorCodeBadCallID,
			CauseCode: 0x3333, ConnectSpeed: 64000, RecvWindowSize: 3, ProcessingDelay: 9, PhysicalChannelID: 0x44445555},
		&IncomingCallRequest{CallID: 0xa1a2, CallSerialNumber: 0xb1b2, BearerType: BearerDigital, PhysicalChannelID: 0xc1c2c3c4,
			DialedNumberLength: 3, DialingNumberLength: 4, DialedNumber: "123", DialingNumber: "4567", Subaddress: "sub"},
		&IncomingCallReply{CallID: 0x0a0b, PeerCallID: 0x0c0d, Result: IncomingDoNotAccept, ErrorCode: ErrorCodeBadValue,
			RecvWindowSize: 16, TransmitDelay: 2},
		&IncomingCallConnected{PeerCallID: 0x0e0f, ConnectSpeed: 115200, RecvWindowSize: 8, TransmitDelay: 1, FramingType: FramingSync},
		&CallClearRequest{CallID: 0x5a5a},
		&CallDisconnectNotify{CallID: 0x6b6b, Result: DisconnectRequest, ErrorCode: ErrorCodeBadFormat, CauseCode: 0x10,
			CallStatistics: "rx 10 tx 20"},
		&WANErrorNotify{PeerCallID: 0x7c7c, CRCErrors: 1, FramingErrors: 2, HardwareOverruns: 3, BufferOverruns: 4,
			TimeoutErrors: 5, AlignmentErrors: 0xffffffff},
		&SetLinkInfo{PeerCallID: 0x8d8d, SendACCM: 0x000a0000, RecvACCM: 0xffffffff},
	}
}

func TestRoundTripEveryType(t *testing.T) {
	seen := map[MessageType]bool{}
	for _, m := range sampleMessages() {
		t.Run(m.Type().String(), func(t *testing.T) {
			seen[m.Type()] = true
			b := Marshal(m)
			if len(b) != m.Type().Len() {
				t.Fatalf("encoded %d bytes, want %d", len(b), m.Type().Len())
			}
			if got := int(be.Uint16(b)); got != len(b) {
				t.Errorf("Length field %d, want %d", got, len(b))
			}
			got, err := Parse(b)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, m) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, m)
			}
			// Append must extend, not overwrite, what is already there.
			prefix := []byte("prefix")
			if ext := m.Append(append([]byte(nil), prefix...)); !bytes.Equal(ext, append(prefix, b...)) {
				t.Error("Append does not preserve the bytes before it")
			}
		})
	}
	for ty := MessageType(1); ty <= 15; ty++ {
		if !seen[ty] {
			t.Errorf("no sample of %v", ty)
		}
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hexString(s string, n int) string {
	return hex.EncodeToString([]byte(s)) + strings.Repeat("00", n-len(s))
}

// The golden messages are laid out by hand from the diagrams of RFC 2637,
// one line per 32-bit row.
func TestGoldenStartCtrlConnRequest(t *testing.T) {
	want := unhex(t, `
		009c 0001
		1a2b3c4d
		0001 0000
		0100 0000
		00000003
		00000001
		0000 1234
		`+hexString("pns.example", 64)+`
		`+hexString("gopptp", 64))
	m := &StartCtrlConnRequest{ProtocolVersion: 0x0100, FramingCaps: FramingAsync | FramingSync,
		BearerCaps: BearerAnalog, FirmwareRevision: 0x1234, HostName: "pns.example", VendorName: "gopptp"}
	if got := Marshal(m); !bytes.Equal(got, want) {
		t.Errorf("Marshal:\n got %x\nwant %x", got, want)
	}
	got, err := Parse(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Errorf("Parse: got %+v, want %+v", got, m)
	}
}

func TestGoldenOutgoingCallRequest(t *testing.T) {
	want := unhex(t, `
		00a8 0001
		1a2b3c4d
		0007 0000
		beef 0007
		00000960
		00989680
		00000003
		00000003
		0040 0000
		0004 0000
		`+hexString("5551", 64)+`
		`+hexString("x", 64))
	m := &OutgoingCallRequest{CallID: 0xbeef, CallSerialNumber: 7, MinBPS: 2400, MaxBPS: 10_000_000,
		BearerType: BearerAny, FramingType: FramingAny, RecvWindowSize: 64, PhoneNumberLength: 4,
		PhoneNumber: "5551", Subaddress: "x"}
	if got := Marshal(m); !bytes.Equal(got, want) {
		t.Errorf("Marshal:\n got %x\nwant %x", got, want)
	}
	got, err := Parse(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Errorf("Parse: got %+v, want %+v", got, m)
	}
}

func TestGoldenSmallMessages(t *testing.T) {
	for _, tc := range []struct {
		m    Message
		want string
	}{
		{&EchoReply{Identifier: 0x11223344, Result: EchoOK}, "0014 0001 1a2b3c4d 0006 0000 11223344 01 00 0000"},
		{&StopCtrlConnRequest{Reason: StopNone}, "0010 0001 1a2b3c4d 0003 0000 01 00 0000"},
		{&CallDisconnectNotify{CallID: 0x0102, Result: DisconnectAdminShutdown, CauseCode: 0x0304, CallStatistics: "ok"},
			"0094 0001 1a2b3c4d 000d 0000 0102 03 00 0304 0000 " + hexString("ok", 128)},
		{&SetLinkInfo{PeerCallID: 0x736a, SendACCM: 0xffffffff, RecvACCM: 0xffffffff},
			"0018 0001 1a2b3c4d 000f 0000 736a 0000 ffffffff ffffffff"},
	} {
		want := unhex(t, tc.want)
		if got := Marshal(tc.m); !bytes.Equal(got, want) {
			t.Errorf("%v:\n got %x\nwant %x", tc.m.Type(), got, want)
		}
	}
}

func TestStringFields(t *testing.T) {
	long := strings.Repeat("abcdefgh", 10) // 80 bytes
	b := Marshal(&StartCtrlConnRequest{HostName: long, VendorName: "x"})
	if !bytes.Equal(b[28:92], []byte(long[:64])) {
		t.Errorf("host name not truncated to 64 bytes: %q", b[28:92])
	}
	m, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.(*StartCtrlConnRequest).HostName; got != long[:64] {
		t.Errorf("full 64-byte field decoded as %q", got)
	}

	// Bytes after the first NUL are padding, whatever their value.
	copy(b[92:], "vendor\x00junk")
	m, err = Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.(*StartCtrlConnRequest).VendorName; got != "vendor" {
		t.Errorf("vendor = %q, want %q", got, "vendor")
	}
}

func TestParseErrors(t *testing.T) {
	good := Marshal(&EchoRequest{Identifier: 1})
	mod := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrBadLength},
		{"short header", good[:11], ErrBadLength},
		{"bad cookie", mod(func(b []byte) []byte { b[7] ^= 1; return b }), ErrBadCookie},
		{"length field too big", mod(func(b []byte) []byte { b[1]++; return b }), ErrBadLength},
		{"length field too small", mod(func(b []byte) []byte { b[1]--; return b }), ErrBadLength},
		{"trailing byte", mod(func(b []byte) []byte { b[1]++; return append(b, 0) }), ErrBadLength},
		{"wrong length for type", mod(func(b []byte) []byte { b[9] = byte(TypeEchoReply); return b }), ErrBadLength},
		{"management message", mod(func(b []byte) []byte { b[3] = 2; return b }), ErrNotControl},
		{"reserved0", mod(func(b []byte) []byte { b[11] = 1; return b }), ErrReserved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(tc.b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Parse = %v, %v; want %v", m, err, tc.want)
			}
			if m != nil {
				t.Errorf("message %v returned with error", m)
			}
		})
	}
}

func TestParseUnknownType(t *testing.T) {
	for _, ty := range []MessageType{0, 16, 0xffff} {
		b := Marshal(&EchoRequest{})
		be.PutUint16(b[8:], uint16(ty))
		_, err := Parse(b)
		var ute *UnknownTypeError
		if !errors.As(err, &ute) || ute.Type != ty {
			t.Errorf("type %d: err = %v, want *UnknownTypeError{%d}", ty, err, ty)
		}
	}
	// An unknown type is unknown at any length: its length is not ours to judge.
	b := append(Marshal(&EchoRequest{}), make([]byte, 100)...)
	be.PutUint16(b, uint16(len(b)))
	be.PutUint16(b[8:], 99)
	var ute *UnknownTypeError
	if _, err := Parse(b); !errors.As(err, &ute) {
		t.Errorf("long unknown message: err = %v", err)
	}
}

// reservedRanges lists, from the RFC diagrams, the byte ranges of every
// reserved field after Reserved0, which Parse ignores.
var reservedRanges = map[MessageType][][2]int{
	TypeStartCtrlConnRequest:  {{14, 16}},
	TypeStopCtrlConnRequest:   {{13, 16}},
	TypeStopCtrlConnReply:     {{14, 16}},
	TypeEchoReply:             {{18, 20}},
	TypeOutgoingCallRequest:   {{38, 40}},
	TypeIncomingCallReply:     {{22, 24}},
	TypeIncomingCallConnected: {{14, 16}},
	TypeCallClearRequest:      {{14, 16}},
	TypeCallDisconnectNotify:  {{18, 20}},
	TypeWANErrorNotify:        {{14, 16}},
	TypeSetLinkInfo:           {{14, 16}},
}

// stringRanges lists the byte ranges of the NUL-padded string fields.
var stringRanges = map[MessageType][][2]int{
	TypeStartCtrlConnRequest: {{28, 92}, {92, 156}},
	TypeStartCtrlConnReply:   {{28, 92}, {92, 156}},
	TypeOutgoingCallRequest:  {{40, 104}, {104, 168}},
	TypeIncomingCallRequest:  {{28, 92}, {92, 156}, {156, 220}},
	TypeCallDisconnectNotify: {{20, 148}},
}

// canonical returns the encoding Marshal gives a parsed copy of b, a
// message Parse accepts: b with its ignored reserved bytes zeroed and each
// string field zeroed from its first NUL on.
func canonical(b []byte) []byte {
	c := append([]byte(nil), b...)
	t := MessageType(be.Uint16(c[8:]))
	for _, r := range reservedRanges[t] {
		clear(c[r[0]:r[1]])
	}
	for _, r := range stringRanges[t] {
		if i := bytes.IndexByte(c[r[0]:r[1]], 0); i >= 0 {
			clear(c[r[0]+i : r[1]])
		}
	}
	return c
}

func TestReservedFieldsIgnored(t *testing.T) {
	for _, m := range sampleMessages() {
		b := Marshal(m)
		for _, r := range reservedRanges[m.Type()] {
			for i := r[0]; i < r[1]; i++ {
				if b[i] != 0 {
					t.Errorf("%v: Marshal wrote %#x into reserved byte %d", m.Type(), b[i], i)
				}
				b[i] = 0xff
			}
		}
		got, err := Parse(b)
		if err != nil {
			t.Errorf("%v with reserved bytes set: %v", m.Type(), err)
			continue
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%v: reserved bytes leaked into %+v", m.Type(), got)
		}
	}
}

func TestErrorCodeOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want ErrorCode
		ok   bool
	}{
		{nil, ErrorCodeNone, false},
		{errors.New("other"), ErrorCodeNone, false},
		{ErrBadCookie, ErrorCodeBadFormat, true},
		{ErrBadLength, ErrorCodeBadFormat, true},
		{ErrLostSync, ErrorCodeBadFormat, true},
		{ErrReserved, ErrorCodeBadValue, true},
		{ErrNotControl, ErrorCodeBadValue, true},
		{&UnknownTypeError{Type: 20}, ErrorCodeBadValue, true},
	} {
		got, ok := ErrorCodeOf(tc.err)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ErrorCodeOf(%v) = %v, %v; want %v, %v", tc.err, got, ok, tc.want, tc.ok)
		}
	}
	// Through Parse, with the wrapping Parse adds.
	b := Marshal(&EchoRequest{})
	b[4] = 0
	if _, err := Parse(b); err == nil {
		t.Fatal("bad cookie accepted")
	} else if c, _ := ErrorCodeOf(err); c != ErrorCodeBadFormat {
		t.Errorf("bad cookie maps to %v", c)
	}
}

func TestNames(t *testing.T) {
	for _, tc := range []struct {
		t          MessageType
		abbr, name string
	}{
		{TypeStartCtrlConnRequest, "SCCRQ", "Start-Control-Connection-Request"},
		{TypeOutgoingCallReply, "OCRP", "Outgoing-Call-Reply"},
		{TypeCallDisconnectNotify, "CDN", "Call-Disconnect-Notify"},
		{TypeSetLinkInfo, "SLI", "Set-Link-Info"},
		{42, "MessageType(42)", "MessageType(42)"},
	} {
		if got := tc.t.String(); got != tc.abbr {
			t.Errorf("String(%d) = %q, want %q", tc.t, got, tc.abbr)
		}
		if got := tc.t.Name(); got != tc.name {
			t.Errorf("Name(%d) = %q, want %q", tc.t, got, tc.name)
		}
	}
	for ty := MessageType(1); ty <= 15; ty++ {
		if strings.HasPrefix(ty.String(), "MessageType(") || ty.Name() == ty.String() || ty.Len() == 0 {
			t.Errorf("type %d lacks a name or length", ty)
		}
	}
	if s := ErrorCodeBadCallID.String(); s != "Bad-Call ID" {
		t.Errorf("ErrorCodeBadCallID = %q", s)
	}
	if s := OutgoingNoDialTone.String(); s != "No-Dial-Tone" {
		t.Errorf("OutgoingNoDialTone = %q", s)
	}
	if s := StartResult(9).String(); s != "StartResult(9)" {
		t.Errorf("StartResult(9) = %q", s)
	}
}
