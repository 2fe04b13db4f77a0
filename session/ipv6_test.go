package session

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/ipv6cp"
)

// pipeLink6 is a pipeLink that carries IPv6 and records SetNetwork6.
type pipeLink6 struct {
	*pipeLink
	mu6         sync.Mutex
	up6         bool
	local, peer ipv6cp.ID
	calls       int
}

func (l *pipeLink6) SetNetwork6(up bool, local, peer ipv6cp.ID) {
	l.mu6.Lock()
	l.up6, l.local, l.peer = up, local, peer
	l.calls++
	l.mu6.Unlock()
}

func (l *pipeLink6) state() (bool, ipv6cp.ID, ipv6cp.ID, int) {
	l.mu6.Lock()
	defer l.mu6.Unlock()
	return l.up6, l.local, l.peer, l.calls
}

// newPair6 is newPair over links that carry IPv6.
func newPair6(t *testing.T, srvCfg, cliCfg Config) (*pair, *pipeLink6, *pipeLink6) {
	p := &pair{srvLink: &pipeLink{}, cliLink: &pipeLink{}, srvUp: make(chan Info, 1), cliUp: make(chan Info, 1), authFail: make(chan string, 2)}
	sl, cl := &pipeLink6{pipeLink: p.srvLink}, &pipeLink6{pipeLink: p.cliLink}
	srvCfg.Role, cliCfg.Role = Server, Client
	srvCfg.Log, cliCfg.Log = testLogger(t), testLogger(t)
	fast := ppp.Config{Restart: 200 * time.Millisecond}
	srvCfg.FSM, cliCfg.FSM = fast, fast
	p.srv = New(srvCfg, sl, Hooks{Up: func(i Info) { p.srvUp <- i }})
	p.cli = New(cliCfg, cl, Hooks{Up: func(i Info) { p.cliUp <- i }})
	p.srvLink.peer, p.cliLink.peer = p.cli, p.srv
	return p, sl, cl
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSessionIPv6: with IPv6 on at both ends IPV6CP runs next to IPCP and
// each end's link gets the identifiers agreed, mirrored; IPv4 comes up as
// usual, and both go down with the link.
func TestSessionIPv6(t *testing.T) {
	sc, cc := serverConfig(ppp.AuthMSCHAPv2), clientConfig("s3cret")
	sc.IPv6, sc.IPV6CP = true, ipv6cp.Config{Local: 0x0200_0000_0000_0001}
	cc.IPv6, cc.IPV6CP = true, ipv6cp.Config{Local: 0x1234_5678_9abc_def0}
	p, sl, cl := newPair6(t, sc, cc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srvErr, cliErr := p.run(ctx)
	waitUp(t, p.srvUp)
	waitUp(t, p.cliUp)
	eventually(t, "IPv6 not up at both ends", func() bool {
		su, _, _, _ := sl.state()
		cu, _, _, _ := cl.state()
		return su && cu
	})
	_, sLocal, sPeer, _ := sl.state()
	_, cLocal, cPeer, _ := cl.state()
	if sLocal != 0x0200_0000_0000_0001 || sPeer != 0x1234_5678_9abc_def0 || cLocal != sPeer || cPeer != sLocal {
		t.Errorf("identifiers: server %v/%v client %v/%v", sLocal, sPeer, cLocal, cPeer)
	}
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
	for name, l := range map[string]*pipeLink6{"server": sl, "client": cl} {
		if up, _, _, _ := l.state(); up {
			t.Errorf("%s: IPv6 still up after termination", name)
		}
	}
}

// TestSessionIPv6Refused: a client that asks for IPv6 from a server that
// has it off gets an LCP Protocol-Reject for IPV6CP, gives IPV6CP up, and
// its IPv4 session is unaffected.
func TestSessionIPv6Refused(t *testing.T) {
	sc, cc := serverConfig(ppp.AuthMSCHAPv2), clientConfig("s3cret")
	cc.IPv6, cc.IPV6CP = true, ipv6cp.Config{Local: 0x1234_5678_9abc_def0}
	p, sl, cl := newPair6(t, sc, cc)
	var mu sync.Mutex
	var rejected []ppp.Protocol
	p.srvLink.drop = func(pr ppp.Protocol, pkt []byte) bool {
		if pr == ppp.ProtoLCP && len(pkt) >= 6 && ppp.Code(pkt[0]) == ppp.ProtoRej {
			mu.Lock()
			rejected = append(rejected, ppp.Protocol(binary.BigEndian.Uint16(pkt[4:])))
			mu.Unlock()
		}
		return false
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srvErr, cliErr := p.run(ctx)
	si, ci := waitUp(t, p.srvUp), waitUp(t, p.cliUp)
	if si.Peer != cliAddr || ci.Local != cliAddr {
		t.Errorf("IPv4: server peer %v, client local %v", si.Peer, ci.Local)
	}
	eventually(t, "the client's IPV6CP did not stop", func() bool {
		done := make(chan ppp.State, 1)
		p.cli.post(func() { done <- p.cli.ipv6.State() })
		st := <-done
		return st == ppp.Stopped || st == ppp.Closed
	})
	mu.Lock()
	if len(rejected) == 0 || rejected[0] != ppp.ProtoIPV6CP {
		t.Errorf("Protocol-Rejects for %v, want IPV6CP", rejected)
	}
	mu.Unlock()
	// Nothing more happens: the session stays up on IPv4 alone.
	time.Sleep(600 * time.Millisecond)
	select {
	case err := <-srvErr:
		t.Fatalf("server session ended: %v", err)
	case err := <-cliErr:
		t.Fatalf("client session ended: %v", err)
	default:
	}
	if _, _, _, n := cl.state(); n != 0 {
		t.Errorf("client SetNetwork6 called %d times", n)
	}
	if _, _, _, n := sl.state(); n != 0 {
		t.Errorf("server SetNetwork6 called %d times", n)
	}
	p.srvLink.mu.Lock()
	network := p.srvLink.network
	p.srvLink.mu.Unlock()
	if !network {
		t.Error("server IPv4 network not up")
	}
}

// TestSessionIPv6DataBeforeIPV6CP: IPv6 packets that reach a session
// which speaks IPv6 but has not opened IPV6CP yet are discarded, not
// rejected (RFC 1661 section 3.4); one without IPv6 rejects them.
func TestSessionIPv6DataBeforeIPV6CP(t *testing.T) {
	sc, cc := serverConfig(ppp.AuthMSCHAPv2), clientConfig("s3cret")
	sc.IPv6 = true
	sc.IPV6CP = ipv6cp.Config{Local: 1}
	p, _, _ := newPair6(t, sc, cc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.run(ctx)
	waitUp(t, p.srvUp)
	count := func() int {
		p.srvLink.mu.Lock()
		defer p.srvLink.mu.Unlock()
		n := 0
		for _, s := range p.srvLink.sent {
			if s == "LCP:ProtRej" {
				n++
			}
		}
		return n
	}
	before := count()
	p.srv.Deliver(ppp.ProtoIPv6, make([]byte, 40))
	// A round trip through the session's queue.
	done := make(chan struct{})
	p.srv.post(func() { close(done) })
	<-done
	if n := count(); n != before {
		t.Errorf("%d Protocol-Rejects for IPv6 data before IPV6CP opened", n-before)
	}
}
