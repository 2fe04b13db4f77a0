package radius

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2866"

	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/auth"
)

var papReq = &auth.Request{Method: ppp.AuthPAP, User: "alice", Password: []byte("pw")}

// accepting answers everything with Access-Accept or Accounting-Response.
func accepting(t *testing.T) *fakeServer {
	return newFakeServer(t, func(req *radius.Packet, _ []byte) [][]byte {
		if req.Code == radius.CodeAccountingRequest {
			return [][]byte{answer(t, req, radius.CodeAccountingResponse, false)}
		}
		return [][]byte{answer(t, req, radius.CodeAccessAccept, false)}
	})
}

// statsOf returns the counters of the server at addr.
func statsOf(t *testing.T, c *Client, addr string) ServerStats {
	t.Helper()
	for _, s := range c.Stats().Servers {
		if s.Addr == addr {
			return s
		}
	}
	t.Fatalf("no stats for %s", addr)
	return ServerStats{}
}

func TestFailoverAndDeadTime(t *testing.T) {
	silent := newFakeServer(t, nil)
	good := accepting(t)
	var mu sync.Mutex
	var obs []Observation
	c := testClient(t, []string{silent.addr(), good.addr()}, nil, func(c *Config) {
		c.Timeout = 200 * time.Millisecond
		c.Retries = 1
		c.DeadTime = time.Minute
		c.Observe = func(o Observation) { mu.Lock(); obs = append(obs, o); mu.Unlock() }
	})
	v := NewVerifier(c)
	ctx := ctxT(t, 10*time.Second)

	t0 := time.Now()
	res, err := v.Verify(ctx, papReq)
	if err != nil || !res.OK {
		t.Fatalf("Verify = %+v, %v", res, err)
	}
	if d := time.Since(t0); d < 400*time.Millisecond || d > 2*time.Second {
		t.Errorf("failover took %v, want two 200 ms attempts on the silent server", d)
	}
	rs := silent.requests()
	if len(rs) != 2 {
		t.Fatalf("silent server got %d transmissions, want 2", len(rs))
	}
	// A retransmitted Access-Request is the same packet (RFC 2865 2.5).
	if string(rs[0].raw) != string(rs[1].raw) {
		t.Error("retransmission differs from the first transmission")
	}

	// The silent server is now dead: the next login goes to the good one
	// at once, and the silent one is not bothered.
	t0 = time.Now()
	if res, err := v.Verify(ctx, papReq); err != nil || !res.OK {
		t.Fatalf("second Verify = %+v, %v", res, err)
	}
	if d := time.Since(t0); d > 150*time.Millisecond {
		t.Errorf("second login took %v with the dead server first in the list", d)
	}
	if n := len(silent.requests()); n != 2 {
		t.Errorf("dead server got %d more transmissions", n-2)
	}

	s := statsOf(t, c, silent.addr())
	if s.Requests != 1 || s.Retransmits != 1 || s.Timeouts != 1 || !s.Dead {
		t.Errorf("silent server stats %+v", s)
	}
	g := statsOf(t, c, good.addr())
	if g.Requests != 2 || g.Accepts != 2 || g.Dead {
		t.Errorf("good server stats %+v", g)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(obs) != 3 || obs[0].Outcome != OutcomeTimeout || obs[0].Retransmits != 1 || obs[1].Outcome != OutcomeAccept || obs[1].Server != good.addr() || obs[0].Latency < 400*time.Millisecond {
		t.Errorf("observations %+v", obs)
	}
}

func TestAllServersDead(t *testing.T) {
	a, b := newFakeServer(t, nil), newFakeServer(t, nil)
	c := testClient(t, []string{a.addr(), b.addr()}, nil, func(c *Config) {
		c.Timeout = 100 * time.Millisecond
		c.Retries = 2
	})
	ctx := ctxT(t, 10*time.Second)
	t0 := time.Now()
	_, err := NewVerifier(c).Verify(ctx, papReq)
	if !errors.Is(err, ErrNoResponse) {
		t.Fatalf("err = %v, want ErrNoResponse", err)
	}
	if d := time.Since(t0); d < 600*time.Millisecond || d > 2*time.Second {
		t.Errorf("took %v, want 2 servers x 3 attempts x 100 ms", d)
	}
	// Both dead now: each still gets one transmission, so a recovered
	// server is noticed, but the outage costs one timeout per server.
	t0 = time.Now()
	if _, err := NewVerifier(c).Verify(ctx, papReq); !errors.Is(err, ErrNoResponse) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(t0); d > 500*time.Millisecond {
		t.Errorf("with all servers dead a request took %v", d)
	}
	if n := len(a.requests()); n != 4 {
		t.Errorf("first server got %d transmissions, want 3 + 1", n)
	}
	if st := c.Stats(); st.AuthFailures != 2 {
		t.Errorf("AuthFailures = %d", st.AuthFailures)
	}
}

func TestMaxWaitAndContext(t *testing.T) {
	silent := newFakeServer(t, nil)
	c := testClient(t, []string{silent.addr()}, nil, func(c *Config) {
		c.Timeout = 10 * time.Second
		c.MaxWait = 300 * time.Millisecond
	})
	t0 := time.Now()
	_, err := NewVerifier(c).Verify(context.Background(), papReq)
	if !errors.Is(err, ErrNoResponse) || time.Since(t0) > time.Second {
		t.Errorf("MaxWait: err %v after %v", err, time.Since(t0))
	}
	// Running out of MaxWait is the server's silence, not a cancellation.
	if st := statsOf(t, c, silent.addr()); st.Timeouts != 1 || !st.Dead {
		t.Errorf("MaxWait: stats %+v", st)
	}

	c = testClient(t, []string{silent.addr()}, nil, func(c *Config) { c.Timeout = 10 * time.Second })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	t0 = time.Now()
	_, err = NewVerifier(c).Verify(ctx, papReq)
	if !errors.Is(err, context.Canceled) || time.Since(t0) > time.Second {
		t.Errorf("cancel: err %v after %v", err, time.Since(t0))
	}
	if st := statsOf(t, c, silent.addr()); st.Timeouts != 0 || st.Dead {
		t.Errorf("a cancelled request counted against the server: %+v", st)
	}
}

func TestUnreachableServer(t *testing.T) {
	// A port nobody listens on: the ICMP error fails the server at once.
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	closed := l.LocalAddr().String()
	l.Close()
	good := accepting(t)
	c := testClient(t, []string{closed, good.addr()}, nil, func(c *Config) { c.Timeout = 2 * time.Second })
	t0 := time.Now()
	res, err := NewVerifier(c).Verify(ctxT(t, 5*time.Second), papReq)
	if err != nil || !res.OK {
		t.Fatalf("Verify = %+v, %v", res, err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("refused port cost %v", d)
	}
	if st := statsOf(t, c, closed); st.Errors != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestRepliesValidated(t *testing.T) {
	// The server first sends every kind of bogus reply, then the real one.
	srv := newFakeServer(t, func(req *radius.Packet, raw []byte) [][]byte {
		good := answer(t, req, radius.CodeAccessAccept, true)
		wrongID := append([]byte{}, good...)
		wrongID[1]++
		wrongAuth := append([]byte{}, good...)
		wrongAuth[5] ^= 1
		// A right Response Authenticator over a wrong Message-Authenticator.
		forged := req.Response(radius.CodeAccessReject)
		forged.Add(80, bytes.Repeat([]byte{0x55}, 16))
		badMA, _ := forged.Encode()
		other := req.Response(radius.CodeAccessReject)
		other.Secret = []byte("not the secret")
		otherSecret, _ := other.Encode()
		wrongCode := answer(t, req, radius.CodeAccountingResponse, false)
		badLen := append([]byte{}, good...)
		badLen[2], badLen[3] = 0x10, 0
		return [][]byte{{1, 2, 3}, wrongID, wrongAuth, badMA, otherSecret, wrongCode, badLen, raw, good}
	})
	c := testClient(t, []string{srv.addr()}, nil, nil)
	res, err := NewVerifier(c).Verify(ctxT(t, 5*time.Second), papReq)
	if err != nil || !res.OK {
		t.Fatalf("Verify = %+v, %v", res, err)
	}
	if st := statsOf(t, c, srv.addr()); st.Dropped != 8 || st.Accepts != 1 {
		t.Errorf("stats %+v, want 8 dropped", st)
	}
}

func TestMessageAuthenticatorRequired(t *testing.T) {
	// A reply without Message-Authenticator is taken unless required.
	srv := newFakeServer(t, func(req *radius.Packet, _ []byte) [][]byte {
		return [][]byte{answer(t, req, radius.CodeAccessAccept, false)}
	})
	c := testClient(t, []string{srv.addr()}, nil, nil)
	if res, err := NewVerifier(c).Verify(ctxT(t, 5*time.Second), papReq); err != nil || !res.OK {
		t.Errorf("Verify = %+v, %v", res, err)
	}
	c = testClient(t, []string{srv.addr()}, nil, func(c *Config) {
		c.RequireMessageAuthenticator = true
		c.Timeout = 100 * time.Millisecond
		c.Retries = -1
	})
	if _, err := NewVerifier(c).Verify(ctxT(t, 5*time.Second), papReq); !errors.Is(err, ErrNoResponse) {
		t.Errorf("err = %v, want the reply dropped", err)
	}
}

func TestLateReplyToEarlierTransmission(t *testing.T) {
	// The server answers only the first transmission, and late: the answer
	// arrives after the retransmission and must still count.
	var once sync.Once
	srv := newFakeServer(t, func(req *radius.Packet, _ []byte) [][]byte {
		var out [][]byte
		once.Do(func() {
			time.Sleep(250 * time.Millisecond)
			out = [][]byte{answer(t, req, radius.CodeAccountingResponse, false)}
		})
		return out
	})
	c := testClient(t, nil, []string{srv.addr()}, func(c *Config) {
		c.AuthServers = []Server{{Addr: srv.addr(), Secret: testSecret}}
		c.Timeout = 200 * time.Millisecond
		c.Retries = 3
	})
	a := NewAccounting(c)
	if err := a.Start(ctxT(t, 5*time.Second), &Record{SessionID: "x"}); err != nil {
		t.Fatal(err)
	}
}

func TestAccountingRetransmitsWithDelay(t *testing.T) {
	// Drop the first transmission; the second must carry a new identifier
	// and Acct-Delay-Time (RFC 2866 section 5.2).
	n := 0
	srv := newFakeServer(t, func(req *radius.Packet, _ []byte) [][]byte {
		n++
		if n == 1 {
			return nil
		}
		return [][]byte{answer(t, req, radius.CodeAccountingResponse, false)}
	})
	c := testClient(t, nil, []string{srv.addr()}, func(c *Config) {
		c.AuthServers = []Server{{Addr: srv.addr(), Secret: testSecret}}
		c.Timeout = 1100 * time.Millisecond
	})
	if err := NewAccounting(c).Start(ctxT(t, 5*time.Second), &Record{SessionID: "sid", User: "u"}); err != nil {
		t.Fatal(err)
	}
	rs := srv.requests()
	if len(rs) != 2 {
		t.Fatalf("%d transmissions", len(rs))
	}
	if rs[0].pkt.Identifier == rs[1].pkt.Identifier {
		t.Error("retransmission kept its identifier though Acct-Delay-Time changed")
	}
	if rs[0].pkt.Get(rfc2866.AcctDelayTime_Type) != nil {
		t.Error("first transmission has Acct-Delay-Time")
	}
	if d, err := radius.Integer(rs[1].pkt.Get(rfc2866.AcctDelayTime_Type)); err != nil || d != 1 {
		t.Errorf("Acct-Delay-Time %d, %v; want 1", d, err)
	}
	for _, r := range rs {
		if !radius.IsAuthenticRequest(r.raw, []byte(testSecret)) {
			t.Error("Accounting-Request with a wrong Request Authenticator")
		}
	}
}

func TestConcurrentRequests(t *testing.T) {
	srv := newFakeServer(t, func(req *radius.Packet, _ []byte) [][]byte {
		code := radius.CodeAccessReject
		if string(req.Get(1)) == "good" {
			code = radius.CodeAccessAccept
		}
		return [][]byte{answer(t, req, code, true)}
	})
	c := testClient(t, []string{srv.addr()}, nil, nil)
	v := NewVerifier(c)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := "bad"
			if i%2 == 0 {
				user = "good"
			}
			res, err := v.Verify(context.Background(), &auth.Request{Method: ppp.AuthPAP, User: user, Password: []byte("x")})
			if err != nil || res.OK != (user == "good") {
				errs <- errors.New(user + ": wrong verdict")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
