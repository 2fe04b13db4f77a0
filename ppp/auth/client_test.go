package auth

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopptp/gopptp/mschap"
	"github.com/gopptp/gopptp/ppp"
)

type testClient struct {
	*Client
	out   *recorder
	timer *fakeTimer
	res   []ClientResult
}

func newTestClient(m ppp.AuthMethod, user, password string) *testClient {
	tc := &testClient{out: &recorder{}, timer: &fakeTimer{}}
	tc.Client = NewClient(m, user, password, tc.out.send, tc.timer, func(r ClientResult) { tc.res = append(tc.res, r) })
	return tc
}

func chapChallenge(id uint8, value []byte, name string) ppp.Packet {
	d := append([]byte{byte(len(value))}, value...)
	return ppp.Packet{Code: CHAPChallen, ID: id, Data: append(d, name...)}
}

// splitCHAP returns the value and name of a CHAP Challenge or Response.
func splitCHAP(t *testing.T, p ppp.Packet) (value []byte, name string) {
	t.Helper()
	if len(p.Data) < 1 || len(p.Data) < 1+int(p.Data[0]) {
		t.Fatalf("malformed CHAP packet %x", p.Data)
	}
	return p.Data[1 : 1+int(p.Data[0])], string(p.Data[1+int(p.Data[0]):])
}

func TestClientPAP(t *testing.T) {
	c := newTestClient(ppp.AuthPAP, "pptpuser", "pptp-secret-42")
	c.Start()
	p := c.out.one(t)
	if want := papRequest(p.ID, "pptpuser", "pptp-secret-42"); p.Code != PAPRequest || !bytes.Equal(p.Data, want.Data) {
		t.Fatalf("sent %v %x, want Authenticate-Request %x", p.Code, p.Data, want.Data)
	}
	if !c.timer.running {
		t.Fatal("PAP retransmission timer not running")
	}
	c.Input(ppp.Packet{Code: PAPAck, ID: p.ID + 1, Data: []byte{0}})
	if len(c.res) != 0 {
		t.Fatalf("an Ack with the wrong id was taken: %+v", c.res)
	}
	c.Input(ppp.Packet{Code: PAPAck, ID: p.ID, Data: append([]byte{8}, "Login ok"...)})
	if len(c.res) != 1 || !c.res[0].OK || c.res[0].HasKeys {
		t.Fatalf("result %+v, want one success without keys", c.res)
	}
	if c.timer.running {
		t.Error("timer still running after the Ack")
	}
	c.Input(ppp.Packet{Code: PAPNak, ID: p.ID})
	if len(c.res) != 1 {
		t.Error("a Nak after the Ack changed the outcome")
	}
}

func TestClientPAPNak(t *testing.T) {
	c := newTestClient(ppp.AuthPAP, "pptpuser", "bad")
	c.Start()
	p := c.out.one(t)
	c.Input(ppp.Packet{Code: PAPNak, ID: p.ID, Data: append([]byte{15}, "Login incorrect"...)})
	if len(c.res) != 1 || c.res[0].OK || !strings.Contains(c.res[0].Reason, "Login incorrect") {
		t.Fatalf("result %+v, want a failure quoting the server's message", c.res)
	}
}

// TestClientPAPRetransmission: RFC 1334 section 2.2.1 says the Identifier
// "MUST be changed each time an Authenticate-Request packet is issued";
// pppd increments it on every retransmission (upap_sauthreq).
func TestClientPAPRetransmission(t *testing.T) {
	c := newTestClient(ppp.AuthPAP, "pptpuser", "pptp-secret-42")
	c.Start()
	first := c.out.one(t)
	ids := map[uint8]bool{first.ID: true}
	sent, reused := 1, 0
	for {
		c.Timeout()
		p := c.out.take()
		if len(p) == 0 {
			break
		}
		sent++
		if p[0].Code != PAPRequest || !bytes.Equal(p[0].Data, first.Data) {
			t.Fatalf("retransmission %v %x, want the same request", p[0].Code, p[0].Data)
		}
		if ids[p[0].ID] {
			reused++
		}
		ids[p[0].ID] = true
		if sent > 2*MaxPAPTries {
			t.Fatal("the client never gives up")
		}
	}
	if sent != MaxPAPTries {
		t.Errorf("sent %d requests, want %d", sent, MaxPAPTries)
	}
	if len(c.res) != 1 || c.res[0].OK {
		t.Fatalf("result %+v, want one failure", c.res)
	}
	if reused > 0 {
		t.Errorf("%d of %d retransmitted Authenticate-Requests reuse an earlier identifier (first id %d); RFC 1334 2.2.1 requires a new one each time",
			reused, sent-1, first.ID)
	}
}

func TestClientCHAPMD5(t *testing.T) {
	chal := mustHex("640a08333219ee3c8e4d0e602a492ca209b0d429")
	c := newTestClient(ppp.AuthCHAPMD5, "pptpuser", "pptp-secret-42")
	c.Start()
	if p := c.out.take(); len(p) != 0 {
		t.Fatalf("CHAP client sent %v before any challenge", p)
	}
	c.Input(chapChallenge(0xe9, chal, "pptpd"))
	r := c.out.one(t)
	value, name := splitCHAP(t, r)
	if r.Code != CHAPRespons || r.ID != 0xe9 || name != "pptpuser" {
		t.Fatalf("sent %v id %d name %q, want Response id 0xe9 name pptpuser", r.Code, r.ID, name)
	}
	if want := md5Response(0xe9, "pptp-secret-42", chal); !bytes.Equal(value, want) {
		t.Errorf("response %x, want MD5(id||secret||challenge) %x", value, want)
	}
	// The challenge again (our response was lost): the same response.
	c.Input(chapChallenge(0xe9, chal, "pptpd"))
	if again := c.out.one(t); again.ID != r.ID || !bytes.Equal(again.Data, r.Data) {
		t.Errorf("repeated challenge answered %x, want %x", again.Data, r.Data)
	}
	c.Input(ppp.Packet{Code: CHAPSuccess, ID: 0xe8, Data: []byte("Access granted")})
	if len(c.res) != 0 {
		t.Fatal("a Success with the wrong id was taken")
	}
	c.Input(ppp.Packet{Code: CHAPSuccess, ID: 0xe9, Data: []byte("Access granted")})
	if len(c.res) != 1 || !c.res[0].OK || c.res[0].HasKeys {
		t.Fatalf("result %+v, want one success without keys", c.res)
	}
}

func TestClientSuccessBeforeChallenge(t *testing.T) {
	c := newTestClient(ppp.AuthMSCHAPv2, "User", "clientPass")
	c.Input(ppp.Packet{Code: CHAPSuccess, ID: 0, Data: []byte(rfcAuthResponse)})
	c.Input(ppp.Packet{Code: CHAPFailure, ID: 0, Data: []byte("E=691 R=0")})
	if len(c.res) != 0 {
		t.Errorf("outcome %+v without having answered a challenge", c.res)
	}
}

func TestClientMSCHAPv1(t *testing.T) {
	c := newTestClient(ppp.AuthMSCHAPv1, "User", rfcPassword)
	c.Input(chapChallenge(5, rfcChallenge8, "srv"))
	r := c.out.one(t)
	value, name := splitCHAP(t, r)
	if want := msResponse(nil, rfcNTResponse, 1); !bytes.Equal(value, want) {
		t.Errorf("response %x, want %x (no LM response, NT response, flag 1)", value, want)
	}
	if r.ID != 5 || name != "User" {
		t.Errorf("response id %d name %q", r.ID, name)
	}
	// A 16-octet challenge is not an MS-CHAPv1 challenge.
	c2 := newTestClient(ppp.AuthMSCHAPv1, "User", rfcPassword)
	c2.Input(chapChallenge(5, rfcAuthChallenge, "srv"))
	if p := c2.out.take(); len(p) != 0 {
		t.Errorf("answered a 16-octet MS-CHAPv1 challenge: %v", p)
	}

	c.Input(ppp.Packet{Code: CHAPSuccess, ID: 5, Data: []byte("Access granted")})
	if len(c.res) != 1 || !c.res[0].OK || !c.res[0].HasKeys {
		t.Fatalf("result %+v, want success with keys", c.res)
	}
	want := v1Key(rfcHashHash, rfcChallenge8)
	if !bytes.Equal(c.res[0].SendKey[:], want) || !bytes.Equal(c.res[0].RecvKey[:], want) {
		t.Errorf("keys send %x recv %x, want %x both", c.res[0].SendKey, c.res[0].RecvKey, want)
	}
}

// v2Exchange has an MS-CHAPv2 client answer a challenge and returns the
// client and the Request the server would verify.
func v2Exchange(t *testing.T, user, password string, chal []byte) (*testClient, *Request) {
	t.Helper()
	c := newTestClient(ppp.AuthMSCHAPv2, user, password)
	c.Input(chapChallenge(0x33, chal, "srv"))
	r := c.out.one(t)
	value, name := splitCHAP(t, r)
	if r.Code != CHAPRespons || r.ID != 0x33 || name != user || len(value) != 49 {
		t.Fatalf("response %v id %d name %q value of %d octets", r.Code, r.ID, name, len(value))
	}
	if !bytes.Equal(value[16:24], make([]byte, 8)) || value[48] != 0 {
		t.Errorf("reserved octets %x / flags %d not zero (RFC 2759 section 4)", value[16:24], value[48])
	}
	return c, &Request{Method: ppp.AuthMSCHAPv2, User: name, ID: r.ID, Challenge: chal, Response: value}
}

func TestClientMSCHAPv2(t *testing.T) {
	c, req := v2Exchange(t, "User", rfcPassword, rfcAuthChallenge)
	srv := Check(req, rfcPassword, netip.Addr{})
	if !srv.OK {
		t.Fatalf("our server rejects our client's response: %s", srv.Reason)
	}
	// Two challenges answered must use different peer challenges.
	_, req2 := v2Exchange(t, "User", rfcPassword, rfcAuthChallenge)
	if bytes.Equal(req.Response[:16], req2.Response[:16]) {
		t.Error("the peer challenge is not random")
	}

	c.Input(ppp.Packet{Code: CHAPSuccess, ID: 0x33, Data: []byte(srv.AuthenticatorResponse + " M=Access granted")})
	if len(c.res) != 1 || !c.res[0].OK || !c.res[0].HasKeys {
		t.Fatalf("result %+v, want success with keys", c.res)
	}
	if c.res[0].SendKey != srv.RecvKey || c.res[0].RecvKey != srv.SendKey {
		t.Errorf("client send %x recv %x, server send %x recv %x: each send key must be the other's receive key",
			c.res[0].SendKey, c.res[0].RecvKey, srv.SendKey, srv.RecvKey)
	}
	// Independently: master key from the NT-Response, client send key
	// with magic 2 (RFC 3079 3.4).
	mk := masterKey(rfcHashHash, req.Response[24:48])
	if want := startKey(mk, rfcMagic2); !bytes.Equal(c.res[0].SendKey[:], want) {
		t.Errorf("client send key %x, want %x", c.res[0].SendKey, want)
	}
}

func TestClientMSCHAPv2WrongAuthenticator(t *testing.T) {
	tests := []struct {
		name string
		msg  func(good string) string
	}{
		{"arbitrary S=", func(string) string {
			return "S=0123456789ABCDEF0123456789ABCDEF01234567 M=Access granted"
		}},
		{"RFC example for another exchange", func(string) string { return rfcAuthResponse + " M=ok" }},
		{"one digit off", func(good string) string {
			b := []byte(good)
			if b[len(b)-1] == '0' {
				b[len(b)-1] = '1'
			} else {
				b[len(b)-1] = '0'
			}
			return string(b)
		}},
		{"no S= at all", func(string) string { return "M=Access granted" }},
		{"empty", func(string) string { return "" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, req := v2Exchange(t, "User", rfcPassword, rfcAuthChallenge)
			good := Check(req, rfcPassword, netip.Addr{}).AuthenticatorResponse
			if good == "" {
				t.Fatal("our server rejects our client's response")
			}
			c.Input(ppp.Packet{Code: CHAPSuccess, ID: 0x33, Data: []byte(tc.msg(good))})
			if len(c.res) != 1 || c.res[0].OK || c.res[0].HasKeys {
				t.Fatalf("result %+v, want a failure without keys", c.res)
			}
		})
	}
}

// TestClientRogueServer: a server that does not know the password (it has
// another one) accepts the login anyway and computes its S= from the
// password it has; RFC 2759 section 5 requires the peer to notice.
func TestClientRogueServer(t *testing.T) {
	c, req := v2Exchange(t, "User", rfcPassword, rfcAuthChallenge)
	rogue := mschap.AuthenticatorResponse(mschap.NTPasswordHash("not-the-password"), [24]byte(req.Response[24:48]),
		[16]byte(req.Response[:16]), [16]byte(rfcAuthChallenge), "User")
	c.Input(ppp.Packet{Code: CHAPSuccess, ID: 0x33, Data: []byte(rogue + " M=Access granted")})
	if len(c.res) != 1 || c.res[0].OK || c.res[0].HasKeys {
		t.Fatalf("result %+v, want a failure without keys", c.res)
	}
}

func TestClientFailure(t *testing.T) {
	tests := []struct {
		method ppp.AuthMethod
		chal   []byte
		msg    string
		want   string
	}{
		{ppp.AuthMSCHAPv2, rfcAuthChallenge, "E=691 R=0 C=00112233445566778899AABBCCDDEEFF V=3 M=Authentication failed", "E=691"},
		{ppp.AuthMSCHAPv2, rfcAuthChallenge, "E=649 R=0 C=00112233445566778899AABBCCDDEEFF V=3 M=No dial-in", "E=649"},
		{ppp.AuthMSCHAPv1, rfcChallenge8, "E=691 R=1 C=0011223344556677 V=0", "E=691"},
		{ppp.AuthCHAPMD5, rfcAuthChallenge, "Access denied", "Access denied"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			c := newTestClient(tc.method, "User", rfcPassword)
			c.Input(chapChallenge(9, tc.chal, "srv"))
			c.out.take()
			c.Input(ppp.Packet{Code: CHAPFailure, ID: 8, Data: []byte(tc.msg)})
			if len(c.res) != 0 {
				t.Fatal("a Failure with the wrong id was taken")
			}
			c.Input(ppp.Packet{Code: CHAPFailure, ID: 9, Data: []byte(tc.msg)})
			if len(c.res) != 1 || c.res[0].OK || !strings.Contains(c.res[0].Reason, tc.want) {
				t.Fatalf("result %+v, want a failure mentioning %q", c.res, tc.want)
			}
			// Finished: nothing more is answered.
			c.Input(chapChallenge(10, tc.chal, "srv"))
			if p := c.out.take(); len(p) != 0 {
				t.Errorf("finished client answered %v", p)
			}
		})
	}
}

func TestClientStop(t *testing.T) {
	c := newTestClient(ppp.AuthPAP, "u", "p")
	c.Start()
	p := c.out.one(t)
	c.Stop()
	c.Timeout()
	c.Input(ppp.Packet{Code: PAPAck, ID: p.ID})
	if q := c.out.take(); len(q) != 0 || len(c.res) != 0 {
		t.Errorf("stopped client sent %v, reported %+v", q, c.res)
	}
}
