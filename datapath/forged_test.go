package datapath

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/gopptp/gopptp/ppp/ccp"
)

// forgery builds what a blind attacker who knows the call ID and the peer's
// address can send: a GRE packet for B's call with the sequence number
// seq and an MPPE payload of its choosing (coherency count ccount, header
// bits bits) that it cannot encrypt.
func forgery(seq uint32, ccount uint16, bits byte) []byte {
	g := make([]byte, 16+4+40)
	g[0], g[1] = 0x30, 0x01 // K and S, version 1
	binary.BigEndian.PutUint16(g[2:], 0x880b)
	binary.BigEndian.PutUint16(g[4:], uint16(len(g)-16))
	binary.BigEndian.PutUint16(g[6:], 2) // B's call ID
	binary.BigEndian.PutUint32(g[8:], seq)
	g[12], g[13], g[14], g[15] = 0xff, 0x03, 0x00, 0xfd // PPP: MPPE
	binary.BigEndian.PutUint16(g[16:], uint16(bits)<<8|ccount&0x0fff)
	for i := 20; i < len(g); i++ {
		g[i] = byte(i * 37)
	}
	return withIPv4(g, underA, underB)
}

// TestForgedPacketsMoveNothing: MPPE has no integrity check, so a forged
// packet "decrypts"; its garbage must not move the call's GRE sequence or
// the stateless key sequence, or every genuine packet after it would be
// dropped as late (for up to 2^31 GRE packets or 2048 MPPE ones). Forged
// packets come first (before any genuine one), and again far ahead in
// both sequences in the middle of the flow, some with headers no genuine
// peer sends (not encrypted, not flushed in stateless mode).
func TestForgedPacketsMoveNothing(t *testing.T) {
	p := newPair(t, ccp.Direction{On: true, KeyBits: 128, Stateless: true})
	now := time.Unix(1e9, 0)
	p.receive(now, forgery(0x7fff0000, 0x7ff, 0x90))
	var want []int
	for i := range 3 {
		p.receive(now, p.encap(t, ipPacket(tunA, tunB, i, 60)))
		want = append(want, i)
	}
	p.receive(now, forgery(0x7fff0000, 0x7ff, 0x90), forgery(1000, 2000, 0x90), forgery(3, 3, 0x90),
		forgery(0x40000000, 5, 0x00), forgery(0x40000000, 5, 0x10))
	for i := 3; i < 6; i++ {
		p.receive(now, p.encap(t, ipPacket(tunA, tunB, i, 60)))
		want = append(want, i)
	}
	p.checkOrder(t, want)
	st := &p.cb.Stats
	if lost, late, bad := st.Lost.Load(), st.DropSeq.Load(), st.DropMPPE.Load(); lost != 0 || late != 0 || bad != 6 {
		t.Errorf("lost %d, late %d, MPPE drops %d; want 0, 0, 6", lost, late, bad)
	}
	if len(p.control) != 0 {
		t.Errorf("forged packets reached the session as %v", p.control)
	}
	if got := p.cb.rxHighest.Load(); got != 5 {
		t.Errorf("acknowledging %d, want 5 (no forged sequence number)", got)
	}

	// A genuine jump (40 packets lost, more than the reorder queue holds)
	// still moves the sequence on.
	for i := 6; i < 46; i++ {
		p.encap(t, ipPacket(tunA, tunB, i, 60))
	}
	p.receive(now, p.encap(t, ipPacket(tunA, tunB, 46, 60)))
	p.checkOrder(t, append(want, 46))
	if lost := st.Lost.Load(); lost != 40 {
		t.Errorf("lost %d after a genuine jump, want 40", lost)
	}
}

// TestForgedPacketsBoundWork: after a forged packet, a call looks only
// forgedReach coherency counts ahead (each costs a key change) until
// forgedQuiet passes without another; then genuine packets after a longer
// loss get through again.
func TestForgedPacketsBoundWork(t *testing.T) {
	p := newPair(t, ccp.Direction{On: true, KeyBits: 128, Stateless: true})
	now := time.Unix(1e9, 0)
	p.receive(now, p.encap(t, ipPacket(tunA, tunB, 0, 60)))
	p.receive(now, forgery(5000, 2000, 0x90))
	for i := 1; i <= 100; i++ {
		p.encap(t, ipPacket(tunA, tunB, i, 60)) // lost
	}
	p.receive(now.Add(forgedQuiet/2), p.encap(t, ipPacket(tunA, tunB, 101, 60)))
	p.checkOrder(t, []int{0}) // 101 counts ahead: not looked at
	p.receive(now.Add(forgedQuiet+time.Millisecond), p.encap(t, ipPacket(tunA, tunB, 102, 60)))
	p.checkOrder(t, []int{0, 102})
}
