package nd

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"reflect"
	"testing"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

var (
	router = netip.MustParseAddr("fe80::1:2:3:4")
	host   = netip.MustParseAddr("fe80::aaaa:bbbb:cccc:dddd")
)

func sampleRA() *RouterAdvertisement {
	return &RouterAdvertisement{
		CurHopLimit: 64, Other: true, RouterLifetime: 1800, ReachableTime: 30000, RetransTimer: 1000,
		Prefixes: []PrefixInfo{{Prefix: netip.MustParsePrefix("2001:db8:0:5::/64"), OnLink: true, Autonomous: true,
			ValidLifetime: Infinite, PreferredLifetime: Infinite}},
		MTU:   1456,
		RDNSS: []netip.Addr{netip.MustParseAddr("2001:db8::53"), netip.MustParseAddr("2001:db8::54")}, RDNSSLifetime: 3600,
	}
}

func TestRouterAdvertisementRoundTrip(t *testing.T) {
	for _, ra := range []*RouterAdvertisement{sampleRA(), {RouterLifetime: 0}, {Managed: true, RDNSS: []netip.Addr{netip.MustParseAddr("fd00::1")}}} {
		pkt := AppendRouterAdvertisement([]byte{9, 9}, router, AllNodes, ra)
		if pkt[0] != 9 || pkt[1] != 9 {
			t.Fatal("prefix of b overwritten")
		}
		m, err := Parse(pkt[2:])
		if err != nil {
			t.Fatal(err)
		}
		if m.Type != TypeRouterAdvertisement || m.Src != router || m.Dst != AllNodes {
			t.Errorf("header %+v", m)
		}
		if !reflect.DeepEqual(&m.RA, ra) {
			t.Errorf("round trip:\n got %+v\nwant %+v", m.RA, *ra)
		}
	}
}

func TestRouterSolicitationRoundTrip(t *testing.T) {
	pkt := AppendRouterSolicitation(nil, host, AllRouters)
	if len(pkt) != 48 {
		t.Fatalf("length %d, want 48", len(pkt))
	}
	m, err := Parse(pkt)
	if err != nil || m.Type != TypeRouterSolicitation || m.Src != host || m.Dst != AllRouters {
		t.Fatalf("%+v, %v", m, err)
	}
	// A solicitation from the unspecified address is valid too (a host
	// without an address yet).
	if _, err := Parse(AppendRouterSolicitation(nil, netip.IPv6Unspecified(), AllRouters)); err != nil {
		t.Error(err)
	}
}

// TestChecksumIndependent compares our checksum with x/net/icmp's, which
// computes it from the pseudo-header separately.
func TestChecksumIndependent(t *testing.T) {
	pkt := AppendRouterAdvertisement(nil, router, host, sampleRA())
	body := append([]byte(nil), pkt[40:]...)
	body[2], body[3] = 0, 0
	m := icmp.Message{Type: ipv6.ICMPTypeRouterAdvertisement, Body: &icmp.RawBody{Data: body[4:]}}
	want, err := m.Marshal(icmp.IPv6PseudoHeader(router.AsSlice(), host.AsSlice()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, pkt[40:]) {
		t.Errorf("checksum %x, x/net/icmp says %x", pkt[42:44], want[2:4])
	}
	// The wire format of the options, spelled out.
	opts := pkt[40+16:]
	if opts[0] != 5 || opts[1] != 1 || binary.BigEndian.Uint32(opts[4:]) != 1456 {
		t.Errorf("MTU option % x", opts[:8])
	}
	pi := opts[8:]
	if pi[0] != 3 || pi[1] != 4 || pi[2] != 64 || pi[3] != 0xc0 || !bytes.Equal(pi[16:24], []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 5}) {
		t.Errorf("prefix option % x", pi[:32])
	}
	rd := pi[32:]
	if rd[0] != 25 || rd[1] != 5 || binary.BigEndian.Uint32(rd[4:]) != 3600 || len(rd) != 40 {
		t.Errorf("RDNSS option % x", rd)
	}
}

func TestParseRejects(t *testing.T) {
	good := AppendRouterAdvertisement(nil, router, AllNodes, sampleRA())
	mutate := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	refix := func(b []byte) []byte {
		b[42], b[43] = 0, 0
		binary.BigEndian.PutUint16(b[42:], checksum(b))
		return b
	}
	for name, pkt := range map[string][]byte{
		"bad checksum": mutate(func(b []byte) []byte { b[50]++; return b }),
		"hop limit":    mutate(func(b []byte) []byte { b[7] = 64; return refix(b) }),
		"code":         mutate(func(b []byte) []byte { b[41] = 1; return refix(b) }),
		"global source": mutate(func(b []byte) []byte {
			copy(b[8:24], netip.MustParseAddr("2001:db8::1").AsSlice())
			return refix(b)
		}),
		"zero-length option": mutate(func(b []byte) []byte { b[57] = 0; return refix(b) }),
		"option past end":    mutate(func(b []byte) []byte { b[57] = 200; return refix(b) }),
		"truncated":          good[:len(good)-1],
		"payload length":     mutate(func(b []byte) []byte { b[5]++; return b }),
		"short RA": mutate(func(b []byte) []byte {
			b = b[:40+12]
			binary.BigEndian.PutUint16(b[4:], 12)
			return refix(b)
		}),
	} {
		if _, err := Parse(pkt); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Parse([]byte{0x60}); err != ErrNotRouterMessage {
		t.Errorf("one byte: %v", err)
	}
	ping := append([]byte(nil), good...)
	ping[40] = 128
	if IsRouterMessage(ping) {
		t.Error("echo request taken for a router message")
	}
}

// TestParseSkipsUnknown: an unknown option and a prefix option of the
// wrong size are skipped, the rest is read.
func TestParseSkipsUnknown(t *testing.T) {
	ra := &RouterAdvertisement{RouterLifetime: 9000}
	pkt := AppendRouterAdvertisement(nil, router, AllNodes, ra)
	pkt = append(pkt, 200, 1, 1, 2, 3, 4, 5, 6) // unknown type
	pkt = append(pkt, 3, 1, 64, 0xc0, 0, 0, 0, 0)
	binary.BigEndian.PutUint16(pkt[4:], uint16(len(pkt)-40))
	pkt[42], pkt[43] = 0, 0
	binary.BigEndian.PutUint16(pkt[42:], checksum(pkt))
	m, err := Parse(pkt)
	if err != nil {
		t.Fatal(err)
	}
	if m.RA.RouterLifetime != 9000 || len(m.RA.Prefixes) != 0 {
		t.Errorf("%+v", m.RA)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(AppendRouterAdvertisement(nil, router, AllNodes, sampleRA()))
	f.Add(AppendRouterSolicitation(nil, host, AllRouters))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		if m.Type != TypeRouterAdvertisement {
			return
		}
		// What parses re-encodes to something that parses alike.
		again, err := Parse(AppendRouterAdvertisement(nil, m.Src, m.Dst, &m.RA))
		if err != nil {
			t.Fatalf("re-encoded advertisement rejected: %v", err)
		}
		if !reflect.DeepEqual(again.RA, m.RA) {
			t.Fatalf("re-encoding changed the advertisement:\n%+v\n%+v", m.RA, again.RA)
		}
	})
}
