package integration

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopptp/gopptp/internal/netns"
)

// IPv6 inside the tunnel: the LAN behind the server has its own IPv6
// subnet, and the server hands out /64s of ipv6Pool.
var (
	srvLAN6  = netip.MustParsePrefix("fd00:2::1/64")
	lanHost6 = netip.MustParsePrefix("fd00:2::2/64")
	ipv6Pool = netip.MustParsePrefix("2001:db8:100::/56")
	dns6     = netip.MustParseAddr("fd00:2::53")
)

var globalRE = regexp.MustCompile(`global IPv6 address ([0-9a-f:]+)`)

// withIPv6 gives the topology an IPv6 LAN behind the server (its own veth
// pair), IPv6 forwarding on the server and the LAN's route to the pool.
func (tp *topo) withIPv6(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/proc/net/if_inet6"); err != nil {
		t.Skip("no IPv6 in this kernel")
	}
	netns.Connect(t, tp.srv, tp.lan, srvLAN6, lanHost6)
	tp.srv.Sysctl(t, "net.ipv6.conf.all.forwarding", "1")
	tp.lan.MustRun(t, "ip", "-6", "route", "add", ipv6Pool.String(), "via", srvLAN6.Addr().String())
	// The LAN link works before the tunnel is tried (and neighbour
	// discovery on it is done, which would otherwise show in the first
	// round trips through the tunnel).
	netns.Ping(t, tp.srv, lanHost6.Addr(), 1, 5*time.Second)
}

// TestIPv6Tunnel: with +ipv6 on both ends and an ipv6-prefix pool, the
// client gets a link-local address from IPV6CP and a global one from the
// server's router advertisement (its /64 plus the negotiated identifier),
// a default IPv6 route and the RDNSS server; ping6 and TCP reach a LAN
// host behind the server both ways, byte for byte; a spoofed IPv6 source
// is dropped and counted; everything goes when the client leaves.
func TestIPv6Tunnel(t *testing.T) {
	tp := newTopo(t)
	tp.withIPv6(t)
	// One datapath worker: the socket and TUN readers process the
	// packets themselves (TestTunnel runs three workers).
	tp.confExtra = []string{"ipv6-prefix " + ipv6Pool.String(), "metrics-listen 10.0.1.1:9100", "datapath-workers 1"}
	srv := tp.startServer(t, "+ipv6", "ms-dns6 "+dns6.String())
	resolv := filepath.Join(tp.dir, "resolv.conf")
	write(t, resolv, "nameserver 10.255.255.53\n")
	c := tp.startClient(t, "ppp0", "name", user, "password", password, "+ipv6", "defaultroute6", "usepeerdns", "resolv-conf", resolv)

	line := c.p.WaitFor(t, globalRE, 10*time.Second)
	global := netip.MustParseAddr(globalRE.FindStringSubmatch(line)[1])
	srvLine := srv.WaitFor(t, regexp.MustCompile(`msg="IPv6 up".*`), 5*time.Second)
	m := regexp.MustCompile(`prefix=(\S+)`).FindStringSubmatch(srvLine)
	if m == nil {
		t.Fatalf("server line %q names no prefix", srvLine)
	}
	prefix := netip.MustParsePrefix(m[1])
	if !ipv6Pool.Contains(prefix.Addr()) || prefix.Bits() != 64 || !prefix.Contains(global) {
		t.Errorf("client address %v, session prefix %v from pool %v", global, prefix, ipv6Pool)
	}
	// The global address ends in the identifier IPV6CP agreed, which the
	// link-local address carries too.
	ll := regexp.MustCompile(`local  LL address (fe80::[0-9a-f:]+)`).FindStringSubmatch(c.p.Output())
	if ll == nil {
		t.Fatalf("no link-local address in the client's output:\n%s", c.p.Output())
	}
	lla, ga := netip.MustParseAddr(ll[1]).As16(), global.As16()
	if string(lla[8:]) != string(ga[8:]) {
		t.Errorf("global %v and link-local %s differ in their interface identifier", global, ll[1])
	}
	addrs := tp.cli.MustRun(t, "ip", "-6", "addr", "show", "dev", "ppp0")
	if !strings.Contains(addrs, global.String()+"/64") || !strings.Contains(addrs, ll[1]+"/64") {
		t.Errorf("client ppp0 addresses:\n%s", addrs)
	}
	if n := strings.Count(addrs, "inet6 fe80"); n != 1 {
		t.Errorf("client ppp0 has %d link-local addresses, want only IPV6CP's:\n%s", n, addrs)
	}
	// The default route follows the address.
	c.p.WaitFor(t, regexp.MustCompile(`msg="IPv6 default route set through ppp0"`), 5*time.Second)
	if out := tp.cli.MustRun(t, "ip", "-6", "route", "show", "default"); !strings.Contains(out, "dev ppp0") {
		t.Errorf("no IPv6 default route through the tunnel: %q", out)
	}
	if out := tp.srv.MustRun(t, "ip", "-6", "route", "show", prefix.String()); !strings.Contains(out, "dev pptp0") || !strings.Contains(out, "mtu 1456") {
		t.Errorf("server route to the session's /64: %q", out)
	}
	netns.WaitFor(t, 5*time.Second, func() bool {
		b, _ := os.ReadFile(resolv)
		return strings.Contains(string(b), "nameserver "+dns6.String())
	}, "the RDNSS server in resolv.conf")

	netns.Ping(t, tp.cli, lanHost6.Addr(), 3, 5*time.Second)
	netns.Ping(t, tp.lan, global, 3, 5*time.Second)
	up := netns.TransferTCP(t, tp.cli, tp.lan, lanHost6.Addr(), 4<<20)
	down := netns.TransferTCP(t, tp.lan, tp.cli, global, 4<<20)
	t.Logf("IPv6 client->LAN %v, LAN->client %v", up, down)
	// IPv4 is there as ever.
	netns.Ping(t, tp.cli, lanHost.Addr(), 2, 5*time.Second)

	// A source outside the session's /64 and link-local address is
	// spoofing: dropped and counted.
	spoofed := func() float64 { return tp.scrape(t, "10.0.1.1:9100")[`pptp_drops_total{reason="spoofed"}`] }
	before := spoofed()
	tp.cli.MustRun(t, "ip", "-6", "addr", "add", "2001:db8:999::1/128", "dev", "lo", "nodad")
	conn := tp.cli.ListenPacket(t, "udp6", "[2001:db8:999::1]:0")
	for range 5 {
		if _, err := conn.WriteTo([]byte("spoof"), &net.UDPAddr{IP: lanHost6.Addr().AsSlice(), Port: 9}); err != nil {
			t.Fatal(err)
		}
	}
	netns.WaitFor(t, 5*time.Second, func() bool { return spoofed() >= before+5 }, "5 spoofed IPv6 packets counted")

	c.stop(t)
	if out := tp.srv.MustRun(t, "ip", "-6", "route", "show", prefix.String()); out != "" {
		t.Errorf("route to the session's /64 left behind: %q", out)
	}
	if b, _ := os.ReadFile(resolv); string(b) != "nameserver 10.255.255.53\n" {
		t.Errorf("resolv.conf not restored:\n%s", b)
	}
}

// TestIPv6Refused: a client that asks for IPv6 from a server without it
// gets an LCP Protocol-Reject for IPV6CP and its IPv4 session works.
func TestIPv6Refused(t *testing.T) {
	tp := newTopo(t)
	srv := tp.startServer(t)
	c := tp.startClient(t, "ppp0", "name", user, "password", password, "+ipv6")
	srv.WaitFor(t, regexp.MustCompile(`msg=sent .*proto=LCP code=ProtRej`), 5*time.Second)
	c.p.WaitFor(t, regexp.MustCompile(`peer rejected IPV6CP`), 5*time.Second)
	netns.Ping(t, tp.cli, lanHost.Addr(), 3, 5*time.Second)
	netns.TransferTCP(t, tp.cli, tp.lan, lanHost.Addr(), 2<<20)
	if strings.Contains(c.p.Output(), "LL address") {
		t.Error("the client configured IPv6 without IPV6CP")
	}
	c.stop(t)
}
