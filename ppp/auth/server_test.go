package auth

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/gopptp/gopptp/mschap"
	"github.com/gopptp/gopptp/ppp"
)

type testServer struct {
	*Server
	out    *recorder
	timer  *fakeTimer
	verify []*Request
	done   []*Result
}

func newTestServer(m ppp.AuthMethod) *testServer {
	ts := &testServer{out: &recorder{}, timer: &fakeTimer{}}
	ts.Server = NewServer(m, "pptpd", ts.out.send, ts.timer, ServerHooks{
		Verify: func(r *Request) { ts.verify = append(ts.verify, r) },
		Done:   func(r *Result) { ts.done = append(ts.done, r) },
	})
	return ts
}

// challenge starts the server and returns its challenge packet and value.
func (ts *testServer) challenge(t *testing.T) (ppp.Packet, []byte) {
	t.Helper()
	ts.Start()
	p := ts.out.one(t)
	if p.Code != CHAPChallen || len(p.Data) < 1 || len(p.Data) < 1+int(p.Data[0]) {
		t.Fatalf("first packet %v %x, want a CHAP Challenge", p.Code, p.Data)
	}
	return p, p.Data[1 : 1+int(p.Data[0])]
}

// chapResponse builds a CHAP Response packet.
func chapResponse(id uint8, value []byte, name string) ppp.Packet {
	d := append([]byte{byte(len(value))}, value...)
	return ppp.Packet{Code: CHAPRespons, ID: id, Data: append(d, name...)}
}

func papRequest(id uint8, user, pass string) ppp.Packet {
	d := append([]byte{byte(len(user))}, user...)
	d = append(d, byte(len(pass)))
	return ppp.Packet{Code: PAPRequest, ID: id, Data: append(d, pass...)}
}

func TestChallenge(t *testing.T) {
	tests := []struct {
		method ppp.AuthMethod
		n      int
	}{
		{ppp.AuthCHAPMD5, 16},
		{ppp.AuthMSCHAPv1, 8},
		{ppp.AuthMSCHAPv2, 16},
	}
	for _, tc := range tests {
		t.Run(tc.method.String(), func(t *testing.T) {
			s := newTestServer(tc.method)
			p, chal := s.challenge(t)
			if len(chal) != tc.n {
				t.Errorf("challenge of %d octets, want %d", len(chal), tc.n)
			}
			if name := string(p.Data[1+len(chal):]); name != "pptpd" {
				t.Errorf("challenge name %q, want pptpd", name)
			}
			if !s.timer.running {
				t.Error("challenge timer not running")
			}
			// Two servers must not use the same challenge.
			_, other := newTestServer(tc.method).challenge(t)
			if bytes.Equal(chal, other) {
				t.Errorf("two servers sent the same challenge %x", chal)
			}
		})
	}
}

func TestChallengeRetransmission(t *testing.T) {
	s := newTestServer(ppp.AuthMSCHAPv2)
	first, _ := s.challenge(t)
	sent := 1
	for {
		s.Timeout()
		p := s.out.take()
		if len(p) == 0 {
			break
		}
		if len(p) != 1 || p[0].Code != first.Code || p[0].ID != first.ID || !bytes.Equal(p[0].Data, first.Data) {
			t.Fatalf("retransmission %d is %v, want the first challenge again (id %d)", sent, p, first.ID)
		}
		sent++
		if sent > 2*MaxChallenges {
			t.Fatal("the server never gives up")
		}
	}
	if sent != MaxChallenges {
		t.Errorf("sent %d challenges before giving up, want %d", sent, MaxChallenges)
	}
	if len(s.done) != 1 || s.done[0].OK || s.done[0].Reason == "" {
		t.Fatalf("Done %+v, want one failure with a reason", s.done)
	}
	if s.timer.running {
		t.Error("timer still running after giving up")
	}
	s.Timeout()
	if p := s.out.take(); len(p) != 0 || len(s.done) != 1 {
		t.Errorf("timeout after giving up: sent %v, Done ran %d times", p, len(s.done))
	}
}

func TestServerCHAP(t *testing.T) {
	for _, m := range []ppp.AuthMethod{ppp.AuthCHAPMD5, ppp.AuthMSCHAPv1, ppp.AuthMSCHAPv2} {
		t.Run(m.String(), func(t *testing.T) {
			s := newTestServer(m)
			p, chal := s.challenge(t)
			n := 49
			if m == ppp.AuthCHAPMD5 {
				n = 16
			}
			value := bytes.Repeat([]byte{7}, n)

			s.Input(chapResponse(p.ID+1, value, "pptpuser"))
			s.Input(chapResponse(p.ID-1, value, "pptpuser"))
			if len(s.verify) != 0 {
				t.Fatalf("responses with the wrong id were verified: %+v", s.verify)
			}
			s.Input(chapResponse(p.ID, value[:n-1], "pptpuser"))
			if len(s.verify) != 0 {
				t.Fatalf("a response of the wrong length was verified")
			}
			s.Input(ppp.Packet{Code: CHAPSuccess, ID: p.ID})
			s.Input(ppp.Packet{Code: CHAPChallen, ID: p.ID, Data: p.Data})
			if len(s.verify) != 0 || len(s.out.take()) != 0 {
				t.Fatalf("non-response CHAP packets were acted on")
			}

			s.Input(chapResponse(p.ID, value, "pptpuser"))
			if len(s.verify) != 1 {
				t.Fatalf("Verify ran %d times, want 1", len(s.verify))
			}
			r := s.verify[0]
			if r.Method != m || r.User != "pptpuser" || r.ID != p.ID || !bytes.Equal(r.Challenge, chal) || !bytes.Equal(r.Response, value) {
				t.Errorf("Verify got %+v, want method %v user pptpuser id %d challenge %x response %x", r, m, p.ID, chal, value)
			}
			if s.timer.running {
				t.Error("challenge timer still running while verifying")
			}
			if s.User() != "pptpuser" {
				t.Errorf("User() = %q", s.User())
			}
			// A duplicate while verifying is not verified again.
			s.Input(chapResponse(p.ID, value, "pptpuser"))
			if len(s.verify) != 1 || len(s.out.take()) != 0 {
				t.Fatalf("a duplicate response during verification was acted on")
			}

			res := &Result{OK: true}
			if m == ppp.AuthMSCHAPv2 {
				res.AuthenticatorResponse = rfcAuthResponse
			}
			s.Complete(res, nil)
			succ := s.out.one(t)
			if succ.Code != CHAPSuccess || succ.ID != p.ID {
				t.Fatalf("answer %v id %d, want Success id %d", succ.Code, succ.ID, p.ID)
			}
			if m == ppp.AuthMSCHAPv2 {
				if want := rfcAuthResponse + " M="; !strings.HasPrefix(string(succ.Data), want) {
					t.Errorf("MS-CHAPv2 Success %q, want it to start with %q", succ.Data, want)
				}
			}
			if len(s.done) != 1 || !s.done[0].OK {
				t.Fatalf("Done %+v, want one success", s.done)
			}

			// The peer missed our Success and responds again: same answer.
			s.Input(chapResponse(p.ID, value, "pptpuser"))
			again := s.out.one(t)
			if again.Code != succ.Code || again.ID != succ.ID || !bytes.Equal(again.Data, succ.Data) {
				t.Errorf("duplicate response answered %v id %d %q, want the same Success %q", again.Code, again.ID, again.Data, succ.Data)
			}
			if len(s.verify) != 1 || len(s.done) != 1 {
				t.Errorf("duplicate response verified again (%d) or Done ran again (%d)", len(s.verify), len(s.done))
			}
			s.Complete(&Result{}, nil)
			if len(s.done) != 1 || len(s.out.take()) != 0 {
				t.Error("a late Complete changed the outcome")
			}
		})
	}
}

var (
	v2Failure = regexp.MustCompile(`^E=691 R=0 C=([0-9A-F]{32}) V=3 M=\S.*$`)
	v1Failure = regexp.MustCompile(`^E=691 R=0 C=([0-9A-F]{16}) V=\d+( M=.*)?$`)
)

func TestServerFailure(t *testing.T) {
	tests := []struct {
		method ppp.AuthMethod
		match  func(string) bool
	}{
		{ppp.AuthMSCHAPv2, v2Failure.MatchString},
		{ppp.AuthMSCHAPv1, v1Failure.MatchString},
		{ppp.AuthCHAPMD5, func(s string) bool { return s != "" }},
	}
	for _, tc := range tests {
		for _, backendErr := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v error=%v", tc.method, backendErr), func(t *testing.T) {
				s := newTestServer(tc.method)
				s.SetRetries(0) // the final failure; retries are TestServerMSCHAPRetry's
				p, _ := s.challenge(t)
				n := 49
				if tc.method == ppp.AuthCHAPMD5 {
					n = 16
				}
				value := make([]byte, n)
				s.Input(chapResponse(p.ID, value, "pptpuser"))
				if backendErr {
					s.Complete(nil, errors.New("radius timeout"))
				} else {
					s.Complete(&Result{Reason: "wrong password"}, nil)
				}
				f := s.out.one(t)
				if f.Code != CHAPFailure || f.ID != p.ID {
					t.Fatalf("answer %v id %d, want Failure id %d", f.Code, f.ID, p.ID)
				}
				if !tc.match(string(f.Data)) {
					t.Errorf("Failure message %q has the wrong format", f.Data)
				}
				if len(s.done) != 1 || s.done[0].OK || s.done[0].Reason == "" {
					t.Fatalf("Done %+v, want one failure with a reason", s.done)
				}
				if backendErr && !strings.Contains(s.done[0].Reason, "radius timeout") {
					t.Errorf("reason %q does not mention the back-end error", s.done[0].Reason)
				}
				// A repeated response gets the same Failure.
				s.Input(chapResponse(p.ID, value, "pptpuser"))
				if again := s.out.one(t); again.Code != CHAPFailure || !bytes.Equal(again.Data, f.Data) {
					t.Errorf("repeat answered %v %q, want the same Failure", again.Code, again.Data)
				}
			})
		}
	}
}

func TestServerPAP(t *testing.T) {
	for _, pass := range []string{"pptp-secret-42", "guess"} {
		t.Run(pass, func(t *testing.T) {
			ok := pass == "pptp-secret-42"
			s := newTestServer(ppp.AuthPAP)
			s.Start()
			if p := s.out.take(); len(p) != 0 {
				t.Fatalf("PAP server sent %v on Start", p)
			}
			if !s.timer.running {
				t.Fatal("PAP timer not running")
			}
			// Malformed requests are discarded.
			for _, bad := range [][]byte{nil, {5, 'a'}, {1, 'a'}, {1, 'a', 3, 'x'}} {
				s.Input(ppp.Packet{Code: PAPRequest, ID: 1, Data: bad})
			}
			if len(s.verify) != 0 {
				t.Fatalf("malformed PAP requests were verified: %+v", s.verify)
			}
			s.Input(papRequest(9, "pptpuser", pass))
			if len(s.verify) != 1 {
				t.Fatalf("Verify ran %d times, want 1", len(s.verify))
			}
			r := s.verify[0]
			if r.Method != ppp.AuthPAP || r.User != "pptpuser" || string(r.Password) != pass {
				t.Errorf("Verify got %+v", r)
			}
			if s.timer.running {
				t.Error("PAP timer still running while verifying")
			}
			s.Complete(Check(r, "pptp-secret-42", netip.Addr{}), nil)
			a := s.out.one(t)
			wantCode := PAPAck
			if !ok {
				wantCode = PAPNak
			}
			if a.Code != wantCode || a.ID != 9 {
				t.Fatalf("answer %v id %d, want %v id 9", a.Code, a.ID, wantCode)
			}
			if len(a.Data) < 1 || int(a.Data[0]) != len(a.Data)-1 {
				t.Errorf("answer data %q is not a length-prefixed message", a.Data)
			}
			if len(s.done) != 1 || s.done[0].OK != ok {
				t.Fatalf("Done %+v, want OK=%v", s.done, ok)
			}
			// The peer missed our answer and repeats its request with a
			// new id (RFC 1334): same verdict, with its id.
			s.Input(papRequest(10, "pptpuser", pass))
			again := s.out.one(t)
			if again.Code != a.Code || again.ID != 10 || !bytes.Equal(again.Data, a.Data) {
				t.Errorf("repeated request answered %v id %d, want %v id 10", again.Code, again.ID, a.Code)
			}
			if len(s.verify) != 1 || len(s.done) != 1 {
				t.Errorf("repeated request verified again (%d) or Done ran again (%d)", len(s.verify), len(s.done))
			}
		})
	}
}

func TestServerPAPTimeout(t *testing.T) {
	s := newTestServer(ppp.AuthPAP)
	s.Start()
	s.Timeout()
	if len(s.done) != 1 || s.done[0].OK {
		t.Fatalf("Done %+v, want one failure", s.done)
	}
	if p := s.out.take(); len(p) != 0 {
		t.Errorf("PAP timeout sent %v", p)
	}
	// A request arriving after we gave up must not be answered with
	// garbage: either a PAP Nak or nothing at all.
	s.Input(papRequest(3, "pptpuser", "pptp-secret-42"))
	for _, p := range s.out.take() {
		if p.Code != PAPNak {
			t.Errorf("late request after timeout answered with code %d (%v), want a PAP Nak or nothing", p.Code, p)
		}
	}
}

func TestServerCHAPLateResponseAfterGivingUp(t *testing.T) {
	s := newTestServer(ppp.AuthMSCHAPv2)
	p, _ := s.challenge(t)
	for i := 0; i < MaxChallenges; i++ {
		s.Timeout()
	}
	s.out.take()
	if len(s.done) != 1 || s.done[0].OK {
		t.Fatalf("Done %+v, want one failure", s.done)
	}
	s.Input(chapResponse(p.ID, make([]byte, 49), "pptpuser"))
	for _, q := range s.out.take() {
		if q.Code != CHAPFailure {
			t.Errorf("late response after giving up answered with code %d (%v), want a CHAP Failure or nothing", q.Code, q)
		}
	}
}

func TestServerStop(t *testing.T) {
	s := newTestServer(ppp.AuthMSCHAPv2)
	p, _ := s.challenge(t)
	s.Stop()
	if s.timer.running {
		t.Error("timer running after Stop")
	}
	s.Timeout()
	s.Input(chapResponse(p.ID, make([]byte, 49), "pptpuser"))
	if q := s.out.take(); len(q) != 0 || len(s.verify) != 0 || len(s.done) != 0 {
		t.Errorf("stopped server acted: sent %v, verify %d, done %d", q, len(s.verify), len(s.done))
	}
}

// TestServerClient runs our Server against our Client for every method,
// with the secrets-file verifier, and checks that both agree on the
// outcome and, for MS-CHAP, on the MPPE keys.
func TestServerClient(t *testing.T) {
	methods := []ppp.AuthMethod{ppp.AuthPAP, ppp.AuthCHAPMD5, ppp.AuthMSCHAPv1, ppp.AuthMSCHAPv2}
	for _, m := range methods {
		for _, pw := range []string{"pptp-secret-42", "wrong"} {
			t.Run(fmt.Sprintf("%v/%s", m, pw), func(t *testing.T) {
				v := PasswordVerifier{Lookup: func(_ ppp.AuthMethod, user string) (Secret, error) {
					if user != `DOM\pptpuser` {
						return Secret{}, ErrUnknownUser
					}
					return Secret{Password: "pptp-secret-42"}, nil
				}}
				var toClient, toServer []ppp.Packet
				var srvRes *Result
				var srv *Server
				srv = NewServer(m, "pptpd", func(p ppp.Packet) { toClient = append(toClient, p) }, &fakeTimer{}, ServerHooks{
					Verify: func(r *Request) {
						res, err := v.Verify(t.Context(), r)
						srv.Complete(res, err)
					},
					Done: func(r *Result) { srvRes = r },
				})
				srv.SetRetries(0) // our client does not retry: it has one password
				var cliRes *ClientResult
				cli := NewClient(m, `DOM\pptpuser`, pw, func(p ppp.Packet) { toServer = append(toServer, p) }, &fakeTimer{},
					func(r ClientResult) { cliRes = &r })
				srv.Start()
				cli.Start()
				for i := 0; i < 10 && (len(toClient) > 0 || len(toServer) > 0); i++ {
					for _, p := range toServer {
						srv.Input(p)
					}
					toServer = nil
					pk := toClient
					toClient = nil
					for _, p := range pk {
						cli.Input(p)
					}
				}
				if srvRes == nil || cliRes == nil {
					t.Fatalf("no outcome: server %+v, client %+v", srvRes, cliRes)
				}
				want := pw == "pptp-secret-42"
				if srvRes.OK != want || cliRes.OK != want {
					t.Fatalf("server OK %v (%s), client OK %v (%s), want %v", srvRes.OK, srvRes.Reason, cliRes.OK, cliRes.Reason, want)
				}
				if srv.User() != `DOM\pptpuser` {
					t.Errorf("server saw user %q", srv.User())
				}
				if !want {
					if cliRes.Reason == "" {
						t.Error("client failure without a reason")
					}
					return
				}
				hasKeys := m == ppp.AuthMSCHAPv1 || m == ppp.AuthMSCHAPv2
				if srvRes.HasKeys != hasKeys || cliRes.HasKeys != hasKeys {
					t.Fatalf("HasKeys server %v client %v, want %v", srvRes.HasKeys, cliRes.HasKeys, hasKeys)
				}
				if srvRes.SendKey != cliRes.RecvKey || srvRes.RecvKey != cliRes.SendKey {
					t.Errorf("keys differ: server send %x recv %x, client send %x recv %x", srvRes.SendKey, srvRes.RecvKey, cliRes.SendKey, cliRes.RecvKey)
				}
				if m == ppp.AuthMSCHAPv2 && srvRes.SendKey == srvRes.RecvKey {
					t.Error("MS-CHAPv2 keys are the same in both directions")
				}
			})
		}
	}
}

// TestServerMSCHAPRetry follows RFC 2759 9.1.4 and 9.1.5: a wrong response
// gets E=691 R=1 with a new challenge, the retry comes with the next
// identifier and is checked against that challenge, and the last allowed
// failure says R=0.
func TestServerMSCHAPRetry(t *testing.T) {
	for _, m := range []ppp.AuthMethod{ppp.AuthMSCHAPv2, ppp.AuthMSCHAPv1} {
		t.Run(m.String(), func(t *testing.T) {
			s := newTestServer(m)
			var retries []string
			s.hooks.Retry = func(user string, r *Result) { retries = append(retries, user+":"+r.Reason) }
			p, chal := s.challenge(t)
			value := make([]byte, 49)
			id := p.ID
			for attempt := 1; attempt <= 3; attempt++ {
				s.Input(chapResponse(id, value, "pptpuser"))
				if len(s.verify) != attempt {
					t.Fatalf("attempt %d: %d verifications", attempt, len(s.verify))
				}
				if got := s.verify[attempt-1].Challenge; !bytes.Equal(got, chal) {
					t.Fatalf("attempt %d verified against challenge %x, want %x", attempt, got, chal)
				}
				s.Complete(&Result{Reason: "wrong password"}, nil)
				f := s.out.one(t)
				if f.Code != CHAPFailure || f.ID != id {
					t.Fatalf("attempt %d: answer %v id %d", attempt, f.Code, f.ID)
				}
				fl, err := mschap.ParseFailure(string(f.Data))
				if err != nil || fl.Code != 691 {
					t.Fatalf("attempt %d: failure %q: %v", attempt, f.Data, err)
				}
				if attempt < 3 {
					if !fl.Retry || bytes.Equal(fl.Challenge, chal) || s.timer.d != RetryTimeout {
						t.Fatalf("attempt %d: %q, timer %v: want R=1, a new challenge and the long timeout", attempt, f.Data, s.timer.d)
					}
					// A peer that missed the Failure repeats its response.
					s.Input(chapResponse(id, value, "pptpuser"))
					if again := s.out.one(t); !bytes.Equal(again.Data, f.Data) {
						t.Fatalf("repeated response got %q", again.Data)
					}
					chal = fl.Challenge
					id++
					if len(s.done) != 0 {
						t.Fatalf("attempt %d ended authentication", attempt)
					}
				} else if fl.Retry || len(s.done) != 1 || s.done[0].OK {
					t.Fatalf("last attempt: %q, done %+v: want R=0 and the end", f.Data, s.done)
				}
			}
			if len(retries) != 2 || retries[0] != "pptpuser:wrong password" {
				t.Errorf("retry reports %q", retries)
			}
		})
	}
}
