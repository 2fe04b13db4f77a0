package integration

import (
	"bytes"
	"encoding/binary"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopptp/gopptp/internal/hdlc"
	"github.com/gopptp/gopptp/internal/netns"
)

// fakePppd is the pppd side of "pptp SERVER --nolaunchpppd": the test
// holds the relay's standard input and output and speaks HDLC-framed PPP
// on them, as pppd does on its pty.
type fakePppd struct {
	cmd    *exec.Cmd
	in     io.WriteCloser // the relay's stdin
	enc    *hdlc.Encoder
	frames chan []byte // decoded from the relay's stdout; closed at its end
	stderr *syncBuffer
	done   chan struct{}
	err    error // the exit, once done is closed
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startRelay runs our pptp in the client namespace as pppd would, with
// NetworkManager-pptp's arguments.
func (tp *topo) startRelay(t *testing.T, extra ...string) *fakePppd {
	t.Helper()
	args := append([]string{srvUnder.Addr().String(), "--nolaunchpppd", "--loglevel", "2", "--logstring", "nm-pptp-service-4242"}, extra...)
	cmd := tp.cli.Command(filepath.Join(binDir, "pptp"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &fakePppd{cmd: cmd, in: in, enc: hdlc.NewEncoder(in), frames: make(chan []byte, 64),
		stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.frames)
		dec := hdlc.NewDecoder(out)
		for {
			f, err := dec.ReadFrame()
			if err != nil {
				return
			}
			p.frames <- append([]byte(nil), f...)
		}
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		if strings.Contains(p.stderr.String(), "DATA RACE") {
			t.Errorf("data race in the relay:\n%s", p.stderr.String())
		}
		if t.Failed() {
			t.Logf("relay's stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

// lcp sends an LCP packet as pppd frames it: address and control
// fields, protocol, packet.
func (p *fakePppd) lcp(t *testing.T, code, id byte, data []byte) {
	t.Helper()
	f := []byte{0xff, 0x03, 0xc0, 0x21, code, id, 0, 0}
	binary.BigEndian.PutUint16(f[6:], uint16(4+len(data)))
	if err := p.enc.WriteFrame(append(f, data...)); err != nil {
		t.Fatalf("writing to the relay: %v", err)
	}
}

// next returns the next frame from the relay whose protocol is proto
// (address and control fields stripped), skipping others.
func (p *fakePppd) next(t *testing.T, proto uint16, timeout time.Duration) []byte {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case f, ok := <-p.frames:
			if !ok {
				t.Fatalf("the relay's stdout ended waiting for protocol 0x%04x", proto)
			}
			if len(f) >= 2 && f[0] == 0xff && f[1] == 0x03 {
				f = f[2:]
			}
			if len(f) >= 2 && binary.BigEndian.Uint16(f) == proto {
				return f[2:]
			}
		case <-deadline:
			t.Fatalf("no frame of protocol 0x%04x from the relay within %v", proto, timeout)
		}
	}
}

// exit waits for the relay to end and returns its exit code.
func (p *fakePppd) exit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("the relay did not exit within %v", timeout)
	}
	if p.err == nil {
		return 0
	}
	if ee, ok := p.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatalf("relay: %v", p.err)
	return -1
}

// negotiateLCP plays pppd's part of LCP through the relay: our
// Configure-Request must be acked by pptpd, pptpd's must reach us and is
// acked, and pptpd then starts authentication (an MS-CHAP-v2 challenge),
// which proves LCP opened on its side. An echo checks the path again.
func (p *fakePppd) negotiateLCP(t *testing.T) {
	t.Helper()
	magic := []byte{0x05, 0x06, 0x1f, 0x2e, 0x3d, 0x4c}
	p.lcp(t, 1, 1, magic) // Configure-Request: magic number
	var acked, theirs bool
	for !acked || !theirs {
		pkt := p.next(t, 0xc021, 10*time.Second)
		if len(pkt) < 4 {
			t.Fatalf("short LCP packet % x", pkt)
		}
		switch pkt[0] {
		case 1: // pptpd's Configure-Request: ack it as it is
			p.lcp(t, 2, pkt[1], pkt[4:])
			theirs = true
		case 2:
			if pkt[1] != 1 || !bytes.Equal(pkt[4:], magic) {
				t.Fatalf("pptpd acked % x, we asked for id 1 % x", pkt, magic)
			}
			acked = true
		default:
			t.Fatalf("unexpected LCP packet from pptpd: % x", pkt)
		}
	}
	ch := p.next(t, 0xc223, 10*time.Second) // CHAP
	if len(ch) < 5 || ch[0] != 1 || ch[4] != 16 {
		t.Fatalf("pptpd's CHAP packet % x is not an MS-CHAP-v2 Challenge", ch)
	}
	p.lcp(t, 9, 7, []byte{0x1f, 0x2e, 0x3d, 0x4c, 'h', 'i'}) // Echo-Request
	if rep := p.next(t, 0xc021, 10*time.Second); rep[0] != 10 || rep[1] != 7 || !bytes.HasSuffix(rep, []byte("hi")) {
		t.Fatalf("LCP echo reply % x", rep)
	}
}

var relayLogRE = regexp.MustCompile(`msg="call placed" tag=nm-pptp-service-4242 `)

// TestRelayPppdHangsUp: the pppd side's LCP negotiates with pptpd through
// the relay; when pppd closes the pty the relay clears the call politely
// and exits 0, and pptpd sees the call cleared.
func TestRelayPppdHangsUp(t *testing.T) {
	tp := newTopo(t)
	srv := tp.startServer(t)
	p := tp.startRelay(t)
	p.negotiateLCP(t)
	if !relayLogRE.MatchString(p.stderr.String()) {
		t.Errorf("the relay's log lacks the tagged call line:\n%s", p.stderr.String())
	}
	start := time.Now()
	p.in.Close() // pppd hangs up
	if code := p.exit(t, 10*time.Second); code != 0 {
		t.Errorf("relay exit %d after pppd hung up, want 0", code)
	}
	t.Logf("relay ended %v after the hang-up", time.Since(start).Round(time.Millisecond))
	// "control connection closed": pptpd answered our
	// Stop-Control-Connection-Request after the Call-Clear-Request.
	for _, re := range []string{`msg="pppd hung up"`, `msg="control connection closed"`, `msg="call cleared"`} {
		if !regexp.MustCompile(re).MatchString(p.stderr.String()) {
			t.Errorf("relay's log lacks %s:\n%s", re, p.stderr.String())
		}
	}
	down := srv.WaitFor(t, regexp.MustCompile(`msg="session down".*reason="call cleared by peer`), 10*time.Second)
	t.Logf("pptpd: %s", down)
}

// TestRelaySignal: SIGTERM (pppd or NetworkManager stopping us) and
// SIGHUP clear the call politely too, and the process exits 0.
func TestRelaySignal(t *testing.T) {
	tp := newTopo(t)
	srv := tp.startServer(t)
	for i, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		p := tp.startRelay(t)
		p.negotiateLCP(t)
		p.cmd.Process.Signal(sig)
		if code := p.exit(t, 10*time.Second); code != 0 {
			t.Errorf("%v: relay exit %d, want 0", sig, code)
		}
		if !strings.Contains(p.stderr.String(), `msg="terminating on signal"`) {
			t.Errorf("%v: relay's log:\n%s", sig, p.stderr.String())
		}
		srv.WaitForNth(t, regexp.MustCompile(`msg="session down".*reason="call cleared by peer`), i+1, 10*time.Second)
		// pppd sees its pty close: the relay's stdout ends.
		select {
		case _, ok := <-p.frames:
			for ok {
				_, ok = <-p.frames
			}
		case <-time.After(5 * time.Second):
			t.Errorf("%v: the relay's stdout did not end", sig)
		}
	}
}

// TestRelayServerEnds: when pptpd ends the call (here it shuts down), the
// relay exits non-zero (pppd's "hangup", 16) and closes pppd's pty.
func TestRelayServerEnds(t *testing.T) {
	tp := newTopo(t)
	srv := tp.startServer(t)
	p := tp.startRelay(t)
	p.negotiateLCP(t)
	srv.Signal(syscall.SIGTERM)
	if code := p.exit(t, 15*time.Second); code != 16 {
		t.Errorf("relay exit %d after pptpd ended the call, want 16", code)
	}
	if !regexp.MustCompile(`msg="call ended by the server"|server (disconnected the call|closed the control connection)`).MatchString(p.stderr.String()) {
		t.Errorf("the relay does not say the server ended the call:\n%s", p.stderr.String())
	}
}

// TestRelayBadOption: an unknown option is an error before anything is
// dialled, and nothing reaches pppd's stdout.
func TestRelayBadOption(t *testing.T) {
	netns.RequireRoot(t)
	out, err := exec.Command(filepath.Join(binDir, "pptp"), "192.0.2.1", "--nolaunchpppd", "--frobnicate").Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(ee.Stderr), "unknown option --frobnicate") {
		t.Errorf("exit %v, stderr %s", err, stderrOf(err))
	}
	if len(out) != 0 {
		t.Errorf("stdout: %q", out)
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
