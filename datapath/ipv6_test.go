package datapath

import (
	"encoding/binary"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/gopptp/gopptp/nd"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/ccp"
)

var (
	prefixA = netip.MustParsePrefix("2001:db8:0:7::/64") // side A's /64 (the client's)
	cli6    = netip.MustParseAddr("2001:db8:0:7:1:2:3:4")
	lan6    = netip.MustParseAddr("2001:db8:ff::2")
	iidA    = uint64(0x0102030405060708)
	llA     = netip.MustParseAddr("fe80::102:304:506:708")
	iidB    = uint64(0x1111222233334444)
)

// ip6Packet builds an IPv6/UDP packet from src to dst whose payload starts
// with the index i.
func ip6Packet(src, dst netip.Addr, i, size int) []byte {
	b := make([]byte, size)
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(size-40))
	b[6], b[7] = 17, 64
	copy(b[8:24], src.AsSlice())
	copy(b[24:40], dst.AsSlice())
	binary.BigEndian.PutUint32(b[48:], uint32(i))
	return b
}

// newPair6 is newPair with IPv6 up: A is the client with the /64 prefixA,
// B the server checking sources.
func newPair6(t testing.TB, dir ccp.Direction) *pair {
	p := newPair(t, dir)
	if err := p.ca.SetIPv6(true, iidB, netip.Prefix{}); err != nil {
		t.Fatal(err)
	}
	if err := p.cb.SetIPv6(true, iidA, prefixA); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestIPv6Data: IPv6 goes through as PPP protocol 0x0057 (inside MPPE when
// on) from the peer's /64 and link-local address; any other source is
// dropped and counted, and IPv4 is unaffected.
func TestIPv6Data(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := newPair6(t, m.dir)
			g := p.encap(t, ip6Packet(cli6, lan6, 0, 100))
			if !m.dir.On {
				if proto := binary.BigEndian.Uint16(g[len(g)-100-2:]); ppp.Protocol(proto) != ppp.ProtoIPv6 {
					t.Errorf("PPP protocol %#04x, want 0x0057", proto)
				}
			}
			now := time.Now()
			p.receive(now, g,
				p.encap(t, ip6Packet(llA, lan6, 1, 80)),
				p.encap(t, ip6Packet(netip.MustParseAddr("2001:db8:0:8::1"), lan6, 2, 80)), // another /64
				p.encap(t, ip6Packet(netip.MustParseAddr("fe80::99"), lan6, 3, 80)),        // another link-local
				p.encap(t, ipPacket(tunA, tunB, 4, 60)),
			)
			if len(p.got) != 3 {
				t.Fatalf("delivered %d packets, want 3", len(p.got))
			}
			for i, want := range []int{0, 1, 4} {
				off := 48
				if p.got[i][0]>>4 == 4 {
					off = 28
				}
				if got := int(binary.BigEndian.Uint32(p.got[i][off:])); got != want {
					t.Errorf("packet %d is %d, want %d", i, got, want)
				}
			}
			if n := p.cb.Stats.DropSpoof.Load(); n != 2 {
				t.Errorf("DropSpoof %d, want 2", n)
			}
			if len(p.control) != 0 {
				t.Errorf("control frames %v", p.control)
			}
		})
	}
}

// TestIPv6NotUp: before IPV6CP opens (or when the session does not speak
// IPv6) IPv6 frames go to the session, which discards or rejects them,
// and none is sent.
func TestIPv6NotUp(t *testing.T) {
	p := newPair(t, ccp.Direction{On: true, KeyBits: 128, Stateless: true})
	p.receive(time.Now(), p.encap(t, ip6Packet(cli6, lan6, 0, 100)))
	if len(p.got) != 0 || len(p.control) != 1 || p.control[0] != ppp.ProtoIPv6 {
		t.Errorf("delivered %d, control %v; want the frame given to the session", len(p.got), p.control)
	}
	buf := make([]byte, Headroom+100)
	copy(buf[Headroom:], ip6Packet(cli6, lan6, 0, 100))
	if err := p.ca.SendIP(buf); err != ErrNotUp {
		t.Errorf("SendIP of IPv6 without IPV6CP: %v", err)
	}
	if p.b.route(ip6Packet(lan6, cli6, 0, 60)) != nil {
		t.Error("IPv6 routed to a call without IPv6")
	}
	// Up, then down again.
	p.cb.SetIPv6(true, iidA, prefixA)
	if p.b.route(ip6Packet(lan6, cli6, 0, 60)) != p.cb {
		t.Error("the /64 is not routed to its call")
	}
	if p.b.route(ip6Packet(lan6, netip.MustParseAddr("2001:db8:0:8::1"), 0, 60)) != nil {
		t.Error("another /64 routed to the call")
	}
	p.cb.SetIPv6(false, iidA, prefixA)
	if p.b.route(ip6Packet(lan6, cli6, 0, 60)) != nil {
		t.Error("the /64 is still routed after IPv6 went down")
	}
	p.cb.SetIPv6(true, iidA, prefixA)
	p.b.RemoveCall(p.cb)
	if p.b.route(ip6Packet(lan6, cli6, 0, 60)) != nil {
		t.Error("the /64 is still routed after RemoveCall")
	}
	if err := p.cb.SetIPv6(true, iidA, netip.MustParsePrefix("2001:db8::/48")); err == nil {
		t.Error("a /48 accepted as a session's prefix")
	}
}

// TestIPv6RouterMessages: router solicitations and advertisements go to
// the ND handler, not the TUN device; a solicitation from the unspecified
// address passes the source check, other traffic from it does not.
func TestIPv6RouterMessages(t *testing.T) {
	p := newPair6(t, ccp.Direction{On: true, KeyBits: 128, Stateless: true})
	var diverted [][]byte
	p.cb.SetNDHandler(func(ip []byte) { diverted = append(diverted, append([]byte(nil), ip...)) })
	rs := nd.AppendRouterSolicitation(nil, llA, nd.AllRouters)
	rs0 := nd.AppendRouterSolicitation(nil, netip.IPv6Unspecified(), nd.AllRouters)
	p.receive(time.Now(), p.encap(t, rs), p.encap(t, rs0), p.encap(t, ip6Packet(netip.IPv6Unspecified(), lan6, 0, 60)))
	if len(diverted) != 2 || len(p.got) != 0 {
		t.Fatalf("diverted %d, delivered %d; want 2 and 0", len(diverted), len(p.got))
	}
	if m, err := nd.Parse(diverted[0]); err != nil || m.Type != nd.TypeRouterSolicitation {
		t.Errorf("diverted %+v, %v", m, err)
	}
	if n := p.cb.Stats.DropSpoof.Load(); n != 1 {
		t.Errorf("DropSpoof %d, want 1", n)
	}
	p.cb.SetNDHandler(nil)
	p.receive(time.Now(), p.encap(t, rs))
	if len(p.got) != 1 {
		t.Error("without a handler a solicitation is not delivered")
	}
}

// TestSendLocalIP: a packet the owner sends while the send goroutine has
// packets in flight waits behind them, and arrives in order.
func TestSendLocalIP(t *testing.T) {
	p := newPair6(t, ccp.Direction{On: true, KeyBits: 128, Stateless: false})
	ra := nd.AppendRouterAdvertisement(nil, llA, nd.AllNodes, &nd.RouterAdvertisement{RouterLifetime: 1800})
	// One data packet numbered, not yet handed to the kernel.
	buf := make([]byte, Headroom+100)
	copy(buf[Headroom:], ip6Packet(cli6, lan6, 0, 100))
	first := p.ca.encap(buf, Headroom, 100)
	if first == nil {
		t.Fatal("encap queued the first packet")
	}
	first = append([]byte(nil), first...)
	if err := p.ca.SendLocalIP(ra); err != nil {
		t.Fatal(err)
	}
	if len(p.underlying) != 0 {
		t.Fatal("the local packet overtook a packet in flight")
	}
	p.ca.sent()
	if len(p.underlying) != 1 {
		t.Fatalf("%d packets after the one in flight left, want the local one", len(p.underlying))
	}
	var got [][]byte
	p.cb.cfg.DeliverIP = func(ip []byte) { got = append(got, append([]byte(nil), ip...)) }
	p.receive(time.Now(), withIPv4(first, underA, underB), withIPv4(p.underlying[0], underA, underB))
	if len(got) != 2 || !nd.IsRouterMessage(got[1]) {
		t.Fatalf("received %d packets, the second a router message: %v", len(got), len(got) == 2 && nd.IsRouterMessage(got[1]))
	}
	// With nothing in flight it leaves at once.
	if err := p.ca.SendLocalIP(ra); err != nil || len(p.underlying) != 2 {
		t.Errorf("SendLocalIP with nothing in flight: %v, %d sent", err, len(p.underlying))
	}
	if err := p.ca.SendLocalIP(ipPacket(tunA, tunB, 0, 40)); err != nil {
		t.Errorf("IPv4 SendLocalIP: %v", err)
	}
	p.ca.SetIPv6(false, iidB, netip.Prefix{})
	if err := p.ca.SendLocalIP(ra); err != ErrNotUp {
		t.Errorf("SendLocalIP without IPv6: %v", err)
	}
}

// BenchmarkEncapDecap6 is BenchmarkEncapDecap for IPv6 packets through the
// source check and the /64 lookup: no allocation either.
func BenchmarkEncapDecap6(b *testing.B) {
	for _, m := range modes {
		for _, size := range []int{64, 1400} {
			b.Run(m.name+"/"+strconv.Itoa(size), func(b *testing.B) {
				p := newPair6(b, m.dir)
				back := ip6Packet(lan6, cli6, 0, 60)
				p.benchEncapDecap(b, ip6Packet(cli6, lan6, 0, size), func() {
					if p.b.route(back) != p.cb {
						b.Fatal("no route")
					}
				})
			})
		}
	}
}

// TestIPv6Subnets: a prefix delegated to the session (shorter than /64)
// is routed to its call, longest match after the sessions' /64s, and its
// addresses are accepted as sources; another call cannot take it, and it
// goes away with IPv6 and with the call.
func TestIPv6Subnets(t *testing.T) {
	p := newPair6(t, ccp.Direction{On: true, KeyBits: 128, Stateless: true})
	delegated := netip.MustParsePrefix("2001:db8:200::/56")
	inside := netip.MustParseAddr("2001:db8:200:ab::5")
	if err := p.cb.SetSubnets6([]netip.Prefix{delegated}); err != nil {
		t.Fatal(err)
	}
	if p.b.route(ip6Packet(lan6, inside, 0, 60)) != p.cb {
		t.Error("an address of the delegated prefix is not routed to its call")
	}
	if p.b.route(ip6Packet(lan6, netip.MustParseAddr("2001:db8:201::1"), 0, 60)) != nil {
		t.Error("an address outside the delegated prefix routed")
	}
	p.receive(time.Now(),
		p.encap(t, ip6Packet(inside, lan6, 0, 80)),
		p.encap(t, ip6Packet(netip.MustParseAddr("2001:db8:300::1"), lan6, 1, 80)))
	if len(p.got) != 1 || p.cb.Stats.DropSpoof.Load() != 1 {
		t.Errorf("delivered %d packets with %d spoofed, want 1 and 1", len(p.got), p.cb.Stats.DropSpoof.Load())
	}

	other, err := p.b.AddCall(CallConfig{LocalID: 3, PeerID: 9, Peer: underA, PeerWindow: 16, Control: func(ppp.Protocol, []byte) {}})
	if err != nil {
		t.Fatal(err)
	}
	other.SetIPv6(true, iidA, netip.MustParsePrefix("2001:db8:0:9::/64"))
	if err := other.SetSubnets6([]netip.Prefix{delegated}); err == nil {
		t.Error("a prefix routed to another call accepted")
	}
	for _, bad := range []string{"2001:db8::/80", "10.0.0.0/8"} {
		if err := other.SetSubnets6([]netip.Prefix{netip.MustParsePrefix(bad)}); err == nil {
			t.Errorf("SetSubnets6(%s) accepted", bad)
		}
	}

	p.cb.SetIPv6(false, iidA, prefixA)
	if p.b.route(ip6Packet(lan6, inside, 0, 60)) != nil {
		t.Error("the delegated prefix is still routed after IPv6 went down")
	}
	p.cb.SetIPv6(true, iidA, prefixA)
	if err := p.cb.SetSubnets6([]netip.Prefix{delegated}); err != nil {
		t.Fatal(err)
	}
	p.b.RemoveCall(p.cb)
	if p.b.route(ip6Packet(lan6, inside, 0, 60)) != nil {
		t.Error("the delegated prefix is still routed after RemoveCall")
	}
	if err := other.SetSubnets6([]netip.Prefix{delegated}); err != nil {
		t.Errorf("the prefix of a removed call cannot be routed to another: %v", err)
	}
}
