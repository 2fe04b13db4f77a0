package auth

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"errors"
	"net/netip"
	"testing"
	"unicode/utf16"

	"golang.org/x/crypto/md4"

	"github.com/gopptp/gopptp/ppp"
)

// Values of RFC 2759 section 9.2 (and RFC 3079 section 3.5.3).
var (
	rfcUser          = "User"
	rfcPassword      = "clientPass"
	rfcAuthChallenge = mustHex("5B5D7C7D7B3F2F3E3C2C602132262628")
	rfcPeerChallenge = mustHex("21402324255E262A28295F2B3A337C7E")
	rfcChallenge8    = mustHex("D02E4386BCE91226") // ChallengeHash of the above
	rfcNTResponse    = mustHex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
	rfcHashHash      = mustHex("41C00C584BD2D91C4017A2A12FA59F3F")
	rfcAuthResponse  = "S=407A5589115FD0D6209F510FE9C04566932CDA56"
	rfcMasterKey     = mustHex("FDECE3717A8C838CB388E527AE3CDD31")
	rfcSendStartKey  = mustHex("8B7CDC149B993A1BA118CB153F56DCCB") // the server's send key
)

// The MPPE key derivation magic strings of RFC 3079 section 3.4.
const (
	rfcMagic1 = "This is the MPPE Master Key"
	rfcMagic2 = "On the client side, this is the send key; on the server side, it is the receive key."
	rfcMagic3 = "On the client side, this is the receive key; on the server side, it is the send key."
)

// startKey is GetAsymmetricStartKey of RFC 3079 3.4 for 128-bit keys.
func startKey(master []byte, magic string) []byte {
	h := sha1.New()
	h.Write(master)
	h.Write(make([]byte, 40))
	h.Write([]byte(magic))
	h.Write(bytes.Repeat([]byte{0xf2}, 40))
	return h.Sum(nil)[:16]
}

// masterKey is GetMasterKey of RFC 3079 3.4.
func masterKey(hashHash, nt []byte) []byte {
	h := sha1.New()
	h.Write(hashHash)
	h.Write(nt)
	h.Write([]byte(rfcMagic1))
	return h.Sum(nil)[:16]
}

// v1Key is the MS-CHAPv1 start key of RFC 3079 2.4 as pppd uses it.
func v1Key(hashHash, challenge []byte) []byte {
	h := sha1.New()
	h.Write(hashHash)
	h.Write(hashHash)
	h.Write(challenge)
	return h.Sum(nil)[:16]
}

// ntHashHash is MD4(MD4(UTF-16LE(password))) for an ASCII password.
func ntHashHash(password string) []byte {
	u := utf16.Encode([]rune(password))
	b := make([]byte, 0, 2*len(u))
	for _, c := range u {
		b = append(b, byte(c), byte(c>>8))
	}
	h := md4.New()
	h.Write(b)
	first := h.Sum(nil)
	h.Reset()
	h.Write(first)
	return h.Sum(nil)
}

func md5Response(id uint8, secret string, challenge []byte) []byte {
	h := md5.New()
	h.Write([]byte{id})
	h.Write([]byte(secret))
	h.Write(challenge)
	return h.Sum(nil)
}

// msResponse builds a 49-octet MS-CHAP response value.
func msResponse(peerOrLM, nt []byte, flags byte) []byte {
	v := make([]byte, 49)
	copy(v, peerOrLM)
	copy(v[24:48], nt)
	v[48] = flags
	return v
}

func TestIndependentVectors(t *testing.T) {
	// The helpers above must reproduce the RFC 3079 sample keys, or the
	// comparisons below prove nothing.
	if got := masterKey(rfcHashHash, rfcNTResponse); !bytes.Equal(got, rfcMasterKey) {
		t.Fatalf("test helper masterKey = %x, RFC 3079 %x", got, rfcMasterKey)
	}
	if got := startKey(rfcMasterKey, rfcMagic3); !bytes.Equal(got, rfcSendStartKey) {
		t.Fatalf("test helper startKey = %x, RFC 3079 %x", got, rfcSendStartKey)
	}
	if got := ntHashHash(rfcPassword); !bytes.Equal(got, rfcHashHash) {
		t.Fatalf("test helper ntHashHash = %x, RFC 2759 %x", got, rfcHashHash)
	}
}

func TestCheck(t *testing.T) {
	chal16 := mustHex("00112233445566778899aabbccddeeff")
	md5Resp := md5Response(0x2a, "s3cret", chal16)
	// RFC 2433 appendix B.2.
	v1Chal := mustHex("102DB5DF085D3041")
	v1NT := mustHex("4E9D3C8F9CFD385D5BF4D3246791956CA4C351AB409A3D61")
	v2Resp := msResponse(rfcPeerChallenge, rfcNTResponse, 0)

	tests := []struct {
		name     string
		req      Request
		password string
		ok       bool
	}{
		{"PAP right", Request{Method: ppp.AuthPAP, User: "u", Password: []byte("s3cret")}, "s3cret", true},
		{"PAP wrong", Request{Method: ppp.AuthPAP, User: "u", Password: []byte("s3creT")}, "s3cret", false},
		{"PAP prefix", Request{Method: ppp.AuthPAP, User: "u", Password: []byte("s3cr")}, "s3cret", false},
		{"PAP empty", Request{Method: ppp.AuthPAP, User: "u"}, "s3cret", false},
		{"CHAP-MD5 right", Request{Method: ppp.AuthCHAPMD5, ID: 0x2a, Challenge: chal16, Response: md5Resp}, "s3cret", true},
		{"CHAP-MD5 other id", Request{Method: ppp.AuthCHAPMD5, ID: 0x2b, Challenge: chal16, Response: md5Resp}, "s3cret", false},
		{"CHAP-MD5 wrong secret", Request{Method: ppp.AuthCHAPMD5, ID: 0x2a, Challenge: chal16, Response: md5Resp}, "s3creT", false},
		{"CHAP-MD5 short response", Request{Method: ppp.AuthCHAPMD5, ID: 0x2a, Challenge: chal16, Response: md5Resp[:15]}, "s3cret", false},
		{"MS-CHAPv1 RFC 2433 B.2", Request{Method: ppp.AuthMSCHAPv1, User: "u", Challenge: v1Chal, Response: msResponse(nil, v1NT, 1)}, "MyPw", true},
		{"MS-CHAPv1 RFC 2759 hash", Request{Method: ppp.AuthMSCHAPv1, User: "u", Challenge: rfcChallenge8, Response: msResponse(nil, rfcNTResponse, 1)}, rfcPassword, true},
		{"MS-CHAPv1 wrong password", Request{Method: ppp.AuthMSCHAPv1, User: "u", Challenge: v1Chal, Response: msResponse(nil, v1NT, 1)}, "MyPW", false},
		{"MS-CHAPv1 LM-only response", Request{Method: ppp.AuthMSCHAPv1, User: "u", Challenge: v1Chal, Response: msResponse(nil, v1NT, 0)}, "MyPw", false},
		{"MS-CHAPv1 16-octet challenge", Request{Method: ppp.AuthMSCHAPv1, User: "u", Challenge: chal16, Response: msResponse(nil, v1NT, 1)}, "MyPw", false},
		{"MS-CHAPv2 RFC 2759", Request{Method: ppp.AuthMSCHAPv2, User: rfcUser, Challenge: rfcAuthChallenge, Response: v2Resp}, rfcPassword, true},
		{"MS-CHAPv2 with domain", Request{Method: ppp.AuthMSCHAPv2, User: `CORP\User`, Challenge: rfcAuthChallenge, Response: v2Resp}, rfcPassword, true},
		{"MS-CHAPv2 other user", Request{Method: ppp.AuthMSCHAPv2, User: "user", Challenge: rfcAuthChallenge, Response: v2Resp}, rfcPassword, false},
		{"MS-CHAPv2 wrong password", Request{Method: ppp.AuthMSCHAPv2, User: rfcUser, Challenge: rfcAuthChallenge, Response: v2Resp}, "clientpass", false},
		{"MS-CHAPv2 short response", Request{Method: ppp.AuthMSCHAPv2, User: rfcUser, Challenge: rfcAuthChallenge, Response: v2Resp[:48]}, rfcPassword, false},
		{"MS-CHAPv2 8-octet challenge", Request{Method: ppp.AuthMSCHAPv2, User: rfcUser, Challenge: rfcChallenge8, Response: v2Resp}, rfcPassword, false},
		{"no method", Request{Method: ppp.AuthNone, User: "u"}, "x", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := netip.MustParseAddr("192.168.77.10")
			res := Check(&tc.req, tc.password, addr)
			if res.OK != tc.ok {
				t.Fatalf("OK = %v (reason %q), want %v", res.OK, res.Reason, tc.ok)
			}
			if !res.OK {
				if res.Reason == "" {
					t.Error("failure without a reason")
				}
				if res.HasKeys || res.AuthenticatorResponse != "" {
					t.Error("failure carries keys or an authenticator response")
				}
				return
			}
			if res.Addr != addr {
				t.Errorf("Addr %v, want %v", res.Addr, addr)
			}
			switch tc.req.Method {
			case ppp.AuthPAP, ppp.AuthCHAPMD5:
				if res.HasKeys {
					t.Error("PAP/CHAP-MD5 produced MPPE keys")
				}
			case ppp.AuthMSCHAPv1:
				if !res.HasKeys || res.SendKey != res.RecvKey {
					t.Errorf("MS-CHAPv1 keys: HasKeys %v, send %x recv %x; want one key both ways", res.HasKeys, res.SendKey, res.RecvKey)
				}
				if tc.password == rfcPassword {
					if want := v1Key(rfcHashHash, rfcChallenge8); !bytes.Equal(res.SendKey[:], want) {
						t.Errorf("MS-CHAPv1 key %x, want %x", res.SendKey, want)
					}
				}
			case ppp.AuthMSCHAPv2:
				if res.AuthenticatorResponse != rfcAuthResponse {
					t.Errorf("AuthenticatorResponse %q, want %q", res.AuthenticatorResponse, rfcAuthResponse)
				}
				if !res.HasKeys {
					t.Fatal("no MPPE keys")
				}
				if !bytes.Equal(res.SendKey[:], rfcSendStartKey) {
					t.Errorf("server send key %x, want RFC 3079 %x", res.SendKey, rfcSendStartKey)
				}
				if want := startKey(rfcMasterKey, rfcMagic2); !bytes.Equal(res.RecvKey[:], want) {
					t.Errorf("server receive key %x, want %x", res.RecvKey, want)
				}
			}
		})
	}
}

func TestCHAPMD5AgainstRFC1994(t *testing.T) {
	// RFC 1994 section 4.1: MD5 over Identifier, secret and challenge.
	chal := []byte("a challenge of arbitrary length, here 41")
	for _, id := range []uint8{0, 1, 0x7f, 0xff} {
		req := Request{Method: ppp.AuthCHAPMD5, ID: id, Challenge: chal, Response: md5Response(id, "pw", chal)}
		if res := Check(&req, "pw", netip.Addr{}); !res.OK {
			t.Errorf("id %d: %q", id, res.Reason)
		}
	}
}

func TestPasswordVerifier(t *testing.T) {
	backend := errors.New("backend down")
	addr := netip.MustParseAddr("192.168.77.10")
	allowed := func(a netip.Addr) bool { return a == addr }
	v := PasswordVerifier{Lookup: func(m ppp.AuthMethod, user string) (Secret, error) {
		switch user {
		case "alice":
			return Secret{Password: "pw", Addr: addr, Allowed: allowed}, nil
		case "broken":
			return Secret{}, backend
		}
		return Secret{}, ErrUnknownUser
	}}
	ctx := context.Background()

	res, err := v.Verify(ctx, &Request{Method: ppp.AuthPAP, User: "alice", Password: []byte("pw")})
	if err != nil || !res.OK || res.Addr != addr || res.Allowed == nil || !res.Allowed(addr) {
		t.Errorf("alice: %+v, %v; want OK with address %v and the Allowed func", res, err, addr)
	}
	res, err = v.Verify(ctx, &Request{Method: ppp.AuthPAP, User: "alice", Password: []byte("bad")})
	if err != nil || res.OK || res.Allowed != nil {
		t.Errorf("alice, bad password: %+v, %v; want failure without Allowed", res, err)
	}
	res, err = v.Verify(ctx, &Request{Method: ppp.AuthPAP, User: "mallory", Password: []byte("pw")})
	if err != nil || res.OK || res.Reason == "" {
		t.Errorf("unknown user: %+v, %v; want a failure with a reason and no error", res, err)
	}
	if _, err = v.Verify(ctx, &Request{Method: ppp.AuthPAP, User: "broken"}); !errors.Is(err, backend) {
		t.Errorf("lookup error: got %v, want %v", err, backend)
	}
}
