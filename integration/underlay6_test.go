package integration

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopptp/gopptp/internal/netns"
)

// PPTP over IPv6: the link between the client and the server carries
// IPv6 only, and the server's address the client dials sits behind the
// client's IPv6 default route.
var (
	cliUnder6 = netip.MustParsePrefix("fd00:1::2/64")
	srvUnder6 = netip.MustParsePrefix("fd00:1::1/64")
	// srvVPN6 is on the server's loopback, reached through the client's
	// default route: the default route through the tunnel
	// (defaultroute6 replacedefaultroute) would swallow it without the
	// host route the client pins it with.
	srvVPN6 = netip.MustParseAddr("2001:db8:ff::1")
)

// ipv6Underlay makes the topology's client-server link IPv6 only: its
// IPv4 addresses go, IPv6 ones come, the server gets srvVPN6 and the
// client a default route towards it, and the clients dial srvVPN6.
func (tp *topo) ipv6Underlay(t *testing.T) (cliIf string) {
	t.Helper()
	cliIf = linkWith(t, tp.cli, cliUnder.Addr())
	srvIf := linkWith(t, tp.srv, srvUnder.Addr())
	tp.cli.MustRun(t, "ip", "-4", "addr", "flush", "dev", cliIf)
	tp.srv.MustRun(t, "ip", "-4", "addr", "flush", "dev", srvIf)
	tp.cli.MustRun(t, "ip", "addr", "add", cliUnder6.String(), "dev", cliIf, "nodad")
	tp.srv.MustRun(t, "ip", "addr", "add", srvUnder6.String(), "dev", srvIf, "nodad")
	tp.srv.MustRun(t, "ip", "addr", "add", srvVPN6.String()+"/128", "dev", "lo")
	tp.cli.MustRun(t, "ip", "-6", "route", "add", "default", "via", srvUnder6.Addr().String())
	netns.Ping(t, tp.cli, srvVPN6, 1, 5*time.Second)
	tp.serverArg = "[" + srvVPN6.String() + "]"
	return cliIf
}

// hostsName gives name the address a in h's own /etc/hosts (ip netns exec
// bind-mounts /etc/netns/NAME/hosts over /etc/hosts for every process it
// starts in the namespace) and returns the name.
func hostsName(t *testing.T, h *netns.Host, name string, a netip.Addr) string {
	t.Helper()
	dir := filepath.Join("/etc/netns", h.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(a.String()+" "+name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// linkWith returns the interface of h that has address a.
func linkWith(t *testing.T, h *netns.Host, a netip.Addr) string {
	t.Helper()
	f := strings.Fields(h.MustRun(t, "ip", "-o", "addr", "show", "to", a.String()))
	if len(f) < 2 {
		t.Fatalf("no interface with %v on %v", a, h)
	}
	return f[1]
}

// TestTunnelOverIPv6: pptpd listening on an IPv6 address and a client
// dialling it over an IPv6-only link: the control connection runs over
// TCP/IPv6 and GRE over IPv6 (next header 47). The session's MTU takes
// the 40-byte IPv6 header into account (1500 - 64 = 1436). Inside, IPv4
// (ping, 20 MiB TCP each way, byte for byte) and IPv6 from +ipv6 with an
// ipv6-prefix pool (ping6, 4 MiB TCP each way) both work; the client's
// default routes go through the tunnel while a host route keeps the
// server's address outside it; everything is removed when the client
// leaves.
func TestTunnelOverIPv6(t *testing.T) {
	tp := newTopo(t)
	tp.withIPv6(t)
	cliIf := tp.ipv6Underlay(t)
	// Two datapath workers: packets from the IPv6 socket are sorted to
	// them with their senders.
	tp.confExtra = []string{"listen " + srvVPN6.String(), "ipv6-prefix " + ipv6Pool.String(), "datapath-workers 2"}
	srv := tp.startServer(t, "require-mschap-v2", "require-mppe-128", "+ipv6")
	srv.WaitFor(t, regexp.MustCompile(`pptpd listening" addr=`+regexp.QuoteMeta("["+srvVPN6.String()+"]:1723")), time.Second)
	// The client dials a name with only an AAAA record, from the hosts file
	// "ip netns exec" mounts for its namespace.
	tp.serverArg = hostsName(t, tp.cli, "vpn6.test", srvVPN6)
	c := tp.startClient(t, "ppp0", "name", user, "password", password, "+ipv6", "defaultroute6", "replacedefaultroute")
	global := netip.MustParseAddr(globalRE.FindStringSubmatch(c.p.WaitFor(t, globalRE, 10*time.Second))[1])
	srv.WaitFor(t, regexp.MustCompile(`msg="session up".*mppe_send="MPPE-128 stateless"`), 5*time.Second)
	// The IPv6 default routes follow the address.
	c.p.WaitFor(t, regexp.MustCompile(`msg="IPv6 default route set through ppp0"`), 5*time.Second)

	if out := tp.cli.MustRun(t, "ip", "-4", "addr", "show", "dev", cliIf); out != "" {
		t.Fatalf("the underlay has IPv4:\n%s", out)
	}
	if out := tp.cli.MustRun(t, "ip", "link", "show", "ppp0"); !strings.Contains(out, "mtu 1436") {
		t.Errorf("client interface: want mtu 1436 (IPv6 underlay):\n%s", out)
	}
	if out := tp.srv.MustRun(t, "ip", "route", "show", c.local.String()); !strings.Contains(out, "mtu 1436") {
		t.Errorf("server route: want mtu 1436:\n%s", out)
	}
	// The server's address stays on the underlay, pinned through the
	// gateway it had before the default routes moved into the tunnel.
	pin := tp.cli.MustRun(t, "ip", "-6", "route", "show", srvVPN6.String())
	if !strings.Contains(pin, "via "+srvUnder6.Addr().String()) || !strings.Contains(pin, "dev "+cliIf) {
		t.Errorf("route to the server: %q", pin)
	}
	if out := tp.cli.MustRun(t, "ip", "-6", "route", "show", "::/1"); !strings.Contains(out, "dev ppp0") {
		t.Errorf("no ::/1 through the tunnel: %q", out)
	}
	if out := tp.cli.MustRun(t, "ip", "-6", "route", "get", "2001:db8:ffff::1"); !strings.Contains(out, "dev ppp0") {
		t.Errorf("IPv6 traffic does not go through the tunnel: %q", out)
	}

	tp.checkTraffic(t, c)
	netns.Ping(t, tp.cli, lanHost6.Addr(), 3, 5*time.Second)
	netns.Ping(t, tp.lan, global, 3, 5*time.Second)
	up := netns.TransferTCP(t, tp.cli, tp.lan, lanHost6.Addr(), 4<<20)
	down := netns.TransferTCP(t, tp.lan, tp.cli, global, 4<<20)
	t.Logf("IPv6 inside: client->LAN %v, LAN->client %v", up, down)

	c.stop(t)
	srv.WaitFor(t, regexp.MustCompile(`msg="session down".*reason="call cleared by peer \(peer: User request\)"`), 5*time.Second)
	if out := tp.cli.MustRun(t, "ip", "-6", "route", "show", srvVPN6.String()); out != "" {
		t.Errorf("route to the server left behind: %q", out)
	}
	if out := tp.cli.MustRun(t, "ip", "-6", "route", "show", "default"); !strings.Contains(out, "via "+srvUnder6.Addr().String()) {
		t.Errorf("the original IPv6 default route is gone: %q", out)
	}
	if strings.Contains(c.p.Output(), "level=ERROR") {
		t.Errorf("client logged errors:\n%s", c.p.Output())
	}
}

// TestTunnelOverIPv6AllAddresses: without "listen" pptpd serves both
// families: a client over IPv4 and one over the IPv6-only link at the same
// time, each with working traffic.
func TestTunnelOverIPv6AllAddresses(t *testing.T) {
	tp := newTopo(t)
	tp.ipv6Underlay(t)
	// A second client host, on IPv4, behind the server's LAN side.
	cli4 := netns.NewHost(t, "cli4")
	cli4Addr, srvAddr4 := netip.MustParsePrefix("10.0.3.2/24"), netip.MustParsePrefix("10.0.3.1/24")
	netns.Connect(t, cli4, tp.srv, cli4Addr, srvAddr4)
	srv := tp.startServer(t)
	srv.WaitFor(t, regexp.MustCompile(`pptpd listening" addr=\[::\]:1723`), time.Second)

	c6 := tp.startClient(t, "ppp0", "name", user, "password", password)
	tp.serverArg = srvAddr4.Addr().String()
	tp4 := &topo{cli: cli4, srv: tp.srv, lan: tp.lan, dir: tp.dir, server: tp.server, serverArg: tp.serverArg}
	c4 := tp4.startClient(t, "ppp0", "name", user, "password", password)
	if out := tp.cli.MustRun(t, "ip", "link", "show", "ppp0"); !strings.Contains(out, "mtu 1436") {
		t.Errorf("IPv6 client's interface: want mtu 1436:\n%s", out)
	}
	if out := cli4.MustRun(t, "ip", "link", "show", "ppp0"); !strings.Contains(out, "mtu 1456") {
		t.Errorf("IPv4 client's interface: want mtu 1456:\n%s", out)
	}
	for _, h := range []*netns.Host{tp.cli, cli4} {
		netns.Ping(t, h, lanHost.Addr(), 3, 5*time.Second)
	}
	netns.Ping(t, tp.lan, c6.local, 2, 5*time.Second)
	netns.Ping(t, tp.lan, c4.local, 2, 5*time.Second)
	netns.TransferTCP(t, tp.cli, tp.lan, lanHost.Addr(), 2<<20)
	netns.TransferTCP(t, tp.lan, cli4, c4.local, 2<<20)
	c6.stop(t)
	c4.stop(t)
}
