// Package integration runs the built pptpd and pptp binaries against each
// other in network namespaces: a client host, the server, and a LAN host
// behind the server, joined by veth pairs. The tests need root; without it
// they are skipped.
package integration

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopptp/gopptp/internal/netns"
)

var binDir string

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() == 0 {
			dir, err := os.MkdirTemp("", "gopptp-bin")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			// GOPPTP_RACE=1 builds the binaries with the race detector,
			// which then watches the server, client and data path.
			args := []string{"build", "-o", dir}
			if os.Getenv("GOPPTP_RACE") != "" {
				args = append(args, "-race")
			}
			args = append(args, "github.com/gopptp/gopptp/cmd/pptpd", "github.com/gopptp/gopptp/cmd/pptp",
				"github.com/gopptp/gopptp/cmd/pptpctl")
			cmd := exec.Command("go", args...)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			if err := cmd.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "building the binaries:", err)
				return 1
			}
			binDir = dir
		}
		return m.Run()
	}()
	os.Exit(code)
}

var (
	cliUnder = netip.MustParsePrefix("10.0.1.2/24") // client's address on the underlay
	srvUnder = netip.MustParsePrefix("10.0.1.1/24")
	srvLAN   = netip.MustParsePrefix("10.0.2.1/24")
	lanHost  = netip.MustParsePrefix("10.0.2.2/24")
	tunLocal = netip.MustParseAddr("192.168.0.1")
)

const (
	user     = "alice"
	password = "correct horse battery"
)

// topo is one test network: cli -- srv -- lan.
type topo struct {
	cli, srv, lan *netns.Host
	dir           string
	server        *netns.Process
	// confExtra are lines added to pptpd.conf.
	confExtra []string
	// serverArg is the server the clients dial, when not srvUnder's
	// address (ipv6Underlay).
	serverArg string
	// remoteIP replaces pptpd.conf's remoteip (the client addresses).
	remoteIP string
	// localIP replaces pptpd.conf's localip (the server's tunnel end).
	localIP netip.Addr
	// wire is the faulty link between cli and srv (newTopoWith).
	wire *netns.Wire
}

// sock is the control socket of the topology's pptpd.
func (tp *topo) sock() string { return filepath.Join(tp.dir, "pptpd.sock") }

func newTopo(t *testing.T) *topo {
	t.Helper()
	return newTopoWith(t, nil)
}

// newTopoWith is newTopo with cli and srv joined through a faulty wire
// (tp.wire) applying faults, unless faults is nil.
func newTopoWith(t *testing.T, faults *netns.Faults) *topo {
	t.Helper()
	netns.RequireRoot(t)
	tp := &topo{cli: netns.NewHost(t, "cli"), srv: netns.NewHost(t, "srv"), lan: netns.NewHost(t, "lan"), dir: t.TempDir()}
	if faults != nil {
		tp.wire = netns.ConnectFaulty(t, tp.cli, tp.srv, cliUnder, srvUnder, *faults)
	} else {
		netns.Connect(t, tp.cli, tp.srv, cliUnder, srvUnder)
	}
	netns.Connect(t, tp.srv, tp.lan, srvLAN, lanHost)
	tp.srv.Sysctl(t, "net.ipv4.ip_forward", "1")
	tp.lan.MustRun(t, "ip", "route", "add", "192.168.0.0/24", "via", srvLAN.Addr().String())
	return tp
}

// startServer writes pptpd.conf, the options file and chap/pap-secrets,
// and starts pptpd in the server namespace.
func (tp *topo) startServer(t *testing.T, options ...string) *netns.Process {
	t.Helper()
	conf := filepath.Join(tp.dir, "pptpd.conf")
	opts := filepath.Join(tp.dir, "pptpd-options")
	secrets := fmt.Sprintf("# client server secret addresses\n%s pptpd %q *\n", user, password)
	write(t, filepath.Join(tp.dir, "chap-secrets"), secrets)
	write(t, filepath.Join(tp.dir, "pap-secrets"), secrets)
	remote := "192.168.0.234-238,192.168.0.240"
	if tp.remoteIP != "" {
		remote = tp.remoteIP
	}
	local := tunLocal
	if tp.localIP.IsValid() {
		local = tp.localIP
	}
	write(t, conf, fmt.Sprintf("option %s\nlocalip %v\nremoteip %s\nlogwtmp\ncontrol-socket %s\n%s",
		opts, local, remote, tp.sock(), confLines(tp.confExtra)))
	lines := append([]string{"name pptpd", "lock", "nobsdcomp", "novj", "novjccomp", "nologfd",
		"chap-secrets " + filepath.Join(tp.dir, "chap-secrets"),
		"pap-secrets " + filepath.Join(tp.dir, "pap-secrets"), "ms-dns 10.0.2.53"}, options...)
	write(t, opts, strings.Join(lines, "\n")+"\n")
	p := tp.srv.Start(t, filepath.Join(binDir, "pptpd"), "--fg", "--debug", "--conf", conf)
	noRaces(t, p)
	p.WaitFor(t, regexp.MustCompile(`pptpd listening`), 10*time.Second)
	tp.server = p
	return p
}

func confLines(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return strings.Join(l, "\n") + "\n"
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// client is a running pptp.
type client struct {
	p     *netns.Process
	local netip.Addr
}

var localRE = regexp.MustCompile(`local  IP address (\d+\.\d+\.\d+\.\d+)`)

// startClient runs pptp with the given pppd options and waits until its
// interface is up.
func (tp *topo) startClient(t *testing.T, ifname string, options ...string) *client {
	t.Helper()
	ups := 0
	if tp.server != nil {
		ups = tp.server.Count(sessionUpRE)
	}
	p := tp.startClientProcess(t, ifname, options...)
	line := p.WaitFor(t, localRE, 20*time.Second)
	c := &client{p: p, local: netip.MustParseAddr(localRE.FindStringSubmatch(line)[1])}
	p.WaitFor(t, regexp.MustCompile(`remote IP address `+regexp.QuoteMeta(tunLocal.String())), 5*time.Second)
	// The server's end comes up at about the same time, not necessarily
	// before: wait for it, so that traffic towards the client is routed.
	if tp.server != nil {
		tp.server.WaitForNth(t, sessionUpRE, ups+1, 5*time.Second)
	}
	return c
}

// sessionUpRE matches the server's "session up" line, text or JSON.
var sessionUpRE = regexp.MustCompile(`msg="session up"|"msg":"session up"`)

// The client host has no default route of its own, so defaultroute puts
// one through the tunnel (and pins the server's address outside it).
func (tp *topo) startClientProcess(t *testing.T, ifname string, options ...string) *netns.Process {
	server := srvUnder.Addr().String()
	if tp.serverArg != "" {
		server = tp.serverArg
	}
	args := append([]string{server, "ifname", ifname, "defaultroute"}, options...)
	p := tp.cli.Start(t, filepath.Join(binDir, "pptp"), args...)
	noRaces(t, p)
	return p
}

// noRaces fails the test if the race detector (GOPPTP_RACE=1) reported
// anything in p's output while the test ran.
func noRaces(t *testing.T, p *netns.Process) {
	t.Cleanup(func() {
		if strings.Contains(p.Output(), "DATA RACE") {
			t.Errorf("data race:\n%s", p.Output())
		}
	})
}

// stop sends SIGTERM and checks the client leaves cleanly and quickly.
func (c *client) stop(t *testing.T) {
	t.Helper()
	start := time.Now()
	c.p.Signal(syscall.SIGTERM)
	code, err := c.p.Wait(10 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("client exit: code %d, %v\n%s", code, err, c.p.Output())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("client took %v to tear down", d)
	}
}

// checkTraffic pings across the tunnel both ways and moves 20 MiB each
// way between the client and the LAN host, verified byte for byte.
func (tp *topo) checkTraffic(t *testing.T, c *client) {
	t.Helper()
	netns.Ping(t, tp.cli, lanHost.Addr(), 3, 5*time.Second)
	netns.Ping(t, tp.lan, c.local, 3, 5*time.Second)
	netns.Ping(t, tp.cli, tunLocal, 2, 5*time.Second)
	up := netns.TransferTCP(t, tp.cli, tp.lan, lanHost.Addr(), 20<<20)
	down := netns.TransferTCP(t, tp.lan, tp.cli, c.local, 20<<20)
	t.Logf("client->LAN %v, LAN->client %v", up, down)
}

func TestTunnel(t *testing.T) {
	for _, tc := range []struct {
		name       string
		server     []string
		client     []string
		wantAuth   string
		wantMPPE   string
		wantClient string
	}{
		{name: "mschapv2-mppe128-stateless",
			server: []string{"refuse-pap", "refuse-chap", "refuse-mschap", "require-mschap-v2", "require-mppe-128"},
			client: nil, wantAuth: "MS-CHAP-v2", wantMPPE: `mppe_send="MPPE-128 stateless"`, wantClient: "MPPE-128 stateless enabled"},
		{name: "mschapv2-mppe128-stateful",
			server: []string{"require-mschap-v2", "require-mppe-128", "mppe-stateful"},
			client: []string{"require-mppe-stateful"}, wantAuth: "MS-CHAP-v2", wantMPPE: `mppe_send="MPPE-128 stateful"`, wantClient: "MPPE-128 stateful enabled"},
		{name: "mschapv2-mppe40",
			server: []string{"require-mschap-v2", "require-mppe-40"},
			client: []string{"require-mppe-40"}, wantAuth: "MS-CHAP-v2", wantMPPE: `mppe_send="MPPE-40 stateless"`, wantClient: "MPPE-40 stateless enabled"},
		{name: "mschapv2-mppe56",
			server: []string{"require-mschap-v2", "mppe required,no40,no128"},
			client: []string{"mppe", "required,no40,no128"}, wantAuth: "MS-CHAP-v2", wantMPPE: `mppe_send="MPPE-56 stateless"`, wantClient: "MPPE-56 stateless enabled"},
		{name: "mschapv1-mppe128",
			server: []string{"require-mschap", "require-mppe-128"},
			client: nil, wantAuth: "MS-CHAP", wantMPPE: `mppe_send="MPPE-128 stateless"`, wantClient: "MPPE-128 stateless enabled"},
		{name: "chapmd5-nomppe",
			server: []string{"require-chap", "nomppe"},
			client: []string{"nomppe"}, wantAuth: "CHAP-MD5", wantMPPE: `mppe_send=none`},
		{name: "pap-nomppe",
			server: []string{"require-pap", "nomppe"},
			client: []string{"nomppe"}, wantAuth: "PAP", wantMPPE: `mppe_send=none`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := newTopo(t)
			// Three datapath workers whatever the machine's CPUs, so
			// that the sorting of packets to workers is exercised.
			tp.confExtra = []string{"datapath-workers 3"}
			srv := tp.startServer(t, tc.server...)
			c := tp.startClient(t, "ppp0", append([]string{"name", user, "password", password}, tc.client...)...)
			line := srv.WaitFor(t, regexp.MustCompile(`msg="session up".*`), 5*time.Second)
			if !strings.Contains(line, "auth="+tc.wantAuth) || !strings.Contains(line, tc.wantMPPE) || !strings.Contains(line, "user="+user) {
				t.Errorf("server session line %q, want auth=%s and %s", line, tc.wantAuth, tc.wantMPPE)
			}
			if tc.wantClient != "" {
				c.p.WaitFor(t, regexp.MustCompile(regexp.QuoteMeta(tc.wantClient)), 5*time.Second)
			}
			// MTU and MRU follow the 1500-byte link: 1500 less 44 bytes of
			// IPv4, GRE, PPP and MPPE headers.
			if out := tp.cli.MustRun(t, "ip", "link", "show", "ppp0"); !strings.Contains(out, "mtu 1456") {
				t.Errorf("client interface: want mtu 1456:\n%s", out)
			}
			if out := tp.srv.MustRun(t, "ip", "route", "show", c.local.String()); !strings.Contains(out, "mtu 1456") {
				t.Errorf("server route: want mtu 1456:\n%s", out)
			}
			// The client listens for GRE before it asks for the call, so
			// the server's first LCP Configure-Request is never lost.
			if n := len(regexp.MustCompile(`msg=sent .*proto=LCP code=ConfReq`).FindAllString(srv.Output(), -1)); n != 1 {
				t.Errorf("server sent %d LCP Configure-Requests, want 1 (the first was lost?)", n)
			}
			tp.checkTraffic(t, c)
			c.stop(t)
			down := srv.WaitFor(t, regexp.MustCompile(`msg="session down".*reason="call cleared by peer \(peer: User request\)".*`), 5*time.Second)
			t.Log(down)
			if strings.Contains(c.p.Output(), "level=ERROR") {
				t.Errorf("client logged errors:\n%s", c.p.Output())
			}
			// Debug logs show every PPP packet, never a password (PAP
			// carries it in clear).
			for _, out := range []string{srv.Output(), c.p.Output()} {
				if strings.Contains(out, password) {
					t.Errorf("the password appears in a log:\n%s", out)
				}
			}
		})
	}
}

func TestWrongPasswordThenRightOne(t *testing.T) {
	tp := newTopo(t)
	srv := tp.startServer(t)
	bad := tp.startClientProcess(t, "ppp0", "name", user, "password", "wrong")
	code, _ := bad.Wait(20 * time.Second)
	if code != 19 {
		t.Errorf("client with a wrong password exited %d, want 19 (pppd's authentication failure)\n%s", code, bad.Output())
	}
	if !strings.Contains(bad.Output(), "authentication failed") {
		t.Errorf("client does not say authentication failed:\n%s", bad.Output())
	}
	srv.WaitFor(t, regexp.MustCompile(`level=WARN msg="login failed" peer=10\.0\.1\.2 user=alice method=MS-CHAP-v2 reason="wrong password"`), 5*time.Second)
	// The server keeps serving.
	c := tp.startClient(t, "ppp0", "name", user, "password", password)
	netns.Ping(t, tp.cli, lanHost.Addr(), 2, 5*time.Second)
	c.stop(t)
}

func TestClientRefusesMPPEServerRequiresIt(t *testing.T) {
	tp := newTopo(t)
	srv := tp.startServer(t) // defaults: MS-CHAP-v2 and MPPE-128 required
	cl := tp.startClientProcess(t, "ppp0", "name", user, "password", password, "nomppe")
	code, _ := cl.Wait(30 * time.Second)
	if code == 0 {
		t.Fatalf("client without MPPE connected to a server that requires it:\n%s", cl.Output())
	}
	if !strings.Contains(cl.Output(), "encryption") && !strings.Contains(cl.Output(), "MPPE") {
		t.Errorf("client's error does not mention encryption:\n%s", cl.Output())
	}
	srv.WaitFor(t, regexp.MustCompile(`msg="session down".*MPPE`), 10*time.Second)
	if strings.Contains(srv.Output(), `msg="session up"`) {
		t.Error("server brought a session up without MPPE")
	}
}

func TestMalformedControlMessages(t *testing.T) {
	tp := newTopo(t)
	srv := tp.startServer(t)
	c := tp.startClient(t, "ppp0", "name", user, "password", password)

	hdr := func(length uint16, msgType uint16, cookie uint32, body int) []byte {
		b := make([]byte, 12+body)
		binary.BigEndian.PutUint16(b[0:], length)
		binary.BigEndian.PutUint16(b[2:], 1)
		binary.BigEndian.PutUint32(b[4:], cookie)
		binary.BigEndian.PutUint16(b[8:], msgType)
		return b
	}
	sccrq := hdr(156, 1, 0x1a2b3c4d, 144)
	binary.BigEndian.PutUint16(sccrq[12:], 0x0100)
	attacks := map[string][]byte{
		"bad cookie":          hdr(156, 1, 0xdeadbeef, 144),
		"length below header": hdr(5, 1, 0x1a2b3c4d, 0),
		"zero length":         hdr(0, 1, 0x1a2b3c4d, 0),
		"huge length":         hdr(65535, 1, 0x1a2b3c4d, 100),
		"wrong length":        hdr(40, 1, 0x1a2b3c4d, 28),
		"unknown type":        hdr(16, 99, 0x1a2b3c4d, 4),
		"truncated":           sccrq[:60],
		"call before start":   hdr(168, 7, 0x1a2b3c4d, 156),
		"garbage":             []byte("GET / HTTP/1.0\r\n\r\n"),
	}
	for name, payload := range attacks {
		conn := tp.cli.Dial(t, "tcp", net.JoinHostPort(srvUnder.Addr().String(), "1723"))
		conn.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := conn.Write(payload); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// The server answers what it can and closes; it must neither
		// crash nor keep the connection hanging open.
		buf := make([]byte, 512)
		for {
			if _, err := conn.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() && name != "truncated" {
					t.Errorf("%s: server kept the connection open", name)
				}
				break
			}
		}
		conn.Close()
	}
	// A valid start followed by garbage on an established connection.
	conn := tp.cli.Dial(t, "tcp", net.JoinHostPort(srvUnder.Addr().String(), "1723"))
	conn.Write(sccrq)
	conn.Write(hdr(16, 99, 0x1a2b3c4d, 4))
	conn.Write(hdr(3, 1, 0x1a2b3c4d, 0))
	conn.Close()

	select {
	case <-srv.Done():
		t.Fatalf("server died:\n%s", srv.Output())
	default:
	}
	// The good session is unharmed, and new sessions still work.
	tp.checkTraffic(t, c)
	c2 := tp.startClient(t, "ppp1", "name", user, "password", password)
	netns.Ping(t, tp.cli, tunLocal, 2, 5*time.Second)
	c2.stop(t)
	c.stop(t)
	if strings.Contains(srv.Output(), "panic") || strings.Contains(srv.Output(), "DATA RACE") {
		t.Errorf("server output mentions a panic:\n%s", srv.Output())
	}
}

func TestServerUnreachable(t *testing.T) {
	tp := newTopo(t) // no pptpd started: the port is closed
	cl := tp.startClientProcess(t, "ppp0", "name", user, "password", password)
	code, _ := cl.Wait(20 * time.Second)
	if code != 8 || !strings.Contains(cl.Output(), "server unreachable") {
		t.Errorf("exit %d, want 8 with \"server unreachable\":\n%s", code, cl.Output())
	}
}

func TestGREBlocked(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft (package nftables) is needed to block GRE in a test host")
	}
	tp := newTopo(t)
	tp.startServer(t)
	// The server's host drops every GRE packet it would send.
	tp.srv.MustRun(t, "nft", "add table inet t; add chain inet t out { type filter hook output priority 0; }; add rule inet t out meta l4proto gre drop")
	start := time.Now()
	cl := tp.startClientProcess(t, "ppp0", "name", user, "password", password)
	code, _ := cl.Wait(30 * time.Second)
	if code != 8 || !strings.Contains(cl.Output(), "GRE blocked") {
		t.Errorf("exit %d, want 8 with \"GRE blocked\":\n%s", code, cl.Output())
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v to notice", d)
	}
}

// TestZeroConfig runs pptpd exactly as the README's first command does:
// no flags, no /etc/pptpd.conf, no secrets files. It must serve poptop's
// default addresses and print a generated password that works.
func TestZeroConfig(t *testing.T) {
	for _, f := range []string{"/etc/pptpd.conf", "/etc/ppp/chap-secrets", "/etc/ppp/pap-secrets"} {
		if _, err := os.Stat(f); err == nil {
			t.Skipf("%s exists on this machine; the zero-configuration run would read it", f)
		}
	}
	tp := newTopo(t)
	srv := tp.srv.Start(t, filepath.Join(binDir, "pptpd"), "--fg")
	passRE := regexp.MustCompile(`password: (\S+)`)
	line := srv.WaitFor(t, passRE, 10*time.Second)
	pass := passRE.FindStringSubmatch(line)[1]
	srv.WaitFor(t, regexp.MustCompile(`pptpd listening`), 10*time.Second)
	if strings.Count(srv.Output(), pass) != 1 {
		t.Errorf("the generated password appears %d times in the output, want once", strings.Count(srv.Output(), pass))
	}
	c := tp.startClient(t, "ppp0", "name", "vpn", "password", pass)
	if c.local != netip.MustParseAddr("192.168.0.234") {
		t.Errorf("client got %v, want poptop's first default address 192.168.0.234", c.local)
	}
	c.p.WaitFor(t, regexp.MustCompile(`MPPE-128 stateless enabled`), 5*time.Second)
	netns.Ping(t, tp.cli, tunLocal, 2, 5*time.Second)
	c.stop(t)
}

// TestProxyARPAndMTU hands out addresses from the LAN's own subnet with
// proxyarp, so the LAN host reaches clients with no route of its own, and
// checks that mtu/mru reach the client's interface and the server's route.
func TestProxyARPAndMTU(t *testing.T) {
	netns.RequireRoot(t)
	tp := &topo{cli: netns.NewHost(t, "cli"), srv: netns.NewHost(t, "srv"), lan: netns.NewHost(t, "lan"), dir: t.TempDir()}
	netns.Connect(t, tp.cli, tp.srv, cliUnder, srvUnder)
	netns.Connect(t, tp.srv, tp.lan, srvLAN, lanHost)
	tp.srv.Sysctl(t, "net.ipv4.ip_forward", "1")
	conf := filepath.Join(tp.dir, "pptpd.conf")
	opts := filepath.Join(tp.dir, "options")
	write(t, filepath.Join(tp.dir, "chap-secrets"), fmt.Sprintf("%s * %q *\n", user, password))
	write(t, conf, fmt.Sprintf("option %s\nlocalip 10.0.2.1\nremoteip 10.0.2.100-110\n", opts))
	write(t, opts, "proxyarp\nmru 1300\nchap-secrets "+filepath.Join(tp.dir, "chap-secrets")+"\n")
	srv := tp.srv.Start(t, filepath.Join(binDir, "pptpd"), "--fg", "--conf", conf)
	srv.WaitFor(t, regexp.MustCompile(`pptpd listening`), 10*time.Second)
	p := tp.cli.Start(t, filepath.Join(binDir, "pptp"), srvUnder.Addr().String(), "name", user, "password", password, "mtu", "1280", "mru", "1280", "defaultroute")
	p.WaitFor(t, regexp.MustCompile(`local  IP address 10\.0\.2\.100`), 20*time.Second)
	out := tp.cli.MustRun(t, "ip", "link", "show", "ppp0")
	if !strings.Contains(out, "mtu 1280") {
		t.Errorf("client interface: want mtu 1280:\n%s", out)
	}
	out = tp.srv.MustRun(t, "ip", "route", "show", "10.0.2.100")
	if !strings.Contains(out, "mtu 1280") {
		t.Errorf("server route must carry the client's MRU of 1280:\n%s", out)
	}
	// The LAN host has no route to the client; proxy ARP on the server
	// answers for the client's address.
	netns.Ping(t, tp.lan, netip.MustParseAddr("10.0.2.100"), 3, 5*time.Second)
	netns.TransferTCP(t, tp.lan, tp.cli, netip.MustParseAddr("10.0.2.100"), 4<<20)
	p.Signal(syscall.SIGTERM)
	p.Wait(10 * time.Second)
	srv.WaitFor(t, regexp.MustCompile(`session down`), 5*time.Second)
	if out := tp.srv.MustRun(t, "ip", "neigh", "show", "proxy"); strings.Contains(out, "10.0.2.100") {
		t.Errorf("proxy ARP entry left behind after the session:\n%s", out)
	}
}

// TestServerShutdown stops pptpd with SIGTERM while several sessions are
// up: every client must hear LCP Terminate, its call disconnected and its
// control connection stopped (what the wire delivered to the client host
// shows it), not a dead link, and the server must exit promptly.
func TestServerShutdown(t *testing.T) {
	const clients = 3
	tp := newTopoWith(t, &netns.Faults{})
	ctl := tapControl(tp)
	srv := tp.startServer(t)
	var cs []*client
	for i := range clients {
		cs = append(cs, tp.startClient(t, fmt.Sprintf("ppp%d", i), "name", user, "password", password))
	}
	if n := len(tp.sessions(t)); n != clients {
		t.Fatalf("%d sessions up, want %d", n, clients)
	}
	start := time.Now()
	srv.Signal(syscall.SIGTERM)
	if code, err := srv.Wait(10 * time.Second); err != nil || code != 0 {
		t.Fatalf("server exit: %d %v", code, err)
	}
	took := time.Since(start)
	t.Logf("server with %d sessions stopped in %v", clients, took.Round(time.Millisecond))
	if took > 6*time.Second {
		t.Errorf("server took %v to stop", took)
	}
	for i, c := range cs {
		if code, _ := c.p.Wait(10 * time.Second); code != 16 {
			t.Errorf("client %d exit %d, want 16 (hang-up by the server)\n%s", i, code, c.p.Output())
		}
	}
	if n := srv.Count(regexp.MustCompile(`msg=sent .*proto=LCP code=TermReq`)); n < clients {
		t.Errorf("server sent %d LCP Terminate-Requests for %d sessions:\n%s", n, clients, srv.Output())
	}
	if n := srv.Count(regexp.MustCompile(`msg="session down".*reason="server shutting down"`)); n != clients {
		t.Errorf("%d sessions ended for the shutdown, want %d:\n%s", n, clients, srv.Output())
	}
	ctl.checkShutdownMessages(t, clients)
}
