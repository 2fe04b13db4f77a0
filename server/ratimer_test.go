package server

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestRATimerStopDuringCallback: a stop that lands while the callback is
// advertising (after its check, before its re-arm) ends the timer; the
// callback must not re-arm it, and a restarted timer is the only one
// running.
func TestRATimerStopDuringCallback(t *testing.T) {
	var r raTimer
	var calls atomic.Int32
	inside, resume := make(chan struct{}), make(chan struct{})
	r.start(time.Millisecond, func() {
		if calls.Add(1) == 1 {
			close(inside)
			<-resume
		}
	})
	<-inside
	r.stop()
	close(resume)
	time.Sleep(50 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("stopped timer fired %d times, want 1", n)
	}

	// Up again: one timer, at its own pace.
	var again atomic.Int32
	r.start(20*time.Millisecond, func() { again.Add(1) })
	time.Sleep(110 * time.Millisecond)
	r.stop()
	if n := calls.Load(); n != 1 {
		t.Errorf("the first timer came back: %d calls", n)
	}
	if n := again.Load(); n < 2 || n > 6 {
		t.Errorf("restarted timer fired %d times in 110ms at 20ms", n)
	}
	n := again.Load()
	time.Sleep(50 * time.Millisecond)
	if again.Load() != n {
		t.Error("timer fired after stop")
	}
}
