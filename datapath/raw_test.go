package datapath

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/gopptp/gopptp/gre"
)

// rawPair is two raw calls joined in memory, as a pptp --nolaunchpppd
// relay and a server see each other: A sends with SendFrame, B's receive
// path hands what arrives to Raw.
type rawPair struct {
	a, b       *Engine
	ca, cb     *Call
	got        [][]byte
	underlying [][]byte
	rx         *rxBatch
}

func newRawPair(t *testing.T) *rawPair {
	p := &rawPair{a: NewEngine(Config{}), b: NewEngine(Config{}), rx: newRxBatch()}
	p.a.setSend(func(pkt []byte, _ netip.Addr) { p.underlying = append(p.underlying, append([]byte(nil), pkt...)) })
	p.b.setSend(func([]byte, netip.Addr) {})
	var err error
	if p.ca, err = p.a.AddCall(CallConfig{LocalID: 1, PeerID: 2, Peer: underB, PeerWindow: 16384, Raw: func([]byte) {}}); err != nil {
		t.Fatal(err)
	}
	if p.cb, err = p.b.AddCall(CallConfig{LocalID: 2, PeerID: 1, Peer: underA, PeerWindow: 16384,
		Raw: func(f []byte) { p.got = append(p.got, append([]byte(nil), f...)) }}); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *rawPair) deliver(now time.Time, pkts [][]byte) {
	p.rx.now = now
	for _, g := range pkts {
		p.b.receive(p.rx, withIPv4(g, underA, underB))
	}
	kept := p.rx.holding[:0]
	for _, c := range p.rx.holding {
		if p.b.expireReorder(p.rx, c) {
			kept = append(kept, c)
		}
	}
	p.rx.holding = kept
	for _, c := range p.rx.touched {
		c.ackMarked = false
	}
	p.rx.touched = p.rx.touched[:0]
}

// TestRawFramesPassUntouched: whatever the PPP frame (LCP with its
// address and control fields, MPPE-encrypted data, plain IP before the
// network phase, compressed headers, garbage), a raw call carries it
// byte for byte and in order, where a normal call would parse, decrypt
// or drop it.
func TestRawFramesPassUntouched(t *testing.T) {
	p := newRawPair(t)
	frames := [][]byte{
		{0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x04},       // LCP Configure-Request
		{0xff, 0x03, 0x00, 0xfd, 0x90, 0x00, 0xde, 0xad},       // MPPE data, no CCP here
		{0x00, 0x21, 0x45, 0x00, 0x00, 0x14},                   // IPv4, ACFC, no network phase
		{0x21, 0x45},                                           // ACFC and PFC
		{0x7e, 0x7d, 0x00, 0x11, 0x13},                         // octets HDLC would escape
		bytes.Repeat([]byte{0xa5}, maxFrame),                   // the largest allowed
		{0xff, 0x03, 0xc0, 0x21, 0x05, 0x02, 0x00, 0x04, 0x00}, // Terminate-Request
	}
	for _, f := range frames {
		if err := p.ca.SendFrame(f); err != nil {
			t.Fatalf("SendFrame(%d bytes): %v", len(f), err)
		}
	}
	if len(p.underlying) != len(frames) {
		t.Fatalf("%d GRE packets for %d frames", len(p.underlying), len(frames))
	}
	// Delivered out of order: the raw path still goes through the
	// sequence check and the reorder buffer.
	pk := p.underlying
	p.deliver(time.Now(), [][]byte{pk[0], pk[2], pk[1], pk[4], pk[3], pk[6], pk[5]})
	if len(p.got) != len(frames) {
		t.Fatalf("B got %d frames, want %d", len(p.got), len(frames))
	}
	for i := range frames {
		if !bytes.Equal(p.got[i], frames[i]) {
			t.Errorf("frame %d: got % x, want % x", i, head(p.got[i]), head(frames[i]))
		}
	}
	// A duplicate is dropped, not handed to the relay twice.
	p.deliver(time.Now(), pk[2:3])
	if len(p.got) != len(frames) || p.cb.Stats.DropSeq.Load() != 1 {
		t.Errorf("duplicate: got %d frames, DropSeq %d", len(p.got), p.cb.Stats.DropSeq.Load())
	}
	if n := p.cb.Stats.RxPackets.Load(); n != uint64(len(frames)) {
		t.Errorf("RxPackets %d", n)
	}
	if n := p.cb.Stats.DropMPPE.Load() + p.cb.Stats.DropNotUp.Load() + p.b.Counters.Malformed.Load(); n != 0 {
		t.Errorf("raw frames were parsed and dropped: %d", n)
	}
	// B owes an acknowledgement for what it received.
	if !p.cb.ackOwed.Load() || p.cb.rxHighest.Load() != uint32(len(frames)-1) {
		t.Errorf("ack owed %v, highest %d", p.cb.ackOwed.Load(), p.cb.rxHighest.Load())
	}
}

func head(b []byte) []byte { return b[:min(len(b), 16)] }

// TestSendFrameRefuses: empty and oversized frames, and frames on a call
// that is gone, are refused rather than sent.
func TestSendFrameRefuses(t *testing.T) {
	p := newRawPair(t)
	if err := p.ca.SendFrame(nil); err == nil {
		t.Error("empty frame accepted")
	}
	if err := p.ca.SendFrame(make([]byte, maxFrame+1)); err == nil {
		t.Error("oversized frame accepted")
	}
	p.a.RemoveCall(p.ca)
	if err := p.ca.SendFrame([]byte{0xc0, 0x21, 1, 1, 0, 4}); !errors.Is(err, ErrNotUp) {
		t.Errorf("removed call: %v", err)
	}
	if len(p.underlying) != 0 {
		t.Errorf("%d packets sent", len(p.underlying))
	}
}

// TestSendFrameWaitsForWindow: with the peer's window full frames queue
// (copies) and leave in order when the peer acknowledges.
func TestSendFrameWaitsForWindow(t *testing.T) {
	p := newRawPair(t)
	p.ca.txMu.Lock()
	p.ca.snd = gre.NewSender(2)
	p.ca.txMu.Unlock()
	buf := make([]byte, 10)
	for i := range 3 {
		clear(buf)
		buf[0], buf[1], buf[9] = 0xc0, 0x21, byte(i)
		if err := p.ca.SendFrame(buf); err != nil {
			t.Fatal(err)
		}
	}
	if len(p.underlying) != 1 || len(p.ca.queue) != 2 {
		t.Fatalf("sent %d, queued %d", len(p.underlying), len(p.ca.queue))
	}
	p.ca.gotAck(0)
	p.deliver(time.Now(), p.underlying)
	if len(p.got) != 3 {
		t.Fatalf("got %d frames", len(p.got))
	}
	for i, f := range p.got {
		if f[9] != byte(i) {
			t.Errorf("frame %d carries %d", i, f[9])
		}
	}
}
