package netns

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// stopGrace is how long cleanup waits after SIGTERM before SIGKILL.
	stopGrace = 3 * time.Second
	// outputGrace is how long WaitFor keeps reading output after the
	// process exited, since the pipe may still hold its last lines.
	outputGrace = 500 * time.Millisecond
)

// Process is a command started in a namespace by Host.Start. Its methods
// are safe for concurrent use.
type Process struct {
	desc string // command line, for messages
	cmd  *exec.Cmd
	outR *os.File // read end of the output pipe
	out  *outputBuffer

	done       chan struct{} // closed once the process has been reaped
	waitErr    error         // from cmd.Wait; valid after done
	readerDone chan struct{} // closed once all output has been read
}

// Start starts name with args inside the namespace in the background, in
// its own process group, with stdout and stderr captured together. At
// cleanup the process group is sent SIGTERM, then SIGKILL if the process
// is still running 3 seconds later; if the test failed, the output is
// logged. Children left behind by a process that already exited on its
// own are killed with the namespace. The test fails if the process cannot
// be started.
func (h *Host) Start(tb testing.TB, name string, args ...string) *Process {
	tb.Helper()
	p, err := h.start(name, args)
	if err != nil {
		tb.Fatalf("netns: %s: %v", h.name, err)
		return nil
	}
	tb.Cleanup(func() { p.stop(tb) })
	return p
}

func (h *Host) start(name string, args []string) (*Process, error) {
	desc := strings.Join(append([]string{name}, args...), " ")
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", desc, err)
	}
	cmd := h.Command(name, args...)
	// An *os.File is handed to the child directly, so Wait does not wait
	// for a copying goroutine, which grandchildren holding the pipe open
	// would block.
	cmd.Stdout = w
	cmd.Stderr = w
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// A process group of its own lets cleanup signal children too.
		Setpgid: true,
		// Kills the daemon if the test binary dies without running
		// cleanups, e.g. on a go test timeout. See spawn for why this
		// needs a dedicated thread.
		Pdeathsig: syscall.SIGKILL,
	}
	spawn(func() { err = cmd.Start() })
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("start %s: %w", desc, err)
	}
	p := &Process{
		desc:       desc,
		cmd:        cmd,
		outR:       r,
		out:        newOutputBuffer(),
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	go p.readOutput()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

var (
	spawnOnce sync.Once
	spawnc    chan func()
)

// spawn runs fn, which starts processes, on a thread that never exits.
// The kernel sends the parent-death signal when the thread that forked the
// child exits, not the process; Go threads normally live forever, but
// one whose goroutine exits while locked (as Do does after a failed
// switch back, and RequireRoot's probe) is destroyed and would take the
// daemons it forked with it.
func spawn(fn func()) {
	spawnOnce.Do(func() {
		spawnc = make(chan func())
		go func() {
			runtime.LockOSThread()
			for f := range spawnc {
				f()
			}
		}()
	})
	done := make(chan struct{})
	spawnc <- func() {
		defer close(done)
		fn()
	}
	<-done
}

func (p *Process) readOutput() {
	defer close(p.readerDone)
	buf := make([]byte, 32<<10)
	for {
		n, err := p.outR.Read(buf)
		if n > 0 {
			p.out.Write(buf[:n])
		}
		if err != nil {
			p.out.closeWrite()
			p.outR.Close()
			return
		}
	}
}

// stop terminates the process at cleanup and logs its output if the test
// failed.
func (p *Process) stop(tb testing.TB) {
	pid := p.cmd.Process.Pid
	select {
	case <-p.done:
		// Exited on its own. Its group is left alone: the process
		// group ID may have been reused meanwhile. Stragglers die with
		// the namespace.
	default:
		// While the leader is not reaped its PID, and so the group ID,
		// cannot be reused, so signalling the group is safe.
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		t := time.NewTimer(stopGrace)
		select {
		case <-p.done:
		case <-t.C:
		}
		t.Stop()
		// Also reaches children that ignored SIGTERM or outlived the
		// leader by a moment; ESRCH if the group is gone.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(killWait):
			tb.Errorf("netns: %s (pid %d) survived SIGKILL", p.desc, pid)
		}
	}
	select {
	case <-p.readerDone:
	case <-time.After(time.Second):
		// Something outside the group still holds the pipe; stop
		// reading so the reader goroutine does not leak.
		p.outR.Close()
		<-p.readerDone
	}
	if tb.Failed() {
		tb.Logf("netns: output of %s (pid %d, %s):\n%s", p.desc, pid, p.status(), p.Output())
	}
}

// status describes how the process ended, for messages.
func (p *Process) status() string {
	select {
	case <-p.done:
	default:
		return "running"
	}
	if st := p.cmd.ProcessState; st != nil {
		return st.String()
	}
	return fmt.Sprint(p.waitErr)
}

// Pid returns the process ID. "ip netns exec" replaces itself with the
// command, so this is the command's own PID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done returns a channel that is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Output returns everything the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.out.String() }

// Signal sends sig to the process (not to its group).
func (p *Process) Signal(sig os.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("signal %v to %s: %w", sig, p.desc, err)
	}
	return nil
}

// Wait waits up to timeout for the process to exit and returns its exit
// code. The error is non-nil if the process is still running after
// timeout (the code is then -1) or was killed by a signal (the code is
// then -1 and the error names the signal).
func (p *Process) Wait(timeout time.Duration) (int, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		// select picks at random among ready cases; an exit that
		// raced the timer still counts.
		select {
		case <-p.done:
		default:
			return -1, fmt.Errorf("%s still running after %v", p.desc, timeout)
		}
	}
	st := p.cmd.ProcessState
	if st == nil {
		return -1, fmt.Errorf("waiting for %s: %w", p.desc, p.waitErr)
	}
	if !st.Exited() {
		return -1, fmt.Errorf("%s: %v", p.desc, st)
	}
	return st.ExitCode(), nil
}

// WaitFor waits up to timeout for a line of output matching re and
// returns that line without its line ending. It searches all output since
// the start, so lines written before the call count too. The test fails
// on timeout, or as soon as the process has exited without printing such a
// line.
func (p *Process) WaitFor(tb testing.TB, re *regexp.Regexp, timeout time.Duration) string {
	tb.Helper()
	line, err := p.waitFor(re, timeout)
	if err != nil {
		tb.Fatalf("netns: %s: %v; output:\n%s", p.desc, err, p.Output())
		return ""
	}
	return line
}

// WaitForNth is WaitFor for the n-th matching line (counting from 1): a
// test that starts a second session waits for the second "session up".
func (p *Process) WaitForNth(tb testing.TB, re *regexp.Regexp, n int, timeout time.Duration) string {
	tb.Helper()
	line, err := p.waitForNth(re, n, timeout)
	if err != nil {
		tb.Fatalf("netns: %s: %v; output:\n%s", p.desc, err, p.Output())
		return ""
	}
	return line
}

// Count returns how many lines of the output so far match re.
func (p *Process) Count(re *regexp.Regexp) int {
	return len(re.FindAllStringIndex(p.out.String(), -1))
}

func (p *Process) waitFor(re *regexp.Regexp, timeout time.Duration) (string, error) {
	return p.waitForNth(re, 1, timeout)
}

func (p *Process) waitForNth(re *regexp.Regexp, n int, timeout time.Duration) (string, error) {
	if re == nil {
		return "", errors.New("nil regexp")
	}
	seen := 0
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var (
		off     int    // bytes of output consumed so far
		pending []byte // consumed bytes not yet ending in a newline
		exited  = p.done
		grace   <-chan time.Time
		final   bool // no more output is expected
	)
	for {
		data, changed, eof := p.out.since(off)
		off += len(data)
		pending = append(pending, data...)
		for {
			i := bytes.IndexByte(pending, '\n')
			if i < 0 {
				break
			}
			line := strings.TrimSuffix(string(pending[:i]), "\r")
			pending = pending[i+1:]
			if re.MatchString(line) {
				if seen++; seen == n {
					return line, nil
				}
			}
		}
		if eof || final {
			// A last line without newline is complete once no more
			// output can follow.
			if line := strings.TrimSuffix(string(pending), "\r"); line != "" && re.MatchString(line) && seen+1 == n {
				return line, nil
			}
			if eof {
				return "", fmt.Errorf("output ended (%s) without a line matching %q", p.status(), re)
			}
			return "", fmt.Errorf("process exited (%s) without printing a line matching %q", p.status(), re)
		}
		select {
		case <-changed:
		case <-timer.C:
			return "", fmt.Errorf("no line matching %q within %v", re, timeout)
		case <-exited:
			exited = nil
			grace = time.After(outputGrace)
		case <-grace:
			final = true
		}
	}
}

// outputBuffer collects output and wakes waiters on every write.
type outputBuffer struct {
	mu      sync.Mutex
	data    []byte
	eof     bool
	changed chan struct{} // closed and replaced on every change
}

func newOutputBuffer() *outputBuffer {
	return &outputBuffer{changed: make(chan struct{})}
}

// Write appends p. It never fails.
func (b *outputBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data = append(b.data, p...)
	b.notify()
	return len(p), nil
}

// closeWrite records that no more output will come.
func (b *outputBuffer) closeWrite() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.eof = true
	b.notify()
}

func (b *outputBuffer) notify() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// since returns a copy of the output from offset off on, a channel closed
// on the next change and whether the output is complete.
func (b *outputBuffer) since(off int) ([]byte, <-chan struct{}, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	off = min(max(off, 0), len(b.data))
	return bytes.Clone(b.data[off:]), b.changed, b.eof
}

// String returns all output so far.
func (b *outputBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.data)
}
