package datapath

import "time"

// reorderSlots bounds how far ahead of the next expected packet a packet
// may arrive and still be held: a gap wider than this is loss, not
// reordering, and waiting for it would only add latency.
const reorderSlots = 32

// DefaultReorderTimeout is how long packets wait for a missing earlier one
// before it is given up as lost. pptp-linux waits 0.3 s; reordering on real
// paths resolves in a few milliseconds, and every millisecond held is
// latency added to everything behind the gap.
const DefaultReorderTimeout = 50 * time.Millisecond

// reorder restores the order of a call's GRE packets (RFC 2637 4.3 allows
// the receiver to reorder instead of dropping). It is owned by whatever runs
// the call's receive path: one goroutine, or one worker under its lock.
type reorder struct {
	next    uint32 // sequence number expected next
	started bool
	held    int
	since   time.Time // when the oldest packet still held began waiting
	listed  bool      // in the engine's list of calls holding packets
	// slots are allocated when the call first holds a packet: most paths
	// never reorder, and a server holding thousands of calls should not
	// carry a kilobyte and more of empty slots for each. Only slots in
	// use (held > 0) are ever looked at.
	slots *[reorderSlots]reorderSlot
}

type reorderSlot struct {
	valid bool
	seq   uint32
	n     int
	buf   []byte
}

// sequence puts a packet with sequence number seq in order: delivered at
// once when it is the next expected, held when it is a little ahead, and
// dropped when it is late or a duplicate.
func (e *Engine) sequence(b *rxBatch, c *Call, seq uint32, payload []byte) {
	r := &c.ro
	if !r.started {
		// The first packet fixes where the sequence starts. Only a
		// genuine one does (see verdict), or a forged one could make the
		// genuine packets look late for 2^31 packets.
		if e.accept(b, c, payload) == genuine {
			r.started, r.next = true, seq+1
			e.acked(b, c, seq)
		}
		return
	}
	d := int32(seq - r.next)
	switch {
	case d < 0:
		c.Stats.DropSeq.Add(1) // late (its gap was given up) or duplicate
	case d == 0:
		// A forged packet with the very number expected next does not
		// take the genuine one's place.
		if e.accept(b, c, payload) != forged {
			e.acked(b, c, seq)
			r.next++
			e.drainReorder(b, c)
		}
	case d >= reorderSlots:
		// Too far ahead to wait for the gap: deliver what is held, count
		// the rest as lost, and resume from this packet, if it is
		// genuine: nothing else may move the sequence on that far.
		e.flushReorder(b, c)
		if e.accept(b, c, payload) == genuine {
			c.Stats.Lost.Add(uint64(seq - r.next))
			r.next = seq + 1
			e.acked(b, c, seq)
		}
	default:
		if r.slots == nil {
			r.slots = new([reorderSlots]reorderSlot) // once per call, only if the path reorders
		}
		s := &r.slots[seq%reorderSlots]
		if s.valid {
			c.Stats.DropSeq.Add(1) // the same packet twice
			return
		}
		if s.buf == nil {
			s.buf = make([]byte, rxBufSize) // once per slot per call, only if the path reorders
		}
		s.valid, s.seq, s.n = true, seq, copy(s.buf, payload)
		if r.held == 0 {
			r.since = b.now
		}
		r.held++
		if !r.listed {
			r.listed = true
			b.holding = append(b.holding, c)
		}
	}
}

// drainReorder delivers held packets that are next in order.
func (e *Engine) drainReorder(b *rxBatch, c *Call) {
	r := &c.ro
	for r.held > 0 {
		s := &r.slots[r.next%reorderSlots]
		if !s.valid || s.seq != r.next {
			return
		}
		s.valid = false
		r.held--
		c.Stats.Reordered.Add(1)
		e.accept(b, c, s.buf[:s.n])
		e.acked(b, c, s.seq)
		r.next++
	}
}

// flushReorder delivers every held packet in order, counting the gaps
// between them as lost.
func (e *Engine) flushReorder(b *rxBatch, c *Call) {
	r := &c.ro
	base := r.next
	for i := uint32(0); i < reorderSlots && r.held > 0; i++ {
		seq := base + i
		s := &r.slots[seq%reorderSlots]
		if !s.valid || s.seq != seq {
			continue // not held, or delivered by an earlier drain
		}
		c.Stats.Lost.Add(uint64(seq - r.next))
		r.next = seq
		e.drainReorder(b, c)
	}
}

// expireReorder gives up the gap in front of packets that waited longer
// than the reorder timeout. It reports whether the call still holds
// packets.
func (e *Engine) expireReorder(b *rxBatch, c *Call) bool {
	r := &c.ro
	for r.held > 0 && b.now.Sub(r.since) >= e.reorderTimeout {
		// Skip to the first held packet and deliver from there.
		for i := uint32(0); i < reorderSlots; i++ {
			s := &r.slots[(r.next+i)%reorderSlots]
			if s.valid && s.seq == r.next+i {
				c.Stats.Lost.Add(uint64(i))
				r.next += i
				break
			}
		}
		e.drainReorder(b, c)
		r.since = b.now
	}
	if r.held == 0 {
		r.listed = false
		return false
	}
	return true
}

// reorderDeadline returns when the receive loop must wake up at the latest
// to expire held packets, or the zero time when none are held.
func (e *Engine) reorderDeadline(b *rxBatch) time.Time {
	var d time.Time
	for _, c := range b.holding {
		t := c.ro.since.Add(e.reorderTimeout)
		if d.IsZero() || t.Before(d) {
			d = t
		}
	}
	return d
}
