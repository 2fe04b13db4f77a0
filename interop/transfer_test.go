package interop

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// transferSize is what goes each way through every tunnel.
	transferSize = 5 << 20
	// transferTimeout bounds one transfer; TCG guests move 1-3 MiB/s.
	transferTimeout = 120 * time.Second
	// guestPort is where the guest's busybox nc listens; each case boots
	// a fresh guest, so a fixed port cannot clash.
	guestPort = 5001
)

// transfer is the outcome of one verified transfer.
type transfer struct {
	bytes int64
	dur   time.Duration
}

// MiBps returns the throughput in MiB/s.
func (x transfer) MiBps() float64 {
	if x.dur <= 0 {
		return 0
	}
	return float64(x.bytes) / (1 << 20) / x.dur.Seconds()
}

func (x transfer) String() string {
	return fmt.Sprintf("%d bytes in %v (%.2f MiB/s)", x.bytes, x.dur.Round(time.Millisecond), x.MiBps())
}

// payload returns n pseudo-random bytes; the seed differs per test so that
// one case's data can never pass for another's.
func payload(name string, n int) []byte {
	seed := sha256.Sum256([]byte("gopptp interop " + name))
	r := rand.NewChaCha8(seed)
	b := make([]byte, n)
	r.Read(b)
	return b
}

var guestSumRE = regexp.MustCompile(`(?m)^rc=(\d+) size=(\d+) sum=([0-9a-f]{64})`)

// sendToGuest sends transferSize bytes from the test namespace to the
// guest's tunnel address, where busybox nc writes them to a file, and
// checks the guest's SHA-256 of that file against ours.
//
// nc's stdin is a FIFO nobody writes to: with /dev/null it would half-close
// the connection at once, while this way it closes only when it has read
// our EOF and written everything, so our read of its EOF marks the end of
// the transfer.
func (n *testNet) sendToGuest(g *guest, to netip.Addr) transfer {
	t := n.t
	t.Helper()
	data := payload(t.Name()+" to guest", transferSize)
	want := sha256.Sum256(data)
	// Only the subshell goes to the background, with every descriptor
	// redirected: peer exec returns when all holders of the command's
	// output are gone.
	g.mustExec(20*time.Second, fmt.Sprintf(`rm -f /tmp/rx.bin /tmp/rx.done /tmp/hold; mkfifo /tmp/hold || exit 1
		( busybox nc -l -p %d <>/tmp/hold >/tmp/rx.bin 2>/tmp/rx.err; echo $? >/tmp/rx.done ) </dev/null >/dev/null 2>&1 &`, guestPort))
	addr := netip.AddrPortFrom(to, guestPort).String()
	start := time.Now()
	var conn net.Conn
	for {
		// nc may need a moment before it listens: retry refused dials.
		err := n.host.Do(func() error {
			var err error
			conn, err = net.DialTimeout("tcp", addr, 5*time.Second)
			return err
		})
		if err == nil {
			break
		}
		if time.Since(start) > 15*time.Second {
			t.Fatalf("dial guest %s: %v", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	defer conn.Close()
	conn.SetDeadline(start.Add(transferTimeout))
	if _, err := conn.Write(data); err != nil {
		t.Fatalf("sending to guest %s: %v", addr, err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatalf("closing our side to guest %s: %v", addr, err)
	}
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatalf("waiting for the guest's nc to finish: %v", err)
	}
	x := transfer{bytes: transferSize, dur: time.Since(start)}
	out := g.mustExec(30*time.Second, `for i in $(seq 100); do [ -f /tmp/rx.done ] && break; sleep 0.1; done
		echo "rc=$(cat /tmp/rx.done) size=$(stat -c %s /tmp/rx.bin) sum=$(sha256sum </tmp/rx.bin | cut -d' ' -f1)"; cat /tmp/rx.err`)
	checkGuestSum(t, "guest received", out, transferSize, hex.EncodeToString(want[:]))
	t.Logf("to guest %v: %v, SHA-256 matches", to, x)
	return x
}

// receiveFromGuest has the guest send transferSize random bytes with
// busybox nc to a listener on our tunnel address and checks that what
// arrives has the SHA-256 and size the guest computed before sending.
func (n *testNet) receiveFromGuest(g *guest, at netip.Addr) transfer {
	t := n.t
	t.Helper()
	out := g.mustExec(30*time.Second, fmt.Sprintf(`head -c %d /dev/urandom >/tmp/tx.bin &&
		echo "rc=0 size=$(stat -c %%s /tmp/tx.bin) sum=$(sha256sum </tmp/tx.bin | cut -d' ' -f1)"`, transferSize))
	m := guestSumRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("guest did not report its data's checksum:\n%s", out)
	}
	wantSum := m[3]
	ln := n.host.Listen(t, "tcp", netip.AddrPortFrom(at, 0).String())
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(transferTimeout))
	port := ln.Addr().(*net.TCPAddr).Port
	type result struct {
		x   transfer
		sum string
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		start := time.Now()
		c.SetDeadline(start.Add(transferTimeout))
		h := sha256.New()
		nb, err := io.Copy(h, c)
		done <- result{x: transfer{bytes: nb, dur: time.Since(start)}, sum: hex.EncodeToString(h.Sum(nil)), err: err}
	}()
	out, rc := g.exec(transferTimeout, fmt.Sprintf("busybox nc %s %d </tmp/tx.bin", at, port))
	if rc != 0 {
		t.Fatalf("guest's nc to %s:%d exited %d:\n%s", at, port, rc, out)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("receiving from guest: %v", r.err)
	}
	if r.x.bytes != transferSize || r.sum != wantSum {
		t.Fatalf("from guest: got %d bytes with SHA-256 %s, guest sent %d bytes with %s", r.x.bytes, r.sum, transferSize, wantSum)
	}
	t.Logf("from guest to %v: %v, SHA-256 matches", at, r.x)
	return r.x
}

// checkGuestSum checks a "rc=.. size=.. sum=.." line the guest printed.
func checkGuestSum(t *testing.T, what, out string, size int, sum string) {
	t.Helper()
	m := guestSumRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("%s: no checksum line:\n%s", what, out)
	}
	if m[1] != "0" {
		t.Errorf("%s: nc exited %s:\n%s", what, m[1], out)
	}
	if got, _ := strconv.Atoi(m[2]); got != size || m[3] != sum {
		t.Fatalf("%s %s bytes with SHA-256 %s, we sent %d bytes with %s", what, m[2], m[3], size, sum)
	}
}

// pingFromGuest pings addr from the guest through the tunnel.
func pingFromGuest(t *testing.T, g *guest, addr netip.Addr) {
	t.Helper()
	out, rc := g.exec(30*time.Second, fmt.Sprintf("ping -n -c 3 -i 0.3 -W 3 %s", addr))
	if rc != 0 || !strings.Contains(out, " 0% packet loss") {
		t.Fatalf("guest ping %v: exit %d:\n%s", addr, rc, out)
	}
	t.Logf("guest ping %v: %s", addr, firstLine(out, regexp.MustCompile(`packets transmitted`)))
}
