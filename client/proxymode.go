package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/gopptp/gopptp/proxy"
)

// proxyServer is one proxy the user asked for: its kind and a listener
// that lives as long as the client, across reconnections.
type proxyServer struct {
	kind string // "socks5" or "http"
	ln   *sharedListener
}

// openProxies listens on every proxy address, so that a taken port is an
// error at start rather than after the tunnel is up.
func openProxies(cfg *Config, log *slog.Logger) ([]proxyServer, error) {
	var ps []proxyServer
	fail := func(err error) ([]proxyServer, error) {
		for _, p := range ps {
			p.ln.Close()
		}
		return nil, err
	}
	for _, set := range []struct {
		kind  string
		addrs []string
	}{{"socks5", cfg.SOCKS5}, {"http", cfg.HTTPProxy}} {
		for _, a := range set.addrs {
			ln, err := net.Listen("tcp", a)
			if err != nil {
				return fail(fmt.Errorf("%s proxy: %w", set.kind, err))
			}
			if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil && !ap.Addr().IsLoopback() {
				// The proxies ask for no password: whoever reaches
				// this address reaches the remote network.
				log.Warn(set.kind+" proxy listens beyond this host, without authentication: anyone who can reach it uses the tunnel", "addr", ln.Addr())
			}
			ps = append(ps, proxyServer{kind: set.kind, ln: newSharedListener(ln)})
		}
	}
	return ps, nil
}

// proxyRun is the proxies serving one session's user-space stack.
type proxyRun struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// serveProxies serves every proxy through nw until stop.
func serveProxies(ps []proxyServer, nw proxy.Network, log *slog.Logger) *proxyRun {
	ctx, cancel := context.WithCancel(context.Background())
	r := &proxyRun{cancel: cancel}
	for _, p := range ps {
		ln := p.ln.session()
		var serve func(context.Context, net.Listener) error
		switch p.kind {
		case "socks5":
			serve = (&proxy.SOCKS5{Network: nw, Log: log}).Serve
		default:
			serve = (&proxy.HTTPProxy{Network: nw, Log: log}).Serve
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			if err := serve(ctx, ln); err != nil {
				log.Warn("proxy stopped", "proxy", p.kind, "addr", ln.Addr().String(), "err", err)
			}
		}()
		log.Info(fmt.Sprintf("%s proxy on %v", p.kind, ln.Addr()))
	}
	return r
}

// stop ends every proxy connection and waits until the proxies have
// returned: only then may the user-space stack be closed (see package
// proxy).
func (r *proxyRun) stop() {
	r.cancel()
	r.wg.Wait()
}

// sharedListener accepts connections for whichever session is up. The
// proxies close their listener when they stop, but a reconnection must
// find the port still ours: each session gets a view of the listener
// (session) that it may close.
type sharedListener struct {
	ln net.Listener

	mu  sync.Mutex
	cur *sessionListener

	loop sync.Once
}

func newSharedListener(ln net.Listener) *sharedListener { return &sharedListener{ln: ln} }

// session returns a listener that receives the connections accepted from
// now until it is closed.
func (s *sharedListener) session() *sessionListener {
	s.loop.Do(func() { go s.acceptLoop() })
	l := &sessionListener{parent: s, conns: make(chan net.Conn), done: make(chan struct{})}
	s.mu.Lock()
	s.cur = l
	s.mu.Unlock()
	return l
}

// acceptLoop hands each connection to the current session; while there is
// none (the tunnel is down) connections are closed at once, which the
// user sees as the proxy refusing.
func (s *sharedListener) acceptLoop() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like pass; do not spin meanwhile.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.mu.Lock()
		cur := s.cur
		s.mu.Unlock()
		if cur == nil || !cur.offer(c) {
			c.Close()
		}
	}
}

// Close closes the real listener.
func (s *sharedListener) Close() error { return s.ln.Close() }

// Addr is the listening address.
func (s *sharedListener) Addr() net.Addr { return s.ln.Addr() }

// sessionListener is one session's view of a sharedListener.
type sessionListener struct {
	parent *sharedListener
	conns  chan net.Conn
	done   chan struct{}
	once   sync.Once
}

// offer hands c to the session's Accept, waiting while the proxy is busy
// (as the backlog would); false if the session's listener closed.
func (l *sessionListener) offer(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.done:
		return false
	}
}

// Accept returns the next connection, or net.ErrClosed after Close.
func (l *sessionListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops the session's view; the real listener stays open.
func (l *sessionListener) Close() error {
	l.once.Do(func() {
		close(l.done)
		l.parent.mu.Lock()
		if l.parent.cur == l {
			l.parent.cur = nil
		}
		l.parent.mu.Unlock()
	})
	return nil
}

// Addr is the listening address.
func (l *sessionListener) Addr() net.Addr { return l.parent.Addr() }

// proxyMTU is the MTU of the user-space stack: the smaller of ours and
// what the server can receive.
func proxyMTU(mtu, peerMRU int) int {
	if peerMRU > 0 && peerMRU < mtu {
		return peerMRU
	}
	return mtu
}
