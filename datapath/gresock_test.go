package datapath

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopptp/gopptp/gre"
	"github.com/gopptp/gopptp/internal/netns"
)

func TestListenGREFamilies(t *testing.T) {
	_, err := ListenGRE(netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("2001:db8::1"))
	if err == nil {
		t.Fatal("a socket bound to IPv4 and connected to IPv6 was opened")
	}
}

func TestTunnelMTUFamilies(t *testing.T) {
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	for _, tc := range []struct {
		link int
		peer netip.Addr
		want int
	}{
		{1500, v4, 1456},
		{1500, netip.AddrFrom16(v4.As16()), 1456}, // IPv4-mapped is IPv4
		{1500, v6, 1436},
		{1280, v6, 1216},
		{9000, v6, 1500},
		{600, v6, 576},
	} {
		if got := TunnelMTU(tc.link, tc.peer); got != tc.want {
			t.Errorf("TunnelMTU(%d, %v) = %d, want %d", tc.link, tc.peer, got, tc.want)
		}
	}
}

// greFrame is an enhanced GRE packet: h and payload.
func greFrame(h gre.Header, payload []byte) []byte {
	h.PayloadLen = uint16(len(payload))
	return append(h.Append(nil), payload...)
}

// greHosts joins two namespaces by a link with only the addresses given
// (IPv6 ones: no IPv4 on the link at all).
func greHosts(t *testing.T, a, b netip.Prefix) (*netns.Host, *netns.Host) {
	netns.RequireRoot(t)
	ha, hb := netns.NewHost(t, "grea"), netns.NewHost(t, "greb")
	netns.Connect(t, ha, hb, a, b)
	return ha, hb
}

// openGRE opens a GRE socket inside h.
func openGRE(t *testing.T, h *netns.Host, local, remote netip.Addr) *GRESocket {
	t.Helper()
	var s *GRESocket
	if err := h.Do(func() (err error) { s, err = ListenGRE(local, remote); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// readAll reads n packets from r (several Reads if the kernel splits the
// batch) and returns them with their senders.
func readAll(t *testing.T, s *GRESocket, r *BatchReader, bufs [][]byte, n int) (pkts [][]byte, srcs []netip.Addr) {
	t.Helper()
	sizes := make([]int, len(bufs))
	s.file.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(pkts) < n {
		k, err := r.Read(sizes)
		if err != nil {
			t.Fatalf("read after %d of %d packets: %v", len(pkts), n, err)
		}
		for i := 0; i < k; i++ {
			if sizes[i] < 0 {
				t.Fatalf("packet %d truncated", i)
			}
			pkts = append(pkts, append([]byte(nil), bufs[i][:sizes[i]]...))
			srcs = append(srcs, r.Src(i))
		}
	}
	return pkts, srcs
}

// TestGRESocketIPv6 sends batches of GRE packets over an IPv6-only link
// between two namespaces: the receiver gets them from the GRE header on,
// byte for byte, with the sender's address from recvmmsg; the reply to that
// address comes back through the connected socket of the client side. A
// message to an IPv4 address on the IPv6 socket is dropped and counted,
// not sent and not a panic.
func TestGRESocketIPv6(t *testing.T) {
	aAddr, bAddr := netip.MustParsePrefix("fd00:47::1/64"), netip.MustParsePrefix("fd00:47::2/64")
	ha, hb := greHosts(t, aAddr, bAddr)
	cli := openGRE(t, ha, aAddr.Addr(), bAddr.Addr()) // the client: connected
	srv := openGRE(t, hb, netip.IPv6Unspecified(), netip.Addr{})
	if !cli.IPv6() || !srv.IPv6() {
		t.Fatal("sockets to IPv6 addresses are not IPv6")
	}

	const n = 20
	var msgs []Message
	for i := range n {
		h := gre.Header{CallID: uint16(i), HasSeq: true, Seq: uint32(i), HasAck: i%2 == 0, Ack: 7}
		pkt := greFrame(h, bytes.Repeat([]byte{byte(i)}, 10+i*50))
		msgs = append(msgs, Message{Buf: pkt, Dst: bAddr.Addr()})
	}
	w := cli.NewWriter(n)
	if err := w.Write(msgs); err != nil {
		t.Fatal(err)
	}
	bufs := make([][]byte, 8)
	for i := range bufs {
		bufs[i] = make([]byte, rxBufSize)
	}
	pkts, srcs := readAll(t, srv, srv.NewReader(bufs), bufs, n)
	for i, p := range pkts {
		if !bytes.Equal(p, msgs[i].Buf) {
			t.Fatalf("packet %d: got % x, sent % x", i, p[:min(len(p), 24)], msgs[i].Buf[:24])
		}
		if srcs[i] != aAddr.Addr() {
			t.Errorf("packet %d from %v, want %v", i, srcs[i], aAddr.Addr())
		}
		h, _, err := gre.Parse(p)
		if err != nil || h.CallID != uint16(i) {
			t.Errorf("packet %d: GRE header %+v, %v", i, h, err)
		}
	}

	// The reply, to the address the request came from.
	sw := srv.NewWriter(2)
	reply := greFrame(gre.Header{CallID: 99, HasAck: true, Ack: n - 1}, nil)
	if err := sw.Write([]Message{{Buf: reply, Dst: netip.MustParseAddr("10.0.0.1")}, {Buf: reply, Dst: srcs[0]}}); err != nil {
		t.Fatal(err)
	}
	if sw.Dropped != 1 {
		t.Errorf("%d messages dropped, want the one to an IPv4 address", sw.Dropped)
	}
	got, from := readAll(t, cli, cli.NewReader(bufs), bufs, 1)
	if !bytes.Equal(got[0], reply) || from[0] != bAddr.Addr() {
		t.Errorf("reply % x from %v", got[0], from[0])
	}

	// A second address on the server's side: a client connected to it
	// hears the unbound socket only when the reply leaves from it, which
	// Src (IPV6_PKTINFO) sees to.
	second := netip.MustParseAddr("fd00:47::3")
	hb.MustRun(t, "ip", "addr", "add", second.String()+"/64", "dev", linkOf(t, hb, bAddr.Addr()), "nodad")
	cli2 := openGRE(t, ha, aAddr.Addr(), second)
	if err := sw.Write([]Message{{Buf: reply, Dst: aAddr.Addr(), Src: second}}); err != nil {
		t.Fatal(err)
	}
	r2 := cli2.NewReader(bufs)
	got, from = readAll(t, cli2, r2, bufs, 1)
	if !bytes.Equal(got[0], reply) || from[0] != second {
		t.Errorf("reply % x from %v, want from %v", got[0], from[0], second)
	}
	// The kernel's own choice may be either address: the other one
	// proves Src is obeyed.
	if err := sw.Write([]Message{{Buf: reply, Dst: aAddr.Addr(), Src: bAddr.Addr()}}); err != nil {
		t.Fatal(err)
	}
	got, from = readAll(t, cli, cli.NewReader(bufs), bufs, 1)
	if !bytes.Equal(got[0], reply) || from[0] != bAddr.Addr() {
		t.Errorf("reply % x from %v, want from %v", got[0], from[0], bAddr.Addr())
	}

	// The per-packet path allocates nothing on an IPv6 socket either.
	batch := []Message{{Buf: reply, Dst: aAddr.Addr(), Src: second}, {Buf: reply, Dst: aAddr.Addr(), Src: second}}
	sizes := make([]int, len(bufs))
	if a := testing.AllocsPerRun(50, func() {
		if err := sw.Write(batch); err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 2; {
			n, err := r2.Read(sizes)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				_ = r2.Src(i)
			}
			k += n
		}
	}); a != 0 {
		t.Errorf("%v allocations per batch written and read", a)
	}
}

// linkOf returns the interface of h that has address a.
func linkOf(t *testing.T, h *netns.Host, a netip.Addr) string {
	t.Helper()
	f := strings.Fields(h.MustRun(t, "ip", "-o", "addr", "show", "to", a.String()))
	if len(f) < 2 {
		t.Fatalf("no interface with %v on %v", a, h)
	}
	return f[1]
}

// TestGRESocketIPv4Src: an IPv4 socket still delivers the IP header, and
// Src names the sender too.
func TestGRESocketIPv4Src(t *testing.T) {
	aAddr, bAddr := netip.MustParsePrefix("10.47.0.1/24"), netip.MustParsePrefix("10.47.0.2/24")
	ha, hb := greHosts(t, aAddr, bAddr)
	cli := openGRE(t, ha, aAddr.Addr(), bAddr.Addr())
	srv := openGRE(t, hb, netip.IPv4Unspecified(), netip.Addr{})
	pkt := greFrame(gre.Header{CallID: 5, HasSeq: true, Seq: 1}, []byte("hello"))
	w := cli.NewWriter(2)
	if err := w.Write([]Message{{Buf: pkt, Dst: netip.MustParseAddr("2001:db8::1")}, {Buf: pkt, Dst: bAddr.Addr()}}); err != nil {
		t.Fatal(err)
	}
	if w.Dropped != 1 {
		t.Errorf("%d messages dropped, want the one to an IPv6 address", w.Dropped)
	}
	bufs := [][]byte{make([]byte, rxBufSize)}
	got, from := readAll(t, srv, srv.NewReader(bufs), bufs, 1)
	if len(got[0]) != 20+len(pkt) || got[0][0]>>4 != 4 || !bytes.Equal(got[0][20:], pkt) {
		t.Errorf("received % x", got[0])
	}
	if from[0] != aAddr.Addr() {
		t.Errorf("from %v, want %v", from[0], aAddr.Addr())
	}
}

// TestEngineIPv6Underlay runs the receive path on what an IPv6 socket
// delivers: the GRE packet alone with its sender. The call's peer gets
// through, another address with the same Call ID counts as a wrong peer,
// and an IPv4 sender for an IPv6 peer too.
func TestEngineIPv6Underlay(t *testing.T) {
	peer := netip.MustParseAddr("2001:db8::2")
	e := NewEngine(Config{})
	e.setSend(func([]byte, netip.Addr) {})
	var got [][]byte
	c, err := e.AddCall(CallConfig{LocalID: 9, PeerID: 3, Peer: peer, PeerWindow: 64,
		Raw: func(f []byte) { got = append(got, append([]byte(nil), f...)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer e.RemoveCall(c)
	b := newRxBatch()
	b.now = time.Now()
	pkt := func(seq uint32) []byte {
		return greFrame(gre.Header{CallID: 9, HasSeq: true, Seq: seq}, []byte{0xff, 0x03, 0xc0, 0x21, byte(seq)})
	}
	e.receiveGRE(b, pkt(0), peer)
	e.receiveGRE(b, pkt(1), netip.MustParseAddr("2001:db8::666"))
	e.receiveGRE(b, pkt(1), netip.MustParseAddr("192.0.2.2"))
	e.receiveGRE(b, pkt(1), netip.Addr{})
	e.receiveGRE(b, []byte{0x30, 0x01}, peer)
	e.receiveGRE(b, pkt(1), peer) // in sequence: the others did not count
	if len(got) != 2 || got[0][4] != 0 || got[1][4] != 1 {
		t.Errorf("delivered %x, want frames 0 and 1", got)
	}
	if n := e.Counters.WrongPeer.Load(); n != 3 {
		t.Errorf("%d wrong-peer packets, want 3", n)
	}
	if n := e.Counters.Malformed.Load(); n != 1 {
		t.Errorf("%d malformed packets, want 1", n)
	}
}

// TestSendOneNoSocket: a control frame for a peer of a family the engine
// has no socket for is dropped and counted.
func TestSendOneNoSocket(t *testing.T) {
	e := NewEngine(Config{})
	e.sendOne([]byte{1, 2, 3}, netip.MustParseAddr("2001:db8::1"), netip.Addr{})
	if n := e.Counters.SendDropped.Load(); n != 1 {
		t.Errorf("SendDropped %d, want 1", n)
	}
}
