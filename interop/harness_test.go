package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopptp/gopptp/internal/netns"
)

// Addresses on the bridge the harness creates in each test namespace. The
// host side (where our binaries run) is the bridge itself.
const (
	hostAddr        = "10.99.0.1"
	serverGuestAddr = "10.99.0.2" // a pptpd guest our client dials
	clientGuestAddr = "10.99.0.3" // a pptp-linux guest that dials our server
)

const (
	// scriptTimeout bounds the quick harness commands (netns up/down,
	// peer stop, peer wait with its own shorter timeout).
	scriptTimeout = 90 * time.Second
	// startTimeout bounds "peer start": a TCG boot takes ~10 s, more on a
	// loaded machine, and the first start on a fresh machine builds the
	// image (~50 s) unless build-image ran before.
	startTimeout = 5 * time.Minute
)

// harnessDir is the vendored copy of the harness; go test runs in the
// package directory, so the relative path is stable.
var harnessDir = func() string {
	d, err := filepath.Abs("harness")
	if err != nil {
		panic(err)
	}
	return d
}()

// runRoot is where the harness keeps peer run directories (lib.sh's
// PPTPI_RUNROOT, which we never override).
const runRoot = "/run/pptp-interop"

// harness runs one of the harness scripts and returns its combined output.
func harness(timeout time.Duration, script string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(harnessDir, script), args...)
	// A script killed on timeout may leave a grandchild holding the pipe;
	// do not wait for it forever.
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, err)
	}
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w", script, strings.Join(args, " "), err)
	}
	return out.String(), nil
}

// testNet is one test's world: a network namespace holding the harness's
// bridge, our binaries and at most one guest.
type testNet struct {
	t    *testing.T
	host *netns.Host
	dir  string // our configuration files
}

// newTestNet creates a fresh namespace (through internal/netns, so that Go
// code can run in it) and lets the harness add its bridge to it. The
// harness's "netns down --kill-all" is registered right away so that it
// runs after every guest and process cleanup registered later; the
// namespace helper's own cleanup then finds the namespace gone.
func newTestNet(t *testing.T) *testNet {
	t.Helper()
	h := netns.NewHost(t, "pti")
	t.Cleanup(func() {
		if out, err := harness(scriptTimeout, "netns", "down", h.Name(), "--kill-all"); err != nil {
			t.Errorf("netns down: %v\n%s", err, out)
		}
	})
	if out, err := harness(scriptTimeout, "netns", "up", h.Name(), "--addr", hostAddr+"/24"); err != nil {
		t.Fatalf("netns up: %v\n%s", err, out)
	}
	return &testNet{t: t, host: h, dir: t.TempDir()}
}

// peerSeq makes peer names unique within this test binary; the PID makes
// them unique across binaries running at the same time (peer names are
// global: /run/pptp-interop/NAME).
var peerSeq atomic.Int32

func nextPeerName() string {
	// The harness allows [A-Za-z0-9_-]{1,12}: "g" + up to 7 PID digits +
	// "-" + 2 digits fits.
	return fmt.Sprintf("g%d-%02d", os.Getpid()%10_000_000, peerSeq.Add(1)%100)
}

// guest is a QEMU peer started with the harness's "peer start".
type guest struct {
	t     *testing.T
	name  string
	dir   string        // run directory: console.log, share/pppd.log, share/events
	ready string        // the READY line
	boot  time.Duration // boot time as peer start measured it
}

// startGuest boots a guest in the test namespace with the given "peer
// start" options. At cleanup it stops the guest gracefully and, if the
// test failed, logs the guest's events, pppd.log and the tail of its
// console; otherwise it removes the run directory.
func (n *testNet) startGuest(args ...string) *guest {
	t := n.t
	t.Helper()
	g := &guest{t: t, name: nextPeerName()}
	g.dir = filepath.Join(runRoot, g.name)
	t.Cleanup(func() {
		start := time.Now()
		if out, err := harness(scriptTimeout, "peer", "stop", g.name); err != nil {
			t.Errorf("peer stop %s: %v\n%s", g.name, err, out)
		}
		// A slow stop (the harness kills QEMU after 25 s) is worth seeing.
		t.Logf("guest %s stopped in %v", g.name, time.Since(start).Round(time.Millisecond))
		if t.Failed() {
			g.dumpLogs()
			return
		}
		os.RemoveAll(g.dir)
		os.Remove(g.dir + ".rundir")
		os.Remove(g.dir + ".peer.log")
	})
	all := append([]string{"start", g.name, "--netns", n.host.Name()}, args...)
	out, err := harness(startTimeout, "peer", all...)
	if err != nil {
		t.Fatalf("peer %s: %v\n%s", strings.Join(all, " "), err, out)
	}
	g.ready = strings.TrimSpace(out)
	if m := bootRE.FindStringSubmatch(g.ready); m != nil {
		f, _ := strconv.ParseFloat(m[1], 64)
		g.boot = time.Duration(f * float64(time.Second))
	}
	t.Logf("guest %s: %s", g.name, g.ready)
	return g
}

var bootRE = regexp.MustCompile(`boot_s=([0-9.]+)`)

// noisyConsole matches the per-packet GRE debug lines of pptpd -d and
// pptp --loglevel 2, which would fill any tail of the console log.
var noisyConsole = regexp.MustCompile(`GRE: accepting packet|decaps_gre|encaps_gre|GRE: Discarding`)

// dumpLogs logs what the guest recorded, for a failed test.
func (g *guest) dumpLogs() {
	g.t.Logf("guest %s kept in %s", g.name, g.dir)
	g.t.Logf("guest %s events:\n%s", g.name, g.events())
	g.t.Logf("guest %s share/pppd.log:\n%s", g.name, g.pppdLog())
	con, _ := os.ReadFile(filepath.Join(g.dir, "console.log"))
	var keep []string
	for _, l := range strings.Split(string(con), "\n") {
		if !noisyConsole.MatchString(l) {
			keep = append(keep, l)
		}
	}
	if len(keep) > 80 {
		keep = keep[len(keep)-80:]
	}
	g.t.Logf("guest %s console.log, last %d lines without per-packet GRE debug:\n%s", g.name, len(keep), strings.Join(keep, "\n"))
}

// pppdLog returns pppd's logfile in the guest (share/pppd.log).
func (g *guest) pppdLog() string {
	b, _ := os.ReadFile(filepath.Join(g.dir, "share", "pppd.log"))
	return string(b)
}

// console returns the guest's console log (kernel, init and all syslog).
func (g *guest) console() string {
	b, _ := os.ReadFile(filepath.Join(g.dir, "console.log"))
	return string(b)
}

// events returns the PPTPI-* events the guest reported so far.
func (g *guest) events() string {
	b, _ := os.ReadFile(filepath.Join(g.dir, "share", "events"))
	return string(b)
}

// wait waits for a guest event (a regexp alternative such as "UP" or
// "(UP|PPPD-EXIT)") with "peer wait" and returns its line; it fails the
// test on timeout.
func (g *guest) wait(event string, timeout time.Duration) string {
	g.t.Helper()
	secs := fmt.Sprint(int(timeout.Seconds()))
	out, err := harness(timeout+scriptTimeout, "peer", "wait", g.name, event, secs)
	if err != nil {
		g.t.Fatalf("guest %s: no %s event within %v: %v\n%s\nevents:\n%s", g.name, event, timeout, err, out, g.events())
	}
	return strings.TrimSpace(out)
}

// exec runs a bash command in the guest with "peer exec" and returns its
// output and exit status (-1 if the harness itself failed).
func (g *guest) exec(timeout time.Duration, cmd string) (string, int) {
	secs := fmt.Sprint(int(timeout.Seconds()))
	out, err := harness(timeout+scriptTimeout, "peer", "exec", g.name, "--timeout", secs, "--", cmd)
	if err == nil {
		return out, 0
	}
	// A command that ran and failed is a result; a harness that could
	// not run it (timeout, guest gone) is not.
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() > 0 && !strings.Contains(err.Error(), "timed out") {
		return out, ee.ExitCode()
	}
	return out + "\n" + err.Error(), -1
}

// mustExec is exec that fails the test unless the command exits 0.
func (g *guest) mustExec(timeout time.Duration, cmd string) string {
	g.t.Helper()
	out, rc := g.exec(timeout, cmd)
	if rc != 0 {
		g.t.Fatalf("guest %s: %q exited %d:\n%s", g.name, cmd, rc, out)
	}
	return out
}

// stop stops the guest gracefully ("peer stop": pppd gets SIGTERM, the
// PPTP teardown runs, the guest powers off).
func (g *guest) stop() {
	g.t.Helper()
	if out, err := harness(scriptTimeout, "peer", "stop", g.name); err != nil {
		g.t.Fatalf("peer stop %s: %v\n%s", g.name, err, out)
	}
}

// waitLog waits until the text returned by read matches re, polling, and
// returns the first matching line; it fails the test on timeout.
func waitLog(t *testing.T, what string, read func() string, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	var line string
	deadline := time.Now().Add(timeout)
	for {
		if line = firstLine(read(), re); line != "" {
			return line
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no line matching %q within %v:\n%s", what, re, timeout, read())
			return ""
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// firstLine returns the first line of text that matches re, or "".
func firstLine(text string, re *regexp.Regexp) string {
	for _, l := range strings.Split(text, "\n") {
		if re.MatchString(l) {
			return strings.TrimRight(l, "\r")
		}
	}
	return ""
}
