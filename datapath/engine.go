// Package datapath moves IP packets between a TUN device and PPTP calls
// over one raw GRE socket, for any number of calls.
//
// Receive (network to TUN), one goroutine, in this order per batch:
//
//  1. recvmmsg a batch of GRE packets (IP header included) from the socket.
//  2. Per packet: check the IPv4 and enhanced GRE headers, find the call by
//     our Call ID (the GRE key) and check the sender is the call's peer.
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
//     a call with ackEvery packets unacknowledged gets an ack-only packet
//     now (all such calls in one sendmmsg), others a delayed-ack timer.
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
//  4. sendmmsg the batch.
//
// Steps 3 of the send side and 3 of the receive side are the only places
// where the two goroutines meet, on a per-call lock; the per-packet path
// takes no global lock and allocates nothing. Control frames from sessions
// go out one at a time through a small shared writer.
package datapath

import (
	"context"
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

// Overhead is what a tunnelled IP packet gains on the way out: the outer
// IPv4 header (20), enhanced GRE with sequence and ack numbers (16), the
// PPP address, control and protocol fields (4), the MPPE header and the
// inner protocol field (4).
const Overhead = 44

// TunnelMTU is the largest IP packet that fits a tunnel over a link with
// MTU linkMTU without fragmenting the GRE packet, within the bounds PPP
// and IPv4 allow.
func TunnelMTU(linkMTU int) int {
	return min(max(linkMTU-Overhead, 576), 1500)
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
	// GRE is the socket; the engine closes it when Run returns.
	GRE *GRESocket
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
	Log            *slog.Logger
}

// Counters of packets the engine could not give to any call.
type Counters struct {
	Malformed   atomic.Uint64 // not a valid IPv4 + enhanced GRE packet
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

	ctlMu  sync.Mutex
	ctlW   *BatchWriter
	ctlMsg [1]Message
	send   sendFunc
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
	if cfg.GRE != nil {
		e.ctlW = cfg.GRE.NewWriter(1)
	}
	return e
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
func (e *Engine) sendOne(pkt []byte, dst netip.Addr) {
	if e.send != nil {
		e.send(pkt, dst)
		return
	}
	e.ctlMu.Lock()
	e.ctlMsg[0] = Message{Buf: pkt, Dst: dst}
	err := e.ctlW.Write(e.ctlMsg[:])
	e.ctlMsg[0] = Message{}
	e.ctlMu.Unlock()
	if err != nil && !errors.Is(err, os.ErrClosed) {
		e.log.Debug("GRE send failed", "dst", dst, "err", err)
	}
}

// Run moves packets until ctx ends or the socket fails, then closes the
// socket and the device.
func (e *Engine) Run(ctx context.Context) error {
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); errc <- e.receiveLoop() }()
	if e.cfg.TUN != nil {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- e.sendLoop() }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	e.cfg.GRE.Close()
	if e.cfg.TUN != nil {
		e.cfg.TUN.Close()
	}
	wg.Wait()
	return err
}

func closed(err error) bool {
	return errors.Is(err, os.ErrClosed)
}

// rxBatch is the receive goroutine's working set, allocated once.
type rxBatch struct {
	bufs    [][]byte
	sizes   []int
	tunBufs [][]byte
	tunOut  [][]byte
	touched []*Call
	ackBufs [][gre.MaxHeaderLen]byte
	ackMsgs []Message
	holding []*Call // calls with packets in their reorder queue
	now     time.Time
}

func newRxBatch() *rxBatch {
	b := &rxBatch{
		bufs: make([][]byte, batchSize), sizes: make([]int, batchSize),
		// One batch can release a full reorder queue on top of its own
		// packets.
		tunBufs: make([][]byte, batchSize+reorderSlots), tunOut: make([][]byte, 0, batchSize+reorderSlots),
		touched: make([]*Call, 0, batchSize), ackBufs: make([][gre.MaxHeaderLen]byte, batchSize),
		ackMsgs: make([]Message, 0, batchSize),
	}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, rxBufSize)
	}
	for i := range b.tunBufs {
		b.tunBufs[i] = make([]byte, tunBufSize)
	}
	return b
}

func (e *Engine) receiveLoop() error {
	b := newRxBatch()
	r := e.cfg.GRE.NewReader(b.bufs)
	ackW := e.cfg.GRE.NewWriter(batchSize)
	var deadline time.Time
	for {
		// Wake up in time to release packets held for reordering even
		// when nothing else arrives.
		if d := e.reorderDeadline(b); !d.Equal(deadline) {
			deadline = d
			e.cfg.GRE.file.SetReadDeadline(d)
		}
		n, err := r.Read(b.sizes)
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
			if b.sizes[i] < 0 {
				e.Counters.Truncated.Add(1)
				continue
			}
			e.receive(b, b.bufs[i][:b.sizes[i]])
		}
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
		b.ackMsgs = b.ackMsgs[:0]
		for i, c := range b.touched {
			c.ackMarked = false
			if c.unacked.Load() >= ackEvery {
				if pkt := c.appendAck(b.ackBufs[i][:]); pkt != nil {
					b.ackMsgs = append(b.ackMsgs, Message{Buf: pkt, Dst: c.cfg.Peer})
				}
			} else {
				c.armAck()
			}
			b.touched[i] = nil
		}
		b.touched = b.touched[:0]
		if err := ackW.Write(b.ackMsgs); err != nil && !closed(err) {
			e.log.Debug("GRE ack send failed", "err", err)
		}
	}
}

// receive handles one packet from the GRE socket (steps 2-6 above).
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
	src := netip.AddrFrom4([4]byte(pkt[12:16]))
	h, payload, err := gre.Parse(pkt[ihl:total])
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

// accept processes a packet in sequence: acknowledgement bookkeeping, then
// the PPP frame (step 5 and on).
func (e *Engine) accept(b *rxBatch, c *Call, seq uint32, payload []byte) {
	// We acknowledge what we delivered, as pptp-linux does: the peer's
	// window opens only for packets that left the reorder queue.
	c.rxHighest.Store(seq)
	c.ackOwed.Store(true)
	c.unacked.Add(1)
	if !c.ackMarked {
		c.ackMarked = true
		b.touched = append(b.touched, c)
	}
	if c.cfg.Raw != nil {
		c.Stats.RxPackets.Add(1)
		c.Stats.RxBytes.Add(uint64(len(payload)))
		c.cfg.Raw(payload)
		return
	}
	proto, info, err := ppp.ParseFrame(payload)
	if err != nil {
		e.Counters.Malformed.Add(1)
		return
	}
	if len(b.tunOut) == len(b.tunBufs) {
		// Reorder queues released more than one batch holds.
		e.flushTUN(b)
	}
	tb := b.tunBufs[len(b.tunOut)]
	switch proto {
	case ppp.ProtoMPPE:
		rx := c.rx.Load()
		if rx.dec == nil {
			c.Stats.DropMPPE.Add(1) // before CCP is up on our side
			return
		}
		// Decrypt so that the inner protocol field sits just before
		// tunOffset and the IP packet starts exactly there.
		n, err := rx.dec.Open(tb[tunOffset-2:], info)
		if err != nil {
			c.Stats.DropMPPE.Add(1)
			if errors.Is(err, mppe.ErrNeedReset) {
				c.mppeLost = true
				c.needReset(b.now)
			}
			return
		}
		if c.mppeLost {
			// Only a flushed packet ends ErrNeedReset: the peer
			// answered our Reset-Request (or flushed by itself).
			c.mppeLost = false
			c.Stats.Resyncs.Add(1)
		}
		plain := tb[tunOffset-2 : tunOffset-2+n]
		inner, ip, err := ppp.ParseFrame(plain)
		if err != nil {
			c.Stats.DropMPPE.Add(1)
			return
		}
		v6 := inner == ppp.ProtoIPv6 && c.net6Up.Load()
		if inner != ppp.ProtoIPv4 && !v6 {
			c.Stats.RxControl.Add(1)
			c.control(inner, ip)
			return
		}
		if len(plain)-len(ip) == 1 { // one-octet inner protocol: shift by one
			copy(tb[tunOffset:], ip)
		}
		if v6 {
			e.deliver6(b, c, tb, len(ip))
			return
		}
		e.deliver(b, c, tb, len(ip))
	case ppp.ProtoIPv4:
		if c.rx.Load().required {
			c.Stats.DropPlain.Add(1)
			return
		}
		n := copy(tb[tunOffset:], info)
		e.deliver(b, c, tb, n)
	case ppp.ProtoIPv6:
		if !c.net6Up.Load() {
			// IPV6CP is not open: the session discards the packet, or
			// rejects the protocol if it does not speak IPv6.
			c.Stats.RxControl.Add(1)
			c.control(proto, info)
			return
		}
		if c.rx.Load().required {
			c.Stats.DropPlain.Add(1)
			return
		}
		n := copy(tb[tunOffset:], info)
		e.deliver6(b, c, tb, n)
	default:
		c.Stats.RxControl.Add(1)
		c.control(proto, info)
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
	bufs := make([][]byte, bs)
	for i := range bufs {
		bufs[i] = make([]byte, Headroom+rxBufSize)
	}
	sizes := make([]int, bs)
	msgs := make([]Message, 0, bs)
	calls := make([]*Call, 0, bs)
	w := e.cfg.GRE.NewWriter(bs)
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
		msgs, calls = msgs[:0], calls[:0]
		for i := 0; i < n; i++ {
			ip := bufs[i][Headroom : Headroom+sizes[i]]
			c := e.route(ip)
			// Without IPV6CP, IPv6 (the kernel's link-local chatter)
			// has nowhere to go.
			if c == nil || !c.up(ip[0]) {
				e.Counters.NoRoute.Add(1)
				continue
			}
			if pkt := c.encap(bufs[i], Headroom, sizes[i]); pkt != nil {
				msgs = append(msgs, Message{Buf: pkt, Dst: c.cfg.Peer})
				calls = append(calls, c)
			}
		}
		err = w.Write(msgs)
		for i, c := range calls {
			c.sent()
			calls[i], msgs[i] = nil, Message{}
		}
		if err != nil {
			if closed(err) {
				return nil
			}
			e.log.Debug("GRE send failed", "err", err)
		}
		e.Counters.SendDropped.Store(w.Dropped)
	}
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
