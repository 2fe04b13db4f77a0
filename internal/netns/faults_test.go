package netns

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"
)

const protoUDP = 17

// faultyPair builds two hosts joined by a Wire with faults f, with ARP
// already resolved both ways so that the first datagrams are not queued
// behind it.
func faultyPair(t *testing.T, f Faults) (a, b *Host, w *Wire) {
	t.Helper()
	RequireRoot(t)
	a = NewHost(t, "a")
	b = NewHost(t, "b")
	w = ConnectFaulty(t, a, b, addrA, addrB, f)
	Ping(t, a, addrB.Addr(), 1, 5*time.Second)
	Ping(t, b, addrA.Addr(), 1, 5*time.Second)
	return a, b, w
}

// udpRun sends n numbered datagrams from a to b (at dst), in bursts of
// 20 a millisecond apart, and returns the numbers received, in arrival
// order.
func udpRun(t *testing.T, a, b *Host, dst netip.Addr, n int) []uint32 {
	t.Helper()
	pc := b.ListenPacket(t, "udp4", netip.AddrPortFrom(dst, 0).String())
	c := a.Dial(t, "udp4", pc.LocalAddr().String())
	got := make(chan []uint32, 1)
	go func() {
		var seqs []uint32
		buf := make([]byte, 2048)
		for {
			// Ends 300 ms after the last datagram, which outlasts any
			// delay the tests configure.
			pc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			k, _, err := pc.ReadFrom(buf)
			if err != nil {
				got <- seqs
				return
			}
			if k >= 4 {
				seqs = append(seqs, binary.BigEndian.Uint32(buf))
			}
		}
	}()
	msg := make([]byte, 200)
	for i := range n {
		binary.BigEndian.PutUint32(msg, uint32(i))
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if i%20 == 19 {
			time.Sleep(time.Millisecond)
		}
	}
	return <-got
}

// inversions counts arrivals of a number below one that arrived earlier.
func inversions(seqs []uint32) int {
	n := 0
	var top uint32
	for i, s := range seqs {
		if i > 0 && s < top {
			n++
		}
		top = max(top, s)
	}
	return n
}

// distinct returns the set of numbers received.
func distinct(seqs []uint32) map[uint32]bool {
	m := make(map[uint32]bool, len(seqs))
	for _, s := range seqs {
		m[s] = true
	}
	return m
}

// noUnaskedLoss fails the test if the kernel dropped frames on the wire
// that the faults did not ask for, which would spoil exact counts.
func noUnaskedLoss(t *testing.T, st WireStats) {
	t.Helper()
	if st.SendErrors != 0 || st.KernelDrops != 0 {
		t.Fatalf("the wire lost frames it was not asked to: %v", st)
	}
}

// TestWireTransparent: without faults the wire is invisible, also to TCP
// with checksum offload and segmentation offload (the virtio-net headers
// carry them across).
func TestWireTransparent(t *testing.T) {
	a, b, w := faultyPair(t, Faults{})
	if w.AIf() != "v0-b" || w.BIf() != "v0-a" {
		t.Errorf("interface names %q, %q; want v0-b, v0-a as Connect names them", w.AIf(), w.BIf())
	}
	Ping(t, a, addrB.Addr(), 3, 5*time.Second)
	TransferTCP(t, a, b, addrB.Addr(), 8<<20)
	TransferTCP(t, b, a, addrA.Addr(), 8<<20)
	for _, d := range []Direction{AtoB, BtoA} {
		st := w.Stats(d)
		t.Logf("%v: %v", d, st)
		if st.Received == 0 || st.Sent != st.Received || st.Lost+st.Cut+st.Duplicated+st.Reordered+st.Delayed != 0 {
			t.Errorf("%v: %v", d, st)
		}
		noUnaskedLoss(t, st)
	}
	// Nothing of the wire's own leaks onto the links: it has no address.
	if out := w.Host().MustRun(t, "ip", "-o", "addr", "show", "scope", "global"); out != "" {
		t.Errorf("the wire has addresses:\n%s", out)
	}
}

// TestWireLoss: about 5% of the datagrams are lost, exactly those the
// wire counts, and the same seed loses the same ones again.
func TestWireLoss(t *testing.T) {
	f := Faults{Loss: 0.05, Proto: protoUDP, Seed: 1}
	a, b, w := faultyPair(t, f)
	const n = 4000
	lostSet := func() []uint32 {
		got := distinct(udpRun(t, a, b, addrB.Addr(), n))
		var lost []uint32
		for i := range uint32(n) {
			if !got[i] {
				lost = append(lost, i)
			}
		}
		return lost
	}
	lost1 := lostSet()
	st := w.Stats(AtoB)
	noUnaskedLoss(t, st)
	t.Logf("lost %d of %d (%.2f%%); %v", len(lost1), n, 100*float64(len(lost1))/n, st)
	if uint64(len(lost1)) != st.Lost || st.Matched != n {
		t.Errorf("%d datagrams missing, the wire lost %d of %d it matched", len(lost1), st.Lost, st.Matched)
	}
	if r := float64(len(lost1)) / n; r < 0.03 || r > 0.07 {
		t.Errorf("loss rate %.3f, want about 0.05", r)
	}
	// Only UDP is matched: the pings around it went through untouched.
	Ping(t, a, addrB.Addr(), 3, 5*time.Second)

	w.SetFaults(f) // the same seed again
	lost2 := lostSet()
	if !slices.Equal(lost1, lost2) {
		t.Errorf("the same seed lost different datagrams:\n%v\n%v", lost1, lost2)
	}
}

// TestWireDuplicate: duplicated datagrams arrive twice, nothing is lost.
func TestWireDuplicate(t *testing.T) {
	a, b, w := faultyPair(t, Faults{Duplicate: 0.1, Proto: protoUDP, Seed: 2})
	const n = 2000
	seqs := udpRun(t, a, b, addrB.Addr(), n)
	st := w.Stats(AtoB)
	noUnaskedLoss(t, st)
	extra := len(seqs) - n
	t.Logf("%d datagrams arrived for %d sent; %v", len(seqs), n, st)
	if len(distinct(seqs)) != n || extra <= 0 || uint64(extra) != st.Duplicated {
		t.Errorf("%d distinct of %d, %d extra, the wire duplicated %d", len(distinct(seqs)), n, extra, st.Duplicated)
	}
}

// TestWireReorder: frames held back arrive after later ones, nothing is
// lost.
func TestWireReorder(t *testing.T) {
	a, b, w := faultyPair(t, Faults{Reorder: 0.1, Proto: protoUDP, Seed: 3})
	const n = 2000
	seqs := udpRun(t, a, b, addrB.Addr(), n)
	st := w.Stats(AtoB)
	noUnaskedLoss(t, st)
	inv := inversions(seqs)
	t.Logf("%d arrivals out of order; %v", inv, st)
	if len(seqs) != n || len(distinct(seqs)) != n {
		t.Errorf("%d datagrams (%d distinct) arrived of %d", len(seqs), len(distinct(seqs)), n)
	}
	// A frame held at the end of a burst may wait out its 20 ms and
	// arrive in order; every other one is overtaken.
	if inv == 0 || uint64(inv) > st.Reordered || uint64(inv) < st.Reordered*8/10 {
		t.Errorf("%d arrivals out of order for %d frames held back", inv, st.Reordered)
	}
}

// TestWireDelay: delay applies both ways; jitter reorders.
func TestWireDelay(t *testing.T) {
	a, b, w := faultyPair(t, Faults{Delay: 30 * time.Millisecond})
	for _, rtt := range PingRTT(t, a, addrB.Addr(), 5, 5*time.Second) {
		if rtt < 60*time.Millisecond || rtt > 200*time.Millisecond {
			t.Errorf("rtt %v with 30 ms each way", rtt)
		}
	}
	w.SetFaults(Faults{Delay: 5 * time.Millisecond, Jitter: 5 * time.Millisecond, Proto: protoUDP, Seed: 4})
	const n = 2000
	seqs := udpRun(t, a, b, addrB.Addr(), n)
	st := w.Stats(AtoB)
	noUnaskedLoss(t, st)
	t.Logf("%d arrivals out of order; %v", inversions(seqs), st)
	if len(distinct(seqs)) != n || inversions(seqs) == 0 || st.Delayed < n*9/10 {
		t.Errorf("%d distinct of %d, %d out of order, %d delayed", len(distinct(seqs)), n, inversions(seqs), st.Delayed)
	}
}

// TestWireCut: a cut wire drops everything, whatever Proto says, and
// mends at run time; a one-way fault leaves the other direction alone.
func TestWireCut(t *testing.T) {
	a, b, w := faultyPair(t, Faults{Proto: ProtoGRE})
	w.Cut(true)
	if _, err := a.Ping(addrB.Addr(), 2, 500*time.Millisecond); err == nil {
		t.Error("ping through a cut wire")
	}
	if st := w.Stats(AtoB); st.Cut < 2 {
		t.Errorf("cut wire: %v", st)
	}
	w.Cut(false)
	if f := w.Faults(BtoA); f.Cut || f.Proto != ProtoGRE {
		t.Errorf("faults after mending: %+v", f)
	}
	Ping(t, a, addrB.Addr(), 2, 5*time.Second)

	// All UDP from b to a lost; a to b and pings unharmed.
	w.SetDirFaults(BtoA, Faults{Loss: 1, Proto: protoUDP})
	if got := udpRun(t, b, a, addrA.Addr(), 100); len(got) != 0 {
		t.Errorf("%d datagrams through a wire that loses all", len(got))
	}
	if got := udpRun(t, a, b, addrB.Addr(), 100); len(got) != 100 {
		t.Errorf("%d of 100 datagrams the other way", len(got))
	}
	Ping(t, b, addrA.Addr(), 2, 5*time.Second)
}

// TestWireUnplug: unplugging one side removes that host's interface, as
// ip link del does; the other host's link stays up and leads nowhere.
func TestWireUnplug(t *testing.T) {
	a, b, w := faultyPair(t, Faults{})
	if err := w.Unplug(SideA); err != nil {
		t.Fatal(err)
	}
	if out, err := a.Run("ip", "link", "show", w.AIf()); err == nil {
		t.Errorf("a's interface is still there:\n%s", out)
	}
	b.MustRun(t, "ip", "link", "show", "up", w.BIf())
	err := b.Do(func() error {
		ifi, err := net.InterfaceByName(w.BIf())
		if err != nil {
			return err
		}
		if ifi.Flags&net.FlagRunning == 0 {
			return errors.New("not running")
		}
		return nil
	})
	if err != nil {
		t.Errorf("b's link after unplugging a: %v", err)
	}
	if _, err := b.Ping(addrA.Addr(), 2, 500*time.Millisecond); err == nil {
		t.Error("ping to an unplugged host")
	}
	if _, err := os.Stat(w.Host().Path()); err != nil {
		t.Errorf("wire namespace: %v", err)
	}
}
