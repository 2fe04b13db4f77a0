package radius

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"testing"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecryptSaltedVector checks MS-MPPE-Send-Key decryption against a
// vector computed by hand from RFC 2548 section 2.4.2 with explicit MD5
// calls, for a 16-byte key (two cipher blocks: length byte + 16 + 15 pad).
func TestDecryptSaltedVector(t *testing.T) {
	secret := []byte("xyzzy5461")
	var reqAuth [16]byte
	copy(reqAuth[:], mustHex(t, "0f403f9473978057bd83d5cb98f4227a"))
	salt := []byte{0x85, 0x2c}
	key := mustHex(t, "8b7cdc149b993a1ba118cb153f56dcc2")

	// p(1) = 0x10 | key[0:15]; p(2) = key[15] | 15 zeros.
	p1 := append([]byte{16}, key[:15]...)
	p2 := append([]byte{key[15]}, make([]byte, 15)...)
	b1 := md5.Sum(append(append(append([]byte{}, secret...), reqAuth[:]...), salt...))
	c1 := make([]byte, 16)
	for i := range c1 {
		c1[i] = p1[i] ^ b1[i]
	}
	b2 := md5.Sum(append(append([]byte{}, secret...), c1...))
	c2 := make([]byte, 16)
	for i := range c2 {
		c2[i] = p2[i] ^ b2[i]
	}
	attr := append(append(append([]byte{}, salt...), c1...), c2...)
	if len(attr) != 34 {
		t.Fatalf("vector is %d bytes, want 34", len(attr))
	}
	// The same through the RFC-worded helper the other tests use.
	if h := rfc2548Encrypt(key, secret, reqAuth, [2]byte(salt)); !bytes.Equal(h, attr) {
		t.Fatalf("rfc2548Encrypt = %x, want %x", h, attr)
	}

	got, err := mppeKey(attr, secret, reqAuth)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:], key) {
		t.Errorf("decrypted %x, want %x", got, key)
	}

	// Another request's authenticator or another secret gives garbage
	// (almost always a length byte that is not 16).
	other := reqAuth
	other[0] ^= 1
	if k, err := mppeKey(attr, secret, other); err == nil && bytes.Equal(k[:], key) {
		t.Error("key decrypted with the wrong Request Authenticator")
	}
}

func TestDecryptSaltedLengths(t *testing.T) {
	secret := []byte("secret")
	var ra [16]byte
	for _, n := range []int{0, 1, 8, 15, 16, 31, 40} {
		key := bytes.Repeat([]byte{0xa5}, n)
		key = append(key[:0:0], key...)
		if n > 0 {
			key[0] = 0 // zero bytes must survive
		}
		enc := rfc2548Encrypt(key, secret, ra, [2]byte{0x80, 0x01})
		got, err := decryptSalted(enc, secret, ra)
		if err != nil {
			t.Fatalf("%d-byte key: %v", n, err)
		}
		if !bytes.Equal(got, key) {
			t.Errorf("%d-byte key: got %x", n, got)
		}
		_, err = mppeKey(enc, secret, ra)
		if (err == nil) != (n == 16) {
			t.Errorf("mppeKey of a %d-byte key: err = %v", n, err)
		}
	}
}

func TestDecryptSaltedMalformed(t *testing.T) {
	secret := []byte("secret")
	var ra [16]byte
	good := rfc2548Encrypt(make([]byte, 16), secret, ra, [2]byte{0x80, 0})
	for name, v := range map[string][]byte{
		"empty":          nil,
		"salt only":      good[:2],
		"short block":    good[:17],
		"ragged":         good[:33],
		"salt high bit":  append([]byte{0x00, 0x00}, good[2:]...),
		"length too big": rfc2548EncryptRaw(append([]byte{200}, make([]byte, 31)...), secret, ra),
	} {
		if _, err := decryptSalted(v, secret, ra); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// rfc2548EncryptRaw encrypts an already padded plaintext (length byte
// included), to forge bad length bytes.
func rfc2548EncryptRaw(p, secret []byte, ra [16]byte) []byte {
	// rfc2548Encrypt prefixes a length byte; strip and redo by hand.
	salt := []byte{0x80, 0x02}
	out := append([]byte{}, salt...)
	prev := append(append(append([]byte{}, secret...), ra[:]...), salt...)
	for i := 0; i < len(p); i += 16 {
		b := md5.Sum(prev)
		c := make([]byte, 16)
		for j := range c {
			c[j] = p[i+j] ^ b[j]
		}
		out = append(out, c...)
		prev = append(append([]byte{}, secret...), c...)
	}
	return out
}

func TestChapMPPEKeys(t *testing.T) {
	secret := []byte("testing123")
	var ra [16]byte
	copy(ra[:], "0123456789abcdef")
	lm := mustHex(t, "0102030405060708")
	nt := mustHex(t, "00112233445566778899aabbccddeeff") // leading zero byte kept
	enc := rfc2865Hide(append(append([]byte{}, lm...), nt...), secret, ra)
	if len(enc) != 32 {
		t.Fatalf("hidden value is %d bytes", len(enc))
	}
	got, err := chapMPPEKeys(enc, secret, ra)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:], nt) {
		t.Errorf("NT key %x, want %x", got, nt)
	}
	if _, err := chapMPPEKeys(enc[:16], secret, ra); err == nil {
		t.Error("16-byte MS-CHAP-MPPE-Keys accepted")
	}
}

func TestMessageAuthenticator(t *testing.T) {
	secret := []byte("secret")
	p := radius.New(radius.CodeAccessRequest, secret)
	p.Add(rfc2865.UserName_Type, radius.Attribute("alice"))
	p.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 16))
	b, err := encodeSigned(p, p.Authenticator)
	if err != nil {
		t.Fatal(err)
	}
	// Independently: HMAC-MD5 over the packet with the value zeroed.
	off := len(b) - 16
	z := append([]byte{}, b...)
	clear(z[off:])
	if want := hmacMD5(secret, z); !bytes.Equal(b[off:], want) {
		t.Fatalf("Message-Authenticator %x, want %x", b[off:], want)
	}
	if present, ok := checkMessageAuthenticator(b, secret, p.Authenticator); !present || !ok {
		t.Errorf("check = %v, %v on a good packet", present, ok)
	}
	bad := append([]byte{}, b...)
	bad[off] ^= 1
	if _, ok := checkMessageAuthenticator(bad, secret, p.Authenticator); ok {
		t.Error("tampered Message-Authenticator accepted")
	}
	if _, ok := checkMessageAuthenticator(b, []byte("other"), p.Authenticator); ok {
		t.Error("Message-Authenticator accepted with another secret")
	}

	// A reply: the Message-Authenticator is computed with the Request
	// Authenticator in the header, then the Response Authenticator over
	// the result.
	r := p.Response(radius.CodeAccessAccept)
	r.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 16))
	rb, err := encodeSigned(r, p.Authenticator)
	if err != nil {
		t.Fatal(err)
	}
	if !radius.IsAuthenticResponse(rb, b, secret) {
		t.Error("reply fails its Response Authenticator")
	}
	if present, ok := checkMessageAuthenticator(rb, secret, p.Authenticator); !present || !ok {
		t.Error("reply fails its Message-Authenticator")
	}

	// Two Message-Authenticators are refused.
	p.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 16))
	two, _ := p.MarshalBinary()
	if _, ok := checkMessageAuthenticator(two, secret, p.Authenticator); ok {
		t.Error("packet with two Message-Authenticators accepted")
	}
}

func TestMSAttributesMalformed(t *testing.T) {
	p := &radius.Packet{}
	// A good one, then one whose sub-attribute overruns, then a short one,
	// then another vendor's.
	p.Add(26, radius.Attribute{0, 0, 1, 55, 7, 6, 0, 0, 0, 2, 8, 6, 0, 0, 0, 4})
	p.Add(26, radius.Attribute{0, 0, 1, 55, 26, 200, 1})
	p.Add(26, radius.Attribute{0, 0, 1})
	p.Add(26, radius.Attribute{0, 0, 0, 9, 1, 3, 1})
	p.Add(26, radius.Attribute{0, 0, 1, 55, 1, 1})
	got := msAttributes(p)
	if len(got) != 2 || got[0].typ != 7 || got[1].typ != 8 || !bytes.Equal(got[1].val, []byte{0, 0, 0, 4}) {
		t.Errorf("msAttributes = %+v", got)
	}
}
