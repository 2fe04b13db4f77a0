package gre

import (
	"net/netip"
	"testing"
)

func TestSeqAfter(t *testing.T) {
	for _, tc := range []struct {
		a, b uint32
		want bool
	}{
		{1, 0, true},
		{0, 1, false},
		{5, 5, false},
		{0, 0xffffffff, true}, // across the wrap
		{0xffffffff, 0, false},
		{10, 0xfffffff0, true},
		{0x7fffffff, 0, true},  // 2^31-1 ahead
		{0x80000000, 0, false}, // exactly 2^31: after neither
		{0, 0x80000000, false},
		{0x80000001, 0, false}, // more than 2^31 ahead is behind
	} {
		if got := SeqAfter(tc.a, tc.b); got != tc.want {
			t.Errorf("SeqAfter(%#x, %#x) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

type arrival struct {
	seq  uint32
	v    Verdict
	lost uint32
}

func replay(t *testing.T, r *Receiver, arrivals []arrival) {
	t.Helper()
	for i, a := range arrivals {
		v, lost := r.Receive(a.seq)
		if v != a.v || lost != a.lost {
			t.Fatalf("arrival %d (seq %#x): %v, lost %d; want %v, lost %d", i, a.seq, v, lost, a.v, a.lost)
		}
		if v.Accepted() != (a.v == Accept || a.v == AcceptGap) {
			t.Fatalf("%v.Accepted() = %v", v, v.Accepted())
		}
	}
}

func TestReceiverLossDuplicatesReordering(t *testing.T) {
	var r Receiver
	if _, ok := r.Highest(); ok {
		t.Fatal("Highest reports a number before any packet")
	}
	replay(t, &r, []arrival{
		{0, Accept, 0},
		{1, Accept, 0},
		{1, DropDuplicate, 0},
		{4, AcceptGap, 2}, // 2 and 3 lost
		{3, DropOld, 0},   // 3 was only late; still dropped (RFC 2637 4.3)
		{2, DropOld, 0},
		{0, DropOld, 0},
		{5, Accept, 0},
		{105, AcceptGap, 99},
		{106, Accept, 0},
		{106, DropDuplicate, 0},
	})
	want := RecvStats{Received: 6, Lost: 101, Duplicate: 2, Old: 3}
	if r.Stats != want {
		t.Errorf("Stats = %+v, want %+v", r.Stats, want)
	}
	if h, ok := r.Highest(); !ok || h != 106 {
		t.Errorf("Highest = %d, %v", h, ok)
	}
}

func TestReceiverFirstPacket(t *testing.T) {
	for _, first := range []uint32{0, 1, 1000, 0x7fffffff, 0x80000000, 0xffffffff} {
		var r Receiver
		replay(t, &r, []arrival{
			{first, Accept, 0},
			{first + 1, Accept, 0},
			{first - 1, DropOld, 0},
		})
		if r.Stats.Lost != 0 {
			t.Errorf("first %#x: %d lost", first, r.Stats.Lost)
		}
	}
}

func TestReceiverWraparound(t *testing.T) {
	var r Receiver
	replay(t, &r, []arrival{
		{0xfffffffd, Accept, 0},
		{0xfffffffe, Accept, 0},
		{0xffffffff, Accept, 0},
		{0, Accept, 0},
		{0xffffffff, DropOld, 0},
		{0, DropDuplicate, 0},
		{3, AcceptGap, 2},
		{0xfffffff0, DropOld, 0},
	})
	if h, _ := r.Highest(); h != 3 {
		t.Errorf("Highest = %#x, want 3", h)
	}

	// A gap that spans the wrap counts the numbers on both sides.
	var g Receiver
	replay(t, &g, []arrival{
		{0xfffffffe, Accept, 0},
		{2, AcceptGap, 3}, // 0xffffffff, 0 and 1
	})

	// A number 2^31 or more ahead is behind in serial arithmetic.
	var far Receiver
	replay(t, &far, []arrival{
		{10, Accept, 0},
		{10 + 1<<31, DropOld, 0},
		{10 + 1<<31 - 1, AcceptGap, 1<<31 - 2},
	})
}

func TestReceiverAcks(t *testing.T) {
	var r Receiver
	if r.AckOwed() || r.Unacked() != 0 {
		t.Fatal("ack owed before any packet")
	}
	if _, ok := r.TakeAck(); ok {
		t.Fatal("TakeAck before any packet")
	}
	r.Receive(7)
	r.Receive(8)
	r.Receive(10)
	if !r.AckOwed() || r.Unacked() != 3 {
		t.Fatalf("AckOwed %v, Unacked %d; want true, 3", r.AckOwed(), r.Unacked())
	}
	if ack, ok := r.TakeAck(); !ok || ack != 10 {
		t.Fatalf("TakeAck = %d, %v; want 10, true", ack, ok)
	}
	if r.AckOwed() || r.Unacked() != 0 {
		t.Fatal("ack still owed after TakeAck")
	}
	if _, ok := r.TakeAck(); ok {
		t.Fatal("second TakeAck with nothing new")
	}
	// Dropped packets owe no acknowledgement.
	r.Receive(10)
	r.Receive(9)
	if r.AckOwed() {
		t.Fatal("ack owed for dropped packets")
	}
	r.Receive(11)
	if ack, ok := r.TakeAck(); !ok || ack != 11 {
		t.Fatalf("TakeAck = %d, %v; want 11, true", ack, ok)
	}
	// Highest stays available for callers that acknowledge every packet.
	if h, ok := r.Highest(); !ok || h != 11 {
		t.Fatalf("Highest = %d, %v", h, ok)
	}
}

func sendN(t *testing.T, s *Sender, n int) (first uint32) {
	t.Helper()
	for i := range n {
		seq := s.Next()
		if i == 0 {
			first = seq
		}
	}
	return first
}

func TestSenderWindow(t *testing.T) {
	s := NewSender(8)
	if s.MaxWindow() != 8 || s.Window() != 4 {
		t.Fatalf("window %d of %d, want 4 of 8 (RFC 2637 4.2.1: start at half)", s.Window(), s.MaxWindow())
	}
	for i := range uint32(4) {
		if !s.CanSend() {
			t.Fatalf("window full after %d packets", i)
		}
		if seq := s.Next(); seq != i {
			t.Fatalf("packet %d got sequence number %d", i, seq)
		}
	}
	if s.CanSend() || s.Outstanding() != 4 {
		t.Fatalf("CanSend %v with %d outstanding in a window of 4", s.CanSend(), s.Outstanding())
	}
	// One acknowledgement covers all packets up to it (4.2.5).
	if n, ok := s.Ack(1); !ok || n != 2 {
		t.Fatalf("Ack(1) = %d, %v; want 2, true", n, ok)
	}
	if !s.CanSend() || s.Outstanding() != 2 {
		t.Fatalf("after Ack(1): CanSend %v, outstanding %d", s.CanSend(), s.Outstanding())
	}
	if ack, ok := s.LastAck(); !ok || ack != 1 {
		t.Fatalf("LastAck = %d, %v", ack, ok)
	}
	// A repeated acknowledgement is harmless and acknowledges nothing.
	if n, ok := s.Ack(1); !ok || n != 0 {
		t.Fatalf("repeated Ack(1) = %d, %v; want 0, true", n, ok)
	}
	if n, ok := s.Ack(3); !ok || n != 2 {
		t.Fatalf("Ack(3) = %d, %v; want 2, true", n, ok)
	}
	// A window's worth (4) acknowledged: the window opens by one (4.2.3).
	if s.Window() != 5 || s.Outstanding() != 0 {
		t.Fatalf("window %d, outstanding %d; want 5, 0", s.Window(), s.Outstanding())
	}
	if s.Stats != (SendStats{Sent: 4, Acked: 4}) {
		t.Errorf("Stats = %+v", s.Stats)
	}
}

func TestSenderWindowGrowsToMaximum(t *testing.T) {
	s := NewSender(3)
	if s.Window() != 2 {
		t.Fatalf("initial window %d, want 2", s.Window())
	}
	for range 20 {
		if n, ok := s.Ack(s.Next()); !ok || n != 1 {
			t.Fatalf("Ack = %d, %v", n, ok)
		}
	}
	if s.Window() != 3 {
		t.Errorf("window %d, want the maximum 3", s.Window())
	}
}

func TestSenderBadAcks(t *testing.T) {
	s := NewSender(16)
	if _, ok := s.Ack(0); ok {
		t.Fatal("acknowledgement accepted before anything was sent")
	}
	sendN(t, s, 5) // 0..4
	for _, ack := range []uint32{5, 100, 0xffffffff, 1 << 31} {
		if _, ok := s.Ack(ack); ok {
			t.Errorf("Ack(%#x) of a number never sent accepted", ack)
		}
	}
	if _, ok := s.Ack(3); !ok {
		t.Fatal("Ack(3) refused")
	}
	for _, ack := range []uint32{2, 0} {
		if n, ok := s.Ack(ack); ok || n != 0 {
			t.Errorf("backwards Ack(%d) = %d, %v", ack, n, ok)
		}
	}
	if ack, _ := s.LastAck(); ack != 3 || s.Outstanding() != 1 {
		t.Errorf("a bad ack moved state: last %d, outstanding %d", ack, s.Outstanding())
	}
	if s.Stats.BadAcks != 7 {
		t.Errorf("BadAcks = %d, want 7", s.Stats.BadAcks)
	}
}

func TestSenderTimeout(t *testing.T) {
	s := NewSender(20) // window 10
	s.Timeout()
	if s.Stats.Timeouts != 0 || s.Window() != 10 {
		t.Fatal("Timeout with nothing outstanding had an effect")
	}
	sendN(t, s, 10) // 0..9
	if s.CanSend() {
		t.Fatal("window of 10 not full")
	}
	s.Timeout()
	// Outstanding packets are given up on and the window halves (4.2.2).
	if s.Outstanding() != 0 || s.Window() != 5 || !s.CanSend() {
		t.Fatalf("after time-out: outstanding %d, window %d", s.Outstanding(), s.Window())
	}
	sendN(t, s, 3) // 10..12
	// A late acknowledgement of given-up packets is still valid.
	if n, ok := s.Ack(4); !ok || n != 5 {
		t.Fatalf("late Ack(4) = %d, %v; want 5, true", n, ok)
	}
	if s.Outstanding() != 3 {
		t.Fatalf("outstanding %d after late ack, want 3", s.Outstanding())
	}
	if n, ok := s.Ack(11); !ok || n != 7 {
		t.Fatalf("Ack(11) = %d, %v; want 7, true", n, ok)
	}
	if s.Outstanding() != 1 {
		t.Fatalf("outstanding %d, want 1", s.Outstanding())
	}
	// Halving rounds up and stops at one.
	for _, want := range []uint32{3, 2, 1, 1} {
		sendN(t, s, 1)
		s.Timeout()
		if s.Window() != want {
			t.Fatalf("window %d, want %d", s.Window(), want)
		}
	}
	if s.Stats.Timeouts != 5 {
		t.Errorf("Timeouts = %d, want 5", s.Stats.Timeouts)
	}
}

func TestSenderZeroWindow(t *testing.T) {
	s := NewSender(0)
	if s.Window() != 1 || s.MaxWindow() != 1 || !s.CanSend() {
		t.Fatalf("window %d of %d, want 1 of 1", s.Window(), s.MaxWindow())
	}
	s.Next()
	if s.CanSend() {
		t.Fatal("a window of one allows two packets")
	}
}

func TestSenderWraparound(t *testing.T) {
	s := newSender(0xfffffffd, 8)
	var sent []uint32
	for range 4 {
		sent = append(sent, s.Next())
	}
	if sent[3] != 0 {
		t.Fatalf("sequence numbers %x do not wrap to 0", sent)
	}
	if s.Outstanding() != 4 {
		t.Fatalf("outstanding %d across the wrap, want 4", s.Outstanding())
	}
	if _, ok := s.Ack(1); ok {
		t.Fatal("ack of the unsent 1 accepted")
	}
	if n, ok := s.Ack(0xffffffff); !ok || n != 3 {
		t.Fatalf("Ack(0xffffffff) = %d, %v; want 3, true", n, ok)
	}
	if n, ok := s.Ack(0); !ok || n != 1 {
		t.Fatalf("Ack(0) = %d, %v; want 1, true", n, ok)
	}
	if _, ok := s.Ack(0xfffffffe); ok {
		t.Fatal("backwards ack across the wrap accepted")
	}
	if s.Outstanding() != 0 {
		t.Fatalf("outstanding %d, want 0", s.Outstanding())
	}
}

// If the peer never acknowledges, the range of acceptable acknowledgements
// slides along rather than wrapping onto numbers not yet sent.
func TestSenderNeverAcknowledged(t *testing.T) {
	s := NewSender(4)
	s.next = 1<<31 + 5 // as if that many packets went unacknowledged
	seq := s.Next()
	if _, ok := s.Ack(0); ok {
		t.Fatal("ack of a number 2^31 behind accepted")
	}
	if n, ok := s.Ack(seq); !ok || n != 1<<31 {
		t.Fatalf("Ack(%#x) = %d, %v; want 2^31, true", seq, n, ok)
	}
	if s.Outstanding() != 0 {
		t.Fatalf("outstanding %d", s.Outstanding())
	}
}

// TestCaptureSequences replays the sequence and acknowledgement numbers of
// the captured sessions: each direction's data through a Receiver (the
// captures are loss-free and in order) and each acknowledgement through a
// Sender of the other direction (real peers only acknowledge what was sent,
// never backwards).
func TestCaptureSequences(t *testing.T) {
	for name, pkts := range captureGRE(t) {
		rx := map[netip.Addr]*Receiver{}
		tx := map[netip.Addr]*Sender{}
		for _, pkt := range pkts {
			h, _, err := Parse(pkt.Payload)
			if err != nil {
				t.Fatalf("%s frame %d: %v", name, pkt.Index, err)
			}
			if h.HasSeq {
				s := tx[pkt.Src]
				if s == nil {
					// pptp-linux starts at 1, the others at 0.
					s = newSender(h.Seq, 64)
					tx[pkt.Src] = s
				}
				if seq := s.Next(); seq != h.Seq {
					t.Fatalf("%s frame %d: %v sent %d, expected %d", name, pkt.Index, pkt.Src, h.Seq, seq)
				}
				r := rx[pkt.Dst]
				if r == nil {
					r = new(Receiver)
					rx[pkt.Dst] = r
				}
				if v, _ := r.Receive(h.Seq); v != Accept {
					t.Fatalf("%s frame %d: seq %d: %v", name, pkt.Index, h.Seq, v)
				}
			}
			if h.HasAck {
				// The acknowledging side has received what it acknowledges.
				hi, ok := rx[pkt.Src].Highest()
				if !ok || SeqAfter(h.Ack, hi) {
					t.Fatalf("%s frame %d: ack %d beyond highest received %d", name, pkt.Index, h.Ack, hi)
				}
				if _, ok := tx[pkt.Dst].Ack(h.Ack); !ok {
					t.Fatalf("%s frame %d: ack %d refused", name, pkt.Index, h.Ack)
				}
			}
		}
		if len(tx) != 2 {
			t.Errorf("%s: %d sending sides, want 2", name, len(tx))
		}
		for addr, s := range tx {
			if s.Stats.BadAcks != 0 || s.Stats.Acked == 0 {
				t.Errorf("%s: %v: %+v", name, addr, s.Stats)
			}
		}
		for addr, r := range rx {
			if r.Stats.Lost+r.Stats.Duplicate+r.Stats.Old != 0 {
				t.Errorf("%s: %v: %+v", name, addr, r.Stats)
			}
		}
	}
}

func BenchmarkReceive(b *testing.B) {
	var r Receiver
	var seq uint32
	b.ReportAllocs()
	for b.Loop() {
		r.Receive(seq)
		seq++
	}
}
