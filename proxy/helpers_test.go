package proxy

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// checkGoroutines fails the test if, once everything the test registered
// with t.Cleanup afterwards has run, more goroutines are left than when it
// started. Call it first.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// testNet is the host's network with a resolver of its own, so that tests
// show names never reach the host's resolver, and dial failures on demand.
type testNet struct {
	HostNetwork
	mu      sync.Mutex
	hosts   map[string][]string
	dialErr map[string]error // by "ip:port"
	lookups []string
	// block, when set, makes dials to that address wait for their
	// context.
	block string
}

func newTestNet() *testNet {
	return &testNet{hosts: map[string][]string{}, dialErr: map[string]error{}}
}

func (n *testNet) LookupHost(ctx context.Context, host string) ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lookups = append(n.lookups, host)
	if a, ok := n.hosts[strings.ToLower(host)]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (n *testNet) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	n.mu.Lock()
	err, block := n.dialErr[address], n.block == address
	n.mu.Unlock()
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if block {
		<-ctx.Done()
		return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
	}
	return n.HostNetwork.DialContext(ctx, network, address)
}

func (n *testNet) lookedUp() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.lookups...)
}

// serveInBackground runs serve on a loopback listener until the test ends
// and checks that it then returns nil promptly.
func serveInBackground(t *testing.T, serve func(context.Context, net.Listener) error) (addr string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Errorf("Serve did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}

// tcpEcho serves an echo on loopback: it writes back what it reads and
// closes when the client half-closes.
func tcpEcho(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// udpEcho serves a UDP echo on loopback.
func udpEcho(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			pc.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	t.Cleanup(func() {
		pc.Close()
		<-done
	})
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	return ap
}

// socksClient is a raw SOCKS5 client that lets tests send anything.
type socksClient struct {
	t *testing.T
	net.Conn
}

func dialSOCKS(t *testing.T, addr string) *socksClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &socksClient{t: t, Conn: c}
}

func (c *socksClient) send(b ...byte) {
	c.t.Helper()
	if _, err := c.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *socksClient) read(n int) []byte {
	c.t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		c.t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// greet offers no authentication and expects it to be chosen.
func (c *socksClient) greet() {
	c.t.Helper()
	c.send(5, 1, 0)
	if got := c.read(2); got[0] != 5 || got[1] != 0 {
		c.t.Fatalf("method selection = %x, want 0500", got)
	}
}

// socksAddr encodes ATYP ADDR PORT for host:port.
func socksAddr(host string, port uint16) []byte {
	var b []byte
	if ip, err := netip.ParseAddr(host); err == nil {
		b = appendAddr(nil, netip.AddrPortFrom(ip, port))
		return b
	}
	b = append(b, atypDomain, byte(len(host)))
	b = append(b, host...)
	return binary.BigEndian.AppendUint16(b, port)
}

// request sends a request and returns the reply code and bound address.
func (c *socksClient) request(cmd byte, host string, port uint16) (byte, netip.AddrPort) {
	c.t.Helper()
	c.send(append([]byte{5, cmd, 0}, socksAddr(host, port)...)...)
	return c.reply()
}

func (c *socksClient) reply() (byte, netip.AddrPort) {
	c.t.Helper()
	hdr := c.read(4)
	if hdr[0] != 5 || hdr[2] != 0 {
		c.t.Fatalf("reply header %x", hdr)
	}
	var ip netip.Addr
	switch hdr[3] {
	case atypIPv4:
		ip = netip.AddrFrom4([4]byte(c.read(4)))
	case atypIPv6:
		ip = netip.AddrFrom16([16]byte(c.read(16)))
	default:
		c.t.Fatalf("reply address type %d", hdr[3])
	}
	port := binary.BigEndian.Uint16(c.read(2))
	return hdr[1], netip.AddrPortFrom(ip, port)
}

// expectClosed checks that the server closes the connection without
// sending anything more.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 1)
	n, err := c.Read(b)
	if n != 0 || err == nil {
		t.Fatalf("read after failure: %d bytes %x, err %v; want the connection closed", n, b[:n], err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("server left the connection open: %v", err)
	}
}
