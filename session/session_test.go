package session

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/auth"
	"github.com/gopptp/gopptp/ppp/ccp"
	"github.com/gopptp/gopptp/ppp/ipcp"
)

// pipeLink connects two sessions in memory and records what the sessions
// asked of their data path.
type pipeLink struct {
	mu      sync.Mutex
	peer    *Session
	drop    func(p ppp.Protocol, pkt []byte) bool
	sent    []string
	mppe    [2]ccp.Direction
	keys    [2][16]byte
	network bool
	local   netip.Addr
	remote  netip.Addr
	framing [2]bool
}

func (l *pipeLink) SendControl(p ppp.Protocol, pkt []byte) {
	l.mu.Lock()
	l.sent = append(l.sent, p.String()+":"+ppp.Code(pkt[0]).String())
	peer, drop := l.peer, l.drop
	l.mu.Unlock()
	if drop != nil && drop(p, pkt) {
		return
	}
	peer.Deliver(p, pkt)
}
func (l *pipeLink) SetFraming(acfc, pfc bool, mru int) {
	l.mu.Lock()
	l.framing = [2]bool{acfc, pfc}
	l.mu.Unlock()
}
func (l *pipeLink) SetMPPE(send, recv ccp.Direction, sk, rk [16]byte) error {
	l.mu.Lock()
	l.mppe = [2]ccp.Direction{send, recv}
	l.keys = [2][16]byte{sk, rk}
	l.mu.Unlock()
	return nil
}
func (l *pipeLink) FlushMPPE() {}
func (l *pipeLink) SetNetwork(up bool, local, peer netip.Addr) {
	l.mu.Lock()
	l.network, l.local, l.remote = up, local, peer
	l.mu.Unlock()
}

var (
	srvAddr = netip.MustParseAddr("192.168.0.1")
	cliAddr = netip.MustParseAddr("192.168.0.234")
	dns1    = netip.MustParseAddr("10.1.1.1")
)

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("SESSION_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(&testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func secrets(user, pass string) auth.Verifier {
	return auth.PasswordVerifier{Lookup: func(_ ppp.AuthMethod, u string) (auth.Secret, error) {
		if u != user {
			return auth.Secret{}, auth.ErrUnknownUser
		}
		return auth.Secret{Password: pass}, nil
	}}
}

type pair struct {
	srv, cli         *Session
	srvLink, cliLink *pipeLink
	srvUp, cliUp     chan Info
	authFail         chan string
}

func newPair(t *testing.T, srvCfg, cliCfg Config, srvHooks ...func(*Hooks)) *pair {
	p := &pair{srvLink: &pipeLink{}, cliLink: &pipeLink{}, srvUp: make(chan Info, 1), cliUp: make(chan Info, 1), authFail: make(chan string, 2)}
	srvCfg.Role, cliCfg.Role = Server, Client
	srvCfg.Log, cliCfg.Log = testLogger(t), testLogger(t)
	fast := ppp.Config{Restart: 200 * time.Millisecond}
	srvCfg.FSM, cliCfg.FSM = fast, fast
	sh := Hooks{Up: func(i Info) { p.srvUp <- i }, AuthFailed: func(u string, _ ppp.AuthMethod, r string) { p.authFail <- "server:" + u + ":" + r }}
	for _, f := range srvHooks {
		f(&sh)
	}
	p.srv = New(srvCfg, p.srvLink, sh)
	p.cli = New(cliCfg, p.cliLink, Hooks{Up: func(i Info) { p.cliUp <- i }, AuthFailed: func(u string, _ ppp.AuthMethod, r string) { p.authFail <- "client:" + u + ":" + r }})
	p.srvLink.peer, p.cliLink.peer = p.cli, p.srv
	return p
}

func (p *pair) run(ctx context.Context) (srvErr, cliErr chan error) {
	srvErr, cliErr = make(chan error, 1), make(chan error, 1)
	go func() { srvErr <- p.srv.Run(ctx) }()
	go func() { cliErr <- p.cli.Run(ctx) }()
	return
}

func serverConfig(methods ...ppp.AuthMethod) Config {
	return Config{
		Name:     "pptpd",
		Require:  methods,
		Verifier: secrets("alice", "s3cret"),
		IPCP:     ipcp.Config{Local: srvAddr, Peer: cliAddr, DNS: [2]netip.Addr{dns1}},
		MPPE:     ccp.Config{Allow128: true, Required: true},
	}
}

func clientConfig(pass string) Config {
	return Config{
		User: "alice", Password: pass,
		Accept: []ppp.AuthMethod{ppp.AuthMSCHAPv2, ppp.AuthMSCHAPv1, ppp.AuthCHAPMD5, ppp.AuthPAP},
		IPCP:   ipcp.Config{RequestDNS: true},
		MPPE:   ccp.Config{Allow128: true, Required: true},
	}
}

func waitUp(t *testing.T, ch chan Info) Info {
	t.Helper()
	select {
	case i := <-ch:
		return i
	case <-time.After(5 * time.Second):
		t.Fatal("session did not come up")
	}
	return Info{}
}

func TestSessionsNegotiate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		method  ppp.AuthMethod
		srvMPPE ccp.Config
		cliMPPE ccp.Config
		want    ccp.Direction
	}{
		{"mschapv2-mppe128-stateless", ppp.AuthMSCHAPv2, ccp.Config{Allow128: true, Required: true}, ccp.Config{Allow128: true, Required: true}, ccp.Direction{On: true, KeyBits: 128, Stateless: true}},
		{"mschapv2-mppe128-stateful", ppp.AuthMSCHAPv2, ccp.Config{Allow128: true, Required: true, AllowStateful: true}, ccp.Config{Allow128: true, Required: true, AllowStateful: true, RequireStateful: true}, ccp.Direction{On: true, KeyBits: 128}},
		// Allowing stateful mode on both ends still gives stateless: nobody
		// asks for it, exactly as between two pppds.
		{"mschapv2-stateful-allowed-both", ppp.AuthMSCHAPv2, ccp.Config{Allow128: true, Required: true, AllowStateful: true}, ccp.Config{Allow128: true, Required: true, AllowStateful: true}, ccp.Direction{On: true, KeyBits: 128, Stateless: true}},
		{"mschapv2-stateful-allowed-vs-refused", ppp.AuthMSCHAPv2, ccp.Config{Allow128: true, Required: true}, ccp.Config{Allow128: true, Required: true, AllowStateful: true}, ccp.Direction{On: true, KeyBits: 128, Stateless: true}},
		{"mschapv2-mppe40", ppp.AuthMSCHAPv2, ccp.Config{Allow40: true, Required: true}, ccp.Config{Allow40: true, Allow128: true, Required: true}, ccp.Direction{On: true, KeyBits: 40, Stateless: true}},
		{"mschapv1-mppe128", ppp.AuthMSCHAPv1, ccp.Config{Allow128: true, Required: true}, ccp.Config{Allow128: true, Required: true}, ccp.Direction{On: true, KeyBits: 128, Stateless: true}},
		{"chapmd5-nomppe", ppp.AuthCHAPMD5, ccp.Config{}, ccp.Config{}, ccp.Direction{}},
		{"pap-nomppe", ppp.AuthPAP, ccp.Config{}, ccp.Config{}, ccp.Direction{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := serverConfig(tc.method)
			sc.MPPE = tc.srvMPPE
			cc := clientConfig("s3cret")
			cc.MPPE = tc.cliMPPE
			p := newPair(t, sc, cc)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			srvErr, cliErr := p.run(ctx)
			si, ci := waitUp(t, p.srvUp), waitUp(t, p.cliUp)
			if si.User != "alice" || si.Auth != tc.method || ci.Auth != tc.method {
				t.Errorf("server info %+v client info %+v", si, ci)
			}
			if si.Peer != cliAddr || si.Local != srvAddr || ci.Local != cliAddr || ci.Peer != srvAddr {
				t.Errorf("addresses: server %v->%v client %v->%v", si.Local, si.Peer, ci.Local, ci.Peer)
			}
			if len(ci.DNS) != 1 || ci.DNS[0] != dns1 {
				t.Errorf("client DNS %v, want [%v] (secondary rejected)", ci.DNS, dns1)
			}
			for _, l := range []*pipeLink{p.srvLink, p.cliLink} {
				l.mu.Lock()
				if l.mppe[0] != tc.want || l.mppe[1] != tc.want {
					t.Errorf("MPPE %v/%v, want %v both ways", l.mppe[0], l.mppe[1], tc.want)
				}
				if !l.network {
					t.Error("network not started")
				}
				l.mu.Unlock()
			}
			// Each end's send key is the other's receive key.
			if tc.want.On && (p.srvLink.keys[0] != p.cliLink.keys[1] || p.srvLink.keys[1] != p.cliLink.keys[0]) {
				t.Error("MPPE keys do not pair up")
			}
			// Orderly termination from the client ends both.
			p.cli.Close("user request")
			for _, ch := range []chan error{cliErr, srvErr} {
				select {
				case err := <-ch:
					if err != nil {
						t.Errorf("session ended with %v", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("session did not end")
				}
			}
			if p.srvLink.network || p.cliLink.network {
				t.Error("network still up after termination")
			}
		})
	}
}

func TestSessionWrongPassword(t *testing.T) {
	for _, m := range []ppp.AuthMethod{ppp.AuthMSCHAPv2, ppp.AuthMSCHAPv1, ppp.AuthCHAPMD5, ppp.AuthPAP} {
		t.Run(m.String(), func(t *testing.T) {
			sc := serverConfig(m)
			cc := clientConfig("wrong")
			if m == ppp.AuthCHAPMD5 || m == ppp.AuthPAP {
				sc.MPPE, cc.MPPE = ccp.Config{}, ccp.Config{}
			}
			p := newPair(t, sc, cc)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			srvErr, cliErr := p.run(ctx)
			for name, ch := range map[string]chan error{"server": srvErr, "client": cliErr} {
				select {
				case err := <-ch:
					if !errors.Is(err, ErrAuthFailed) {
						t.Errorf("%s ended with %v, want ErrAuthFailed", name, err)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("%s did not end", name)
				}
			}
			got := []string{<-p.authFail, <-p.authFail}
			joined := strings.Join(got, "|")
			if !strings.Contains(joined, "server:alice:wrong password") || !strings.Contains(joined, "client:alice:"+m.String()+": the server said") {
				t.Errorf("auth failure reports %q", joined)
			}
		})
	}
}

func TestSessionClientRefusesMPPEServerRequires(t *testing.T) {
	sc := serverConfig(ppp.AuthMSCHAPv2)
	cc := clientConfig("s3cret")
	cc.MPPE = ccp.Config{} // nomppe
	p := newPair(t, sc, cc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srvErr, cliErr := p.run(ctx)
	select {
	case err := <-srvErr:
		if !errors.Is(err, ErrMPPE) {
			t.Errorf("server ended with %v, want ErrMPPE", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not end")
	}
	select {
	case <-cliErr:
	case <-time.After(5 * time.Second):
		t.Fatal("client did not end")
	}
	p.srvLink.mu.Lock()
	defer p.srvLink.mu.Unlock()
	if p.srvLink.network {
		t.Error("IP was allowed to flow without the required MPPE")
	}
}

func TestSessionClientRefusesEveryMethod(t *testing.T) {
	sc := serverConfig(ppp.AuthMSCHAPv2)
	cc := clientConfig("s3cret")
	cc.Accept = []ppp.AuthMethod{ppp.AuthPAP}
	cc.MPPE = ccp.Config{}
	p := newPair(t, sc, cc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srvErr, _ := p.run(ctx)
	select {
	case err := <-srvErr:
		if err == nil || !strings.Contains(err.Error(), "refused to authenticate") {
			t.Errorf("server ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not end")
	}
}

func TestSessionServerFallsBackToAllowedMethod(t *testing.T) {
	// The server allows MS-CHAP-v2 and PAP; the client refuses MS-CHAP-v2
	// and must end up on PAP via LCP naks.
	sc := serverConfig(ppp.AuthMSCHAPv2, ppp.AuthPAP)
	sc.MPPE = ccp.Config{}
	cc := clientConfig("s3cret")
	cc.Accept = []ppp.AuthMethod{ppp.AuthPAP}
	cc.MPPE = ccp.Config{}
	p := newPair(t, sc, cc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.run(ctx)
	if si := waitUp(t, p.srvUp); si.Auth != ppp.AuthPAP {
		t.Errorf("agreed on %v, want PAP", si.Auth)
	}
}

func TestSessionEchoDetectsDeadPeer(t *testing.T) {
	sc := serverConfig(ppp.AuthMSCHAPv2)
	sc.EchoInterval, sc.EchoFailure = 50*time.Millisecond, 3
	p := newPair(t, sc, clientConfig("s3cret"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srvErr, _ := p.run(ctx)
	waitUp(t, p.srvUp)
	// The client vanishes: nothing reaches the server any more.
	p.cliLink.mu.Lock()
	p.cliLink.drop = func(ppp.Protocol, []byte) bool { return true }
	p.cliLink.mu.Unlock()
	select {
	case err := <-srvErr:
		if !errors.Is(err, ErrPeerDead) {
			t.Errorf("server ended with %v, want ErrPeerDead", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("dead peer not detected")
	}
}

func TestSessionRejectsUnknownProtocols(t *testing.T) {
	p := newPair(t, serverConfig(ppp.AuthMSCHAPv2), clientConfig("s3cret"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.run(ctx)
	waitUp(t, p.srvUp)
	// IPV6CP from a peer that wants IPv6: LCP Protocol-Reject.
	p.srv.Deliver(ppp.ProtoIPV6CP, []byte{1, 1, 0, 14, 1, 10, 0, 0, 0, 0, 0, 0, 0, 1})
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		p.srvLink.mu.Lock()
		found := false
		for _, s := range p.srvLink.sent {
			if s == "LCP:ProtRej" {
				found = true
			}
		}
		p.srvLink.mu.Unlock()
		if found {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("no Protocol-Reject for IPV6CP")
}

// TestSessionAuthorize: a back-end's decision after login changes the
// DNS servers handed out and the encryption, and its refusal ends the
// session.
func TestSessionAuthorize(t *testing.T) {
	dns2 := netip.MustParseAddr("10.9.9.9")
	sc := serverConfig(ppp.AuthMSCHAPv2)
	sc.MPPE = ccp.Config{Allow40: true, Allow128: true, Required: true}
	cc := clientConfig("s3cret")
	cc.MPPE = ccp.Config{Allow40: true, Allow128: true, Required: true}
	var asked string
	p := newPair(t, sc, cc, func(h *Hooks) {
		h.Authorize = func(user string) (Authorization, error) {
			asked = user
			return Authorization{MPPE: &ccp.Config{Allow40: true, Required: true}, DNS: [2]netip.Addr{dns2}}, nil
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.run(ctx)
	waitUp(t, p.srvUp)
	ci := waitUp(t, p.cliUp)
	if asked != "alice" {
		t.Errorf("Authorize asked about %q", asked)
	}
	if len(ci.DNS) != 1 || ci.DNS[0] != dns2 {
		t.Errorf("client DNS %v, want the back-end's %v", ci.DNS, dns2)
	}
	if want := (ccp.Direction{On: true, KeyBits: 40, Stateless: true}); ci.MPPE.Send != want {
		t.Errorf("MPPE %v, want the back-end's 40-bit", ci.MPPE.Send)
	}

	p = newPair(t, serverConfig(ppp.AuthMSCHAPv2), clientConfig("s3cret"), func(h *Hooks) {
		h.Authorize = func(string) (Authorization, error) {
			return Authorization{}, errors.New("no address left in pool staff")
		}
	})
	srvErr, _ := p.run(ctx)
	select {
	case err := <-srvErr:
		if !errors.Is(err, ErrAuthFailed) || !strings.Contains(err.Error(), "no address left in pool staff") {
			t.Errorf("server session ended with %v", err)
		}
	case <-p.srvUp:
		t.Error("session came up although authorization failed")
	case <-time.After(5 * time.Second):
		t.Fatal("session did not end")
	}
}

// TestStartIdleNoGoroutine: a session started with Start holds no
// goroutine while it is idle (a server keeps thousands), and still acts on
// events: Close terminates the link and both ends report it.
func TestStartIdleNoGoroutine(t *testing.T) {
	base := runtime.NumGoroutine()
	p := newPair(t, serverConfig(ppp.AuthMSCHAPv2), clientConfig("s3cret"))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	srvErr, cliErr := make(chan error, 1), make(chan error, 1)
	p.srv.Start(ctx, func(err error) { srvErr <- err })
	p.cli.Start(ctx, func(err error) { cliErr <- err })
	for _, up := range []chan Info{p.srvUp, p.cliUp} {
		select {
		case <-up:
		case <-time.After(5 * time.Second):
			t.Fatal("sessions did not come up")
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines with two idle sessions, %d before", runtime.NumGoroutine(), base)
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.srv.Close("test over")
	for name, ch := range map[string]chan error{"server": srvErr, "client": cliErr} {
		select {
		case err := <-ch:
			if name == "server" && err != nil {
				t.Errorf("server ended with %v after Close, want nil", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s did not end after Close", name)
		}
	}
}

// TestAbort: a session started with a context that cannot end is ended by
// Abort, at once, with context.Canceled.
func TestAbort(t *testing.T) {
	p := newPair(t, serverConfig(ppp.AuthMSCHAPv2), clientConfig("s3cret"))
	srvErr := make(chan error, 1)
	p.srv.Start(context.Background(), func(err error) { srvErr <- err })
	cliErr := make(chan error, 1)
	go func() { cliErr <- p.cli.Run(t.Context()) }()
	select {
	case <-p.srvUp:
	case <-time.After(5 * time.Second):
		t.Fatal("session did not come up")
	}
	p.srv.Abort()
	select {
	case err := <-srvErr:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("aborted session ended with %v, want context.Canceled", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Abort did not end the session")
	}
	p.srvLink.mu.Lock()
	network := p.srvLink.network
	p.srvLink.mu.Unlock()
	if network {
		t.Error("the data path is still up after Abort")
	}
	p.cli.Close("test over")
	<-cliErr
}
