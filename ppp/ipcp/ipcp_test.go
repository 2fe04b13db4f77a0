package ipcp

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"slices"
	"testing"

	"github.com/gopptp/gopptp/ppp"
)

var (
	srvLocal = netip.MustParseAddr("192.168.77.1")
	srvPeer  = netip.MustParseAddr("192.168.77.10")
	dnsA     = netip.MustParseAddr("10.0.0.53")
	dnsB     = netip.MustParseAddr("10.0.1.53")
	winsA    = netip.MustParseAddr("10.0.0.137")
	winsB    = netip.MustParseAddr("10.0.1.137")
)

type testIPCP struct {
	*IPCP
	out   *recorder
	timer *fakeTimer
	up    []Result
}

func newTestIPCP(cfg Config) *testIPCP {
	tc := &testIPCP{out: &recorder{}, timer: &fakeTimer{}}
	tc.IPCP = New(cfg, Hooks{Up: func(r Result) { tc.up = append(tc.up, r) }}, tc.out.send, tc.timer, ppp.Config{})
	return tc
}

func (tc *testIPCP) start(t *testing.T) ppp.Packet {
	t.Helper()
	tc.Open()
	tc.Up()
	p := tc.out.one(t)
	if p.Code != ppp.ConfReq {
		t.Fatalf("first packet %v, want ConfReq", p.Code)
	}
	return p
}

// opt encodes one address option.
func opt(typ uint8, a netip.Addr) string {
	v := a.As4()
	return hex.EncodeToString(ppp.AppendOption(nil, typ, v[:]...))
}

const zero = "00000000"

func TestServerCheckRequest(t *testing.T) {
	base := Config{Local: srvLocal, Peer: srvPeer}
	withDNS := Config{Local: srvLocal, Peer: srvPeer, DNS: [2]netip.Addr{dnsA, dnsB}}
	withAll := Config{Local: srvLocal, Peer: srvPeer, DNS: [2]netip.Addr{dnsA, dnsB}, NBNS: [2]netip.Addr{winsA, winsB}}
	oneDNS := Config{Local: srvLocal, Peer: srvPeer, DNS: [2]netip.Addr{dnsA}}
	peer := opt(OptAddress, srvPeer)
	tests := []struct {
		name       string
		cfg        Config
		req        string
		rejectOnly bool
		code       ppp.Code
		reply      string // ignored for ConfAck, which must echo req
	}{
		{"asks 0.0.0.0", base, "0306" + zero, false, ppp.ConfNak, peer},
		{"asks the assigned address", base, peer, false, ppp.ConfAck, ""},
		{"asks another address", base, opt(OptAddress, netip.MustParseAddr("192.168.77.99")), false, ppp.ConfNak, peer},
		{"asks our own address", base, opt(OptAddress, srvLocal), false, ppp.ConfNak, peer},
		{"omits the address", base, "", false, ppp.ConfNak, peer},
		{"omits the address, reject-only", base, "", true, ppp.ConfAck, ""},
		{"address of bad length", base, "0305000000", false, ppp.ConfRej, "0305000000"},
		{"deprecated IP-Addresses", base, "010ac0a84d0ac0a84d01" + peer, false, ppp.ConfRej, "010ac0a84d0ac0a84d01"},
		{"VJ compression", base, "0206002d0f01" + peer, false, ppp.ConfRej, "0206002d0f01"},
		{"VJ compression and 0.0.0.0: reject first", base, "0206002d0f01" + "0306" + zero, false, ppp.ConfRej, "0206002d0f01"},
		{"0.0.0.0 in reject-only mode", base, "0306" + zero, true, ppp.ConfRej, "0306" + zero},
		{"DNS asked, configured", withDNS, peer + "8106" + zero, false, ppp.ConfNak, opt(OptDNS1, dnsA)},
		{"DNS asked right", withDNS, peer + opt(OptDNS1, dnsA) + opt(OptDNS2, dnsB), false, ppp.ConfAck, ""},
		{"DNS asked wrong", withDNS, peer + opt(OptDNS1, dnsB), false, ppp.ConfNak, opt(OptDNS1, dnsA)},
		{"both DNS and address naked", withDNS, "0306" + zero + "8106" + zero + "8306" + zero, false, ppp.ConfNak, peer + opt(OptDNS1, dnsA) + opt(OptDNS2, dnsB)},
		{"DNS asked, not configured", base, peer + "8106" + zero, false, ppp.ConfRej, "8106" + zero},
		{"secondary DNS asked, only one configured", oneDNS, peer + "8106" + zero + "8306" + zero, false, ppp.ConfRej, "8306" + zero},
		{"NBNS asked, configured", withAll, peer + "8206" + zero + "8406" + zero, false, ppp.ConfNak, opt(OptNBNS1, winsA) + opt(OptNBNS2, winsB)},
		{"NBNS asked right", withAll, peer + opt(OptNBNS1, winsA) + opt(OptNBNS2, winsB), false, ppp.ConfAck, ""},
		{"NBNS asked, not configured", withDNS, peer + "8206" + zero + "8406" + zero, false, ppp.ConfRej, "8206" + zero + "8406" + zero},
		{"DNS of bad length", withDNS, peer + "8105000000", false, ppp.ConfRej, "8105000000"},
		{"unknown option", withDNS, peer + "63040102", false, ppp.ConfRej, "63040102"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestIPCP(tc.cfg)
			c.start(t)
			req := mustHex(tc.req)
			code, reply := c.CheckRequest(req, tc.rejectOnly)
			want := mustHex(tc.reply)
			if tc.code == ppp.ConfAck {
				want = req
			}
			if code != tc.code || !bytes.Equal(reply, want) {
				t.Errorf("CheckRequest(%s) = %v %x, want %v %x", tc.req, code, reply, tc.code, want)
			}
		})
	}
}

// replay feeds the client's IPCP Configure-Requests of a capture to a
// server-role IPCP and checks that each answer is the one the real server
// sent (same code, identifier and options), then completes the negotiation.
func replay(t *testing.T, capture, server, client string, cfg Config) *testIPCP {
	t.Helper()
	pkts := capturePackets(t, capture, ppp.ProtoIPCP)
	srv, cli := netip.MustParseAddr(server), netip.MustParseAddr(client)

	c := newTestIPCP(cfg)
	ours := c.start(t)
	realReq := find(t, pkts, server, ppp.ConfReq, -1)
	if !bytes.Equal(ours.Data, realReq.Data) {
		t.Errorf("our request %x, the real server's %x", ours.Data, realReq.Data)
	}
	n := 0
	for _, p := range pkts {
		if p.src != cli || p.pkt.Code != ppp.ConfReq {
			continue
		}
		n++
		var real ppp.Packet
		for _, q := range pkts {
			if q.src == srv && q.pkt.ID == p.pkt.ID && (q.pkt.Code == ppp.ConfAck || q.pkt.Code == ppp.ConfNak || q.pkt.Code == ppp.ConfRej) {
				real = q.pkt
				break
			}
		}
		c.Input(p.pkt)
		got := c.out.one(t)
		if got.Code != real.Code || got.ID != real.ID || !bytes.Equal(got.Data, real.Data) {
			t.Errorf("request id %d %x: answered %v id %d %x, the real server %v id %d %x",
				p.pkt.ID, p.pkt.Data, got.Code, got.ID, got.Data, real.Code, real.ID, real.Data)
		}
	}
	if n == 0 {
		t.Fatal("no client requests in the capture")
	}
	c.Input(ppp.Packet{Code: ppp.ConfAck, ID: ours.ID, Data: ours.Data})
	if !c.IsOpened() || len(c.up) != 1 {
		t.Fatalf("state %v, Up ran %d times; want Opened and 1", c.State(), len(c.up))
	}
	return c
}

func TestReplayPppd(t *testing.T) {
	for _, capture := range []string{
		"pppd-mschapv2-mppe128.pcap", "pppd-mschapv2-mppe40.pcap", "pppd-mschapv1-mppe128.pcap",
		"pppd-chapmd5-nomppe.pcap", "pppd-pap-nomppe.pcap",
	} {
		t.Run(capture, func(t *testing.T) {
			c := replay(t, capture, "10.99.0.2", "10.99.0.3", Config{Local: srvLocal, Peer: srvPeer})
			if r := c.up[0]; r.Local != srvLocal || r.Peer != srvPeer || len(r.DNS) != 0 {
				t.Errorf("result %v, want local %v remote %v no DNS", r, srvLocal, srvPeer)
			}
		})
	}
}

// TestReplayWindows replays the Windows client, which asks for its address,
// both DNS and both NBNS servers at once, against the RRAS configuration of
// the capture: one DNS server, no WINS. The first answer must reject NBNS1,
// DNS2 and NBNS2 together (RFC 1661: rejects before naks), exactly as RRAS
// did.
func TestReplayWindows(t *testing.T) {
	rrasLocal := netip.MustParseAddr("192.168.43.108")
	winPeer := netip.MustParseAddr("192.168.43.111")
	rrasDNS := netip.MustParseAddr("192.168.43.110")
	c := replay(t, "windows-client-rras-mschapv2-mppe128.pcap", "192.168.43.104", "192.168.43.39",
		Config{Local: rrasLocal, Peer: winPeer, DNS: [2]netip.Addr{rrasDNS}})
	if r := c.up[0]; r.Local != rrasLocal || r.Peer != winPeer {
		t.Errorf("result %v, want local %v remote %v", r, rrasLocal, winPeer)
	}
}

func TestWindowsRequestOneDNS(t *testing.T) {
	// The Windows request itself, against ms-dns set and no ms-wins.
	winReq := "0306" + zero + "8106" + zero + "8206" + zero + "8306" + zero + "8406" + zero
	tests := []struct {
		name  string
		dns   [2]netip.Addr
		code  ppp.Code
		reply string
	}{
		{"one ms-dns", [2]netip.Addr{dnsA}, ppp.ConfRej, "8206" + zero + "8306" + zero + "8406" + zero},
		{"two ms-dns", [2]netip.Addr{dnsA, dnsB}, ppp.ConfRej, "8206" + zero + "8406" + zero},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestIPCP(Config{Local: srvLocal, Peer: srvPeer, DNS: tc.dns})
			c.start(t)
			c.Input(ppp.Packet{Code: ppp.ConfReq, ID: 6, Data: mustHex(winReq)})
			got := c.out.one(t)
			if got.Code != tc.code || got.ID != 6 || hex.EncodeToString(got.Data) != tc.reply {
				t.Errorf("answer %v id %d %x, want %v id 6 %s", got.Code, got.ID, got.Data, tc.code, tc.reply)
			}
		})
	}
}

func TestClient(t *testing.T) {
	gotAddr := netip.MustParseAddr("192.168.43.111")
	srvAddr := netip.MustParseAddr("192.168.43.108")
	c := newTestIPCP(Config{RequestDNS: true})
	req := c.start(t)
	if want := "0306" + zero + "8106" + zero + "8306" + zero; hex.EncodeToString(req.Data) != want {
		t.Fatalf("first request %x, want %s", req.Data, want)
	}

	// The server naks address and DNS1 (as RRAS did) and rejects DNS2.
	c.Input(ppp.Packet{Code: ppp.ConfNak, ID: req.ID, Data: mustHex(opt(OptAddress, gotAddr) + opt(OptDNS1, dnsA))})
	req2 := c.out.one(t)
	if want := opt(OptAddress, gotAddr) + opt(OptDNS1, dnsA) + "8306" + zero; hex.EncodeToString(req2.Data) != want {
		t.Fatalf("request after nak %x, want %s", req2.Data, want)
	}
	c.Input(ppp.Packet{Code: ppp.ConfRej, ID: req2.ID, Data: mustHex("8306" + zero)})
	req3 := c.out.one(t)
	if want := opt(OptAddress, gotAddr) + opt(OptDNS1, dnsA); hex.EncodeToString(req3.Data) != want {
		t.Fatalf("request after reject %x, want %s", req3.Data, want)
	}

	// The server's own request: its address, acked.
	c.Input(ppp.Packet{Code: ppp.ConfReq, ID: 5, Data: mustHex(opt(OptAddress, srvAddr))})
	if r := c.out.one(t); r.Code != ppp.ConfAck {
		t.Fatalf("server's request answered %v %x, want ConfAck", r.Code, r.Data)
	}
	c.Input(ppp.Packet{Code: ppp.ConfAck, ID: req3.ID, Data: req3.Data})
	if !c.IsOpened() || len(c.up) != 1 {
		t.Fatalf("state %v, Up ran %d times; want Opened and 1", c.State(), len(c.up))
	}
	r := c.up[0]
	if r.Local != gotAddr || r.Peer != srvAddr || !slices.Equal(r.DNS, []netip.Addr{dnsA}) {
		t.Errorf("Up result %v, want local %v remote %v dns [%v]", r, gotAddr, srvAddr, dnsA)
	}
	if r2 := c.Result(); r2.Local != r.Local || r2.Peer != r.Peer || !slices.Equal(r2.DNS, r.DNS) {
		t.Errorf("Result() %v differs from the Up result %v", r2, r)
	}
	if f := c.Failure(); f != "" {
		t.Errorf("Failure %q", f)
	}
}

func TestClientGotNak(t *testing.T) {
	a := netip.MustParseAddr("192.168.77.10")
	tests := []struct {
		name string
		cfg  Config
		nak  string
		want string
	}{
		{"address adopted", Config{}, opt(OptAddress, a), opt(OptAddress, a)},
		{"0.0.0.0 suggestion ignored", Config{}, "0306" + zero, "0306" + zero},
		{"configured address kept", Config{Local: srvLocal}, opt(OptAddress, a), opt(OptAddress, srvLocal)},
		{"DNS not asked for: suggestion ignored", Config{}, opt(OptAddress, a) + opt(OptDNS1, dnsA), opt(OptAddress, a)},
		{"both DNS adopted", Config{RequestDNS: true}, opt(OptDNS2, dnsB) + opt(OptDNS1, dnsA), "0306" + zero + opt(OptDNS1, dnsA) + opt(OptDNS2, dnsB)},
		{"option of bad length skipped", Config{}, "030500000a" + opt(OptAddress, a), opt(OptAddress, a)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestIPCP(tc.cfg)
			req := c.start(t)
			c.Input(ppp.Packet{Code: ppp.ConfNak, ID: req.ID, Data: mustHex(tc.nak)})
			next := c.out.one(t)
			if next.Code != ppp.ConfReq || hex.EncodeToString(next.Data) != tc.want {
				t.Errorf("after nak %s sent %v %x, want ConfReq %s", tc.nak, next.Code, next.Data, tc.want)
			}
		})
	}
}

func TestClientDNSRejected(t *testing.T) {
	c := newTestIPCP(Config{RequestDNS: true})
	req := c.start(t)
	c.Input(ppp.Packet{Code: ppp.ConfRej, ID: req.ID, Data: mustHex("8106" + zero + "8306" + zero)})
	next := c.out.one(t)
	if want := "0306" + zero; hex.EncodeToString(next.Data) != want {
		t.Fatalf("after DNS reject asked %x, want %s", next.Data, want)
	}
	if r := c.Result(); len(r.DNS) != 0 {
		t.Errorf("Result DNS %v after the server rejected DNS", r.DNS)
	}
	// Options we never asked for cannot be rejected.
	c.Input(ppp.Packet{Code: ppp.ConfRej, ID: next.ID, Data: mustHex("0206002d0f01")})
	if p := c.out.take(); len(p) != 0 {
		t.Errorf("reject of an option we never sent caused %v", p)
	}
}

func TestClientAddressRejected(t *testing.T) {
	c := newTestIPCP(Config{})
	req := c.start(t)
	c.Input(ppp.Packet{Code: ppp.ConfRej, ID: req.ID, Data: req.Data})
	if f := c.Failure(); f == "" {
		t.Error("no Failure when the server refuses to assign an address")
	}
}

func TestClientRejectsZeroPeerAddress(t *testing.T) {
	// A client has no address to give a peer that asks for one.
	c := newTestIPCP(Config{})
	c.start(t)
	code, reply := c.CheckRequest(mustHex("0306"+zero), false)
	if code != ppp.ConfRej || hex.EncodeToString(reply) != "0306"+zero {
		t.Errorf("answer %v %x, want ConfRej 0306%s", code, reply, zero)
	}
}

// TestClientWithoutAddress: if the server acks 0.0.0.0 we end up without an
// address; IPCP must not report itself up with it.
func TestClientWithoutAddress(t *testing.T) {
	c := newTestIPCP(Config{})
	req := c.start(t)
	c.Input(ppp.Packet{Code: ppp.ConfAck, ID: req.ID, Data: req.Data})
	c.Input(ppp.Packet{Code: ppp.ConfReq, ID: 1, Data: mustHex(opt(OptAddress, srvLocal))})
	c.out.take()
	if len(c.up) != 0 {
		t.Errorf("Up ran with result %v", c.up)
	}
	if f := c.Failure(); f == "" {
		t.Error("no Failure after opening without an address")
	}
}

func TestServerResult(t *testing.T) {
	c := newTestIPCP(Config{Local: srvLocal, Peer: srvPeer, DNS: [2]netip.Addr{dnsA}})
	req := c.start(t)
	if want := opt(OptAddress, srvLocal); hex.EncodeToString(req.Data) != want {
		t.Fatalf("server request %x, want %s", req.Data, want)
	}
	// The server ignores a nak of its own address.
	c.Input(ppp.Packet{Code: ppp.ConfNak, ID: req.ID, Data: mustHex(opt(OptAddress, srvPeer))})
	req = c.out.one(t)
	if want := opt(OptAddress, srvLocal); hex.EncodeToString(req.Data) != want {
		t.Fatalf("server request after nak %x, want %s", req.Data, want)
	}
	c.Input(ppp.Packet{Code: ppp.ConfReq, ID: 3, Data: mustHex(opt(OptAddress, srvPeer) + opt(OptDNS1, dnsA))})
	if r := c.out.one(t); r.Code != ppp.ConfAck {
		t.Fatalf("answer %v, want ConfAck", r.Code)
	}
	c.Input(ppp.Packet{Code: ppp.ConfAck, ID: req.ID, Data: req.Data})
	if len(c.up) != 1 {
		t.Fatalf("Up ran %d times, want 1", len(c.up))
	}
	if r := c.up[0]; r.Local != srvLocal || r.Peer != srvPeer || len(r.DNS) != 0 {
		t.Errorf("result %v, want local %v remote %v and no DNS of our own", r, srvLocal, srvPeer)
	}
}

func TestNoExtendedCodes(t *testing.T) {
	c := newTestIPCP(Config{Local: srvLocal, Peer: srvPeer})
	c.start(t)
	c.Input(ppp.Packet{Code: ppp.ResetReq, ID: 4})
	if p := c.out.one(t); p.Code != ppp.CodeRej {
		t.Errorf("code 14 answered %v, want CodeRej", p.Code)
	}
}
