package interop

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopptp/gopptp/internal/netns"
)

// Directions of the --nolaunchpppd cases, as the results table names
// them: the guest's real pppd with our pptp as its pty.
const (
	dirRelayOurs   = "guest pppd + our pptp --nolaunchpppd -> our pptpd"
	dirRelayPoptop = "guest pppd + our pptp --nolaunchpppd -> pptpd guest"
)

var (
	staticOnce sync.Once
	staticPPTP string // our pptp, statically linked for the guests
	staticErr  error
)

// staticBinary builds our pptp without cgo, so that it runs in the guest
// whatever its C library.
func staticBinary(t *testing.T) string {
	t.Helper()
	staticOnce.Do(func() {
		staticPPTP = filepath.Join(binDir, "pptp-static")
		cmd := exec.Command("go", "build", "-o", staticPPTP, "github.com/gopptp/gopptp/cmd/pptp")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			staticErr = fmt.Errorf("building a static pptp: %w\n%s", err, out)
		}
	})
	if staticErr != nil {
		t.Fatal(staticErr)
	}
	return staticPPTP
}

// TestPppdWithOurRelay has the guest's real pppd use our pptp as its pty,
// the way NetworkManager-pptp and pptp-linux peers files do: the peers
// file's pty line is changed from pptp-linux to our binary, copied into
// the guest's shared folder, and nothing else. pppd negotiates MS-CHAP-v2
// and MPPE-128 through it with our pptpd, and with PoPToP's in a second
// guest.
func TestPppdWithOurRelay(t *testing.T) {
	requireInterop(t)
	t.Run("our-pptpd", func(t *testing.T) {
		inQuick(t, true)
		relayToOurServer(t)
	})
	t.Run("poptop", func(t *testing.T) {
		inQuick(t, false)
		relayToPoptop(t)
	})
}

// startRelayGuest boots a client guest that does not dial, installs our
// pptp in its peers file and dials. It returns the guest and the time the
// dial started.
func (n *testNet) startRelayGuest(server string) (*guest, time.Time) {
	t := n.t
	t.Helper()
	bin := staticBinary(t)
	g := n.startGuest("--ip", clientGuestAddr+"/24", "--role", "client", "--server", server,
		"--user", user, "--password", password, "--auth", "mschapv2", "--mppe", "require-128", "--no-autoconnect")
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	// The share is the guest's /share (9p).
	if err := os.WriteFile(filepath.Join(g.dir, "share", "pptp"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	// pppd runs the pty command with /bin/sh, so its standard error (our
	// log) can go to a file in the share, readable from here.
	pty := g.mustExec(20*time.Second, `sed -i -e 's|^pty "pptp |pty "/share/pptp |' -e '/^pty /s|"$| 2>>/share/pptp.log"|' /etc/ppp/peers/pptpi && grep '^pty ' /etc/ppp/peers/pptpi`)
	if !strings.Contains(pty, `pty "/share/pptp `+server+` --nolaunchpppd`) {
		t.Fatalf("the guest's peers file does not run our pptp: %s", pty)
	}
	t.Logf("guest peers file: %s", strings.TrimSpace(lastLine(pty)))
	start := time.Now()
	g.mustExec(20*time.Second, "pptpi-connect >/dev/null 2>&1 &")
	return g, start
}

// relayLog returns what our pptp logged in the guest.
func (g *guest) relayLog() string {
	b, _ := os.ReadFile(filepath.Join(g.dir, "share", "pptp.log"))
	return string(b)
}

// hangUpRelayGuest stops the guest's pppd as an administrator or
// NetworkManager does (SIGTERM), waits for it to exit and checks our pptp
// cleared the call and exited. It returns our pptp's log.
func hangUpRelayGuest(t *testing.T, g *guest) string {
	t.Helper()
	g.mustExec(20*time.Second, "kill -TERM $(cat /run/pptpi/pppd-client.pid)")
	ev := g.wait("PPPD-EXIT", 30*time.Second)
	if m := pppdExitRE.FindStringSubmatch(ev); m == nil || m[1] != "5" {
		t.Errorf("guest pppd: %q, want rc=5 (EXIT_USER_REQUEST, it was signalled)", ev)
	}
	if l := firstLine(g.pppdLog(), regexp.MustCompile(`Terminating on signal`)); l == "" {
		t.Errorf("guest pppd.log does not say why it ended:\n%s", g.pppdLog())
	}
	var log string
	deadline := time.Now().Add(10 * time.Second)
	for {
		log = g.relayLog()
		if strings.Contains(log, `msg="call cleared"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("our pptp in the guest did not clear the call:\n%s", log)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out, rc := g.exec(20*time.Second, "pgrep -x pptp"); rc == 0 {
		t.Errorf("our pptp still runs in the guest after pppd exited: %s", out)
	}
	if l := firstLine(log, regexp.MustCompile(`level=ERROR`)); l != "" {
		t.Errorf("our pptp logged an error: %s", l)
	}
	t.Logf("our pptp in the guest:\n%s", strings.TrimSpace(log))
	return log
}

// relayToOurServer: the guest's pppd, through our pptp, against our pptpd.
func relayToOurServer(t *testing.T) {
	c := cases[0] // MS-CHAP-v2, MPPE-128 stateless
	r := record(t, dirRelayOurs)
	r.mode = "never came up; expected " + describe(c.auth, c.send, c.recv)
	n := newTestNet(t)
	srv := n.startServer(c.server...)
	g, start := n.startRelayGuest(hostAddr)
	r.boot = g.boot

	up := g.wait("(UP|PPPD-EXIT)", 60*time.Second)
	if !strings.HasPrefix(up, "PPTPI-UP ") {
		t.Fatalf("guest pppd gave up: %s\nour pptp:\n%s", up, g.relayLog())
	}
	line := srv.WaitFor(t, sessionUpRE, 10*time.Second)
	r.setup = time.Since(start)
	e := upEventRE.FindStringSubmatch(up)
	if e == nil || e[2] != tunServer.String() {
		t.Fatalf("guest's ip-up: %q, want remote=%v", up, tunServer)
	}
	theirs := netip.MustParseAddr(e[1])
	if attr(line, "remote") != theirs.String() || attr(line, "user") != user || attr(line, "peer") != clientGuestAddr {
		t.Errorf("our session line %q, want user=%s peer=%s remote=%v", line, user, clientGuestAddr, theirs)
	}
	auth, send, recv := attr(line, "auth"), attr(line, "mppe_send"), attr(line, "mppe_recv")
	r.mode = describe(auth, send, recv)
	checkOurs(t, c, auth, send, recv)
	checkPppd(t, c, g.pppdLog(), "client")

	netns.Ping(t, n.host, theirs, 3, 5*time.Second)
	pingFromGuest(t, g, tunServer)

	stop := time.Now()
	hangUpRelayGuest(t, g)
	down := srv.WaitFor(t, sessDownRE, 10*time.Second)
	r.teardown = time.Since(stop)
	// pppd ends LCP first ("User request"); our pptp then clears the
	// call, which is what our server reports.
	if rs := attr(down, "reason"); !strings.HasPrefix(rs, "call cleared by peer") && !strings.Contains(rs, "User request") {
		t.Errorf("our server's session down line: %q", down)
	}
	t.Logf("our server: %s", down)
	noErrors(t, "our server", srv.Output())
}

// relayToPoptop: the guest's pppd, through our pptp, against PoPToP
// pptpd + pppd in a second guest.
func relayToPoptop(t *testing.T) {
	c := cases[0]
	r := record(t, dirRelayPoptop)
	r.mode = "never came up; expected " + describe(c.auth, c.send, c.recv)
	n := newTestNet(t)
	srvGuest := n.startGuest(append([]string{"--ip", serverGuestAddr + "/24", "--role", "server",
		"--user", user, "--password", password}, c.guest...)...)
	g, start := n.startRelayGuest(serverGuestAddr)
	r.boot = g.boot

	up := g.wait("(UP|PPPD-EXIT)", 60*time.Second)
	if !strings.HasPrefix(up, "PPTPI-UP ") {
		t.Fatalf("guest pppd gave up: %s\nour pptp:\n%s", up, g.relayLog())
	}
	srvUp := srvGuest.wait("UP", 30*time.Second)
	r.setup = time.Since(start)
	e := upEventRE.FindStringSubmatch(up)
	if e == nil || e[2] != tunServer.String() {
		t.Fatalf("client guest's ip-up: %q, want remote=%v", up, tunServer)
	}
	theirs := netip.MustParseAddr(e[1])
	if s := upEventRE.FindStringSubmatch(srvUp); s == nil || s[1] != tunServer.String() || s[2] != theirs.String() {
		t.Errorf("pptpd guest's ip-up: %q, want local=%v remote=%v", srvUp, tunServer, theirs)
	}
	checkPppd(t, c, g.pppdLog(), "client")
	checkPppd(t, c, srvGuest.pppdLog(), "server")
	r.mode = describe(c.auth, c.send, c.recv) + " (both pppds' logs)"

	pingFromGuest(t, g, tunServer)
	pingFromGuest(t, srvGuest, theirs)

	stop := time.Now()
	hangUpRelayGuest(t, g)
	l := waitLog(t, "pptpd guest's pppd.log", srvGuest.pppdLog, regexp.MustCompile(`LCP terminated by peer`), 10*time.Second)
	t.Logf("pptpd guest's pppd: %s", l)
	waitLog(t, "pptpd guest's console", srvGuest.console,
		regexp.MustCompile(`CTRL: Client `+regexp.QuoteMeta(clientGuestAddr)+` control connection finished`), 10*time.Second)
	r.teardown = time.Since(stop)
}
