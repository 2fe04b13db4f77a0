// Package mppe implements Microsoft Point-to-Point Encryption (RFC 3078) with
// the key derivations of RFC 3079.
//
// An Encrypter and a Decrypter each hold the RC4 state of one direction of a
// PPP link. They work in place on caller-owned buffers and do not allocate,
// as they run once per packet on the data path.
//
// # Conventions taken from Linux rather than from the RFC
//
// RFC 3078 leaves several details open or describes them wrongly. Peers are
// Linux pppd, whose MPPE is the kernel's drivers/net/ppp/ppp_mppe.c, and
// Windows; this package follows the kernel. The tests check it against
// captured stateless sessions of both: Seal reproduces their packets bit for
// bit.
//
//   - The initial session key is GetNewKeyFromSHA(StartKey, StartKey),
//     without the RC4 step of a key change, then salted for 40 and 56 bits.
//     (This is what RFC 3079's samples print as the initial session key.)
//   - A key change (RFC 3078 section 7.3) is GetNewKeyFromSHA(StartKey,
//     SessionKey), RC4-encrypted with itself, then salted: D1 26 9E for 40
//     bits and D1 for 56 bits. The kernel has no 56-bit keys; they follow
//     the RFC.
//   - The coherency count starts at 0xFFF and is incremented before each
//     packet, so the first packet has count 0.
//   - Stateless mode changes keys before every packet, including the first:
//     the packet with count N is encrypted with the key after N+1 changes.
//     The A (flushed) bit is set on every packet.
//   - Stateful mode changes keys before a "flag" packet (count ending in 0xFF)
//     and before the first packet after Flush, and sets the A bit on exactly
//     those packets. After a Reset-Request RFC 3078 section 8.2 asks only to
//     re-initialise RC4 with the current key; the kernel changes keys. Our
//     Encrypter makes the first packet after Flush a flag packet, advancing
//     the coherency count to the next count ending in 0xFF: both kinds of
//     receiver account for the key change of every flag packet they missed,
//     but a kernel receiver cannot count the key change of a lost flushed
//     packet of the kernel's kind: after two flushes with the first packet
//     lost it would decrypt garbage for good.
//   - The first packet is not flushed (A clear) in stateful mode, contrary to
//     RFC 3078 section 3.1.
//   - A stateless receiver changes keys until its count reaches the packet's.
//     A packet more than 2048 counts ahead is taken to be late and dropped.
//     A packet with the count of the last one is dropped too; the kernel would
//     decrypt it with a spent key stream into garbage.
//   - A stateful receiver that sees a count other than the next one drops
//     the packet and every following one until a flushed packet arrives (see
//     ErrNeedReset); it then makes one key change for every flag packet it
//     missed and one for the flushed packet itself.
//   - Only the D (encrypted) bit is set besides A; B and C belong to MPPC
//     compression, which is never negotiated here.
//
// Packet layout: what this package calls an MPPE packet is the information
// field of a PPP frame with protocol 0x00FD: a two-byte header (A, B, C, D
// bits and the 12-bit coherency count) followed by the encrypted PPP protocol
// field and payload.
package mppe

import (
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
)

// HeaderLen is the length of the MPPE header that precedes the ciphertext.
const HeaderLen = 2

// Bits of the first header byte (RFC 3078 section 3.1).
const (
	bitFlushed    = 0x80 // A: the sender changed or reset its key before this packet
	bitCompressed = 0x20 // C: MPPC compressed
	bitEncrypted  = 0x10 // D: encrypted
)

const (
	ccountSpace = 0x1000 // the 12-bit coherency count wraps here
	ccountMask  = ccountSpace - 1
)

// Errors returned by Open and Seal.
var (
	// ErrShort reports a packet with no ciphertext, or a buffer too small.
	ErrShort = errors.New("mppe: packet too short")
	// ErrNotEncrypted reports a packet without the D (encrypted) bit.
	ErrNotEncrypted = errors.New("mppe: packet not encrypted")
	// ErrCompressed reports a packet with the C bit: MPPC compression, which
	// this package never negotiates.
	ErrCompressed = errors.New("mppe: packet compressed with MPPC")
	// ErrNotFlushed reports a packet without the A (flushed) bit where the
	// mode requires it: any packet in stateless mode, a flag packet in
	// stateful mode.
	ErrNotFlushed = errors.New("mppe: flushed bit missing")
	// ErrLate reports a stateless packet whose coherency count is not ahead
	// of the last one decrypted: reordered, duplicated or replayed.
	ErrLate = errors.New("mppe: late packet")
	// ErrNeedReset reports that a stateful Decrypter has lost packets and
	// dropped this one. It keeps dropping packets, returning ErrNeedReset,
	// until one with the A bit arrives. The caller must send a CCP
	// Reset-Request (RFC 1962 section 2.2) unless one is already outstanding,
	// and retransmit it on its timer while the error persists.
	ErrNeedReset = errors.New("mppe: lost synchronisation; CCP Reset-Request needed")
)

// Options are the parameters negotiated by CCP for one MPPE direction.
type Options struct {
	KeyBits   int  // 40, 56 or 128
	Stateless bool // the H bit: change keys on every packet
}

// session is the key state of one direction: the start key, the current
// session key and the RC4 cipher keyed with it.
type session struct {
	n       int      // key length in bytes: 8 for 40 and 56 bits, 16 for 128
	keyBits int      // 40, 56 or 128
	key     [16]byte // current session key; key[:n] is used
	rc4     rc4Cipher

	// shaIn holds StartKey, SHApad1, SessionKey and SHApad2 back to back
	// (for key length n), so that GetNewKeyFromSHA is one sha1.Sum over
	// shaIn[:2n+80] after copying in the session key.
	shaIn [16 + padLen + 16 + padLen]byte
}

func (s *session) init(startKey [16]byte, o Options) error {
	switch o.KeyBits {
	case 40, 56:
		s.n = 8
	case 128:
		s.n = 16
	default:
		return fmt.Errorf("mppe: %d-bit keys not supported; want 40, 56 or 128", o.KeyBits)
	}
	s.keyBits = o.KeyBits
	n := s.n
	copy(s.shaIn[:n], startKey[:n])
	clear(s.shaIn[n : n+padLen])
	for i := 2*n + padLen; i < 2*n+2*padLen; i++ {
		s.shaIn[i] = pad2Val
	}
	// The first GetNewKeyFromSHA has the start key as session key too.
	copy(s.key[:], startKey[:])
	s.rekey(true)
	return nil
}

// rekey changes the session key (RFC 3078 section 7.3) and re-keys RC4 with
// it. The initial key skips the RC4 step, as Linux and Windows do.
func (s *session) rekey(initial bool) {
	n := s.n
	copy(s.shaIn[n+padLen:], s.key[:n])
	interim := sha1.Sum(s.shaIn[:2*n+2*padLen])
	if initial {
		copy(s.key[:n], interim[:n])
	} else {
		s.rc4.reset(interim[:n])
		s.rc4.xorKeyStream(s.key[:n], interim[:n])
	}
	switch s.keyBits {
	case 40:
		s.key[0], s.key[1], s.key[2] = 0xd1, 0x26, 0x9e
	case 56:
		s.key[0] = 0xd1
	}
	s.rc4.reset(s.key[:n])
}

// Encrypter encrypts the packets of one direction. It is not safe for
// concurrent use: it belongs to the one goroutine that sends.
type Encrypter struct {
	s         session
	stateless bool
	ccount    uint16 // count of the last packet sent
	flush     bool   // a Reset-Request asked for the next packet to be flushed
}

// NewEncrypter returns an Encrypter starting from startKey, of which the
// first 8 bytes are used for 40- and 56-bit keys and all 16 for 128-bit keys.
func NewEncrypter(startKey [16]byte, o Options) (*Encrypter, error) {
	e := &Encrypter{stateless: o.Stateless, ccount: ccountMask}
	if err := e.s.init(startKey, o); err != nil {
		return nil, err
	}
	return e, nil
}

// Seal encrypts pkt[HeaderLen:], the PPP protocol field followed by the
// payload, in place and writes the MPPE header (flag bits and coherency
// count) into pkt[:HeaderLen]. The result is the information field of a PPP
// frame with protocol 0x00FD. It returns ErrShort, changing nothing, if pkt
// has no byte to encrypt.
func (e *Encrypter) Seal(pkt []byte) error {
	if len(pkt) <= HeaderLen {
		return ErrShort
	}
	e.ccount = (e.ccount + 1) & ccountMask
	if e.flush && !e.stateless {
		// Flush at a flag packet, whose key change every receiver
		// counts even when this packet is lost (see the package
		// comment).
		e.ccount |= 0xff
	}
	bits := byte(bitEncrypted)
	if e.stateless || e.ccount&0xff == 0xff || e.flush {
		e.s.rekey(false)
		e.flush = false
		bits |= bitFlushed
	}
	binary.BigEndian.PutUint16(pkt, uint16(bits)<<8|e.ccount)
	e.s.rc4.xorKeyStream(pkt[HeaderLen:], pkt[HeaderLen:])
	return nil
}

// Flush makes the next packet a flushed one: Seal will change keys before it
// and set its A bit. This is what a CCP Reset-Request from the peer asks of
// the sender in stateful mode. Further calls before that packet is sent have
// no further effect, as the peer cannot know how many requests arrived.
// In stateless mode every packet is flushed anyway.
func (e *Encrypter) Flush() { e.flush = true }

// Decrypter decrypts the packets of one direction. It is not safe for
// concurrent use: it belongs to the one goroutine that receives.
type Decrypter struct {
	s         session
	stateless bool
	ccount    uint16 // count of the last packet accepted
	discard   bool   // stateful: packets were lost; wait for a flushed one
	fresh     bool   // RC4 is keyed and has not been used yet

	// limit is how far ahead of the last count a stateless packet may be
	// (0: half the count space, as the kernel's receiver allows).
	limit uint16

	// What a stateless Open changed, for Rollback.
	undo       bool
	prevKey    [16]byte
	prevCcount uint16
	prevFresh  bool
}

// NewDecrypter returns a Decrypter starting from startKey, which must be the
// peer's send key.
func NewDecrypter(startKey [16]byte, o Options) (*Decrypter, error) {
	d := &Decrypter{stateless: o.Stateless, ccount: ccountMask, fresh: true}
	if err := d.s.init(startKey, o); err != nil {
		return nil, err
	}
	return d, nil
}

// Open decrypts the MPPE packet pkt, header and ciphertext, into dst and
// returns the length of the plaintext: the PPP protocol field (which the
// sender may have compressed to one byte) followed by the payload. dst may
// be pkt[HeaderLen:] exactly, to decrypt in place, or a separate buffer of
// at least len(pkt)-HeaderLen bytes; it must not overlap pkt in any other
// way.
//
// A packet rejected with ErrShort, ErrNotEncrypted, ErrCompressed,
// ErrNotFlushed or ErrLate leaves the Decrypter as it was. See ErrNeedReset
// for packet loss in stateful mode.
func (d *Decrypter) Open(dst, pkt []byte) (int, error) {
	if len(pkt) <= HeaderLen {
		return 0, ErrShort
	}
	n := len(pkt) - HeaderLen
	if len(dst) < n {
		return 0, ErrShort
	}
	bits := pkt[0] &^ 0x0f
	ccount := binary.BigEndian.Uint16(pkt) & ccountMask
	flushed := bits&bitFlushed != 0
	switch {
	case bits&bitEncrypted == 0:
		return 0, ErrNotEncrypted
	case bits&bitCompressed != 0:
		return 0, ErrCompressed
	case !flushed && (d.stateless || ccount&0xff == 0xff):
		return 0, ErrNotFlushed
	}

	d.undo = false
	if d.stateless {
		ahead := (ccount - d.ccount) & ccountMask
		limit := d.limit
		if limit == 0 {
			limit = ccountSpace / 2
		}
		if ahead > limit || ahead == 0 && !d.fresh {
			return 0, ErrLate
		}
		d.undo, d.prevKey, d.prevCcount, d.prevFresh = true, d.s.key, d.ccount, d.fresh
		for ; ahead > 0; ahead-- {
			d.s.rekey(false)
		}
		d.ccount = ccount
	} else {
		if !d.discard {
			d.ccount = (d.ccount + 1) & ccountMask
			if ccount != d.ccount {
				d.discard = true
				return 0, ErrNeedReset
			}
		} else {
			if !flushed {
				return 0, ErrNeedReset
			}
			// The sender changed keys at every flag packet that was lost.
			for ccount&^0xff != d.ccount&^0xff {
				d.s.rekey(false)
				d.ccount = (d.ccount + 0x100) & ccountMask
			}
			d.discard = false
			d.ccount = ccount
		}
		if flushed {
			d.s.rekey(false)
		}
	}
	d.fresh = false
	d.s.rc4.xorKeyStream(dst[:n], pkt[HeaderLen:])
	return n, nil
}

// Limit bounds how many coherency counts ahead of the last packet a
// stateless packet may be, 0 restoring the default (half the count space).
// Each count ahead costs a key change (SHA-1 and two RC4 key schedules)
// before the packet can be judged; a receiver that sees forged packets
// lowers the bound so that they cannot make it spend that on each.
func (d *Decrypter) Limit(n uint16) { d.limit = min(n, ccountSpace/2) }

// Rollback undoes the last Open, for a packet whose plaintext turned out to
// be garbage: MPPE has no integrity check, so a forged packet decrypts
// "successfully", and one with a coherency count far ahead would otherwise
// move the key sequence past the genuine packets, which would then all be
// late. Only stateless mode can go back (to the key and count it had); it
// reports whether it did. In stateful mode the RC4 state has moved on (or
// was already out of step, which garbage is the only sign of): the
// Decrypter drops everything until a flushed packet, as after a loss, and
// the caller should ask the peer for a reset.
func (d *Decrypter) Rollback() bool {
	if !d.stateless {
		d.discard = true
		return false
	}
	if !d.undo {
		return false
	}
	d.undo = false
	d.s.key, d.ccount, d.fresh = d.prevKey, d.prevCcount, d.prevFresh
	// In stateless mode each packet starts from RC4 freshly keyed with
	// the session key.
	d.s.rc4.reset(d.s.key[:d.s.n])
	return true
}
