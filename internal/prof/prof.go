// Package prof exposes profiles of a running program when the environment
// asks for them, for measuring without rebuilding: GOPPTP_CPUPROFILE=FILE
// writes a CPU profile of the whole run, GOPPTP_PPROF=ADDR serves
// net/http/pprof (heap, goroutine, allocs, CPU, ...) on ADDR while the
// program runs. Both are off unless set; the pprof listener is meant for a
// loopback address, as it has no authentication.
package prof

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	runpprof "runtime/pprof"
	"time"
)

// Start begins what the environment asks for (GOPPTP_CPUPROFILE,
// GOPPTP_PPROF) and returns the function that stops it all; with neither
// set it returns a no-op.
func Start() func() {
	stopCPU := startCPU(os.Getenv("GOPPTP_CPUPROFILE"))
	stopHTTP := startHTTP(os.Getenv("GOPPTP_PPROF"))
	return func() {
		stopHTTP()
		stopCPU()
	}
}

func startCPU(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "GOPPTP_CPUPROFILE: %v\n", err)
		return func() {}
	}
	if err := runpprof.StartCPUProfile(f); err != nil {
		fmt.Fprintf(os.Stderr, "GOPPTP_CPUPROFILE: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() {
		runpprof.StopCPUProfile()
		f.Close()
	}
}

// Handler returns the net/http/pprof endpoints under /debug/pprof/ on a
// mux of their own: importing net/http/pprof also registers them on
// http.DefaultServeMux, which nothing here serves, so they appear only
// where this handler is mounted.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func startHTTP(addr string) func() {
	if addr == "" {
		return func() {}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "GOPPTP_PPROF: %v\n", err)
		return func() {}
	}
	srv := &http.Server{Handler: Handler(), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "GOPPTP_PPROF: %v\n", err)
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}
}
