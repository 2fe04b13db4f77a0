package netns

import (
	"testing"
	"time"
)

// pollInterval is how often WaitFor checks its condition.
const pollInterval = 20 * time.Millisecond

// WaitFor calls cond every 20 ms until it returns true and fails the test,
// naming what it waited for, if that has not happened within timeout. cond
// is always called at least once.
func WaitFor(tb testing.TB, timeout time.Duration, cond func() bool, desc string) {
	tb.Helper()
	if cond == nil {
		tb.Fatalf("netns: WaitFor %s with nil condition", desc)
		return
	}
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		left := time.Until(deadline)
		if left <= 0 {
			tb.Fatalf("netns: timed out after %v waiting for %s", timeout, desc)
			return
		}
		time.Sleep(min(pollInterval, left))
	}
}
