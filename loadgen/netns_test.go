package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopptp/gopptp/internal/netns"
	"github.com/gopptp/gopptp/ppp/ccp"
)

// These tests run the generator in-process, its sockets in a client
// namespace, against the real pptpd in a server namespace.

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// pptpd builds cmd/pptpd once per test binary.
func pptpd(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "gopptp-loadgen")
		if buildErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", buildDir, "github.com/gopptp/gopptp/cmd/pptpd")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			buildErr = fmt.Errorf("building pptpd: %v\n%s", err, out.String())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "pptpd")
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

var (
	cliAddr = netip.MustParsePrefix("10.0.9.2/24")
	srvAddr = netip.MustParsePrefix("10.0.9.1/24")
	tunSrv  = netip.MustParseAddr("100.127.255.254")
)

type testNet struct {
	cli, srv *netns.Host
	server   *netns.Process
	dir      string
}

// newTestNet starts pptpd (MS-CHAP-v2 and MPPE-128 required, a /26 pool)
// with users alice and bob.
func newTestNet(t *testing.T) *testNet {
	t.Helper()
	netns.RequireRoot(t)
	bin := pptpd(t)
	n := &testNet{cli: netns.NewHost(t, "lgcli"), srv: netns.NewHost(t, "lgsrv"), dir: t.TempDir()}
	netns.Connect(t, n.cli, n.srv, cliAddr, srvAddr)
	write := func(name, content string) string {
		p := filepath.Join(n.dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secrets := write("chap-secrets", "alice pptpd \"alice's secret\" *\nbob pptpd bobpw *\n")
	opts := write("options", strings.Join([]string{"name pptpd", "require-mschap-v2", "require-mppe-128",
		"lcp-echo-interval 1", "lcp-echo-failure 3", "chap-secrets " + secrets}, "\n")+"\n")
	conf := write("pptpd.conf", fmt.Sprintf("option %s\nlocalip %v\nremoteip 100.64.0.0/26\nlisten %v\nconnections 40\n"+
		"control-socket %s\nconnection-rate off\nlockout-failures off\n", opts, tunSrv, srvAddr.Addr(), filepath.Join(n.dir, "pptpd.sock")))
	n.server = n.srv.Start(t, bin, "--fg", "--conf", conf)
	n.server.WaitFor(t, regexp.MustCompile(`pptpd listening`), 10*time.Second)
	return n
}

func (n *testNet) config(sessions int, users ...User) Config {
	return Config{
		Server: netip.AddrPortFrom(srvAddr.Addr(), 1723), Sessions: sessions, Concurrency: 8,
		Users: users, MPPE: ccp128, EchoInterval: time.Second, EchoFailure: 3,
		SetupTimeout: 20 * time.Second, Enter: n.cli.Do,
	}
}

// TestSessionsWithPings: 20 sessions with MS-CHAP-v2 and MPPE-128, two
// accounts in turn, all up, every ping answered and checked, LCP echo on
// both ends, then an orderly teardown the server sees.
func TestSessionsWithPings(t *testing.T) {
	n := newTestNet(t)
	cfg := n.config(20, User{"alice", "alice's secret"}, User{"bob", "bobpw"})
	cfg.Ping = 200 * time.Millisecond
	cfg.Hold = 2 * time.Second
	var progress bytes.Buffer
	cfg.ProgressOut = &syncWriter{w: &progress}
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var rep bytes.Buffer
	res.Report(&rep)
	t.Logf("report:\n%s", rep.String())
	if !res.OK() || res.Up != 20 || res.Failed != 0 || res.Lost != 0 || len(res.Setup) != 20 {
		t.Fatalf("not every session came up and stayed:\n%s\n%s", rep.String(), n.server.Output())
	}
	// Each session pinged from half to one interval after it came up
	// until the hold was over.
	if res.PingsSent < 20*(uint64(cfg.Hold/cfg.Ping)-2) || res.PingsAnswered != res.PingsSent || res.PingsLost != 0 || res.PingsBad != 0 || res.PingsLate != 0 {
		t.Errorf("pings: %+v", res)
	}
	if res.Rate <= 0 || res.P(50) <= 0 || res.P(99) < res.P(50) || res.Max() < res.P(99) {
		t.Errorf("setup figures: rate %v p50 %v p99 %v max %v", res.Rate, res.P(50), res.P(99), res.Max())
	}
	if !strings.Contains(progress.String(), "setup done: 20 up, 0 failed") {
		t.Errorf("progress:\n%s", progress.String())
	}
	// The server saw 20 MPPE-128 sessions come up, both users, and the
	// generator end them.
	out := n.server.Output()
	waitCount(t, n.server, regexp.MustCompile(`msg="session down`), 20, 10*time.Second)
	if c := regexp.MustCompile(`msg="session up".*user=alice`).FindAllString(out, -1); len(c) != 10 {
		t.Errorf("server: %d sessions up for alice, want 10", len(c))
	}
	if c := regexp.MustCompile(`msg="session up".*user=bob`).FindAllString(out, -1); len(c) != 10 {
		t.Errorf("server: %d sessions up for bob, want 10", len(c))
	}
	if !strings.Contains(out, "MPPE-128") {
		t.Errorf("server log does not mention MPPE-128:\n%s", out)
	}
}

// TestFailuresByReason: a wrong password and refused encryption are
// counted by reason, and such a run is not OK.
func TestFailuresByReason(t *testing.T) {
	n := newTestNet(t)
	cfg := n.config(3, User{"alice", "wrong"})
	res, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() || res.Up != 0 || res.Failed != 3 || len(res.Failures) != 1 || res.Failures[0].Reason != "authentication failed" || res.Failures[0].Count != 3 {
		var rep bytes.Buffer
		res.Report(&rep)
		t.Errorf("wrong password:\n%s", rep.String())
	}

	cfg = n.config(2, User{"bob", "bobpw"})
	cfg.MPPE = ccpNone
	if os.Getenv("LGDEBUG") != "" {
		cfg.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	res, err = Run(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Up != 0 || res.Failed != 2 || len(res.Failures) != 1 || res.Failures[0].Reason != "encryption refused" {
		var rep bytes.Buffer
		res.Report(&rep)
		t.Errorf("no MPPE against a server that requires it:\n%s", rep.String())
	}
}

// TestLostSessions: sessions whose server dies while they are held count
// as lost, with the reason.
func TestLostSessions(t *testing.T) {
	n := newTestNet(t)
	cfg := n.config(4, User{"bob", "bobpw"})
	cfg.Hold = time.Minute
	cfg.Ping = 100 * time.Millisecond
	pr, pw := newLineWaiter("setup done")
	cfg.ProgressOut = pw
	done := make(chan *Result, 1)
	go func() {
		res, err := Run(t.Context(), cfg)
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	select {
	case <-pr:
	case <-time.After(30 * time.Second):
		t.Fatal("setup did not finish")
	}
	n.server.Signal(syscall.SIGKILL)
	var res *Result
	select {
	case res = <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("run did not end")
	}
	if res == nil {
		return
	}
	var rep bytes.Buffer
	res.Report(&rep)
	if res.OK() || res.Up != 4 || res.Lost != 4 || len(res.LostReasons) == 0 || res.Interrupted {
		t.Errorf("server killed during the hold:\n%s", rep.String())
	}
	for _, f := range res.LostReasons {
		if f.Reason != "control connection lost" {
			t.Errorf("lost for %q", f.Reason)
		}
	}
}

// TestInterrupt: cancelling the run ends the hold at once and tears the
// sessions down politely; the result says it was interrupted.
func TestInterrupt(t *testing.T) {
	n := newTestNet(t)
	cfg := n.config(3, User{"alice", "alice's secret"})
	cfg.Hold = time.Hour
	ctx, cancel := contextWithCancel(t)
	pr, pw := newLineWaiter("setup done")
	cfg.ProgressOut = pw
	go func() {
		<-pr
		cancel()
	}()
	start := time.Now()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.OK() || res.Up != 3 || res.Lost != 0 || time.Since(start) > 30*time.Second {
		t.Errorf("interrupted run: %+v after %v", res, time.Since(start))
	}
	waitCount(t, n.server, regexp.MustCompile(`msg="session down`), 3, 10*time.Second)
}

func waitCount(t *testing.T, p *netns.Process, re *regexp.Regexp, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.Count(re) >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("server: %d lines matching %v, want %d:\n%s", p.Count(re), re, n, p.Output())
}

var (
	ccp128  = ccp.Config{Allow128: true, Required: true}
	ccpNone = ccp.Config{}
)

// syncWriter serialises writes from the generator's goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// newLineWaiter returns a writer for progress lines and a channel closed
// when a line containing text was written.
func newLineWaiter(text string) (<-chan struct{}, io.Writer) {
	c := make(chan struct{})
	var once sync.Once
	return c, writerFunc(func(p []byte) (int, error) {
		if bytes.Contains(p, []byte(text)) {
			once.Do(func() { close(c) })
		}
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return ctx, cancel
}
