package datapath

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/gopptp/gopptp/gre"
	"github.com/gopptp/gopptp/mppe"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/ccp"
)

// FuzzReceive hands the receive path arbitrary bytes as if they came off
// the raw GRE socket, for a call with MPPE on: nothing may panic, and the
// call must still deliver a genuine packet afterwards.
func FuzzReceive(f *testing.F) {
	p := newPair(f, ccp.Direction{On: true, KeyBits: 128, Stateless: true})
	f.Add(p.encap(f, ipPacket(tunA, tunB, 0, 60)))
	f.Add(withIPv4([]byte{0x30, 0x81, 0x88, 0x0b, 0, 0, 0, 2, 0, 0, 0, 9}, underA, underB))
	f.Add([]byte{0x45, 0, 0, 20})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		p := newPair(t, ccp.Direction{On: true, KeyBits: 128, Stateless: true})
		if len(pkt) >= 20 {
			// Aim most inputs at the call, as an attacker on the path would.
			binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
			copy(pkt[12:16], underA.AsSlice())
		}
		now := time.Now()
		p.receive(now, pkt)
		// With the test's fixed keys the fuzzer can build a packet that
		// decrypts to a plausible frame (an attacker without the keys
		// cannot): such a packet counts as genuine and starts the
		// sequence, and may leave the next genuine one behind it.
		tookAsGenuine := p.cb.ro.started && decryptsPlausibly(pkt)
		p.got = nil
		p.receive(now.Add(time.Second)) // release anything held
		good := p.encap(t, ipPacket(tunA, tunB, 1, 80))
		p.receive(now.Add(2*time.Second), good)
		p.receive(now.Add(3 * time.Second))
		if len(p.got) == 0 && !tookAsGenuine {
			// Only a forged packet far ahead in sequence may push a good
			// one out as late; that is the price of accepting gaps.
			if p.cb.Stats.DropSeq.Load() == 0 {
				t.Fatalf("a genuine packet was lost after %x", pkt)
			}
		}
	})
}

// decryptsPlausibly reports whether pkt, as B's socket receives it, is an
// MPPE packet that B's first decryption (key and mode of newPair's
// stateless MPPE-128) turns into a frame the receive path takes as
// genuine.
func decryptsPlausibly(pkt []byte) bool {
	if len(pkt) < 20 {
		return false
	}
	_, payload, err := gre.Parse(pkt[20:])
	if err != nil {
		return false
	}
	proto, info, err := ppp.ParseFrame(payload)
	if err != nil || proto != ppp.ProtoMPPE {
		return false
	}
	var ka [16]byte
	for i := range ka {
		ka[i] = byte(i)
	}
	d, err := mppe.NewDecrypter(ka, mppe.Options{KeyBits: 128, Stateless: true})
	if err != nil {
		panic(err)
	}
	plain := make([]byte, len(info))
	n, err := d.Open(plain, info)
	if err != nil {
		return false
	}
	inner, ip, err := ppp.ParseFrame(plain[:n])
	return err == nil && plausible(inner, ip)
}

// tcpSum returns the one's complement sum, folded to 16 bits, of the TCP
// pseudo-header and segment of the IPv4 packet ip, taking the segment to
// be everything after the IP header (as clampMSS does). A packet whose
// checksum is right sums to 0xffff.
func tcpSum(ip []byte) uint16 {
	ihl, addrs := int(ip[0]&0x0f)*4, ip[12:20]
	if ip[0]>>4 == 6 {
		ihl, addrs = 40, ip[8:40]
	}
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(addrs)
	sum += 6 + uint32(len(ip)-ihl)
	add(ip[ihl:])
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}

// FuzzClampMSS checks the MSS clamping that the receive path applies to
// every delivered packet: it never panics or reads outside the packet, it
// changes nothing but the MSS value (lowered to the clamp, never raised)
// and the checksum, the checksum stays as valid as it was (the one's
// complement sum is unchanged, RFC 1624), and a second pass changes
// nothing.
func FuzzClampMSS(f *testing.F) {
	for nops := range 3 {
		f.Add(tcpSYNAt(1460, 0x02, nops), uint16(1360))
	}
	f.Add(tcpSYN(0xffff, 0x12), uint16(1300))
	f.Add(tcpSYN(0x0101, 0x02), uint16(0x0100))
	f.Add(tcpSYN(1460, 0x10), uint16(536))
	f.Add(tcpSYN6(1440), uint16(1416))
	f.Fuzz(func(t *testing.T, ip []byte, mss uint16) {
		orig := bytes.Clone(ip)
		changed := clampMSS(ip, mss)
		if !changed {
			if !bytes.Equal(ip, orig) {
				t.Fatalf("reported no change but changed %x into %x", orig, ip)
			}
			return
		}
		ihl, want := int(ip[0]&0x0f)*4, mss
		if ip[0]>>4 == 6 {
			ihl, want = 40, mss-20 // the clamp is the IPv4 figure
		}
		var diff []int
		for i := range ip {
			if ip[i] != orig[i] {
				diff = append(diff, i)
			}
		}
		csum := ihl + 16
		var at int // offset of the MSS value
		for _, i := range diff {
			if i != csum && i != csum+1 {
				at = i
				break
			}
		}
		if at == 0 {
			t.Fatalf("changed only the checksum of %x", orig)
		}
		// When only the low byte of the value changed, the first changed
		// byte is the second byte of the value.
		if at >= 2 && (ip[at-2] != 2 || ip[at-1] != 4) && at >= 3 && ip[at-3] == 2 && ip[at-2] == 4 {
			at--
		}
		for _, i := range diff {
			if i != csum && i != csum+1 && i != at && i != at+1 {
				t.Fatalf("changed byte %d of %x: %x", i, orig, ip)
			}
		}
		if at < ihl+20 || ip[at-2] != 2 || ip[at-1] != 4 || ip[ihl+13]&0x02 == 0 {
			t.Fatalf("changed bytes %v of %x, not an MSS option of a SYN", diff, orig)
		}
		if got, old := binary.BigEndian.Uint16(ip[at:]), binary.BigEndian.Uint16(orig[at:]); got != want || old <= want {
			t.Fatalf("MSS %d clamped to %d, clamp %d", old, got, mss)
		}
		// 0x0000 and 0xffff are both zero in one's complement.
		norm := func(s uint16) uint16 {
			if s == 0 {
				return 0xffff
			}
			return s
		}
		if before, after := norm(tcpSum(orig)), norm(tcpSum(ip)); before != after {
			t.Fatalf("checksum sum %#04x became %#04x", before, after)
		}
		again := bytes.Clone(ip)
		if clampMSS(again, mss) || !bytes.Equal(again, ip) {
			t.Fatal("a second clamp changed the packet again")
		}
	})
}

// FuzzReorder sends genuine packets through the receive path in an order
// the script chooses: delivered at once, lost, held back and delivered
// late, duplicated, in reversed bursts, with time passing in between, in
// each MPPE mode (mode picks one of modes), with stateful MPPE resyncs
// answered as the peer would. Only genuine packets may come out, each at
// most once and in the order sent, the reorder queue may never hold more
// than its slots, and once enough time passes with nothing arriving it
// must have released everything.
func FuzzReorder(f *testing.F) {
	// 0 new, 1 lose, 2 hold, 3 deliver held arg, 4 duplicate arg back,
	// 5 wait arg ms, 6 burst of 1+arg%40 reversed, 7 answer a resync.
	f.Add(uint8(1), []byte{0, 0, 2, 0, 0, 3, 0, 0})
	f.Add(uint8(0), []byte{0, 1, 0, 0, 5, 60, 0, 4, 2})
	f.Add(uint8(2), []byte{0, 1, 0, 5, 250, 7, 0, 0})
	f.Add(uint8(3), []byte{0, 6, 20, 6, 39, 1, 6, 5, 5, 100})
	f.Add(uint8(1), []byte{0, 2, 2, 2, 0, 0, 3, 1, 3, 0, 5, 30, 5, 30})
	f.Fuzz(func(t *testing.T, mode uint8, script []byte) {
		p := newPair(t, modes[int(mode)%len(modes)].dir)
		now := time.Unix(1e9, 0)
		var (
			sent     [][]byte // genuine GRE packets, by index
			held     []int
			resets   int
			lastSeen = -1
		)
		next := func() int {
			i := len(sent)
			sent = append(sent, p.encap(t, ipPacket(tunA, tunB, i, 40+i%50)))
			return i
		}
		deliver := func(pkts ...[]byte) {
			p.receive(now, pkts...)
			if p.cb.ro.held > reorderSlots {
				t.Fatalf("holding %d packets", p.cb.ro.held)
			}
		}
		for i := 0; i < len(script) && len(sent) < 2000; {
			op := script[i]
			i++
			arg := 0
			if op%8 == 3 || op%8 == 4 || op%8 == 5 || op%8 == 6 {
				if i < len(script) {
					arg = int(script[i])
					i++
				}
			}
			switch op % 8 {
			case 0:
				deliver(sent[next()])
			case 1:
				next()
			case 2:
				held = append(held, next())
			case 3:
				if len(held) > 0 {
					k := arg % len(held)
					deliver(sent[held[k]])
					held = append(held[:k], held[k+1:]...)
				}
			case 4:
				if len(sent) > 0 {
					deliver(sent[len(sent)-1-arg%len(sent)])
				}
			case 5:
				now = now.Add(time.Duration(arg) * time.Millisecond)
				deliver()
			case 6:
				var burst [][]byte
				for range 1 + arg%40 {
					burst = append(burst, sent[next()])
				}
				slices.Reverse(burst)
				deliver(burst...)
			case 7:
				if p.resets > resets {
					resets = p.resets
					p.ca.FlushMPPE()
				}
			}
		}
		// Everything held is released within one time-out per gap.
		for range reorderSlots + 1 {
			now = now.Add(DefaultReorderTimeout)
			deliver()
		}
		if p.cb.ro.held != 0 || len(p.rx.holding) != 0 {
			t.Fatalf("still holding %d packets after the time-outs", p.cb.ro.held)
		}
		for _, ip := range p.got {
			if len(ip) < 32 {
				t.Fatalf("delivered %x", ip)
			}
			i := int(binary.BigEndian.Uint32(ip[28:]))
			if i <= lastSeen || i >= len(sent) || !bytes.Equal(ip, ipPacket(tunA, tunB, i, len(ip))) {
				t.Fatalf("delivered %x after packet %d; %d sent", ip[:32], lastSeen, len(sent))
			}
			lastSeen = i
		}
		if n := p.cb.Stats.RxPackets.Load(); n != uint64(len(p.got)) {
			t.Fatalf("RxPackets %d, delivered %d", n, len(p.got))
		}
	})
}
