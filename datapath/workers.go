package datapath

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Workers spread the calls over several goroutines, and so over cores,
// when Config.Workers is above one. Each call belongs to one receive
// worker and one send worker, chosen by its Call ID; a worker's state,
// and so its calls' per-direction state, is only touched under the
// worker's lock, and its packets are processed in the order they were
// read, so each call's packets keep their order as with one goroutine per
// direction.
//
// Receive: each GRE socket's reader reads a batch and sorts the packets
// by worker. Packets of a worker go into one of its chunks (a copy), and
// the worker's goroutine runs the receive path (steps 2 to 8 of the
// package comment) on the chunk, writing to the TUN device itself. Send:
// the TUN reader routes each packet to its call and hands it to the
// call's send worker in the same way, which encapsulates and sends.
//
// A batch whose packets all belong to the worker of the reader's previous
// batch, when that worker is idle (nothing queued, lock free), is
// processed by the reader itself under the worker's lock, without a copy
// or a hand-off: that is a single busy call, which gains nothing from a
// second goroutine and would pay a wake-up per batch. Batches that span
// workers, batches for a worker that is busy, and a batch for another
// worker than the previous one (calls taking turns, as TCP streams of
// several sessions do in the TUN device's reads) are handed over, so that
// busy calls on different workers run at once.
//
// Each worker owns a few chunks. A reader that finds none free waits for
// one: the worker is behind, and the wait pushes back into the socket's
// receive buffer or the TUN device's queue, where the kernel drops what
// does not fit, as it does when a single goroutine processes everything.
// Workers never wait for readers, so this cannot deadlock.

// chunksPerWorker is how many batches may be in flight to one worker;
// a reader's batch is often a single packet.
const chunksPerWorker = 8

// rxChunk is a batch of received packets for one worker.
type rxChunk struct {
	bufs  [][]byte
	sizes []int
	srcs  []netip.Addr // senders, for packets from an IPv6 socket
	v6    []bool       // from an IPv6 socket
	n     int
}

// lane is what the readers and one worker share: the worker's chunks,
// free or handed over, and the lock held while the worker's calls are
// processed, by the worker or by a reader.
type lane[C any] struct {
	in   chan *C // buffered for every chunk: sends never block
	free chan *C
	// pending counts chunks handed over and not yet processed; a reader
	// may process a batch itself only when it is zero, or the batch
	// would overtake them.
	pending atomic.Int32
	mu      sync.Mutex
}

func (l *lane[C]) init(chunks []*C) {
	l.in, l.free = make(chan *C, len(chunks)), make(chan *C, len(chunks))
	for _, c := range chunks {
		l.free <- c
	}
}

// tryIdle locks the lane if no chunk is pending and nobody holds it; the
// caller then processes its batch in place and unlocks.
func (l *lane[C]) tryIdle() bool {
	if !l.mu.TryLock() {
		return false
	}
	if l.pending.Load() != 0 {
		l.mu.Unlock()
		return false
	}
	return true
}

// take returns a free chunk, waiting while the worker is behind.
func (l *lane[C]) take() *C { return <-l.free }

// hand gives a filled chunk to the worker.
func (l *lane[C]) hand(c *C) {
	l.pending.Add(1)
	l.in <- c
}

// processed is the worker's account of a handed chunk, under mu.
func (l *lane[C]) processed() { l.pending.Add(-1) }

type rxWorker struct {
	lane[rxChunk]
	b        *rxBatch
	ackW     [2]*BatchWriter
	byFamily [2][]Message
	timer    *time.Timer // wakes the worker to release held packets
	deadline time.Time   // what timer is set to
}

// txChunk is a batch of IP packets from the TUN device for one worker,
// each at Headroom in its buffer.
type txChunk struct {
	bufs  [][]byte
	sizes []int
	calls []*Call
	n     int
}

type txWorker struct {
	lane[txChunk]
	tx *txState
}

// makeWorkers makes the engine's k workers of each side, with send chunks
// of txBatch packets (the TUN device's batch); Run starts them.
func (e *Engine) makeWorkers(k int, txBatch int) {
	e.rxw = make([]*rxWorker, k)
	e.txw = make([]*txWorker, k)
	for i := range k {
		rw := &rxWorker{b: newRxBatch(), timer: time.NewTimer(time.Hour)}
		rw.timer.Stop()
		for f, s := range e.socks {
			if s != nil {
				rw.ackW[f] = s.NewWriter(batchSize)
			}
			rw.byFamily[f] = make([]Message, 0, batchSize)
		}
		tw := &txWorker{tx: e.newTxState(txBatch)}
		rcs, tcs := make([]*rxChunk, chunksPerWorker), make([]*txChunk, chunksPerWorker)
		for c := range chunksPerWorker {
			rcs[c] = &rxChunk{bufs: makeBufs(batchSize, rxBufSize), sizes: make([]int, batchSize),
				srcs: make([]netip.Addr, batchSize), v6: make([]bool, batchSize)}
			tcs[c] = &txChunk{bufs: makeBufs(txBatch, Headroom+rxBufSize), sizes: make([]int, txBatch), calls: make([]*Call, txBatch)}
		}
		rw.init(rcs)
		tw.init(tcs)
		e.rxw[i], e.txw[i] = rw, tw
	}
}

// workerOf is the worker of the call with Call ID id.
func (e *Engine) workerOf(id uint16) int {
	return int(id) % len(e.rxw)
}

// callIDOf reads the Call ID of a packet as a socket of the family v6
// received it, without checking more than needed to find it; a packet
// too short for one gets 0 (any worker counts it as malformed).
func callIDOf(pkt []byte, v6 bool) uint16 {
	off := 0
	if !v6 {
		if len(pkt) < 20 {
			return 0
		}
		off = int(pkt[0]&0x0f) * 4
	}
	if len(pkt) < off+8 {
		return 0
	}
	return uint16(pkt[off+6])<<8 | uint16(pkt[off+7])
}

// single returns the one worker all of ws names, or -1 when they name
// several (entries below zero are skipped; none at all is -1 too).
func single(ws []int) int {
	w := -1
	for _, x := range ws {
		switch {
		case x < 0:
		case w < 0:
			w = x
		case x != w:
			return -1
		}
	}
	return w
}

// rxBatchIn is a socket reader's batch on its way to the workers.
type rxBatchIn struct {
	bufs  [][]byte
	sizes []int
	srcs  []netip.Addr
	ws    []int      // each packet's worker, -1 for none
	cur   []*rxChunk // the chunk being filled for each worker
	last  int        // the worker of the previous batch, -1 for several
}

func (e *Engine) newRxBatchIn() *rxBatchIn {
	return &rxBatchIn{bufs: makeBufs(batchSize, rxBufSize), sizes: make([]int, batchSize),
		srcs: make([]netip.Addr, batchSize), ws: make([]int, batchSize), cur: make([]*rxChunk, len(e.rxw)), last: -1}
}

// dispatchLoop reads socket s and hands the packets to the receive
// workers.
func (e *Engine) dispatchLoop(s *GRESocket) error {
	in := e.newRxBatchIn()
	r := s.NewReader(in.bufs)
	for {
		n, err := r.Read(in.sizes)
		if err != nil {
			if closed(err) {
				return nil
			}
			e.log.Warn("GRE receive failed", "err", err)
			time.Sleep(10 * time.Millisecond) // a persistent error must not spin
			continue
		}
		for i := 0; i < n; i++ {
			in.srcs[i] = netip.Addr{}
			if s.v6 {
				in.srcs[i] = r.Src(i)
			}
		}
		e.dispatch(in, n, s.v6)
	}
}

// dispatch gives the n packets read into in, from a socket of the family
// v6, to their workers: processed here when they all belong to the
// previous batch's worker and it is idle, handed over in chunks otherwise.
func (e *Engine) dispatch(in *rxBatchIn, n int, v6 bool) {
	for i := 0; i < n; i++ {
		in.ws[i] = -1
		if in.sizes[i] < 0 {
			e.Counters.Truncated.Add(1)
			continue
		}
		in.ws[i] = e.workerOf(callIDOf(in.bufs[i][:in.sizes[i]], v6))
	}
	w, last := single(in.ws[:n]), in.last
	in.last = w
	if w >= 0 && w == last {
		if rw := e.rxw[w]; rw.tryIdle() {
			e.rxProcess(rw, in.bufs[:n], in.sizes[:n], in.srcs[:n], v6)
			rw.mu.Unlock()
			return
		}
	}
	for i := 0; i < n; i++ {
		w := in.ws[i]
		if w < 0 {
			continue
		}
		ch := in.cur[w]
		if ch == nil {
			ch = e.rxw[w].take()
			ch.n = 0
			in.cur[w] = ch
		}
		k := ch.n
		ch.sizes[k] = copy(ch.bufs[k], in.bufs[i][:in.sizes[i]])
		ch.v6[k], ch.srcs[k] = v6, in.srcs[i]
		ch.n++
	}
	for w, ch := range in.cur {
		if ch != nil {
			e.rxw[w].hand(ch)
			in.cur[w] = nil
		}
	}
}

// rxProcess runs the receive path on packets of w's calls (all from a
// socket of the family v6 when the slices come from a reader, or each of
// the family ch.v6 says from a chunk) and sends the acks owed. w.mu must
// be held.
func (e *Engine) rxProcess(w *rxWorker, bufs [][]byte, sizes []int, srcs []netip.Addr, v6 bool) {
	b := w.b
	b.now = time.Now()
	b.tunOut = b.tunOut[:0]
	for i := range bufs {
		if sizes[i] >= 0 {
			e.receivePacket(b, bufs[i][:sizes[i]], v6, srcs[i])
		}
	}
	e.rxFinish(w)
}

// rxFinish ends a batch of w's (endBatch), sends the ack-only packets
// owed and sets w's timer for the packets held. w.mu must be held.
func (e *Engine) rxFinish(w *rxWorker) {
	b := w.b
	e.endBatch(b)
	for _, m := range b.ackMsgs {
		f := family(m.Dst.Is6())
		w.byFamily[f] = append(w.byFamily[f], m)
	}
	for f, aw := range w.ackW {
		if aw != nil && len(w.byFamily[f]) > 0 {
			if err := aw.Write(w.byFamily[f]); err != nil && !closed(err) {
				e.log.Debug("GRE ack send failed", "err", err)
			}
		}
		clear(w.byFamily[f])
		w.byFamily[f] = w.byFamily[f][:0]
	}
	// Wake up in time to release packets held for reordering even when
	// nothing else arrives.
	if d := e.reorderDeadline(b); !d.Equal(w.deadline) {
		w.deadline = d
		if d.IsZero() {
			w.timer.Stop()
		} else {
			w.timer.Reset(time.Until(d))
		}
	}
}

// rxWorkerLoop processes the chunks handed to worker w, and releases its
// calls' held packets in time, until its input is closed.
func (e *Engine) rxWorkerLoop(w *rxWorker) {
	defer w.timer.Stop()
	for {
		select {
		case ch, ok := <-w.in:
			if !ok {
				return
			}
			w.mu.Lock()
			b := w.b
			b.now = time.Now()
			b.tunOut = b.tunOut[:0]
			for i := 0; i < ch.n; i++ {
				e.receivePacket(b, ch.bufs[i][:ch.sizes[i]], ch.v6[i], ch.srcs[i])
			}
			e.rxFinish(w)
			w.processed()
			w.mu.Unlock()
			w.free <- ch // after rxFinish: raw calls were handed slices of it
		case <-w.timer.C:
			w.mu.Lock()
			w.deadline = time.Time{} // the timer has fired: set it again if needed
			w.b.now = time.Now()
			w.b.tunOut = w.b.tunOut[:0]
			e.rxFinish(w)
			w.mu.Unlock()
		}
	}
}

// txBatchIn is the TUN reader's state for handing batches to the send
// workers.
type txBatchIn struct {
	ws   []int      // each packet's worker, -1 for none
	cur  []*txChunk // the chunk being filled for each worker
	last int        // the worker of the previous batch, -1 for several
}

func (e *Engine) newTxBatchIn(n int) *txBatchIn {
	return &txBatchIn{ws: make([]int, n), cur: make([]*txChunk, len(e.txw)), last: -1}
}

// dispatchTx gives the packets read from the TUN device (each at Headroom
// in bufs[i], sizes[i] long, for calls[i] or for none when nil) to their
// send workers, as dispatch does for received packets. It returns an
// error only when a socket was closed.
func (e *Engine) dispatchTx(in *txBatchIn, bufs [][]byte, sizes []int, calls []*Call) error {
	for i, c := range calls {
		in.ws[i] = -1
		if c != nil {
			in.ws[i] = e.workerOf(c.cfg.LocalID)
		}
	}
	n := len(calls)
	w, last := single(in.ws[:n]), in.last
	in.last = w
	if w >= 0 && w == last {
		if tw := e.txw[w]; tw.tryIdle() {
			err := e.transmit(tw.tx, bufs, sizes, calls)
			tw.mu.Unlock()
			return err
		}
	}
	for i := range n {
		w := in.ws[i]
		if w < 0 {
			continue
		}
		ch := in.cur[w]
		if ch == nil {
			ch = e.txw[w].take()
			ch.n = 0
			in.cur[w] = ch
		}
		k := ch.n
		ch.sizes[k] = copy(ch.bufs[k][Headroom:], bufs[i][Headroom:Headroom+sizes[i]])
		ch.calls[k] = calls[i]
		ch.n++
	}
	for w, ch := range in.cur {
		if ch != nil {
			e.txw[w].hand(ch)
			in.cur[w] = nil
		}
	}
	return nil
}

// txWorkerLoop sends the packets handed to worker w until its input is
// closed.
func (e *Engine) txWorkerLoop(w *txWorker) {
	for ch := range w.in {
		w.mu.Lock()
		e.transmit(w.tx, ch.bufs[:ch.n], ch.sizes[:ch.n], ch.calls[:ch.n])
		w.processed()
		w.mu.Unlock()
		clear(ch.calls[:ch.n])
		w.free <- ch
	}
}
