package netns

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// stream returns the first n bytes the sender of a transfer produces, in
// the sender's 64 KiB chunks.
func stream(n int) ([]byte, []byte) {
	gen := rand.NewChaCha8(transferSeed)
	out := make([]byte, 0, n)
	buf := make([]byte, transferChunk)
	for len(out) < n {
		k := min(len(buf), n-len(out))
		gen.Read(buf[:k])
		out = append(out, buf[:k]...)
	}
	sum := sha256.Sum256(out)
	return out, sum[:]
}

// feed writes data to a new verifier in pieces of the given size.
func feed(data []byte, piece int) *verifier {
	v := newVerifier()
	for len(data) > 0 {
		k := min(piece, len(data))
		v.Write(data[:k])
		data = data[k:]
	}
	return v
}

func TestVerifier(t *testing.T) {
	const size = 300_000
	data, sum := stream(size)

	// Reads split the stream differently from writes.
	for _, piece := range []int{1, 7, 1000, transferChunk, size} {
		v := feed(data, piece)
		if v.n != size || v.mismatch != -1 || !bytes.Equal(v.sum.Sum(nil), sum) {
			t.Errorf("intact stream in %d-byte pieces: n=%d mismatch=%d", piece, v.n, v.mismatch)
		}
	}

	bad := bytes.Clone(data)
	bad[123457] ^= 0x10
	v := feed(bad, 4096)
	if v.mismatch != 123457 {
		t.Errorf("flipped bit: mismatch at %d, want 123457", v.mismatch)
	}
	if bytes.Equal(v.sum.Sum(nil), sum) {
		t.Error("flipped bit: hash unchanged")
	}

	v = feed(data[:size-1], 4096)
	if v.n != size-1 || v.mismatch != -1 || bytes.Equal(v.sum.Sum(nil), sum) {
		t.Errorf("short stream: n=%d mismatch=%d", v.n, v.mismatch)
	}
}

func TestTransferCheck(t *testing.T) {
	const size = 100_000
	data, sum := stream(size)
	good := func() recvResult {
		v := feed(data, 1500)
		return recvResult{n: v.n, sum: v.sum.Sum(nil), mismatch: v.mismatch}
	}
	if err := good().check(size, sum); err != nil {
		t.Errorf("intact transfer: %v", err)
	}
	for name, tc := range map[string]struct {
		mutate func(*recvResult)
		want   string
	}{
		"short":    {func(r *recvResult) { r.n-- }, "received 99999 of 100000"},
		"mismatch": {func(r *recvResult) { r.mismatch = 42 }, "offset 42"},
		"hash":     {func(r *recvResult) { r.sum = bytes.Clone(r.sum); r.sum[0] ^= 1 }, "SHA-256"},
		"error":    {func(r *recvResult) { r.err = io.ErrUnexpectedEOF }, "unexpected EOF"},
	} {
		r := good()
		tc.mutate(&r)
		if err := r.check(size, sum); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: check = %v, want error containing %q", name, err, tc.want)
		}
	}
}

func TestSysctlPath(t *testing.T) {
	good := map[string]string{
		"net.ipv4.ip_forward":               "/proc/sys/net/ipv4/ip_forward",
		"net/ipv4/conf/eth0.100/forwarding": "/proc/sys/net/ipv4/conf/eth0.100/forwarding",
	}
	for key, want := range good {
		if got, err := sysctlPath(key); err != nil || got != want {
			t.Errorf("sysctlPath(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	for _, key := range []string{"", ".", "/", "net/../../etc/passwd", "net..ipv4", "a//b"} {
		if got, err := sysctlPath(key); err == nil {
			t.Errorf("sysctlPath(%q) = %q, want error", key, got)
		}
	}
}

func TestLabels(t *testing.T) {
	for in, want := range map[string]string{
		"cli": "cli", "": "ns", "a very long label": "averylon", "x/y.z": "xyz", "ü": "ns",
	} {
		if got := sanitizeLabel(in); got != want {
			t.Errorf("sanitizeLabel(%q) = %q, want %q", in, got, want)
		}
	}
	a := &Host{label: "averylon"}
	b := &Host{label: "bbbbbbbb"}
	seen := map[string]bool{}
	for range 12 {
		n := a.nextLinkName(b)
		if len(n) > 15 || seen[n] {
			t.Errorf("link name %q too long or repeated", n)
		}
		seen[n] = true
	}
}

func TestCheckLiteral(t *testing.T) {
	for _, ok := range [][2]string{{"tcp", "10.0.0.1:80"}, {"udp6", "[fd00::1]:53"}, {"unix", "/tmp/x"}, {"ip4:icmp", "10.0.0.1"}} {
		if err := checkLiteral(ok[0], ok[1]); err != nil {
			t.Errorf("checkLiteral(%q, %q): %v", ok[0], ok[1], err)
		}
	}
	for _, bad := range [][2]string{{"tcp", "localhost:80"}, {"tcp", "10.0.0.1"}, {"ip4", "example.org"}} {
		if err := checkLiteral(bad[0], bad[1]); err == nil {
			t.Errorf("checkLiteral(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

func TestWaitFor(t *testing.T) {
	n := 0
	ok := runFake(t, func(tb testing.TB) {
		WaitFor(tb, time.Second, func() bool { n++; return n >= 3 }, "third call")
	})
	if ok.Failed() || n != 3 {
		t.Errorf("WaitFor: failed=%v after %d calls", ok.Failed(), n)
	}

	start := time.Now()
	bad := runFake(t, func(tb testing.TB) {
		WaitFor(tb, 100*time.Millisecond, func() bool { return false }, "the impossible")
	})
	if !bad.Failed() || !strings.Contains(bad.output(), "the impossible") {
		t.Errorf("WaitFor on a false condition: failed=%v, output %q", bad.Failed(), bad.output())
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 2*time.Second {
		t.Errorf("WaitFor gave up after %v, want about 100ms", d)
	}

	if f := runFake(t, func(tb testing.TB) { WaitFor(tb, time.Second, nil, "nil") }); !f.Failed() {
		t.Error("WaitFor with nil condition passed")
	}
}
