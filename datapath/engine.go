// Package datapath moves IP packets between a TUN device and PPTP calls
// over raw GRE sockets, one per address family of the underlay, for any
// number of calls.
//
// Receive (network to TUN), one goroutine per socket, in this order per
// batch:
//
//  1. recvmmsg a batch of GRE packets from the socket: with the IPv4
//     header on an IPv4 socket; from the GRE header on an IPv6 one, the
//     sender given apart by recvmmsg.
//  2. Per packet: check the IPv4 header if any and the enhanced GRE
//     header, find the call by our Call ID (the GRE key) and check the
//     sender is the call's peer. A call's peer has one family, so only
//     one receive goroutine ever gets past this point for a call (with
//     workers, the call's worker, which takes packets from every socket).
//  3. Apply the acknowledgement to the call's send window (this may release
//     packets queued while the peer's window was full).
//  4. Check the sequence number: in order or after a gap (loss) is
//     accepted, duplicates and late packets dropped (RFC 2637 4.3).
//  5. Split the PPP frame: MPPE is decrypted straight into a TUN buffer, so
//     the IP packet lands at the TUN offset with no copy; plain IP is copied
//     there; every other protocol goes to the call's session.
//  6. Check the IP packet (network phase up, source address: the peer's
//     tunnel address or routed subnets for IPv4, its /64 or link-local
//     address for IPv6), count it; IPv6 router messages go to the call's
//     ND handler instead of the TUN device.
//  7. Write the batch to the TUN device (which may coalesce TCP segments).
//  8. Acknowledge: acks normally ride on the next packet we send the peer;
//     a call with ackEvery packets unacknowledged and no data going back
//     gets an ack-only packet now (all such calls in one sendmmsg), others
//     a delayed-ack timer.
//
// Send (TUN to network), one goroutine, per batch:
//
//  1. Read a batch from the TUN device (segmented by the device if the
//     kernel handed us a TSO super-packet).
//  2. Per packet: find the call by destination address, or the /64 for
//     IPv6 (the server), or take the only call (the client).
//  3. Under the call's send lock: write the PPP protocol, MPPE-encrypt in
//     place, write the PPP and GRE headers into the headroom in front of
//     the packet, number it, and piggyback the acknowledgement owed.
//  4. sendmmsg the batch, the packets to IPv4 and to IPv6 peers each
//     through the socket of their family.
//
// With Config.Workers above one (the server's default on a machine with
// several CPUs), the readers only read and sort packets by call, and the
// steps after them run on that many workers per direction, each call on
// one worker of each (workers.go): calls spread over the cores while each
// call's packets keep their order.
//
// Steps 3 of the send side and 3 of the receive side are the only places
// where the two directions meet, on a per-call lock; the per-packet path
// takes no global lock and allocates nothing. Control frames from sessions
// go out one at a time through a small shared writer.
package datapath

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/gopptp/gopptp/gre"
	"github.com/gopptp/gopptp/mppe"
	"github.com/gopptp/gopptp/nd"
	"github.com/gopptp/gopptp/ppp"
)

// Headroom is the space kept in front of each IP packet read from the TUN
// device for the PPP, MPPE and GRE headers (24 bytes at most).
const Headroom = 64

// Overhead is what a tunnelled IP packet gains on the way out over an IPv4
// underlay: the outer IPv4 header (20), enhanced GRE with sequence and ack
// numbers (16), the PPP address, control and protocol fields (4), the MPPE
// header and the inner protocol field (4).
const Overhead = 44

// Overhead6 is Overhead over an IPv6 underlay, whose header is 40 bytes
// instead of 20.
const Overhead6 = Overhead + 20

// TunnelMTU is the largest IP packet that fits a tunnel to peer over a
// link with MTU linkMTU without fragmenting the GRE packet, within the
// bounds PPP and IPv4 allow. The peer's family decides the outer header.
func TunnelMTU(linkMTU int, peer netip.Addr) int {
	o := Overhead
	if peer.Unmap().Is6() {
		o = Overhead6
	}
	return min(max(linkMTU-o, 576), 1500)
}

// tunOffset is where an IP packet starts in a TUN write buffer: room for
// the virtio-net header the offload-capable device wants in front.
const tunOffset = 32

const (
	batchSize = 64
	rxBufSize = 4096 // a GRE packet carrying a full-size PPP frame fits
	// tunBufSize leaves room for the TUN device to coalesce TCP segments
	// into one large write (GRO).
	tunBufSize = 65536
)

// Config configures an engine.
type Config struct {
	// GRE are the raw GRE sockets, one per address family the peers
	// use (a server listening on all addresses has an IPv4 and an IPv6
	// one). Every socket is read; a packet leaves through the first
	// socket of its destination's family. The engine closes them when
	// Run returns.
	GRE []*GRESocket
	// TUN is the device IP packets come from and go to; nil when every
	// call has its own DeliverIP (a load generator).
	TUN tun.Device
	// CheckSource drops IP packets from a call whose source address is
	// not the tunnel address assigned to it (the server's anti-spoofing).
	CheckSource bool
	// DefaultCall sends every packet read from the TUN device to the one
	// call that is up, whatever its destination (the client).
	DefaultCall bool
	// ReorderTimeout is how long out-of-order packets wait for a missing
	// one (default DefaultReorderTimeout).
	ReorderTimeout time.Duration
	// Workers is how many goroutines of each direction process the
	// calls' packets (see workers.go); each call belongs to one of them,
	// chosen by its Call ID. 0 or 1: the socket and TUN readers process
	// the packets themselves, which suits a single call best.
	Workers int
	Log     *slog.Logger
}

// Counters of packets the engine could not give to any call.
type Counters struct {
	Malformed   atomic.Uint64 // not a valid (IPv4 +) enhanced GRE packet
	UnknownCall atomic.Uint64 // no call with that Call ID
	WrongPeer   atomic.Uint64 // the Call ID exists but belongs to another peer
	Truncated   atomic.Uint64 // larger than our receive buffer
	NoRoute     atomic.Uint64 // from the TUN device to no call
	SendDropped atomic.Uint64 // refused by the kernel when sending
}

// Engine is the data plane shared by all calls of a server or client.
type Engine struct {
	cfg            Config
	log            *slog.Logger
	reorderTimeout time.Duration
	calls          [1 << 16]atomic.Pointer[Call]
	routes         addrTable
	routes6        prefix6Table
	defCall        atomic.Pointer[Call]
	Counters       Counters

	// socks are the sending sockets by family (index 1: IPv6).
	socks  [2]*GRESocket
	ctlMu  sync.Mutex
	ctlW   [2]*BatchWriter
	ctlMsg [1]Message
	send   sendFunc

	// rxw and txw are the workers when Config.Workers > 1.
	rxw []*rxWorker
	txw []*txWorker
}

// NewEngine returns an engine over cfg's socket and device.
func NewEngine(cfg Config) *Engine {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ReorderTimeout <= 0 {
		cfg.ReorderTimeout = DefaultReorderTimeout
	}
	e := &Engine{cfg: cfg, log: cfg.Log, reorderTimeout: cfg.ReorderTimeout}
	for _, s := range cfg.GRE {
		if s != nil && e.socks[family(s.v6)] == nil {
			e.socks[family(s.v6)] = s
			e.ctlW[family(s.v6)] = s.NewWriter(1)
		}
	}
	if cfg.Workers > 1 {
		bs := batchSize
		if cfg.TUN != nil {
			bs = cfg.TUN.BatchSize()
		}
		e.makeWorkers(cfg.Workers, bs)
	}
	return e
}

// family is the index of an address family in Engine.socks.
func family(v6 bool) int {
	if v6 {
		return 1
	}
	return 0
}

// sendFunc, when set, replaces the socket for packets sent one at a time
// (tests run engines without sockets).
type sendFunc func(pkt []byte, dst netip.Addr)

func (e *Engine) setSend(f sendFunc) {
	e.send = f
}

// ErrCallIDInUse is returned by AddCall for a Call ID already taken.
var ErrCallIDInUse = errors.New("datapath: call ID in use")

// AddCall registers a call; GRE packets for its Call ID from its peer are
// processed from now on.
func (e *Engine) AddCall(cfg CallConfig) (*Call, error) {
	c := newCall(e, cfg)
	if !e.calls[cfg.LocalID].CompareAndSwap(nil, c) {
		return nil, ErrCallIDInUse
	}
	return c, nil
}

// RemoveCall unregisters a call; packets for it are dropped from now on.
func (e *Engine) RemoveCall(c *Call) {
	c.removed.Store(true)
	c.netUp.Store(false)
	e.calls[c.cfg.LocalID].CompareAndSwap(c, nil)
	e.defCall.CompareAndSwap(c, nil)
	e.routes.removeCall(c)
	e.routes.removePrefixes(c)
	c.net6Up.Store(false)
	if hi := c.prefix6.Load(); hi != 0 {
		e.routes6.remove(hi, c)
	}
	e.routes6.removePrefixes(c)
	c.stopTimers()
}

// Call returns the call registered under id, or nil.
func (e *Engine) Call(id uint16) *Call { return e.calls[id].Load() }

func (e *Engine) routeAdd(c *Call, peer netip.Addr) {
	if e.cfg.DefaultCall {
		e.defCall.Store(c)
		return
	}
	e.routes.add(peer, c)
}

func (e *Engine) routeDel(c *Call, peer netip.Addr) {
	if e.cfg.DefaultCall {
		e.defCall.CompareAndSwap(c, nil)
		return
	}
	e.routes.remove(peer, c)
	e.routes.removePrefixes(c)
	c.subnets.Store(nil)
}

// sendOne sends one packet outside the batched paths (control frames,
// delayed acks, queued packets).
func (e *Engine) sendOne(pkt []byte, dst, src netip.Addr) {
	if e.send != nil {
		e.send(pkt, dst)
		return
	}
	w := e.ctlW[family(dst.Is6())]
	if w == nil {
		e.Counters.SendDropped.Add(1) // no socket for the peer's family
		return
	}
	e.ctlMu.Lock()
	e.ctlMsg[0] = Message{Buf: pkt, Dst: dst, Src: src}
	err := w.Write(e.ctlMsg[:])
	e.ctlMsg[0] = Message{}
	e.ctlMu.Unlock()
	if err != nil && !errors.Is(err, os.ErrClosed) {
		e.log.Debug("GRE send failed", "dst", dst, "err", err)
	}
}

// Run moves packets until ctx ends or the socket fails, then closes the
// socket and the device.
func (e *Engine) Run(ctx context.Context) error {
	errc := make(chan error, len(e.cfg.GRE)+1)
	var readers, workers sync.WaitGroup
	for _, s := range e.cfg.GRE {
		if s == nil {
			continue
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			if e.rxw != nil {
				errc <- e.dispatchLoop(s)
			} else {
				errc <- e.receiveLoop(s)
			}
		}()
	}
	if e.cfg.TUN != nil {
		readers.Add(1)
		go func() {
			defer readers.Done()
			errc <- e.sendLoop()
		}()
	}
	for i := range e.rxw {
		workers.Add(2)
		go func() { defer workers.Done(); e.rxWorkerLoop(e.rxw[i]) }()
		go func() { defer workers.Done(); e.txWorkerLoop(e.txw[i]) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	for _, s := range e.cfg.GRE {
		if s != nil {
			s.Close()
		}
	}
	if e.cfg.TUN != nil {
		e.cfg.TUN.Close()
	}
	readers.Wait()
	// The readers are gone: nothing sends to the workers any more.
	for i := range e.rxw {
		close(e.rxw[i].in)
		close(e.txw[i].in)
	}
	workers.Wait()
	return err
}

func closed(err error) bool {
	return errors.Is(err, os.ErrClosed)
}

// rxBatch is the working set of a receive goroutine or worker, allocated
// once.
type rxBatch struct {
	tunBufs [][]byte
	tunOut  [][]byte
	touched []*Call
	ackBufs [][gre.MaxHeaderLen]byte
	ackMsgs []Message
	holding []*Call // calls with packets in their reorder queue
	now     time.Time
}

func newRxBatch() *rxBatch {
	return &rxBatch{
		// One batch can release a full reorder queue on top of its own
		// packets.
		tunBufs: makeBufs(batchSize+reorderSlots, tunBufSize), tunOut: make([][]byte, 0, batchSize+reorderSlots),
		touched: make([]*Call, 0, batchSize), ackBufs: make([][gre.MaxHeaderLen]byte, batchSize),
		ackMsgs: make([]Message, 0, batchSize),
	}
}

// makeBufs returns n buffers of size bytes each.
func makeBufs(n, size int) [][]byte {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	return bufs
}

// receiveLoop reads socket s; each socket has its own loop and batch,
// and acknowledgements go back through the socket the packets came from.
func (e *Engine) receiveLoop(s *GRESocket) error {
	b := newRxBatch()
	bufs, sizes := makeBufs(batchSize, rxBufSize), make([]int, batchSize)
	r := s.NewReader(bufs)
	ackW := s.NewWriter(batchSize)
	var deadline time.Time
	for {
		// Wake up in time to release packets held for reordering even
		// when nothing else arrives.
		if d := e.reorderDeadline(b); !d.Equal(deadline) {
			deadline = d
			s.file.SetReadDeadline(d)
		}
		n, err := r.Read(sizes)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			if closed(err) {
				return nil
			}
			e.log.Warn("GRE receive failed", "err", err)
			time.Sleep(10 * time.Millisecond) // a persistent error must not spin
			continue
		}
		b.now = time.Now()
		b.tunOut = b.tunOut[:0]
		for i := 0; i < n; i++ {
			if sizes[i] < 0 {
				e.Counters.Truncated.Add(1)
				continue
			}
			var src netip.Addr
			if s.v6 {
				src = r.Src(i)
			}
			e.receivePacket(b, bufs[i][:sizes[i]], s.v6, src)
		}
		e.endBatch(b)
		if err := ackW.Write(b.ackMsgs); err != nil && !closed(err) {
			e.log.Debug("GRE ack send failed", "err", err)
		}
	}
}

// receivePacket handles one packet as a socket of the family v6 gave it:
// from the IPv4 header on an IPv4 socket, from the GRE header with the
// sender src on an IPv6 one.
func (e *Engine) receivePacket(b *rxBatch, pkt []byte, v6 bool, src netip.Addr) {
	if v6 {
		e.receiveGRE(b, pkt, src)
	} else {
		e.receive(b, pkt)
	}
}

// endBatch finishes a receive batch (steps 7 and 8 above): packets held
// too long for reordering are released, the IP packets go to the TUN
// device, and the ack-only packets owed are left in b.ackMsgs.
func (e *Engine) endBatch(b *rxBatch) {
	if len(b.holding) > 0 {
		kept := b.holding[:0]
		for _, c := range b.holding {
			if e.expireReorder(b, c) {
				kept = append(kept, c)
			}
		}
		clear(b.holding[len(kept):])
		b.holding = kept
	}
	e.flushTUN(b)
	e.ackTouched(b)
}

// ackTouched decides, at the end of a receive batch, how each call that
// received data acknowledges it (step 8 above): the ack-only packets to
// send now go into b.ackMsgs, the other calls get the delayed-ack timer.
func (e *Engine) ackTouched(b *rxBatch) {
	b.ackMsgs = b.ackMsgs[:0]
	for i, c := range b.touched {
		c.ackMarked = false
		// Data going back since the last batch means the
		// acknowledgement will most likely ride on the next
		// packet too: an ack-only packet would only duplicate it.
		ridden := c.ridden.Load()
		reverse := ridden != c.riddenAt
		c.riddenAt = ridden
		if c.unacked.Load() >= ackEvery && !reverse {
			if pkt := c.appendAck(b.ackBufs[i][:]); pkt != nil {
				b.ackMsgs = append(b.ackMsgs, Message{Buf: pkt, Dst: c.cfg.Peer, Src: c.cfg.Local})
			}
		} else {
			c.armAck()
		}
		b.touched[i] = nil
	}
	b.touched = b.touched[:0]
}

// receive handles one packet from an IPv4 GRE socket, IPv4 header
// included (steps 2-6 above).
func (e *Engine) receive(b *rxBatch, pkt []byte) {
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		e.Counters.Malformed.Add(1)
		return
	}
	ihl := int(pkt[0]&0x0f) * 4
	total := int(pkt[2])<<8 | int(pkt[3])
	if ihl < 20 || total < ihl || total > len(pkt) {
		e.Counters.Malformed.Add(1)
		return
	}
	e.receiveGRE(b, pkt[ihl:total], netip.AddrFrom4([4]byte(pkt[12:16])))
}

// receiveGRE handles one GRE packet from src (steps 2-6 above): what an
// IPv6 socket receives, or an IPv4 packet's payload.
func (e *Engine) receiveGRE(b *rxBatch, pkt []byte, src netip.Addr) {
	h, payload, err := gre.Parse(pkt)
	if err != nil {
		e.Counters.Malformed.Add(1)
		return
	}
	c := e.calls[h.CallID].Load()
	if c == nil {
		e.Counters.UnknownCall.Add(1)
		return
	}
	if c.cfg.Peer != src {
		e.Counters.WrongPeer.Add(1)
		return
	}
	if h.HasAck {
		c.gotAck(h.Ack)
	}
	if !h.HasSeq {
		return
	}
	if c.removed.Load() {
		return
	}
	e.sequence(b, c, h.Seq, payload)
}

// flushTUN writes the IP packets collected so far to the TUN device.
func (e *Engine) flushTUN(b *rxBatch) {
	if len(b.tunOut) > 0 && e.cfg.TUN != nil {
		if _, err := e.cfg.TUN.Write(b.tunOut, tunOffset); err != nil && !closed(err) {
			e.log.Debug("TUN write failed", "err", err)
		}
	}
	b.tunOut = b.tunOut[:0]
}

// verdict is what the receive path can tell about a packet's origin. MPPE
// has no integrity check, so anyone who knows a call ID and its peer's
// address can make packets the call will parse; only what they decrypt to
// tells them apart.
type verdict int8

const (
	// forged: not what a genuine peer sends (an encrypted frame that
	// decrypted to garbage, a malformed frame, clear IP where MPPE is
	// required). It moves nothing: no sequence number, no key.
	forged verdict = iota
	// unproven: may be genuine but proves nothing (a clear-text control
	// frame once MPPE is on, a stateful packet while resynchronising). It
	// is handled, and may take its place in sequence, but may not start
	// the sequence or make it jump.
	unproven
	// genuine: decrypted to a plausible frame, or a call without MPPE,
	// where there is nothing to prove it with.
	genuine
)

// acked records that the packet seq took its place in sequence: we
// acknowledge what we delivered, as pptp-linux does, so the peer's window
// opens only for packets that left the reorder queue.
func (e *Engine) acked(b *rxBatch, c *Call, seq uint32) {
	c.rxHighest.Store(seq)
	c.ackOwed.Store(true)
	c.unacked.Add(1)
	if !c.ackMarked {
		c.ackMarked = true
		b.touched = append(b.touched, c)
	}
}

// A forged stateless MPPE packet can claim a coherency count up to 2048
// ahead, and each count costs a key change (about a microsecond) before
// its garbage shows: a stream of them would keep the receive goroutine
// (or worker), which many calls share, busy. Once a call has seen one, it looks only
// forgedReach counts ahead until forgedQuiet has passed without another;
// meanwhile a genuine packet after a longer loss waits too, which costs
// the attacked call, not the others.
const (
	forgedReach = 64
	forgedQuiet = time.Second
)

// plausible reports whether a decrypted MPPE payload (inner protocol and
// information field) looks like something a peer sends encrypted: an IP
// packet of the right version and a length that fits, or a packet of a
// PPP control protocol that may follow CCP (pppd's kernel encrypts IPCP
// and the others, all but LCP and CCP). MPPE has no integrity check, so
// this is the only way to tell a forged packet: random bytes pass with a
// chance of about one in a million. The cost is that an encrypted packet
// of any other protocol is dropped instead of Protocol-Rejected.
func plausible(inner ppp.Protocol, ip []byte) bool {
	switch inner {
	case ppp.ProtoIPv4:
		return len(ip) >= 20 && ip[0]>>4 == 4 && ip[0]&0x0f >= 5 &&
			int(binary.BigEndian.Uint16(ip[2:])) <= len(ip)
	case ppp.ProtoIPv6:
		return len(ip) >= 40 && ip[0]>>4 == 6 && 40+int(binary.BigEndian.Uint16(ip[4:])) <= len(ip)
	case ppp.ProtoIPCP, ppp.ProtoIPV6CP, ppp.ProtoLCP, ppp.ProtoPAP, ppp.ProtoCHAP:
		_, err := ppp.ParsePacket(ip)
		return err == nil && ip[0] >= 1 && ip[0] <= 14
	}
	return false
}

// accept processes a packet in sequence (step 5 and on) and says what it
// made of it.
func (e *Engine) accept(b *rxBatch, c *Call, payload []byte) verdict {
	if c.cfg.Raw != nil {
		// pppd decrypts, not us: nothing to tell a forgery by.
		c.Stats.RxPackets.Add(1)
		c.Stats.RxBytes.Add(uint64(len(payload)))
		c.cfg.Raw(payload)
		return genuine
	}
	proto, info, err := ppp.ParseFrame(payload)
	if err != nil {
		e.Counters.Malformed.Add(1)
		return forged
	}
	if len(b.tunOut) == len(b.tunBufs) {
		// Reorder queues released more than one batch holds.
		e.flushTUN(b)
	}
	tb := b.tunBufs[len(b.tunOut)]
	rx := c.rx.Load()
	// What a frame that cannot be checked is worth: everything while
	// MPPE is off, nothing once it is on.
	clear := genuine
	if rx.dec != nil {
		clear = unproven
	}
	switch proto {
	case ppp.ProtoMPPE:
		if rx.dec == nil {
			c.Stats.DropMPPE.Add(1) // before CCP is up on our side
			return unproven
		}
		if c.guarded && b.now.Sub(c.forgedAt) > forgedQuiet {
			c.guarded = false
			rx.dec.Limit(0)
		}
		// Decrypt so that the inner protocol field sits just before
		// tunOffset and the IP packet starts exactly there.
		n, err := rx.dec.Open(tb[tunOffset-2:], info)
		if err != nil {
			c.Stats.DropMPPE.Add(1)
			switch {
			case errors.Is(err, mppe.ErrNeedReset):
				first := !c.mppeLost
				c.mppeLost = true
				c.needReset(b.now, first)
				return unproven // stateful, resynchronising
			case errors.Is(err, mppe.ErrLate):
				return unproven // reordered beyond our reach, or replayed
			}
			return forged // a header no genuine peer sends
		}
		plain := tb[tunOffset-2 : tunOffset-2+n]
		inner, ip, err := ppp.ParseFrame(plain)
		if err != nil || !plausible(inner, ip) {
			// Garbage: forged, or the keys are out of step. A stateless
			// Decrypter goes back to where it was; a stateful one waits
			// for a flushed packet, which we ask the peer for.
			c.Stats.DropMPPE.Add(1)
			c.forgedAt = b.now
			if !c.guarded {
				c.guarded = true
				rx.dec.Limit(forgedReach)
			}
			if !rx.dec.Rollback() {
				first := !c.mppeLost
				c.mppeLost = true
				c.needReset(b.now, first)
			}
			return forged
		}
		if c.mppeLost {
			// Only a flushed packet ends ErrNeedReset: the peer
			// answered our Reset-Request (or flushed by itself).
			c.mppeLost = false
			c.Stats.Resyncs.Add(1)
		}
		v6 := inner == ppp.ProtoIPv6 && c.net6Up.Load()
		if inner != ppp.ProtoIPv4 && !v6 {
			c.Stats.RxControl.Add(1)
			c.control(inner, ip)
			return genuine
		}
		if len(plain)-len(ip) == 1 { // one-octet inner protocol: shift by one
			copy(tb[tunOffset:], ip)
		}
		if v6 {
			e.deliver6(b, c, tb, len(ip))
		} else {
			e.deliver(b, c, tb, len(ip))
		}
		return genuine
	case ppp.ProtoIPv4:
		if rx.required {
			c.Stats.DropPlain.Add(1)
			return forged
		}
		n := copy(tb[tunOffset:], info)
		e.deliver(b, c, tb, n)
		return clear
	case ppp.ProtoIPv6:
		if !c.net6Up.Load() {
			// IPV6CP is not open: the session discards the packet, or
			// rejects the protocol if it does not speak IPv6.
			c.Stats.RxControl.Add(1)
			c.control(proto, info)
			return clear
		}
		if rx.required {
			c.Stats.DropPlain.Add(1)
			return forged
		}
		n := copy(tb[tunOffset:], info)
		e.deliver6(b, c, tb, n)
		return clear
	default:
		c.Stats.RxControl.Add(1)
		c.control(proto, info)
		return clear
	}
}

// deliver queues the IP packet tb[tunOffset:tunOffset+n] for the TUN
// device or hands it to the call's sink.
func (e *Engine) deliver(b *rxBatch, c *Call, tb []byte, n int) {
	ip := tb[tunOffset : tunOffset+n]
	if !c.netUp.Load() {
		c.Stats.DropNotUp.Add(1)
		return
	}
	if len(ip) < 20 || ip[0]>>4 != 4 {
		c.Stats.DropSpoof.Add(1)
		return
	}
	if src := uint32(ip[12])<<24 | uint32(ip[13])<<16 | uint32(ip[14])<<8 | uint32(ip[15]); e.cfg.CheckSource && src != c.tunnelIP.Load() && !c.routes(src) {
		c.Stats.DropSpoof.Add(1)
		return
	}
	if m := c.mss.Load(); m != 0 {
		clampMSS(ip, uint16(m))
	}
	c.Stats.RxPackets.Add(1)
	c.Stats.RxBytes.Add(uint64(n))
	if c.cfg.DeliverIP != nil {
		c.cfg.DeliverIP(ip)
		return
	}
	b.tunOut = append(b.tunOut, tb[:tunOffset+n])
}

// deliver6 is deliver for an IPv6 packet: the source must be the peer's
// link-local address or in its /64, and router messages go to the call's
// ND handler, if it has one, instead of the TUN device.
func (e *Engine) deliver6(b *rxBatch, c *Call, tb []byte, n int) {
	ip := tb[tunOffset : tunOffset+n]
	if len(ip) < 40 || ip[0]>>4 != 6 {
		c.Stats.DropSpoof.Add(1)
		return
	}
	router := nd.IsRouterMessage(ip)
	// A host may solicit before it has an address (RFC 4861 6.1.1).
	if e.cfg.CheckSource && !c.source6OK(ip[8:24]) && !(router && hi64(ip[8:24]) == 0 && lo64(ip[8:24]) == 0) {
		c.Stats.DropSpoof.Add(1)
		return
	}
	if m := c.mss.Load(); m != 0 {
		clampMSS(ip, uint16(m))
	}
	c.Stats.RxPackets.Add(1)
	c.Stats.RxBytes.Add(uint64(n))
	if router {
		if h := c.ndHandler.Load(); h != nil {
			(*h)(ip)
			return
		}
	}
	if c.cfg.DeliverIP != nil {
		c.cfg.DeliverIP(ip)
		return
	}
	b.tunOut = append(b.tunOut, tb[:tunOffset+n])
}

func (e *Engine) sendLoop() error {
	dev := e.cfg.TUN
	bs := dev.BatchSize()
	bufs, sizes := makeBufs(bs, Headroom+rxBufSize), make([]int, bs)
	calls := make([]*Call, bs)
	var tx *txState
	var in *txBatchIn
	if e.txw == nil {
		tx = e.newTxState(bs)
	} else {
		in = e.newTxBatchIn(bs)
	}
	for {
		n, err := dev.Read(bufs, sizes, Headroom)
		if err != nil && n == 0 {
			if closed(err) {
				return nil
			}
			if errors.Is(err, tun.ErrTooManySegments) {
				continue
			}
			return err
		}
		for i := 0; i < n; i++ {
			calls[i] = e.routeOut(bufs[i][Headroom : Headroom+sizes[i]])
		}
		if in == nil {
			err = e.transmit(tx, bufs[:n], sizes[:n], calls[:n])
		} else {
			err = e.dispatchTx(in, bufs[:n], sizes[:n], calls[:n])
		}
		clear(calls[:n])
		if err != nil {
			return nil // the socket was closed
		}
	}
}

// routeOut finds the call an IP packet read from the TUN device goes to
// and checks it can take it; nil (counted) when none can.
func (e *Engine) routeOut(ip []byte) *Call {
	c := e.route(ip)
	// Without IPV6CP, IPv6 (the kernel's link-local chatter) has
	// nowhere to go.
	if c == nil || !c.up(ip[0]) || e.socks[family(c.cfg.Peer.Is6())] == nil {
		e.Counters.NoRoute.Add(1)
		return nil
	}
	return c
}

// txState is a sending goroutine's working set: a batch per family, as
// the packets for IPv4 peers and for IPv6 peers leave through different
// sockets.
type txState struct {
	msgs    [2][]Message
	calls   [2][]*Call
	w       [2]*BatchWriter
	dropped [2]uint64 // what each writer had dropped, counted already
}

func (e *Engine) newTxState(n int) *txState {
	t := &txState{}
	for f, s := range e.socks {
		t.msgs[f], t.calls[f] = make([]Message, 0, n), make([]*Call, 0, n)
		if s != nil {
			t.w[f] = s.NewWriter(n)
		}
	}
	return t
}

// transmit encapsulates the IP packets in bufs (each at Headroom, sizes[i]
// long) for calls[i] and sends them (steps 3 and 4 above); a nil call
// skips its packet. It returns an error only when a socket was closed.
func (e *Engine) transmit(t *txState, bufs [][]byte, sizes []int, calls []*Call) error {
	for f := range t.msgs {
		t.msgs[f], t.calls[f] = t.msgs[f][:0], t.calls[f][:0]
	}
	for i, c := range calls {
		if c == nil {
			continue
		}
		f := family(c.cfg.Peer.Is6())
		if pkt := c.encap(bufs[i], Headroom, sizes[i]); pkt != nil {
			t.msgs[f] = append(t.msgs[f], Message{Buf: pkt, Dst: c.cfg.Peer, Src: c.cfg.Local})
			t.calls[f] = append(t.calls[f], c)
		}
	}
	var failed error
	for f, w := range t.w {
		if w == nil {
			continue
		}
		err := w.Write(t.msgs[f])
		for i, c := range t.calls[f] {
			c.sent()
			t.calls[f][i], t.msgs[f][i] = nil, Message{}
		}
		if err != nil {
			if closed(err) {
				failed = err
			} else {
				e.log.Debug("GRE send failed", "err", err)
			}
		}
		e.Counters.SendDropped.Add(w.Dropped - t.dropped[f])
		t.dropped[f] = w.Dropped
	}
	return failed
}

// route finds the call an IP packet from the TUN device goes to: by the
// destination's /64 for IPv6.
func (e *Engine) route(ip []byte) *Call {
	if len(ip) >= 40 && ip[0]>>4 == 6 {
		if c := e.defCall.Load(); c != nil {
			return c
		}
		return e.routes6.lookup(hi64(ip[24:40]))
	}
	if len(ip) < 20 || ip[0]>>4 != 4 {
		return nil
	}
	if c := e.defCall.Load(); c != nil {
		return c
	}
	return e.routes.lookup(uint32(ip[16])<<24 | uint32(ip[17])<<16 | uint32(ip[18])<<8 | uint32(ip[19]))
}
