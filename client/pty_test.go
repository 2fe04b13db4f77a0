package client

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gopptp/gopptp/datapath"
	"github.com/gopptp/gopptp/internal/hdlc"
)

// fakeCall records what the relay sends on the call.
type fakeCall struct {
	mu     sync.Mutex
	frames [][]byte
	gone   bool // SendFrame answers ErrNotUp, as a removed call
	got    chan struct{}
}

func newFakeCall() *fakeCall { return &fakeCall{got: make(chan struct{}, 100)} }

func (f *fakeCall) SendFrame(frame []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return datapath.ErrNotUp
	}
	f.frames = append(f.frames, append([]byte(nil), frame...))
	f.got <- struct{}{}
	return nil
}

func (f *fakeCall) wait(t *testing.T, n int) [][]byte {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		f.mu.Lock()
		if len(f.frames) >= n {
			out := f.frames
			f.mu.Unlock()
			return out
		}
		f.mu.Unlock()
		select {
		case <-f.got:
		case <-deadline:
			t.Fatalf("the call got %d frames, want %d", len(f.frames), n)
		}
	}
}

var testFrames = [][]byte{
	{0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x0a, 0x05, 0x06, 0x12, 0x34, 0x56, 0x78}, // LCP Configure-Request
	{0xff, 0x03, 0x00, 0xfd, 0x90, 0x00, 0x7e, 0x7d, 0x00, 0x13, 0x11},                   // MPPE, octets that need escaping
	{0x21, 0x45, 0x00}, // ACFC and PFC
}

// pipes returns pppd's side of a relay: what pppd writes (to the relay's
// In) and what it reads (from the relay's Out).
func pipes(t *testing.T) (inR, inW, outR, outW *os.File) {
	t.Helper()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err = os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, f := range []*os.File{inR, inW, outR, outW} {
			f.Close()
		}
	})
	return inR, inW, outR, outW
}

// TestRelayAsync: pppd's HDLC-framed frames reach the call unframed and
// untouched, even when split across writes or several in one write, and
// a frame with a bad FCS is dropped; the call's frames reach pppd
// HDLC-framed with every control character escaped; pppd closing its end
// is a hang-up (nil), not an error.
func TestRelayAsync(t *testing.T) {
	inR, inW, outR, outW := pipes(t)
	r := newRelay(inR, outW, false, slog.New(slog.DiscardHandler))
	call := newFakeCall()
	gone := r.start(call)
	defer r.stop()

	var stream []byte
	for _, f := range testFrames {
		stream = hdlc.AppendFrame(stream, f, hdlc.DefaultACCM)
	}
	bad := hdlc.AppendFrame(nil, []byte{0xc0, 0x21, 9, 9, 0, 4}, 0)
	bad[3] ^= 0x40 // the FCS no longer checks
	stream = append(stream, bad...)
	stream = hdlc.AppendFrame(stream, testFrames[0], 0) // pppd after LCP: ACCM 0
	// Byte by byte for the first frame, the rest in one write.
	for i := range 5 {
		inW.Write(stream[i : i+1])
		time.Sleep(time.Millisecond)
	}
	inW.Write(stream[5:])
	got := call.wait(t, len(testFrames)+1)
	for i, want := range append(testFrames, testFrames[0]) {
		if !bytes.Equal(got[i], want) {
			t.Errorf("frame %d to the call: % x, want % x", i, got[i], want)
		}
	}
	if s := r.stats(); s.bad != 1 {
		t.Errorf("bad frames from pppd: %d, want 1 (the bad FCS)", s.bad)
	}

	for _, f := range testFrames {
		r.fromTunnel(f)
	}
	dec := hdlc.NewDecoder(outR)
	for i, want := range testFrames {
		f, err := dec.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f, want) {
			t.Errorf("frame %d to pppd: % x, want % x", i, f, want)
		}
	}
	inW.Close()
	select {
	case err := <-gone:
		if err != nil {
			t.Errorf("pppd hung up: %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the relay did not notice pppd hang up")
	}
}

// TestRelayEscapesForPppd: what pppd reads has no raw control character,
// flag or escape inside a frame, whatever ACCM LCP agreed on, as
// pptp-linux writes it.
func TestRelayEscapesForPppd(t *testing.T) {
	inR, _, outR, outW := pipes(t)
	r := newRelay(inR, outW, false, slog.New(slog.DiscardHandler))
	r.start(newFakeCall())
	defer r.stop()
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	r.fromTunnel(all)
	buf := make([]byte, 1024)
	var wire []byte
	for len(wire) < 2 || wire[len(wire)-1] != hdlc.Flag || len(wire) < 260 {
		n, err := outR.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		wire = append(wire, buf[:n]...)
	}
	for i, c := range wire[1 : len(wire)-1] {
		if c < 0x20 || c == hdlc.Flag {
			t.Fatalf("octet %d on the wire is 0x%02x unescaped", i+1, c)
		}
	}
}

// TestRelaySync: with --sync one read is one frame and one write one
// frame, with no framing at all.
func TestRelaySync(t *testing.T) {
	inR, inW, outR, outW := pipes(t)
	r := newRelay(inR, outW, true, slog.New(slog.DiscardHandler))
	call := newFakeCall()
	r.start(call)
	defer r.stop()
	for i, f := range testFrames {
		inW.Write(f)
		if got := call.wait(t, i+1)[i]; !bytes.Equal(got, f) {
			t.Errorf("frame %d to the call: % x, want % x", i, got, f)
		}
	}
	buf := make([]byte, 100)
	for i, f := range testFrames {
		r.fromTunnel(f)
		n, err := outR.Read(buf)
		if err != nil || !bytes.Equal(buf[:n], f) {
			t.Errorf("frame %d to pppd: % x %v, want % x", i, buf[:n], err, f)
		}
	}
}

// TestRelayDropsWhenPppdStalls: a pppd that stops reading costs frames,
// never a blocked GRE receive path, and the relay still stops.
func TestRelayDropsWhenPppdStalls(t *testing.T) {
	inR, _, _, outW := pipes(t)
	r := newRelay(inR, outW, false, slog.New(slog.DiscardHandler))
	r.start(newFakeCall())
	big := bytes.Repeat([]byte{0x11}, 1400) // doubles when escaped: the pipe fills fast
	done := make(chan struct{})
	go func() {
		for range 10 * relayQueue {
			r.fromTunnel(big)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("fromTunnel blocked")
	}
	if r.stats().dropped == 0 {
		t.Error("nothing dropped although pppd reads nothing")
	}
	// The writer is blocked in a write to the full pipe: stop must not
	// wait for it, only for the reader (interrupted by its deadline).
	stopped := make(chan struct{})
	go func() {
		outW.SetWriteDeadline(time.Now()) // what ending the process does to it
		r.stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("stop hung")
	}
}

// TestRelayCallGone: once the call is gone the reader ends as if pppd had
// hung up, instead of reading pppd's stream into nothing.
func TestRelayCallGone(t *testing.T) {
	inR, inW, _, outW := pipes(t)
	r := newRelay(inR, outW, false, slog.New(slog.DiscardHandler))
	call := newFakeCall()
	call.gone = true
	gone := r.start(call)
	defer r.stop()
	inW.Write(hdlc.AppendFrame(nil, testFrames[0], hdlc.DefaultACCM))
	select {
	case err := <-gone:
		if err != nil {
			t.Errorf("got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the relay kept reading for a call that is gone")
	}
}

// TestHungUp: how the end of pppd's side is classified.
func TestHungUp(t *testing.T) {
	for _, err := range []error{io.EOF, io.ErrUnexpectedEOF, os.ErrDeadlineExceeded, &os.PathError{Op: "read", Err: errEIO()}} {
		if hungUp(err) != nil {
			t.Errorf("%v is not a hang-up", err)
		}
	}
	if hungUp(io.ErrNoProgress) == nil {
		t.Error("a reader making no progress is a hang-up")
	}
}

func errEIO() error { return syscall.EIO }
