package proxy

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for HTTPProxy's zero fields.
const (
	DefaultIdleTimeout    = 60 * time.Second
	DefaultMaxHeaderBytes = 64 << 10
)

// HTTPProxy is an HTTP/1.1 proxy whose connections go out through Network:
// CONNECT opens a tunnel to host:port, and requests with an absolute
// http:// URI are forwarded with hop-by-hop headers removed. Host names are
// resolved through Network. A dial failure is answered 502; a request that
// is not a proxy request (origin-form, as sent to a web server) 405; a
// malformed one 400.
type HTTPProxy struct {
	// Network carries the proxied traffic. It must be set.
	Network Network
	// Auth, when set, requires Basic credentials in Proxy-Authorization
	// (407 otherwise) and reports whether a pair is valid; see
	// StaticCredentials.
	Auth func(user, password string) bool
	// ReadHeaderTimeout bounds reading a request's headers (default
	// DefaultHandshakeTimeout).
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes kept-alive client connections idle this long
	// (default DefaultIdleTimeout).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (default
	// DefaultMaxHeaderBytes).
	MaxHeaderBytes int
	// DialTimeout bounds name resolution plus connecting (default
	// DefaultDialTimeout).
	DialTimeout time.Duration
	// MaxConns is how many client connections are served at once
	// (default DefaultMaxConns); more wait in the listen backlog.
	MaxConns int
	// Log receives per-request diagnostics at debug level; nil discards
	// them.
	Log *slog.Logger
}

// ListenAndServe listens on the TCP address addr and serves it until ctx
// ends.
func (p *HTTPProxy) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := listen(ctx, addr)
	if err != nil {
		return fmt.Errorf("http proxy: %w", err)
	}
	return p.Serve(ctx, ln)
}

// Serve serves proxy clients on ln until ctx ends, then closes ln, every
// client connection, tunnel and upstream connection, and returns nil once
// all have ended. It returns an error if ln fails.
func (p *HTTPProxy) Serve(ctx context.Context, ln net.Listener) error {
	if p.Network == nil {
		ln.Close()
		return errors.New("http proxy: no Network")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	log := orDiscard(p.Log)
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelDebug)
	dialTimeout := orDefault(p.DialTimeout, DefaultDialTimeout)

	// One transport per Serve: its pool of kept-alive upstream
	// connections must not outlive the server.
	tr := &http.Transport{
		Proxy: nil, // never the environment's proxy: everything goes through Network
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := splitHostPort(addr)
			if err != nil {
				return nil, err
			}
			return dialTCP(ctx, p.Network, host, port, dialTimeout)
		},
		// A proxy passes the client's Accept-Encoding and the server's
		// Content-Encoding through untouched.
		DisableCompression:    true,
		MaxIdleConns:          64,
		IdleConnTimeout:       90 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	h := &httpProxyHandler{p: p, ctx: ctx, log: log, dialTimeout: dialTimeout}
	h.rp = &httputil.ReverseProxy{
		Director: func(r *http.Request) {
			// The URL is already absolute, and the client's address is
			// nobody's business upstream: no X-Forwarded-For.
			r.Header["X-Forwarded-For"] = nil
		},
		Transport:    tr,
		ErrorLog:     errLog,
		ErrorHandler: h.upstreamError,
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: orDefault(p.ReadHeaderTimeout, DefaultHandshakeTimeout),
		IdleTimeout:       orDefault(p.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    orDefault(p.MaxHeaderBytes, DefaultMaxHeaderBytes),
		// Requests' contexts end with the server, which aborts their
		// upstream round trips.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    errLog,
	}
	lln := newLimitListener(ln, orDefault(p.MaxConns, DefaultMaxConns))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lln) }()

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc: // the listener failed
	}
	cancel()
	srv.Close() // the listener and the connections net/http still owns
	if err == nil {
		<-errc // http.ErrServerClosed
	}
	h.closeAndWait() // hijacked CONNECT tunnels and handlers still running
	tr.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("http proxy: serving %v: %w", ln.Addr(), err)
	}
	return nil
}

// httpProxyHandler serves the requests of one Serve call.
type httpProxyHandler struct {
	p           *HTTPProxy
	ctx         context.Context
	log         *slog.Logger
	dialTimeout time.Duration
	rp          *httputil.ReverseProxy

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// enter registers a running handler, unless the server is shutting down.
func (h *httpProxyHandler) enter() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	return true
}

func (h *httpProxyHandler) closeAndWait() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.wg.Wait()
}

// ServeHTTP serves one proxy request.
func (h *httpProxyHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.enter() {
		http.Error(w, "proxy shutting down", http.StatusServiceUnavailable)
		return
	}
	defer h.wg.Done()
	if h.p.Auth != nil && !h.authorized(r) {
		w.Header().Set("Proxy-Authenticate", `Basic realm="gopptp"`)
		http.Error(w, "proxy authentication required", http.StatusProxyAuthRequired)
		return
	}
	if r.Method == http.MethodConnect {
		h.connect(w, r)
		return
	}
	switch {
	case !r.URL.IsAbs():
		// We are not an origin server: whatever the method, it is not
		// allowed on this resource.
		w.Header().Set("Allow", "CONNECT")
		http.Error(w, "this is a proxy: requests need an absolute http:// URI", http.StatusMethodNotAllowed)
		return
	case r.URL.Scheme != "http":
		http.Error(w, "unsupported scheme "+strconv.Quote(r.URL.Scheme)+": use CONNECT for https", http.StatusBadRequest)
		return
	case r.URL.Host == "":
		http.Error(w, "missing host", http.StatusBadRequest)
		return
	}
	if _, _, err := splitHostPort(hostPortOf(r.URL.Host)); err != nil {
		http.Error(w, "bad host: "+err.Error(), http.StatusBadRequest)
		return
	}
	h.rp.ServeHTTP(w, r)
}

// hostPortOf adds the default port to a URL host without one.
func hostPortOf(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), "80")
}

// authorized checks Proxy-Authorization: Basic.
func (h *httpProxyHandler) authorized(r *http.Request) bool {
	v := r.Header.Get("Proxy-Authorization")
	scheme, cred, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return false
	}
	user, pass, ok := strings.Cut(string(b), ":")
	return ok && h.p.Auth(user, pass)
}

// upstreamError answers a forwarded request whose upstream failed.
func (h *httpProxyHandler) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if h.ctx.Err() == nil && r.Context().Err() == nil {
		h.log.Debug("http proxy: upstream failed", "url", r.URL.Redacted(), "err", err)
	}
	http.Error(w, "bad gateway: "+err.Error(), http.StatusBadGateway)
}

// connect serves CONNECT: dial, answer 200, then relay bytes both ways.
func (h *httpProxyHandler) connect(w http.ResponseWriter, r *http.Request) {
	// In authority form net/http leaves the target in URL.Host alone.
	if r.URL.Scheme != "" || r.URL.Path != "" || r.URL.Host == "" {
		http.Error(w, "CONNECT needs host:port", http.StatusBadRequest)
		return
	}
	host, port, err := splitHostPort(r.URL.Host)
	if err != nil {
		http.Error(w, "CONNECT needs host:port: "+err.Error(), http.StatusBadRequest)
		return
	}
	remote, err := dialTCP(r.Context(), h.p.Network, host, port, h.dialTimeout)
	if err != nil {
		if h.ctx.Err() == nil {
			h.log.Debug("http proxy: CONNECT failed", "target", r.URL.Host, "err", err)
		}
		http.Error(w, "bad gateway: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer remote.Close()
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot take over the connection", http.StatusInternalServerError)
		return
	}
	c, brw, err := hj.Hijack()
	if err != nil {
		h.log.Debug("http proxy: hijack failed", "err", err)
		return
	}
	defer c.Close()
	// net/http set deadlines for reading the request; the tunnel has
	// none.
	c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		return
	}
	// Bytes the client sent right behind its request (a TLS ClientHello,
	// typically) are in net/http's buffer.
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		if _, err := remote.Write(b); err != nil {
			return
		}
	}
	relay(h.ctx, c, remote)
}

// splitHostPort splits "host:port" into a non-empty host and a port in
// 1-65535.
func splitHostPort(hostport string) (string, uint16, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("bad port %q", port)
	}
	if host == "" {
		return "", 0, errors.New("empty host")
	}
	return host, uint16(p), nil
}

// limitListener lets at most cap(sem) accepted connections be open at
// once; Accept waits for one to close.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn frees its listener slot when closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite passes a tunnel's half-close on to the client.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(closeWriter); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}
