package proxy

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func startSOCKS(t *testing.T, s *SOCKS5) string {
	t.Helper()
	addr, _ := serveInBackground(t, s.Serve)
	return addr
}

func TestSOCKS5Connect(t *testing.T) {
	checkGoroutines(t)
	echo := tcpEcho(t)
	tn := newTestNet()
	tn.hosts["echo.test"] = []string{echo.Addr().String()}
	addr := startSOCKS(t, &SOCKS5{Network: tn})

	for _, host := range []string{echo.Addr().String(), "echo.test", "ECHO.test"} {
		t.Run(host, func(t *testing.T) {
			c := dialSOCKS(t, addr)
			c.greet()
			rep, bnd := c.request(cmdConnect, host, echo.Port())
			if rep != ReplySucceeded {
				t.Fatalf("reply %#x, want success", rep)
			}
			// BND is the proxy's end of the outgoing connection.
			if bnd.Addr() != echo.Addr() || bnd.Port() == 0 {
				t.Errorf("bound address %v, want %v:<port>", bnd, echo.Addr())
			}
			msg := []byte("hello through socks " + host)
			c.send(msg...)
			if got := c.read(len(msg)); !bytes.Equal(got, msg) {
				t.Fatalf("echo %q, want %q", got, msg)
			}
			// A half-close travels to the echo server, which closes, and
			// that comes back as EOF.
			c.Conn.(*net.TCPConn).CloseWrite()
			if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
				t.Fatalf("after half-close: %q, %v; want clean EOF", rest, err)
			}
		})
	}
	if got := tn.lookedUp(); !slices.Equal(got, []string{"echo.test", "ECHO.test"}) {
		t.Errorf("names resolved through Network: %q", got)
	}
}

func TestSOCKS5ConnectIPv6(t *testing.T) {
	checkGoroutines(t)
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("v6"))
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	addr := startSOCKS(t, &SOCKS5{Network: newTestNet()})
	c := dialSOCKS(t, addr)
	c.greet()
	port := ln.Addr().(*net.TCPAddr).AddrPort().Port()
	if rep, bnd := c.request(cmdConnect, "::1", port); rep != ReplySucceeded || !bnd.Addr().Is6() {
		t.Fatalf("reply %#x bound %v", rep, bnd)
	}
	if got, err := io.ReadAll(c); err != nil || string(got) != "v6" {
		t.Fatalf("got %q, %v", got, err)
	}
}

// TestSOCKS5EarlyData sends greeting, request and payload in one write, as
// optimistic clients do: the payload must not be lost in the handshake
// buffer.
func TestSOCKS5EarlyData(t *testing.T) {
	checkGoroutines(t)
	echo := tcpEcho(t)
	addr := startSOCKS(t, &SOCKS5{Network: newTestNet()})
	c := dialSOCKS(t, addr)
	msg := append([]byte{5, 1, 0, 5, cmdConnect, 0}, socksAddr(echo.Addr().String(), echo.Port())...)
	msg = append(msg, "early"...)
	c.send(msg...)
	c.read(2)
	if rep, _ := c.reply(); rep != ReplySucceeded {
		t.Fatalf("reply %#x", rep)
	}
	if got := c.read(5); string(got) != "early" {
		t.Fatalf("echo %q", got)
	}
}

func TestSOCKS5Auth(t *testing.T) {
	checkGoroutines(t)
	echo := tcpEcho(t)
	addr := startSOCKS(t, &SOCKS5{Network: newTestNet(), Auth: StaticCredentials("alice", "s3cret")})

	auth := func(c *socksClient, user, pass string) byte {
		c.send(5, 2, 0, 2)
		if got := c.read(2); got[1] != methodUserPass {
			t.Fatalf("method %#x, want user/pass", got[1])
		}
		msg := []byte{1, byte(len(user))}
		msg = append(msg, user...)
		msg = append(msg, byte(len(pass)))
		msg = append(msg, pass...)
		c.send(msg...)
		got := c.read(2)
		if got[0] != 1 {
			t.Fatalf("auth reply version %d", got[0])
		}
		return got[1]
	}

	c := dialSOCKS(t, addr)
	if st := auth(c, "alice", "s3cret"); st != 0 {
		t.Fatalf("good credentials: status %d", st)
	}
	if rep, _ := c.request(cmdConnect, echo.Addr().String(), echo.Port()); rep != ReplySucceeded {
		t.Fatalf("reply %#x after authentication", rep)
	}

	for _, cred := range [][2]string{{"alice", "wrong"}, {"bob", "s3cret"}, {"", ""}, {"alice", "s3cret\x00"}} {
		c := dialSOCKS(t, addr)
		if st := auth(c, cred[0], cred[1]); st == 0 {
			t.Errorf("credentials %q accepted", cred)
		}
		expectClosed(t, c)
	}

	// A client that cannot authenticate is told no method is acceptable.
	c = dialSOCKS(t, addr)
	c.send(5, 1, 0)
	if got := c.read(2); got[1] != methodNoAcceptable {
		t.Fatalf("method %#x, want 0xff", got[1])
	}
	expectClosed(t, c)
}

func TestSOCKS5ReplyCodes(t *testing.T) {
	checkGoroutines(t)
	tn := newTestNet()
	tn.hosts["nowhere.test"] = []string{"not an address"}
	tn.dialErr["192.0.2.1:80"] = errors.New("boom")
	tn.dialErr["192.0.2.2:80"] = syscall.ENETUNREACH
	tn.dialErr["192.0.2.3:80"] = syscall.EHOSTUNREACH
	tn.dialErr["192.0.2.4:80"] = syscall.ECONNREFUSED
	tn.block = "192.0.2.5:80"
	refused := closedPort(t)
	addr := startSOCKS(t, &SOCKS5{Network: tn, DialTimeout: 200 * time.Millisecond})

	tests := []struct {
		name string
		cmd  byte
		host string
		port uint16
		want byte
	}{
		{"refused by host", cmdConnect, refused.Addr().String(), refused.Port(), ReplyConnectionRefused},
		{"refused errno", cmdConnect, "192.0.2.4", 80, ReplyConnectionRefused},
		{"unknown name", cmdConnect, "no-such-host.test", 80, ReplyHostUnreachable},
		{"name without address", cmdConnect, "nowhere.test", 80, ReplyHostUnreachable},
		{"invalid name", cmdConnect, "bad%name", 80, ReplyHostUnreachable},
		{"general failure", cmdConnect, "192.0.2.1", 80, ReplyGeneralFailure},
		{"network unreachable", cmdConnect, "192.0.2.2", 80, ReplyNetworkUnreachable},
		{"host unreachable", cmdConnect, "192.0.2.3", 80, ReplyHostUnreachable},
		{"timeout", cmdConnect, "192.0.2.5", 80, ReplyHostUnreachable},
		{"bind", cmdBind, "192.0.2.1", 80, ReplyCommandNotSupported},
		{"unknown command", 0x09, "192.0.2.1", 80, ReplyCommandNotSupported},
		{"udp from another host", cmdUDPAssociate, "192.0.2.9", 5000, ReplyNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialSOCKS(t, addr)
			c.greet()
			rep, bnd := c.request(tt.cmd, tt.host, tt.port)
			if rep != tt.want {
				t.Fatalf("reply %#x, want %#x", rep, tt.want)
			}
			if bnd != netip.AddrPortFrom(netip.IPv4Unspecified(), 0) {
				t.Errorf("bound address %v on failure, want 0.0.0.0:0", bnd)
			}
			expectClosed(t, c)
		})
	}

	t.Run("address type", func(t *testing.T) {
		c := dialSOCKS(t, addr)
		c.greet()
		c.send(5, cmdConnect, 0, 0x05, 1, 2, 3, 4, 0, 80)
		if rep, _ := c.reply(); rep != ReplyAddressNotSupported {
			t.Fatalf("reply %#x, want 0x08", rep)
		}
		expectClosed(t, c)
	})
}

// TestSOCKS5Malformed sends broken and hostile handshakes: each must end
// in a clean close (a reply only where one is owed), never a hang, and
// leave no goroutine behind.
func TestSOCKS5Malformed(t *testing.T) {
	checkGoroutines(t)
	addr := startSOCKS(t, &SOCKS5{Network: newTestNet(), HandshakeTimeout: 300 * time.Millisecond})
	greet := []byte{5, 1, 0}
	tests := []struct {
		name  string
		in    []byte
		close bool // half-close after sending; otherwise stall
		reply []byte
	}{
		{"empty", nil, true, nil},
		{"socks4", []byte{4, 1, 0, 80, 127, 0, 0, 1, 0}, true, nil},
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), true, nil},
		{"truncated greeting", []byte{5, 3, 0}, true, nil},
		{"huge method count stalled", []byte{5, 255, 0, 1, 2}, false, nil},
		{"stalled after version", []byte{5}, false, nil},
		{"request wrong version", append(slices.Clone(greet), 4, 1, 0, 1, 127, 0, 0, 1, 0, 80), true, []byte{5, 0}},
		{"truncated request", append(slices.Clone(greet), 5, 1, 0), true, []byte{5, 0}},
		{"truncated IPv4", append(slices.Clone(greet), 5, 1, 0, 1, 127, 0), true, []byte{5, 0}},
		{"truncated IPv6", append(slices.Clone(greet), 5, 1, 0, 4, 0, 0, 0, 0), true, []byte{5, 0}},
		{"domain longer than sent", append(slices.Clone(greet), 5, 1, 0, 3, 255, 'a', 'b'), true, []byte{5, 0}},
		{"domain stalled", append(slices.Clone(greet), 5, 1, 0, 3, 255, 'a', 'b'), false, []byte{5, 0}},
		{"missing port", append(slices.Clone(greet), 5, 1, 0, 3, 1, 'a'), true, []byte{5, 0}},
		{"empty domain", append(slices.Clone(greet), 5, 1, 0, 3, 0, 0, 80), true, []byte{5, 0, 5, 4, 0, 1, 0, 0, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialSOCKS(t, addr)
			if len(tt.in) > 0 {
				c.send(tt.in...)
			}
			if tt.close {
				c.Conn.(*net.TCPConn).CloseWrite()
			}
			start := time.Now()
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil && !errors.Is(err, syscall.ECONNRESET) {
				// A close with unread input is a reset, as it should be.
				t.Fatalf("read: %v (the server should close, not hang)", err)
			}
			if !bytes.Equal(got, tt.reply) {
				t.Errorf("server sent %x, want %x", got, tt.reply)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("closed after %v", d)
			}
		})
	}
}

// TestSOCKS5Limits checks that MaxConns bounds concurrent clients: the
// next one is served only when one leaves.
func TestSOCKS5Limits(t *testing.T) {
	checkGoroutines(t)
	echo := tcpEcho(t)
	addr := startSOCKS(t, &SOCKS5{Network: newTestNet(), MaxConns: 1})
	first := dialSOCKS(t, addr)
	first.greet()
	second := dialSOCKS(t, addr)
	second.send(5, 1, 0)
	second.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := second.Read(make([]byte, 2)); err == nil {
		t.Fatal("second client served while the first holds the only slot")
	}
	first.Close()
	second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got := second.read(2); got[1] != 0 {
		t.Fatalf("method %x", got)
	}
	if rep, _ := second.request(cmdConnect, echo.Addr().String(), echo.Port()); rep != ReplySucceeded {
		t.Fatalf("reply %#x", rep)
	}
}

// udpDatagram builds a SOCKS UDP request datagram.
func udpDatagram(frag byte, host string, port uint16, payload []byte) []byte {
	b := append([]byte{0, 0, frag}, socksAddr(host, port)...)
	return append(b, payload...)
}

func readDatagram(t *testing.T, pc *net.UDPConn) (from netip.AddrPort, payload []byte) {
	t.Helper()
	buf := make([]byte, 65535)
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := pc.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no datagram from the relay: %v", err)
	}
	host, port, p, err := parseUDPHeader(buf[:n])
	if err != nil {
		t.Fatalf("relay's datagram: %v", err)
	}
	return netip.AddrPortFrom(netip.MustParseAddr(host), port), p
}

func expectNoDatagram(t *testing.T, pc *net.UDPConn) {
	t.Helper()
	pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, 100)
	if n, _, err := pc.ReadFromUDPAddrPort(buf); err == nil {
		t.Fatalf("unexpected datagram %x", buf[:n])
	}
}

func TestSOCKS5UDPAssociate(t *testing.T) {
	checkGoroutines(t)
	echo := udpEcho(t)
	tn := newTestNet()
	tn.hosts["udpecho.test"] = []string{echo.Addr().String()}
	addr := startSOCKS(t, &SOCKS5{Network: tn})

	ctl := dialSOCKS(t, addr)
	ctl.greet()
	rep, relay := ctl.request(cmdUDPAssociate, "0.0.0.0", 0)
	if rep != ReplySucceeded {
		t.Fatalf("reply %#x", rep)
	}
	if relay.Addr() != netip.MustParseAddr("127.0.0.1") || relay.Port() == 0 {
		t.Fatalf("relay address %v, want on 127.0.0.1 like the listener", relay)
	}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()

	for i, host := range []string{echo.Addr().String(), "udpecho.test"} {
		msg := []byte("datagram " + strconv.Itoa(i))
		pc.WriteToUDPAddrPort(udpDatagram(0, host, echo.Port(), msg), relay)
		from, got := readDatagram(t, pc)
		if from != echo || !bytes.Equal(got, msg) {
			t.Fatalf("to %s: got %q from %v, want %q from %v", host, got, from, msg, echo)
		}
	}
	// A large datagram is relayed whole.
	big := bytes.Repeat([]byte{0xa5}, 60000)
	pc.WriteToUDPAddrPort(udpDatagram(0, echo.Addr().String(), echo.Port(), big), relay)
	if _, got := readDatagram(t, pc); !bytes.Equal(got, big) {
		t.Fatalf("large datagram: got %d bytes", len(got))
	}

	// Fragments, garbage and unresolvable names are dropped...
	pc.WriteToUDPAddrPort(udpDatagram(1, echo.Addr().String(), echo.Port(), []byte("frag")), relay)
	pc.WriteToUDPAddrPort([]byte{0, 0}, relay)
	pc.WriteToUDPAddrPort([]byte{0, 0, 0, 9, 1, 2}, relay)
	pc.WriteToUDPAddrPort(udpDatagram(0, "unknown.test", echo.Port(), []byte("x")), relay)
	expectNoDatagram(t, pc)

	// ...as are datagrams from another port than the client's first one.
	other, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.WriteToUDPAddrPort(udpDatagram(0, echo.Addr().String(), echo.Port(), []byte("intruder")), relay)
	expectNoDatagram(t, other)
	expectNoDatagram(t, pc)

	// The association still works, and ends with the control connection:
	// the relay's port is then free again.
	pc.WriteToUDPAddrPort(udpDatagram(0, echo.Addr().String(), echo.Port(), []byte("still")), relay)
	if _, got := readDatagram(t, pc); string(got) != "still" {
		t.Fatalf("got %q", got)
	}
	ctl.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(relay))
		if err == nil {
			l.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay socket still open after the control connection closed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSOCKS5UDPClientPort checks that a client naming its source port in
// the request is held to it.
func TestSOCKS5UDPClientPort(t *testing.T) {
	checkGoroutines(t)
	echo := udpEcho(t)
	addr := startSOCKS(t, &SOCKS5{Network: newTestNet()})
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	stranger, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()

	ctl := dialSOCKS(t, addr)
	ctl.greet()
	me := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	rep, relay := ctl.request(cmdUDPAssociate, me.Addr().String(), me.Port())
	if rep != ReplySucceeded {
		t.Fatalf("reply %#x", rep)
	}
	// The stranger comes first but is not the declared port.
	stranger.WriteToUDPAddrPort(udpDatagram(0, echo.Addr().String(), echo.Port(), []byte("no")), relay)
	expectNoDatagram(t, stranger)
	pc.WriteToUDPAddrPort(udpDatagram(0, echo.Addr().String(), echo.Port(), []byte("yes")), relay)
	if _, got := readDatagram(t, pc); string(got) != "yes" {
		t.Fatalf("got %q", got)
	}
}

// TestSOCKS5Shutdown cancels the server with a relay, an association and a
// handshake in progress: all must end at once.
func TestSOCKS5Shutdown(t *testing.T) {
	checkGoroutines(t)
	echo := tcpEcho(t)
	tn := newTestNet()
	tn.block = "192.0.2.7:80"
	addr, stop := serveInBackground(t, (&SOCKS5{Network: tn}).Serve)

	relaying := dialSOCKS(t, addr)
	relaying.greet()
	if rep, _ := relaying.request(cmdConnect, echo.Addr().String(), echo.Port()); rep != ReplySucceeded {
		t.Fatalf("reply %#x", rep)
	}
	assoc := dialSOCKS(t, addr)
	assoc.greet()
	if rep, _ := assoc.request(cmdUDPAssociate, "0.0.0.0", 0); rep != ReplySucceeded {
		t.Fatalf("reply %#x", rep)
	}
	dialing := dialSOCKS(t, addr)
	dialing.greet()
	dialing.send(append([]byte{5, cmdConnect, 0}, socksAddr("192.0.2.7", 80)...)...)
	handshaking := dialSOCKS(t, addr)
	handshaking.send(5)
	time.Sleep(50 * time.Millisecond) // let the server reach each state

	start := time.Now()
	stop()
	if d := time.Since(start); d > time.Second {
		t.Errorf("shutdown took %v", d)
	}
	for _, c := range []*socksClient{relaying, assoc, dialing, handshaking} {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadAll(c); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("connection still open after shutdown")
			}
		}
	}
}

// TestSOCKS5WithNetHTTP uses net/http's own SOCKS5 client, which sends
// domain names for the proxy to resolve.
func TestSOCKS5WithNetHTTP(t *testing.T) {
	checkGoroutines(t)
	web := webServer(t)
	tn := newTestNet()
	tn.hosts["web.test"] = []string{web.Addr().String()}
	addr := startSOCKS(t, &SOCKS5{Network: tn, Auth: StaticCredentials("u", "p")})
	client := proxiedClient(t, "socks5://u:p@"+addr)
	body := get(t, client, "http://web.test:"+strconv.Itoa(int(web.Port()))+"/hello")
	if body != "hello from /hello" {
		t.Fatalf("body %q", body)
	}
}

// FuzzSOCKS5Handshake feeds arbitrary client bytes to the server: it must
// not panic, and must finish with the input.
func FuzzSOCKS5Handshake(f *testing.F) {
	f.Add([]byte{5, 1, 0, 5, 1, 0, 1, 192, 0, 2, 1, 0, 80})
	f.Add([]byte{5, 1, 0, 5, 1, 0, 3, 4, 'a', '.', 'b', 'c', 0, 80})
	f.Add([]byte{5, 1, 0, 5, 3, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{5, 2, 0, 2, 1, 1, 'u', 1, 'p', 5, 2, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{5, 255})
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, auth := range []func(string, string) bool{nil, StaticCredentials("u", "p")} {
			s := &SOCKS5{Network: failingNet{}, Auth: auth, HandshakeTimeout: time.Second}
			client, server := net.Pipe()
			done := make(chan struct{})
			go func() {
				defer close(done)
				s.handle(context.Background(), server)
				server.Close()
			}()
			go io.Copy(io.Discard, client)
			// net.Pipe is synchronous: once Write returns, the server has
			// read everything (or closed), and closing is the client's EOF.
			client.Write(in)
			client.Close()
			<-done
		}
	})
}

// failingNet fails everything, so fuzzing never touches a real network.
type failingNet struct{}

func (failingNet) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, syscall.ECONNREFUSED
}

func (failingNet) ListenPacket(context.Context, string, string) (net.PacketConn, error) {
	return nil, syscall.EACCES
}

func (failingNet) LookupHost(_ context.Context, host string) ([]string, error) {
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func FuzzParseUDPHeader(f *testing.F) {
	f.Add(udpDatagram(0, "192.0.2.1", 53, []byte("q")))
	f.Add(udpDatagram(0, "example.com", 53, nil))
	f.Add(udpDatagram(0, "2001:db8::1", 53, []byte("q")))
	f.Add([]byte{0, 0, 0, 3, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		host, port, payload, err := parseUDPHeader(b)
		if err != nil {
			return
		}
		// What parses must re-encode to the same bytes, but for RSV,
		// which is ignored.
		var hdr []byte
		switch b[3] {
		case atypDomain:
			hdr = append([]byte{0, 0, 0, atypDomain, byte(len(host))}, host...)
			hdr = binary.BigEndian.AppendUint16(hdr, port)
		case atypIPv4, atypIPv6:
			ip := netip.MustParseAddr(host)
			if ip.Is4() && b[3] == atypIPv6 {
				return // IPv4-mapped IPv6 comes back as IPv4, on purpose
			}
			hdr = appendUDPHeader(nil, netip.AddrPortFrom(ip, port))
		default:
			t.Fatalf("address type %d accepted", b[3])
		}
		if !bytes.Equal(append(hdr, payload...)[2:], b[2:]) {
			t.Fatalf("%x parsed as %q:%d + %x", b, host, port, payload)
		}
	})
}
