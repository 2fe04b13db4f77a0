package mppe

import (
	"bytes"
	"crypto/rc4"
	"crypto/sha1"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// refEncrypter is a second, deliberately plain implementation of the sender
// side of Linux's ppp_mppe.c, built on crypto/rc4 and written from RFC 3078
// section 7.3 and the kernel conventions in the package comment. Seal must
// produce the same bytes.
type refEncrypter struct {
	bits, n   int
	stateless bool
	start     []byte
	key       []byte
	c         *rc4.Cipher
	ccount    int
	flush     bool
}

func newRefEncrypter(start [16]byte, o Options) *refEncrypter {
	r := &refEncrypter{bits: o.KeyBits, n: 16, stateless: o.Stateless, ccount: 4095}
	if o.KeyBits != 128 {
		r.n = 8
	}
	r.start = start[:r.n]
	r.key = r.getNewKeyFromSHA()[:r.n] // initial key: no RC4 step
	r.salt()
	r.c, _ = rc4.NewCipher(r.key)
	return r
}

func (r *refEncrypter) getNewKeyFromSHA() []byte {
	h := sha1.New()
	h.Write(r.start)
	h.Write(make([]byte, 40))
	h.Write(r.key0())
	h.Write(bytes.Repeat([]byte{0xf2}, 40))
	return h.Sum(nil)
}

// key0 is the current session key, the start key before there is one.
func (r *refEncrypter) key0() []byte {
	if r.key == nil {
		return r.start
	}
	return r.key
}

func (r *refEncrypter) salt() {
	switch r.bits {
	case 40:
		copy(r.key, []byte{0xd1, 0x26, 0x9e})
	case 56:
		r.key[0] = 0xd1
	}
}

func (r *refEncrypter) rekey() {
	interim := r.getNewKeyFromSHA()[:r.n]
	c, _ := rc4.NewCipher(interim)
	key := make([]byte, r.n)
	c.XORKeyStream(key, interim)
	r.key = key
	r.salt()
	r.c, _ = rc4.NewCipher(r.key)
}

func (r *refEncrypter) seal(plain []byte) []byte {
	r.ccount = (r.ccount + 1) % 4096
	if r.flush && !r.stateless {
		r.ccount |= 255 // our flush is at a flag packet; the kernel's is not
	}
	bits := 0x10
	if r.stateless || r.ccount%256 == 255 || r.flush {
		r.rekey()
		r.flush = false
		bits |= 0x80
	}
	out := []byte{byte(bits | r.ccount>>8), byte(r.ccount)}
	ct := make([]byte, len(plain))
	r.c.XORKeyStream(ct, plain)
	return append(out, ct...)
}

var allOptions = []Options{
	{KeyBits: 40, Stateless: true},
	{KeyBits: 56, Stateless: true},
	{KeyBits: 128, Stateless: true},
	{KeyBits: 40},
	{KeyBits: 56},
	{KeyBits: 128},
}

func (o Options) String() string {
	if o.Stateless {
		return fmt.Sprintf("%d-stateless", o.KeyBits)
	}
	return fmt.Sprintf("%d-stateful", o.KeyBits)
}

// randomPlain returns a plausible plaintext: the IP protocol field and
// random bytes, 1 to max bytes in all.
func randomPlain(rng *rand.Rand, max int) []byte {
	p := make([]byte, 1+rng.IntN(max))
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	if len(p) >= 2 {
		p[0], p[1] = 0x00, 0x21
	}
	return p
}

func sealCopy(t *testing.T, e *Encrypter, plain []byte) []byte {
	t.Helper()
	pkt := make([]byte, HeaderLen+len(plain))
	copy(pkt[HeaderLen:], plain)
	if err := e.Seal(pkt); err != nil {
		t.Fatal(err)
	}
	return pkt
}

func newPair(t *testing.T, o Options) (*Encrypter, *Decrypter) {
	t.Helper()
	key := [16]byte{0: 0x5a, 7: 0x33, 8: 0x99, 15: 0x01}
	e, err := NewEncrypter(key, o)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDecrypter(key, o)
	if err != nil {
		t.Fatal(err)
	}
	return e, d
}

// TestSealMatchesReference compares Seal with refEncrypter over more than
// 4096 packets (the coherency count wraps), across flag packets, with
// occasional Flush calls.
func TestSealMatchesReference(t *testing.T) {
	for _, o := range allOptions {
		t.Run(o.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(o.KeyBits), 7))
			start := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
			e, err := NewEncrypter(start, o)
			if err != nil {
				t.Fatal(err)
			}
			ref := newRefEncrypter(start, o)
			for i := 0; i < 4200; i++ {
				if rng.IntN(50) == 0 {
					e.Flush()
					ref.flush = true
				}
				plain := randomPlain(rng, 100)
				got := sealCopy(t, e, plain)
				want := ref.seal(plain)
				if !bytes.Equal(got, want) {
					t.Fatalf("packet %d: Seal = % x, reference % x", i, got, want)
				}
			}
		})
	}
}

// TestRoundTrip sends more than 4096 packets of random length through an
// Encrypter and a Decrypter, decrypting alternately in place and into a
// separate buffer, and checks the headers the kernel's way.
func TestRoundTrip(t *testing.T) {
	for _, o := range allOptions {
		t.Run(o.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(o.KeyBits), 1))
			e, d := newPair(t, o)
			dst := make([]byte, 1600)
			for i := 0; i < 4500; i++ {
				plain := randomPlain(rng, 1500)
				pkt := sealCopy(t, e, plain)
				ccount := int(pkt[0]&0x0f)<<8 | int(pkt[1])
				if ccount != i%4096 {
					t.Fatalf("packet %d has coherency count %d", i, ccount)
				}
				wantBits := byte(0x10)
				if o.Stateless || ccount&0xff == 0xff {
					wantBits |= 0x80
				}
				if pkt[0]&0xf0 != wantBits {
					t.Fatalf("packet %d (count %#x): bits %#x, want %#x", i, ccount, pkt[0]&0xf0, wantBits)
				}
				if bytes.Equal(pkt[HeaderLen:], plain) && len(plain) > 4 {
					t.Fatalf("packet %d is not encrypted", i)
				}
				var got []byte
				if i%2 == 0 {
					n, err := d.Open(pkt[HeaderLen:], pkt)
					if err != nil {
						t.Fatalf("packet %d: %v", i, err)
					}
					got = pkt[HeaderLen : HeaderLen+n]
				} else {
					orig := bytes.Clone(pkt)
					n, err := d.Open(dst, pkt)
					if err != nil {
						t.Fatalf("packet %d: %v", i, err)
					}
					if !bytes.Equal(pkt, orig) {
						t.Fatalf("packet %d: Open into a separate buffer changed its input", i)
					}
					got = dst[:n]
				}
				if !bytes.Equal(got, plain) {
					t.Fatalf("packet %d: decrypted % x, want % x", i, got, plain)
				}
			}
		})
	}
}

// TestStatelessLoss drops and reorders packets: a stateless Decrypter
// catches up over gaps and refuses packets that come late or twice.
func TestStatelessLoss(t *testing.T) {
	for _, bits := range []int{40, 56, 128} {
		o := Options{KeyBits: bits, Stateless: true}
		t.Run(o.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(bits), 2))
			e, d := newPair(t, o)
			var prev []byte
			for i := 0; i < 5000; i++ {
				plain := randomPlain(rng, 64)
				pkt := sealCopy(t, e, plain)
				switch {
				case rng.IntN(4) == 0:
					continue // lost; up to 2048 lost in a row are recoverable
				case i == 3000:
					// A gap of 300 packets across the 4096 wrap.
					for range 300 {
						sealCopy(t, e, plain)
					}
					pkt = sealCopy(t, e, plain)
				}
				if prev != nil && rng.IntN(10) == 0 {
					// The previous packet again, or the one before: late.
					late := bytes.Clone(prev)
					if _, err := d.Open(make([]byte, len(late)), late); !errors.Is(err, ErrLate) {
						t.Fatalf("packet %d: late packet gives %v, want ErrLate", i, err)
					}
				}
				n, err := d.Open(pkt[HeaderLen:], bytes.Clone(pkt))
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				var got = make([]byte, n)
				if _, err := d.Open(got, pkt); !errors.Is(err, ErrLate) {
					t.Fatalf("packet %d: duplicate gives %v, want ErrLate", i, err)
				}
				prev = pkt
			}
		})
	}
}

// TestStatelessFarBehind: a packet more than 2048 counts behind is late, as
// in the kernel, and leaves the Decrypter able to take the next packet.
func TestStatelessFarBehind(t *testing.T) {
	e, d := newPair(t, Options{KeyBits: 128, Stateless: true})
	first := sealCopy(t, e, []byte{0, 0x21, 1})
	for range 2048 {
		sealCopy(t, e, []byte{0, 0x21, 2})
	}
	// 2049 ahead of the Decrypter's count 0xFFF: late.
	far := sealCopy(t, e, []byte{0, 0x21, 3})
	if _, err := d.Open(make([]byte, 8), far); !errors.Is(err, ErrLate) {
		t.Fatalf("packet 2049 ahead: %v, want ErrLate", err)
	}
	// The first packet still decrypts: the Decrypter did not move.
	out := make([]byte, 8)
	n, err := d.Open(out, first)
	if err != nil || !bytes.Equal(out[:n], []byte{0, 0x21, 1}) {
		t.Fatalf("first packet after a late one: % x, %v", out[:n], err)
	}
}

// TestStatefulLoss: after a lost packet the stateful Decrypter asks for a
// reset and drops everything until a flushed packet, which it decrypts.
func TestStatefulLoss(t *testing.T) {
	for _, bits := range []int{40, 56, 128} {
		o := Options{KeyBits: bits}
		t.Run(o.String(), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(bits), 3))
			e, d := newPair(t, o)
			open := func(pkt []byte) ([]byte, error) {
				out := make([]byte, len(pkt))
				n, err := d.Open(out, pkt)
				return out[:n], err
			}
			send := func(n int) {
				for range n {
					plain := randomPlain(rng, 200)
					got, err := open(sealCopy(t, e, plain))
					if err != nil || !bytes.Equal(got, plain) {
						t.Fatalf("count %#x: decrypted % x, %v; want % x", e.ccount, got, err, plain)
					}
				}
			}
			// lose drops n packets, then expects the Decrypter to refuse
			// the next ones until the sender flushes.
			lose := func(n int, flushAfter int) {
				for range n {
					sealCopy(t, e, []byte{0, 0x21})
				}
				for range flushAfter {
					if _, err := open(sealCopy(t, e, []byte{0, 0x21, 9})); !errors.Is(err, ErrNeedReset) {
						t.Fatalf("count %#x after loss: %v, want ErrNeedReset", e.ccount, err)
					}
				}
				e.Flush()
				e.Flush() // a repeated Reset-Request must not rekey twice
			}

			send(10)
			lose(1, 3) // a plain loss
			send(300)  // through a flag packet
			lose(700, 5)
			send(5)
			// Lose the packets just before a flag packet: the flag packet
			// itself (flushed) resynchronises without a Reset-Request.
			for e.ccount&0xff != 0xfc {
				send(1)
			}
			sealCopy(t, e, []byte{0, 0x21}) // 0x..fd lost
			if _, err := open(sealCopy(t, e, []byte{0, 0x21})); !errors.Is(err, ErrNeedReset) {
				t.Fatalf("after loss: %v, want ErrNeedReset", err)
			}
			send(1) // 0x..ff, the flag packet
			send(50)
			// Lose a flag packet.
			for e.ccount&0xff != 0xfe {
				send(1)
			}
			lose(1, 2)
			send(4200) // and on past the 4096 wrap
			// Two flushes with the first flushed packet lost (the
			// Reset-Request went again while it was in flight): the
			// second must resynchronise all the same.
			lose(1, 2)
			sealCopy(t, e, []byte{0, 0x21}) // the flushed packet, lost
			if _, err := open(sealCopy(t, e, []byte{0, 0x21, 9})); !errors.Is(err, ErrNeedReset) {
				t.Fatalf("after the flushed packet was lost: %v, want ErrNeedReset", err)
			}
			e.Flush()
			send(300)
			// A duplicate is a sequence error in stateful mode.
			plain := []byte{0, 0x21, 7}
			pkt := sealCopy(t, e, plain)
			if got, err := open(pkt); err != nil || !bytes.Equal(got, plain) {
				t.Fatal(err)
			}
			if _, err := open(pkt); !errors.Is(err, ErrNeedReset) {
				t.Fatalf("duplicate: %v, want ErrNeedReset", err)
			}
			e.Flush()
			send(3)
		})
	}
}

// TestOpenErrors feeds malformed packets to a Decrypter and checks that it
// rejects them and stays in step with the sender.
func TestOpenErrors(t *testing.T) {
	for _, o := range allOptions {
		t.Run(o.String(), func(t *testing.T) {
			e, d := newPair(t, o)
			good := sealCopy(t, e, []byte{0, 0x21, 0x45, 0})
			withBits := func(set, clr byte) []byte {
				p := bytes.Clone(good)
				p[0] = p[0]&^clr | set
				return p
			}
			big := make([]byte, 64)
			cases := []struct {
				name     string
				dst, pkt []byte
				want     error
			}{
				{"nil", big, nil, ErrShort},
				{"one byte", big, good[:1], ErrShort},
				{"header only", big, good[:2], ErrShort},
				{"small dst", big[:len(good)-3], good, ErrShort},
				{"no D bit", big, withBits(0, 0x10), ErrNotEncrypted},
				{"C bit", big, withBits(0x20, 0), ErrCompressed},
			}
			if o.Stateless {
				cases = append(cases, struct {
					name     string
					dst, pkt []byte
					want     error
				}{"no A bit", big, withBits(0, 0x80), ErrNotFlushed})
			} else {
				flag := bytes.Clone(good)
				flag[0] |= 0x0f
				flag[1] = 0xff // a flag packet without the A bit
				cases = append(cases, struct {
					name     string
					dst, pkt []byte
					want     error
				}{"flag packet without A", big, flag, ErrNotFlushed})
			}
			for _, tc := range cases {
				if _, err := d.Open(tc.dst, tc.pkt); !errors.Is(err, tc.want) {
					t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
				}
			}
			n, err := d.Open(big, good)
			if err != nil || !bytes.Equal(big[:n], []byte{0, 0x21, 0x45, 0}) {
				t.Fatalf("good packet after bad ones: % x, %v", big[:n], err)
			}
		})
	}
}

func TestSealShort(t *testing.T) {
	e, d := newPair(t, Options{KeyBits: 128, Stateless: true})
	for _, pkt := range [][]byte{nil, {0}, {0, 0}} {
		if err := e.Seal(pkt); !errors.Is(err, ErrShort) {
			t.Errorf("Seal(% x): %v, want ErrShort", pkt, err)
		}
	}
	// The refused packets did not consume a coherency count.
	pkt := sealCopy(t, e, []byte{0x21})
	if pkt[0] != 0x90 || pkt[1] != 0 {
		t.Errorf("first packet header % x, want 90 00", pkt[:2])
	}
	out := make([]byte, 1)
	if n, err := d.Open(out, pkt); err != nil || n != 1 || out[0] != 0x21 {
		t.Errorf("Open: % x, %v", out[:n], err)
	}
}

// TestStatelessCount4095First: the Decrypter starts at count 0xFFF, so a
// first packet with that count needs no key change and is decrypted with the
// initial session key, as the kernel would; a second one is late.
func TestStatelessCount4095First(t *testing.T) {
	o := Options{KeyBits: 128, Stateless: true}
	key := [16]byte{9, 8, 7}
	var s session
	if err := s.init(key, o); err != nil {
		t.Fatal(err)
	}
	plain := []byte{0, 0x21, 0x45, 1, 2, 3}
	pkt := append([]byte{0x9f, 0xff}, plain...)
	s.rc4.xorKeyStream(pkt[2:], pkt[2:])

	d, err := NewDecrypter(key, o)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(plain))
	if n, err := d.Open(out, pkt); err != nil || !bytes.Equal(out[:n], plain) {
		t.Fatalf("first packet with count 0xFFF: % x, %v", out[:n], err)
	}
	if _, err := d.Open(out, pkt); !errors.Is(err, ErrLate) {
		t.Fatalf("second packet with count 0xFFF: %v, want ErrLate", err)
	}
}

// TestRollback: a forged stateless packet far ahead decrypts to garbage;
// after Rollback the Decrypter is where it was, and the genuine packets,
// the very first included, decrypt.
func TestRollback(t *testing.T) {
	e, d := newPair(t, Options{KeyBits: 128, Stateless: true})
	if d.Rollback() {
		t.Fatal("Rollback before any Open reported success")
	}
	var genuine [][]byte
	for i := range 3 {
		genuine = append(genuine, sealCopy(t, e, []byte{0, 0x21, byte(i)}))
	}
	out := make([]byte, 64)
	for _, ahead := range []uint16{0, 1000, 2047} {
		forged := []byte{0x90 | byte(ahead>>8&0x0f), byte(ahead), 0xde, 0xad, 0xbe, 0xef}
		if _, err := d.Open(out, forged); err != nil {
			t.Fatalf("forged packet with count %#x: %v (MPPE cannot tell it from a genuine one)", ahead, err)
		}
		if !d.Rollback() {
			t.Fatal("stateless Rollback failed")
		}
		if d.Rollback() {
			t.Fatal("a second Rollback reported success")
		}
	}
	for i, pkt := range genuine {
		n, err := d.Open(out, pkt)
		if err != nil || !bytes.Equal(out[:n], []byte{0, 0x21, byte(i)}) {
			t.Fatalf("genuine packet %d after rolled-back forgeries: % x, %v", i, out[:n], err)
		}
		if i == 1 {
			// Rolling back a genuine packet and opening it again
			// gives the same plaintext.
			if !d.Rollback() {
				t.Fatal("Rollback of a genuine packet failed")
			}
			if n, err := d.Open(out, pkt); err != nil || !bytes.Equal(out[:n], []byte{0, 0x21, 1}) {
				t.Fatalf("genuine packet opened again: % x, %v", out[:n], err)
			}
		}
	}

}

// TestRollbackStateful: garbage in stateful mode cannot be undone; the
// Decrypter drops packets until a flushed one, which resynchronises it.
func TestRollbackStateful(t *testing.T) {
	e, d := newPair(t, Options{KeyBits: 128})
	out := make([]byte, 64)
	if _, err := d.Open(out, sealCopy(t, e, []byte{0, 0x21, 1})); err != nil {
		t.Fatal(err)
	}
	if d.Rollback() {
		t.Fatal("stateful Rollback reported success")
	}
	if _, err := d.Open(out, sealCopy(t, e, []byte{0, 0x21, 2})); !errors.Is(err, ErrNeedReset) {
		t.Fatalf("packet after a stateful Rollback: %v, want ErrNeedReset", err)
	}
	e.Flush()
	n, err := d.Open(out, sealCopy(t, e, []byte{0, 0x21, 3}))
	if err != nil || !bytes.Equal(out[:n], []byte{0, 0x21, 3}) {
		t.Fatalf("flushed packet: % x, %v", out[:n], err)
	}
}

// TestLimit: a stateless Decrypter under a limit refuses packets further
// ahead, untouched; Limit(0) restores the default reach.
func TestLimit(t *testing.T) {
	e, d := newPair(t, Options{KeyBits: 128, Stateless: true})
	d.Limit(8)
	for range 9 {
		sealCopy(t, e, []byte{0, 0x21, 0}) // lost
	}
	far := sealCopy(t, e, []byte{0, 0x21, 10}) // 10 ahead of the start
	out := make([]byte, 8)
	if _, err := d.Open(out, far); !errors.Is(err, ErrLate) {
		t.Fatalf("10 ahead under a limit of 8: %v, want ErrLate", err)
	}
	d.Limit(0)
	if n, err := d.Open(out, far); err != nil || !bytes.Equal(out[:n], []byte{0, 0x21, 10}) {
		t.Fatalf("10 ahead without a limit: % x, %v", out[:n], err)
	}
}
