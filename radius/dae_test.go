package radius

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/rfc3576"
)

// fakeSessions records what the DAE listener asks of the server and
// matches against a fixed list of sessions.
type fakeSessions struct {
	mu       sync.Mutex
	sessions []Record
	calls    []string
	matches  []Match
	timeouts []time.Duration
	err      error
}

func (f *fakeSessions) count(m Match) int {
	n := 0
	for i := range f.sessions {
		if m.Matches(&f.sessions[i]) {
			n++
		}
	}
	return n
}

func (f *fakeSessions) Disconnect(m Match) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "disconnect")
	f.matches = append(f.matches, m)
	if f.err != nil {
		return 0, f.err
	}
	n := 0
	kept := f.sessions[:0]
	for _, s := range f.sessions {
		if m.Matches(&s) {
			n++
		} else {
			kept = append(kept, s)
		}
	}
	f.sessions = kept
	return n, nil
}

func (f *fakeSessions) SetSessionTimeout(m Match, d time.Duration) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "coa")
	f.matches = append(f.matches, m)
	f.timeouts = append(f.timeouts, d)
	if f.err != nil {
		return 0, f.err
	}
	return f.count(m), nil
}

func (f *fakeSessions) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeSessions) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *fakeSessions) last() (string, Match) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return "", Match{}
	}
	return f.calls[len(f.calls)-1], f.matches[len(f.matches)-1]
}

func aliceSession() Record {
	return Record{SessionID: "S-alice", User: "alice", Addr: netip.MustParseAddr("10.0.0.2"),
		Peer: netip.MustParseAddr("::ffff:192.0.2.10"), NASPort: 17, HasNASPort: true}
}

// newTestDAE runs a DAE listener on loopback for the fake sessions.
func newTestDAE(t *testing.T, fs *fakeSessions, mod func(*Config)) *DAEServer {
	t.Helper()
	cfg := Config{
		AuthServers:   []Server{{Addr: "127.0.0.1:1812", Secret: testSecret}},
		NASIdentifier: "test-nas",
		DAE:           DAEConfig{Listen: "127.0.0.1:0"},
		Log:           quietLog(),
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ListenDAE(ctxT(t, 5*time.Second), c, fs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return d
}

// daeRequest encodes a Disconnect- or CoA-Request.
func daeRequest(t *testing.T, code radius.Code, secret string, withMA bool, attrs ...*radius.AVP) []byte {
	t.Helper()
	p := radius.New(code, []byte(secret))
	for _, a := range attrs {
		p.Add(a.Type, a.Attribute)
	}
	if withMA {
		p.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 16))
		b, err := encodeSigned(p, [16]byte{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exchangeDAE sends b and returns the parsed answer, or nil after wait.
func exchangeDAE(t *testing.T, d *DAEServer, b []byte, wait time.Duration) *radius.Packet {
	t.Helper()
	conn := dialDAE(t, d)
	defer conn.Close()
	return exchangeOn(t, conn, b, wait)
}

func dialDAE(t *testing.T, d *DAEServer) *net.UDPConn {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(d.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// exchangeOn is exchangeDAE from a given socket.
func exchangeOn(t *testing.T, conn *net.UDPConn, b []byte, wait time.Duration) *radius.Packet {
	t.Helper()
	if _, err := conn.Write(b); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 4096)
	n, err := conn.Read(buf)
	if err != nil {
		return nil
	}
	if !radius.IsAuthenticResponse(buf[:n], b, []byte(testSecret)) {
		t.Fatal("answer with a wrong Response Authenticator")
	}
	if present, ok := checkMessageAuthenticator(buf[:n], []byte(testSecret), [16]byte(b[4:20])); present && !ok {
		t.Fatal("answer with a wrong Message-Authenticator")
	}
	p, err := radius.Parse(buf[:n], []byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	if p.Identifier != b[1] {
		t.Fatal("answer with another identifier")
	}
	return p
}

func errorCause(p *radius.Packet) uint32 {
	v, _ := radius.Integer(p.Get(rfc3576.ErrorCause_Type))
	return v
}

func TestDAEDisconnect(t *testing.T) {
	fs := &fakeSessions{sessions: []Record{aliceSession()}}
	d := newTestDAE(t, fs, nil)

	// No such session: NAK with Session-Context-Not-Found; Proxy-State
	// comes back.
	b := daeRequest(t, radius.CodeDisconnectRequest, testSecret, false,
		avp(rfc2866.AcctSessionID_Type, []byte("S-bob")), avp(rfc2865.ProxyState_Type, []byte("ps1")), avp(rfc2865.ProxyState_Type, []byte("ps2")))
	r := exchangeDAE(t, d, b, 2*time.Second)
	if r == nil || r.Code != radius.CodeDisconnectNAK || errorCause(r) != 503 {
		t.Fatalf("answer %+v", r)
	}
	var ps []string
	for _, a := range r.Attributes {
		if a.Type == rfc2865.ProxyState_Type {
			ps = append(ps, string(a.Attribute))
		}
	}
	if len(ps) != 2 || ps[0] != "ps1" || ps[1] != "ps2" {
		t.Errorf("Proxy-State %q", ps)
	}

	// Alice by every key at once, with a Message-Authenticator: ACK.
	b = daeRequest(t, radius.CodeDisconnectRequest, testSecret, true,
		avp(rfc2866.AcctSessionID_Type, []byte("S-alice")), avp(rfc2865.UserName_Type, []byte("alice")),
		avp(rfc2865.FramedIPAddress_Type, []byte{10, 0, 0, 2}), avp(rfc2865.CallingStationID_Type, []byte("192.0.2.10")),
		avp(rfc2865.NASPort_Type, radius.NewInteger(17)), avp(rfc2865.NASIdentifier_Type, []byte("test-nas")),
		avp(rfc2869.EventTimestamp_Type, radius.NewInteger(uint32(time.Now().Unix()))))
	conn := dialDAE(t, d)
	defer conn.Close()
	r = exchangeOn(t, conn, b, 2*time.Second)
	if r == nil || r.Code != radius.CodeDisconnectACK {
		t.Fatalf("answer %+v", r)
	}
	if r.Get(rfc2869.MessageAuthenticator_Type) == nil {
		t.Error("no Message-Authenticator in the answer to a request with one")
	}
	want := Match{SessionID: "S-alice", User: "alice", Addr: netip.MustParseAddr("10.0.0.2"), CallingStationID: "192.0.2.10", NASPort: 17, HasNASPort: true}
	if call, m := fs.last(); call != "disconnect" || m != want {
		t.Errorf("last call %s %+v", call, m)
	}

	// The same request again (a retransmission) gets the same ACK, though
	// the session is gone, without a second Disconnect.
	r = exchangeOn(t, conn, b, 2*time.Second)
	if r == nil || r.Code != radius.CodeDisconnectACK {
		t.Errorf("retransmission answered %+v", r)
	}
	if n := fs.callCount(); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
	if st := d.Stats(); st.Requests != 3 || st.Duplicates != 1 || st.ACKs != 1 || st.NAKs != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestDAENAKs(t *testing.T) {
	fs := &fakeSessions{sessions: []Record{aliceSession()}}
	d := newTestDAE(t, fs, func(c *Config) { c.NASIPAddress = netip.MustParseAddr("192.0.2.1") })
	for _, tc := range []struct {
		name  string
		code  radius.Code
		attrs []*radius.AVP
		want  radius.Code
		cause uint32
	}{
		{"no identification", radius.CodeDisconnectRequest, nil, radius.CodeDisconnectNAK, 402},
		{"other NAS", radius.CodeDisconnectRequest, []*radius.AVP{avp(rfc2865.UserName_Type, []byte("alice")), avp(rfc2865.NASIdentifier_Type, []byte("other"))}, radius.CodeDisconnectNAK, 403},
		{"NAS-IP-Address that is not ours", radius.CodeDisconnectRequest, []*radius.AVP{avp(rfc2865.UserName_Type, []byte("alice")), avp(rfc2865.NASIPAddress_Type, []byte{1, 2, 3, 4})}, radius.CodeDisconnectNAK, 403},
		{"unsupported attribute", radius.CodeDisconnectRequest, []*radius.AVP{avp(rfc2865.UserName_Type, []byte("alice")), avp(rfc2865.FilterID_Type, []byte("f"))}, radius.CodeDisconnectNAK, 401},
		{"Session-Timeout in a Disconnect", radius.CodeDisconnectRequest, []*radius.AVP{avp(rfc2865.UserName_Type, []byte("alice")), avp(rfc2865.SessionTimeout_Type, radius.NewInteger(5))}, radius.CodeDisconnectNAK, 401},
		{"CoA changing nothing", radius.CodeCoARequest, []*radius.AVP{avp(rfc2865.UserName_Type, []byte("alice"))}, radius.CodeCoANAK, 402},
		{"CoA for nobody", radius.CodeCoARequest, []*radius.AVP{avp(rfc2865.UserName_Type, []byte("bob")), avp(rfc2865.SessionTimeout_Type, radius.NewInteger(5))}, radius.CodeCoANAK, 503},
		{"CoA with Idle-Timeout", radius.CodeCoARequest, []*radius.AVP{avp(rfc2865.UserName_Type, []byte("alice")), avp(rfc2865.IdleTimeout_Type, radius.NewInteger(5))}, radius.CodeCoANAK, 401},
	} {
		r := exchangeDAE(t, d, daeRequest(t, tc.code, testSecret, false, tc.attrs...), 2*time.Second)
		if r == nil || r.Code != tc.want || errorCause(r) != tc.cause {
			t.Errorf("%s: answer %+v, want %v with Error-Cause %d", tc.name, r, tc.want, tc.cause)
		}
	}
	if n := fs.callCount(); n != 1 { // only "CoA for nobody" got as far as the server
		t.Errorf("%d calls, want 1", n)
	}

	fs.setErr(errors.New("boom"))
	r := exchangeDAE(t, d, daeRequest(t, radius.CodeDisconnectRequest, testSecret, false, avp(rfc2865.UserName_Type, []byte("alice"))), 2*time.Second)
	if r == nil || r.Code != radius.CodeDisconnectNAK || errorCause(r) != 504 {
		t.Errorf("failing Disconnect answered %+v", r)
	}
}

func TestDAECoA(t *testing.T) {
	fs := &fakeSessions{sessions: []Record{aliceSession(), {SessionID: "S2", User: "alice"}}}
	d := newTestDAE(t, fs, nil)
	r := exchangeDAE(t, d, daeRequest(t, radius.CodeCoARequest, testSecret, false,
		avp(rfc2865.UserName_Type, []byte("alice")), avp(rfc2865.SessionTimeout_Type, radius.NewInteger(120))), 2*time.Second)
	if r == nil || r.Code != radius.CodeCoAACK {
		t.Fatalf("answer %+v", r)
	}
	call, m := fs.last()
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if call != "coa" || m != (Match{User: "alice"}) || fs.timeouts[0] != 2*time.Minute {
		t.Errorf("call %s %+v %v", call, m, fs.timeouts)
	}
}

func TestDAEDrops(t *testing.T) {
	fs := &fakeSessions{sessions: []Record{aliceSession()}}
	d := newTestDAE(t, fs, nil)
	user := avp(rfc2865.UserName_Type, []byte("alice"))
	wrongMA := daeRequest(t, radius.CodeDisconnectRequest, testSecret, true, user)
	wrongMA[len(wrongMA)-1] ^= 1 // the last attribute is the Message-Authenticator
	p := radius.New(radius.CodeDisconnectRequest, []byte(testSecret))
	p.Add(user.Type, user.Attribute)
	p.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 16)) // zeros: wrong, but the Request Authenticator covers it
	forged, _ := p.Encode()
	lengthBeyond := daeRequest(t, radius.CodeDisconnectRequest, testSecret, false, user)
	lengthBeyond[2], lengthBeyond[3] = 0x0f, 0xff
	for name, b := range map[string][]byte{
		"wrong secret":  daeRequest(t, radius.CodeDisconnectRequest, "other", false, user),
		"wrong MA":      wrongMA,
		"forged MA":     forged,
		"stale":         daeRequest(t, radius.CodeDisconnectRequest, testSecret, false, user, avp(rfc2869.EventTimestamp_Type, radius.NewInteger(uint32(time.Now().Add(-time.Hour).Unix())))),
		"access":        daeRequest(t, radius.CodeAccountingRequest, testSecret, false, user),
		"short":         {40, 1, 0, 20},
		"length beyond": lengthBeyond,
	} {
		if r := exchangeDAE(t, d, b, 150*time.Millisecond); r != nil {
			t.Errorf("%s: answered %+v", name, r)
		}
	}
	if n := fs.callCount(); n != 0 {
		t.Errorf("sessions called %d times", n)
	}
	if st := d.Stats(); st.Dropped != 7 || st.Requests != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestDAEClients(t *testing.T) {
	fs := &fakeSessions{sessions: []Record{aliceSession()}}
	// Only 192.0.2.0/24 may ask: loopback is turned away.
	d := newTestDAE(t, fs, func(c *Config) { c.DAE.Clients = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")} })
	if r := exchangeDAE(t, d, daeRequest(t, radius.CodeDisconnectRequest, testSecret, false, avp(rfc2865.UserName_Type, []byte("alice"))), 300*time.Millisecond); r != nil {
		t.Errorf("request from a stranger answered: %+v", r)
	}
	// By default the RADIUS servers' hosts may ask (here 127.0.0.1).
	d = newTestDAE(t, fs, nil)
	if r := exchangeDAE(t, d, daeRequest(t, radius.CodeDisconnectRequest, testSecret, false, avp(rfc2865.UserName_Type, []byte("alice"))), 2*time.Second); r == nil {
		t.Error("request from the RADIUS server's host not answered")
	}
	d = newTestDAE(t, fs, func(c *Config) { c.AuthServers[0].Addr = "192.0.2.1:1812" })
	if r := exchangeDAE(t, d, daeRequest(t, radius.CodeDisconnectRequest, testSecret, false, avp(rfc2865.UserName_Type, []byte("alice"))), 300*time.Millisecond); r != nil {
		t.Error("request from a host that is no RADIUS server answered")
	}
}

func TestMatch(t *testing.T) {
	rec := aliceSession()
	for _, tc := range []struct {
		m    Match
		want bool
	}{
		{Match{}, false},
		{Match{User: "alice"}, true},
		{Match{User: "alice", SessionID: "other"}, false},
		{Match{CallingStationID: "192.0.2.10"}, true},
		{Match{Addr: netip.MustParseAddr("10.0.0.2"), NASPort: 17, HasNASPort: true}, true},
		{Match{NASPort: 18, HasNASPort: true}, false},
	} {
		if got := tc.m.Matches(&rec); got != tc.want {
			t.Errorf("%+v.Matches = %v", tc.m, got)
		}
	}
}
