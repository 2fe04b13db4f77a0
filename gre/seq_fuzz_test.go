package gre

import (
	"encoding/binary"
	"testing"
)

// FuzzSeqWindow drives a Sender and a Receiver with the sequence and
// acknowledgement numbers a peer controls: the script sends packets,
// acknowledges recent or arbitrary numbers, times out, and receives
// sequence numbers near or far from the last one. start is where the
// sequence begins (to cross the 2^32 wrap) and window the peer's receive
// window.
//
// The Sender must accept exactly the acknowledgements of numbers it sent
// and has not seen acknowledged (a repeat of the last one acknowledging
// nothing new), count each packet acknowledged once, keep its window
// between 1 and the peer's, never count more packets outstanding than
// sent, and allow sending exactly when fewer than a window are
// outstanding. The Receiver must deliver a number only if it is after the
// highest delivered, count every arrival in exactly one statistic, and
// owe an acknowledgement of the highest number delivered.
func FuzzSeqWindow(f *testing.F) {
	f.Add(uint32(0), uint16(64), []byte{4, 8, 1, 0, 1, 3, 3, 0, 5, 9, 2, 0, 0, 0, 7})
	f.Add(uint32(0xfffffff0), uint16(3), []byte{12, 1, 0, 3, 0, 13, 6, 1, 2, 2, 0xff, 0xff, 0xff, 0xf5})
	f.Add(uint32(1), uint16(0), []byte{0, 0, 1, 0, 1, 0, 3, 7, 0x80, 11, 0xfe})
	f.Fuzz(func(t *testing.T, start uint32, window uint16, script []byte) {
		s := newSender(start, window)
		maxWin := max(uint32(window), 1)
		var (
			next, low = start, start // the model: next to send, oldest unacknowledged
			lastAck   uint32
			hasAck    bool
			acked     uint64
			sent      uint64
		)
		var r Receiver
		var (
			highest     uint32
			started     bool
			arrivals    uint64
			accepted    uint64
			sinceTaking uint32
		)
		ack := func(a uint32) {
			wantNewly, wantOK := uint32(0), true
			switch d := a - low; {
			case hasAck && a == lastAck:
			case d < next-low:
				wantNewly = d + 1
			default:
				wantOK = false
			}
			winBefore := s.Window()
			newly, ok := s.Ack(a)
			if newly != wantNewly || ok != wantOK {
				t.Fatalf("Ack(%#x) with %#x..%#x sent: %d, %v; want %d, %v", a, low, next, newly, ok, wantNewly, wantOK)
			}
			if ok {
				if wantNewly > 0 {
					low = a + 1
				}
				lastAck, hasAck = a, true
				acked += uint64(newly)
			}
			if s.Window() < winBefore {
				t.Fatalf("Ack shrank the window from %d to %d", winBefore, s.Window())
			}
		}
		receive := func(seq uint32) {
			v, lost := r.Receive(seq)
			arrivals++
			deliver := !started || SeqAfter(seq, highest)
			if v.Accepted() != deliver {
				t.Fatalf("Receive(%#x) after %#x: %v", seq, highest, v)
			}
			if deliver {
				if started && (v == AcceptGap) != (seq != highest+1) || v == AcceptGap && lost != seq-highest-1 || v == Accept && lost != 0 {
					t.Fatalf("Receive(%#x) after %#x: %v, lost %d", seq, highest, v, lost)
				}
				highest, started = seq, true
				accepted++
				sinceTaking++
			}
			st := r.Stats
			if st.Received != accepted || st.Received+st.Duplicate+st.Old != arrivals {
				t.Fatalf("stats %+v after %d arrivals, %d accepted", st, arrivals, accepted)
			}
			if h, ok := r.Highest(); ok != started || h != highest || r.Unacked() != sinceTaking || r.AckOwed() != (sinceTaking > 0) {
				t.Fatalf("Highest %#x %v, Unacked %d; want %#x %v, %d", h, ok, r.Unacked(), highest, started, sinceTaking)
			}
		}

		for i := 0; i < len(script); {
			op := script[i]
			i++
			arg := func(n int) uint32 {
				var b [4]byte
				i += copy(b[4-n:], script[min(i, len(script)):])
				return binary.BigEndian.Uint32(b[:])
			}
			switch op % 8 {
			case 0: // send up to 1+op/8 packets, as the window allows
				for range 1 + op/8 {
					if !s.CanSend() {
						break
					}
					if seq := s.Next(); seq != next {
						t.Fatalf("Next = %#x, want %#x", seq, next)
					}
					next++
					sent++
				}
			case 1: // acknowledge a recent number
				ack(next - 1 - arg(1))
			case 2: // acknowledge any number
				ack(arg(4))
			case 3:
				winBefore := s.Window()
				s.Timeout()
				if s.Outstanding() != 0 || s.Window() > winBefore {
					t.Fatalf("after Timeout: %d outstanding, window %d (was %d)", s.Outstanding(), s.Window(), winBefore)
				}
			case 4: // receive a number near the highest
				receive(highest + uint32(int32(int8(arg(1)))))
			case 5: // receive any number
				receive(arg(4))
			case 6:
				a, ok := r.TakeAck()
				if ok != (sinceTaking > 0) || ok && a != highest || r.AckOwed() {
					t.Fatalf("TakeAck = %#x, %v with %d owed, highest %#x", a, ok, sinceTaking, highest)
				}
				sinceTaking = 0
			case 7: // send regardless of the window, as a caller may
				s.Next()
				next++
				sent++
			}
			w := s.Window()
			if w < 1 || w > maxWin || s.MaxWindow() != maxWin {
				t.Fatalf("window %d, max %d (peer's %d)", w, s.MaxWindow(), window)
			}
			if s.Outstanding() > next-low || s.CanSend() != (s.Outstanding() < w) {
				t.Fatalf("%d outstanding of %d unacknowledged, window %d, CanSend %v", s.Outstanding(), next-low, w, s.CanSend())
			}
			if s.Stats.Sent != sent || s.Stats.Acked != acked || acked > sent {
				t.Fatalf("stats %+v, want %d sent, %d acked", s.Stats, sent, acked)
			}
			if a, ok := s.LastAck(); ok != hasAck || a != lastAck {
				t.Fatalf("LastAck %#x %v, want %#x %v", a, ok, lastAck, hasAck)
			}
		}
	})
}
