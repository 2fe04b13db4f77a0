package datapath

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gopptp/gopptp/gre"
	"github.com/gopptp/gopptp/mppe"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/ccp"
)

// CallConfig identifies one PPTP call on the GRE socket.
type CallConfig struct {
	LocalID uint16     // our Call ID: the peer puts it in the GRE key
	PeerID  uint16     // the peer's Call ID: we put it in the GRE key
	Peer    netip.Addr // the peer's address on the underlay, IPv4 or IPv6
	// Local is our address the peer talks to (the control connection's
	// local address), the source of the GRE packets we send it. A host
	// with several addresses, common with IPv6, would otherwise answer
	// from the one the kernel prefers, which a client's connected GRE
	// socket drops. Invalid or unspecified: the kernel chooses.
	Local netip.Addr
	// PeerWindow is the peer's Packet Recv. Window Size from its
	// Outgoing-Call-Request or -Reply.
	PeerWindow uint16
	// PeerUnknown registers the call before the peer's Call ID is known:
	// a client must receive from the moment it asks for the call, because
	// the server starts LCP as soon as it answers. SetPeerCall completes
	// it.
	PeerUnknown bool
	// Control and ResetRequest stand in for an attached Handler (tests,
	// a load generator): Control receives every PPP frame that is not IP
	// data, ResetRequest is called when stateful MPPE lost
	// synchronisation. Neither may block; Control copies info if it keeps
	// it.
	Control      func(p ppp.Protocol, info []byte)
	ResetRequest func()
	// DeliverIP, when set, receives decrypted IP packets instead of the
	// engine's TUN device (a load generator's own packet sink). It must
	// not block or keep pkt.
	DeliverIP func(pkt []byte)
	// Raw, when set, receives every PPP frame of the call, in sequence
	// and exactly as the peer framed it, and the engine interprets none
	// of them: for a relay whose PPP runs elsewhere (pptp --nolaunchpppd
	// hands the frames to pppd, which does LCP, authentication and MPPE
	// itself). Frames go out with SendFrame. It must not block or keep
	// frame.
	Raw func(frame []byte)
}

// Handler is the session a call hands its control frames to: what
// session.Session provides. Both methods must not block.
type Handler interface {
	// Deliver takes a PPP frame that is not IP data; it copies info if it
	// keeps it.
	Deliver(p ppp.Protocol, info []byte)
	// ResetRequest asks for a CCP Reset-Request (stateful MPPE lost
	// synchronisation).
	ResetRequest()
}

// Stats are a call's counters, safe to read at any time.
type Stats struct {
	TxPackets, TxBytes atomic.Uint64 // IP packets and their bytes sent
	RxPackets, RxBytes atomic.Uint64 // IP packets and their bytes received
	TxControl          atomic.Uint64 // control frames sent
	RxControl          atomic.Uint64 // control frames received
	AcksSent           atomic.Uint64 // ack-only GRE packets sent
	DropWindow         atomic.Uint64 // sent packets dropped: peer window and queue full
	DropSeq            atomic.Uint64 // received packets dropped as duplicate or late
	Lost               atomic.Uint64 // sequence numbers never received
	Reordered          atomic.Uint64 // received out of order, delivered in order
	DropMPPE           atomic.Uint64 // received packets MPPE refused
	DropPlain          atomic.Uint64 // unencrypted IP received while MPPE is on
	DropNotUp          atomic.Uint64 // IP before or after the network phase
	DropSpoof          atomic.Uint64 // IP whose source is not the peer's address
	// Stateful MPPE resynchronisation (RFC 3078 section 8), which is
	// otherwise invisible: ResetsSent counts the CCP Reset-Requests asked
	// for after lost packets, Resyncs the times decryption resumed on a
	// flushed packet after such a loss, and ResetsReceived the peer's
	// Reset-Requests answered by flushing.
	ResetsSent, Resyncs, ResetsReceived atomic.Uint64
}

// Acknowledgement policy. An acknowledgement rides on the next packet we
// send the peer whenever there is one (under TCP load the reverse ACK
// stream carries them all); otherwise an ack-only packet goes out after
// ackDelay, or at the end of a receive batch once ackEvery packets are
// unacknowledged and no acknowledgement rode on our data since the
// previous batch ended. Every ack-only packet costs both hosts a trip
// through the kernel (several microseconds each), and we announce a
// 16384-packet window, so there is no hurry while reverse traffic carries
// them; ackEvery bounds the wait for peers that announce small windows
// and honour them when nothing flows back.
const (
	ackDelay = 10 * time.Millisecond
	ackEvery = 32
)

// ackTimeout is how long queued packets wait for the peer to open its
// window before the outstanding packets count as lost (RFC 2637 section
// 4.4); it exceeds pptp-linux's 0.5 s delay for acking a lone packet.
const ackTimeout = time.Second

// maxQueue bounds the packets held while the peer's window is full.
const maxQueue = 64

// Call is the data-path state of one PPTP call. The receive half is owned
// by the engine's GRE reader; the send half is guarded by txMu, held only
// for the few hundred nanoseconds of numbering and encrypting a packet.
type Call struct {
	cfg    CallConfig
	engine *Engine
	Stats  Stats

	// Shared between the halves.
	// peerID is the peer's Call ID, which a client only learns from the
	// Outgoing-Call-Reply after it registered the call; peerKnown says
	// it is set. Until then nothing is sent, not even acks.
	peerID    atomic.Uint32
	peerKnown atomic.Bool
	netUp     atomic.Bool
	mss       atomic.Uint32                 // TCP MSS clamp for SYNs both ways; 0 = off
	tunnelIP  atomic.Uint32                 // the peer's tunnel address (anti-spoofing)
	subnets   atomic.Pointer[[]prefixEntry] // routed subnets behind the peer (SetSubnets)
	ackOwed   atomic.Bool                   // received data not yet acknowledged
	unacked   atomic.Uint32                 // packets received since the last acknowledgement sent
	ackArmed  atomic.Bool                   // the delayed-ack timer is running
	ridden    atomic.Uint32                 // acknowledgements that rode on data packets (wraps)
	rxHighest atomic.Uint32                 // highest sequence number received
	rx        atomic.Pointer[rxCrypto]
	removed   atomic.Bool
	handler   atomic.Pointer[Handler] // the session, once attached
	// IPv6 (SetIPv6): net6Up says IPv6 flows; prefix6 is the upper half
	// of the session's /64 (0: link-local addresses only) and peerIID the
	// peer's interface identifier, which make up the sources it may use.
	net6Up  atomic.Bool
	prefix6 atomic.Uint64
	peerIID atomic.Uint64
	// subnets6 are the prefixes delegated to the peer (SetSubnets6).
	subnets6 atomic.Pointer[[]prefix6Route]
	// ndHandler receives the router messages the peer sends (SetNDHandler).
	ndHandler atomic.Pointer[func(ip []byte)]

	// Receive half: only the receive path touches these (the GRE
	// reader, or the call's worker under its lock).
	ro        reorder
	ackMarked bool   // already in this batch's list of calls owing an ack
	riddenAt  uint32 // ridden when the last receive batch ended
	resetSent time.Time
	mppeLost  bool // stateful MPPE lost packets: the next one decrypted is a resync
	// forgedAt is when a forged MPPE packet last arrived; while recent,
	// the stateless Decrypter looks only forgedReach counts ahead.
	forgedAt time.Time
	guarded  bool

	// Send half.
	txMu      sync.Mutex
	snd       *gre.Sender
	enc       *mppe.Encrypter
	acfc, pfc bool
	peerMRU   int
	queue     [][]byte
	// unsent counts packets the send goroutine numbered that are not yet
	// handed to the kernel. While it is non-zero nobody else may send a
	// numbered packet for the call, or it would overtake them and the
	// peer would drop them as late.
	unsent     int
	queueTimer *time.Timer
	ackTimer   *time.Timer
	scratch    []byte // control frames are built here, under txMu
}

type rxCrypto struct {
	dec      *mppe.Decrypter
	required bool // MPPE negotiated: unencrypted IP is dropped
}

func newCall(e *Engine, cfg CallConfig) *Call {
	c := &Call{cfg: cfg, engine: e, snd: gre.NewSender(cfg.PeerWindow), peerMRU: 1500}
	c.rx.Store(&rxCrypto{})
	if !cfg.PeerUnknown {
		c.peerID.Store(uint32(cfg.PeerID))
		c.peerKnown.Store(true)
	}
	return c
}

// SetPeerCall completes a call registered with PeerUnknown: the peer's Call
// ID and receive window from its Outgoing-Call-Reply.
func (c *Call) SetPeerCall(peerID, peerWindow uint16) {
	c.txMu.Lock()
	c.snd = gre.NewSender(peerWindow)
	c.peerID.Store(uint32(peerID))
	c.peerKnown.Store(true)
	if c.unsent == 0 {
		c.drainLocked()
	}
	c.txMu.Unlock()
}

// Attach hands the call's control frames to h from now on. A call may be
// registered before its session exists (the client must listen before it
// asks for the call); frames that arrive earlier go to CallConfig.Control
// if set, else they are dropped like frames on a link not yet up.
func (c *Call) Attach(h Handler) { c.handler.Store(&h) }

func (c *Call) control(p ppp.Protocol, info []byte) {
	if h := c.handler.Load(); h != nil {
		(*h).Deliver(p, info)
	} else if c.cfg.Control != nil {
		c.cfg.Control(p, info)
	}
}

// LocalID returns our Call ID.
func (c *Call) LocalID() uint16 { return c.cfg.LocalID }

// Peer returns the peer's underlay address.
func (c *Call) Peer() netip.Addr { return c.cfg.Peer }

// SetFraming records what the peer accepts (LCP ACFC, PFC and MRU).
func (c *Call) SetFraming(acfc, pfc bool, peerMRU int) {
	c.txMu.Lock()
	c.acfc, c.pfc, c.peerMRU = acfc, pfc, peerMRU
	c.txMu.Unlock()
}

// SetMPPE installs the MPPE state of both directions; a direction that is
// not On clears it.
func (c *Call) SetMPPE(send, recv ccp.Direction, sendKey, recvKey [16]byte) error {
	var enc *mppe.Encrypter
	rx := &rxCrypto{}
	if send.On {
		e, err := mppe.NewEncrypter(sendKey, mppe.Options{KeyBits: send.KeyBits, Stateless: send.Stateless})
		if err != nil {
			return err
		}
		enc = e
	}
	if recv.On {
		d, err := mppe.NewDecrypter(recvKey, mppe.Options{KeyBits: recv.KeyBits, Stateless: recv.Stateless})
		if err != nil {
			return err
		}
		rx.dec, rx.required = d, true
	}
	c.txMu.Lock()
	c.enc = enc
	c.txMu.Unlock()
	c.rx.Store(rx)
	return nil
}

// SetMSSClamp sets the largest TCP MSS a SYN may announce through the
// tunnel, in either direction (0 turns clamping off).
func (c *Call) SetMSSClamp(mss uint16) { c.mss.Store(uint32(mss)) }

// FlushMPPE makes the next encrypted packet a flushed one, answering the
// peer's CCP Reset-Request.
func (c *Call) FlushMPPE() {
	c.txMu.Lock()
	if c.enc != nil {
		c.enc.Flush()
		c.Stats.ResetsReceived.Add(1)
	}
	c.txMu.Unlock()
}

// SetNetwork starts or stops the forwarding of IP packets for the call;
// peer is the peer's tunnel address, which the engine routes to the call.
func (c *Call) SetNetwork(up bool, local, peer netip.Addr) {
	if up {
		c.tunnelIP.Store(binary.BigEndian.Uint32(peer.AsSlice()))
		c.engine.routeAdd(c, peer)
		c.netUp.Store(true)
		return
	}
	c.netUp.Store(false)
	c.engine.routeDel(c, peer)
}

// SetIPv6 starts or stops the forwarding of IPv6 packets for the call
// (IPV6CP opened or closed). peerIID is the peer's interface identifier:
// its link-local address fe80::peerIID may be a source. prefix, when
// valid, is the session's /64: the engine routes it to the call and its
// addresses may be sources too. Other sources are dropped as spoofed when
// the engine checks sources. On the way down prefix must be the one given
// on the way up.
func (c *Call) SetIPv6(up bool, peerIID uint64, prefix netip.Prefix) error {
	hi, ok := prefix64(prefix)
	if prefix.IsValid() && !ok {
		return fmt.Errorf("datapath: %v is not an IPv6 /64", prefix)
	}
	if !up {
		c.net6Up.Store(false)
		if ok {
			c.engine.routes6.remove(hi, c)
		}
		c.prefix6.Store(0)
		c.engine.routes6.removePrefixes(c)
		c.subnets6.Store(nil)
		return nil
	}
	c.peerIID.Store(peerIID)
	c.prefix6.Store(hi)
	if ok && !c.engine.cfg.DefaultCall {
		c.engine.routes6.add(hi, c)
	}
	c.net6Up.Store(true)
	return nil
}

// SetNDHandler diverts the IPv6 Router Solicitations and Advertisements
// the peer sends to fn instead of the TUN device: on a PPP link the
// server answers solicitations itself and the client reads the
// advertisements itself. fn runs on the call's receive path; it
// must not block, and copies ip if it keeps it. nil stops diverting.
func (c *Call) SetNDHandler(fn func(ip []byte)) {
	if fn == nil {
		c.ndHandler.Store(nil)
		return
	}
	c.ndHandler.Store(&fn)
}

// source6OK reports whether src (16 bytes) may be the source of an IPv6
// packet from the peer: an address of its /64 or its link-local address.
func (c *Call) source6OK(src []byte) bool {
	hi := hi64(src)
	if p := c.prefix6.Load(); p != 0 && hi == p {
		return true
	}
	if hi == linkLocal64 && lo64(src) == c.peerIID.Load() {
		return true
	}
	if p := c.subnets6.Load(); p != nil {
		for _, e := range *p {
			if e.contains(hi) {
				return true
			}
		}
	}
	return false
}

// SetSubnets6 routes the IPv6 prefixes ps (each /64 or shorter: prefixes
// delegated to a router behind the peer) through the call and lets their
// addresses be sources of its packets. Call it once SetIPv6 is up;
// SetIPv6 down and RemoveCall take them away. A prefix already routed to
// another call is an error, and then none is added.
func (c *Call) SetSubnets6(ps []netip.Prefix) error {
	es := make([]prefix6Route, 0, len(ps))
	for _, p := range ps {
		e, err := newPrefix6Route(p, c)
		if err != nil {
			return err
		}
		es = append(es, e)
	}
	if c.engine.cfg.DefaultCall {
		// A client's engine sends everything to its one call.
		c.subnets6.Store(&es)
		return nil
	}
	if err := c.engine.routes6.addPrefixes(es, c); err != nil {
		return err
	}
	c.subnets6.Store(&es)
	return nil
}

// SetSubnets routes the subnets ps through the call and lets their
// addresses be sources of its packets besides its tunnel address (a router
// with a LAN behind it). Call it once the network is up; SetNetwork down
// and RemoveCall take the subnets away. A subnet already routed to another
// call is an error, and then none is added.
func (c *Call) SetSubnets(ps []netip.Prefix) error {
	var es []prefixEntry
	for _, p := range ps {
		if !p.IsValid() || !p.Addr().Is4() {
			return fmt.Errorf("datapath: %v is not an IPv4 subnet", p)
		}
		es = append(es, newPrefixEntry(p, c))
	}
	if err := c.engine.routes.addPrefixes(es, c); err != nil {
		return err
	}
	c.subnets.Store(&es)
	return nil
}

// routes reports whether the source address a lies in one of the call's
// subnets.
func (c *Call) routes(a uint32) bool {
	p := c.subnets.Load()
	if p == nil {
		return false
	}
	for _, e := range *p {
		if e.contains(a) {
			return true
		}
	}
	return false
}

// SendControl sends one control packet of protocol p (LCP, PAP, CHAP,
// IPCP, CCP).
func (c *Call) SendControl(p ppp.Protocol, pkt []byte) {
	if c.removed.Load() {
		return
	}
	c.txMu.Lock()
	defer c.txMu.Unlock()
	b := c.scratch[:0]
	b = append(b, make([]byte, gre.MaxHeaderLen+4)...) // headroom
	b = append(b, pkt...)
	start := gre.MaxHeaderLen + 4
	start -= ppp.PutHeader(b[:start], p, c.acfc && p != ppp.ProtoLCP, c.pfc && p != ppp.ProtoLCP)
	c.scratch = b
	c.Stats.TxControl.Add(1)
	if c.unsent > 0 {
		c.enqueueLocked(b[start:]) // sent after the data ahead of it
		return
	}
	if pkt := c.submitLocked(b[:start], b[start:]); pkt != nil {
		c.engine.sendOne(pkt, c.cfg.Peer, c.cfg.Local)
	}
}

// SendFrame sends one complete PPP frame (address and control fields, if
// any, protocol and information) exactly as given, numbered and
// acknowledged like every other packet of the call: for calls with
// CallConfig.Raw, whose PPP is done elsewhere. A frame the peer's window
// holds back waits in the call's queue. frame is not retained.
func (c *Call) SendFrame(frame []byte) error {
	if c.removed.Load() {
		return ErrNotUp
	}
	if len(frame) == 0 || len(frame) > maxFrame {
		return fmt.Errorf("datapath: PPP frame of %d bytes", len(frame))
	}
	c.txMu.Lock()
	defer c.txMu.Unlock()
	b := c.scratch[:0]
	b = append(b, make([]byte, gre.MaxHeaderLen)...) // headroom
	b = append(b, frame...)
	c.scratch = b
	c.Stats.TxPackets.Add(1)
	c.Stats.TxBytes.Add(uint64(len(frame)))
	if c.unsent > 0 {
		c.enqueueLocked(b[gre.MaxHeaderLen:])
		return nil
	}
	if pkt := c.submitLocked(b[:gre.MaxHeaderLen], b[gre.MaxHeaderLen:]); pkt != nil {
		c.engine.sendOne(pkt, c.cfg.Peer, c.cfg.Local)
	}
	return nil
}

// maxFrame bounds what SendFrame accepts: a GRE packet must fit the
// peer's receive buffer (rxBufSize here, PACKET_MAX in pptp-linux and
// pptpd) with the outer IP and GRE headers.
const maxFrame = rxBufSize - 20 - gre.MaxHeaderLen

// submitLocked numbers the PPP frame whose headroom is head and returns the
// GRE packet to send now; when the peer's window is full, or packets wait
// already (order matters to stateful MPPE and to the peer's sequence
// check), it queues a copy and returns nil.
func (c *Call) submitLocked(head, frame []byte) []byte {
	if len(c.queue) > 0 && c.unsent == 0 {
		c.drainLocked()
	}
	if len(c.queue) == 0 {
		if pkt := c.frameLocked(head, frame); pkt != nil {
			return pkt
		}
	}
	c.enqueueLocked(frame)
	return nil
}

// frameLocked writes the GRE header in front of frame, using the end of
// head, and returns the packet; nil when the window is full.
func (c *Call) frameLocked(head, frame []byte) []byte {
	if !c.snd.CanSend() || !c.peerKnown.Load() {
		return nil
	}
	h := gre.Header{CallID: uint16(c.peerID.Load()), PayloadLen: uint16(len(frame)), HasSeq: true, Seq: c.snd.Next()}
	if c.ackOwed.Swap(false) {
		h.HasAck, h.Ack = true, c.rxHighest.Load()
		c.unacked.Store(0)
		c.ridden.Add(1)
	}
	n := h.Len()
	start := len(head) - n
	full := head[start : len(head)+len(frame)]
	h.Put(full)
	return full
}

func (c *Call) enqueueLocked(frame []byte) {
	if len(c.queue) >= maxQueue {
		c.Stats.DropWindow.Add(1)
		return
	}
	// A copy with fresh headroom: the caller's buffer is reused at once.
	q := make([]byte, gre.MaxHeaderLen+len(frame))
	copy(q[gre.MaxHeaderLen:], frame)
	c.queue = append(c.queue, q)
	if c.queueTimer == nil {
		c.queueTimer = time.AfterFunc(ackTimeout, c.windowTimeout)
	} else if len(c.queue) == 1 {
		c.queueTimer.Reset(ackTimeout)
	}
}

// windowTimeout runs when queued packets waited ackTimeout for the window
// to open: the outstanding packets are given up (RFC 2637 4.4) and the
// queue drains.
func (c *Call) windowTimeout() {
	c.txMu.Lock()
	defer c.txMu.Unlock()
	if len(c.queue) == 0 {
		return
	}
	c.snd.Timeout()
	if c.unsent == 0 {
		c.drainLocked()
	}
	if len(c.queue) > 0 {
		c.queueTimer.Reset(ackTimeout)
	}
}

func (c *Call) drainLocked() {
	for len(c.queue) > 0 {
		q := c.queue[0]
		pkt := c.frameLocked(q[:gre.MaxHeaderLen], q[gre.MaxHeaderLen:])
		if pkt == nil {
			return
		}
		c.engine.sendOne(pkt, c.cfg.Peer, c.cfg.Local)
		c.queue[0] = nil
		c.queue = c.queue[1:]
	}
}

// gotAck processes an acknowledgement from the peer (GRE reader goroutine).
// Packets queued for the window go out now unless the send goroutine has
// numbered packets in flight; then sent() releases them after those.
func (c *Call) gotAck(ack uint32) {
	c.txMu.Lock()
	c.snd.Ack(ack)
	if len(c.queue) > 0 && c.unsent == 0 {
		c.drainLocked()
	}
	c.txMu.Unlock()
}

// sent tells the call that one packet encap returned was handed to the
// kernel (send goroutine).
func (c *Call) sent() {
	c.txMu.Lock()
	c.unsent--
	if c.unsent == 0 && len(c.queue) > 0 {
		c.drainLocked()
	}
	c.txMu.Unlock()
}

// encap turns the IP packet buf[off:off+n] into a GRE packet in place,
// writing PPP, MPPE and GRE headers into the headroom before off. It
// returns the packet to send, or nil when it was queued or dropped.
func (c *Call) encap(buf []byte, off, n int) []byte {
	c.txMu.Lock()
	defer c.txMu.Unlock()
	return c.encapLocked(buf, off, n, false)
}

// encapLocked is encap under txMu. A local packet (SendLocalIP) is sent by
// the caller under the lock at once, so it does not count as unsent; it
// waits in the queue instead while the send goroutine has packets in
// flight.
func (c *Call) encapLocked(buf []byte, off, n int, local bool) []byte {
	if len(c.queue) >= maxQueue && !c.snd.CanSend() {
		// Drop before encrypting: a packet dropped after stateful MPPE
		// numbered it would desynchronise the peer's decrypter.
		c.Stats.DropWindow.Add(1)
		return nil
	}
	if m := c.mss.Load(); m != 0 {
		clampMSS(buf[off:off+n], uint16(m))
	}
	start := off
	end := off + n
	proto := ppp.ProtoIPv4
	if n > 0 && buf[off]>>4 == 6 {
		proto = ppp.ProtoIPv6
	}
	if c.enc != nil {
		// Linux keeps the inner protocol field uncompressed; so do we.
		start -= 2
		binary.BigEndian.PutUint16(buf[start:], uint16(proto))
		start -= mppe.HeaderLen
		if err := c.enc.Seal(buf[start:end]); err != nil {
			return nil
		}
		start -= ppp.PutHeader(buf[:start], ppp.ProtoMPPE, c.acfc, c.pfc)
	} else {
		start -= ppp.PutHeader(buf[:start], proto, c.acfc, c.pfc)
	}
	c.Stats.TxPackets.Add(1)
	c.Stats.TxBytes.Add(uint64(n))
	if local {
		if c.unsent > 0 {
			c.enqueueLocked(buf[start:end])
			return nil
		}
		return c.submitLocked(buf[:start], buf[start:end])
	}
	pkt := c.submitLocked(buf[:start], buf[start:end])
	if pkt != nil {
		c.unsent++
	}
	return pkt
}

// ErrNotUp is returned by SendIP when the call is not in the network phase
// (or was removed).
var ErrNotUp = errors.New("datapath: call not up")

// SendIP sends one IP packet on the call the way the send goroutine sends
// a packet read from the TUN device: MPPE, PPP and GRE framing, sequence
// numbering, the acknowledgement owed and the peer's window all apply. It
// is for engines without a TUN device, whose owner makes its own packets
// (a load generator). buf holds Headroom bytes of free space followed by
// the IPv4 packet; it is encrypted and framed in place and may be reused
// when SendIP returns. A packet the peer's window holds back waits in the
// call's queue like any other, and one dropped because that queue is full
// counts in Stats.DropWindow. Calls for one Call must not overlap.
func (c *Call) SendIP(buf []byte) error {
	if len(buf) <= Headroom {
		return errors.New("datapath: SendIP without headroom or packet")
	}
	if c.removed.Load() || !c.up(buf[Headroom]) {
		return ErrNotUp
	}
	pkt := c.encap(buf, Headroom, len(buf)-Headroom)
	if pkt == nil {
		return nil // queued for the window, or counted as dropped
	}
	c.engine.sendOne(pkt, c.cfg.Peer, c.cfg.Local)
	c.sent()
	return nil
}

// up reports whether packets of the IP version in the first octet v of a
// packet may be sent.
func (c *Call) up(v byte) bool {
	if v>>4 == 6 {
		return c.net6Up.Load()
	}
	return c.netUp.Load()
}

// SendLocalIP sends an IP packet the owner made (a router advertisement or
// solicitation) on the call, encrypted like data and numbered after the
// packets the send goroutine has in flight, so that it never overtakes
// them. Unlike SendIP it may run at the same time as the engine's send
// goroutine; it copies ip and allocates, so it is not for the data path.
func (c *Call) SendLocalIP(ip []byte) error {
	if len(ip) == 0 {
		return errors.New("datapath: SendLocalIP without a packet")
	}
	if c.removed.Load() || !c.up(ip[0]) {
		return ErrNotUp
	}
	buf := make([]byte, Headroom+len(ip))
	copy(buf[Headroom:], ip)
	// Sent under the lock, as control frames are: nothing can be
	// numbered after it and leave before it.
	c.txMu.Lock()
	defer c.txMu.Unlock()
	if pkt := c.encapLocked(buf, Headroom, len(ip), true); pkt != nil {
		c.engine.sendOne(pkt, c.cfg.Peer, c.cfg.Local)
	}
	return nil
}

// appendAck writes an ack-only packet into b if an acknowledgement is still
// owed, and returns it (nil otherwise).
func (c *Call) appendAck(b []byte) []byte {
	if !c.peerKnown.Load() || !c.ackOwed.Swap(false) {
		return nil
	}
	h := gre.Header{CallID: uint16(c.peerID.Load()), HasAck: true, Ack: c.rxHighest.Load()}
	c.unacked.Store(0)
	n := h.Put(b)
	c.Stats.AcksSent.Add(1)
	return b[:n]
}

// delayedAck sends an ack-only packet if no data packet carried the
// acknowledgement within ackDelay.
func (c *Call) delayedAck() {
	c.ackArmed.Store(false)
	var b [gre.MaxHeaderLen]byte
	c.txMu.Lock()
	pkt := c.appendAck(b[:])
	c.txMu.Unlock()
	if pkt != nil && !c.removed.Load() {
		c.engine.sendOne(pkt, c.cfg.Peer, c.cfg.Local)
	}
}

// armAck starts the delayed-ack timer unless it is already running: a
// steady trickle of packets must not postpone the ack forever.
func (c *Call) armAck() {
	if c.ackArmed.Swap(true) {
		return
	}
	c.txMu.Lock()
	if c.ackTimer == nil {
		c.ackTimer = time.AfterFunc(ackDelay, c.delayedAck)
	} else {
		c.ackTimer.Reset(ackDelay)
	}
	c.txMu.Unlock()
}

func (c *Call) stopTimers() {
	c.txMu.Lock()
	if c.ackTimer != nil {
		c.ackTimer.Stop()
	}
	if c.queueTimer != nil {
		c.queueTimer.Stop()
	}
	c.queue = nil
	c.txMu.Unlock()
}

// needReset asks for a CCP Reset-Request when stateful MPPE lost step:
// at once when this starts an episode of loss (first), then at most once
// a second while it lasts. CCP retransmits an unacknowledged request by
// itself; asking again sooner would only make the peer flush again, and a
// second flush arriving after the first one resynchronised us knocks us
// out of step again (the sender's count jumps to a flag packet), so that
// on a path slower than the interval the episode would never end.
func (c *Call) needReset(now time.Time, first bool) {
	if !first && now.Sub(c.resetSent) < time.Second {
		return
	}
	c.resetSent = now
	c.Stats.ResetsSent.Add(1)
	if h := c.handler.Load(); h != nil {
		(*h).ResetRequest()
	} else if c.cfg.ResetRequest != nil {
		c.cfg.ResetRequest()
	}
}
