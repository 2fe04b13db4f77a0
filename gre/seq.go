package gre

import "strconv"

// SeqAfter reports whether sequence number a comes after b. Sequence
// numbers are 32 bits and wrap, so they are compared by serial number
// arithmetic (RFC 1982): a is after b if it is less than 2^31 ahead. Numbers
// exactly 2^31 apart are after neither.
func SeqAfter(a, b uint32) bool {
	return int32(a-b) > 0
}

// Verdict is what a Receiver decides about an arriving sequence number.
type Verdict uint8

// Verdicts of Receiver.Receive.
const (
	// Accept: the packet is the next expected one, or the first of the
	// session. Deliver it.
	Accept Verdict = iota + 1

	// AcceptGap: the packet is ahead of the next expected one; the
	// numbers in between are counted as lost. Deliver it.
	AcceptGap

	// DropDuplicate: the packet repeats the highest number accepted.
	DropDuplicate

	// DropOld: the packet is older than the highest number accepted, a
	// late arrival or an old duplicate. PPP cannot cope with reordering,
	// so RFC 2637 section 4.3 has it discarded.
	DropOld
)

// Accepted reports whether the packet is to be delivered.
func (v Verdict) Accepted() bool {
	return v == Accept || v == AcceptGap
}

// String names the verdict.
func (v Verdict) String() string {
	switch v {
	case Accept:
		return "accept"
	case AcceptGap:
		return "accept-gap"
	case DropDuplicate:
		return "drop-duplicate"
	case DropOld:
		return "drop-old"
	}
	return "Verdict(" + strconv.Itoa(int(v)) + ")"
}

// RecvStats counts what a Receiver has seen.
type RecvStats struct {
	Received  uint64 // packets accepted
	Lost      uint64 // sequence numbers skipped over by accepted packets
	Duplicate uint64 // packets dropped as DropDuplicate
	Old       uint64 // packets dropped as DropOld
}

// Receiver tracks the sequence numbers arriving on one call: it decides
// which packets to deliver and what to acknowledge. Its zero value is ready
// for a new call. It is not safe for concurrent use.
//
// A packet dropped as old may be one that was counted as lost when a later
// packet overtook it; Lost and Old then both count it.
type Receiver struct {
	Stats RecvStats

	started bool   // a packet has been accepted
	highest uint32 // highest sequence number accepted
	unacked uint32 // packets accepted since the last TakeAck
}

// Receive records the arrival of a packet with sequence number seq and
// tells whether to deliver it. For AcceptGap, lost is the number of
// sequence numbers skipped.
//
// The first packet is accepted whatever its number, since peers start at
// 0 (the RFC, Windows, the Linux kernel) or 1 (pptp-linux). After that,
// any number ahead of the highest accepted one by less than 2^31 is
// accepted, in keeping with the serial arithmetic of SeqAfter.
func (r *Receiver) Receive(seq uint32) (v Verdict, lost uint32) {
	switch {
	case !r.started:
		r.started = true
		v = Accept
	case seq == r.highest:
		r.Stats.Duplicate++
		return DropDuplicate, 0
	case !SeqAfter(seq, r.highest):
		r.Stats.Old++
		return DropOld, 0
	case seq == r.highest+1:
		v = Accept
	default:
		v = AcceptGap
		lost = seq - r.highest - 1
		r.Stats.Lost += uint64(lost)
	}
	r.highest = seq
	r.Stats.Received++
	r.unacked++
	return v, lost
}

// Highest returns the highest sequence number accepted, which is the
// Acknowledgment Number to send; ok is false before the first packet.
func (r *Receiver) Highest() (seq uint32, ok bool) {
	return r.highest, r.started
}

// AckOwed reports whether packets have been accepted since the last
// TakeAck, so an acknowledgement is owed to the peer. If no data packet
// is going out to carry it, the caller sends an acknowledgement-only
// packet after a short delay; the peer's window stalls without it.
func (r *Receiver) AckOwed() bool {
	return r.unacked > 0
}

// Unacked returns the number of packets accepted since the last TakeAck.
// A caller can send an acknowledgement-only packet early when this nears
// the window it advertised.
func (r *Receiver) Unacked() uint32 {
	return r.unacked
}

// TakeAck returns the acknowledgement to put into the next packet sent,
// if one is owed, and records it as sent. Used as
//
//	h.Ack, h.HasAck = rx.TakeAck()
//
// it piggybacks acknowledgements on data packets only when they tell the
// peer something new.
func (r *Receiver) TakeAck() (ack uint32, ok bool) {
	if r.unacked == 0 {
		return 0, false
	}
	r.unacked = 0
	return r.highest, true
}

// SendStats counts what a Sender has seen.
type SendStats struct {
	Sent     uint64 // sequence numbers assigned
	Acked    uint64 // packets acknowledged by the peer
	BadAcks  uint64 // acknowledgements ignored: backwards or for numbers never sent
	Timeouts uint64 // acknowledgement time-outs reported with Timeout
}

// Sender tracks the sequence numbers sent on one call and the sliding
// window of RFC 2637 section 4.2 that paces them. It is not safe for
// concurrent use.
//
// The peer advertises how many packets it will buffer in the Packet Recv.
// Window Size of its Outgoing-Call-Request or -Reply; that is the largest
// window. Following section 4.2.1 the transmit window starts at half of it
// (rounded up, at least one) and grows by one packet for every window's
// worth of packets acknowledged (4.2.3), up to the maximum. CanSend reports
// whether fewer packets than the current window await acknowledgement.
//
// Nothing is ever retransmitted. What bounds the wait for an
// acknowledgement is the adaptive time-out of section 4.4: the caller
// times the oldest outstanding packet, computing the time-out from round
// trip samples as the RFC suggests (seeded with the peer's Packet
// Processing Delay), and calls Timeout when it expires. Timeout gives up
// on the outstanding packets, so sending can resume, and halves the window
// (section 4.2.2). Without it, a peer that stops acknowledging (or that,
// like some, only piggybacks acknowledgements on its own data) would stall
// the call for good.
//
// Create a Sender with NewSender; the zero value has a window of zero and
// never lets a packet go.
type Sender struct {
	Stats SendStats

	next    uint32 // next sequence number to assign
	low     uint32 // oldest number an acknowledgement may newly cover
	base    uint32 // oldest number counted as outstanding
	lastAck uint32 // last acknowledgement accepted, valid if hasAck
	hasAck  bool

	window uint32 // current transmit window, 1..max
	max    uint32 // peer's receive window, at least 1
	credit uint32 // packets acknowledged since the window last grew
}

// NewSender returns a Sender for a call whose peer advertised the receive
// window peerWindow. Sequence numbers start at 0, as RFC 2637 requires. A
// window of 0 is treated as 1, the minimum of section 4.2.1.
func NewSender(peerWindow uint16) *Sender {
	return newSender(0, peerWindow)
}

// newSender starts the sequence at start, which tests use to replay
// captured peers that start at 1 and to cross the 2^32 wrap.
func newSender(start uint32, peerWindow uint16) *Sender {
	w := max(uint32(peerWindow), 1)
	return &Sender{
		next:   start,
		low:    start,
		base:   start,
		max:    w,
		window: (w + 1) / 2,
	}
}

// Next assigns the next sequence number and counts the packet as
// outstanding. It does not enforce the window: ask CanSend first.
func (s *Sender) Next() uint32 {
	seq := s.next
	s.next++
	s.Stats.Sent++
	// Keep the range of acknowledgeable numbers within 2^31 so it cannot
	// wrap onto itself if the peer never acknowledges anything.
	if s.next-s.low > 1<<31 {
		s.low = s.next - 1<<31
		if s.next-s.base > s.next-s.low {
			s.base = s.low
		}
	}
	return seq
}

// CanSend reports whether the window allows another packet to be sent.
func (s *Sender) CanSend() bool {
	return s.Outstanding() < s.window
}

// Outstanding returns the number of packets sent and neither acknowledged
// nor given up on by Timeout.
func (s *Sender) Outstanding() uint32 {
	return s.next - s.base
}

// Window returns the current transmit window.
func (s *Sender) Window() uint32 {
	return s.window
}

// MaxWindow returns the peer's receive window, the most the transmit
// window can grow to.
func (s *Sender) MaxWindow() uint32 {
	return s.max
}

// LastAck returns the last acknowledgement accepted; ok is false if none
// has been.
func (s *Sender) LastAck() (ack uint32, ok bool) {
	return s.lastAck, s.hasAck
}

// Ack records an Acknowledgment Number received from the peer and returns
// how many packets it newly acknowledges: all those up to and including
// ack (section 4.2.5). A repeat of the last acknowledgement acknowledges
// nothing new. An acknowledgement that goes backwards or names a number
// never sent is ignored, counted in Stats.BadAcks, and reported with ok
// false.
func (s *Sender) Ack(ack uint32) (newly uint32, ok bool) {
	if s.hasAck && ack == s.lastAck {
		return 0, true
	}
	d := ack - s.low
	if d >= s.next-s.low {
		s.Stats.BadAcks++
		return 0, false
	}
	newly = d + 1
	// Only packets sent since the last time-out count towards opening
	// the window: those before it were not "transmitted without a
	// time-out" (section 4.2.3), however late their acknowledgement.
	if since := ack - s.base; since < s.next-s.base {
		s.credit += since + 1
	}
	s.low = ack + 1
	s.lastAck, s.hasAck = ack, true
	if s.next-s.low < s.next-s.base {
		s.base = s.low
	}
	s.Stats.Acked += uint64(newly)

	if s.credit >= s.window {
		s.credit = 0
		if s.window < s.max {
			s.window++
		}
	}
	return newly, true
}

// Timeout reports that the acknowledgement time-out expired for the oldest
// outstanding packet. The Sender gives up on every outstanding packet (they
// may still be acknowledged later) and halves the window, rounding up, to
// no less than one packet. It does nothing if no packet is outstanding.
func (s *Sender) Timeout() {
	if s.Outstanding() == 0 {
		return
	}
	s.Stats.Timeouts++
	s.base = s.next
	s.window = (s.window + 1) / 2
	s.credit = 0
}
