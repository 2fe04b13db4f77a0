package integration

import (
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopptp/gopptp/internal/freeradius"
	"github.com/gopptp/gopptp/internal/netns"
)

// dave's IPv6 comes from RADIUS: a /64 outside the server's ipv6-prefix
// pool and a delegated /56 for a router behind him.
var (
	daveIPv6Prefix = netip.MustParsePrefix("2001:db8:300:1::/64")
	daveDelegated  = netip.MustParsePrefix("2001:db8:400::/56")
)

// TestRADIUSIPv6: FreeRADIUS's Framed-IPv6-Prefix is the session's /64
// (the client forms its address in it from the router advertisement) and
// Delegated-IPv6-Prefix is routed to the session in the kernel and the
// data path and accepted as a source; pptpctl lists both, the session's
// counters include the IPv6 traffic, the routes go with the session, and
// the accounting Start and Stop in FreeRADIUS's detail file carry both
// prefixes.
func TestRADIUSIPv6(t *testing.T) {
	tp := newTopo(t)
	tp.withIPv6(t)
	for _, p := range []netip.Prefix{daveIPv6Prefix, daveDelegated} {
		tp.lan.MustRun(t, "ip", "-6", "route", "add", p.String(), "via", srvLAN6.Addr().String())
	}
	users := radiusUsers + `
dave	Cleartext-Password := "dave-password"
	Framed-IPv6-Prefix = ` + daveIPv6Prefix.String() + `,
	Delegated-IPv6-Prefix = ` + daveDelegated.String() + "\n"
	fr := freeradius.Start(t, freeradius.Options{Users: users, Secret: radiusSecret,
		Command: tp.srv.Command, Ports: freeradius.StandardPorts})
	tp.confExtra = []string{"ipv6-prefix " + ipv6Pool.String()}
	srv := tp.startServer(t, "+ipv6", "radius-server 127.0.0.1", "radius-secret "+radiusSecret)
	c := tp.startClient(t, "ppp0", "name", "dave", "password", "dave-password", "+ipv6", "defaultroute6")

	line := c.p.WaitFor(t, globalRE, 10*time.Second)
	global := netip.MustParseAddr(globalRE.FindStringSubmatch(line)[1])
	if !daveIPv6Prefix.Contains(global) {
		t.Errorf("client address %v, want one in the Framed-IPv6-Prefix %v", global, daveIPv6Prefix)
	}
	srv.WaitFor(t, regexp.MustCompile(`msg="IPv6 up".*prefix=`+regexp.QuoteMeta(daveIPv6Prefix.String())), 5*time.Second)
	srv.WaitFor(t, regexp.MustCompile(`msg="routing delegated IPv6 prefixes through the session".*`+regexp.QuoteMeta(daveDelegated.String())), 5*time.Second)
	for _, p := range []netip.Prefix{daveIPv6Prefix, daveDelegated} {
		if out := tp.srv.MustRun(t, "ip", "-6", "route", "show", p.String()); !strings.Contains(out, "dev pptp0") {
			t.Errorf("server route to %v: %q", p, out)
		}
	}

	netns.Ping(t, tp.cli, lanHost6.Addr(), 3, 5*time.Second)
	netns.Ping(t, tp.lan, global, 3, 5*time.Second)

	// An address of the delegated prefix on the client (a router would
	// have it on its LAN): the LAN host reaches it through the tunnel, and
	// its replies, from the delegated prefix, are not dropped as spoofed.
	sess := tp.sessions(t)
	if len(sess) != 1 {
		t.Fatalf("sessions: %+v", sess)
	}
	before := sess[0]
	routed := netip.MustParseAddr("2001:db8:400:5::1")
	tp.cli.MustRun(t, "ip", "-6", "addr", "add", routed.String()+"/128", "dev", "lo", "nodad")
	netns.Ping(t, tp.lan, routed, 5, 5*time.Second)
	after := tp.sessions(t)[0]
	if after.RxPackets < before.RxPackets+5 || after.TxPackets < before.TxPackets+5 || after.Dropped != before.Dropped {
		t.Errorf("session counters before %d/%d packets in/out, %d dropped; after 5 IPv6 pings %d/%d, %d dropped",
			before.RxPackets, before.TxPackets, before.Dropped, after.RxPackets, after.TxPackets, after.Dropped)
	}
	if after.IPv6Prefix != daveIPv6Prefix.String() || len(after.DelegatedPrefixes) != 1 || after.DelegatedPrefixes[0] != daveDelegated.String() {
		t.Errorf("pptpctl -json sessions: IPv6 prefix %q, delegated %q", after.IPv6Prefix, after.DelegatedPrefixes)
	}
	if out := tp.pptpctl(t, "sessions"); !strings.Contains(out, daveIPv6Prefix.String()+"+"+daveDelegated.String()) {
		t.Errorf("pptpctl sessions:\n%s", out)
	}
	if out := tp.pptpctl(t, "show", strconv.Itoa(int(after.ID))); !strings.Contains(out, daveIPv6Prefix.String()) || !strings.Contains(out, daveDelegated.String()) {
		t.Errorf("pptpctl show:\n%s", out)
	}

	c.stop(t)
	for _, p := range []netip.Prefix{daveIPv6Prefix, daveDelegated} {
		if out := tp.srv.MustRun(t, "ip", "-6", "route", "show", p.String()); out != "" {
			t.Errorf("route to %v left behind: %q", p, out)
		}
	}
	start, stop := acctRecords(t, fr, "dave")
	for name, r := range map[string]map[string][]string{"Start": start, "Stop": stop} {
		if first(r, "Framed-IPv6-Prefix") != daveIPv6Prefix.String() || first(r, "Delegated-IPv6-Prefix") != daveDelegated.String() {
			t.Errorf("%s record: Framed-IPv6-Prefix %q, Delegated-IPv6-Prefix %q", name, r["Framed-IPv6-Prefix"], r["Delegated-IPv6-Prefix"])
		}
	}
}
