package datapath

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/gopptp/gopptp/gre"
	"github.com/gopptp/gopptp/internal/netns"
	"github.com/gopptp/gopptp/ppp"
)

func TestCallIDOf(t *testing.T) {
	g := greFrame(gre.Header{CallID: 0x1234, HasSeq: true}, []byte{1, 2, 3})
	if id := callIDOf(g, true); id != 0x1234 {
		t.Errorf("IPv6 socket: call ID %#x", id)
	}
	if id := callIDOf(withIPv4(g, underA, underB), false); id != 0x1234 {
		t.Errorf("IPv4 socket: call ID %#x", id)
	}
	for _, short := range [][]byte{nil, {0x45}, withIPv4(g, underA, underB)[:27], g[:7]} {
		if id := callIDOf(short, len(short) < 20); id != 0 {
			t.Errorf("%d bytes: call ID %#x, want 0", len(short), id)
		}
	}
}

// captured collects the IP packets a call delivers, from whichever
// goroutine runs its receive path.
type captured struct {
	mu  sync.Mutex
	got map[uint16][]uint32 // by Call ID: the index in each packet
}

func (c *captured) deliver(id uint16) func([]byte) {
	return func(ip []byte) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.got[id] = append(c.got[id], binary.BigEndian.Uint32(ip[28:]))
	}
}

func (c *captured) count(id uint16) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got[id])
}

// TestWorkers runs a server-side engine with two workers per direction
// over real sockets and a TUN device: two calls whose Call IDs put them on
// different workers each get their packets, in order, both ways.
func TestWorkers(t *testing.T) {
	netns.RequireRoot(t)
	ha, hb := netns.NewHost(t, "wka"), netns.NewHost(t, "wkb")
	aAddr, bAddr := netip.MustParsePrefix("10.92.0.1/24"), netip.MustParsePrefix("10.92.0.2/24")
	netns.Connect(t, ha, hb, aAddr, bAddr)
	gwAddr := netip.MustParseAddr("10.99.0.1")
	peers := []netip.Addr{netip.MustParseAddr("10.99.1.10"), netip.MustParseAddr("10.99.1.11")}
	ids := []uint16{10, 11} // B's Call IDs; A's are these + 100

	var gsA, gsB *GRESocket
	if err := ha.Do(func() (err error) { gsA, err = ListenGRE(aAddr.Addr(), netip.Addr{}); return err }); err != nil {
		t.Fatal(err)
	}
	var b *Engine
	if err := hb.Do(func() error {
		var err error
		if gsB, err = ListenGRE(bAddr.Addr(), netip.Addr{}); err != nil {
			return err
		}
		dev, err := OpenTUN("gw0", 1400)
		if err != nil {
			gsB.Close()
			return err
		}
		b = NewEngine(Config{GRE: []*GRESocket{gsB}, TUN: dev, CheckSource: true, Workers: 2})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	hb.MustRun(t, "ip", "link", "set", "gw0", "up")
	hb.MustRun(t, "ip", "addr", "add", gwAddr.String()+"/32", "dev", "gw0")
	hb.MustRun(t, "ip", "route", "add", "10.99.1.0/24", "dev", "gw0")
	a := NewEngine(Config{GRE: []*GRESocket{gsA}})
	if b.workerOf(ids[0]) == b.workerOf(ids[1]) {
		t.Fatal("both calls on one worker")
	}

	atA, atB := &captured{got: map[uint16][]uint32{}}, &captured{got: map[uint16][]uint32{}}
	var callsA []*Call
	for i, id := range ids {
		cb, err := b.AddCall(CallConfig{LocalID: id, PeerID: id + 100, Peer: aAddr.Addr(), Local: bAddr.Addr(), PeerWindow: 16384,
			Control: func(ppp.Protocol, []byte) {}, DeliverIP: atB.deliver(id)})
		if err != nil {
			t.Fatal(err)
		}
		cb.SetNetwork(true, gwAddr, peers[i])
		ca, err := a.AddCall(CallConfig{LocalID: id + 100, PeerID: id, Peer: bAddr.Addr(), PeerWindow: 16384,
			Control: func(ppp.Protocol, []byte) {}, DeliverIP: atA.deliver(id + 100)})
		if err != nil {
			t.Fatal(err)
		}
		ca.SetNetwork(true, peers[i], gwAddr)
		callsA = append(callsA, ca)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- a.Run(ctx) }()
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Errorf("engine: %v", err)
			}
		}
	})

	const bursts, burst = 10, 20
	waitFor := func(c *captured, id uint16, n int) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); c.count(id) < n; {
			if time.Now().After(end) {
				t.Fatalf("call %d: %d of %d packets arrived (engine B: %+v)", id, c.count(id), n, &b.Counters)
			}
			time.Sleep(time.Millisecond)
		}
	}

	// A to B: through B's socket reader and its two receive workers.
	buf := make([]byte, Headroom+100)
	for k := range bursts {
		for j := range burst {
			for i, ca := range callsA {
				copy(buf[Headroom:], ipPacket(peers[i], gwAddr, k*burst+j, 100))
				if err := ca.SendIP(buf); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, id := range ids {
			waitFor(atB, id, (k+1)*burst)
		}
	}

	// B to A: UDP from B's host into the TUN device, through its reader
	// and its two send workers. Packets for the two calls take turns in
	// even bursts (each read goes to the other worker: handed over) and
	// follow each other in odd ones (mostly sent by the reader itself).
	conn := hb.ListenPacket(t, "udp4", net.JoinHostPort(gwAddr.String(), "0"))
	payload := make([]byte, 72) // the index lands at byte 28 of the IP packet
	send := func(p netip.Addr, i int) {
		binary.BigEndian.PutUint32(payload, uint32(i))
		if _, err := conn.WriteTo(payload, net.UDPAddrFromAddrPort(netip.AddrPortFrom(p, 9))); err != nil {
			t.Fatal(err)
		}
	}
	for k := range bursts {
		if k%2 == 0 {
			for j := range burst {
				for _, p := range peers {
					send(p, k*burst+j)
				}
			}
		} else {
			for _, p := range peers {
				for j := range burst {
					send(p, k*burst+j)
				}
			}
		}
		for _, id := range ids {
			waitFor(atA, id+100, (k+1)*burst)
		}
	}

	for _, c := range []*captured{atA, atB} {
		c.mu.Lock()
		for id, got := range c.got {
			for i, v := range got {
				if v != uint32(i) {
					t.Errorf("call %d: packet %d carries index %d: out of order", id, i, v)
					break
				}
			}
		}
		c.mu.Unlock()
	}
}

// TestDispatch: a socket reader's batch whose packets all belong to the
// previous batch's worker, while it is idle, is processed at once by the
// reader; a batch spanning workers, a batch for a worker with chunks
// still queued and a batch for another worker than the previous one are
// handed over; each call's packets arrive in order.
func TestDispatch(t *testing.T) {
	a := NewEngine(Config{})
	a.setSend(func([]byte, netip.Addr) {})
	b := NewEngine(Config{Workers: 2})
	got := &captured{got: map[uint16][]uint32{}}
	ids := []uint16{2, 3} // on workers 0 and 1
	var senders []*Call
	for _, id := range ids {
		ca, err := a.AddCall(CallConfig{LocalID: id + 100, PeerID: id, Peer: underB, PeerWindow: 16384, Control: func(ppp.Protocol, []byte) {}})
		if err != nil {
			t.Fatal(err)
		}
		ca.SetNetwork(true, tunA, tunB)
		senders = append(senders, ca)
		cb, err := b.AddCall(CallConfig{LocalID: id, PeerID: id + 100, Peer: underA, PeerWindow: 16384,
			Control: func(ppp.Protocol, []byte) {}, DeliverIP: got.deliver(id)})
		if err != nil {
			t.Fatal(err)
		}
		cb.SetNetwork(true, tunB, tunA)
	}
	next := map[uint16]int{}
	in := b.newRxBatchIn()
	// batch reads packets for the calls listed (by index in ids) into in
	// and dispatches them.
	batch := func(which ...int) {
		for i, k := range which {
			buf := make([]byte, Headroom+60)
			copy(buf[Headroom:], ipPacket(tunA, tunB, next[ids[k]], 60))
			next[ids[k]]++
			g := senders[k].encap(buf, Headroom, 60)
			senders[k].sent()
			in.sizes[i] = copy(in.bufs[i], withIPv4(g, underA, underB))
		}
		b.dispatch(in, len(which), false)
	}
	queued := func() [2]int { return [2]int{len(b.rxw[0].in), len(b.rxw[1].in)} }

	batch(1)
	if got.count(3) != 0 || queued() != [2]int{0, 1} {
		t.Fatalf("first batch: %d delivered, queued %v; want it handed to worker 1", got.count(3), queued())
	}
	batch(0)
	if got.count(2) != 0 || queued() != [2]int{1, 1} {
		t.Fatalf("batch for idle worker 0 after one for worker 1: %d delivered, queued %v; want it handed over", got.count(2), queued())
	}
	batch(0, 0)
	if got.count(2) != 0 || queued() != [2]int{2, 1} {
		t.Fatalf("batch for a worker with a chunk queued: %d delivered, queued %v; want it queued behind", got.count(2), queued())
	}
	batch(0, 1, 0, 1)
	if got.count(2) != 0 || got.count(3) != 0 || queued() != [2]int{3, 2} {
		t.Fatalf("batch of two workers: delivered %d and %d, queued %v; want a chunk for each", got.count(2), got.count(3), queued())
	}

	var wg sync.WaitGroup
	for _, w := range b.rxw {
		wg.Add(1)
		go func() { defer wg.Done(); b.rxWorkerLoop(w) }()
	}
	defer func() {
		for _, w := range b.rxw {
			close(w.in)
		}
		wg.Wait()
	}()
	idle := func(want2, want3 int) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); got.count(2) < want2 || got.count(3) < want3 ||
			b.rxw[0].pending.Load() != 0 || b.rxw[1].pending.Load() != 0; {
			if time.Now().After(end) {
				t.Fatalf("workers delivered %d and %d packets, want %d and %d", got.count(2), got.count(3), want2, want3)
			}
			time.Sleep(time.Millisecond)
		}
	}
	idle(5, 3)
	batch(1) // after a batch of two workers: handed over
	idle(5, 4)
	batch(1) // the same worker again, idle: the reader delivers it
	if got.count(3) != 5 {
		t.Errorf("second batch in a row for idle worker 1: %d delivered, want the reader to deliver the fifth", got.count(3))
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	for id, idx := range got.got {
		for i, v := range idx {
			if v != uint32(i) {
				t.Errorf("call %d: packet %d carries index %d: out of order", id, i, v)
				break
			}
		}
	}
}
