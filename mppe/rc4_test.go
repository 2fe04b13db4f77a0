package mppe

import (
	"bytes"
	"crypto/rc4"
	"math/rand/v2"
	"testing"
)

// TestRC4MatchesStdlib compares rc4Cipher with crypto/rc4 for random keys of
// every length, over several calls, in place and into a separate buffer, and
// after re-keying a used cipher.
func TestRC4MatchesStdlib(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var c rc4Cipher
	for keyLen := 1; keyLen <= 256; keyLen++ {
		key := make([]byte, keyLen)
		for i := range key {
			key[i] = byte(rng.Uint32())
		}
		ref, err := rc4.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		c.reset(key) // c carries state from the previous key: reset must clear it
		for call := 0; call < 4; call++ {
			src := make([]byte, rng.IntN(700))
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			want := make([]byte, len(src))
			ref.XORKeyStream(want, src)

			got := make([]byte, len(src))
			if call%2 == 0 {
				c.xorKeyStream(got, src)
			} else {
				copy(got, src)
				c.xorKeyStream(got, got)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("key length %d, call %d (%d bytes): output differs from crypto/rc4", keyLen, call, len(src))
			}
		}
	}
}

// TestRC4KnownAnswer checks the first test vector of RFC 6229 (40-bit key
// 01 02 03 04 05), independent of crypto/rc4.
func TestRC4KnownAnswer(t *testing.T) {
	var c rc4Cipher
	c.reset([]byte{1, 2, 3, 4, 5})
	out := make([]byte, 16)
	c.xorKeyStream(out, out)
	if want := mustHex(t, "b2 39 63 05 f0 3d c0 27 cc c3 52 4a 0a 11 18 a8"); !bytes.Equal(out, want) {
		t.Errorf("key stream % x, want % x", out, want)
	}
}

func TestRC4Empty(t *testing.T) {
	var c rc4Cipher
	c.reset([]byte{1})
	c.xorKeyStream(nil, nil) // must neither panic nor advance the stream
	a := []byte{0}
	c.xorKeyStream(a, a)
	ref, _ := rc4.NewCipher([]byte{1})
	b := []byte{0}
	ref.XORKeyStream(b, b)
	if a[0] != b[0] {
		t.Errorf("after an empty call: %x, want %x", a[0], b[0])
	}
}
