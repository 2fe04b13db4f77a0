package integration

// Tests of the client's own features: routes, DNS, scripts, reconnection,
// status, peers files and the rootless proxy mode. They use the cli --
// srv -- lan topology of tunnel_test.go.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/gopptp/gopptp/control"
	"github.com/gopptp/gopptp/internal/netns"
)

// dnsAddr is the DNS server pptpd hands out (ms-dns in startServer); the
// LAN host answers on it in the tests that need one.
var dnsAddr = netip.MustParseAddr("10.0.2.53")

// startPPTP runs pptp with exactly args (startClientProcess adds
// defaultroute and an interface name).
func (tp *topo) startPPTP(t *testing.T, args ...string) *netns.Process {
	t.Helper()
	return tp.startIn(t, filepath.Join(binDir, "pptp"), args...)
}

// startIn runs a command that runs pptp (env, setpriv) in the client host
// and notes how many sessions the server had brought up by then, for
// waitUps.
func (tp *topo) startIn(t *testing.T, name string, args ...string) *netns.Process {
	t.Helper()
	base := 0
	if tp.server != nil {
		base = tp.server.Count(sessionUpRE)
	}
	p := tp.cli.Start(t, name, args...)
	noRaces(t, p)
	serverBase.Store(p, base)
	t.Cleanup(func() { serverBase.Delete(p) })
	return p
}

// serverBase holds, for each client process, the number of sessions its
// server had brought up before it started.
var serverBase sync.Map

// baseArgs are the server and credentials.
func baseArgs(more ...string) []string {
	return append([]string{srvUnder.Addr().String(), "name", user, "password", password}, more...)
}

// waitUps waits until the client p (started with startIn) has brought a
// session up n times, and the server its end of it: traffic towards the
// client is routed only then. It returns the client's last local address.
func (tp *topo) waitUps(t *testing.T, p *netns.Process, n int, timeout time.Duration) netip.Addr {
	t.Helper()
	var m [][]string
	netns.WaitFor(t, timeout, func() bool {
		m = localRE.FindAllStringSubmatch(p.Output(), -1)
		return len(m) >= n
	}, fmt.Sprintf("session %d of the client to come up; output:\n%s", n, p.Output()))
	if base, ok := serverBase.Load(p); ok && tp.server != nil {
		tp.server.WaitForNth(t, sessionUpRE, base.(int)+n, 5*time.Second)
	}
	return netip.MustParseAddr(m[n-1][1])
}

// stopClient sends SIGTERM and wants a clean exit.
func stopClient(t *testing.T, p *netns.Process) {
	t.Helper()
	p.Signal(syscall.SIGTERM)
	if code, err := p.Wait(10 * time.Second); err != nil || code != 0 {
		t.Fatalf("client exit: code %d, %v\n%s", code, err, p.Output())
	}
}

// clientStatus asks a client for its status over its control socket.
func clientStatus(t *testing.T, sock string) control.ClientStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := control.CallClient(ctx, sock, control.Request{Command: control.CmdClientStatus})
	if err != nil || resp.Status == nil {
		t.Fatalf("status from %s: %v", sock, err)
	}
	return *resp.Status
}

func pptpStatus(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "pptp"), append([]string{"status"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("pptp status %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// serverRouteRE finds the host route that keeps the server outside the
// tunnel.
var serverRouteRE = regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(srvUnder.Addr().String()) + ` `)

func routeOut(t *testing.T, h *netns.Host, args ...string) string {
	t.Helper()
	return h.MustRun(t, "ip", append([]string{"-4", "route"}, args...)...)
}

// TestClientSplitTunnel routes only the given networks through the tunnel
// ("route"), pins the server outside the tunnel when a route covers it,
// and removes every route again on exit.
func TestClientSplitTunnel(t *testing.T) {
	tp := newTopo(t)
	tp.startServer(t)
	p := tp.startPPTP(t, baseArgs("ifname", "ppp0", "route", "10.0.2.0/24", "route", "172.16.0.0/12", "route", "10.0.0.0/8")...)
	tp.waitUps(t, p, 1, 20*time.Second)
	out := routeOut(t, tp.cli, "show", "dev", "ppp0")
	for _, want := range []string{"10.0.2.0/24", "172.16.0.0/12", "10.0.0.0/8"} {
		if !strings.Contains(out, want+" ") {
			t.Errorf("no route to %s through ppp0:\n%s", want, out)
		}
	}
	// 10.0.0.0/8 holds the server's address: a host route keeps the
	// tunnel's own packets off the tunnel.
	if out := routeOut(t, tp.cli, "get", srvUnder.Addr().String()); strings.Contains(out, "ppp0") {
		t.Errorf("the server is routed through the tunnel:\n%s", out)
	}
	if out := routeOut(t, tp.cli, "show", srvUnder.Addr().String()+"/32"); !strings.Contains(out, srvUnder.Addr().String()) {
		t.Errorf("no host route to the server:\n%s", out)
	}
	// No default route: the LAN is reachable, the rest is not.
	netns.Ping(t, tp.cli, lanHost.Addr(), 2, 5*time.Second)
	if out, err := tp.cli.Run("ip", "-4", "route", "get", "192.0.2.1"); err == nil {
		t.Errorf("an address outside the split routes is routed:\n%s", out)
	}
	if !strings.Contains(p.Output(), "route 10.0.2.0/24 set through ppp0") {
		t.Errorf("the client does not log its routes:\n%s", p.Output())
	}
	stopClient(t, p)
	if out := routeOut(t, tp.cli, "show"); strings.Contains(out, "ppp0") || serverRouteRE.MatchString(out) {
		t.Errorf("routes left behind after exit:\n%s", out)
	}
}

// TestClientDefaultRoutes checks defaultroute against an existing default
// route (left alone, as pppd does), then replacedefaultroute (everything
// through the tunnel but the server), and that the original default route
// is intact after either.
func TestClientDefaultRoutes(t *testing.T) {
	tp := newTopo(t)
	tp.startServer(t)
	tp.cli.MustRun(t, "ip", "route", "add", "default", "via", srvUnder.Addr().String())
	original := routeOut(t, tp.cli, "show", "default")

	p := tp.startPPTP(t, baseArgs("ifname", "ppp0", "defaultroute")...)
	tp.waitUps(t, p, 1, 20*time.Second)
	p.WaitFor(t, regexp.MustCompile(`not replacing existing default route`), 5*time.Second)
	if out := routeOut(t, tp.cli, "get", lanHost.Addr().String()); strings.Contains(out, "ppp0") {
		t.Errorf("defaultroute replaced the existing default route:\n%s", out)
	}
	stopClient(t, p)

	p = tp.startPPTP(t, baseArgs("ifname", "ppp0", "defaultroute", "replacedefaultroute")...)
	tp.waitUps(t, p, 1, 20*time.Second)
	for _, dst := range []string{lanHost.Addr().String(), "192.0.2.1", "200.1.2.3"} {
		if out := routeOut(t, tp.cli, "get", dst); !strings.Contains(out, "dev ppp0") {
			t.Errorf("%s is not routed through the tunnel:\n%s", dst, out)
		}
	}
	if out := routeOut(t, tp.cli, "get", srvUnder.Addr().String()); strings.Contains(out, "ppp0") {
		t.Errorf("the server is routed through the tunnel:\n%s", out)
	}
	before := clientTx(t, tp)
	netns.Ping(t, tp.cli, lanHost.Addr(), 3, 5*time.Second)
	if after := clientTx(t, tp); after < before+3*84 {
		t.Errorf("pings did not go through the tunnel: %d bytes sent before, %d after", before, after)
	}
	stopClient(t, p)
	if out := routeOut(t, tp.cli, "show"); strings.Contains(out, "0.0.0.0/1") || strings.Contains(out, "128.0.0.0/1") || serverRouteRE.MatchString(out) {
		t.Errorf("routes left behind after exit:\n%s", out)
	}
	if out := routeOut(t, tp.cli, "show", "default"); out != original {
		t.Errorf("default route after exit:\n%s\nwant:\n%s", out, original)
	}
}

// clientTx reads the bytes the client sent in its current session from
// the server's view of it (the client under test may have no socket).
func clientTx(t *testing.T, tp *topo) uint64 {
	t.Helper()
	ss := tp.sessions(t)
	if len(ss) != 1 {
		t.Fatalf("%d sessions on the server", len(ss))
	}
	return ss[0].RxBytes
}

// TestClientUsePeerDNS has the server's DNS servers written to a
// resolv.conf and the original restored on exit, and restored by the next
// client after the first one was killed with SIGKILL.
func TestClientUsePeerDNS(t *testing.T) {
	tp := newTopo(t)
	tp.startServer(t)
	resolv := filepath.Join(tp.dir, "resolv.conf")
	backup := resolv + ".gopptp-backup"
	original := "# the machine's own\nnameserver 10.255.255.53\nsearch example.org\noptions edns0\n"
	write(t, resolv, original)
	check := func(want string) {
		t.Helper()
		b, err := os.ReadFile(resolv)
		if err != nil || string(b) != want {
			t.Fatalf("resolv.conf: %v\n%s\nwant:\n%s", err, b, want)
		}
	}
	args := baseArgs("ifname", "ppp0", "usepeerdns", "resolv-conf", resolv)

	written := regexp.MustCompile(`msg="DNS servers written to ` + regexp.QuoteMeta(resolv))
	p := tp.startPPTP(t, args...)
	tp.waitUps(t, p, 1, 20*time.Second)
	p.WaitFor(t, written, 5*time.Second)
	b, _ := os.ReadFile(resolv)
	if s := string(b); !strings.Contains(s, "nameserver "+dnsAddr.String()+"\n") || strings.Contains(s, "10.255.255.53") ||
		!strings.Contains(s, "search example.org\n") || !strings.Contains(s, "options edns0\n") {
		t.Errorf("resolv.conf while up:\n%s", s)
	}
	if _, err := os.Stat(backup); err != nil {
		t.Errorf("no backup of the original while up: %v", err)
	}
	stopClient(t, p)
	check(original)
	if _, err := os.Stat(backup); err == nil {
		t.Error("backup left behind after a clean exit")
	}

	// Killed: nothing restores; the next client does.
	p = tp.startPPTP(t, args...)
	tp.waitUps(t, p, 1, 20*time.Second)
	p.WaitFor(t, written, 5*time.Second)
	p.Signal(syscall.SIGKILL)
	p.Wait(10 * time.Second)
	if b, _ := os.ReadFile(resolv); !strings.Contains(string(b), dnsAddr.String()) {
		t.Fatalf("resolv.conf after SIGKILL:\n%s", b)
	}
	// Without usepeerdns, the next start still restores what the killed
	// one left.
	p = tp.startPPTP(t, baseArgs("ifname", "ppp1", "resolv-conf", resolv)...)
	p.WaitFor(t, regexp.MustCompile(`restoring .*resolv.conf left behind by a pptp that did not exit cleanly`), 10*time.Second)
	p.WaitFor(t, regexp.MustCompile(`msg="restored .*resolv.conf"`), 10*time.Second)
	check(original)
	if _, err := os.Stat(backup); err == nil {
		t.Error("backup left behind after restoring it")
	}
	tp.waitUps(t, p, 1, 20*time.Second)
	stopClient(t, p)
	check(original)
}

// TestClientPinAfterKill: the host route that keeps the server outside
// the tunnel goes through the LAN interface, not the tunnel device, so it
// outlives a client killed with SIGKILL. The next client removes it (it
// was recorded next to the resolv.conf backup) and leaves none behind
// after a clean exit.
func TestClientPinAfterKill(t *testing.T) {
	tp := newTopo(t)
	tp.startServer(t)
	resolv := filepath.Join(tp.dir, "resolv.conf")
	state := resolv + ".gopptp-pins-ppp0"
	args := baseArgs("ifname", "ppp0", "defaultroute", "resolv-conf", resolv)
	p := tp.startPPTP(t, args...)
	tp.waitUps(t, p, 1, 20*time.Second)
	if out := routeOut(t, tp.cli, "show"); !serverRouteRE.MatchString(out) {
		t.Fatalf("defaultroute did not pin the server:\n%s", out)
	}
	if _, err := os.Stat(state); err != nil {
		t.Errorf("the pin is not recorded: %v", err)
	}
	p.Signal(syscall.SIGKILL)
	p.Wait(10 * time.Second)
	if out := routeOut(t, tp.cli, "show"); !serverRouteRE.MatchString(out) || strings.Contains(out, "ppp0") {
		t.Fatalf("routes after SIGKILL (want the pin and nothing through ppp0):\n%s", out)
	}

	p = tp.startPPTP(t, args...)
	p.WaitFor(t, regexp.MustCompile(`removing the route to the server left behind by a pptp that did not exit cleanly`), 10*time.Second)
	tp.waitUps(t, p, 1, 20*time.Second)
	if out := routeOut(t, tp.cli, "get", srvUnder.Addr().String()); strings.Contains(out, "ppp0") {
		t.Errorf("the server is routed through the tunnel:\n%s", out)
	}
	stopClient(t, p)
	if out := routeOut(t, tp.cli, "show"); serverRouteRE.MatchString(out) || strings.Contains(out, "ppp0") {
		t.Errorf("routes left behind after a clean exit:\n%s", out)
	}
	if _, err := os.Stat(state); err == nil {
		t.Error("pin state left behind after a clean exit")
	}
}

// TestClientScripts runs ip-up and ip-down with pppd's arguments and
// environment.
func TestClientScripts(t *testing.T) {
	tp := newTopo(t)
	tp.startServer(t)
	logUp, logDown := filepath.Join(tp.dir, "up.log"), filepath.Join(tp.dir, "down.log")
	script := func(name, log string) string {
		path := filepath.Join(tp.dir, name)
		body := fmt.Sprintf("#!/bin/sh\n{ echo \"ARGS $*\"; echo \"ARGC $#\"; env; } > %s.tmp && mv %s.tmp %s\n", log, log, log)
		if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	up, down := script("ip-up", logUp), script("ip-down", logDown)
	resolv := filepath.Join(tp.dir, "resolv.conf")
	write(t, resolv, "nameserver 10.255.255.53\n")
	p := tp.startPPTP(t, baseArgs("ifname", "ppp0", "ip-up-script", up, "ip-down-script", down,
		"ipparam", "office", "linkname", "work", "usepeerdns", "resolv-conf", resolv)...)
	local := tp.waitUps(t, p, 1, 20*time.Second)
	var upLog string
	netns.WaitFor(t, 10*time.Second, func() bool {
		b, err := os.ReadFile(logUp)
		upLog = string(b)
		return err == nil
	}, "ip-up to run")
	pid := strconv.Itoa(p.Pid())
	wantArgs := fmt.Sprintf("ARGS ppp0 pptp 0 %v %v office\nARGC 6\n", local, tunLocal)
	wantEnv := []string{"IFNAME=ppp0", "IPLOCAL=" + local.String(), "IPREMOTE=" + tunLocal.String(),
		"PEERNAME=" + srvUnder.Addr().String(), "DNS1=" + dnsAddr.String(), "USEPEERDNS=1", "LINKNAME=work",
		"IPPARAM=office", "PPPD_PID=" + pid, "DEVICE=pptp", "SPEED=0", "PATH=/usr/local/sbin:/usr/sbin:/usr/local/bin:/usr/bin:/sbin:/bin"}
	checkScript := func(name, out string, more ...string) {
		t.Helper()
		if !strings.HasPrefix(out, wantArgs) {
			t.Errorf("%s arguments:\n%s\nwant:\n%s", name, out, wantArgs)
		}
		lines := strings.Split(out, "\n")
		for _, w := range append(wantEnv, more...) {
			if !containsLine(lines, w) {
				t.Errorf("%s environment lacks %s:\n%s", name, w, out)
			}
		}
		// pppd gives scripts a clean environment: nothing of ours.
		if strings.Contains(out, "\nHOME=") || strings.Contains(out, "GOPPTP") {
			t.Errorf("%s inherited the client's environment:\n%s", name, out)
		}
	}
	checkScript("ip-up", upLog)
	if _, err := os.Stat(logDown); err == nil {
		t.Error("ip-down ran while the link is up")
	}
	netns.Ping(t, tp.cli, tunLocal, 3, 5*time.Second)
	stopClient(t, p)
	b, err := os.ReadFile(logDown)
	if err != nil {
		t.Fatalf("ip-down did not run before the client exited: %v\n%s", err, p.Output())
	}
	checkScript("ip-down", string(b))
	env := envOf(string(b))
	for _, k := range []string{"BYTES_SENT", "BYTES_RCVD", "CONNECT_TIME"} {
		if n, err := strconv.Atoi(env[k]); err != nil || n < 0 || (n == 0 && k != "CONNECT_TIME") {
			t.Errorf("ip-down: %s=%q, want a count", k, env[k])
		}
	}
	if n, _ := strconv.Atoi(env["BYTES_SENT"]); n < 3*84 {
		t.Errorf("ip-down: BYTES_SENT=%d, but three pings were sent", n)
	}
}

func containsLine(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func envOf(out string) map[string]string {
	m := map[string]string{}
	for l := range strings.Lines(out) {
		if k, v, ok := strings.Cut(strings.TrimSuffix(l, "\n"), "="); ok {
			m[k] = v
		}
	}
	return m
}

// TestClientPersist kills the client's session on the server (pptpctl
// kill, the server keeps running): the client must connect again by
// itself, with a new session that carries traffic, and report it in its
// status. Then the server goes away for good: the client gives up after
// maxfail failed attempts with pppd's exit code.
func TestClientPersist(t *testing.T) {
	tp := newTopo(t)
	srv := tp.startServer(t)
	sock := filepath.Join(tp.dir, "client.sock")
	p := tp.startPPTP(t, baseArgs("ifname", "ppp0", "route", "10.0.2.0/24", "persist", "holdoff", "1", "maxfail", "2",
		"linkname", "office", "control-socket", sock)...)
	tp.waitUps(t, p, 1, 20*time.Second)
	netns.Ping(t, tp.cli, lanHost.Addr(), 2, 5*time.Second)
	first := tp.sessions(t)
	if len(first) != 1 {
		t.Fatalf("%d sessions", len(first))
	}
	st := clientStatus(t, sock)
	if st.State != control.ClientUp || st.Attempts != 1 || st.Name != "office" {
		t.Errorf("status before the kill: %+v", st)
	}

	tp.pptpctl(t, "kill", user)
	p.WaitFor(t, regexp.MustCompile(`level=WARN msg=reconnecting .*reason=.*in=1s failed_attempts=0`), 10*time.Second)
	tp.waitUps(t, p, 2, 20*time.Second)
	// The routes came back with the new session.
	netns.Ping(t, tp.cli, lanHost.Addr(), 2, 5*time.Second)
	second := tp.sessions(t)
	if len(second) != 1 || second[0].ID == first[0].ID {
		t.Errorf("sessions after reconnecting: %+v (before: %+v)", second, first)
	}
	st = clientStatus(t, sock)
	if st.State != control.ClientUp || st.Attempts != 2 || st.LastError == "" || st.Local == "" || st.TxPackets < 2 {
		t.Errorf("status after reconnecting: %+v", st)
	}
	if out := pptpStatus(t, "-s", sock); !strings.Contains(out, "office: up") || !strings.Contains(out, "attempts:") ||
		!strings.Contains(out, "last error:") || !strings.Contains(out, "10.0.2.0/24") {
		t.Errorf("pptp status:\n%s", out)
	}

	// The server stops: the client hangs up, tries twice and gives up.
	srv.Signal(syscall.SIGTERM)
	code, err := p.Wait(30 * time.Second)
	if code != 8 {
		t.Fatalf("client exit %d (%v), want 8 (connect failed) after maxfail\n%s", code, err, p.Output())
	}
	out := p.Output()
	if n := len(regexp.MustCompile(`msg=connecting `).FindAllString(out, -1)); n != 4 {
		t.Errorf("%d connection attempts, want 4 (two sessions, two failures)\n%s", n, out)
	}
	if !regexp.MustCompile(`msg=reconnecting .*reason="server unreachable.*failed_attempts=1`).MatchString(out) ||
		!strings.Contains(out, "giving up after 2 failed attempts in a row (maxfail 2)") {
		t.Errorf("the attempts are not logged with their reasons:\n%s", out)
	}
	if _, err := os.Stat(sock); err == nil {
		t.Error("control socket left behind")
	}
}

// TestClientPersistEchoFailure breaks the link under a session (the
// server's GRE is dropped): LCP echoes find it dead and the client
// connects again once the path works.
func TestClientPersistEchoFailure(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft (package nftables) is needed to break GRE in a test host")
	}
	tp := newTopo(t)
	tp.startServer(t)
	p := tp.startPPTP(t, baseArgs("ifname", "ppp0", "persist", "holdoff", "1",
		"lcp-echo-interval", "1", "lcp-echo-failure", "2", "lcp-restart", "1")...)
	tp.waitUps(t, p, 1, 20*time.Second)
	tp.srv.MustRun(t, "nft", "add table inet t; add chain inet t out { type filter hook output priority 0; }; add rule inet t out meta l4proto gre drop")
	p.WaitFor(t, regexp.MustCompile(`msg=reconnecting .*reason="server not responding`), 15*time.Second)
	tp.srv.MustRun(t, "nft", "delete table inet t")
	tp.waitUps(t, p, 2, 30*time.Second)
	netns.Ping(t, tp.cli, tunLocal, 2, 5*time.Second)
	stopClient(t, p)
}

// TestClientStatusDefaultSocket finds a client by its link name alone, in
// the default socket directory, human-readable and as JSON.
func TestClientStatusDefaultSocket(t *testing.T) {
	tp := newTopo(t)
	tp.startServer(t)
	name := fmt.Sprintf("gopptp-test-%06x", rand.Uint32()&0xffffff)
	p := tp.startPPTP(t, baseArgs("ifname", "ppp0", "linkname", name)...)
	local := tp.waitUps(t, p, 1, 20*time.Second)
	netns.Ping(t, tp.cli, tunLocal, 3, 5*time.Second)
	out := pptpStatus(t, name)
	for _, want := range []string{name + ": up", "interface:", "ppp0", local.String() + " -> " + tunLocal.String(),
		"MPPE-128 stateless", "alice (MS-CHAP-v2)", "uptime:", "pid:"} {
		if !strings.Contains(out, want) {
			t.Errorf("pptp status lacks %q:\n%s", want, out)
		}
	}
	var st control.ClientStatus
	if err := json.Unmarshal([]byte(pptpStatus(t, name, "-json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.State != "up" || st.Mode != "tun" || st.Interface != "ppp0" || st.Local != local.String() || st.Remote != tunLocal.String() ||
		st.MPPE != "MPPE-128 stateless" || st.Auth != "MS-CHAP-v2" || st.PID != p.Pid() || st.TxPackets < 3 || st.RxPackets < 3 ||
		st.TxBytes < 3*84 || st.UptimeSec <= 0 || len(st.DNS) != 0 {
		t.Errorf("status: %+v", st)
	}
	stopClient(t, p)
	if _, err := os.Stat(filepath.Join("/run/gopptp", "pptp-"+name+".sock")); err == nil {
		t.Error("control socket left behind")
	}
}

// TestClientCall connects with "pptp call NAME" and a peers file written
// for pptp-linux + pppd: the server comes from its pty line.
func TestClientCall(t *testing.T) {
	tp := newTopo(t)
	tp.startServer(t)
	peers := filepath.Join(tp.dir, "peers")
	if err := os.Mkdir(peers, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(peers, "office"), fmt.Sprintf(`# written for pptp-linux
pty "pptp %s --nolaunchpppd --loglevel 0"
name %s
password "%s"
remotename pptpd
require-mppe-128
ifname ppp0
route 10.0.2.0/24
`, srvUnder.Addr(), user, password))
	p := tp.startIn(t, "env", "GOPPTP_PEERS_DIR="+peers, filepath.Join(binDir, "pptp"), "call", "office", "nodetach")
	tp.waitUps(t, p, 1, 20*time.Second)
	netns.Ping(t, tp.cli, lanHost.Addr(), 2, 5*time.Second)
	if strings.Contains(p.Output(), "pty is ignored") {
		t.Errorf("the pty line that named the server is reported as ignored:\n%s", p.Output())
	}
	stopClient(t, p)
}

// lanServices runs, on the LAN host, a web server on port 80 (/ answers a
// greeting, /big 20 MiB of random bytes), a UDP echo on port 7 and a DNS
// server on dnsAddr that knows one name. It returns the sha256 of /big and
// the number of DNS queries answered so far.
func lanServices(t *testing.T, tp *topo) (bigSum [32]byte, queries *atomic.Int32) {
	t.Helper()
	tp.lan.MustRun(t, "ip", "addr", "add", dnsAddr.String()+"/32", "dev", "lo")
	big := make([]byte, 20<<20)
	r := rand.NewChaCha8([32]byte{1, 2, 3})
	r.Read(big)
	bigSum = sha256.Sum256(big)

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello from the LAN\n") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(big)))
		w.Write(big)
	})
	web := &http.Server{Handler: mux}
	go web.Serve(tp.lan.Listen(t, "tcp", net.JoinHostPort(lanHost.Addr().String(), "80")))
	t.Cleanup(func() { web.Close() })

	echo := tp.lan.ListenPacket(t, "udp", net.JoinHostPort(lanHost.Addr().String(), "7"))
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			echo.WriteTo(buf[:n], from)
		}
	}()

	queries = new(atomic.Int32)
	dns := tp.lan.ListenPacket(t, "udp", net.JoinHostPort(dnsAddr.String(), "53"))
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := dns.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp, err := answerDNS(buf[:n]); err == nil {
				queries.Add(1)
				dns.WriteTo(resp, from)
			}
		}
	}()
	return bigSum, queries
}

// webName is the one name the test DNS server knows: the LAN host.
const webName = "web.corp.example."

func answerDNS(q []byte) ([]byte, error) {
	var p dnsmessage.Parser
	h, err := p.Start(q)
	if err != nil {
		return nil, err
	}
	qs, err := p.AllQuestions()
	if err != nil || len(qs) != 1 {
		return nil, errors.New("want one question")
	}
	h.Response, h.Authoritative, h.RecursionAvailable = true, true, true
	known := strings.EqualFold(qs[0].Name.String(), webName)
	if !known {
		h.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, h)
	b.EnableCompression()
	b.StartQuestions()
	b.Question(qs[0])
	b.StartAnswers()
	if known && qs[0].Type == dnsmessage.TypeA {
		b.AResource(dnsmessage.ResourceHeader{Name: qs[0].Name, Class: dnsmessage.ClassINET, TTL: 60},
			dnsmessage.AResource{A: lanHost.Addr().As4()})
	}
	return b.Finish()
}

// dialIn connects from inside h.
func dialIn(h *netns.Host, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() error {
		var err error
		c, err = (&net.Dialer{Timeout: 10 * time.Second}).Dial(network, addr)
		return err
	})
	return c, err
}

// socksConnect opens a SOCKS5 CONNECT to host:port (a name or an address)
// through the proxy at proxyAddr, from inside h.
func socksConnect(h *netns.Host, proxyAddr, host string, port int) (net.Conn, error) {
	c, err := dialIn(h, "tcp", proxyAddr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(15 * time.Second))
	fail := func(err error) (net.Conn, error) {
		c.Close()
		return nil, err
	}
	if _, err := c.Write([]byte{5, 1, 0}); err != nil {
		return fail(err)
	}
	var m [2]byte
	if _, err := io.ReadFull(c, m[:]); err != nil || m != [2]byte{5, 0} {
		return fail(fmt.Errorf("method selection: %x %v", m, err))
	}
	req := []byte{5, 1, 0}
	if ip, err := netip.ParseAddr(host); err == nil {
		req = append(append(req, 1), ip.AsSlice()...)
	} else {
		req = append(append(req, 3, byte(len(host))), host...)
	}
	req = binary.BigEndian.AppendUint16(req, uint16(port))
	if _, err := c.Write(req); err != nil {
		return fail(err)
	}
	rep := make([]byte, 10)
	if _, err := io.ReadFull(c, rep); err != nil {
		return fail(err)
	}
	if rep[1] != 0 {
		return fail(fmt.Errorf("SOCKS5 reply %d", rep[1]))
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// httpGetOver sends a GET for path with Host host over c and returns the
// body.
func httpGetOver(c net.Conn, host, path string) ([]byte, error) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// TestClientRootlessProxy runs the client as an unprivileged user with
// CAP_NET_RAW only: no TUN device, SOCKS5 and HTTP proxies into the LAN
// behind the server through a user-space stack, names resolved by the
// tunnel's DNS server.
func TestClientRootlessProxy(t *testing.T) {
	netns.RequireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("setpriv (util-linux) is needed to run the client unprivileged")
	}
	tp := newTopo(t)
	tp.startServer(t)
	bigSum, queries := lanServices(t, tp)
	// The unprivileged client must reach its binary and its socket
	// directory.
	if err := os.Chmod(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// (t.TempDir's parent is root's alone.)
	run, err := os.MkdirTemp("", "gopptp-rootless")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(run) })
	if err := os.Chown(run, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(run, "pptp.sock")
	const socksAddr, httpAddr = "127.0.0.1:1080", "127.0.0.1:8080"
	p := tp.startIn(t, "setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups",
		"--inh-caps=-all,+net_raw", "--ambient-caps=+net_raw", filepath.Join(binDir, "pptp")},
		baseArgs("socks5", socksAddr, "http-proxy", httpAddr, "control-socket", sock)...)...)
	tp.waitUps(t, p, 1, 20*time.Second)

	// It runs as nobody, with CAP_NET_RAW and without CAP_NET_ADMIN, and
	// has made no interface.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	caps := map[string]uint64{}
	for l := range strings.Lines(string(status)) {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok && strings.HasPrefix(k, "Cap") {
			caps[k], _ = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
		if strings.HasPrefix(l, "Uid:") && !strings.HasPrefix(strings.Join(strings.Fields(l), " "), "Uid: 65534 65534") {
			t.Errorf("client not running as nobody: %s", l)
		}
	}
	const capNetAdmin, capNetRaw = 12, 13
	if caps["CapEff"]&(1<<capNetAdmin) != 0 || caps["CapEff"]&(1<<capNetRaw) == 0 {
		t.Errorf("client capabilities %#x, want CAP_NET_RAW without CAP_NET_ADMIN", caps["CapEff"])
	}
	if out := tp.cli.MustRun(t, "ip", "-o", "link"); strings.Count(out, "\n") != 2 {
		t.Errorf("the rootless client made an interface:\n%s", out)
	}

	// SOCKS5 CONNECT by name: resolved through the tunnel's DNS.
	c, err := socksConnect(tp.cli, socksAddr, strings.TrimSuffix(webName, "."), 80)
	if err != nil {
		t.Fatalf("SOCKS5 CONNECT to %s: %v\n%s", webName, err, p.Output())
	}
	body, err := httpGetOver(c, "web.corp.example", "/")
	if err != nil || string(body) != "hello from the LAN\n" {
		t.Fatalf("page through SOCKS5: %q %v", body, err)
	}
	if queries.Load() == 0 {
		t.Error("the name was not resolved by the tunnel's DNS server")
	}
	// An unknown name fails as a SOCKS error, not by hanging.
	if c, err := socksConnect(tp.cli, socksAddr, "nosuch.corp.example", 80); err == nil {
		c.Close()
		t.Error("SOCKS5 CONNECT to an unknown name succeeded")
	}

	// 20 MiB through SOCKS5, byte for byte.
	start := time.Now()
	c, err = socksConnect(tp.cli, socksAddr, lanHost.Addr().String(), 80)
	if err != nil {
		t.Fatal(err)
	}
	body, err = httpGetOver(c, lanHost.Addr().String(), "/big")
	if err != nil || len(body) != 20<<20 || sha256.Sum256(body) != bigSum {
		t.Fatalf("20 MiB through SOCKS5: %d bytes, %v", len(body), err)
	}
	t.Logf("20 MiB through SOCKS5 in %v", time.Since(start).Round(time.Millisecond))

	// SOCKS5 UDP ASSOCIATE: a datagram to the LAN's echo service.
	checkUDPAssociate(t, tp, socksAddr)

	// The HTTP proxy: absolute URI by name, then 20 MiB through CONNECT.
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		Proxy:       http.ProxyURL(mustURL("http://" + httpAddr)),
		DialContext: func(_ context.Context, network, a string) (net.Conn, error) { return dialIn(tp.cli, network, a) },
	}}
	resp, err := hc.Get("http://web.corp.example/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello from the LAN\n" {
		t.Errorf("page through the HTTP proxy: %s %q", resp.Status, body)
	}
	c, err = httpConnect(tp.cli, httpAddr, "web.corp.example:80")
	if err != nil {
		t.Fatal(err)
	}
	body, err = httpGetOver(c, "web.corp.example", "/big")
	if err != nil || sha256.Sum256(body) != bigSum {
		t.Fatalf("20 MiB through HTTP CONNECT: %d bytes, %v", len(body), err)
	}

	st := clientStatus(t, sock)
	if st.State != "up" || st.Mode != "proxy" || st.Interface != "" || len(st.Proxies) != 2 || st.RxBytes < 40<<20 ||
		len(st.DNS) != 1 || st.DNS[0] != dnsAddr.String() {
		t.Errorf("status: %+v", st)
	}
	stopClient(t, p)
	if strings.Contains(p.Output(), "panic") || strings.Contains(p.Output(), "level=ERROR") {
		t.Errorf("client output:\n%s", p.Output())
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// httpConnect opens a tunnel to target through the HTTP proxy at
// proxyAddr.
func httpConnect(h *netns.Host, proxyAddr, target string) (net.Conn, error) {
	c, err := dialIn(h, "tcp", proxyAddr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(15 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		c.Close()
		return nil, err
	}
	if resp.StatusCode != 200 {
		c.Close()
		return nil, fmt.Errorf("CONNECT: %s", resp.Status)
	}
	if br.Buffered() > 0 {
		c.Close()
		return nil, errors.New("data after the CONNECT answer")
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

// checkUDPAssociate sends a datagram to the LAN host's echo service
// through a SOCKS5 UDP association and wants it back.
func checkUDPAssociate(t *testing.T, tp *topo, socksAddr string) {
	t.Helper()
	ctl, err := dialIn(tp.cli, "tcp", socksAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.Close()
	ctl.SetDeadline(time.Now().Add(10 * time.Second))
	ctl.Write([]byte{5, 1, 0})
	var m [2]byte
	if _, err := io.ReadFull(ctl, m[:]); err != nil {
		t.Fatal(err)
	}
	ctl.Write([]byte{5, 3, 0, 1, 0, 0, 0, 0, 0, 0})
	rep := make([]byte, 10)
	if _, err := io.ReadFull(ctl, rep); err != nil || rep[1] != 0 || rep[3] != 1 {
		t.Fatalf("UDP ASSOCIATE: %x %v", rep, err)
	}
	relay := netip.AddrPortFrom(netip.AddrFrom4([4]byte(rep[4:8])), binary.BigEndian.Uint16(rep[8:]))
	var uc net.Conn
	if err := tp.cli.Do(func() error {
		var err error
		uc, err = net.Dial("udp", relay.String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	msg := append([]byte{0, 0, 0, 1}, lanHost.Addr().AsSlice()...)
	msg = binary.BigEndian.AppendUint16(msg, 7)
	msg = append(msg, "ping through the tunnel"...)
	buf := make([]byte, 2048)
	// UDP may lose a datagram: a few tries.
	for try := 0; ; try++ {
		uc.Write(msg)
		uc.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := uc.Read(buf)
		if err == nil {
			if got := buf[:n]; string(got[10:]) != "ping through the tunnel" || netip.AddrFrom4([4]byte(got[4:8])) != lanHost.Addr() {
				t.Errorf("UDP echo through SOCKS5: %x", got)
			}
			return
		}
		if try == 2 {
			t.Fatalf("no UDP echo through SOCKS5: %v", err)
		}
	}
}

// TestClientPeerIsServer: the server's end of the tunnel has the very
// address the client dials (PoPToP set-ups with localip = the server's
// LAN address). The kernel's route to the peer through ppp0 would then
// carry the tunnel's own GRE and control connection into the tunnel; the
// client pins the server outside it before the interface gets that route.
func TestClientPeerIsServer(t *testing.T) {
	tp := newTopo(t)
	tp.localIP = srvUnder.Addr()
	srv := tp.startServer(t)
	p := tp.startClientProcess(t, "ppp0", "name", user, "password", password, "route", "10.0.2.0/24")
	p.WaitFor(t, regexp.MustCompile(`remote IP address `+regexp.QuoteMeta(srvUnder.Addr().String())), 20*time.Second)
	srv.WaitFor(t, sessionUpRE, 5*time.Second)
	if out := tp.cli.MustRun(t, "ip", "route", "get", srvUnder.Addr().String()); strings.Contains(out, "dev ppp0") {
		t.Errorf("the server's address goes through the tunnel: %s", out)
	}
	netns.Ping(t, tp.cli, lanHost.Addr(), 3, 5*time.Second)
	netns.TransferTCP(t, tp.cli, tp.lan, lanHost.Addr(), 2<<20)
}

// TestClientHangupExit: SIGHUP without persist ends the client as pppd
// ends: the call cleared, exit status 16.
func TestClientHangupExit(t *testing.T) {
	tp := newTopo(t)
	srv := tp.startServer(t)
	c := tp.startClient(t, "ppp0", "name", user, "password", password)
	c.p.Signal(syscall.SIGHUP)
	if code, err := c.p.Wait(10 * time.Second); code != 16 {
		t.Fatalf("client exit %d (%v) after SIGHUP, want 16\n%s", code, err, c.p.Output())
	}
	srv.WaitFor(t, regexp.MustCompile(`msg="session down".*reason="call cleared by peer`), 5*time.Second)
}
