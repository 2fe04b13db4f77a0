package netns

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeTB records failures instead of failing the real test, so that tests
// can check that the package's assertions fail when they should. Its
// Fatal family ends the calling goroutine like testing.T does; runFake
// runs the body on a goroutine of its own for that reason.
type fakeTB struct {
	// Embedded nil interface: any method not implemented below panics,
	// which reveals unexpected use instead of hiding it.
	testing.TB

	mu       sync.Mutex
	failed   bool
	skipped  bool
	logs     []string
	errs     []string // messages of Error, Errorf, Fatal, Fatalf
	cleanups []func()
}

func (f *fakeTB) Helper()      {}
func (f *fakeTB) Name() string { return "fake" }

func (f *fakeTB) Logf(format string, args ...any) { f.log(fmt.Sprintf(format, args...)) }
func (f *fakeTB) Log(args ...any)                 { f.log(fmt.Sprintln(args...)) }

func (f *fakeTB) log(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, s)
}

func (f *fakeTB) Fail() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = true
}

func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func (f *fakeTB) Errorf(format string, args ...any) { f.error(fmt.Sprintf(format, args...)) }
func (f *fakeTB) Error(args ...any)                 { f.error(fmt.Sprintln(args...)) }

func (f *fakeTB) error(s string) {
	f.log(s)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = true
	f.errs = append(f.errs, s)
}

// errors returns the messages of all reported errors.
func (f *fakeTB) errors() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.errs...)
}
func (f *fakeTB) FailNow()                          { f.Fail(); runtime.Goexit() }
func (f *fakeTB) Fatalf(format string, args ...any) { f.Errorf(format, args...); runtime.Goexit() }
func (f *fakeTB) Fatal(args ...any)                 { f.Error(args...); runtime.Goexit() }

func (f *fakeTB) SkipNow() {
	f.mu.Lock()
	f.skipped = true
	f.mu.Unlock()
	runtime.Goexit()
}
func (f *fakeTB) Skip(args ...any)                 { f.Log(args...); f.SkipNow() }
func (f *fakeTB) Skipf(format string, args ...any) { f.Logf(format, args...); f.SkipNow() }

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

// output returns everything logged.
func (f *fakeTB) output() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.logs, "\n")
}

func (f *fakeTB) runCleanups() {
	for {
		f.mu.Lock()
		n := len(f.cleanups)
		if n == 0 {
			f.mu.Unlock()
			return
		}
		fn := f.cleanups[n-1]
		f.cleanups = f.cleanups[:n-1]
		f.mu.Unlock()
		fn()
	}
}

// runFake runs body with a fakeTB on its own goroutine, then its cleanups
// in reverse order as testing does (also after a Fatal), and returns the
// fake for inspection.
func runFake(t *testing.T, body func(tb testing.TB)) *fakeTB {
	t.Helper()
	f := &fakeTB{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer f.runCleanups()
		body(f)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("fake test did not finish")
	}
	return f
}

// TestFakeTB makes sure the fake itself can report both outcomes, so that
// tests built on it can fail.
func TestFakeTB(t *testing.T) {
	ok := runFake(t, func(tb testing.TB) {})
	if ok.Failed() {
		t.Error("empty body failed")
	}
	reached := false
	bad := runFake(t, func(tb testing.TB) {
		tb.Fatalf("boom")
		reached = true
	})
	if !bad.Failed() || reached {
		t.Errorf("Fatalf: failed=%v, continued=%v", bad.Failed(), reached)
	}
}
