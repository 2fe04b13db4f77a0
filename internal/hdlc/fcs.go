package hdlc

import "hash/crc32"

// FCS-16 and FCS-32 constants of RFC 1662 appendix C.
const (
	InitFCS16 uint16 = 0xffff // initial FCS-16 value
	GoodFCS16 uint16 = 0xf0b8 // FCS-16 over a frame and its own FCS when the frame is intact

	InitFCS32 uint32 = 0xffffffff // initial FCS-32 value
	GoodFCS32 uint32 = 0xdebb20e3 // FCS-32 over a frame and its own FCS when the frame is intact
)

// fcs16Poly is the FCS-16 generator polynomial x^0 + x^5 + x^12 + x^16 in
// the bit-reversed form that matches the least-significant-bit-first
// transmission order of an asynchronous line.
const fcs16Poly = 0x8408

// fcs16Table holds the lookup tables for UpdateFCS16. fcs16Table[0] is the
// table that RFC 1662 appendix C.1 generates: the FCS change caused by one
// octet. fcs16Table[k] is the change caused by an octet followed by k
// more, which lets UpdateFCS16 take eight octets per step ("slicing by
// eight") instead of one; the one-octet table alone makes the FCS the
// largest cost of framing a frame.
var fcs16Table = func() (t [8][256]uint16) {
	for b := range t[0] {
		v := uint16(b)
		for range 8 {
			if v&1 != 0 {
				v = v>>1 ^ fcs16Poly
			} else {
				v >>= 1
			}
		}
		t[0][b] = v
	}
	for k := 1; k < len(t); k++ {
		for b := range t[k] {
			v := t[k-1][b]
			t[k][b] = v>>8 ^ t[0][byte(v)]
		}
	}
	return t
}()

// UpdateFCS16 returns the FCS-16 of fcs extended by p, as pppfcs16 in
// RFC 1662 appendix C.2 does. Start from InitFCS16. A sender appends the
// complement of the result, least significant octet first; a receiver that
// runs UpdateFCS16 over a frame and its FCS gets GoodFCS16 if the frame is
// intact.
func UpdateFCS16(fcs uint16, p []byte) uint16 {
	t := &fcs16Table
	for len(p) >= 8 {
		// The 16-bit FCS overlaps the first two octets; the other six
		// only contribute their own shifted table entries.
		fcs = t[7][p[0]^byte(fcs)] ^ t[6][p[1]^byte(fcs>>8)] ^
			t[5][p[2]] ^ t[4][p[3]] ^ t[3][p[4]] ^ t[2][p[5]] ^
			t[1][p[6]] ^ t[0][p[7]]
		p = p[8:]
	}
	for _, c := range p {
		fcs = fcs>>8 ^ t[0][byte(fcs)^c]
	}
	return fcs
}

// UpdateFCS32 returns the FCS-32 of fcs extended by p, as pppfcs32 in
// RFC 1662 appendix C.3 does. Start from InitFCS32; the rules for appending
// and checking are those of UpdateFCS16 with four octets and GoodFCS32.
func UpdateFCS32(fcs uint32, p []byte) uint32 {
	// FCS-32 is the IEEE CRC-32 without crc32's built-in pre- and
	// post-inversion, so undo those and get the table (or the hardware
	// instruction) of hash/crc32 for free.
	return ^crc32.Update(^fcs, crc32.IEEETable, p)
}
