package proxy

import (
	"context"
	"net"
	"os"
	"testing"
	"time"
)

func TestListenAndServe(t *testing.T) {
	checkGoroutines(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := (&SOCKS5{Network: newTestNet()}).ListenAndServe(ctx, "256.0.0.1:1"); err == nil {
		t.Error("SOCKS5 listening on a bad address")
	}
	if err := (&HTTPProxy{Network: newTestNet()}).ListenAndServe(ctx, "256.0.0.1:1"); err == nil {
		t.Error("HTTP proxy listening on a bad address")
	}
	if err := (&SOCKS5{}).ListenAndServe(ctx, "127.0.0.1:0"); err == nil {
		t.Error("SOCKS5 without a Network")
	}
	errc := make(chan error, 2)
	go func() { errc <- (&SOCKS5{Network: newTestNet()}).ListenAndServe(ctx, "127.0.0.1:0") }()
	go func() { errc <- (&HTTPProxy{Network: newTestNet()}).ListenAndServe(ctx, "127.0.0.1:0") }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	for range 2 {
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("after cancel: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("ListenAndServe did not return after cancel")
		}
	}
}

// TestServeListenerFailure checks that Serve reports a listener that fails
// under it, and still ends everything it started.
func TestServeListenerFailure(t *testing.T) {
	checkGoroutines(t)
	servers := map[string]func(context.Context, net.Listener) error{
		"socks5":     (&SOCKS5{Network: newTestNet()}).Serve,
		"http proxy": (&HTTPProxy{Network: newTestNet()}).Serve,
	}
	for name, serve := range servers {
		t.Run(name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			errc := make(chan error, 1)
			go func() { errc <- serve(context.Background(), ln) }()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			time.Sleep(20 * time.Millisecond)
			ln.Close()
			select {
			case err := <-errc:
				if err == nil {
					t.Fatal("Serve returned nil after its listener failed")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return after its listener failed")
			}
			// The connection it had accepted is closed too.
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err == nil || os.IsTimeout(err) {
				t.Fatalf("accepted connection left open: %v", err)
			}
		})
	}
}
