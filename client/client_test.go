package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopptp/gopptp/control"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/ccp"
	"github.com/gopptp/gopptp/session"
)

func TestRetryDelay(t *testing.T) {
	for _, tc := range []struct {
		holdoff  time.Duration
		failures int
		want     time.Duration
	}{
		{30 * time.Second, 0, 30 * time.Second}, // a drop: pppd's holdoff
		{0, 0, 0},
		{0, 1, time.Second}, // failures back off from a second at least
		{0, 2, 2 * time.Second},
		{time.Second, 3, 4 * time.Second},
		{time.Second, 30, maxBackoff},
		{5 * time.Minute, 4, 5 * time.Minute}, // a holdoff above the cap is kept
		{30 * time.Second, 2, time.Minute},
		// Long holdoffs do not overflow into an immediate retry.
		{48 * time.Hour, 17, 48 * time.Hour},
		{2147483647 * time.Second, 4, 2147483647 * time.Second},
		{90 * time.Second, 16, maxBackoff},
	} {
		if got := retryDelay(tc.holdoff, tc.failures); got != tc.want {
			t.Errorf("retryDelay(%v, %d) = %v, want %v", tc.holdoff, tc.failures, got, tc.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	for code, want := range map[int]bool{
		ExitFatal: false, ExitOptionError: false, ExitAuthToPeerFail: false,
		ExitConnectFailed: true, ExitNegotiation: true, ExitPeerDead: true, ExitHangup: true,
	} {
		if got := retryable(fail(code, "x")); got != want {
			t.Errorf("exit %d: retryable %v, want %v", code, got, want)
		}
	}
	if retryable(errors.New("plain")) {
		t.Error("an error without an exit code is retried")
	}
}

func TestRoutePlanServerPin(t *testing.T) {
	srv, srv6 := netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8::7")
	for _, tc := range []struct {
		plan routePlan
		want bool
	}{
		{routePlan{server: srv}, false},
		{routePlan{server: srv, def: true}, true},
		{routePlan{server: srv, prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}, false},
		{routePlan{server: srv, prefixes: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}}, true},
		// The IPv4 default route does not carry an IPv6 server; its
		// pin comes with defaultroute6.
		{routePlan{server: srv6, def: true}, false},
		{routePlan{server: srv6, def: true, replace: true}, false},
		// The tunnel's remote address is the server's: its route through
		// the tunnel would carry the server's address.
		{routePlan{server: srv, peer: srv}, true},
		{routePlan{server: srv, peer: netip.MustParseAddr("192.168.0.1")}, false},
	} {
		if got := tc.plan.needsServerPin(); got != tc.want {
			t.Errorf("%+v: pin %v, want %v", tc.plan, got, tc.want)
		}
	}
}

func TestScripts(t *testing.T) {
	dir := t.TempDir()
	script := func(name string) string {
		p := filepath.Join(dir, name)
		body := "#!/bin/sh\n{ echo \"$# $*\"; env | sort; } > " + p + ".out\n"
		if name == "ip-up" {
			body = "#!/bin/sh\nsleep 0.2\n" + body
		}
		os.WriteFile(p, []byte(body), 0o755)
		return p
	}
	s := &Scripts{Up: script("ip-up"), Down: script("ip-down"), IPParam: "office", LinkName: "work",
		PeerName: "vpn.example.com", CallFile: "work", UsePeerDNS: true}
	t.Setenv("GOPPTP_SECRET_TEST", "leak")
	info := session.Info{Local: netip.MustParseAddr("192.168.0.234"), Peer: netip.MustParseAddr("192.168.0.1"),
		DNS: testServers, Auth: ppp.AuthMSCHAPv2, MPPE: ccp.Result{}}
	up := s.runUp(discard(), "ppp0", info)
	// ip-down waits for ip-up to finish.
	s.runDown(discard(), up, "ppp0", info, linkStats{connect: 90 * time.Second, sent: 1000, received: 2000})
	select {
	case <-up.done:
	default:
		t.Fatal("ip-down ran before ip-up finished")
	}
	upOut, downOut := readFile(t, s.Up+".out"), readFile(t, s.Down+".out")
	for name, out := range map[string]string{"ip-up": upOut, "ip-down": downOut} {
		if !strings.HasPrefix(out, "6 ppp0 pptp 0 192.168.0.234 192.168.0.1 office\n") {
			t.Errorf("%s arguments: %s", name, out)
		}
		for _, want := range []string{"IFNAME=ppp0", "IPLOCAL=192.168.0.234", "IPREMOTE=192.168.0.1", "DNS1=10.0.2.53",
			"DNS2=10.0.2.54", "USEPEERDNS=1", "LINKNAME=work", "IPPARAM=office", "PEERNAME=vpn.example.com",
			"CALL_FILE=work", "PPPD_PID=", "DEVICE=pptp", "SPEED=0", "ORIG_UID="} {
			if !strings.Contains(out, "\n"+want) {
				t.Errorf("%s environment lacks %s:\n%s", name, want, out)
			}
		}
		if strings.Contains(out, "GOPPTP_SECRET_TEST") {
			t.Errorf("%s inherited our environment", name)
		}
	}
	for _, want := range []string{"CONNECT_TIME=90", "BYTES_SENT=1000", "BYTES_RCVD=2000"} {
		if !strings.Contains(downOut, want) {
			t.Errorf("ip-down environment lacks %s", want)
		}
	}
	if strings.Contains(upOut, "BYTES_SENT") {
		t.Error("ip-up has ip-down's accounting")
	}
	// Missing scripts are skipped, as with pppd.
	none := &Scripts{Up: filepath.Join(dir, "nosuch")}
	<-none.runUp(discard(), "ppp0", info).done
}

func TestSharedListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := newSharedListener(ln)
	defer s.Close()
	accept := func(l net.Listener) {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		got, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		got.Close()
	}
	first := s.session()
	accept(first)
	first.Close()
	if _, err := first.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
	// Between sessions, connections are turned away at once.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("a connection without a session: %v", err)
	}
	c.Close()
	// The port is still ours for the next session.
	second := s.session()
	accept(second)
	if second.Addr().String() != ln.Addr().String() {
		t.Errorf("address %v", second.Addr())
	}
	second.Close()
}

func TestTracker(t *testing.T) {
	cfg := Config{Server: "vpn.example.com", User: "alice", Name: "work", IfName: "ppp0"}
	tr := newTracker(&cfg)
	tr.connecting()
	info := session.Info{Local: netip.MustParseAddr("192.168.0.234"), Peer: netip.MustParseAddr("192.168.0.1"),
		DNS: testServers[:1], Auth: ppp.AuthMSCHAPv2, MPPE: ccp.Result{Send: ccp.Direction{On: true, KeyBits: 128, Stateless: true}}}
	tr.up(info, []string{"10.0.0.0/8"})
	s := tr.snapshot()
	if s.State != control.ClientUp || s.Local != "192.168.0.234" || s.Remote != "192.168.0.1" || s.MPPE != "MPPE-128 stateless" ||
		s.Auth != "MS-CHAP-v2" || s.Attempts != 1 || s.Mode != "tun" || s.Interface != "ppp0" || s.UpSince.IsZero() ||
		len(s.DNS) != 1 || len(s.Routes) != 1 || s.PID != os.Getpid() {
		t.Errorf("up: %+v", s)
	}
	tr.ended(fail(ExitHangup, "server disconnected the call"), 0)
	next := time.Now().Add(time.Minute)
	tr.waiting(next)
	s = tr.snapshot()
	if s.State != control.ClientWaiting || s.Local != "" || !s.UpSince.IsZero() || s.LastError != "server disconnected the call" ||
		!s.NextTry.Equal(next) {
		t.Errorf("waiting: %+v", s)
	}
	tr.connecting()
	if s := tr.snapshot(); s.Attempts != 2 || !s.NextTry.IsZero() || s.State != control.ClientConnecting {
		t.Errorf("second attempt: %+v", s)
	}

	p := newTracker(&Config{SOCKS5: []string{"127.0.0.1:1080"}, HTTPProxy: []string{"127.0.0.1:8080"}})
	if s := p.snapshot(); s.Mode != "proxy" || s.Interface != "" || strings.Join(s.Proxies, ",") != "socks5 127.0.0.1:1080,http 127.0.0.1:8080" {
		t.Errorf("proxy mode: %+v", s)
	}
}

// A proxy port that is taken is an error at start, and the ports opened
// before it are released.
func TestOpenProxiesTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()
	cfg := Config{SOCKS5: []string{freeAddr}, HTTPProxy: []string{taken.Addr().String()}}
	if _, err := openProxies(&cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "http proxy") {
		t.Fatalf("taken port: %v", err)
	}
	ln, err := net.Listen("tcp", freeAddr)
	if err != nil {
		t.Fatalf("the first proxy's port was not released: %v", err)
	}
	ln.Close()
}

// TestResolveAddresses: IPv4 and IPv6 literals, with and without brackets
// and port, and the family a local address imposes.
func TestResolveAddresses(t *testing.T) {
	for _, tc := range []struct {
		server, network, want string
	}{
		{"192.0.2.1", "ip", "192.0.2.1:1723"},
		{"192.0.2.1:1724", "ip", "192.0.2.1:1724"},
		{"::ffff:192.0.2.1", "ip", "192.0.2.1:1723"},
		{"2001:db8::1", "ip", "[2001:db8::1]:1723"},
		{"[2001:db8::1]", "ip", "[2001:db8::1]:1723"},
		{"[2001:db8::1]:1724", "ip6", "[2001:db8::1]:1724"},
		{"2001:db8::1", "ip4", ""},
		{"192.0.2.1", "ip6", ""},
		{"[fe80::1%eth0]:1723", "ip", ""},
		{"[2001:db8::1]:0", "ip", ""},
		{"[2001:db8::1]:x", "ip", ""},
	} {
		ap, err := resolve(context.Background(), tc.server, tc.network)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("resolve(%q, %s) = %v, want an error", tc.server, tc.network, ap)
		case tc.want != "" && (err != nil || ap.String() != tc.want):
			t.Errorf("resolve(%q, %s) = %v, %v; want %s", tc.server, tc.network, ap, err, tc.want)
		}
	}
}

// TestUsableDNS: what a server may send as DNS servers that no resolver
// can use is left out, and no more than three are kept.
func TestUsableDNS(t *testing.T) {
	var in []netip.Addr
	for _, a := range []string{"0.0.0.0", "255.255.255.255", "127.0.0.1", "224.0.0.1", "169.254.1.1",
		"10.0.0.53", "::", "::1", "ff02::1", "fe80::1", "::ffff:192.168.1.1", "2001:db8::53", "fd00::53", "8.8.8.8"} {
		in = append(in, netip.MustParseAddr(a))
	}
	got := fmt.Sprint(usableDNS(slog.New(slog.DiscardHandler), in))
	if want := "[10.0.0.53 192.168.1.1 2001:db8::53]"; got != want {
		t.Errorf("usableDNS = %s, want %s", got, want)
	}
}
