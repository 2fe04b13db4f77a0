package mppe

import (
	"bytes"
	"errors"
	"testing"
)

// streamPos is where in the key schedule a packet was encrypted or is to
// be decrypted: after how many key changes (the initial key is 0), and at
// which offset into that key's RC4 stream.
type streamPos struct{ keys, offset int }

// sealedPacket is one packet of the fuzzed sender.
type sealedPacket struct {
	pkt   []byte
	plain []byte
	pos   streamPos
}

// streamModel is what the package documentation promises about a
// Decrypter, as a state machine over coherency counts and key positions
// (see the "Conventions" list in the package comment). It predicts the
// outcome of every Open: the error, or success and the position the
// packet is decrypted at.
type streamModel struct {
	stateless bool
	ccount    uint16
	discard   bool
	fresh     bool
	pos       streamPos
}

// open predicts Open(pkt) and advances the model as the Decrypter would.
func (m *streamModel) open(pkt []byte) (streamPos, error) {
	if len(pkt) <= HeaderLen {
		return streamPos{}, ErrShort
	}
	bits := pkt[0] &^ 0x0f
	ccount := (uint16(pkt[0])<<8 | uint16(pkt[1])) & ccountMask
	flushed := bits&bitFlushed != 0
	switch {
	case bits&bitEncrypted == 0:
		return streamPos{}, ErrNotEncrypted
	case bits&bitCompressed != 0:
		return streamPos{}, ErrCompressed
	case !flushed && (m.stateless || ccount&0xff == 0xff):
		return streamPos{}, ErrNotFlushed
	}
	if m.stateless {
		ahead := (ccount - m.ccount) & ccountMask
		if ahead > ccountSpace/2 || ahead == 0 && !m.fresh {
			return streamPos{}, ErrLate
		}
		// One key change per count, and every packet starts a key.
		m.pos = streamPos{keys: m.pos.keys + int(ahead)}
		m.ccount = ccount
	} else {
		if !m.discard {
			m.ccount = (m.ccount + 1) & ccountMask
			if ccount != m.ccount {
				m.discard = true
				return streamPos{}, ErrNeedReset
			}
		} else {
			if !flushed {
				return streamPos{}, ErrNeedReset
			}
			for ccount&^0xff != m.ccount&^0xff {
				m.pos.keys++
				m.ccount = (m.ccount + 0x100) & ccountMask
			}
			m.discard = false
			m.ccount = ccount
		}
		if flushed {
			m.pos = streamPos{keys: m.pos.keys + 1}
		}
	}
	m.fresh = false
	at := m.pos
	m.pos.offset += len(pkt) - HeaderLen
	return at, nil
}

// maxStreamPackets bounds the packets one input makes the sender seal. It
// stays below the 4096 coherency counts, beyond which counts repeat and
// no receiver can tell a packet from one 4096 packets older, and above the
// 2048 that a stateless receiver looks ahead, so that an old packet can
// pass for a new one. Every packet costs a key change or more, so it is no
// higher than that.
const maxStreamPackets = 2400

// FuzzStream runs an Encrypter and a Decrypter of one mode (as FuzzOpen:
// key length [40, 56, 128][mode%3], stateful if mode&4) over a link that
// the script drives: packets delivered, lost one by one or in bursts,
// held back and delivered late, replayed, forged from script bytes, and
// Reset-Requests (Flush) at the sender. Every Open must do what streamModel
// predicts: the same error, or success, and then the genuine plaintext
// whenever the Decrypter is at the key position the packet was encrypted
// at. This covers stateless resynchronisation over losses and late
// packets, and stateful loss detection, flag packets, flushes and
// recovery, which no capture exercises. Decryption alternates between a
// separate buffer and in place.
func FuzzStream(f *testing.F) {
	// 0 deliver, 1 lose, 2 lose 1+2*arg, 3 replay arg back, 4 forge arg%24
	// bytes, 5 flush, 6 hold back, 7 deliver the oldest held.
	f.Add(uint8(2), []byte{0, 0, 1, 0, 6, 0, 7, 3, 1, 0})
	f.Add(uint8(6), []byte{0, 0, 1, 0, 0, 5, 0, 0})
	f.Add(uint8(6), []byte{0, 2, 70, 0, 5, 0, 0, 2, 200, 5, 0})
	f.Add(uint8(4), []byte{0, 6, 0, 0, 7, 5, 0, 0})
	f.Add(uint8(0), []byte{2, 255, 2, 255, 0, 3, 200, 0})
	f.Add(uint8(1), []byte{4, 5, 0x90, 0x05, 1, 2, 3, 0, 0, 4, 4, 0x10, 0x01, 9, 9})
	f.Add(uint8(6), []byte{0, 2, 63, 0, 0, 0, 5, 1, 0, 5, 0})
	f.Fuzz(func(t *testing.T, mode uint8, script []byte) {
		o := Options{KeyBits: []int{40, 56, 128}[int(mode)%3], Stateless: mode&4 == 0}
		key := [16]byte{mode, 0x5a, 0xa5}
		e, err := NewEncrypter(key, o)
		if err != nil {
			t.Fatal(err)
		}
		d, err := NewDecrypter(key, o)
		if err != nil {
			t.Fatal(err)
		}
		model := &streamModel{stateless: o.Stateless, ccount: ccountMask, fresh: true}

		// The sender's own key position, as the package comment defines
		// it: a key change before every stateless packet, and before a
		// stateful packet with a count ending in 0xFF or after Flush.
		var (
			sent     []sealedPacket
			held     []int
			sendPos  streamPos
			sendCC   uint16 = ccountMask
			flushReq bool
		)
		seal := func() int {
			n := len(sent)
			plain := make([]byte, 1+n*7%40)
			for i := range plain {
				plain[i] = byte(n + i*13)
			}
			pkt := make([]byte, HeaderLen+len(plain))
			copy(pkt[HeaderLen:], plain)
			if err := e.Seal(pkt); err != nil {
				t.Fatal(err)
			}
			sendCC = (sendCC + 1) & ccountMask
			if flushReq && !o.Stateless {
				sendCC |= 0xff // a flush is a flag packet
			}
			rekey := o.Stateless || sendCC&0xff == 0xff || flushReq
			if rekey {
				sendPos = streamPos{keys: sendPos.keys + 1}
				flushReq = false
			}
			if got := (uint16(pkt[0])<<8 | uint16(pkt[1])) & ccountMask; got != sendCC || pkt[0]&bitFlushed != 0 != rekey {
				t.Fatalf("packet %d sealed with header %x, want count %#x, flushed %v", n, pkt[:2], sendCC, rekey)
			}
			sent = append(sent, sealedPacket{pkt: pkt, plain: plain, pos: sendPos})
			sendPos.offset += len(plain)
			return n
		}
		opens := 0
		deliver := func(pkt []byte, genuine int) {
			in := bytes.Clone(pkt)
			var dst []byte
			if opens%2 == 0 {
				dst = make([]byte, len(in)) // a separate buffer, with room to spare
			} else if len(in) >= HeaderLen {
				dst = in[HeaderLen:] // in place
			}
			opens++
			n, err := d.Open(dst, in)
			at, want := model.open(pkt)
			if !errors.Is(err, want) || (err == nil) != (want == nil) {
				t.Fatalf("Open(%x) after %d packets sent: %v, the model expects %v", pkt[:min(len(pkt), 4)], len(sent), err, want)
			}
			if err != nil {
				if n != 0 {
					t.Fatalf("Open failed with %v but returned %d", err, n)
				}
				return
			}
			if n != len(pkt)-HeaderLen {
				t.Fatalf("Open returned %d bytes of a %d-byte packet", n, len(pkt))
			}
			if genuine >= 0 && at == sent[genuine].pos && !bytes.Equal(dst[:n], sent[genuine].plain) {
				t.Fatalf("packet %d (%x) decrypted at its own key position %+v to %x, want %x",
					genuine, pkt[:2], at, dst[:n], sent[genuine].plain)
			}
		}

		for i := 0; i < len(script); {
			op := script[i]
			i++
			arg := byte(0)
			if op%8 == 2 || op%8 == 3 || op%8 == 4 {
				if i < len(script) {
					arg = script[i]
					i++
				}
			}
			switch op % 8 {
			case 0, 1, 2, 6:
				k := 1
				if op%8 == 2 {
					k += 2 * int(arg)
				}
				for range k {
					if len(sent) >= maxStreamPackets {
						break
					}
					n := seal()
					switch op % 8 {
					case 0:
						deliver(sent[n].pkt, n)
					case 6:
						held = append(held, n)
					}
				}
			case 3:
				if len(sent) > 0 {
					n := len(sent) - 1 - int(arg)%len(sent)
					deliver(sent[n].pkt, n)
				}
			case 4:
				n := min(int(arg)%24, len(script)-i)
				deliver(script[i:i+n], -1)
				i += n
			case 5:
				e.Flush()
				flushReq = true
			case 7:
				if len(held) > 0 {
					deliver(sent[held[0]].pkt, held[0])
					held = held[1:]
				}
			}
		}
	})
}
