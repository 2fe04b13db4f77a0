package datapath

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/gopptp/gopptp/gre"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/ccp"
)

var (
	underA = netip.MustParseAddr("10.0.0.1")
	underB = netip.MustParseAddr("10.0.0.2")
	tunA   = netip.MustParseAddr("192.168.0.1")
	tunB   = netip.MustParseAddr("192.168.0.234")
)

// pair is two engines joined in memory: what side A encapsulates, the test
// hands to side B's receive path as if it came off the GRE socket.
type pair struct {
	a, b       *Engine
	ca, cb     *Call
	got        [][]byte // IP packets B delivered
	control    []ppp.Protocol
	resets     int
	rx         *rxBatch
	underlying [][]byte // GRE packets A sent outside encap (control, acks)
}

func newPair(t testing.TB, mppeDir ccp.Direction) *pair {
	p := &pair{a: NewEngine(Config{}), b: NewEngine(Config{CheckSource: true}), rx: newRxBatch()}
	p.a.setSend(func(pkt []byte, _ netip.Addr) { p.underlying = append(p.underlying, append([]byte(nil), pkt...)) })
	p.b.setSend(func([]byte, netip.Addr) {})
	var err error
	p.ca, err = p.a.AddCall(CallConfig{LocalID: 1, PeerID: 2, Peer: underB, PeerWindow: 16384,
		Control: func(ppp.Protocol, []byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	p.cb, err = p.b.AddCall(CallConfig{LocalID: 2, PeerID: 1, Peer: underA, PeerWindow: 16384,
		Control:      func(pr ppp.Protocol, _ []byte) { p.control = append(p.control, pr) },
		ResetRequest: func() { p.resets++ },
		DeliverIP:    func(ip []byte) { p.got = append(p.got, append([]byte(nil), ip...)) }})
	if err != nil {
		t.Fatal(err)
	}
	var ka, kb [16]byte
	for i := range ka {
		ka[i], kb[i] = byte(i), byte(100+i)
	}
	if err := p.ca.SetMPPE(mppeDir, mppeDir, ka, kb); err != nil {
		t.Fatal(err)
	}
	if err := p.cb.SetMPPE(mppeDir, mppeDir, kb, ka); err != nil {
		t.Fatal(err)
	}
	p.ca.SetNetwork(true, tunA, tunB)
	p.cb.SetNetwork(true, tunB, tunA)
	// Stop the calls' timers (delayed acks), which would otherwise keep
	// both engines alive after the test: fuzzing makes a pair per input.
	t.Cleanup(func() {
		p.a.RemoveCall(p.ca)
		p.b.RemoveCall(p.cb)
	})
	return p
}

// ipPacket builds an IPv4/UDP packet from src to dst whose payload starts
// with the index i, so that order can be checked.
func ipPacket(src, dst netip.Addr, i, size int) []byte {
	b := make([]byte, size)
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(size))
	b[9] = 17
	copy(b[12:16], src.AsSlice())
	copy(b[16:20], dst.AsSlice())
	binary.BigEndian.PutUint32(b[28:], uint32(i))
	for j := 32; j < size; j++ {
		b[j] = byte(i + j)
	}
	return b
}

// encap runs A's send path on ip and returns the GRE packet with an IPv4
// header, as B's socket would receive it.
func (p *pair) encap(t testing.TB, ip []byte) []byte {
	buf := make([]byte, Headroom+len(ip))
	copy(buf[Headroom:], ip)
	g := p.ca.encap(buf, Headroom, len(ip))
	if g == nil {
		t.Fatal("encap queued or dropped the packet")
	}
	p.ca.sent()
	return withIPv4(g, underA, underB)
}

func withIPv4(g []byte, src, dst netip.Addr) []byte {
	pkt := make([]byte, 20+len(g))
	pkt[0] = 0x45
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	pkt[9] = 47
	copy(pkt[12:16], src.AsSlice())
	copy(pkt[16:20], dst.AsSlice())
	copy(pkt[20:], g)
	return pkt
}

// receive runs B's receive path on a batch of packets at time now.
func (p *pair) receive(now time.Time, pkts ...[]byte) {
	p.rx.now = now
	p.rx.tunOut = p.rx.tunOut[:0]
	for _, pkt := range pkts {
		p.b.receive(p.rx, pkt)
	}
	p.b.endBatch(p.rx)
}

func (p *pair) checkOrder(t *testing.T, want []int) {
	t.Helper()
	if len(p.got) != len(want) {
		t.Fatalf("delivered %d packets, want %d", len(p.got), len(want))
	}
	for k, i := range want {
		if exp := ipPacket(tunA, tunB, i, len(p.got[k])); !bytes.Equal(p.got[k], exp) {
			t.Fatalf("packet %d delivered is not packet %d", k, i)
		}
	}
}

var modes = []struct {
	name string
	dir  ccp.Direction
}{
	{"plain", ccp.Direction{}},
	{"mppe128-stateless", ccp.Direction{On: true, KeyBits: 128, Stateless: true}},
	{"mppe128-stateful", ccp.Direction{On: true, KeyBits: 128}},
	{"mppe40-stateless", ccp.Direction{On: true, KeyBits: 40, Stateless: true}},
}

func TestRoundTrip(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := newPair(t, m.dir)
			var want []int
			now := time.Now()
			for i := 0; i < 600; i++ { // crosses stateful MPPE's 256-packet key changes
				p.receive(now, p.encap(t, ipPacket(tunA, tunB, i, 40+i%1400)))
				want = append(want, i)
			}
			p.checkOrder(t, want)
			if n := p.cb.Stats.RxPackets.Load(); n != 600 {
				t.Errorf("RxPackets %d", n)
			}
		})
	}
}

func TestReorderRestoresOrder(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := newPair(t, m.dir)
			var pkts [][]byte
			for i := 0; i < 200; i++ {
				pkts = append(pkts, p.encap(t, ipPacket(tunA, tunB, i, 100)))
			}
			// Swap neighbours and move some packets a few places back.
			r := rand.New(rand.NewPCG(1, 2))
			for i := 1; i+5 < len(pkts); i += 7 {
				j := i + 1 + r.IntN(4)
				pkts[i], pkts[j] = pkts[j], pkts[i]
			}
			now := time.Now()
			for _, pkt := range pkts {
				p.receive(now, pkt)
			}
			var want []int
			for i := 0; i < 200; i++ {
				want = append(want, i)
			}
			p.checkOrder(t, want)
			if p.cb.Stats.Reordered.Load() == 0 || p.cb.Stats.Lost.Load() != 0 {
				t.Errorf("reordered %d lost %d", p.cb.Stats.Reordered.Load(), p.cb.Stats.Lost.Load())
			}
		})
	}
}

func TestReorderGivesUpAfterTimeout(t *testing.T) {
	p := newPair(t, ccp.Direction{On: true, KeyBits: 128, Stateless: true})
	var pkts [][]byte
	for i := 0; i < 5; i++ {
		pkts = append(pkts, p.encap(t, ipPacket(tunA, tunB, i, 100)))
	}
	now := time.Now()
	p.receive(now, pkts[0], pkts[2], pkts[3]) // 1 is lost
	p.checkOrder(t, []int{0})
	p.receive(now.Add(DefaultReorderTimeout/2), pkts[4])
	p.checkOrder(t, []int{0})
	if d := p.b.reorderDeadline(p.rx); !d.Equal(now.Add(DefaultReorderTimeout)) {
		t.Errorf("wake-up deadline %v, want the first held packet's expiry", d)
	}
	p.receive(now.Add(DefaultReorderTimeout)) // the expiry, with no packet arriving
	p.checkOrder(t, []int{0, 2, 3, 4})
	if p.cb.Stats.Lost.Load() != 1 || len(p.rx.holding) != 0 {
		t.Errorf("lost %d, still holding %d calls", p.cb.Stats.Lost.Load(), len(p.rx.holding))
	}
	p.receive(now.Add(time.Second), pkts[1]) // far too late now
	if p.cb.Stats.DropSeq.Load() != 1 || len(p.got) != 4 {
		t.Errorf("late packet: DropSeq %d, delivered %d", p.cb.Stats.DropSeq.Load(), len(p.got))
	}
}

func TestReorderWideGapIsLoss(t *testing.T) {
	p := newPair(t, ccp.Direction{})
	var pkts [][]byte
	for i := 0; i < 100; i++ {
		pkts = append(pkts, p.encap(t, ipPacket(tunA, tunB, i, 60)))
	}
	now := time.Now()
	p.receive(now, pkts[0], pkts[3], pkts[5], pkts[90])
	// 90 is beyond the queue: 3 and 5 go out at once, the gaps are lost.
	p.checkOrder(t, []int{0, 3, 5, 90})
	if lost := p.cb.Stats.Lost.Load(); lost != 2+1+84 {
		t.Errorf("lost %d, want 87", lost)
	}
	p.receive(now, pkts[3]) // a duplicate of a delivered packet
	if p.cb.Stats.DropSeq.Load() != 1 {
		t.Errorf("DropSeq %d", p.cb.Stats.DropSeq.Load())
	}
}

func TestStatefulLossAsksForReset(t *testing.T) {
	p := newPair(t, ccp.Direction{On: true, KeyBits: 128})
	now := time.Now()
	var pkts [][]byte
	for i := 0; i < 3; i++ {
		pkts = append(pkts, p.encap(t, ipPacket(tunA, tunB, i, 100)))
	}
	// A packet lost for good: the sequence gap is given up, then the MPPE
	// coherency count jumps and the decrypter needs a resync.
	p.receive(now, pkts[0])
	p.receive(now, pkts[2])
	p.receive(now.Add(time.Second))
	if p.resets != 1 || len(p.got) != 1 {
		t.Fatalf("resets %d, delivered %d", p.resets, len(p.got))
	}
	if s, r := p.cb.Stats.ResetsSent.Load(), p.cb.Stats.Resyncs.Load(); s != 1 || r != 0 {
		t.Errorf("before the flush: ResetsSent %d, Resyncs %d, want 1 and 0", s, r)
	}
	p.ca.FlushMPPE() // what the peer's CCP Reset-Request causes
	if n := p.ca.Stats.ResetsReceived.Load(); n != 1 {
		t.Errorf("the sender's ResetsReceived %d, want 1", n)
	}
	p.receive(now.Add(2*time.Second), p.encap(t, ipPacket(tunA, tunB, 3, 100)))
	p.receive(now.Add(2*time.Second), p.encap(t, ipPacket(tunA, tunB, 4, 100)))
	p.checkOrder(t, []int{0, 3, 4})
	// One resync for the flushed packet, none for the ordinary one after.
	if s, r := p.cb.Stats.ResetsSent.Load(), p.cb.Stats.Resyncs.Load(); s != 1 || r != 1 {
		t.Errorf("after the flush: ResetsSent %d, Resyncs %d, want 1 and 1", s, r)
	}
}

func TestSpoofedSourceDropped(t *testing.T) {
	p := newPair(t, ccp.Direction{On: true, KeyBits: 128, Stateless: true})
	p.receive(time.Now(), p.encap(t, ipPacket(netip.MustParseAddr("192.168.0.99"), tunB, 0, 60)))
	if len(p.got) != 0 || p.cb.Stats.DropSpoof.Load() != 1 {
		t.Errorf("spoofed packet: delivered %d, DropSpoof %d", len(p.got), p.cb.Stats.DropSpoof.Load())
	}
}

func TestUnencryptedIPRefusedWhenMPPEIsOn(t *testing.T) {
	p := newPair(t, ccp.Direction{On: true, KeyBits: 128, Stateless: true})
	plain := newPair(t, ccp.Direction{})
	g := plain.encap(t, ipPacket(tunA, tunB, 0, 60))
	p.receive(time.Now(), g)
	if len(p.got) != 0 || p.cb.Stats.DropPlain.Load() != 1 {
		t.Errorf("plain IP over MPPE link: delivered %d, DropPlain %d", len(p.got), p.cb.Stats.DropPlain.Load())
	}
}

func TestWrongPeerAndUnknownCall(t *testing.T) {
	p := newPair(t, ccp.Direction{})
	g := p.encap(t, ipPacket(tunA, tunB, 0, 60))
	evil := append([]byte(nil), g...)
	copy(evil[12:16], netip.MustParseAddr("10.0.0.66").AsSlice())
	p.receive(time.Now(), evil)
	if p.b.Counters.WrongPeer.Load() != 1 || len(p.got) != 0 {
		t.Errorf("packet from another host reached the call")
	}
	p.b.RemoveCall(p.cb)
	p.receive(time.Now(), g)
	if p.b.Counters.UnknownCall.Load() != 1 {
		t.Errorf("UnknownCall %d", p.b.Counters.UnknownCall.Load())
	}
}

func TestWindowQueuesAndKeepsOrder(t *testing.T) {
	p := newPair(t, ccp.Direction{On: true, KeyBits: 128})
	p.ca.txMu.Lock()
	p.ca.snd = gre.NewSender(2)
	p.ca.txMu.Unlock()
	var sent [][]byte
	for i := 0; i < 5; i++ {
		buf := make([]byte, Headroom+100)
		copy(buf[Headroom:], ipPacket(tunA, tunB, i, 100))
		if g := p.ca.encap(buf, Headroom, 100); g != nil {
			p.ca.sent()
			sent = append(sent, withIPv4(g, underA, underB))
		}
	}
	if len(sent) != 1 || len(p.ca.queue) != 4 {
		t.Fatalf("window 2 (adaptive start 1): sent %d queued %d", len(sent), len(p.ca.queue))
	}
	// The peer acknowledges: queued packets go out in order.
	p.ca.gotAck(0)
	for _, u := range p.underlying {
		sent = append(sent, withIPv4(u, underA, underB))
	}
	p.receive(time.Now(), sent...)
	p.checkOrder(t, []int{0, 1, 2})
}

func BenchmarkEncapDecap(b *testing.B) {
	for _, m := range modes {
		for _, size := range []int{64, 1400} {
			b.Run(m.name+"/"+strconv.Itoa(size), func(b *testing.B) {
				p := newPair(b, m.dir)
				p.benchEncapDecap(b, ipPacket(tunA, tunB, 0, size), nil)
			})
		}
	}
}

// benchEncapDecap runs ip through A's send path and B's receive path b.N
// times. B acknowledges every packet, as a peer's traffic would, so that
// A's send window never closes; every packet must reach B's TUN side, or
// the benchmark would time the drop path. each, when set, runs once per
// packet (an extra check of the caller's).
func (p *pair) benchEncapDecap(b *testing.B, ip []byte, each func()) {
	size := len(ip)
	buf := make([]byte, Headroom+size)
	out := make([]byte, 20+Headroom+size)
	delivered := 0
	p.cb.cfg.DeliverIP = func([]byte) { delivered++ }
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if each != nil {
			each()
		}
		copy(buf[Headroom:], ip)
		g := p.ca.encap(buf, Headroom, size)
		if g == nil {
			b.Fatalf("packet %d queued or dropped by the sender", i)
		}
		p.ca.sent()
		n := copy(out[20:], g)
		pkt := out[:20+n]
		pkt[0] = 0x45
		binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
		copy(pkt[12:16], underA.AsSlice())
		p.rx.tunOut = p.rx.tunOut[:0]
		p.b.receive(p.rx, pkt)
		for _, c := range p.rx.touched {
			c.ackMarked = false
		}
		p.rx.touched = p.rx.touched[:0]
		p.ca.gotAck(uint32(i))
	}
	b.StopTimer()
	if delivered != b.N {
		b.Fatalf("%d of %d packets delivered (drops: spoofed %d, MPPE %d)", delivered, b.N,
			p.cb.Stats.DropSpoof.Load(), p.cb.Stats.DropMPPE.Load())
	}
}

// TestSubnets: a routed subnet behind the peer may source packets and
// receives the packets addressed into it; addresses outside stay spoofed,
// another call cannot claim the subnet, and network down forgets it.
func TestSubnets(t *testing.T) {
	p := newPair(t, ccp.Direction{On: true, KeyBits: 128, Stateless: true})
	lan := netip.MustParsePrefix("10.7.0.0/16")
	if err := p.cb.SetSubnets([]netip.Prefix{lan, netip.MustParsePrefix("10.8.1.0/24")}); err != nil {
		t.Fatal(err)
	}
	inLAN, outside := netip.MustParseAddr("10.7.200.3"), netip.MustParseAddr("10.9.0.1")
	p.receive(time.Now(), p.encap(t, ipPacket(inLAN, tunB, 0, 60)), p.encap(t, ipPacket(outside, tunB, 1, 60)))
	if len(p.got) != 1 || p.cb.Stats.DropSpoof.Load() != 1 {
		t.Errorf("delivered %d (want the one from the subnet), DropSpoof %d", len(p.got), p.cb.Stats.DropSpoof.Load())
	}
	// Routing towards the peer: the exact address first, then subnets.
	route := func(dst netip.Addr) *Call { return p.b.route(ipPacket(tunB, dst, 0, 40)) }
	if route(tunA) != p.cb || route(inLAN) != p.cb || route(netip.MustParseAddr("10.8.1.77")) != p.cb || route(outside) != nil {
		t.Errorf("routes: peer %p, subnet %p, second subnet %p, outside %p (call %p)",
			route(tunA), route(inLAN), route(netip.MustParseAddr("10.8.1.77")), route(outside), p.cb)
	}
	other, err := p.b.AddCall(CallConfig{LocalID: 9, PeerID: 9, Peer: netip.MustParseAddr("10.0.0.9"), PeerWindow: 64,
		Control: func(ppp.Protocol, []byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	other.SetNetwork(true, tunB, netip.MustParseAddr("192.168.0.235"))
	if err := other.SetSubnets([]netip.Prefix{netip.MustParsePrefix("10.9.0.0/24"), lan}); err == nil {
		t.Error("a second call took a routed subnet")
	}
	if route(outside) != nil {
		t.Error("a refused SetSubnets added part of its subnets")
	}
	// A more specific subnet of another call wins inside the wider one.
	if err := other.SetSubnets([]netip.Prefix{netip.MustParsePrefix("10.7.200.0/24")}); err != nil {
		t.Fatal(err)
	}
	if route(inLAN) != other || route(netip.MustParseAddr("10.7.1.1")) != p.cb {
		t.Error("longest prefix does not win")
	}
	p.cb.SetNetwork(false, tunB, tunA)
	if route(netip.MustParseAddr("10.7.1.1")) != nil {
		t.Error("subnet still routed after network down")
	}
	p.b.RemoveCall(other)
	if route(inLAN) != nil {
		t.Error("subnet still routed after RemoveCall")
	}
}

// TestAckOnlyWhenNothingFlowsBack: a batch leaving ackEvery packets
// unacknowledged gets an ack-only packet at once when no acknowledgement
// rode on our data since the previous batch; while data goes back (a TCP
// transfer's ACKs) the acknowledgement waits to ride on it, as an ack-only
// packet would cost both hosts a trip through the kernel for nothing.
func TestAckOnlyWhenNothingFlowsBack(t *testing.T) {
	p := newPair(t, ccp.Direction{})
	next := 0
	batch := func() {
		for range ackEvery + 8 {
			p.b.receive(p.rx, p.encap(t, ipPacket(tunA, tunB, next, 100)))
			next++
		}
	}
	ackOnly := func() (n int, ack uint32) {
		p.b.ackTouched(p.rx)
		for _, m := range p.rx.ackMsgs {
			h, _, err := gre.Parse(m.Buf)
			if err != nil || !h.HasAck || h.HasSeq {
				t.Fatalf("not an ack-only packet: %+v %v", h, err)
			}
			ack = h.Ack
		}
		return len(p.rx.ackMsgs), ack
	}

	batch()
	if n, ack := ackOnly(); n != 1 || ack != uint32(next-1) {
		t.Fatalf("nothing flowing back: %d ack-only packets (ack %d), want 1 acknowledging %d", n, ack, next-1)
	}
	batch()
	buf := make([]byte, Headroom+100)
	copy(buf[Headroom:], ipPacket(tunB, tunA, 0, 100))
	back := p.cb.encap(buf, Headroom, 100)
	p.cb.sent()
	if h, _, err := gre.Parse(back); err != nil || !h.HasAck || h.Ack != uint32(next-1) {
		t.Fatalf("the acknowledgement did not ride on the data packet back: %+v %v", h, err)
	}
	batch()
	if n, _ := ackOnly(); n != 0 {
		t.Fatalf("data went back since the last batch: %d ack-only packets, want 0", n)
	}
	batch()
	if n, ack := ackOnly(); n != 1 || ack != uint32(next-1) {
		t.Fatalf("nothing went back since the last batch: %d ack-only packets (ack %d), want 1 acknowledging %d", n, ack, next-1)
	}
	p.b.RemoveCall(p.cb)
}
