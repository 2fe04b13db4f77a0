package radius

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopptp/gopptp/internal/freeradius"
	"github.com/gopptp/gopptp/mppe"
	"github.com/gopptp/gopptp/mschap"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/auth"
	"github.com/gopptp/gopptp/ppp/ccp"
)

// The FreeRADIUS tests need Debian's freeradius (and radclient from
// freeradius-utils for the DAE test). Without them they are skipped,
// unless GOPPTP_REQUIRE_TOOLS is set or GOPPTP_RADIUS=1 (see
// internal/freeradius).

const frSecret = "fr-test-secret"

// frUsers is the users file: alice for every method, bob with attributes,
// carol with a Service-Type a PPP server must refuse. bob's Encryption-Types
// is numeric: FreeRADIUS's dictionary names 2 "RC4-128bit-Allowed", while
// RFC 2548 (and pppd, and FreeRADIUS's own mschap module) use 2 for 40-bit
// and 4 for 128-bit keys.
const frUsers = `alice	Cleartext-Password := "alice-pw"

bob	Cleartext-Password := "bob-pw"
	Framed-IP-Address = 10.9.8.7,
	Session-Timeout = 3600,
	Idle-Timeout = 600,
	Framed-Pool = "bobs",
	Class = "bob-class",
	Acct-Interim-Interval = 30,
	MS-MPPE-Encryption-Policy = Encryption-Required,
	MS-MPPE-Encryption-Types = 4

carol	Cleartext-Password := "carol-pw"
	Service-Type = Login-User
`

// startFreeRADIUS runs FreeRADIUS with frUsers on loopback; see
// internal/freeradius.
func startFreeRADIUS(t *testing.T) *freeradius.Server {
	t.Helper()
	return freeradius.Start(t, freeradius.Options{Users: frUsers, Secret: frSecret})
}

// frClient returns a Client of fr; mod may change the configuration,
// for example put extra servers first.
func frClient(t *testing.T, fr *freeradius.Server, mod func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		AuthServers:                 []Server{{Addr: fr.AuthAddr(), Secret: frSecret}},
		AcctServers:                 []Server{{Addr: fr.AcctAddr(), Secret: frSecret}},
		Timeout:                     2 * time.Second,
		Retries:                     1,
		MaxWait:                     10 * time.Second,
		RequireMessageAuthenticator: true,
		NASIdentifier:               "gopptp-test",
		CalledStationID:             "127.0.0.1",
		Log:                         quietLog(),
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

// nopTimer is a ppp.Timer that never fires: the exchanges below finish
// long before any PPP timeout.
type nopTimer struct{}

func (nopTimer) Start(time.Duration) {}
func (nopTimer) Stop()               {}

// pppLogin runs the PPP authentication of one link in memory: auth.Server
// with the RADIUS verifier against auth.Client with the given password,
// as the session code drives them.
func pppLogin(t *testing.T, v auth.Verifier, m ppp.AuthMethod, user, password string) (*auth.Result, *auth.ClientResult) {
	t.Helper()
	type verdict struct {
		res *auth.Result
		err error
	}
	verdicts := make(chan verdict, 1)
	var toServer, toClient []ppp.Packet
	var srvRes *auth.Result
	var cliRes *auth.ClientResult
	srv := auth.NewServer(m, "gopptp", func(p ppp.Packet) { toClient = append(toClient, p) }, nopTimer{}, auth.ServerHooks{
		Verify: func(req *auth.Request) {
			req.Peer = netip.MustParseAddr("192.0.2.10")
			go func() {
				res, err := v.Verify(context.Background(), req)
				verdicts <- verdict{res, err}
			}()
		},
		Done: func(res *auth.Result) { srvRes = res },
	})
	srv.SetRetries(0)
	cli := auth.NewClient(m, user, password, func(p ppp.Packet) { toServer = append(toServer, p) }, nopTimer{},
		func(r auth.ClientResult) { cliRes = &r })
	srv.Start()
	cli.Start()
	deadline := time.After(10 * time.Second)
	for srvRes == nil || cliRes == nil {
		switch {
		case len(toServer) > 0:
			p := toServer[0]
			toServer = toServer[1:]
			srv.Input(p)
		case len(toClient) > 0:
			p := toClient[0]
			toClient = toClient[1:]
			cli.Input(p)
		default:
			select {
			case vd := <-verdicts:
				srv.Complete(vd.res, vd.err)
			case <-deadline:
				t.Fatalf("%v login of %s stuck (server %+v, client %+v)", m, user, srvRes, cliRes)
			}
		}
	}
	return srvRes, cliRes
}

// checkMPPE runs MPPE both ways with the keys of both ends.
func checkMPPE(t *testing.T, srv *auth.Result, cli *auth.ClientResult) {
	t.Helper()
	o := mppe.Options{KeyBits: 128, Stateless: true}
	for _, dir := range []struct {
		name      string
		send, rcv [16]byte
	}{{"server to client", srv.SendKey, cli.RecvKey}, {"client to server", cli.SendKey, srv.RecvKey}} {
		enc, err := mppe.NewEncrypter(dir.send, o)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := mppe.NewDecrypter(dir.rcv, o)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			msg := fmt.Sprintf("\x00\x21packet %d %s", i, dir.name)
			pkt := append(make([]byte, mppe.HeaderLen), msg...)
			if err := enc.Seal(pkt); err != nil {
				t.Fatal(err)
			}
			out := make([]byte, len(pkt))
			n, err := dec.Open(out, pkt)
			if err != nil || string(out[:n]) != msg {
				t.Fatalf("MPPE %s: got %q, %v", dir.name, out[:n], err)
			}
		}
	}
}

func TestFreeRADIUS(t *testing.T) {
	fr := startFreeRADIUS(t)
	c := frClient(t, fr, nil)
	v := NewVerifier(c)
	ctx := ctxT(t, 50*time.Second)
	peer := netip.MustParseAddr("192.0.2.10")

	t.Run("PAP", func(t *testing.T) {
		for _, tc := range []struct {
			user, pw string
			ok       bool
		}{{"alice", "alice-pw", true}, {"alice", "wrong", false}, {"mallory", "alice-pw", false}} {
			res, err := v.Verify(ctx, &auth.Request{Method: ppp.AuthPAP, User: tc.user, Password: []byte(tc.pw), Peer: peer})
			if err != nil || res.OK != tc.ok {
				t.Errorf("%s/%s: %+v, %v; want OK=%v", tc.user, tc.pw, res, err, tc.ok)
			}
		}
	})

	t.Run("CHAP-MD5", func(t *testing.T) {
		chal := []byte("0123456789abcdef")
		for _, tc := range []struct {
			pw string
			ok bool
		}{{"alice-pw", true}, {"wrong", false}} {
			h := md5.Sum(append(append([]byte{42}, tc.pw...), chal...))
			res, err := v.Verify(ctx, &auth.Request{Method: ppp.AuthCHAPMD5, User: "alice", ID: 42, Challenge: chal, Response: h[:], Peer: peer})
			if err != nil || res.OK != tc.ok {
				t.Errorf("%s: %+v, %v", tc.pw, res, err)
			}
		}
	})

	t.Run("MS-CHAPv1", func(t *testing.T) {
		chal := [8]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4}
		for _, tc := range []struct {
			pw string
			ok bool
		}{{"alice-pw", true}, {"wrong", false}} {
			h := mschap.NTPasswordHash(tc.pw)
			nt := mschap.NTChallengeResponse(chal, h)
			resp := make([]byte, 49)
			copy(resp[24:], nt[:])
			resp[48] = 1
			res, err := v.Verify(ctx, &auth.Request{Method: ppp.AuthMSCHAPv1, User: "alice", ID: 7, Challenge: chal[:], Response: resp, Peer: peer})
			if err != nil || res.OK != tc.ok {
				t.Fatalf("%s: %+v, %v", tc.pw, res, err)
			}
			if !tc.ok {
				if !strings.Contains(res.Reason, "E=691") {
					t.Errorf("reason %q lacks FreeRADIUS's MS-CHAP-Error", res.Reason)
				}
				continue
			}
			// pppd's derivation from MS-CHAP-MPPE-Keys: the start key of
			// RFC 3079 section 2.4 from the PasswordHashHash.
			want := mppe.StartKeyV1(mschap.HashNTPasswordHash(h), chal)
			if !res.HasKeys || res.SendKey != want || res.RecvKey != want {
				t.Errorf("keys %x/%x, want %x", res.SendKey, res.RecvKey, want)
			}
		}
	})

	t.Run("MS-CHAPv2", func(t *testing.T) {
		for _, tc := range []struct {
			pw string
			ok bool
		}{{"alice-pw", true}, {"wrong", false}} {
			req, peerChal, nt := msv2Request("alice", tc.pw, 99)
			res, g, err := v.Authenticate(ctx, req, Call{})
			if err != nil || res.OK != tc.ok {
				t.Fatalf("%s: %+v, %v", tc.pw, res, err)
			}
			if !tc.ok {
				if !strings.Contains(res.Reason, "E=691") {
					t.Errorf("reason %q", res.Reason)
				}
				continue
			}
			h := mschap.NTPasswordHash(tc.pw)
			if want := mschap.AuthenticatorResponse(h, nt, peerChal, [16]byte(req.Challenge), "alice"); res.AuthenticatorResponse != want {
				t.Errorf("authenticator response %q, want %q", res.AuthenticatorResponse, want)
			}
			send, recv := mppe.StartKeysV2(mppe.MasterKey(mschap.HashNTPasswordHash(h), nt), true)
			if !res.HasKeys || res.SendKey != send || res.RecvKey != recv {
				t.Errorf("keys %x/%x, want %x/%x", res.SendKey, res.RecvKey, send, recv)
			}
			// FreeRADIUS's mschap says: encryption allowed, 40 or 128 bits.
			if g.MPPEPolicy != MPPEPolicyAllowed || g.MPPETypes != MPPETypes40|MPPETypes128 {
				t.Errorf("MPPE policy %d types %#x", g.MPPEPolicy, g.MPPETypes)
			}
		}
	})

	t.Run("PPP logins with MPPE", func(t *testing.T) {
		for _, m := range []ppp.AuthMethod{ppp.AuthPAP, ppp.AuthCHAPMD5, ppp.AuthMSCHAPv1, ppp.AuthMSCHAPv2} {
			cv := v.ForCall(Call{NASPort: 3, HasNASPort: true})
			srvRes, cliRes := pppLogin(t, cv, m, "alice", "alice-pw")
			if !srvRes.OK || !cliRes.OK {
				t.Fatalf("%v: server %+v, client %+v", m, srvRes, cliRes)
			}
			if cv.Grant() == nil {
				t.Errorf("%v: no grant", m)
			}
			mschapFamily := m == ppp.AuthMSCHAPv1 || m == ppp.AuthMSCHAPv2
			if srvRes.HasKeys != mschapFamily || cliRes.HasKeys != mschapFamily {
				t.Errorf("%v: keys on server %v, client %v", m, srvRes.HasKeys, cliRes.HasKeys)
			}
			if mschapFamily {
				checkMPPE(t, srvRes, cliRes)
			}
			srvRes, cliRes = pppLogin(t, v.ForCall(Call{}), m, "alice", "not-her-password")
			if srvRes.OK || cliRes.OK {
				t.Errorf("%v with a wrong password: server %+v, client %+v", m, srvRes, cliRes)
			}
		}
	})

	t.Run("bob's attributes", func(t *testing.T) {
		res, g, err := v.Authenticate(ctx, &auth.Request{Method: ppp.AuthPAP, User: "bob", Password: []byte("bob-pw"), Peer: peer}, Call{})
		if err != nil || !res.OK {
			t.Fatalf("%+v, %v", res, err)
		}
		want := netip.MustParseAddr("10.9.8.7")
		if res.Addr != want || g.Addr != want || g.Pool != "bobs" || g.SessionTimeout != time.Hour || g.IdleTimeout != 10*time.Minute ||
			len(g.Class) != 1 || string(g.Class[0]) != "bob-class" || g.InterimInterval != MinInterimInterval ||
			g.MPPEPolicy != MPPEPolicyRequired || g.MPPETypes != MPPETypes128 || g.User != "bob" {
			t.Errorf("grant %+v, result %+v", g, res)
		}
		if cc := g.ApplyMPPE(ccp.Config{Allow40: true, Allow128: true}); cc != (ccp.Config{Allow128: true, Required: true}) {
			t.Errorf("ApplyMPPE = %+v", cc)
		}
		// alice has none of it.
		res, g, err = v.Authenticate(ctx, &auth.Request{Method: ppp.AuthPAP, User: "alice", Password: []byte("alice-pw"), Peer: peer}, Call{})
		if err != nil || !res.OK || res.Addr.IsValid() || g.SessionTimeout != 0 || g.Class != nil {
			t.Errorf("alice: %+v %+v %v", res, g, err)
		}
	})

	t.Run("wrong Service-Type refused", func(t *testing.T) {
		res, err := v.Verify(ctx, &auth.Request{Method: ppp.AuthPAP, User: "carol", Password: []byte("carol-pw"), Peer: peer})
		if err != nil || res.OK || !strings.Contains(res.Reason, "Service-Type") {
			t.Errorf("%+v, %v", res, err)
		}
	})

	t.Run("wrong secret", func(t *testing.T) {
		// FreeRADIUS drops a request whose Message-Authenticator it
		// cannot verify: the login fails after the timeout.
		c := frClient(t, fr, func(c *Config) {
			c.AuthServers[0].Secret = "not-the-secret"
			c.Timeout = 300 * time.Millisecond
			c.Retries = -1
		})
		_, err := NewVerifier(c).Verify(ctx, &auth.Request{Method: ppp.AuthPAP, User: "alice", Password: []byte("alice-pw"), Peer: peer})
		if !errors.Is(err, ErrNoResponse) {
			t.Errorf("err = %v", err)
		}
		if st := c.Stats().Servers[0]; st.Timeouts != 1 || st.Accepts+st.Rejects != 0 {
			t.Errorf("stats %+v", st)
		}
	})

	t.Run("accounting", func(t *testing.T) {
		a := NewAccounting(c)
		cv := v.ForCall(Call{NASPort: 1234, HasNASPort: true})
		res, err := cv.Verify(ctx, &auth.Request{Method: ppp.AuthPAP, User: "bob", Password: []byte("bob-pw"), Peer: peer})
		if err != nil || !res.OK {
			t.Fatalf("%+v, %v", res, err)
		}
		g := cv.Grant()
		id := a.NewSessionID()
		rec := Record{SessionID: id, User: g.User, NASPort: 1234, HasNASPort: true, Addr: res.Addr, Peer: peer, Class: g.Class}
		var mu sync.Mutex
		cnt := Counters{InOctets: 5<<32 + 1000, OutOctets: 2000, InPackets: 30, OutPackets: 40}
		s := a.Begin(ctx, rec, time.Second, func() Counters { mu.Lock(); defer mu.Unlock(); return cnt })
		time.Sleep(1300 * time.Millisecond)
		mu.Lock()
		cnt.OutOctets = 3000
		mu.Unlock()
		if err := s.End(ctx, CauseSessionTimeout); err != nil {
			t.Fatal(err)
		}
		recs := fr.SessionRecords(t, id)
		if len(recs) < 3 {
			t.Fatalf("%d detail records for %s", len(recs), id)
		}
		var types []string
		for _, r := range recs {
			types = append(types, r["Acct-Status-Type"][0])
		}
		if types[0] != "Start" || types[len(types)-1] != "Stop" || types[1] != "Interim-Update" {
			t.Errorf("record types %v", types)
		}
		for _, r := range recs {
			for k, want := range map[string]string{
				"User-Name": "bob", "NAS-Port": "1234", "Framed-IP-Address": "10.9.8.7", "Calling-Station-Id": "192.0.2.10",
				"Called-Station-Id": "127.0.0.1", "NAS-Identifier": "gopptp-test", "NAS-Port-Type": "Virtual",
				"Service-Type": "Framed-User", "Framed-Protocol": "PPP", "Acct-Authentic": "RADIUS",
				"Class": "0x626f622d636c617373",
			} {
				if got := r[k]; len(got) != 1 || got[0] != want {
					t.Errorf("%s record: %s = %q, want %q", r["Acct-Status-Type"][0], k, got, want)
				}
			}
		}
		stop := recs[len(recs)-1]
		for k, want := range map[string]string{
			"Acct-Input-Octets": "1000", "Acct-Input-Gigawords": "5", "Acct-Output-Octets": "3000",
			"Acct-Input-Packets": "30", "Acct-Output-Packets": "40", "Acct-Terminate-Cause": "Session-Timeout",
		} {
			if got := stop[k]; len(got) != 1 || got[0] != want {
				t.Errorf("Stop: %s = %q, want %q", k, got, want)
			}
		}
		if st, err := strconv.Atoi(stop["Acct-Session-Time"][0]); err != nil || st < 1 || st > 3 {
			t.Errorf("Stop: Acct-Session-Time %q", stop["Acct-Session-Time"])
		}
		if interim := recs[1]; interim["Acct-Output-Octets"][0] != "2000" || interim["Acct-Terminate-Cause"] != nil {
			t.Errorf("Interim-Update %v", interim)
		}
		if recs[0]["Acct-Input-Octets"] != nil {
			t.Error("Start has counters")
		}
	})

	t.Run("failover", func(t *testing.T) {
		silent := newFakeServer(t, nil)
		c := frClient(t, fr, func(c *Config) {
			c.AuthServers = append([]Server{{Addr: silent.addr(), Secret: frSecret}}, c.AuthServers...)
			c.AcctServers = append([]Server{{Addr: silent.addr(), Secret: frSecret}}, c.AcctServers...)
			c.Timeout = 300 * time.Millisecond
			c.Retries = -1
		})
		v := NewVerifier(c)
		res, err := v.Verify(ctx, &auth.Request{Method: ppp.AuthPAP, User: "alice", Password: []byte("alice-pw"), Peer: peer})
		if err != nil || !res.OK {
			t.Fatalf("%+v, %v", res, err)
		}
		t0 := time.Now()
		res, err = v.Verify(ctx, &auth.Request{Method: ppp.AuthPAP, User: "alice", Password: []byte("alice-pw"), Peer: peer})
		if err != nil || !res.OK || time.Since(t0) > 250*time.Millisecond {
			t.Errorf("second login (dead server skipped): %+v, %v in %v", res, err, time.Since(t0))
		}
		id := "failover-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		if err := NewAccounting(c).Start(ctx, &Record{SessionID: id, User: "alice"}); err != nil {
			t.Fatal(err)
		}
		if len(fr.SessionRecords(t, id)) != 1 {
			t.Error("accounting did not fail over")
		}
		st := c.Stats()
		if st.Servers[0].Timeouts != 1 || !st.Servers[0].Dead || st.Servers[1].Accepts != 2 || st.Servers[3].Responses != 1 {
			t.Errorf("stats %+v", st)
		}
	})

	t.Run("dead server fails in time", func(t *testing.T) {
		silent := newFakeServer(t, nil)
		c := frClient(t, fr, func(c *Config) {
			c.AuthServers = []Server{{Addr: silent.addr(), Secret: frSecret}}
			c.Timeout = 300 * time.Millisecond
			c.Retries = 1
		})
		t0 := time.Now()
		_, err := NewVerifier(c).Verify(ctx, &auth.Request{Method: ppp.AuthPAP, User: "alice", Password: []byte("alice-pw"), Peer: peer})
		if !errors.Is(err, ErrNoResponse) {
			t.Errorf("err = %v", err)
		}
		if d := time.Since(t0); d < 600*time.Millisecond || d > 1500*time.Millisecond {
			t.Errorf("failed after %v, want 2 x 300 ms", d)
		}
	})

	t.Run("DAE with radclient", func(t *testing.T) {
		freeradius.RequireRadclient(t)
		a := NewAccounting(c)
		live := &liveSessions{a: a}
		id := a.NewSessionID()
		live.add(ctx, Record{SessionID: id, User: "alice", Addr: netip.MustParseAddr("10.0.0.2"), Peer: peer, NASPort: 9, HasNASPort: true})
		dc := frClient(t, fr, func(c *Config) { c.DAE = DAEConfig{Listen: "127.0.0.1:0"} })
		d, err := ListenDAE(ctx, dc, live)
		if err != nil {
			t.Fatal(err)
		}
		dctx, cancel := context.WithCancel(ctx)
		served := make(chan error, 1)
		go func() { served <- d.Serve(dctx) }()
		defer func() {
			cancel()
			if err := <-served; err != nil {
				t.Error(err)
			}
		}()
		send := func(kind string, attrs ...string) string {
			out, _ := fr.Radclient(t, d.Addr().String(), kind, frSecret, attrs...) // a NAK makes radclient exit non-zero
			return out
		}

		// No such session: NAK with Session-Context-Not-Found.
		out := send("disconnect", `Acct-Session-Id = "nope"`, "Message-Authenticator = 0x00")
		if !strings.Contains(out, "Received Disconnect-NAK") || !strings.Contains(out, "Error-Cause = Session-Context-Not-Found") {
			t.Errorf("radclient:\n%s", out)
		}
		// CoA: a new Session-Timeout for alice's session.
		out = send("coa", `User-Name = "alice"`, "Session-Timeout = 120")
		if !strings.Contains(out, "Received CoA-ACK") || live.timeout() != 2*time.Minute {
			t.Errorf("radclient:\n%s\ntimeout %v", out, live.timeout())
		}
		// Disconnect by session ID and address: ACK, and the live
		// session ends with its Stop in the detail file.
		out = send("disconnect", fmt.Sprintf("Acct-Session-Id = %q", id), "Framed-IP-Address = 10.0.0.2",
			`NAS-Identifier = "gopptp-test"`, "Message-Authenticator = 0x00")
		if !strings.Contains(out, "Received Disconnect-ACK") {
			t.Fatalf("radclient:\n%s", out)
		}
		if m := live.lastMatch(); m != (Match{SessionID: id, Addr: netip.MustParseAddr("10.0.0.2")}) {
			t.Errorf("match %+v", m)
		}
		recs := fr.SessionRecords(t, id)
		if len(recs) != 2 || recs[1]["Acct-Status-Type"][0] != "Stop" || recs[1]["Acct-Terminate-Cause"][0] != "Admin-Reset" {
			t.Errorf("detail records of the disconnected session: %v", recs)
		}
		// Wrong secret: no answer at all.
		if out, err := fr.RadclientWait(t, time.Second, d.Addr().String(), "disconnect", "wrong", `User-Name = "alice"`); err == nil || strings.Contains(out, "Received") {
			t.Errorf("request with a wrong secret answered:\n%s", out)
		}
		if st := d.Stats(); st.ACKs != 2 || st.NAKs != 1 || st.Dropped < 1 {
			t.Errorf("DAE stats %+v", st)
		}
	})
}

// liveSessions is a stand-in for the PPTP server: sessions with running
// accounting, ended by Disconnect.
type liveSessions struct {
	a        *Accounting
	mu       sync.Mutex
	sessions []*liveSession
	match    Match
	st       time.Duration
}

type liveSession struct {
	rec Record
	acc *Session
}

func (l *liveSessions) add(ctx context.Context, rec Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sessions = append(l.sessions, &liveSession{rec: rec, acc: l.a.Begin(ctx, rec, 0, nil)})
}

func (l *liveSessions) Disconnect(m Match) (int, error) {
	l.mu.Lock()
	l.match = m
	var ended []*liveSession
	kept := l.sessions[:0]
	for _, s := range l.sessions {
		if m.Matches(&s.rec) {
			ended = append(ended, s)
		} else {
			kept = append(kept, s)
		}
	}
	l.sessions = kept
	l.mu.Unlock()
	for _, s := range ended {
		if err := s.acc.End(context.Background(), CauseAdminReset); err != nil {
			return 0, err
		}
	}
	return len(ended), nil
}

func (l *liveSessions) SetSessionTimeout(m Match, d time.Duration) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.match = m
	n := 0
	for _, s := range l.sessions {
		if m.Matches(&s.rec) {
			n++
			l.st = d
		}
	}
	return n, nil
}

func (l *liveSessions) lastMatch() Match {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.match
}

func (l *liveSessions) timeout() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}
