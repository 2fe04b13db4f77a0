package proxy

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// webServer serves "hello from <path>" and, under /headers, the request
// headers it received, one "Name: value" per line.
func webServer(t *testing.T) netip.AddrPort {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/headers" {
			r.Header.Write(w)
			fmt.Fprintf(w, "Host: %s\nRequestURI: %s\n", r.Host, r.RequestURI)
			return
		}
		io.WriteString(w, "hello from "+r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return netip.MustParseAddrPort(srv.Listener.Addr().String())
}

// proxiedClient is an HTTP client going through the proxy at proxyURL.
func proxiedClient(t *testing.T, proxyURL string) *http.Client {
	t.Helper()
	u, err := url.Parse(proxyURL)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{Proxy: http.ProxyURL(u)}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

func get(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b)
}

func startHTTPProxy(t *testing.T, p *HTTPProxy) string {
	t.Helper()
	addr, _ := serveInBackground(t, p.Serve)
	return addr
}

func TestHTTPProxyGet(t *testing.T) {
	checkGoroutines(t)
	web := webServer(t)
	tn := newTestNet()
	tn.hosts["web.test"] = []string{web.Addr().String()}
	addr := startHTTPProxy(t, &HTTPProxy{Network: tn})
	client := proxiedClient(t, "http://"+addr)
	base := "http://web.test:" + strconv.Itoa(int(web.Port()))

	if body := get(t, client, base+"/a/b?q=1;x"); body != "hello from /a/b" {
		t.Fatalf("body %q", body)
	}
	if body := get(t, client, "http://"+web.String()+"/by-ip"); body != "hello from /by-ip" {
		t.Fatalf("body %q", body)
	}

	// Hop-by-hop headers, including those the Connection header names,
	// stop at the proxy; end-to-end ones go through.
	req, _ := http.NewRequest("GET", base+"/headers?x=a;b", nil)
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "must not pass")
	req.Header.Set("Proxy-Connection", "keep-alive")
	req.Header.Set("Keep-Alive", "timeout=5")
	req.Header.Set("X-End-To-End", "kept")
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	seen := string(b)
	for _, h := range []string{"X-Hop", "Proxy-Connection", "Keep-Alive", "X-Forwarded-For"} {
		if strings.Contains(seen, h+":") {
			t.Errorf("header %s reached the server:\n%s", h, seen)
		}
	}
	for _, want := range []string{"X-End-To-End: kept", "Accept-Encoding: identity", "Host: web.test:", "RequestURI: /headers?x=a;b"} {
		if !strings.Contains(seen, want) {
			t.Errorf("server did not see %q:\n%s", want, seen)
		}
	}
	if got := tn.lookedUp(); len(got) == 0 || got[0] != "web.test" {
		t.Errorf("lookups through Network: %q", got)
	}
}

// TestHTTPProxyKeepAlive sends several requests on one client connection.
func TestHTTPProxyKeepAlive(t *testing.T) {
	checkGoroutines(t)
	web := webServer(t)
	addr := startHTTPProxy(t, &HTTPProxy{Network: newTestNet()})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := range 3 {
		fmt.Fprintf(c, "GET http://%v/%d HTTP/1.1\r\nHost: %v\r\n\r\n", web, i, web)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "hello from /" + strconv.Itoa(i); string(b) != want {
			t.Fatalf("request %d: %q", i, b)
		}
	}
}

// connectVia sends CONNECT target through the proxy and returns the
// connection and the response.
func connectVia(t *testing.T, proxyAddr, target string, extra string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", target, target, extra)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil {
		t.Fatalf("CONNECT %s: %v", target, err)
	}
	return c, br, resp
}

func TestHTTPProxyConnect(t *testing.T) {
	checkGoroutines(t)
	echo := tcpEcho(t)
	tn := newTestNet()
	tn.hosts["echo.test"] = []string{echo.Addr().String()}
	addr := startHTTPProxy(t, &HTTPProxy{Network: tn})

	for _, target := range []string{echo.String(), "echo.test:" + strconv.Itoa(int(echo.Port()))} {
		c, br, resp := connectVia(t, addr, target, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT %s: %s", target, resp.Status)
		}
		io.WriteString(c, "ping "+target)
		got := make([]byte, len("ping "+target))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != "ping "+target {
			t.Fatalf("echo %q, %v", got, err)
		}
		c.(*net.TCPConn).CloseWrite()
		if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
			t.Fatalf("after half-close: %q, %v", rest, err)
		}
	}

	// Bytes sent right behind the request are not lost.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\nearly bytes", echo, echo)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	got := make([]byte, len("early bytes"))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != "early bytes" {
		t.Fatalf("echo %q, %v", got, err)
	}
}

func TestHTTPProxyErrors(t *testing.T) {
	checkGoroutines(t)
	refused := closedPort(t)
	tn := newTestNet()
	tn.block = "192.0.2.5:80"
	addr := startHTTPProxy(t, &HTTPProxy{Network: tn, DialTimeout: 200 * time.Millisecond, MaxHeaderBytes: 4096})

	raw := func(req string) (int, string) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, req)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%q: %v", req, err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name, req string
		want      int
	}{
		{"CONNECT refused", fmt.Sprintf("CONNECT %v HTTP/1.1\r\nHost: x\r\n\r\n", refused), 502},
		{"CONNECT unknown name", "CONNECT nowhere.test:443 HTTP/1.1\r\nHost: x\r\n\r\n", 502},
		{"CONNECT timeout", "CONNECT 192.0.2.5:80 HTTP/1.1\r\nHost: x\r\n\r\n", 502},
		{"CONNECT no port", "CONNECT example.test HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"CONNECT port 0", "CONNECT example.test:0 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"CONNECT bad port", "CONNECT example.test:99999 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"CONNECT path", "CONNECT /x HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"GET refused", fmt.Sprintf("GET http://%v/ HTTP/1.1\r\nHost: x\r\n\r\n", refused), 502},
		{"GET unknown name", "GET http://nowhere.test/ HTTP/1.1\r\nHost: x\r\n\r\n", 502},
		{"origin form", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 405},
		{"origin form POST", "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405},
		{"https URI", "GET https://example.test/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"ftp URI", "GET ftp://example.test/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"bad port in URI", "GET http://example.test:0/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
		{"garbage", "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n", 400},
		{"bad request line", "GET\r\n\r\n", 400},
		{"huge header", "GET http://x/ HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 8192) + "\r\n\r\n", 431},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, body := raw(tt.req); got != tt.want {
				t.Fatalf("status %d (%s), want %d", got, body, tt.want)
			}
		})
	}

	t.Run("slow headers", func(t *testing.T) {
		p := &HTTPProxy{Network: tn, ReadHeaderTimeout: 200 * time.Millisecond}
		addr := startHTTPProxy(t, p)
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET http://x/ HTTP/1.1\r\n")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		io.ReadAll(c)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("connection held %v by a client that never finishes its headers", d)
		}
	})
}

func TestHTTPProxyAuth(t *testing.T) {
	checkGoroutines(t)
	web := webServer(t)
	echo := tcpEcho(t)
	addr := startHTTPProxy(t, &HTTPProxy{Network: newTestNet(), Auth: StaticCredentials("alice", "s3cret")})

	resp, err := proxiedClient(t, "http://"+addr).Get("http://" + web.String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusProxyAuthRequired || resp.Header.Get("Proxy-Authenticate") == "" {
		t.Fatalf("without credentials: %s %v", resp.Status, resp.Header)
	}
	authed := proxiedClient(t, "http://alice:s3cret@"+addr)
	if body := get(t, authed, "http://"+web.String()+"/ok"); body != "hello from /ok" {
		t.Fatalf("body %q", body)
	}
	// The credentials are for the proxy only.
	if seen := get(t, authed, "http://"+web.String()+"/headers"); strings.Contains(seen, "Proxy-Authorization") {
		t.Fatalf("credentials reached the server:\n%s", seen)
	}
	resp, err = proxiedClient(t, "http://alice:wrong@"+addr).Get("http://" + web.String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusProxyAuthRequired {
		t.Fatalf("wrong password: %s", resp.Status)
	}

	_, _, resp = connectVia(t, addr, echo.String(), "")
	if resp.StatusCode != http.StatusProxyAuthRequired {
		t.Fatalf("CONNECT without credentials: %s", resp.Status)
	}
	cred := "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret")) + "\r\n"
	if _, _, resp = connectVia(t, addr, echo.String(), cred); resp.StatusCode != http.StatusOK {
		t.Fatalf("CONNECT with credentials: %s", resp.Status)
	}
}

// TestHTTPProxyShutdown cancels the server with a tunnel, a kept-alive
// connection and a request waiting on its upstream: all must end at once.
func TestHTTPProxyShutdown(t *testing.T) {
	checkGoroutines(t)
	echo := tcpEcho(t)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() {
		close(release)
		slow.Close()
	})
	web := webServer(t)
	addr, stop := serveInBackground(t, (&HTTPProxy{Network: newTestNet()}).Serve)

	tunnel, _, resp := connectVia(t, addr, echo.String(), "")
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprintf(idle, "GET http://%v/ HTTP/1.1\r\nHost: x\r\n\r\n", web)
	ibr := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(ibr, nil); err != nil {
		t.Fatal(err)
	} else {
		io.ReadAll(resp.Body)
	}
	waiting, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer waiting.Close()
	fmt.Fprintf(waiting, "GET %s/ HTTP/1.1\r\nHost: x\r\n\r\n", slow.URL)
	time.Sleep(50 * time.Millisecond)

	start := time.Now()
	stop()
	if d := time.Since(start); d > time.Second {
		t.Errorf("shutdown took %v", d)
	}
	for name, c := range map[string]net.Conn{"tunnel": tunnel, "idle": idle, "waiting": waiting} {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := io.ReadAll(c)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s connection still open after shutdown", name)
		}
	}
}
