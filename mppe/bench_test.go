package mppe

import (
	"crypto/rc4"
	"fmt"
	"testing"
)

var benchCases = []struct {
	o    Options
	size int // plaintext bytes: PPP protocol field and payload
}{
	{Options{KeyBits: 128, Stateless: true}, 1400},
	{Options{KeyBits: 128}, 1400},
	{Options{KeyBits: 128, Stateless: true}, 40},
	{Options{KeyBits: 40, Stateless: true}, 1400},
	{Options{KeyBits: 40, Stateless: true}, 40},
}

func BenchmarkSeal(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(fmt.Sprintf("%v/%d", bc.o, bc.size), func(b *testing.B) {
			e, err := NewEncrypter([16]byte{1, 2, 3}, bc.o)
			if err != nil {
				b.Fatal(err)
			}
			pkt := make([]byte, HeaderLen+bc.size)
			b.SetBytes(int64(bc.size))
			b.ReportAllocs()
			for b.Loop() {
				if err := e.Seal(pkt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(fmt.Sprintf("%v/%d", bc.o, bc.size), func(b *testing.B) {
			key := [16]byte{1, 2, 3}
			e, err := NewEncrypter(key, bc.o)
			if err != nil {
				b.Fatal(err)
			}
			d, err := NewDecrypter(key, bc.o)
			if err != nil {
				b.Fatal(err)
			}
			// One full cycle of coherency counts, replayed in order: after
			// the first cycle the plaintext is garbage, but the Decrypter
			// does exactly the same work, one key change per packet in
			// stateless mode and one per 256 packets in stateful mode.
			ring := make([][]byte, ccountSpace)
			for i := range ring {
				ring[i] = make([]byte, HeaderLen+bc.size)
				if err := e.Seal(ring[i]); err != nil {
					b.Fatal(err)
				}
			}
			dst := make([]byte, bc.size)
			b.SetBytes(int64(bc.size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := d.Open(dst, ring[i]); err != nil {
					b.Fatal(err)
				}
				i = (i + 1) % len(ring)
			}
		})
	}
}

// BenchmarkRekey measures one stateless key change: SHA-1 over two blocks
// and two RC4 key schedules.
func BenchmarkRekey(b *testing.B) {
	for _, bits := range []int{40, 128} {
		b.Run(fmt.Sprint(bits), func(b *testing.B) {
			var s session
			if err := s.init([16]byte{1, 2, 3}, Options{KeyBits: bits}); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				s.rekey(false)
			}
		})
	}
}

func BenchmarkRC4(b *testing.B) {
	key := []byte("0123456789abcdef")
	buf := make([]byte, 1400)
	b.Run("reset", func(b *testing.B) {
		var c rc4Cipher
		b.ReportAllocs()
		for b.Loop() {
			c.reset(key)
		}
	})
	b.Run("xor1400", func(b *testing.B) {
		var c rc4Cipher
		c.reset(key)
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for b.Loop() {
			c.xorKeyStream(buf, buf)
		}
	})
	// The standard library, for comparison.
	b.Run("stdlib-new", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rc4.NewCipher(key)
		}
	})
	b.Run("stdlib-xor1400", func(b *testing.B) {
		c, _ := rc4.NewCipher(key)
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for b.Loop() {
			c.XORKeyStream(buf, buf)
		}
	})
}
