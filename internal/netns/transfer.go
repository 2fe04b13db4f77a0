package netns

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

const (
	// DefaultTransferTimeout bounds a TransferTCP from dial to the last
	// byte received.
	DefaultTransferTimeout = 60 * time.Second
	// transferChunk is the size of each write and read.
	transferChunk = 64 << 10
)

// transferSeed fixes the transferred byte stream, so that a failure can be
// reproduced and the receiver can regenerate what it should get.
var transferSeed = sha256.Sum256([]byte("gopptp internal/netns transfer"))

// TransferStats describes a completed transfer.
type TransferStats struct {
	Bytes    int64         // bytes sent and verified
	Duration time.Duration // from the start of the dial to the last byte verified
}

// Throughput returns the rate in bytes per second.
func (s TransferStats) Throughput() float64 {
	if s.Duration <= 0 {
		return 0
	}
	return float64(s.Bytes) / s.Duration.Seconds()
}

// String formats the stats as "N bytes in D (X MiB/s)".
func (s TransferStats) String() string {
	return fmt.Sprintf("%d bytes in %v (%.1f MiB/s)", s.Bytes, s.Duration.Round(time.Millisecond), s.Throughput()/(1<<20))
}

// TransferTCP listens on dstAddr (any free port) in dst, connects from src
// and sends size bytes of deterministic pseudo-random data from src to dst,
// failing the test unless every byte arrives intact within
// DefaultTransferTimeout. It logs and returns the throughput.
func TransferTCP(tb testing.TB, src, dst *Host, dstAddr netip.Addr, size int64) TransferStats {
	tb.Helper()
	if src == nil || dst == nil {
		tb.Fatalf("netns: TCP transfer with nil host")
		return TransferStats{}
	}
	st, err := src.SendTCP(dst, dstAddr, size, DefaultTransferTimeout)
	if err != nil {
		tb.Fatalf("netns: TCP transfer %v -> %v (%v): %v", src, dst, dstAddr, err)
		return TransferStats{}
	}
	tb.Logf("netns: TCP %v -> %v (%v): %v", src, dst, dstAddr, st)
	return st
}

// SendTCP is TransferTCP with src being h, a timeout of choice and the
// failure returned as an error.
//
// The data is checked twice: the receiver compares every byte with the
// regenerated stream (reporting the first bad offset), and SHA-256 sums
// computed while sending and while receiving are compared, along with
// the byte count.
func (h *Host) SendTCP(dst *Host, dstAddr netip.Addr, size int64, timeout time.Duration) (TransferStats, error) {
	switch {
	case dst == nil:
		return TransferStats{}, errors.New("nil destination host")
	case !dstAddr.IsValid():
		return TransferStats{}, errors.New("invalid destination address")
	case size < 0:
		return TransferStats{}, fmt.Errorf("negative size %d", size)
	case timeout <= 0:
		return TransferStats{}, fmt.Errorf("non-positive timeout %v", timeout)
	}
	deadline := time.Now().Add(timeout)

	var ln *net.TCPListener
	err := dst.Do(func() error {
		l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(dstAddr, 0)))
		ln = l
		return err
	})
	if err != nil {
		return TransferStats{}, fmt.Errorf("listen in %v: %w", dst, err)
	}
	defer ln.Close()
	if err := ln.SetDeadline(deadline); err != nil {
		return TransferStats{}, fmt.Errorf("listener deadline: %w", err)
	}
	raddr := ln.Addr().(*net.TCPAddr).AddrPort()

	var ab aborter
	recvc := make(chan recvResult, 1)
	go receive(ln, deadline, &ab, recvc)
	// fail stops the receiver and reports err together with whatever the
	// receiver saw, never leaving the goroutine behind.
	fail := func(err error) (TransferStats, error) {
		ab.abort()
		r := <-recvc
		if r.err != nil {
			err = errors.Join(err, fmt.Errorf("receiver: %w", r.err))
		}
		return TransferStats{}, err
	}

	start := time.Now()
	var c net.Conn
	err = h.Do(func() error {
		var err error
		c, err = (&net.Dialer{Deadline: deadline}).Dial("tcp", raddr.String())
		return err
	})
	if err != nil {
		return fail(fmt.Errorf("dial %v from %v: %w", raddr, h, err))
	}
	defer c.Close()
	ab.add(c)
	if err := c.SetDeadline(deadline); err != nil {
		return fail(fmt.Errorf("connection deadline: %w", err))
	}

	gen := rand.NewChaCha8(transferSeed)
	sum := sha256.New()
	buf := make([]byte, transferChunk)
	var sent int64
	for sent < size {
		n := int(min(int64(len(buf)), size-sent))
		gen.Read(buf[:n])
		sum.Write(buf[:n])
		if _, err := c.Write(buf[:n]); err != nil {
			return fail(fmt.Errorf("write after %d of %d bytes: %w", sent, size, err))
		}
		sent += int64(n)
	}
	// A half close tells the receiver that the stream is complete.
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return fail(fmt.Errorf("unexpected connection type %T", c))
	}
	if err := tc.CloseWrite(); err != nil {
		return fail(fmt.Errorf("closing write side: %w", err))
	}
	r := <-recvc
	elapsed := time.Since(start)
	return TransferStats{Bytes: r.n, Duration: elapsed}, r.check(size, sum.Sum(nil))
}

// recvResult is what the receiving goroutine reports.
type recvResult struct {
	n        int64
	sum      []byte
	mismatch int64 // first offset that differs, or -1
	err      error
}

// check compares what the receiver saw with the size and SHA-256 sum of
// what was sent.
func (r recvResult) check(size int64, sentSum []byte) error {
	var errs []error
	if r.err != nil {
		errs = append(errs, fmt.Errorf("receiver: %w", r.err))
	}
	if r.n != size {
		errs = append(errs, fmt.Errorf("received %d of %d bytes", r.n, size))
	}
	if r.mismatch >= 0 {
		errs = append(errs, fmt.Errorf("data differs from what was sent, first at offset %d", r.mismatch))
	}
	if !bytes.Equal(r.sum, sentSum) {
		errs = append(errs, fmt.Errorf("SHA-256 of received data %x, of sent data %x", r.sum, sentSum))
	}
	return errors.Join(errs...)
}

// receive accepts one connection and reads it to EOF through a verifier.
func receive(ln *net.TCPListener, deadline time.Time, ab *aborter, out chan<- recvResult) {
	v := newVerifier()
	res := func(err error) recvResult {
		return recvResult{n: v.n, sum: v.sum.Sum(nil), mismatch: v.mismatch, err: err}
	}
	ab.add(ln)
	c, err := ln.Accept()
	if err != nil {
		out <- res(fmt.Errorf("accept: %w", err))
		return
	}
	defer c.Close()
	ab.add(c)
	if err := c.SetDeadline(deadline); err != nil {
		out <- res(fmt.Errorf("connection deadline: %w", err))
		return
	}
	buf := make([]byte, transferChunk)
	for {
		n, err := c.Read(buf)
		v.Write(buf[:n])
		if err == io.EOF {
			out <- res(nil)
			return
		}
		if err != nil {
			out <- res(fmt.Errorf("read after %d bytes: %w", v.n, err))
			return
		}
	}
}

// verifier hashes a received stream and compares it with the regenerated
// expected stream. It works for any split of the stream into writes.
type verifier struct {
	gen      *rand.ChaCha8
	sum      hash.Hash
	n        int64
	mismatch int64
	want     []byte
}

func newVerifier() *verifier {
	return &verifier{gen: rand.NewChaCha8(transferSeed), sum: sha256.New(), mismatch: -1}
}

// Write consumes the next part of the stream. It never fails, so that the
// byte count and hash cover everything received.
func (v *verifier) Write(p []byte) (int, error) {
	v.sum.Write(p)
	if v.mismatch < 0 {
		if cap(v.want) < len(p) {
			v.want = make([]byte, len(p))
		}
		want := v.want[:len(p)]
		v.gen.Read(want)
		if !bytes.Equal(p, want) {
			for i := range p {
				if p[i] != want[i] {
					v.mismatch = v.n + int64(i)
					break
				}
			}
		}
	}
	v.n += int64(len(p))
	return len(p), nil
}

// aborter closes registered listeners and connections on abort, also
// those registered afterwards, to unblock the receiver.
type aborter struct {
	mu      sync.Mutex
	aborted bool
	cs      []io.Closer
}

func (a *aborter) add(c io.Closer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.aborted {
		c.Close()
		return
	}
	a.cs = append(a.cs, c)
}

func (a *aborter) abort() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.aborted = true
	for _, c := range a.cs {
		c.Close()
	}
	a.cs = nil
}
