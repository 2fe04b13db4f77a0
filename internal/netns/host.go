package netns

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NamespaceDir is where "ip netns" keeps the bind mounts that name
// namespaces.
const NamespaceDir = "/run/netns"

const (
	// maxLabel keeps namespace names (label + "-" + 6 hex digits) within
	// the 15 characters of an interface name, so that they can also be
	// used where the kernel applies that limit.
	maxLabel = 8
	// commandTimeout bounds Run and MustRun so that a hung tool cannot
	// stall the test binary until its global timeout.
	commandTimeout = 30 * time.Second
	// dialTimeout bounds Host.Dial.
	dialTimeout = 10 * time.Second
	// killWait bounds how long cleanup waits for SIGKILLed processes to
	// disappear.
	killWait = 5 * time.Second
)

// Host is a network namespace created by NewHost. It is safe for
// concurrent use.
type Host struct {
	name  string // namespace name, as used by "ip netns"
	label string // the prefix given to NewHost, used for interface names

	mu    sync.Mutex
	links int // number of veth ends created by Connect, for unique names
}

var (
	probeOnce sync.Once
	probeErr  error
)

// RequireRoot skips the test unless it runs as root on a system where
// network namespaces can be created and iproute2's ip is installed.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("netns: skipping, needs root to create network namespaces")
		return
	}
	probeOnce.Do(func() { probeErr = probe() })
	if probeErr != nil {
		tb.Skipf("netns: skipping, network namespaces unavailable: %v", probeErr)
	}
}

// probe checks the prerequisites of the package once per test binary.
func probe() error {
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("iproute2 ip not found: %w", err)
	}
	errc := make(chan error, 1)
	go func() {
		// The thread is deliberately never unlocked: after a successful
		// unshare it lives in a fresh namespace, and a goroutine that
		// exits while locked makes the runtime destroy its thread instead
		// of reusing it for other goroutines.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
			return
		}
		errc <- nil
	}()
	return <-errc
}

// NewHost creates a network namespace named after label plus a random
// suffix, brings its loopback interface up and registers a cleanup with tb
// that kills every process left in the namespace and deletes it. Only
// letters, digits, '-' and '_' of label are kept, and at most 8 of them.
func NewHost(tb testing.TB, label string) *Host {
	tb.Helper()
	label = sanitizeLabel(label)
	var (
		name string
		err  error
	)
	// The random suffix makes clashes with concurrently running test
	// binaries unlikely; a clash makes "ip netns add" fail, so retry.
	for range 5 {
		name = fmt.Sprintf("%s-%06x", label, rand.Uint32()&0xffffff)
		if _, statErr := os.Lstat(filepath.Join(NamespaceDir, name)); statErr == nil {
			err = fmt.Errorf("namespace %s exists", name)
			continue
		}
		if _, err = runTool("ip", "netns", "add", name); err == nil {
			break
		}
	}
	if err != nil {
		tb.Fatalf("netns: creating namespace: %v", err)
		return nil
	}
	h := &Host{name: name, label: label}
	// Registered before anything else can fail, so that the namespace is
	// removed whatever happens next.
	tb.Cleanup(func() {
		if err := h.destroy(); err != nil {
			tb.Errorf("netns: cleanup of %s: %v", h.name, err)
		}
	})
	if _, err := runTool("ip", "-n", name, "link", "set", "lo", "up"); err != nil {
		tb.Fatalf("netns: %s: bringing lo up: %v", name, err)
		return nil
	}
	return h
}

// sanitizeLabel keeps label usable in namespace and interface names.
func sanitizeLabel(label string) string {
	var b strings.Builder
	for _, r := range label {
		if b.Len() >= maxLabel {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "ns"
	}
	return b.String()
}

// Name returns the namespace name, as used by "ip netns".
func (h *Host) Name() string { return h.name }

// String returns the namespace name.
func (h *Host) String() string { return h.name }

// Path returns the file that names the namespace, for tools that want a
// namespace path or file descriptor.
func (h *Host) Path() string { return filepath.Join(NamespaceDir, h.name) }

// destroy kills every process in the namespace and deletes it.
func (h *Host) destroy() error {
	if err := h.killAll(); err != nil {
		return err
	}
	var err error
	// A namespace whose last process is still exiting can make the
	// unmount fail transiently, so retry briefly.
	for range 10 {
		if _, err = runTool("ip", "netns", "del", h.name); err == nil {
			return nil
		}
		if _, statErr := os.Lstat(h.Path()); errors.Is(statErr, os.ErrNotExist) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("deleting namespace: %w", err)
}

// killAll SIGKILLs every process whose network namespace is h (what
// "ip netns pids" reports) and waits until none is left.
func (h *Host) killAll() error {
	deadline := time.Now().Add(killWait)
	for {
		pids, err := h.pids()
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still running after SIGKILL", pids)
		}
		for _, pid := range pids {
			// ESRCH just means it exited meanwhile.
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pids lists the processes whose network namespace is h. It compares the
// namespace inode with /proc/PID/ns/net, as "ip netns pids" does, and never
// lists the test binary itself: one of its threads may be inside the
// namespace in Do, which makes /proc/self/ns/net match when that thread is
// the main thread.
func (h *Host) pids() ([]int, error) {
	var want unix.Stat_t
	if err := unix.Stat(h.Path(), &want); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil, nil
		}
		return nil, fmt.Errorf("stat %s: %w", h.Path(), err)
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("listing processes: %w", err)
	}
	self := os.Getpid()
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		var st unix.Stat_t
		// Fails for zombies and processes that exited meanwhile; neither
		// needs killing.
		if unix.Stat("/proc/"+e.Name()+"/ns/net", &st) != nil {
			continue
		}
		if st.Dev == want.Dev && st.Ino == want.Ino {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Command returns a command that runs name with args inside the namespace
// via "ip netns exec". The caller sets it up and runs it as with any
// exec.Cmd.
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", h.execArgs(name, args)...)
}

func (h *Host) execArgs(name string, args []string) []string {
	return append([]string{"netns", "exec", h.name, name}, args...)
}

// Run runs name with args inside the namespace and returns its combined
// output. It gives up after 30 seconds.
func (h *Host) Run(name string, args ...string) (string, error) {
	return runTool("ip", h.execArgs(name, args)...)
}

// MustRun is like Run but fails the test, showing the output, when the
// command fails.
func (h *Host) MustRun(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := h.Run(name, args...)
	if err != nil {
		tb.Fatalf("netns: %s: %v", h.name, err)
	}
	return out
}

// runTool runs a command with a timeout and returns its combined output;
// the error includes the command line and output.
func runTool(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	// Without WaitDelay a grandchild holding the output pipe would keep
	// Wait blocked after the timeout.
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, out)
	}
	return string(out), nil
}

// Sysctl writes value to the sysctl key (for example
// "net.ipv4.ip_forward") inside the namespace and fails the test on error.
// As with sysctl(8), a key containing '/' is taken as a path below
// /proc/sys, which allows interface names containing dots.
func (h *Host) Sysctl(tb testing.TB, key, value string) {
	tb.Helper()
	if err := h.SetSysctl(key, value); err != nil {
		tb.Fatalf("netns: %s: %v", h.name, err)
	}
}

// SetSysctl is like Sysctl but returns the error.
func (h *Host) SetSysctl(key, value string) error {
	p, err := sysctlPath(key)
	if err != nil {
		return err
	}
	// /proc/sys/net resolves against the network namespace of the
	// thread that opens the file, so opening it inside Do is enough.
	err = h.Do(func() error {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if _, err := f.WriteString(value); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
	if err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// sysctlPath maps a sysctl key to its file, refusing keys that would
// escape /proc/sys.
func sysctlPath(key string) (string, error) {
	rel := key
	if !strings.Contains(key, "/") {
		rel = strings.ReplaceAll(key, ".", "/")
	}
	rel = strings.Trim(rel, "/")
	if rel == "" {
		return "", fmt.Errorf("invalid sysctl key %q", key)
	}
	for _, part := range strings.Split(rel, "/") {
		if part == "" || part == "." || part == ".." {
			return "", fmt.Errorf("invalid sysctl key %q", key)
		}
	}
	return "/proc/sys/" + rel, nil
}

// doResult carries the outcome of fn from the goroutine Do runs it on.
type doResult struct {
	err      error
	panicked bool
	panicVal any
	stack    []byte
	goexit   bool // fn called runtime.Goexit, e.g. through t.FailNow
}

// Do runs fn on an OS thread that has been switched into the namespace and
// returns its error. Sockets fn creates stay in the namespace for their
// whole life, so they can be used after Do returns; goroutines fn starts
// do not run in the namespace.
//
// fn runs on a fresh goroutine locked to its thread. A panic in fn is
// re-raised in the caller, and if fn calls runtime.Goexit (t.FailNow does)
// the caller exits too, so t.Fatal inside fn behaves as usual when Do is
// called from the test goroutine.
func (h *Host) Do(fn func() error) error {
	if fn == nil {
		return errors.New("netns: Do with nil function")
	}
	resc := make(chan doResult, 1)
	go h.do(fn, resc)
	r := <-resc
	if r.panicked {
		panic(fmt.Sprintf("netns: panic in %s.Do: %v\n\n%s", h.name, r.panicVal, r.stack))
	}
	if r.goexit {
		runtime.Goexit()
	}
	return r.err
}

func (h *Host) do(fn func() error, resc chan<- doResult) {
	r := doResult{goexit: true} // cleared when fn returns or panics
	defer func() { resc <- r }()

	runtime.LockOSThread()
	orig, err := vnetns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		r = doResult{err: fmt.Errorf("netns: %s: getting current namespace: %w", h.name, err)}
		return
	}
	defer orig.Close()
	target, err := vnetns.GetFromPath(h.Path())
	if err != nil {
		runtime.UnlockOSThread()
		r = doResult{err: fmt.Errorf("netns: %s: opening namespace: %w", h.name, err)}
		return
	}
	defer target.Close()
	if err := vnetns.Set(target); err != nil {
		// setns failed, so the thread is still where it was.
		runtime.UnlockOSThread()
		r = doResult{err: fmt.Errorf("netns: %s: entering namespace: %w", h.name, err)}
		return
	}
	// Deferred so that the thread is switched back also when fn panics
	// or exits the goroutine.
	defer func() {
		if err := vnetns.Set(orig); err != nil {
			// The thread is stuck in the wrong namespace. Leaving it
			// locked makes the runtime destroy it when this goroutine
			// exits (right after this function), instead of handing it
			// to unrelated goroutines that would then silently run
			// inside the namespace.
			r.err = errors.Join(r.err, fmt.Errorf("netns: %s: switching back to the original namespace: %w", h.name, err))
			return
		}
		runtime.UnlockOSThread()
	}()
	func() {
		defer func() {
			if v := recover(); v != nil {
				r = doResult{panicked: true, panicVal: v, stack: debug.Stack()}
			}
		}()
		err := fn()
		r = doResult{err: err}
	}()
}

// Listen listens on network and address (as net.Listen) inside the
// namespace, fails the test on error and closes the listener at cleanup.
func (h *Host) Listen(tb testing.TB, network, address string) net.Listener {
	tb.Helper()
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		ln, err = net.Listen(network, address)
		return err
	})
	if err != nil {
		tb.Fatalf("netns: %s: listen %s %s: %v", h.name, network, address, err)
		return nil
	}
	tb.Cleanup(func() { ln.Close() })
	return ln
}

// ListenPacket is like Listen for packet networks such as "udp"
// (as net.ListenPacket).
func (h *Host) ListenPacket(tb testing.TB, network, address string) net.PacketConn {
	tb.Helper()
	var pc net.PacketConn
	err := h.Do(func() error {
		var err error
		pc, err = net.ListenPacket(network, address)
		return err
	})
	if err != nil {
		tb.Fatalf("netns: %s: listen %s %s: %v", h.name, network, address, err)
		return nil
	}
	tb.Cleanup(func() { pc.Close() })
	return pc
}

// Dial connects to address on network (as net.Dial) from inside the
// namespace, giving up after 10 seconds. It fails the test on error and
// closes the connection at cleanup. For IP networks the host must be an IP
// literal: name resolution could send queries out of the test setup, and
// dialing several resolved addresses happens on other goroutines, outside
// the namespace.
func (h *Host) Dial(tb testing.TB, network, address string) net.Conn {
	tb.Helper()
	if err := checkLiteral(network, address); err != nil {
		tb.Fatalf("netns: %s: dial %s %s: %v", h.name, network, address, err)
		return nil
	}
	var c net.Conn
	err := h.Do(func() error {
		var err error
		// The socket is created synchronously on this thread; the
		// connect that follows may wait elsewhere, which is fine since
		// the socket already belongs to the namespace.
		c, err = (&net.Dialer{Timeout: dialTimeout}).Dial(network, address)
		return err
	})
	if err != nil {
		tb.Fatalf("netns: %s: dial %s %s: %v", h.name, network, address, err)
		return nil
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// checkLiteral rejects IP network addresses whose host is not an IP
// literal.
func checkLiteral(network, address string) error {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("host %q is not an IP address", host)
		}
	case "ip", "ip4", "ip6":
		if _, err := netip.ParseAddr(address); err != nil {
			return fmt.Errorf("host %q is not an IP address", address)
		}
	default:
		if strings.HasPrefix(network, "ip:") || strings.HasPrefix(network, "ip4:") || strings.HasPrefix(network, "ip6:") {
			if _, err := netip.ParseAddr(address); err != nil {
				return fmt.Errorf("host %q is not an IP address", address)
			}
		}
	}
	return nil
}
