package auth

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopptp/gopptp/ppp"
)

// chapCapture is the CHAP exchange of a capture.
type chapCapture struct {
	challenge, response, answer ppp.Packet
	chal, value                 []byte
	user                        string
}

func loadCHAP(t *testing.T, capture, server string) chapCapture {
	t.Helper()
	pkts := capturePackets(t, capture, ppp.ProtoCHAP)
	var c chapCapture
	c.challenge = find(t, pkts, server, CHAPChallen, -1)
	for _, p := range pkts {
		if p.src.String() != server && p.pkt.Code == CHAPRespons && p.pkt.ID == c.challenge.ID {
			c.response = p.pkt
			break
		}
	}
	c.answer = find(t, pkts, server, CHAPSuccess, int(c.challenge.ID))
	c.chal, _ = splitCHAP(t, c.challenge)
	c.value, c.user = splitCHAP(t, c.response)
	return c
}

func (c chapCapture) request(m ppp.AuthMethod) *Request {
	return &Request{Method: m, User: c.user, ID: c.response.ID, Challenge: c.chal, Response: c.value}
}

// TestCaptureCheck verifies the real clients' responses of every capture
// with Check, and compares what a successful check yields with what the
// real server sent and the keys the README records.
func TestCaptureCheck(t *testing.T) {
	tests := []struct {
		capture, server, user, password string
		method                          ppp.AuthMethod
		masterKey                       string // README values, when known
		serverRecv, serverSend          string
	}{
		{"pppd-mschapv2-mppe128.pcap", "10.99.0.2", "pptpuser", "pptp-secret-42", ppp.AuthMSCHAPv2,
			"76765a676f83df78d0d0e7431946c615", "2a286a5920c168bbfcba7e9b06fb9217", "bd124a42a1ac04afd550e369261ee3c3"},
		{"pppd-mschapv2-mppe40.pcap", "10.99.0.2", "pptpuser", "pptp-secret-42", ppp.AuthMSCHAPv2, "", "", ""},
		{"pppd-mschapv1-mppe128.pcap", "10.99.0.2", "pptpuser", "pptp-secret-42", ppp.AuthMSCHAPv1, "", "", ""},
		{"pppd-chapmd5-nomppe.pcap", "10.99.0.2", "pptpuser", "pptp-secret-42", ppp.AuthCHAPMD5, "", "", ""},
		{"windows-client-rras-mschapv2-mppe128.pcap", "192.168.43.104", "vpnuser", "vpnuser123", ppp.AuthMSCHAPv2, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.capture, func(t *testing.T) {
			c := loadCHAP(t, tc.capture, tc.server)
			if c.user != tc.user {
				t.Fatalf("capture user %q, want %q", c.user, tc.user)
			}
			res := Check(c.request(tc.method), tc.password, netip.Addr{})
			if !res.OK {
				t.Fatalf("Check rejects the real client's response: %s", res.Reason)
			}
			if bad := Check(c.request(tc.method), tc.password+"x", netip.Addr{}); bad.OK {
				t.Error("Check accepts the capture's response with a wrong password")
			}
			switch tc.method {
			case ppp.AuthCHAPMD5:
				if want := md5Response(c.response.ID, tc.password, c.chal); !bytes.Equal(c.value, want) {
					t.Errorf("capture response %x, MD5(id||secret||challenge) %x", c.value, want)
				}
				if res.HasKeys {
					t.Error("CHAP-MD5 gave keys")
				}
			case ppp.AuthMSCHAPv1:
				want := v1Key(ntHashHash(tc.password), c.chal)
				if !res.HasKeys || !bytes.Equal(res.SendKey[:], want) || !bytes.Equal(res.RecvKey[:], want) {
					t.Errorf("keys send %x recv %x, want %x both ways", res.SendKey, res.RecvKey, want)
				}
			case ppp.AuthMSCHAPv2:
				// The real server's Success starts with the same S=.
				if got := string(c.answer.Data); !strings.HasPrefix(got, res.AuthenticatorResponse) || len(res.AuthenticatorResponse) != 42 {
					t.Errorf("AuthenticatorResponse %q, the real server sent %q", res.AuthenticatorResponse, got)
				}
				mk := masterKey(ntHashHash(tc.password), c.value[24:48])
				if tc.masterKey != "" && !bytes.Equal(mk, mustHex(tc.masterKey)) {
					t.Fatalf("test helper master key %x, README %s", mk, tc.masterKey)
				}
				wantRecv, wantSend := startKey(mk, rfcMagic2), startKey(mk, rfcMagic3)
				if tc.serverRecv != "" {
					wantRecv, wantSend = mustHex(tc.serverRecv), mustHex(tc.serverSend)
				}
				if !bytes.Equal(res.RecvKey[:], wantRecv) || !bytes.Equal(res.SendKey[:], wantSend) {
					t.Errorf("server keys send %x recv %x, want send %x recv %x", res.SendKey, res.RecvKey, wantSend, wantRecv)
				}
			}
		})
	}
}

// TestCaptureClientDeterministic: for CHAP-MD5 and MS-CHAPv1 the response
// depends only on the challenge and the secret, so our Client fed the
// captured challenge must send exactly what pppd sent, and take the
// captured Success.
func TestCaptureClientDeterministic(t *testing.T) {
	for _, tc := range []struct {
		capture string
		method  ppp.AuthMethod
	}{
		{"pppd-chapmd5-nomppe.pcap", ppp.AuthCHAPMD5},
		{"pppd-mschapv1-mppe128.pcap", ppp.AuthMSCHAPv1},
	} {
		t.Run(tc.capture, func(t *testing.T) {
			c := loadCHAP(t, tc.capture, "10.99.0.2")
			cl := newTestClient(tc.method, "pptpuser", "pptp-secret-42")
			cl.Input(c.challenge)
			r := cl.out.one(t)
			if r.Code != c.response.Code || r.ID != c.response.ID || !bytes.Equal(r.Data, c.response.Data) {
				t.Fatalf("our response %v id %d %x, pppd's %v id %d %x", r.Code, r.ID, r.Data, c.response.Code, c.response.ID, c.response.Data)
			}
			cl.Input(c.answer)
			if len(cl.res) != 1 || !cl.res[0].OK {
				t.Fatalf("captured Success not taken: %+v", cl.res)
			}
			if tc.method == ppp.AuthMSCHAPv1 {
				want := v1Key(ntHashHash("pptp-secret-42"), c.chal)
				if !bytes.Equal(cl.res[0].SendKey[:], want) {
					t.Errorf("client key %x, want %x", cl.res[0].SendKey, want)
				}
			}
		})
	}
}

// TestCaptureClientMSCHAPv2 feeds the real server's challenge to our
// Client. Its peer challenge is random, so its response differs from the
// captured one; our response must still verify against the captured
// challenge, the captured Success (computed for the real client's
// NT-Response) must be refused, and the Success for our own response
// accepted.
func TestCaptureClientMSCHAPv2(t *testing.T) {
	for _, tc := range []struct {
		capture, server, user, password string
	}{
		{"pppd-mschapv2-mppe128.pcap", "10.99.0.2", "pptpuser", "pptp-secret-42"},
		{"windows-client-rras-mschapv2-mppe128.pcap", "192.168.43.104", "vpnuser", "vpnuser123"},
	} {
		t.Run(tc.capture, func(t *testing.T) {
			c := loadCHAP(t, tc.capture, tc.server)
			cl := newTestClient(ppp.AuthMSCHAPv2, tc.user, tc.password)
			cl.Input(c.challenge)
			r := cl.out.one(t)
			value, name := splitCHAP(t, r)
			if r.ID != c.challenge.ID || name != tc.user || len(value) != 49 {
				t.Fatalf("response id %d name %q value %d octets", r.ID, name, len(value))
			}
			res := Check(&Request{Method: ppp.AuthMSCHAPv2, User: name, ID: r.ID, Challenge: c.chal, Response: value}, tc.password, netip.Addr{})
			if !res.OK {
				t.Fatalf("our response to the real challenge does not verify: %s", res.Reason)
			}

			stale := newTestClient(ppp.AuthMSCHAPv2, tc.user, tc.password)
			stale.Input(c.challenge)
			stale.out.take()
			stale.Input(c.answer)
			if len(stale.res) != 1 || stale.res[0].OK {
				t.Errorf("a Success for another NT-Response was accepted: %+v", stale.res)
			}

			cl.Input(ppp.Packet{Code: CHAPSuccess, ID: c.challenge.ID, Data: []byte(res.AuthenticatorResponse + " M=Access granted")})
			if len(cl.res) != 1 || !cl.res[0].OK || cl.res[0].SendKey != res.RecvKey || cl.res[0].RecvKey != res.SendKey {
				t.Errorf("client result %+v; server keys send %x recv %x", cl.res, res.SendKey, res.RecvKey)
			}
		})
	}
}

// TestCapturePAP replays the pppd PAP exchange through our Server: the
// captured Authenticate-Request is verified and answered exactly as pppd's
// server did ("Login ok", same identifier).
func TestCapturePAP(t *testing.T) {
	pkts := capturePackets(t, "pppd-pap-nomppe.pcap", ppp.ProtoPAP)
	req := find(t, pkts, "10.99.0.3", PAPRequest, -1)
	realAck := find(t, pkts, "10.99.0.2", PAPAck, int(req.ID))

	s := newTestServer(ppp.AuthPAP)
	s.Start()
	s.Input(req)
	if len(s.verify) != 1 {
		t.Fatalf("Verify ran %d times, want 1", len(s.verify))
	}
	v := s.verify[0]
	if v.User != "pptpuser" || string(v.Password) != "pptp-secret-42" {
		t.Fatalf("request user %q password %q", v.User, v.Password)
	}
	s.Complete(Check(v, "pptp-secret-42", netip.Addr{}), nil)
	a := s.out.one(t)
	if a.Code != realAck.Code || a.ID != realAck.ID || !bytes.Equal(a.Data, realAck.Data) {
		t.Errorf("answer %v id %d %q, pppd sent %v id %d %q", a.Code, a.ID, a.Data, realAck.Code, realAck.ID, realAck.Data)
	}

	// Our client sends what pppd's client sent.
	cl := newTestClient(ppp.AuthPAP, "pptpuser", "pptp-secret-42")
	cl.Start()
	ours := cl.out.one(t)
	if ours.Code != req.Code || !bytes.Equal(ours.Data, req.Data) {
		t.Errorf("our request %x, pppd's %x", ours.Data, req.Data)
	}
	cl.Input(ppp.Packet{Code: realAck.Code, ID: ours.ID, Data: realAck.Data})
	if len(cl.res) != 1 || !cl.res[0].OK {
		t.Errorf("client result %+v, want success", cl.res)
	}
}
