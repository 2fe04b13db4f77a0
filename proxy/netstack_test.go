package proxy

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.zx2c4.com/wireguard/tun"
	"golang.zx2c4.com/wireguard/tun/netstack"
)

var (
	stackA = netip.MustParseAddr("10.8.0.1")
	stackB = netip.MustParseAddr("10.8.0.2")
)

const testMTU = 1400

// pump copies packets from src to dst until src is closed.
func pump(src, dst tun.Device, wg *sync.WaitGroup) {
	defer wg.Done()
	bufs := [][]byte{make([]byte, 65536)}
	sizes := make([]int, 1)
	for {
		n, err := src.Read(bufs, sizes, 0)
		if err != nil {
			return
		}
		for i := range n {
			dst.Write([][]byte{bufs[i][:sizes[i]]}, 0)
		}
	}
}

// lan is two user-space stacks joined by a packet pump: A (10.8.0.1,
// using B as its DNS server) plays the client's end of the tunnel, B
// (10.8.0.2) a host on the remote network with a web server, a UDP echo
// (port 7) and a DNS server.
type lan struct {
	a        Netstack
	netB     *netstack.Net
	big      []byte // served at /big
	dnsQuery atomic.Int32
}

func newLAN(t *testing.T) *lan {
	t.Helper()
	// A goes through a DeferredDevice, attached after the fact, as the
	// client will do when IPCP comes up.
	deferred := NewDeferredDevice(testMTU)
	devA, a, err := NewNetstack(stackA, []netip.Addr{stackB}, testMTU)
	if err != nil {
		t.Fatal(err)
	}
	devB, netB, err := netstack.CreateNetTUN([]netip.Addr{stackB}, nil, testMTU)
	if err != nil {
		t.Fatal(err)
	}
	var pumps sync.WaitGroup
	pumps.Add(2)
	go pump(deferred, devB, &pumps)
	go pump(devB, deferred, &pumps)
	if err := deferred.Attach(devA); err != nil {
		t.Fatal(err)
	}
	l := &lan{a: a, netB: netB}

	l.big = make([]byte, 20<<20)
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	rng.Read(l.big)

	var servers sync.WaitGroup

	ln, err := netB.ListenTCPAddrPort(netip.AddrPortFrom(stackB, 80))
	if err != nil {
		t.Fatal(err)
	}
	web := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Header().Set("Content-Length", strconv.Itoa(len(l.big)))
			w.Write(l.big)
		default:
			fmt.Fprintf(w, "hello from %v%s", stackB, r.URL.Path)
		}
	})}
	servers.Add(1)
	go func() {
		defer servers.Done()
		web.Serve(ln)
	}()

	echo, err := netB.ListenUDPAddrPort(netip.AddrPortFrom(stackB, 7))
	if err != nil {
		t.Fatal(err)
	}
	servers.Add(1)
	go func() {
		defer servers.Done()
		buf := make([]byte, 65535)
		for {
			n, from, err := echo.ReadFrom(buf)
			if err != nil {
				return
			}
			echo.WriteTo(buf[:n], from)
		}
	}()

	dns, err := netB.ListenUDPAddrPort(netip.AddrPortFrom(stackB, 53))
	if err != nil {
		t.Fatal(err)
	}
	servers.Add(1)
	go func() {
		defer servers.Done()
		l.serveDNS(dns)
	}()

	t.Cleanup(func() {
		web.Close()
		echo.Close()
		dns.Close()
		servers.Wait()
		deferred.Close()
		devB.Close()
		pumps.Wait()
	})
	return l
}

// serveDNS answers A queries for lan.example with 10.8.0.2 and everything
// else with NXDOMAIN.
func (l *lan) serveDNS(pc net.PacketConn) {
	buf := make([]byte, 512)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		q, err := p.Question()
		if err != nil {
			continue
		}
		l.dnsQuery.Add(1)
		resp := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
		resp.EnableCompression()
		resp.StartQuestions()
		resp.Question(q)
		resp.StartAnswers()
		if q.Name.String() == "lan.example." && q.Type == dnsmessage.TypeA {
			resp.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60},
				dnsmessage.AResource{A: stackB.As4()})
		} else {
			resp = dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RCode: dnsmessage.RCodeNameError})
			resp.StartQuestions()
			resp.Question(q)
		}
		b, err := resp.Finish()
		if err != nil {
			continue
		}
		pc.WriteTo(b, from)
	}
}

// download fetches /big from B by name and checks it byte for byte.
func (l *lan) download(t *testing.T, client *http.Client, via string) {
	t.Helper()
	start := time.Now()
	resp, err := client.Get("http://lan.example/big")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		t.Fatalf("after %d bytes: %v", n, err)
	}
	d := time.Since(start)
	if want := sha256.Sum256(l.big); n != int64(len(l.big)) || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("got %d bytes with SHA-256 %x, want %d bytes with %x", n, h.Sum(nil), len(l.big), want)
	}
	t.Logf("20 MiB through %s and two user-space stacks in %v: %.1f MB/s", via, d.Round(time.Millisecond), float64(n)/d.Seconds()/1e6)
}

// TestNetstackEndToEnd runs the proxies on stack A's Network, as the
// rootless client will, and reaches stack B's services by name.
func TestNetstackEndToEnd(t *testing.T) {
	checkGoroutines(t)
	l := newLAN(t)
	socksAddr := startSOCKS(t, &SOCKS5{Network: l.a})
	httpAddr := startHTTPProxy(t, &HTTPProxy{Network: l.a})

	t.Run("SOCKS5 GET by name", func(t *testing.T) {
		before := l.dnsQuery.Load()
		client := proxiedClient(t, "socks5://"+socksAddr)
		if body := get(t, client, "http://lan.example/"); body != "hello from 10.8.0.2/" {
			t.Fatalf("body %q", body)
		}
		if l.dnsQuery.Load() == before {
			t.Fatal("lan.example was not resolved by stack B's DNS server")
		}
	})

	t.Run("SOCKS5 20 MiB", func(t *testing.T) {
		l.download(t, proxiedClient(t, "socks5://"+socksAddr), "SOCKS5")
	})

	t.Run("HTTP proxy 20 MiB", func(t *testing.T) {
		if raceEnabled {
			t.Skip("one 20 MiB transfer is enough under the race detector")
		}
		l.download(t, proxiedClient(t, "http://"+httpAddr), "the HTTP proxy")
	})

	t.Run("HTTP proxy GET by name", func(t *testing.T) {
		client := proxiedClient(t, "http://"+httpAddr)
		if body := get(t, client, "http://lan.example/via-http-proxy"); body != "hello from 10.8.0.2/via-http-proxy" {
			t.Fatalf("body %q", body)
		}
	})

	t.Run("HTTP CONNECT by name", func(t *testing.T) {
		c, br, resp := connectVia(t, httpAddr, "lan.example:80", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("CONNECT: %s", resp.Status)
		}
		io.WriteString(c, "GET /tunnelled HTTP/1.1\r\nHost: lan.example\r\nConnection: close\r\n\r\n")
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		if string(b) != "hello from 10.8.0.2/tunnelled" {
			t.Fatalf("body %q", b)
		}
	})

	t.Run("SOCKS5 errors", func(t *testing.T) {
		for _, tt := range []struct {
			host string
			port uint16
			want byte
		}{
			{"nothing.example", 80, ReplyHostUnreachable}, // NXDOMAIN from B
			{"10.8.0.2", 81, ReplyConnectionRefused},      // B's RST
		} {
			c := dialSOCKS(t, socksAddr)
			c.greet()
			if rep, _ := c.request(cmdConnect, tt.host, tt.port); rep != tt.want {
				t.Errorf("%s:%d: reply %#x, want %#x", tt.host, tt.port, rep, tt.want)
			}
		}
	})

	t.Run("UDP ASSOCIATE", func(t *testing.T) {
		ctl := dialSOCKS(t, socksAddr)
		ctl.greet()
		rep, relay := ctl.request(cmdUDPAssociate, "0.0.0.0", 0)
		if rep != ReplySucceeded {
			t.Fatalf("reply %#x", rep)
		}
		pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		for _, host := range []string{"lan.example", "10.8.0.2"} {
			msg := []byte("udp to " + host)
			pc.WriteToUDPAddrPort(udpDatagram(0, host, 7, msg), relay)
			from, got := readDatagram(t, pc)
			if from != netip.AddrPortFrom(stackB, 7) || !bytes.Equal(got, msg) {
				t.Fatalf("got %q from %v", got, from)
			}
		}
		// DNS itself, through the association, straight to B's server.
		q := dnsQuery(t, "lan.example.")
		pc.WriteToUDPAddrPort(udpDatagram(0, "10.8.0.2", 53, q), relay)
		_, ans := readDatagram(t, pc)
		if ip := firstA(t, ans); ip != stackB {
			t.Fatalf("A record %v", ip)
		}
	})
}

func dnsQuery(t *testing.T, name string) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 0x1234, RecursionDesired: true})
	b.StartQuestions()
	b.Question(dnsmessage.Question{Name: dnsmessage.MustNewName(name), Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET})
	q, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func firstA(t *testing.T, msg []byte) netip.Addr {
	t.Helper()
	var p dnsmessage.Parser
	if _, err := p.Start(msg); err != nil {
		t.Fatal(err)
	}
	p.SkipAllQuestions()
	for {
		h, err := p.AnswerHeader()
		if err != nil {
			t.Fatalf("no A record: %v", err)
		}
		if h.Type == dnsmessage.TypeA {
			a, err := p.AResource()
			if err != nil {
				t.Fatal(err)
			}
			return netip.AddrFrom4(a.A)
		}
		p.SkipAnswer()
	}
}

// TestNetstackErrno checks the translation of gVisor's error texts.
func TestNetstackErrno(t *testing.T) {
	op := &net.OpError{Op: "connect", Net: "tcp", Err: errors.New("connection was refused")}
	if err := errnoFromNetstack(op); !errors.Is(err, syscall.ECONNREFUSED) || replyFor(err) != ReplyConnectionRefused {
		t.Errorf("%v is not ECONNREFUSED", err)
	}
	if op.Err.Error() != "connection was refused" {
		t.Error("the original error was modified")
	}
	other := errors.New("something else")
	if errnoFromNetstack(other) != other {
		t.Error("unknown error changed")
	}
}
