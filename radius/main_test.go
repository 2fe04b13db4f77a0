package radius

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them, but
// the FreeRADIUS harness's launcher thread, which stays on purpose.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/gopptp/gopptp/internal/freeradius.startCommand.func1.1"))
}
