package datapath

import (
	"encoding/binary"
	"testing"
	"time"

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
		p.got = nil
		p.receive(now.Add(time.Second)) // release anything held
		good := p.encap(t, ipPacket(tunA, tunB, 1, 80))
		p.receive(now.Add(2*time.Second), good)
		p.receive(now.Add(3 * time.Second))
		if len(p.got) == 0 {
			// Only a forged packet far ahead in sequence may push a good
			// one out as late; that is the price of accepting gaps.
			if p.cb.Stats.DropSeq.Load() == 0 {
				t.Fatalf("a genuine packet was lost after %x", pkt)
			}
		}
	})
}
