package radius

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2869"
)

// testSecret is the shared secret of the fake servers.
const testSecret = "s3cr3t"

// quietLog discards log output.
func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// received is one datagram a fakeServer got.
type received struct {
	raw []byte
	pkt *radius.Packet
	at  time.Time
}

// fakeServer is a RADIUS server on loopback whose answers the test
// decides: handle returns the datagrams to send back (none: stay silent).
type fakeServer struct {
	conn   *net.UDPConn
	handle func(req *radius.Packet, raw []byte) [][]byte

	mu   sync.Mutex
	reqs []received
}

// newFakeServer starts a fake server; handle may be nil for a server that
// never answers (but reads, so that no ICMP error comes back).
func newFakeServer(t *testing.T, handle func(req *radius.Packet, raw []byte) [][]byte) *fakeServer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{conn: conn, handle: handle}
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, src, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			raw := append([]byte(nil), buf[:n]...)
			p, err := radius.Parse(raw, []byte(testSecret))
			if err != nil {
				continue
			}
			f.mu.Lock()
			f.reqs = append(f.reqs, received{raw: raw, pkt: p, at: time.Now()})
			f.mu.Unlock()
			if f.handle == nil {
				continue
			}
			for _, out := range f.handle(p, raw) {
				conn.WriteToUDPAddrPort(out, src)
			}
		}
	}()
	return f
}

// addr is the server's "host:port".
func (f *fakeServer) addr() string { return f.conn.LocalAddr().String() }

// requests returns what the server received so far.
func (f *fakeServer) requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.reqs...)
}

// answer encodes a reply of the given code to req with attrs, signed with
// a Message-Authenticator when withMA.
func answer(t testing.TB, req *radius.Packet, code radius.Code, withMA bool, attrs ...*radius.AVP) []byte {
	p := req.Response(code)
	p.Secret = []byte(testSecret)
	for _, a := range attrs {
		p.Add(a.Type, a.Attribute)
	}
	if withMA {
		p.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 16))
		b, err := encodeSigned(p, req.Authenticator)
		if err != nil {
			t.Error(err)
		}
		return b
	}
	b, err := p.Encode()
	if err != nil {
		t.Error(err)
	}
	return b
}

// avp makes an attribute.
func avp(typ radius.Type, v []byte) *radius.AVP { return &radius.AVP{Type: typ, Attribute: v} }

// msAVP makes a Microsoft Vendor-Specific attribute.
func msAVP(typ byte, v []byte) *radius.AVP {
	a := append([]byte{0, 0, 1, 55, typ, byte(2 + len(v))}, v...)
	return &radius.AVP{Type: 26, Attribute: a}
}

// testClient makes a client of the given servers with short timings.
func testClient(t *testing.T, auth []string, acct []string, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{Timeout: 300 * time.Millisecond, Retries: 1, MaxWait: 5 * time.Second, NASIdentifier: "test-nas", Log: quietLog()}
	for _, a := range auth {
		cfg.AuthServers = append(cfg.AuthServers, Server{Addr: a, Secret: testSecret})
	}
	for _, a := range acct {
		cfg.AcctServers = append(cfg.AcctServers, Server{Addr: a, Secret: testSecret})
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// hmacMD5 is HMAC-MD5, written out for the independent Message-Authenticator
// checks of the tests.
func hmacMD5(key, msg []byte) []byte {
	m := hmac.New(md5.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// rfc2548Encrypt encrypts a key the way RFC 2548 section 2.4.2 describes,
// step by step as the RFC words it, independently of decryptSalted: P is
// the key length byte, the key and zero padding to a multiple of 16;
// b(1) = MD5(S + R + A), c(1) = p(1) xor b(1), b(i) = MD5(S + c(i-1)).
func rfc2548Encrypt(key, secret []byte, reqAuth [16]byte, salt [2]byte) []byte {
	p := append([]byte{byte(len(key))}, key...)
	for len(p)%16 != 0 {
		p = append(p, 0)
	}
	out := append([]byte(nil), salt[:]...)
	prev := append(append(append([]byte(nil), secret...), reqAuth[:]...), salt[:]...)
	for i := 0; i < len(p); i += 16 {
		b := md5.Sum(prev)
		c := make([]byte, 16)
		for j := range c {
			c[j] = p[i+j] ^ b[j]
		}
		out = append(out, c...)
		prev = append(append([]byte(nil), secret...), c...)
	}
	return out
}

// rfc2865Hide hides a value as RFC 2865 section 5.2 does for User-Password
// (and RFC 2548 section 2.4.1 for MS-CHAP-MPPE-Keys), padding with zeros.
func rfc2865Hide(v, secret []byte, reqAuth [16]byte) []byte {
	p := append([]byte(nil), v...)
	for len(p) == 0 || len(p)%16 != 0 {
		p = append(p, 0)
	}
	var out []byte
	prev := reqAuth[:]
	for i := 0; i < len(p); i += 16 {
		b := md5.Sum(append(append([]byte(nil), secret...), prev...))
		c := make([]byte, 16)
		for j := range c {
			c[j] = p[i+j] ^ b[j]
		}
		out = append(out, c...)
		prev = c
	}
	return out
}

// ctxT returns a context ending with the test (or after d).
func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// loopback is 127.0.0.1.
var loopback = netip.MustParseAddr("127.0.0.1")
