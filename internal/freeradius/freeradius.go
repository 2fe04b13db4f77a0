// Package freeradius runs Debian's FreeRADIUS for tests: [Start] writes a
// minimal, self-contained configuration (pap, chap, mschap with MPPE keys,
// files, detail; an auth and an acct listener) into a temporary directory,
// runs "freeradius -X" on it, waits until it is ready and stops it when
// the test ends. [Server.DetailRecords] and friends read the accounting
// records it wrote, and [Server.Radclient] sends requests with radclient,
// for example a Disconnect-Request to a DAE listener.
//
// [Options.Command] runs both programs through a command factory, so that
// they can live in a network namespace (netns.Host.Command).
//
// Without freeradius (Debian package freeradius) or radclient
// (freeradius-utils) the test is skipped, or fails when
// GOPPTP_REQUIRE_TOOLS is set (see [testtool.Require]) or GOPPTP_RADIUS=1.
package freeradius

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopptp/gopptp/internal/testtool"
)

// RadiusEnv names the older environment variable that, set to "1", also
// turns a missing freeradius or radclient into a test failure.
const RadiusEnv = "GOPPTP_RADIUS"

// readyTimeout bounds the wait for "Ready to process requests".
const readyTimeout = 30 * time.Second

// Ports are the UDP ports of the auth and acct listeners.
type Ports struct {
	Auth, Acct int
}

// StandardPorts are RADIUS's registered ports. Use them when FreeRADIUS
// runs in a fresh network namespace, where nothing else holds them.
var StandardPorts = Ports{Auth: 1812, Acct: 1813}

// Options configure [Start].
type Options struct {
	// Users is the content of FreeRADIUS's users file (the files
	// module): the users, their passwords (Cleartext-Password := "...",
	// which every method needs) and their reply attributes.
	Users string

	// Secret is the shared secret of every client in Clients. It must not
	// be empty, hold control characters, or have a backslash before a
	// quote or at its end (radiusd.conf cannot express those).
	Secret string

	// Clients are the addresses or prefixes ("10.0.0.0/8") FreeRADIUS
	// accepts requests from. Default: 127.0.0.1.
	Clients []string

	// ListenAddr is the IP address the listeners bind to, IPv4 or IPv6.
	// Default: 127.0.0.1. An unspecified address (0.0.0.0, ::) listens on
	// all addresses; AuthAddr and AcctAddr then name loopback.
	ListenAddr string

	// Ports are the listeners' ports. When zero, Start picks two ports
	// that are free in the test's own network namespace (and tries again
	// if they were taken meanwhile). When Command runs FreeRADIUS in
	// another namespace that probe means nothing: set StandardPorts (or
	// other fixed ports) there.
	Ports Ports

	// Command makes the commands that run freeradius and radclient, for
	// example netns.Host.Command to run them inside a network namespace.
	// The name passed is the program's absolute path. Default:
	// exec.Command.
	Command func(name string, args ...string) *exec.Cmd
}

// Server is a running FreeRADIUS started by [Start].
type Server struct {
	opts       Options
	dir        string
	auth, acct string // host:port
	version    string
	out        *lockedBuffer
}

// Start runs FreeRADIUS with a configuration generated from o and returns
// once it is ready to process requests. It stops the server when tb's test
// ends and, if the test failed, logs the end of the server's output.
//
// Every reply carries a Message-Authenticator. The mschap module returns
// MPPE keys (MS-CHAP-MPPE-Keys, MS-MPPE-Send-Key/Recv-Key) and the policy
// "encryption allowed, 40 or 128 bits"; the users file may override the
// policy attributes. Accounting requests are written to the detail file
// (see [Server.DetailRecords]).
//
// Start skips the test when freeradius is not installed, or fails it when
// GOPPTP_REQUIRE_TOOLS is set or GOPPTP_RADIUS=1.
func Start(tb testing.TB, o Options) *Server {
	tb.Helper()
	if len(o.Clients) == 0 {
		o.Clients = []string{"127.0.0.1"}
	}
	if o.ListenAddr == "" {
		o.ListenAddr = "127.0.0.1"
	}
	if o.Command == nil {
		o.Command = exec.Command
	}
	if err := validate(o); err != nil {
		tb.Fatalf("freeradius: %v", err)
	}
	listen := netip.MustParseAddr(o.ListenAddr)
	bin := findFreeRADIUS(tb)
	tries := 1
	if o.Ports.Auth == 0 {
		tries = 3 // the ports may be taken between choosing and binding
	}
	var lastErr error
	for range tries {
		s, err := tryStart(tb, o, bin, listen)
		if err == nil {
			return s
		}
		lastErr = err
	}
	tb.Fatalf("freeradius: %v", lastErr)
	return nil
}

// findFreeRADIUS returns the path of freeradius (Debian) or radiusd.
func findFreeRADIUS(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"freeradius", "radiusd"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return require(tb, "freeradius", "freeradius")
}

// RequireRadclient skips the test when radclient (freeradius-utils) is
// not installed, or fails it when GOPPTP_REQUIRE_TOOLS is set or
// GOPPTP_RADIUS=1. [Server.Radclient] checks this itself; call it first
// when a test should not get half-way before it finds out.
func RequireRadclient(tb testing.TB) {
	tb.Helper()
	require(tb, "freeradius-utils", "radclient")
}

// require is testtool.Require for one program that also honours
// GOPPTP_RADIUS=1.
func require(tb testing.TB, pkg, name string) string {
	tb.Helper()
	if _, err := exec.LookPath(name); err != nil && os.Getenv(RadiusEnv) == "1" {
		tb.Fatalf("%s not installed (Debian package: %s); %s=1 is set, so this is a failure", name, pkg, RadiusEnv)
	}
	return testtool.Require(tb, pkg, name)[0]
}

// freePorts returns two UDP ports free on addr now. They are random
// ephemeral ports, so they never clash with a system FreeRADIUS on 1812.
func freePorts(addr netip.Addr) (Ports, error) {
	var ports [2]int
	for i := range ports {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		if err != nil {
			return Ports{}, err
		}
		defer c.Close()
		ports[i] = c.LocalAddr().(*net.UDPAddr).Port
	}
	return Ports{Auth: ports[0], Acct: ports[1]}, nil
}

func tryStart(tb testing.TB, o Options, bin string, listen netip.Addr) (*Server, error) {
	tb.Helper()
	if o.Ports.Auth == 0 {
		p, err := freePorts(listen)
		if err != nil {
			return nil, err
		}
		o.Ports = p
	}
	// Not tb.TempDir: its name comes from the test's, which may hold
	// characters radiusd.conf takes specially.
	dir, err := os.MkdirTemp("", "gopptp-freeradius-")
	if err != nil {
		return nil, err
	}
	// Registered before the server's stop, so run after it.
	tb.Cleanup(func() { os.RemoveAll(dir) })
	conf, err := config(dir, o)
	if err != nil {
		return nil, err
	}
	for name, content := range map[string]string{"radiusd.conf": conf, "users": o.Users, "dictionary": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o640); err != nil {
			return nil, err
		}
	}
	host := listen
	if host.IsUnspecified() {
		host = netip.IPv6Loopback()
		if listen.Is4() {
			host = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
	}
	s := &Server{
		opts: o, dir: dir, out: &lockedBuffer{},
		auth: net.JoinHostPort(host.String(), strconv.Itoa(o.Ports.Auth)),
		acct: net.JoinHostPort(host.String(), strconv.Itoa(o.Ports.Acct)),
	}
	if v, err := o.Command(bin, "-v").Output(); err == nil {
		s.version, _, _ = strings.Cut(string(v), "\n")
	}

	cmd := o.Command(bin, "-X", "-d", dir)
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	ownProcessGroup(cmd)
	if err := startCommand(cmd); err != nil {
		pw.Close()
		pr.Close()
		return nil, err
	}
	pw.Close()
	exited := make(chan struct{})
	ready := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(pr)
		sc.Buffer(nil, 1<<20)
		readyOnce := sync.Once{}
		for sc.Scan() {
			fmt.Fprintln(s.out, sc.Text())
			if strings.Contains(sc.Text(), "Ready to process requests") {
				readyOnce.Do(func() { close(ready) })
			}
		}
		pr.Close()
		cmd.Wait()
	}()
	stop := func() {
		select {
		case <-exited: // reaped: its ID may belong to another process by now
		default:
			killProcessGroup(cmd) // the process this package started, and its children
			<-exited
		}
	}
	select {
	case <-ready:
	case <-exited:
		return nil, fmt.Errorf("exited before listening on %s and %s:\n%s", s.auth, s.acct, tail(s.out.String(), 3000))
	case <-time.After(readyTimeout):
		stop()
		return nil, fmt.Errorf("not ready after %v:\n%s", readyTimeout, tail(s.out.String(), 3000))
	}
	tb.Cleanup(func() {
		stop()
		if tb.Failed() {
			tb.Logf("freeradius output (end):\n%s", tail(s.out.String(), 6000))
		}
	})
	tb.Logf("%s on %s (auth) and %s (acct)", s.version, s.auth, s.acct)
	return s, nil
}

// AuthAddr returns the auth listener's address, "host:port".
func (s *Server) AuthAddr() string { return s.auth }

// AcctAddr returns the acct listener's address, "host:port".
func (s *Server) AcctAddr() string { return s.acct }

// Dir returns the configuration directory, which also holds the detail
// file ("detail") and an empty local dictionary.
func (s *Server) Dir() string { return s.dir }

// Version returns the first line of "freeradius -v", or "" if that
// failed.
func (s *Server) Version() string { return s.version }

// Output returns what FreeRADIUS has printed so far (its -X debug log).
func (s *Server) Output() string { return s.out.String() }

// DetailRecords parses the detail file into records, in the order
// FreeRADIUS wrote them, each mapping attribute names to their values
// (surrounding quotes removed; octet strings stay "0x..."). A record still
// being written is left out, and no file (no accounting yet) means no
// records.
func (s *Server) DetailRecords(tb testing.TB) []map[string][]string {
	tb.Helper()
	recs, err := s.detailRecords()
	if err != nil {
		tb.Fatal(err)
	}
	return recs
}

func (s *Server) detailRecords() ([]map[string][]string, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "detail"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseDetail(string(b)), nil
}

// parseDetail parses the detail module's format: a header line (the
// time), one tab-indented "Attr = value" line per attribute and an empty
// line after each record.
func parseDetail(s string) []map[string][]string {
	var recs []map[string][]string
	var cur map[string][]string
	for _, line := range strings.SplitAfter(s, "\n") {
		if !strings.HasSuffix(line, "\n") {
			break // being written
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if cur != nil {
				recs = append(recs, cur)
			}
			cur = nil
		case !strings.HasPrefix(line, "\t"):
			cur = map[string][]string{}
		case cur != nil:
			k, v, ok := strings.Cut(strings.TrimSpace(line), " = ")
			if ok {
				cur[k] = append(cur[k], strings.Trim(v, `"`))
			}
		}
	}
	return recs
}

// SessionRecords returns the detail records whose Acct-Session-Id is id.
func (s *Server) SessionRecords(tb testing.TB, id string) []map[string][]string {
	tb.Helper()
	return sessionRecords(s.DetailRecords(tb), id)
}

func sessionRecords(recs []map[string][]string, id string) []map[string][]string {
	var out []map[string][]string
	for _, r := range recs {
		if len(r["Acct-Session-Id"]) > 0 && r["Acct-Session-Id"][0] == id {
			out = append(out, r)
		}
	}
	return out
}

// WaitRecords waits until cond holds for the detail records and returns
// them; accounting arrives asynchronously. It fails the test (so it must
// be called from the test's goroutine) if cond still does not hold after
// timeout.
func (s *Server) WaitRecords(tb testing.TB, cond func([]map[string][]string) bool, timeout time.Duration) []map[string][]string {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		recs, err := s.detailRecords()
		if err != nil {
			tb.Fatal(err)
		}
		if cond(recs) {
			return recs
		}
		if time.Now().After(deadline) {
			tb.Fatalf("freeradius: detail records not as wanted after %v; the last %s", timeout, describe(recs, 5))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// describe summarises the last n records for a failure message.
func describe(recs []map[string][]string, n int) string {
	if len(recs) == 0 {
		return "of 0 records: none"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "of %d records:", len(recs))
	for _, r := range recs[max(0, len(recs)-n):] {
		fmt.Fprintf(&b, "\n\t%s %s %s", r["Acct-Status-Type"], r["Acct-Session-Id"], r["User-Name"])
	}
	return b.String()
}

// Radclient sends one request with radclient -x to addr ("host:port") and
// returns radclient's output, which shows the reply ("Received
// Disconnect-ACK ..." and its attributes). code is radclient's name for
// the request: auth, acct, status, coa or disconnect. attrs are its
// attributes, one `Name = value` each (strings quoted). It waits 3
// seconds for the reply. The error is radclient's exit status: non-nil
// for a reject, a NAK or no reply at all.
//
// radclient runs through Options.Command, so it is in FreeRADIUS's
// network namespace. The test is skipped (or fails) as by
// [RequireRadclient] if radclient is not installed.
func (s *Server) Radclient(tb testing.TB, addr, code, secret string, attrs ...string) (string, error) {
	tb.Helper()
	return s.RadclientWait(tb, 3*time.Second, addr, code, secret, attrs...)
}

// RadclientWait is [Server.Radclient] waiting wait for the reply, for
// example a short time where no reply is the expected outcome.
func (s *Server) RadclientWait(tb testing.TB, wait time.Duration, addr, code, secret string, attrs ...string) (string, error) {
	tb.Helper()
	bin := require(tb, "freeradius-utils", "radclient")
	secs := strconv.FormatFloat(max(wait, time.Millisecond).Seconds(), 'f', 3, 64)
	cmd := s.opts.Command(bin, "-d", s.dir, "-x", "-r", "1", "-t", secs, addr, code, secret)
	cmd.Stdin = strings.NewReader(strings.Join(attrs, "\n") + "\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	ownProcessGroup(cmd)
	if err := startCommand(cmd); err != nil {
		return "", err
	}
	// radclient gives up by itself; this only guards against a hang.
	guard := time.AfterFunc(wait+15*time.Second, func() { killProcessGroup(cmd) })
	err := cmd.Wait()
	guard.Stop()
	return out.String(), err
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
