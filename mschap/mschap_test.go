package mschap

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func hexString(b []byte) string { return hex.EncodeToString(b) }

// mustHex decodes hex written with or without spaces.
func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func mustHex16(t testing.TB, s string) [16]byte {
	t.Helper()
	b := mustHex(t, s)
	if len(b) != 16 {
		t.Fatalf("%q is %d bytes, want 16", s, len(b))
	}
	return [16]byte(b)
}

// RFC 2759 section 9.2.
var (
	rfc2759User          = "User"
	rfc2759Password      = "clientPass"
	rfc2759AuthChallenge = "5B 5D 7C 7D 7B 3F 2F 3E 3C 2C 60 21 32 26 26 28"
	rfc2759PeerChallenge = "21 40 23 24 25 5E 26 2A 28 29 5F 2B 3A 33 7C 7E"
	rfc2759Challenge     = "D0 2E 43 86 BC E9 12 26"
	rfc2759PasswordHash  = "44 EB BA 8D 53 12 B8 D6 11 47 44 11 F5 69 89 AE"
	rfc2759NTResponse    = "82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 42 33 11 4A 3D 85 D6 DF"
	rfc2759HashHash      = "41 C0 0C 58 4B D2 D9 1C 40 17 A2 A1 2F A5 9F 3F"
	rfc2759AuthResponse  = "S=407A5589115FD0D6209F510FE9C04566932CDA56"
)

func TestRFC2759HashExample(t *testing.T) {
	auth := mustHex16(t, rfc2759AuthChallenge)
	peer := mustHex16(t, rfc2759PeerChallenge)

	ph := NTPasswordHash(rfc2759Password)
	if want := mustHex16(t, rfc2759PasswordHash); ph != want {
		t.Fatalf("NTPasswordHash = %x, want %x", ph, want)
	}
	if got, want := HashNTPasswordHash(ph), mustHex16(t, rfc2759HashHash); got != want {
		t.Errorf("HashNTPasswordHash = %x, want %x", got, want)
	}
	ch := ChallengeHash(peer, auth, rfc2759User)
	if want := mustHex(t, rfc2759Challenge); !bytes.Equal(ch[:], want) {
		t.Errorf("ChallengeHash = %x, want %x", ch, want)
	}
	nt := GenerateNTResponse(auth, peer, rfc2759User, ph)
	if want := mustHex(t, rfc2759NTResponse); !bytes.Equal(nt[:], want) {
		t.Errorf("GenerateNTResponse = %x, want %x", nt, want)
	}
	s := AuthenticatorResponse(ph, nt, peer, auth, rfc2759User)
	if s != rfc2759AuthResponse {
		t.Errorf("AuthenticatorResponse = %s, want %s", s, rfc2759AuthResponse)
	}

	for _, msg := range []string{
		rfc2759AuthResponse,
		rfc2759AuthResponse + " M=Access granted",
		"S=" + strings.ToLower(rfc2759AuthResponse[2:]), // lower-case hex
		rfc2759AuthResponse + "M=pppd accepts no space",
	} {
		if !CheckAuthenticatorResponse(ph, nt, peer, auth, rfc2759User, msg) {
			t.Errorf("CheckAuthenticatorResponse rejects %q", msg)
		}
	}
	for _, msg := range []string{
		"",
		"S=407A5589115FD0D6209F510FE9C04566932CDA57", // last digit changed
		"S=407A5589115FD0D6209F510FE9C04566932CDA",   // short
		"E=691 R=0 V=3",
	} {
		if CheckAuthenticatorResponse(ph, nt, peer, auth, rfc2759User, msg) {
			t.Errorf("CheckAuthenticatorResponse accepts %q", msg)
		}
	}
	// The authenticator response binds the NT-Response and the challenges.
	nt[0] ^= 1
	if CheckAuthenticatorResponse(ph, nt, peer, auth, rfc2759User, rfc2759AuthResponse) {
		t.Error("CheckAuthenticatorResponse accepts a response for another NT-Response")
	}
}

// RFC 2759 section 8.2: a domain prefix is not part of the hashed user name,
// so "DOMAIN\User" must give the values of the RFC's example for "User".
func TestChallengeHashStripsDomain(t *testing.T) {
	auth := mustHex16(t, rfc2759AuthChallenge)
	peer := mustHex16(t, rfc2759PeerChallenge)
	want := ChallengeHash(peer, auth, rfc2759User)
	for _, name := range []string{`DOMAIN\User`, `\User`, `a\b\User`} {
		if got := ChallengeHash(peer, auth, name); got != want {
			t.Errorf("ChallengeHash(%q) = %x, want %x as for %q", name, got, want, rfc2759User)
		}
	}
	ph := NTPasswordHash(rfc2759Password)
	nt := GenerateNTResponse(auth, peer, `EXAMPLE\User`, ph)
	if want := mustHex(t, rfc2759NTResponse); !bytes.Equal(nt[:], want) {
		t.Errorf("GenerateNTResponse with domain = %x, want %x", nt, want)
	}
	if s := AuthenticatorResponse(ph, nt, peer, auth, `EXAMPLE\User`); s != rfc2759AuthResponse {
		t.Errorf("AuthenticatorResponse with domain = %s, want %s", s, rfc2759AuthResponse)
	}
	// A different name must change the hash: the name is really hashed.
	if got := ChallengeHash(peer, auth, "user"); got == want {
		t.Error("ChallengeHash ignores the user name")
	}
	if got := StripDomain("plain"); got != "plain" {
		t.Errorf("StripDomain(plain) = %q", got)
	}
}

// RFC 2433 appendix B.2 and RFC 2759 section 9.3, password "MyPw".
func TestRFC2433HashExample(t *testing.T) {
	challenge := [8]byte(mustHex(t, "10 2D B5 DF 08 5D 30 41"))
	ph := NTPasswordHash("MyPw")
	if want := mustHex16(t, "FC 15 6A F7 ED CD 6C 0E DD E3 33 7D 42 7F 4E AC"); ph != want {
		t.Fatalf("NTPasswordHash(MyPw) = %x, want %x", ph, want)
	}
	resp := NTChallengeResponse(challenge, ph)
	want := mustHex(t, "4E 9D 3C 8F 9C FD 38 5D 5B F4 D3 24 67 91 95 6C A4 C3 51 AB 40 9A 3D 61")
	if !bytes.Equal(resp[:], want) {
		t.Errorf("NTChallengeResponse = %x, want %x", resp, want)
	}
}

// RFC 2433 appendix B.3 and RFC 2759 section 9.3: the parity-corrected DES
// keys made from the two 7-byte halves of the "MyPw" hash.
func TestDESKeyParity(t *testing.T) {
	ph := mustHex(t, "FC 15 6A F7 ED CD 6C 0E DD E3 33 7D 42 7F 4E AC")
	for _, tc := range []struct {
		raw  []byte
		want string
	}{
		{ph[0:7], "FD 0B 5B 5E 7F 6E 34 D9"},
		{ph[7:14], "0E 6E 79 67 37 EA 08 FE"},
	} {
		k := desKey(tc.raw)
		if want := mustHex(t, tc.want); !bytes.Equal(k[:], want) {
			t.Errorf("desKey(%x) = %x, want %x", tc.raw, k, want)
		}
	}
	// Every byte of every key has odd parity.
	for v := 0; v < 256; v++ {
		k := desKey([]byte{byte(v), byte(v), byte(v), byte(v), byte(v), byte(v), byte(v)})
		for _, b := range k {
			ones := 0
			for ; b != 0; b &= b - 1 {
				ones++
			}
			if ones%2 != 1 {
				t.Fatalf("desKey of %#x bytes: %x has even parity", v, k)
			}
		}
	}
}

// RFC 3079 section 2.5.1 prints the LM hash of "clientPass".
func TestLMPasswordHash(t *testing.T) {
	want := mustHex16(t, "76 a1 52 93 60 96 d7 83 0e 23 90 22 74 04 af d2")
	for _, pw := range []string{"clientPass", "CLIENTPASS", "clientpass"} {
		if got := LMPasswordHash(pw); got != want {
			t.Errorf("LMPasswordHash(%q) = %x, want %x", pw, got, want)
		}
	}
	// Only the first 14 characters count.
	if LMPasswordHash("abcdefghijklmn") != LMPasswordHash("abcdefghijklmnXYZ") {
		t.Error("LMPasswordHash depends on characters after the 14th")
	}
	if LMPasswordHash("abcdefghijklmn") == LMPasswordHash("abcdefghijklm") {
		t.Error("LMPasswordHash ignores the 14th character")
	}
}

func TestNTPasswordHashUnicode(t *testing.T) {
	// "MyPw" is ASCII; a non-ASCII password must be hashed as UTF-16LE, so
	// U+00E9 gives E9 00 and U+1F600 a surrogate pair.
	a := NTPasswordHash("\u00e9")
	b := md4Sum([]byte{0xe9, 0x00})
	if a != b {
		t.Errorf("NTPasswordHash(é) = %x, want MD4(E9 00) = %x", a, b)
	}
	a = NTPasswordHash("\U0001F600")
	b = md4Sum([]byte{0x3d, 0xd8, 0x00, 0xde})
	if a != b {
		t.Errorf("NTPasswordHash(U+1F600) = %x, want MD4(3D D8 00 DE) = %x", a, b)
	}
	// The empty password has a well-known NT hash.
	if got := hexString(func() []byte { h := NTPasswordHash(""); return h[:] }()); got != "31d6cfe0d16ae931b73c59d7e0c089c0" {
		t.Errorf("NTPasswordHash(\"\") = %s", got)
	}
}
