package netns

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

var (
	addrA = netip.MustParsePrefix("10.0.1.2/24")
	addrB = netip.MustParsePrefix("10.0.1.1/24")
	// absent is in the subnet of the link but assigned to nobody.
	absent = netip.MustParseAddr("10.0.1.99")
)

// startNS is the network namespace of the test binary, recorded on the
// main thread before any test can switch a thread.
var startNS = func() uint64 {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return 0
	}
	return st.Ino
}()

// nsIno returns the inode identifying the namespace at path.
func nsIno(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Ino
}

// pair builds two connected hosts.
func pair(t *testing.T) (a, b *Host, aIf, bIf string) {
	t.Helper()
	RequireRoot(t)
	a = NewHost(t, "a")
	b = NewHost(t, "b")
	aIf, bIf = Connect(t, a, b, addrA, addrB)
	return a, b, aIf, bIf
}

// gone reports whether pid has exited (a zombie counts as exited).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

func TestTraffic(t *testing.T) {
	a, b, aIf, bIf := pair(t)
	if aIf != "v0-b" || bIf != "v0-a" {
		t.Errorf("interface names %q, %q; want v0-b, v0-a", aIf, bIf)
	}
	Ping(t, a, addrB.Addr(), 3, 5*time.Second)
	rtts := PingRTT(t, b, addrA.Addr(), 2, 5*time.Second)
	if len(rtts) != 2 || rtts[0] <= 0 || rtts[1] <= 0 {
		t.Errorf("PingRTT = %v, want two positive durations", rtts)
	}
	for _, dir := range []struct{ src, dst *Host }{{a, b}, {b, a}} {
		dstAddr := addrA.Addr()
		if dir.dst == b {
			dstAddr = addrB.Addr()
		}
		st := TransferTCP(t, dir.src, dir.dst, dstAddr, 4<<20)
		if st.Bytes != 4<<20 || st.Duration <= 0 {
			t.Errorf("TransferTCP stats %+v", st)
		}
	}
	// An empty transfer is valid too.
	if st := TransferTCP(t, a, b, addrB.Addr(), 0); st.Bytes != 0 {
		t.Errorf("empty transfer: %+v", st)
	}
}

func TestIPv6(t *testing.T) {
	if _, err := os.Stat("/proc/net/if_inet6"); err != nil {
		t.Skip("no IPv6 in this kernel")
	}
	RequireRoot(t)
	a, b := NewHost(t, "a6"), NewHost(t, "b6")
	Connect(t, a, b, netip.MustParsePrefix("fd00:1::1/64"), netip.MustParsePrefix("fd00:1::2/64"))
	Ping(t, a, netip.MustParseAddr("fd00:1::2"), 2, 5*time.Second)
	TransferTCP(t, b, a, netip.MustParseAddr("fd00:1::1"), 1<<20)
}

func TestAssertionsFail(t *testing.T) {
	a, b, _, _ := pair(t)

	// The control must pass, or the failures below prove nothing.
	if f := runFake(t, func(tb testing.TB) { Ping(tb, a, addrB.Addr(), 1, 2*time.Second) }); f.Failed() {
		t.Fatalf("ping of a live address failed: %s", f.output())
	}

	// Replies to a concurrent ping from the same namespace reach the raw
	// socket too and must not count.
	start := time.Now()
	other := make(chan error, 1)
	go func() {
		_, err := a.Ping(addrB.Addr(), 5, 2*time.Second)
		other <- err
	}()
	f := runFake(t, func(tb testing.TB) { Ping(tb, a, absent, 2, 700*time.Millisecond) })
	if err := <-other; err != nil {
		t.Errorf("concurrent ping: %v", err)
	}
	if !f.Failed() || !strings.Contains(f.output(), "0 of 2 replies") {
		t.Errorf("ping of an absent address: failed=%v, output %q", f.Failed(), f.output())
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("failing ping took %v", d)
	}
	rtts, err := a.Ping(absent, 1, 300*time.Millisecond)
	if err == nil || len(rtts) != 1 || rtts[0] != 0 {
		t.Errorf("Host.Ping of an absent address = %v, %v", rtts, err)
	}
	// The host exists, but the address is not its own.
	if _, err := b.Ping(addrB.Addr(), 1, 300*time.Millisecond); err != nil {
		t.Errorf("ping of own address: %v", err)
	}
	if _, err := a.Ping(netip.Addr{}, 1, time.Second); err == nil {
		t.Error("ping of the zero address accepted")
	}
	if _, err := a.Ping(addrB.Addr(), 0, time.Second); err == nil {
		t.Error("ping with count 0 accepted")
	}

	// The listener cannot bind an address that b does not have.
	f = runFake(t, func(tb testing.TB) { TransferTCP(tb, a, b, absent, 1<<20) })
	if !f.Failed() {
		t.Error("transfer to an address not on the destination passed")
	}
	// Nothing listens there: the data has to go to b, not a.
	f = runFake(t, func(tb testing.TB) { TransferTCP(tb, a, b, addrA.Addr(), 1<<20) })
	if !f.Failed() {
		t.Error("transfer to the source's own address passed")
	}
	if _, err := a.SendTCP(b, addrB.Addr(), 64<<20, time.Millisecond); err == nil {
		t.Error("transfer of 64 MiB within 1ms passed")
	}
	if _, err := a.SendTCP(b, addrB.Addr(), -1, time.Second); err == nil {
		t.Error("negative transfer size accepted")
	}

	f = runFake(t, func(tb testing.TB) { Connect(tb, a, a, addrA, addrB) })
	if !f.Failed() {
		t.Error("connecting a host to itself passed")
	}
}

func TestDo(t *testing.T) {
	a, b, aIf, _ := pair(t)

	err := a.Do(func() error {
		if got, want := nsIno(t, "/proc/thread-self/ns/net"), nsIno(t, a.Path()); got != want {
			return fmt.Errorf("thread in namespace %d, want %d", got, want)
		}
		if _, err := net.InterfaceByName(aIf); err != nil {
			return fmt.Errorf("own veth not visible: %w", err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	if _, err := net.InterfaceByName(aIf); err == nil {
		t.Errorf("%s visible outside the namespace", aIf)
	}

	sentinel := errors.New("sentinel")
	if err := a.Do(func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("Do returned %v, want the function's error", err)
	}
	if err := a.Do(nil); err == nil {
		t.Error("Do(nil) returned no error")
	}

	func() {
		defer func() {
			if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), "kaboom") {
				t.Errorf("recovered %v, want the panic from fn", v)
			}
		}()
		_ = a.Do(func() error { panic("kaboom") })
	}()

	// runtime.Goexit in fn (what t.FailNow does) ends the caller too.
	continued := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Do(func() error { runtime.Goexit(); return nil })
		continued = true
	}()
	<-done
	if continued {
		t.Error("caller kept running after Goexit in fn")
	}

	// Many switches in parallel must leave no thread behind in a
	// namespace: fresh locked goroutines must all start in the original
	// one.
	var wg sync.WaitGroup
	for i := range 50 {
		h := a
		if i%2 == 1 {
			h = b
		}
		wg.Go(func() {
			if err := h.Do(func() error { time.Sleep(time.Millisecond); return nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var bad sync.Map
	for range 50 {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var st unix.Stat_t
			if err := unix.Stat("/proc/thread-self/ns/net", &st); err == nil && st.Ino != startNS {
				bad.Store(st.Ino, true)
			}
			time.Sleep(time.Millisecond)
		})
	}
	wg.Wait()
	bad.Range(func(k, _ any) bool {
		t.Errorf("a thread was left in namespace %v", k)
		return true
	})

	// Sockets keep the namespace they were created in.
	ln := b.Listen(t, "tcp", netip.AddrPortFrom(addrB.Addr(), 0).String())
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c := a.Dial(t, "tcp", ln.Addr().String())
	if _, err := fmt.Fprintln(c, "hello"); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "hello\n" {
		t.Errorf("echo: %q, %v", line, err)
	}

	pc := b.ListenPacket(t, "udp", netip.AddrPortFrom(addrB.Addr(), 0).String())
	uc := a.Dial(t, "udp", pc.LocalAddr().String())
	if _, err := uc.Write([]byte("datagram")); err != nil {
		t.Fatal(err)
	}
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 100)
	n, from, err := pc.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "datagram" || from.String() != uc.LocalAddr().String() {
		t.Errorf("udp: %q from %v, %v", buf[:n], from, err)
	}

	if f := runFake(t, func(tb testing.TB) { a.Dial(tb, "tcp", "localhost:1") }); !f.Failed() {
		t.Error("dial of a host name passed")
	}
}

func TestRunAndSysctl(t *testing.T) {
	a, b, aIf, _ := pair(t)
	if out := a.MustRun(t, "ip", "-o", "link", "show", "dev", aIf); !strings.Contains(out, aIf) {
		t.Errorf("ip link show in the namespace: %q", out)
	}
	a.MustRun(t, "ip", "route", "add", "192.168.0.0/24", "via", addrB.Addr().String())
	if out := a.MustRun(t, "ip", "route", "show", "192.168.0.0/24"); !strings.Contains(out, "via 10.0.1.1") {
		t.Errorf("route not added: %q", out)
	}
	if _, err := a.Run("sh", "-c", "echo oops; exit 3"); err == nil || !strings.Contains(err.Error(), "oops") {
		t.Errorf("failing command: %v", err)
	}
	if f := runFake(t, func(tb testing.TB) { a.MustRun(tb, "false") }); !f.Failed() {
		t.Error("MustRun of false passed")
	}

	a.Sysctl(t, "net.ipv4.ip_forward", "1")
	if out := a.MustRun(t, "cat", "/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(out) != "1" {
		t.Errorf("ip_forward in a = %q, want 1", out)
	}
	if out := b.MustRun(t, "cat", "/proc/sys/net/ipv4/ip_forward"); strings.TrimSpace(out) != "0" {
		t.Errorf("ip_forward in b = %q, want 0 (sysctl leaked)", out)
	}
	a.Sysctl(t, "net/ipv4/conf/"+aIf+"/forwarding", "0")
	if err := a.SetSysctl("net.ipv4.no_such_key", "1"); err == nil {
		t.Error("unknown sysctl accepted")
	}
	if err := a.SetSysctl("../../etc/passwd", "x"); err == nil {
		t.Error("sysctl path escape accepted")
	}
}

func TestProcess(t *testing.T) {
	RequireRoot(t)
	h := NewHost(t, "proc")

	p := h.Start(t, "sh", "-c", "echo one; echo ready; sleep 30")
	if line := p.WaitFor(t, regexp.MustCompile(`^rea`), 5*time.Second); line != "ready" {
		t.Errorf("WaitFor returned %q", line)
	}
	// Lines printed before the call are found too.
	p.WaitFor(t, regexp.MustCompile(`^one$`), time.Second)
	if got := p.Output(); got != "one\nready\n" {
		t.Errorf("Output = %q", got)
	}
	// ip netns exec replaced itself with the command.
	if ns := nsIno(t, fmt.Sprintf("/proc/%d/ns/net", p.Pid())); ns != nsIno(t, h.Path()) {
		t.Error("process not in the namespace")
	}
	if _, err := p.Wait(100 * time.Millisecond); err == nil {
		t.Error("Wait on a running process returned no error")
	}
	start := time.Now()
	f := runFake(t, func(tb testing.TB) { p.WaitFor(tb, regexp.MustCompile(`never`), 300*time.Millisecond) })
	if !f.Failed() || time.Since(start) < 300*time.Millisecond {
		t.Errorf("WaitFor of a missing line: failed=%v after %v", f.Failed(), time.Since(start))
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, err := p.Wait(5 * time.Second); err == nil || code != -1 || !strings.Contains(err.Error(), "terminated") {
		t.Errorf("Wait after SIGTERM = %d, %v", code, err)
	}
	if err := p.Signal(syscall.SIGTERM); err == nil {
		t.Error("Signal to an exited process returned no error")
	}

	q := h.Start(t, "sh", "-c", "printf 'first\\nno newline'; exit 3")
	if code, err := q.Wait(5 * time.Second); code != 3 || err != nil {
		t.Errorf("Wait = %d, %v; want 3, nil", code, err)
	}
	select {
	case <-q.Done():
	default:
		t.Error("Done not closed after Wait")
	}
	q.WaitFor(t, regexp.MustCompile(`^no newline$`), time.Second)
	start = time.Now()
	f = runFake(t, func(tb testing.TB) { q.WaitFor(tb, regexp.MustCompile(`never`), 10*time.Second) })
	if !f.Failed() || time.Since(start) > 2*time.Second {
		t.Errorf("WaitFor on an exited process: failed=%v after %v", f.Failed(), time.Since(start))
	}

	f = runFake(t, func(tb testing.TB) { h.Start(tb, "/nonexistent/binary") })
	// ip starts, then fails to exec the command: either way the process
	// must not look healthy.
	if !f.Failed() {
		r := h.Start(t, "/nonexistent/binary")
		if code, err := r.Wait(5 * time.Second); err != nil || code == 0 {
			t.Errorf("nonexistent binary: %d, %v", code, err)
		}
	}
}

func TestCleanup(t *testing.T) {
	RequireRoot(t)
	var (
		names      []string
		pids       []int
		holds      []vnetns.NsHandle
		heldIf     string
		passedHost *Host
	)
	t.Run("pass", func(t *testing.T) {
		a, b := NewHost(t, "cla"), NewHost(t, "clb")
		aIf, _ := Connect(t, a, b, addrA, addrB)
		names = append(names, a.Name(), b.Name())
		passedHost = a
		p := a.Start(t, "sh", "-c", "sleep 30 & echo child $!; wait")
		line := p.WaitFor(t, regexp.MustCompile(`^child \d+$`), 5*time.Second)
		child, _ := strconv.Atoi(strings.TrimPrefix(line, "child "))
		pids = append(pids, p.Pid(), child)
		// Keep both namespaces alive past their deletion, as leaked
		// sockets would; the veth pair must go anyway. (Holding only
		// one would not do: destroying the other namespace deletes
		// the pair.)
		for _, h := range []*Host{a, b} {
			hold, err := vnetns.GetFromPath(h.Path())
			if err != nil {
				t.Fatal(err)
			}
			holds = append(holds, hold)
		}
		heldIf = aIf
		// A daemon started outside Start must die with the namespace.
		a.MustRun(t, "sh", "-c", "sleep 31 >/dev/null 2>&1 &")
	})
	defer func() {
		for _, h := range holds {
			h.Close()
		}
	}()

	// A failing test, whose process ignores SIGTERM: cleanup must still
	// remove everything, escalate to SIGKILL and log the output.
	start := time.Now()
	f := runFake(t, func(tb testing.TB) {
		h := NewHost(tb, "clf")
		names = append(names, h.Name())
		p := h.Start(tb, "sh", "-c", `trap "" TERM; echo marker-1234; sleep 30`)
		p.WaitFor(tb, regexp.MustCompile(`marker`), 5*time.Second)
		pids = append(pids, p.Pid())
		tb.Fatalf("deliberate failure")
	})
	if d := time.Since(start); d < stopGrace || d > stopGrace+2*time.Second {
		t.Errorf("cleanup of a SIGTERM-proof process took %v, want a little over %v", d, stopGrace)
	}
	if !strings.Contains(f.output(), "marker-1234") {
		t.Errorf("output of the process not logged for a failed test: %q", f.output())
	}
	if errs := f.errors(); len(errs) != 1 {
		t.Errorf("want only the deliberate failure, got errors %q", errs)
	}

	for _, name := range names {
		if _, err := os.Lstat(NamespaceDir + "/" + name); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s still exists (%v)", name, err)
		}
	}
	if out, err := runTool("ip", "netns", "list"); err != nil {
		t.Error(err)
	} else {
		for _, name := range names {
			if strings.Contains(out, name) {
				t.Errorf("ip netns list still shows %s", name)
			}
		}
	}
	WaitFor(t, 5*time.Second, func() bool { return !processRunning("sleep\x0031\x00") }, "sleep 31 to exit")
	for _, pid := range pids {
		WaitFor(t, 5*time.Second, func() bool { return gone(pid) }, fmt.Sprintf("pid %d to exit", pid))
	}
	if err := passedHost.Do(func() error { return nil }); err == nil {
		t.Error("Do in a deleted namespace succeeded")
	}
	if len(holds) > 0 {
		hold := holds[0]
		var links []string
		errc := make(chan error, 1)
		go func() {
			// Never unlocked: the thread stays in the held namespace
			// and is destroyed when this goroutine exits.
			runtime.LockOSThread()
			if err := vnetns.Set(hold); err != nil {
				errc <- err
				return
			}
			ifs, err := net.Interfaces()
			for _, ifi := range ifs {
				links = append(links, ifi.Name)
			}
			errc <- err
		}()
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			if l == heldIf {
				t.Errorf("veth %s survived in a namespace kept alive by a file descriptor (links %v)", heldIf, links)
			}
		}
	}
}

// processRunning reports whether a live process has exactly this command
// line (arguments separated and terminated by NUL).
func processRunning(cmdline string) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && string(b) == cmdline && !gone(pid) {
			return true
		}
	}
	return false
}
