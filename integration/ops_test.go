package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopptp/gopptp/control"
	"github.com/gopptp/gopptp/internal/netns"
	"github.com/gopptp/gopptp/internal/testtool"
)

// pptpctl runs the CLI against the topology's server and returns its
// standard output, failing the test on a non-zero exit.
func (tp *topo) pptpctl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := tp.pptpctlErr(args...)
	if err != nil {
		t.Fatalf("pptpctl %v: %v\n%s", args, err, out)
	}
	return out
}

func (tp *topo) pptpctlErr(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(binDir, "pptpctl"), append([]string{"-s", tp.sock()}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (tp *topo) sessions(t *testing.T) []control.Session {
	t.Helper()
	var resp control.Response
	if err := json.Unmarshal([]byte(tp.pptpctl(t, "-json", "sessions")), &resp); err != nil {
		t.Fatal(err)
	}
	return resp.Sessions
}

func (tp *topo) stats(t *testing.T) control.Stats {
	t.Helper()
	var resp control.Response
	if err := json.Unmarshal([]byte(tp.pptpctl(t, "-json", "stats")), &resp); err != nil || resp.Stats == nil {
		t.Fatalf("pptpctl -json stats: %v", err)
	}
	return *resp.Stats
}

// scrape reads the server's metrics from inside its namespace.
func (tp *topo) scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(_ context.Context, network, a string) (net.Conn, error) { return tp.srv.Dial(t, network, a), nil },
	}}
	resp, err := hc.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("metrics: %s", resp.Status)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		m[line[:i]] = v
	}
	return m
}

// TestControlAndMetrics drives a live session through pptpctl and the
// metrics endpoint: listing, showing, counting, killing.
func TestControlAndMetrics(t *testing.T) {
	tp := newTopo(t)
	metrics := netip.AddrPortFrom(srvUnder.Addr(), 9100).String()
	tp.confExtra = []string{"metrics-listen " + metrics}
	srv := tp.startServer(t)
	c := tp.startClient(t, "ppp0", "name", user, "password", password)
	netns.Ping(t, tp.cli, lanHost.Addr(), 3, 5*time.Second)

	out := tp.pptpctl(t, "sessions")
	for _, want := range []string{"alice", cliUnder.Addr().String(), c.local.String(), "MS-CHAP-v2", "MPPE-128 stateless", " up"} {
		if !strings.Contains(out, want) {
			t.Errorf("pptpctl sessions lacks %q:\n%s", want, out)
		}
	}
	ss := tp.sessions(t)
	if len(ss) != 1 {
		t.Fatalf("%d sessions: %+v", len(ss), ss)
	}
	s := ss[0]
	if s.User != user || s.Peer != cliUnder.Addr().String() || s.Remote != c.local.String() || s.Local != tunLocal.String() ||
		s.State != "up" || s.PeerCallID == 0 || s.RxPackets < 3 || s.TxPackets < 3 || s.RxBytes < 3*84 {
		t.Errorf("session %+v", s)
	}
	out = tp.pptpctl(t, "show", strconv.Itoa(int(s.ID)))
	if !strings.Contains(out, "user:") || !strings.Contains(out, "alice") || !strings.Contains(out, fmt.Sprintf("%d/%d", s.ID, s.PeerCallID)) {
		t.Errorf("pptpctl show:\n%s", out)
	}
	if out, err := tp.pptpctlErr("show", "9"); err == nil || !strings.Contains(out, "no session 9") {
		t.Errorf("show of an absent session: %v %s", err, out)
	}

	m := tp.scrape(t, metrics)
	for k, want := range map[string]float64{
		`pptp_sessions{state="up"}`:                          1,
		`pptp_sessions{state="negotiating"}`:                 0,
		`pptp_logins_total{method="MS-CHAP-v2",result="ok"}`: 1,
		`pptp_session_setup_seconds_count`:                   1,
		`pptp_control_connections_total`:                     1,
	} {
		if got, ok := m[k]; !ok || got != want {
			t.Errorf("metric %s = %v (present %v), want %v", k, got, ok, want)
		}
	}
	if m[`pptp_packets_total{direction="rx"}`] < 3 || m[`pptp_bytes_total{direction="tx"}`] < 3*84 {
		t.Errorf("traffic metrics: rx packets %v, tx bytes %v", m[`pptp_packets_total{direction="rx"}`], m[`pptp_bytes_total{direction="tx"}`])
	}
	if out := tp.pptpctl(t, "stats"); !regexp.MustCompile(`logins ok/failed:\s+1/0`).MatchString(out) ||
		!regexp.MustCompile(`sessions up:\s+1`).MatchString(out) {
		t.Errorf("pptpctl stats:\n%s", out)
	}

	if out, err := tp.pptpctlErr("kill", "nobody"); err == nil || !strings.Contains(out, `no session matches "nobody"`) {
		t.Errorf("kill of no one: %v %s", err, out)
	}
	// Kill by the client's tunnel address: an orderly teardown the client
	// reports as a hang-up by the server.
	if out := tp.pptpctl(t, "kill", c.local.String()); !strings.Contains(out, "ended 1 session") {
		t.Errorf("pptpctl kill: %s", out)
	}
	if code, _ := c.p.Wait(10 * time.Second); code != 16 {
		t.Errorf("killed client exited %d, want 16 (hang-up)\n%s", code, c.p.Output())
	}
	srv.WaitFor(t, regexp.MustCompile(`msg="session down".*reason="killed by administrator"`), 5*time.Second)
	if ss := tp.sessions(t); len(ss) != 0 {
		t.Errorf("sessions after kill: %+v", ss)
	}
	if m := tp.scrape(t, metrics); m[`pptp_sessions{state="up"}`] != 0 || m[`pptp_packets_total{direction="rx"}`] < 3 {
		t.Errorf("after the session ended: up %v, rx packets %v (figures of ended sessions must stay)",
			m[`pptp_sessions{state="up"}`], m[`pptp_packets_total{direction="rx"}`])
	}
}

// TestReloadKeepsSessions changes pptpd.conf and the secrets under a live
// session and reloads, by SIGHUP and by pptpctl: the session keeps
// running, new sessions get the new settings, and a broken configuration
// is refused without harm.
func TestReloadKeepsSessions(t *testing.T) {
	tp := newTopo(t)
	srv := tp.startServer(t)
	c1 := tp.startClient(t, "ppp0", "name", user, "password", password)
	before := tp.sessions(t)

	conf := filepath.Join(tp.dir, "pptpd.conf")
	write(t, conf, fmt.Sprintf("option %s\nlocalip %v\nremoteip 192.168.0.100-105\ncontrol-socket %s\n",
		filepath.Join(tp.dir, "pptpd-options"), tunLocal, tp.sock()))
	write(t, filepath.Join(tp.dir, "chap-secrets"), fmt.Sprintf("%s pptpd %q *\nbob * bobpass *\n", user, password))
	srv.Signal(syscall.SIGHUP)
	srv.WaitFor(t, regexp.MustCompile(`msg="configuration reloaded".*sessions_kept=1`), 5*time.Second)

	// bob comes in under the new pool; alice's session is untouched.
	p2 := tp.cli.Start(t, filepath.Join(binDir, "pptp"), srvUnder.Addr().String(), "ifname", "ppp1", "name", "bob", "password", "bobpass")
	noRaces(t, p2)
	line := p2.WaitFor(t, localRE, 20*time.Second)
	if got := localRE.FindStringSubmatch(line)[1]; got != "192.168.0.100" {
		t.Errorf("new session after reload got %s, want 192.168.0.100 from the new pool", got)
	}
	// Both sessions carry traffic; bob's replies leave by his own link
	// (the server drops packets whose source is not the session's).
	netns.Ping(t, tp.cli, lanHost.Addr(), 3, 5*time.Second) // through alice's default route
	tp.cli.MustRun(t, "ip", "rule", "add", "from", "192.168.0.100", "table", "100")
	tp.cli.MustRun(t, "ip", "route", "add", "default", "dev", "ppp1", "table", "100")
	netns.Ping(t, tp.lan, netip.MustParseAddr("192.168.0.100"), 3, 5*time.Second)
	after := tp.sessions(t)
	if len(after) != 2 || after[0].ID != before[0].ID && after[1].ID != before[0].ID {
		t.Errorf("sessions before %+v, after %+v", before, after)
	}

	// A configuration that does not parse is refused; nothing changes.
	write(t, conf, "localip 10.0.0.300\n")
	if out, err := tp.pptpctlErr("reload"); err == nil || !strings.Contains(out, "reload failed") || !strings.Contains(out, "localip") {
		t.Errorf("reload of a broken file: %v %s", err, out)
	}
	srv.Signal(syscall.SIGHUP)
	srv.WaitFor(t, regexp.MustCompile(`level=ERROR msg="reload failed; the running configuration stays"`), 5*time.Second)
	netns.Ping(t, tp.cli, lanHost.Addr(), 2, 5*time.Second)
	if n := len(tp.sessions(t)); n != 2 {
		t.Errorf("%d sessions after a failed reload", n)
	}
	if strings.Contains(srv.Output(), "session down") {
		t.Errorf("a session went down across reloads:\n%s", srv.Output())
	}
	c1.stop(t)
}

// TestBruteForceDefence floods the server from one address with wrong
// passwords and silent connections; a real user from another address must
// still get in promptly, and the flood must be refused and counted.
func TestBruteForceDefence(t *testing.T) {
	tp := newTopo(t)
	atk := netns.NewHost(t, "atk")
	atkAddr, srvAtk := netip.MustParsePrefix("10.0.3.2/24"), netip.MustParsePrefix("10.0.3.1/24")
	netns.Connect(t, atk, tp.srv, atkAddr, srvAtk)
	srv := tp.startServer(t) // the built-in defences, nothing configured

	ctx, cancel := context.WithCancel(context.Background())
	var attempts sync.WaitGroup
	defer func() {
		cancel()
		attempts.Wait()
	}()
	// Silent connections that never send Start-Control-Connection-Request,
	// held open while the guessing goes on.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 40 {
		if c, err := dialFrom(atk, netip.AddrPortFrom(srvAtk.Addr(), 1723)); err == nil {
			held = append(held, c)
		}
	}
	st := tp.stats(t)
	if st.Refused["half_open_source"]+st.Refused["rate"] == 0 {
		t.Errorf("40 silent connections at once, none refused: %+v", st)
	}
	// Password guessing: three clients at a time, each trying once.
	for i := range 3 {
		attempts.Go(func() {
			for ctx.Err() == nil {
				cmd := atk.Command(filepath.Join(binDir, "pptp"), srvAtk.Addr().String(), "ifname", fmt.Sprintf("ppp%d", i),
					"name", user, "password", "guess", "nodetach")
				cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
				if err := cmd.Start(); err == nil {
					go func() { <-ctx.Done(); cmd.Process.Kill() }()
					cmd.Wait()
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}

	srv.WaitFor(t, regexp.MustCompile(`msg="source locked out" peer=10\.0\.3\.2`), 60*time.Second)
	start := time.Now()
	c := tp.startClient(t, "ppp0", "name", user, "password", password)
	t.Logf("real user connected %v after the attacker's lockout", time.Since(start).Round(time.Millisecond))
	netns.Ping(t, tp.cli, lanHost.Addr(), 3, 5*time.Second)

	// Give the flood time to run into the lockout, then look at the books.
	time.Sleep(2 * time.Second)
	st = tp.stats(t)
	t.Logf("stats: %+v", st)
	if st.LoginsFailed < 10 || st.LoginsOK != 1 || st.LockedSources != 1 || st.Refused["lockout"] == 0 {
		t.Errorf("stats after the flood: %+v", st)
	}
	// Every failure logged in the form the fail2ban filter matches.
	failRE := regexp.MustCompile(`level=WARN msg="login failed" peer=10\.0\.3\.2 user=alice method=MS-CHAP-v2 reason="wrong password"`)
	if n := len(failRE.FindAllString(srv.Output(), -1)); uint64(n) != st.LoginsFailed {
		t.Errorf("%d login-failed lines for %d failures", n, st.LoginsFailed)
	}
	// The fail2ban filter bans the attacker for each of them, and nobody
	// else, from the server's whole log.
	bans := testtool.Fail2banBans(t, fail2banFilter, strings.Split(srv.Output(), "\n"))
	if uint64(len(bans)) != st.LoginsFailed || slices.ContainsFunc(bans, func(a string) bool { return a != "10.0.3.2" }) {
		t.Errorf("fail2ban would ban %v; want 10.0.3.2 %d times", bans, st.LoginsFailed)
	}
	c.stop(t)
}

// fail2banFilter is the filter shipped in contrib.
const fail2banFilter = "../contrib/fail2ban/filter.d/pptpd.conf"

// TestJSONLogs runs the server with log-format json: every line is a JSON
// object, the session lines carry their figures, and the fail2ban filter
// still finds failed logins.
func TestJSONLogs(t *testing.T) {
	tp := newTopo(t)
	tp.confExtra = []string{"log-format json"}
	srv := tp.startServer(t)
	bad := tp.startClientProcess(t, "ppp0", "name", user, "password", "wrong")
	bad.Wait(20 * time.Second)
	c := tp.startClient(t, "ppp0", "name", user, "password", password)
	netns.Ping(t, tp.cli, lanHost.Addr(), 2, 5*time.Second)
	c.stop(t)
	srv.WaitFor(t, regexp.MustCompile(`"msg":"session down"`), 5*time.Second)

	var up, down map[string]any
	var logLines []string
	for _, l := range strings.Split(srv.Output(), "\n") {
		if !strings.HasPrefix(l, "{") {
			continue // the harness's own lines
		}
		logLines = append(logLines, l)
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Errorf("log line is not JSON: %v\n%s", err, l)
			continue
		}
		switch rec["msg"] {
		case "session up":
			up = rec
		case "session down":
			down = rec
		}
	}
	if up == nil || up["user"] != user || up["auth"] != "MS-CHAP-v2" || up["remote"] != c.local.String() {
		t.Errorf("session up record: %v", up)
	}
	if down == nil || down["user"] != user || down["rx_packets"] == nil || down["tx_bytes"] == nil {
		t.Errorf("session down record: %v", down)
	}
	if bans := testtool.Fail2banBans(t, fail2banFilter, logLines); !slices.Equal(bans, []string{cliUnder.Addr().String()}) {
		t.Errorf("fail2ban would ban %v, want the one failed login from %v", bans, cliUnder.Addr())
	}
}

// dialFrom opens a TCP connection from inside host h.
func dialFrom(h *netns.Host, to netip.AddrPort) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", to.String(), 2*time.Second)
		return err
	})
	return c, err
}

// TestIdleTimeout: pppd's idle option ends a session without traffic,
// and traffic keeps it alive.
func TestIdleTimeout(t *testing.T) {
	tp := newTopo(t)
	srv := tp.startServer(t, "idle", "3")
	c := tp.startClient(t, "ppp0", "name", user, "password", password)
	// Pings every 200 ms for 5 s, longer than the idle limit: the session
	// stays.
	netns.Ping(t, tp.cli, lanHost.Addr(), 25, 6*time.Second)
	if strings.Contains(srv.Output(), "session down") {
		t.Fatalf("session ended while busy:\n%s", srv.Output())
	}
	start := time.Now()
	srv.WaitFor(t, regexp.MustCompile(`msg="session down".*reason="idle for 3s"`), 10*time.Second)
	t.Logf("idle session ended %v after the last ping", time.Since(start).Round(100*time.Millisecond))
	if code, _ := c.p.Wait(10 * time.Second); code != 16 {
		t.Errorf("client exited %d, want 16", code)
	}
}

// TestPrivileges: once serving, pptpd keeps only CAP_NET_ADMIN and
// CAP_NET_RAW, and still does all its work (sessions, routes, reload);
// a secrets file others can read draws a warning.
func TestPrivileges(t *testing.T) {
	tp := newTopo(t)
	srv := tp.startServer(t)
	status := string(must(os.ReadFile(fmt.Sprintf("/proc/%d/status", srv.Pid()))))
	for _, want := range []string{"CapEff:\t0000000000003000", "CapPrm:\t0000000000003000", "CapBnd:\t0000000000003000", "NoNewPrivs:\t1"} {
		if !strings.Contains(status, want) {
			t.Errorf("pptpd status lacks %q:\n%s\n%s", want, status, srv.Output())
		}
	}
	c := tp.startClient(t, "ppp0", "name", user, "password", password)
	netns.Ping(t, tp.cli, lanHost.Addr(), 2, 5*time.Second)

	secrets := filepath.Join(tp.dir, "chap-secrets")
	if err := os.Chmod(secrets, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := tp.pptpctl(t, "reload"); !strings.Contains(out, "reloaded") {
		t.Errorf("reload without privileges: %s", out)
	}
	srv.WaitFor(t, regexp.MustCompile(`level=WARN msg=".*chap-secrets holds secrets but is readable by users other than its owner \(mode 0644\)`), 5*time.Second)
	netns.Ping(t, tp.cli, lanHost.Addr(), 2, 5*time.Second)
	c.stop(t)
}

// TestFramedRoute: a client with a LAN behind it (a branch router) gets
// that subnet routed through its session and may source packets from it;
// any other source address is dropped and counted.
func TestFramedRoute(t *testing.T) {
	tp := newTopo(t)
	tp.confExtra = []string{"framed-route " + user + " 10.20.0.0/24", "metrics-listen 10.0.1.1:9100"}
	srv := tp.startServer(t)
	tp.cli.MustRun(t, "ip", "addr", "add", "10.20.0.1/32", "dev", "lo")
	tp.cli.MustRun(t, "ip", "addr", "add", "10.30.0.1/32", "dev", "lo")
	tp.lan.MustRun(t, "ip", "route", "add", "10.20.0.0/24", "via", srvLAN.Addr().String())
	c := tp.startClient(t, "ppp0", "name", user, "password", password)
	srv.WaitFor(t, regexp.MustCompile(`msg="routing subnets through the session".*subnets="?\[10\.20\.0\.0/24\]`), 5*time.Second)
	if out := tp.srv.MustRun(t, "ip", "route", "show", "10.20.0.0/24"); !strings.Contains(out, "dev pptp0") {
		t.Errorf("no route to the subnet: %q", out)
	}
	// The LAN reaches the branch's subnet, and the replies (source
	// 10.20.0.1) come back through the tunnel.
	netns.Ping(t, tp.lan, netip.MustParseAddr("10.20.0.1"), 3, 5*time.Second)

	// A source outside the session's address and subnets is spoofing.
	before := tp.scrape(t, "10.0.1.1:9100")[`pptp_drops_total{reason="spoofed"}`]
	conn := tp.cli.ListenPacket(t, "udp", "10.30.0.1:0")
	for range 5 {
		conn.WriteTo([]byte("spoof"), &net.UDPAddr{IP: lanHost.Addr().AsSlice(), Port: 9})
	}
	netns.WaitFor(t, 5*time.Second, func() bool {
		return tp.scrape(t, "10.0.1.1:9100")[`pptp_drops_total{reason="spoofed"}`] >= before+5
	}, "5 spoofed packets counted")

	c.stop(t)
	if out := tp.srv.MustRun(t, "ip", "route", "show", "10.20.0.0/24"); out != "" {
		t.Errorf("route to the subnet left behind: %q", out)
	}
}
