package mppe

import "encoding/binary"

// rc4Cipher is RC4 with a key schedule that can be re-run in place.
// crypto/rc4 allocates a new Cipher for every key and has no way to re-key
// one, yet stateless MPPE changes keys twice per packet; this type lets an
// Encrypter or Decrypter own one cipher for its whole life.
//
// The state is held in bytes rather than crypto/rc4's uint32 words: indexing
// a [256]byte with a uint8 needs no bounds check, and the key schedule then
// touches a quarter of the memory.
type rc4Cipher struct {
	s    [256]uint8
	i, j uint8
}

// reset runs the RC4 key schedule for key, which must be 1 to 256 bytes
// long; the callers in this package only use 8 or 16.
func (c *rc4Cipher) reset(key []byte) {
	// The identity permutation, eight bytes at a time.
	for i := 0; i < 256; i += 8 {
		binary.LittleEndian.PutUint64(c.s[i:], 0x0706050403020100+uint64(i)*0x0101010101010101)
	}
	c.i, c.j = 0, 0
	if n := len(key); n == 8 || n == 16 {
		c.schedule8or16(key)
	} else {
		c.scheduleAny(key)
	}
}

// schedule8or16 is the key schedule for the MPPE key sizes. As the key
// length is a power of two that divides 256, it runs in unrolled steps of
// eight without bounds checks or a key index that wraps, which makes it
// about a quarter faster than scheduleAny. It dominates the cost of a key
// change, which stateless MPPE makes for every packet.
func (c *rc4Cipher) schedule8or16(key []byte) {
	s := &c.s
	mask := len(key) - 1
	var j uint8
	for i := 0; i < 256; i += 8 {
		k := (*[8]byte)(key[i&mask:])
		b := uint8(i)
		x := s[b]
		j += x + k[0]
		s[b], s[j] = s[j], x
		x = s[b+1]
		j += x + k[1]
		s[b+1], s[j] = s[j], x
		x = s[b+2]
		j += x + k[2]
		s[b+2], s[j] = s[j], x
		x = s[b+3]
		j += x + k[3]
		s[b+3], s[j] = s[j], x
		x = s[b+4]
		j += x + k[4]
		s[b+4], s[j] = s[j], x
		x = s[b+5]
		j += x + k[5]
		s[b+5], s[j] = s[j], x
		x = s[b+6]
		j += x + k[6]
		s[b+6], s[j] = s[j], x
		x = s[b+7]
		j += x + k[7]
		s[b+7], s[j] = s[j], x
	}
}

func (c *rc4Cipher) scheduleAny(key []byte) {
	s := &c.s
	var j uint8
	k := 0
	for i := 0; i < 256; i++ {
		x := s[uint8(i)]
		j += x + key[k]
		s[uint8(i)], s[j] = s[j], x
		if k++; k == len(key) {
			k = 0
		}
	}
}

// xorKeyStream XORs src with the key stream into dst. dst must be at least
// as long as src; it may be src itself (exact overlap) but must not overlap
// it otherwise.
func (c *rc4Cipher) xorKeyStream(dst, src []byte) {
	s := &c.s
	i, j := c.i, c.j
	dst = dst[:len(src)] // one bounds check here instead of one per byte
	n := 0
	// Four bytes per iteration: unrolling lets the CPU overlap more of the
	// steps and makes long packets about a quarter faster.
	for ; n+4 <= len(src); n += 4 {
		d := (*[4]byte)(dst[n:])
		v := (*[4]byte)(src[n:])
		i++
		x := s[i]
		j += x
		y := s[j]
		s[i], s[j] = y, x
		d[0] = v[0] ^ s[x+y]
		i++
		x = s[i]
		j += x
		y = s[j]
		s[i], s[j] = y, x
		d[1] = v[1] ^ s[x+y]
		i++
		x = s[i]
		j += x
		y = s[j]
		s[i], s[j] = y, x
		d[2] = v[2] ^ s[x+y]
		i++
		x = s[i]
		j += x
		y = s[j]
		s[i], s[j] = y, x
		d[3] = v[3] ^ s[x+y]
	}
	for ; n < len(src); n++ {
		i++
		x := s[i]
		j += x
		y := s[j]
		s[i], s[j] = y, x
		dst[n] = src[n] ^ s[x+y]
	}
	c.i, c.j = i, j
}
