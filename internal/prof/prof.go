// Package prof writes a CPU profile of the whole run when the environment
// asks for one (GOPPTP_CPUPROFILE=FILE), for measuring the data path
// without rebuilding.
package prof

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// Start begins profiling if GOPPTP_CPUPROFILE names a file and returns the
// function that stops it; otherwise it returns a no-op.
func Start() func() {
	path := os.Getenv("GOPPTP_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "GOPPTP_CPUPROFILE: %v\n", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "GOPPTP_CPUPROFILE: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
