package mschap

import (
	"bytes"
	"reflect"
	"testing"
)

func TestFailureString(t *testing.T) {
	f := Failure{
		Code:      ErrorAuthenticationFailed,
		Challenge: mustHex(t, "00112233445566778899aabbccddeeff"),
		Version:   3,
		Message:   "Authentication failed",
	}
	const want = "E=691 R=0 C=00112233445566778899AABBCCDDEEFF V=3 M=Authentication failed"
	if got := f.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	f = Failure{Code: ErrorPasswordExpired, Retry: true}
	if got := f.String(); got != "E=648 R=1 V=0" {
		t.Errorf("String() = %q", got)
	}
}

// Failure texts as real authenticators send them, and what they mean.
var failureCases = []struct {
	in   string
	want Failure
}{
	// RFC 2759 section 6 layout, as Windows RRAS sends it.
	{"E=691 R=0 C=00112233445566778899AABBCCDDEEFF V=3 M=Authentication failed", Failure{
		Code: 691, Challenge: []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff},
		Version: 3, Message: "Authentication failed"}},
	// pppd's MS-CHAPv2 failure (chap_ms.c): lower-case hex, V=0, R=1.
	{"E=691 R=1 C=e828c3d700d788652ffac77d9bdba79a V=0 M=Access denied", Failure{
		Code: 691, Retry: true, Challenge: []byte{0xe8, 0x28, 0xc3, 0xd7, 0x00, 0xd7, 0x88, 0x65, 0x2f, 0xfa, 0xc7, 0x7d, 0x9b, 0xdb, 0xa7, 0x9a},
		Message: "Access denied"}},
	// pppd's MS-CHAPv1 failure: an 8-byte challenge and no M=.
	{"E=691 R=1 C=1f15c12c743c711a V=0", Failure{
		Code: 691, Retry: true, Challenge: []byte{0x1f, 0x15, 0xc1, 0x2c, 0x74, 0x3c, 0x71, 0x1a}}},
	// RFC 2433 style without C and V.
	{"E=649 R=0", Failure{Code: ErrorNoDialinPermission}},
	{"E=646", Failure{Code: ErrorRestrictedLogonHours}},
	// Other field order, extra spaces, trailing NUL, unknown field.
	{"  R=1   V=3 E=647  X=whatever M=Account  disabled \x00", Failure{
		Code: ErrorAccountDisabled, Retry: true, Version: 3, Message: "Account  disabled "}},
	{"E=709 R=0 V=3 M=", Failure{Code: ErrorChangingPassword, Version: 3}},
	// M= swallows the rest, including what looks like fields.
	{"E=691 M=bad R=1 C=zz", Failure{Code: 691, Message: "bad R=1 C=zz"}},
}

func TestParseFailure(t *testing.T) {
	for _, tc := range failureCases {
		got, err := ParseFailure(tc.in)
		if err != nil {
			t.Errorf("ParseFailure(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseFailure(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		// Formatting and parsing again gives the same value.
		again, err := ParseFailure(got.String())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("ParseFailure(%q) = %+v, %v; want %+v", got.String(), again, err, got)
		}
	}
	// The canonical form survives a round trip unchanged.
	const canon = "E=691 R=0 C=00112233445566778899AABBCCDDEEFF V=3 M=Authentication failed"
	f, err := ParseFailure(canon)
	if err != nil || f.String() != canon {
		t.Errorf("round trip of %q gives %q, %v", canon, f.String(), err)
	}
}

func TestParseFailureMalformed(t *testing.T) {
	for _, in := range []string{
		"",
		"   ",
		"\x00",
		"Access denied",           // pppd's MS-CHAPv1 text has no fields
		"R=1 V=3 M=no error code", // E= is required
		"E=",                      // empty code
		"E=-1",                    // not a decimal number
		"E=69x1",                  // not a decimal number
		"E=99999999999999999999",  // overflow
		"E=691 E=691",             // repeated field
		"E=691 R=2",               // R is 0 or 1
		"E=691 R=",                // empty R
		"E=691 C=0011",            // wrong challenge length
		"E=691 C=00112233445566778899AABBCCDDEEFG", // not hex
		"E=691 C=00112233445566778899AABBCCDDEEFF00",
		"E=691 V=three",
		"E=691 garbage",
		"E=691 r=1", // keys are upper case
		"E691",
		"=691",
		"E=691 \xff=1",
	} {
		if f, err := ParseFailure(in); err == nil {
			t.Errorf("ParseFailure(%q) = %+v, want an error", in, f)
		}
	}
}

func TestSuccess(t *testing.T) {
	var resp [20]byte
	copy(resp[:], mustHex(t, "407A5589115FD0D6209F510FE9C04566932CDA56"))

	for _, tc := range []struct {
		in, msg string
	}{
		{"S=407A5589115FD0D6209F510FE9C04566932CDA56", ""},
		{"S=407A5589115FD0D6209F510FE9C04566932CDA56 M=Access granted", "Access granted"},
		{"S=407a5589115fd0d6209f510fe9c04566932cda56  M=lower case", "lower case"},
		{"S=407A5589115FD0D6209F510FE9C04566932CDA56M=glued", "glued"},
		{"S=407A5589115FD0D6209F510FE9C04566932CDA56 M=", ""},
		{"S=407A5589115FD0D6209F510FE9C04566932CDA56\x00", ""},
		{"S=407A5589115FD0D6209F510FE9C04566932CDA56 ", ""},
	} {
		got, msg, err := ParseSuccess(tc.in)
		if err != nil || got != resp || msg != tc.msg {
			t.Errorf("ParseSuccess(%q) = %x, %q, %v; want %x, %q", tc.in, got, msg, err, resp, tc.msg)
		}
	}
	for _, m := range []string{"", "Access granted"} {
		s := FormatSuccess(resp, m)
		got, msg, err := ParseSuccess(s)
		if err != nil || got != resp || msg != m {
			t.Errorf("round trip of %q: %x, %q, %v", s, got, msg, err)
		}
	}
	if s := FormatSuccess(resp, "Welcome"); s != rfc2759AuthResponse+" M=Welcome" {
		t.Errorf("FormatSuccess = %q", s)
	}
	for _, in := range []string{
		"",
		"S=",
		"S=407A5589115FD0D6209F510FE9C04566932CDA5",   // 39 digits
		"S=407A5589115FD0D6209F510FE9C04566932CDA5G",  // not hex
		"s=407A5589115FD0D6209F510FE9C04566932CDA56",  // lower-case key
		" S=407A5589115FD0D6209F510FE9C04566932CDA56", // leading space
		"S=407A5589115FD0D6209F510FE9C04566932CDA56 Access granted",
		"S=407A5589115FD0D6209F510FE9C04566932CDA567",
		"E=691 R=0 V=3",
	} {
		if _, _, err := ParseSuccess(in); err == nil {
			t.Errorf("ParseSuccess(%q): no error", in)
		}
	}
}

func FuzzParseFailure(f *testing.F) {
	for _, tc := range failureCases {
		f.Add(tc.in)
	}
	f.Add("E=691 R=1 C=1f15c12c743c711a V=0")
	f.Add("S=E85A1DB2A82B7E039B217A8C7685B6F090445F6C M=Access granted")
	f.Add("S=974E79C350CC7DC53FBC5F3A114C63B1EFA16E19")
	f.Fuzz(func(t *testing.T, s string) {
		if fl, err := ParseFailure(s); err == nil {
			// Whatever parses must format into text that parses to the same value.
			again, err := ParseFailure(fl.String())
			if err != nil {
				t.Fatalf("ParseFailure(%q) = %+v, but its String %q fails: %v", s, fl, fl.String(), err)
			}
			if again.Code != fl.Code || again.Retry != fl.Retry || again.Version != fl.Version ||
				!bytes.Equal(again.Challenge, fl.Challenge) || again.Message != fl.Message {
				t.Fatalf("round trip of %q: %+v became %+v", s, fl, again)
			}
		}
		if resp, msg, err := ParseSuccess(s); err == nil {
			r2, m2, err := ParseSuccess(FormatSuccess(resp, msg))
			if err != nil || r2 != resp || m2 != msg {
				t.Fatalf("success round trip of %q: %x %q -> %x %q %v", s, resp, msg, r2, m2, err)
			}
		}
	})
}
