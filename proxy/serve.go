package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// Defaults for the servers' zero fields.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultDialTimeout      = 30 * time.Second
	DefaultMaxConns         = 1024
)

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// serveConns accepts connections until ctx ends or ln fails and runs
// handle for each, at most maxConns at a time (further clients wait in the
// listen backlog, bounding memory). handle's context ends when serveConns
// is about to return; serveConns returns only after every handle has, and
// closes ln and the connections.
func serveConns(ctx context.Context, ln net.Listener, maxConns int, log *slog.Logger, handle func(context.Context, net.Conn)) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		ln.Close()
		wg.Wait()
	}()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	sem := make(chan struct{}, maxConns)
	var backoff time.Duration
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		c, err := ln.Accept()
		if err != nil {
			<-sem
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("proxy: accept on %v: %w", ln.Addr(), err)
			}
			// Anything else (EMFILE, ECONNABORTED) passes: wait a little,
			// as net/http does, rather than spin or give up.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			log.Warn("accept failed", "listener", ln.Addr().String(), "err", err, "retry_in", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
			continue
		}
		backoff = 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			defer c.Close()
			// Closing the connection is what interrupts a handler blocked
			// reading or writing it.
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			handle(ctx, c)
		}()
	}
}

// listen opens a TCP listener for ListenAndServe.
func listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	return ln, nil
}

// errNoAddress is returned when a name resolves to no usable address.
var errNoAddress = errors.New("no usable address")

// resolve returns the addresses of host, which is an IP literal or a name
// looked up through nw (the tunnel's DNS in rootless mode, never the
// host's).
func resolve(ctx context.Context, nw Network, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return nil, fmt.Errorf("address %s: zones are not supported", host)
		}
		return []netip.Addr{ip.Unmap()}, nil
	}
	names, err := nw.LookupHost(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("resolving %q: %w", host, err)
	}
	var ips []netip.Addr
	for _, n := range names {
		if ip, err := netip.ParseAddr(n); err == nil && ip.Zone() == "" {
			ips = append(ips, ip.Unmap())
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolving %q: %w", host, errNoAddress)
	}
	return ips, nil
}

// dialTCP resolves host through nw and connects to each of its addresses
// in turn, within timeout in all.
func dialTCP(ctx context.Context, nw Network, host string, port uint16, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ips, err := resolve(ctx, nw, host)
	if err != nil {
		return nil, err
	}
	var first error
	for _, ip := range ips {
		c, err := nw.DialContext(ctx, "tcp", netip.AddrPortFrom(ip, port).String())
		if err == nil {
			return c, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("connecting to %s: %w", net.JoinHostPort(host, strconv.Itoa(int(port))), first)
}

// relay copies between a and b both ways until both directions have
// ended or ctx ends, then closes both. A direction that ends cleanly is
// passed on as a half-close, so request/response protocols that shut down
// their sending side keep working.
func relay(ctx context.Context, a, b net.Conn) {
	stop := context.AfterFunc(ctx, func() {
		a.Close()
		b.Close()
	})
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		copyHalf(b, a)
	}()
	copyHalf(a, b)
	<-done
	a.Close()
	b.Close()
}

type closeWriter interface{ CloseWrite() error }

func copyHalf(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err != nil {
		// A broken direction breaks the other one too: the peer will
		// not get what it expects either way.
		dst.Close()
		src.Close()
		return
	}
	if cw, ok := dst.(closeWriter); ok {
		cw.CloseWrite()
		return
	}
	dst.Close()
}
