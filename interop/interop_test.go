// Package interop runs gopptp's pptp and pptpd against real, independently
// written PPTP peers: Debian's PoPToP pptpd 1.4.0 + pppd 2.4.9 and
// pptp-linux 1.10.0 + pppd 2.4.9, each in a small QEMU guest booted by the
// harness in ./harness (vendored from the team's shared interop harness).
// Every test gets its own network namespace with a bridge; our binaries
// run in that namespace and the guest sits on the bridge, so no packet
// leaves it.
//
// The tests are slow (a guest boots in ~10 s under TCG) and need root and
// QEMU, so they only run when asked:
//
//	GOPPTP_INTEROP=quick  the MS-CHAPv2 + MPPE-128 case in each direction, and
//	                      pppd with our --nolaunchpppd pty against our pptpd
//	GOPPTP_INTEROP=full   every case
//
// "make interop-quick" and "make interop" prepare the guest image and run
// them. Without GOPPTP_INTEROP the package skips; with it, missing
// prerequisites fail the tests instead of skipping them, so that CI cannot
// pass by silently running nothing.
package interop

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopptp/gopptp/internal/netns"
)

// mode is GOPPTP_INTEROP: "", "quick" or "full".
var mode = os.Getenv("GOPPTP_INTEROP")

var (
	binDir   string // our freshly built pptp and pptpd
	setupErr error  // why the tests cannot run although GOPPTP_INTEROP is set
)

const howToRun = "interop tests boot QEMU guests running Debian's pptpd, pppd and pptp-linux; " +
	"run them as root with `make interop-quick` or `make interop` " +
	"(or GOPPTP_INTEROP=quick|full go test -v -count=1 -timeout 60m ./interop/)"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	switch mode {
	case "", "quick", "full":
	default:
		fmt.Fprintf(os.Stderr, "GOPPTP_INTEROP=%q: want quick or full\n", mode)
		return 2
	}
	if mode != "" {
		dir, err := os.MkdirTemp("", "gopptp-interop-bin")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		setupErr = prepare(dir)
		if setupErr == nil {
			binDir = dir
		}
	}
	code := m.Run()
	printResults()
	return code
}

// prepare checks the prerequisites, makes sure the guest image exists and
// builds our binaries into dir.
func prepare(dir string) error {
	if os.Geteuid() != 0 {
		return errors.New("must run as root (network namespaces, TAP devices for QEMU, raw GRE sockets, TUN)")
	}
	for _, tool := range []string{"qemu-system-x86_64", "ip", "bash", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: run interop/harness/build-image first (make interop does), it installs the host packages", tool)
		}
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Errorf("no TUN device: %w", err)
	}
	// Cheap when the image is cached; otherwise builds it now rather than
	// inside the first case's boot timeout.
	start := time.Now()
	img, err := harness(20*time.Minute, "build-image", "--print")
	if err != nil {
		return fmt.Errorf("guest image: %w\n%s", err, img)
	}
	fmt.Printf("interop: guest image %s (%v)\n", strings.TrimSpace(lastLine(img)), time.Since(start).Round(time.Millisecond))
	cmd := exec.Command("go", "build", "-o", dir, "github.com/gopptp/gopptp/cmd/pptpd", "github.com/gopptp/gopptp/cmd/pptp")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building pptp and pptpd: %w\n%s", err, out)
	}
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// requireInterop skips the test unless GOPPTP_INTEROP is set, and fails it
// if it is set but the tests cannot run here.
func requireInterop(t *testing.T) {
	t.Helper()
	if mode == "" {
		msg := howToRun
		if os.Geteuid() != 0 {
			msg += "; note: this process is not root"
		}
		if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
			msg += "; note: qemu-system-x86_64 is not installed (interop/harness/build-image installs it)"
		}
		t.Skip(msg)
	}
	if setupErr != nil {
		t.Fatalf("GOPPTP_INTEROP=%s but the interop tests cannot run: %v", mode, setupErr)
	}
}

// inQuick marks a case that GOPPTP_INTEROP=quick runs; all others skip
// unless GOPPTP_INTEROP=full.
func inQuick(t *testing.T, quick bool) {
	t.Helper()
	if mode == "quick" && !quick {
		t.Skip("GOPPTP_INTEROP=quick runs only the MS-CHAPv2 + MPPE-128 stateless cases; GOPPTP_INTEROP=full runs this one")
	}
}

// Credentials and addresses, as in the harness's defaults.
const (
	user     = "pptpuser"
	password = "pptp-secret-42"
)

var (
	tunServer = netip.MustParseAddr("192.168.77.1")  // the server's tunnel address (localip)
	tunFirst  = netip.MustParseAddr("192.168.77.10") // the first remoteip
)

// tcase is one authentication/encryption combination, run in both
// directions.
type tcase struct {
	name  string
	quick bool
	guest []string // "peer start" options for auth and MPPE, either role
	// Our side: extra pptp options, and pptpd option-file lines.
	client, server []string
	// What must be negotiated, as our logs name it: the method, and MPPE
	// for what we send and what we receive ("none" without MPPE).
	auth, send, recv string
	pppdAuth         string // the auth option as pppd's LCP dump shows it
}

var cases = []tcase{
	{name: "mschapv2-mppe128", quick: true,
		guest:  []string{"--auth", "mschapv2", "--mppe", "require-128"},
		server: []string{"require-mschap-v2", "require-mppe-128"},
		auth:   "MS-CHAP-v2", send: "MPPE-128 stateless", recv: "MPPE-128 stateless", pppdAuth: "chap MS-v2"},
	// pppd allows stateful mode (mppe-stateful) and we insist on it
	// (require-mppe-stateful): we ask for it, nak pppd's stateless request
	// towards it, and pppd agrees, so both directions are stateful.
	{name: "mschapv2-mppe128-stateful",
		guest:  []string{"--auth", "mschapv2", "--mppe", "require-128", "--stateful"},
		client: []string{"require-mppe-stateful"},
		server: []string{"require-mschap-v2", "require-mppe-128", "require-mppe-stateful"},
		auth:   "MS-CHAP-v2", send: "MPPE-128 stateful", recv: "MPPE-128 stateful", pppdAuth: "chap MS-v2"},
	// We only allow stateful mode (mppe-stateful), pppd refuses it: as
	// between two pppds nobody asks for it, and the link is stateless.
	{name: "mschapv2-mppe128-stateful-allowed",
		guest:  []string{"--auth", "mschapv2", "--mppe", "require-128"},
		client: []string{"mppe-stateful"},
		server: []string{"require-mschap-v2", "require-mppe-128", "mppe-stateful"},
		auth:   "MS-CHAP-v2", send: "MPPE-128 stateless", recv: "MPPE-128 stateless", pppdAuth: "chap MS-v2"},
	{name: "mschapv2-mppe40",
		guest:  []string{"--auth", "mschapv2", "--mppe", "require-40"},
		client: []string{"require-mppe-40"},
		server: []string{"require-mschap-v2", "require-mppe-40"},
		auth:   "MS-CHAP-v2", send: "MPPE-40 stateless", recv: "MPPE-40 stateless", pppdAuth: "chap MS-v2"},
	{name: "mschapv1-mppe128",
		guest:  []string{"--auth", "mschap", "--mppe", "require-128"},
		server: []string{"require-mschap", "require-mppe-128"},
		auth:   "MS-CHAP", send: "MPPE-128 stateless", recv: "MPPE-128 stateless", pppdAuth: "chap MS"},
	{name: "chapmd5-nomppe",
		guest:  []string{"--auth", "chap", "--mppe", "none"},
		client: []string{"nomppe"},
		server: []string{"require-chap", "nomppe"},
		auth:   "CHAP-MD5", send: "none", recv: "none", pppdAuth: "chap MD5"},
	{name: "pap-nomppe",
		guest:  []string{"--auth", "pap", "--mppe", "none"},
		client: []string{"nomppe"},
		server: []string{"require-pap", "nomppe"},
		auth:   "PAP", send: "none", recv: "none", pppdAuth: "pap"},
}

// Directions, as the results table names them.
const (
	dirClient = "our pptp -> pptpd guest"
	dirServer = "pptp-linux guest -> our pptpd"
)

// TestOurClientVsPoptop dials a real PoPToP pptpd + pppd guest with our
// pptp.
func TestOurClientVsPoptop(t *testing.T) {
	requireInterop(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inQuick(t, c.quick)
			clientCase(t, c)
		})
	}
	t.Run("wrong-password", func(t *testing.T) {
		inQuick(t, false)
		clientWrongPassword(t)
	})
	// Our client refuses MPPE, pptpd requires it.
	t.Run("nomppe-vs-mppe-required", func(t *testing.T) {
		inQuick(t, false)
		clientMPPEMismatch(t, "our nomppe vs pptpd require-mppe-128", []string{"nomppe"}, []string{"--mppe", "require-128"},
			regexp.MustCompile(`MPPE required but peer refused`))
	})
	// Our client requires MPPE (its default), pptpd refuses it.
	t.Run("mppe-required-vs-nomppe", func(t *testing.T) {
		inQuick(t, false)
		clientMPPEMismatch(t, "our require-mppe-128 vs pptpd nomppe", nil, []string{"--mppe", "none"},
			regexp.MustCompile(`LCP terminated by peer`))
	})
}

// TestPptpLinuxVsOurServer has a real pptp-linux + pppd guest dial our
// pptpd.
func TestPptpLinuxVsOurServer(t *testing.T) {
	requireInterop(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inQuick(t, c.quick)
			serverCase(t, c)
		})
	}
	t.Run("wrong-password", func(t *testing.T) {
		inQuick(t, false)
		serverWrongPassword(t)
	})
	// pptp-linux refuses MPPE, our server requires it.
	t.Run("nomppe-vs-mppe-required", func(t *testing.T) {
		inQuick(t, false)
		serverMPPEMismatch(t, "pptp-linux nomppe vs our require-mppe-128", []string{"--mppe", "none"}, []string{"require-mschap-v2", "require-mppe-128"},
			regexp.MustCompile(`LCP terminated by peer \(MPPE required but peer refused\)`))
	})
	// pptp-linux requires MPPE, our server refuses it.
	t.Run("mppe-required-vs-nomppe", func(t *testing.T) {
		inQuick(t, false)
		serverMPPEMismatch(t, "pptp-linux require-mppe-128 vs our nomppe", []string{"--mppe", "require-128"}, []string{"require-mschap-v2", "nomppe"},
			regexp.MustCompile(`MPPE required but peer refused`))
	})
}

var (
	localRE      = regexp.MustCompile(`local  IP address (\d+\.\d+\.\d+\.\d+)`)
	authedRE     = regexp.MustCompile(`msg="authenticated to peer"`)
	ccpUpRE      = regexp.MustCompile(`msg="CCP up"`)
	sessionUpRE  = regexp.MustCompile(`msg="session up"`)
	sessDownRE   = regexp.MustCompile(`msg="session down"`)
	upEventRE    = regexp.MustCompile(`local=(\S+) remote=(\S+)`)
	pppdExitRE   = regexp.MustCompile(`PPTPI-PPPD-EXIT .*rc=(\d+)`)
	pppdCCPAckRE = regexp.MustCompile(`sent \[CCP ConfAck id=0x[0-9a-f]+ <mppe ([+-])H`)
)

// clientCase: our pptp against a pptpd guest, up, traffic, teardown.
func clientCase(t *testing.T, c tcase) {
	r := record(t, dirClient)
	r.mode = "never came up; expected " + describe(c.auth, c.send, c.recv)
	n := newTestNet(t)
	g := n.startGuest(append([]string{"--ip", serverGuestAddr + "/24", "--role", "server",
		"--user", user, "--password", password}, c.guest...)...)
	r.boot = g.boot

	start := time.Now()
	p := n.startClient(password, c.client...)
	m := localRE.FindStringSubmatch(p.WaitFor(t, localRE, 60*time.Second))
	ours := netip.MustParseAddr(m[1])
	p.WaitFor(t, regexp.MustCompile(`remote IP address `+regexp.QuoteMeta(tunServer.String())), 5*time.Second)
	up := g.wait("UP", 30*time.Second)
	r.setup = time.Since(start)
	if e := upEventRE.FindStringSubmatch(up); e == nil || e[1] != tunServer.String() || e[2] != ours.String() {
		t.Errorf("pptpd guest's ip-up: %q, want local=%v remote=%v", up, tunServer, ours)
	}

	// What was negotiated, from our log and from pppd's.
	out := p.Output()
	auth := attr(firstLine(out, authedRE), "method")
	send, recv := "none", "none"
	if l := firstLine(out, ccpUpRE); l != "" {
		send, recv = attr(l, "send"), attr(l, "recv")
	}
	r.mode = describe(auth, send, recv)
	t.Logf("negotiated (our log): %s", r.mode)
	checkOurs(t, c, auth, send, recv)
	if c.send != "none" && !strings.Contains(out, fmt.Sprintf(`msg="%s enabled"`, c.send)) {
		t.Errorf("our client did not print %q:\n%s", c.send+" enabled", out)
	}
	checkPppd(t, c, g.pppdLog(), "server")

	netns.Ping(t, n.host, tunServer, 3, 5*time.Second)
	pingFromGuest(t, g, ours)
	r.toGuest = n.sendToGuest(g, tunServer)
	r.fromGuest = n.receiveFromGuest(g, ours)

	// SIGINT ends the session as pppd's would: LCP Terminate-Request with
	// "User request", then Call-Clear-Request and Stop-Control-Connection.
	down := time.Now()
	p.Signal(syscall.SIGINT)
	if code, err := p.Wait(20 * time.Second); code != 0 || err != nil {
		t.Errorf("our client after SIGINT: exit %d, %v; want 0", code, err)
	}
	p.WaitFor(t, regexp.MustCompile(`msg="terminating on signal"`), time.Second)
	p.WaitFor(t, regexp.MustCompile(`msg="connection terminated"`), time.Second)
	g.wait("DOWN", 20*time.Second)
	l := waitLog(t, "pptpd guest's pppd.log", g.pppdLog, regexp.MustCompile(`LCP terminated by peer \(User request\)`), 10*time.Second)
	t.Logf("pppd: %s", l)
	waitLog(t, "pptpd guest's console", g.console, regexp.MustCompile(`CTRL: Client `+regexp.QuoteMeta(hostAddr)+` control connection finished`), 10*time.Second)
	r.teardown = time.Since(down)
	noErrors(t, "our client", p.Output())
}

// serverCase: a pptp-linux guest against our pptpd, up, traffic, teardown.
func serverCase(t *testing.T, c tcase) {
	r := record(t, dirServer)
	r.mode = "never came up; expected " + describe(c.auth, c.send, c.recv)
	n := newTestNet(t)
	srv := n.startServer(c.server...)
	g := n.startGuest(append([]string{"--ip", clientGuestAddr + "/24", "--role", "client",
		"--server", hostAddr, "--user", user, "--password", password, "--ping", "0"}, c.guest...)...)
	r.boot = g.boot

	// The guest dials as soon as it is READY, that is when peer start
	// returns.
	start := time.Now()
	up := g.wait("(UP|PPPD-EXIT)", 60*time.Second)
	if !strings.HasPrefix(up, "PPTPI-UP ") {
		t.Fatalf("pptp-linux guest gave up: %s", up)
	}
	line := srv.WaitFor(t, sessionUpRE, 10*time.Second)
	r.setup = time.Since(start)
	e := upEventRE.FindStringSubmatch(up)
	if e == nil || e[2] != tunServer.String() {
		t.Fatalf("pptp-linux guest's ip-up: %q, want remote=%v", up, tunServer)
	}
	theirs := netip.MustParseAddr(e[1])
	if attr(line, "remote") != theirs.String() || attr(line, "user") != user || attr(line, "peer") != clientGuestAddr {
		t.Errorf("our session line %q, want user=%s peer=%s remote=%v", line, user, clientGuestAddr, theirs)
	}

	auth, send, recv := attr(line, "auth"), attr(line, "mppe_send"), attr(line, "mppe_recv")
	r.mode = describe(auth, send, recv)
	t.Logf("negotiated (our log): %s", r.mode)
	checkOurs(t, c, auth, send, recv)
	checkPppd(t, c, g.pppdLog(), "client")

	netns.Ping(t, n.host, theirs, 3, 5*time.Second)
	pingFromGuest(t, g, tunServer)
	r.toGuest = n.sendToGuest(g, theirs)
	r.fromGuest = n.receiveFromGuest(g, tunServer)

	// peer stop sends pppd SIGTERM; pptp-linux then clears the call.
	stop := time.Now()
	g.stop()
	if l := firstLine(g.pppdLog(), regexp.MustCompile(`Terminating on signal`)); l == "" {
		t.Errorf("pptp-linux guest's pppd.log does not say why it ended:\n%s", g.pppdLog())
	} else {
		t.Logf("pppd: %s", l)
	}
	ev := g.events()
	if !strings.Contains(ev, "PPTPI-DOWN ") {
		t.Errorf("no ip-down in the guest:\n%s", ev)
	}
	if m := pppdExitRE.FindStringSubmatch(ev); m == nil || m[1] != "5" {
		t.Errorf("pppd's exit status: want 5 (EXIT_USER_REQUEST, it was signalled):\n%s", ev)
	}
	down := srv.WaitFor(t, sessDownRE, 10*time.Second)
	r.teardown = time.Since(stop)
	if r := attr(down, "reason"); !strings.HasPrefix(r, "call cleared by peer") {
		t.Errorf("our server's session down line: %q, want reason=\"call cleared by peer...\"", down)
	}
	t.Logf("our server: %s", down)
	noErrors(t, "our server", srv.Output())
}

// clientWrongPassword: pppd refuses our client's password; both say so.
func clientWrongPassword(t *testing.T) {
	r := record(t, dirClient)
	r.mode = "MS-CHAP-v2, wrong password"
	n := newTestNet(t)
	g := n.startGuest("--ip", serverGuestAddr+"/24", "--role", "server", "--user", user, "--password", password)
	r.boot = g.boot
	start := time.Now()
	p := n.startClient("wrong-" + password)
	code, err := p.Wait(60 * time.Second)
	r.setup = time.Since(start)
	if code != 19 {
		t.Errorf("our client with a wrong password: exit %d (%v), want 19 (pppd's EXIT_AUTH_TOPEER_FAILED)", code, err)
	}
	l := firstLine(p.Output(), regexp.MustCompile(`level=ERROR .*authentication failed`))
	if l == "" {
		t.Errorf("our client does not report the authentication failure:\n%s", p.Output())
	}
	t.Logf("our client: %s", l)
	r.mode = fmt.Sprintf("wrong password: our client exit %d %s", code, attr(l, "msg"))
	for _, re := range []string{`Peer pptpuser failed CHAP authentication`, `sent \[LCP TermReq id=0x[0-9a-f]+ "Authentication failed"\]`} {
		t.Logf("pppd: %s", waitLog(t, "pptpd guest's pppd.log", g.pppdLog, regexp.MustCompile(re), 10*time.Second))
	}
	if strings.Contains(g.events(), "PPTPI-UP ") {
		t.Errorf("pptpd guest brought the link up for a wrong password:\n%s", g.events())
	}
}

// clientMPPEMismatch: one side requires MPPE, the other refuses it. No
// session may come up; our client exits 10 naming encryption, and pppd's
// log matches pppdRE.
func clientMPPEMismatch(t *testing.T, what string, clientOpts, guestOpts []string, pppdRE *regexp.Regexp) {
	r := record(t, dirClient)
	r.mode = what
	n := newTestNet(t)
	g := n.startGuest(append([]string{"--ip", serverGuestAddr + "/24", "--role", "server",
		"--user", user, "--password", password, "--auth", "mschapv2"}, guestOpts...)...)
	r.boot = g.boot
	start := time.Now()
	p := n.startClient(password, clientOpts...)
	code, err := p.Wait(60 * time.Second)
	r.setup = time.Since(start)
	out := p.Output()
	if localRE.MatchString(out) {
		t.Errorf("our client brought the link up:\n%s", out)
	}
	l := firstLine(out, regexp.MustCompile(`level=ERROR`))
	t.Logf("our client: exit %d: %s", code, l)
	r.mode = fmt.Sprintf("%s: our client exit %d %s", what, code, attr(l, "msg"))
	if code != 10 {
		t.Errorf("our client: exit %d (%v), want 10 (pppd's EXIT_NEGOTIATION_FAILED)", code, err)
	}
	if !regexp.MustCompile(`(?i)mppe|encryption`).MatchString(l) {
		t.Errorf("our client's error does not name encryption as the reason: %q", l)
	}
	pl := waitLog(t, "pptpd guest's pppd.log", g.pppdLog, pppdRE, 10*time.Second)
	t.Logf("pppd: %s", pl)
	r.mode += "; pppd: " + pl
	if strings.Contains(g.events(), "PPTPI-UP ") {
		t.Errorf("pptpd guest brought the link up:\n%s", g.events())
	}
}

// serverWrongPassword: our server refuses pptp-linux's password; both say
// so.
func serverWrongPassword(t *testing.T) {
	r := record(t, dirServer)
	r.mode = "MS-CHAP-v2, wrong password"
	n := newTestNet(t)
	srv := n.startServer("require-mschap-v2", "require-mppe-128")
	g := n.startGuest("--ip", clientGuestAddr+"/24", "--role", "client", "--server", hostAddr,
		"--user", user, "--password", "wrong-"+password)
	r.boot = g.boot
	start := time.Now()
	ev := g.wait("PPPD-EXIT", 60*time.Second)
	r.setup = time.Since(start)
	if m := pppdExitRE.FindStringSubmatch(ev); m == nil || m[1] != "19" {
		t.Errorf("pptp-linux guest's pppd: %q, want rc=19 (EXIT_AUTH_TOPEER_FAILED)", ev)
	}
	for _, re := range []string{`MS-CHAP authentication failed`, `^CHAP authentication failed`} {
		if l := firstLine(g.pppdLog(), regexp.MustCompile(re)); l == "" {
			t.Errorf("pptp-linux guest's pppd.log lacks %q:\n%s", re, g.pppdLog())
		} else {
			t.Logf("pppd: %s", l)
		}
	}
	l := srv.WaitFor(t, regexp.MustCompile(`level=WARN msg="login failed" peer=`+regexp.QuoteMeta(clientGuestAddr)+` user=pptpuser method=\S+ reason="wrong password"`), 10*time.Second)
	t.Logf("our server: %s", l)
	r.mode = fmt.Sprintf("wrong password: pppd %s; our server: login failed, reason=%q", pppdRC(ev), attr(l, "reason"))
	t.Logf("our server: %s", srv.WaitFor(t, sessDownRE, 10*time.Second))
	if sessionUpRE.MatchString(srv.Output()) {
		t.Errorf("our server brought a session up for a wrong password:\n%s", srv.Output())
	}
	if strings.Contains(g.events(), "PPTPI-UP ") {
		t.Errorf("pptp-linux guest brought the link up:\n%s", g.events())
	}
}

// serverMPPEMismatch: one side requires MPPE, the other refuses it. No
// session may come up; our server logs the session going down with a
// reason naming MPPE, pppd exits non-zero and its log matches pppdRE.
func serverMPPEMismatch(t *testing.T, what string, guestOpts, serverOpts []string, pppdRE *regexp.Regexp) {
	r := record(t, dirServer)
	r.mode = what
	n := newTestNet(t)
	srv := n.startServer(serverOpts...)
	g := n.startGuest(append([]string{"--ip", clientGuestAddr + "/24", "--role", "client", "--server", hostAddr,
		"--user", user, "--password", password, "--auth", "mschapv2"}, guestOpts...)...)
	r.boot = g.boot
	start := time.Now()
	ev := g.wait("PPPD-EXIT", 60*time.Second)
	r.setup = time.Since(start)
	if m := pppdExitRE.FindStringSubmatch(ev); m == nil || m[1] == "0" {
		t.Errorf("pptp-linux guest's pppd: %q, want a non-zero exit", ev)
	}
	t.Logf("pppd: %s", ev)
	if l := firstLine(g.pppdLog(), pppdRE); l == "" {
		t.Errorf("pptp-linux guest's pppd.log lacks %q:\n%s", pppdRE, g.pppdLog())
	} else {
		t.Logf("pppd: %s", l)
	}
	down := srv.WaitFor(t, sessDownRE, 10*time.Second)
	t.Logf("our server: %s", down)
	r.mode = fmt.Sprintf("%s: pppd %s; our server: session down, reason=%q", what, pppdRC(ev), attr(down, "reason"))
	if !regexp.MustCompile(`(?i)mppe|encryption`).MatchString(attr(down, "reason")) {
		t.Errorf("our server's session down reason does not name encryption: %q", down)
	}
	if sessionUpRE.MatchString(srv.Output()) {
		t.Errorf("our server brought a session up:\n%s", srv.Output())
	}
	if strings.Contains(g.events(), "PPTPI-UP ") {
		t.Errorf("pptp-linux guest brought the link up:\n%s", g.events())
	}
}

// startClient runs our pptp against the pptpd guest, with debug on so that
// it logs what CCP negotiated in each direction.
func (n *testNet) startClient(pass string, opts ...string) *netns.Process {
	args := append([]string{serverGuestAddr, "name", user, "password", pass, "ifname", "ppp0", "debug"}, opts...)
	return n.host.Start(n.t, filepath.Join(binDir, "pptp"), args...)
}

// startServer writes pptpd.conf, the options file (lines added to the
// usual ones) and the secrets, starts our pptpd on the bridge address and
// waits until it listens.
func (n *testNet) startServer(lines ...string) *netns.Process {
	t := n.t
	t.Helper()
	conf := filepath.Join(n.dir, "pptpd.conf")
	opts := filepath.Join(n.dir, "pptpd-options")
	secrets := filepath.Join(n.dir, "secrets")
	write(t, secrets, fmt.Sprintf("# client server secret addresses\n%s pptpd %s *\n", user, password))
	write(t, conf, fmt.Sprintf("option %s\nlocalip %v\nremoteip %v-50\nlisten %s\n", opts, tunServer, tunFirst, hostAddr))
	all := append([]string{"name pptpd", "chap-secrets " + secrets, "pap-secrets " + secrets,
		"lock", "nobsdcomp", "novj", "novjccomp", "nologfd"}, lines...)
	write(t, opts, strings.Join(all, "\n")+"\n")
	p := n.host.Start(t, filepath.Join(binDir, "pptpd"), "--fg", "--debug", "--conf", conf)
	p.WaitFor(t, regexp.MustCompile(`msg="pptpd listening"`), 10*time.Second)
	return p
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkOurs compares what our log says was negotiated with the case.
func checkOurs(t *testing.T, c tcase, auth, send, recv string) {
	t.Helper()
	if auth != c.auth || send != c.send || recv != c.recv {
		t.Errorf("our log: auth=%q send=%q recv=%q; want auth=%q send=%q recv=%q", auth, send, recv, c.auth, c.send, c.recv)
	}
}

var mppeRE = regexp.MustCompile(`^MPPE-(\d+) (stateless|stateful)$`)

// checkPppd checks pppd's side of the negotiation in its log: the
// authentication protocol and its success, and MPPE in each direction.
// pppd logs "MPPE 128-bit stateless compression enabled" for the options
// it asked for, that is for what it receives (what we send); what it sends
// is what it acked of our Configure-Request, so the H (stateless) bit of
// its last CCP Configure-Ack must match what we receive.
func checkPppd(t *testing.T, c tcase, log, role string) {
	t.Helper()
	want := []string{`LCP ConfAck id=0x[0-9a-f]+ .*<auth ` + regexp.QuoteMeta(c.pppdAuth) + `>`}
	proto := "CHAP"
	if c.auth == "PAP" {
		proto = "PAP"
	}
	if role == "server" {
		want = append(want, map[string]string{"CHAP": `sent \[CHAP Success`, "PAP": `sent \[PAP AuthAck`}[proto])
	} else {
		want = append(want, `^`+proto+` authentication succeeded`)
	}
	if m := mppeRE.FindStringSubmatch(c.send); m != nil {
		want = append(want, fmt.Sprintf(`^MPPE %s-bit %s compression enabled`, m[1], m[2]))
	}
	for _, re := range want {
		if l := firstLine(log, regexp.MustCompile(re)); l == "" {
			t.Errorf("pppd (%s) log lacks %q:\n%s", role, re, log)
		} else {
			t.Logf("pppd (%s): %s", role, l)
		}
	}
	if c.send == "none" {
		if l := firstLine(log, regexp.MustCompile(`compression enabled`)); l != "" {
			t.Errorf("pppd (%s) enabled compression without MPPE: %s", role, l)
		}
		return
	}
	acks := pppdCCPAckRE.FindAllStringSubmatch(log, -1)
	if len(acks) == 0 {
		t.Errorf("pppd (%s) log has no CCP Configure-Ack for MPPE:\n%s", role, log)
		return
	}
	stateless := acks[len(acks)-1][1] == "+"
	if wantStateless := strings.HasSuffix(c.recv, "stateless"); stateless != wantStateless {
		t.Errorf("pppd (%s) acked MPPE with stateless=%v, but we should receive %s", role, stateless, c.recv)
	}
}

// describe names the negotiated mode for the results table.
func describe(auth, send, recv string) string {
	switch {
	case send == "none" && recv == "none":
		return auth + ", no MPPE"
	case send == recv:
		return auth + ", " + send
	default:
		return fmt.Sprintf("%s, we send %s, we receive %s", auth, send, recv)
	}
}

// attr returns the value of key in a log/slog text line, unquoted.
func attr(line, key string) string {
	re := regexp.MustCompile(`(?:^|\s)` + regexp.QuoteMeta(key) + `=("(?:[^"\\]|\\.)*"|\S*)`)
	m := re.FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	if strings.HasPrefix(m[1], `"`) {
		if v, err := strconv.Unquote(m[1]); err == nil {
			return v
		}
	}
	return m[1]
}

// pppdRC returns "exit N" from a PPTPI-PPPD-EXIT event line.
func pppdRC(ev string) string {
	if m := pppdExitRE.FindStringSubmatch(ev); m != nil {
		return "exit " + m[1]
	}
	return ev
}

// noErrors fails the test if a process of ours logged an error in a case
// that should go smoothly.
func noErrors(t *testing.T, who, out string) {
	t.Helper()
	if l := firstLine(out, regexp.MustCompile(`level=ERROR`)); l != "" {
		t.Errorf("%s logged an error: %s", who, l)
	}
}

// result is one row of the table printed after the tests.
type result struct {
	test, dir, status, mode string
	// boot: the guest's, as peer start reports it; setup: from our
	// client's start (or the guest's READY) to both sides up; teardown:
	// from SIGINT (or peer stop, which includes the guest's poweroff) to
	// both sides down.
	boot, setup, teardown, total time.Duration
	toGuest, fromGuest           transfer
}

var (
	resultsMu sync.Mutex
	results   []*result
)

// record adds a row for t to the results table; the row's status and
// duration are filled in when t ends (its cleanup runs last, after the
// guest and the namespace are gone).
func record(t *testing.T, dir string) *result {
	r := &result{test: t.Name(), dir: dir}
	start := time.Now()
	t.Cleanup(func() {
		r.total = time.Since(start)
		r.status = "PASS"
		if t.Failed() {
			r.status = "FAIL"
		}
		resultsMu.Lock()
		results = append(results, r)
		resultsMu.Unlock()
	})
	return r
}

// printResults prints the results table in Markdown.
func printResults() {
	resultsMu.Lock()
	defer resultsMu.Unlock()
	if len(results) == 0 {
		return
	}
	accel, _ := os.ReadFile(filepath.Join(runRoot, "accel"))
	fmt.Printf("\ninterop results (GOPPTP_INTEROP=%s, accel=%s, %d MiB each way):\n\n", mode, strings.TrimSpace(string(accel)), transferSize>>20)
	fmt.Println("| test | direction | result | negotiated (our log, checked against pppd's) | boot | setup | to guest | from guest | teardown | total |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	rate := func(x transfer) string {
		if x.bytes == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f MiB/s", x.MiBps())
	}
	secs := func(d time.Duration) string {
		if d == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
	for _, r := range results {
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.test, r.dir, r.status, r.mode,
			secs(r.boot), secs(r.setup), rate(r.toGuest), rate(r.fromGuest), secs(r.teardown), secs(r.total))
	}
	fmt.Println()
}
