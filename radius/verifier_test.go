package radius

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"github.com/gopptp/gopptp/mppe"
	"github.com/gopptp/gopptp/mschap"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/auth"
	"github.com/gopptp/gopptp/ppp/ccp"
)

// msv2Request makes the auth.Request of an MS-CHAP-v2 login, as auth.Server
// hands it over: Response = PeerChallenge, 8 zero bytes, NT-Response, flags.
func msv2Request(user, password string, id byte) (*auth.Request, [16]byte, [24]byte) {
	var authChal, peerChal [16]byte
	for i := range authChal {
		authChal[i] = byte(i*7 + 1)
		peerChal[i] = byte(i*13 + 5)
	}
	nt := mschap.GenerateNTResponse(authChal, peerChal, user, mschap.NTPasswordHash(password))
	resp := make([]byte, 49)
	copy(resp, peerChal[:])
	copy(resp[24:], nt[:])
	return &auth.Request{Method: ppp.AuthMSCHAPv2, User: user, ID: id, Challenge: authChal[:], Response: resp,
		Peer: netip.MustParseAddr("::ffff:192.0.2.10")}, peerChal, nt
}

// attrString returns the string value of the first attribute of typ.
func attrString(p *radius.Packet, typ radius.Type) string { return string(p.Get(typ)) }

func attrInt(t *testing.T, p *radius.Packet, typ radius.Type) uint32 {
	t.Helper()
	v, err := radius.Integer(p.Get(typ))
	if err != nil {
		t.Fatalf("attribute %d: %v", typ, err)
	}
	return v
}

func TestAccessRequestAttributes(t *testing.T) {
	srv := newFakeServer(t, func(req *radius.Packet, raw []byte) [][]byte {
		return [][]byte{answer(t, req, radius.CodeAccessReject, false)}
	})
	// last returns the last request the server received (the reply to it
	// has arrived, so it is complete).
	var got *radius.Packet
	var gotRaw []byte
	last := func() {
		rs := srv.requests()
		got, gotRaw = rs[len(rs)-1].pkt, rs[len(rs)-1].raw
	}
	c := testClient(t, []string{srv.addr()}, nil, func(c *Config) { c.CalledStationID = "203.0.113.1" })
	v := NewVerifier(c)
	ctx := ctxT(t, 5*time.Second)

	// PAP: User-Password hidden with the secret and the authenticator.
	req := &auth.Request{Method: ppp.AuthPAP, User: "alice", Password: []byte("a fairly long password, two blocks"), Peer: netip.MustParseAddr("192.0.2.10")}
	res, g, err := v.Authenticate(ctx, req, Call{NASPort: 4242, HasNASPort: true, SessionID: "S1", CalledStationID: "198.51.100.1"})
	if err != nil || res.OK || g != nil {
		t.Fatalf("Authenticate = %+v, %v, %v; want a rejection", res, g, err)
	}
	if !strings.Contains(res.Reason, "rejected by RADIUS server") {
		t.Errorf("reason %q", res.Reason)
	}
	last()
	pw, err := radius.UserPassword(got.Get(rfc2865.UserPassword_Type), []byte(testSecret), got.Authenticator[:])
	if err != nil || string(pw) != string(req.Password) {
		t.Errorf("User-Password decrypts to %q, %v", pw, err)
	}
	for typ, want := range map[radius.Type]string{
		rfc2865.UserName_Type:         "alice",
		rfc2865.NASIdentifier_Type:    "test-nas",
		rfc2865.CallingStationID_Type: "192.0.2.10",
		rfc2865.CalledStationID_Type:  "198.51.100.1", // the Call's, not the Config's
		rfc2866.AcctSessionID_Type:    "S1",
	} {
		if s := attrString(got, typ); s != want {
			t.Errorf("attribute %d = %q, want %q", typ, s, want)
		}
	}
	for typ, want := range map[radius.Type]uint32{
		rfc2865.NASPort_Type:        4242,
		rfc2865.NASPortType_Type:    5, // Virtual
		rfc2865.ServiceType_Type:    2, // Framed-User
		rfc2865.FramedProtocol_Type: 1, // PPP
	} {
		if n := attrInt(t, got, typ); n != want {
			t.Errorf("attribute %d = %d, want %d", typ, n, want)
		}
	}
	// The Message-Authenticator is right, computed independently.
	ma := got.Get(rfc2869.MessageAuthenticator_Type)
	if len(ma) != 16 {
		t.Fatalf("Message-Authenticator %x", ma)
	}
	z := bytes.Replace(gotRaw, ma, make([]byte, 16), 1)
	if !bytes.Equal(hmacMD5([]byte(testSecret), z), ma) {
		t.Error("wrong Message-Authenticator in the Access-Request")
	}

	// CHAP: CHAP-Password = ID + response, CHAP-Challenge.
	chal := bytes.Repeat([]byte{0x42}, 16)
	resp := bytes.Repeat([]byte{0x17}, 16)
	v.Verify(ctx, &auth.Request{Method: ppp.AuthCHAPMD5, User: "alice", ID: 9, Challenge: chal, Response: resp})
	last()
	if cp := got.Get(rfc2865.CHAPPassword_Type); !bytes.Equal(cp, append([]byte{9}, resp...)) {
		t.Errorf("CHAP-Password %x", cp)
	}
	if cc := got.Get(rfc2865.CHAPChallenge_Type); !bytes.Equal(cc, chal) {
		t.Errorf("CHAP-Challenge %x", cc)
	}
	if got.Get(rfc2865.CalledStationID_Type) == nil || attrString(got, rfc2865.CalledStationID_Type) != "203.0.113.1" {
		t.Errorf("Called-Station-Id %q, want the configured one", attrString(got, rfc2865.CalledStationID_Type))
	}
	if got.Get(rfc2865.NASPort_Type) != nil {
		t.Error("NAS-Port sent without a call")
	}

	// MS-CHAP-v2: MS-CHAP-Challenge and MS-CHAP2-Response = Ident, Flags,
	// Peer-Challenge, Reserved, NT-Response.
	mreq, peerChal, nt := msv2Request("alice", "pw", 77)
	v.Verify(ctx, mreq)
	last()
	var mc, mr []byte
	for _, a := range msAttributes(got) {
		switch a.typ {
		case msCHAPChallenge:
			mc = a.val
		case msCHAP2Response:
			mr = a.val
		}
	}
	if !bytes.Equal(mc, mreq.Challenge) {
		t.Errorf("MS-CHAP-Challenge %x", mc)
	}
	want := append(append(append([]byte{77, 0}, peerChal[:]...), make([]byte, 8)...), nt[:]...)
	if !bytes.Equal(mr, want) {
		t.Errorf("MS-CHAP2-Response\n got %x\nwant %x", mr, want)
	}

	// MS-CHAPv1: MS-CHAP-Response = Ident, Flags (1: use NT), LM, NT.
	v1 := make([]byte, 49)
	copy(v1[24:], bytes.Repeat([]byte{0xee}, 24))
	v1[48] = 1
	v.Verify(ctx, &auth.Request{Method: ppp.AuthMSCHAPv1, User: "alice", ID: 3, Challenge: make([]byte, 8), Response: v1})
	last()
	for _, a := range msAttributes(got) {
		if a.typ == msCHAPResponse {
			want := append(append([]byte{3, 1}, make([]byte, 24)...), bytes.Repeat([]byte{0xee}, 24)...)
			if !bytes.Equal(a.val, want) {
				t.Errorf("MS-CHAP-Response %x", a.val)
			}
		}
	}

	// Requests that cannot be sent are refused without asking.
	n := len(srv.requests())
	for _, r := range []*auth.Request{
		{Method: ppp.AuthPAP, User: "", Password: []byte("x")},
		{Method: ppp.AuthPAP, User: "u", Password: make([]byte, 129)},
		{Method: ppp.AuthMSCHAPv2, User: "u", Challenge: make([]byte, 8), Response: make([]byte, 49)},
		{Method: ppp.AuthCHAPMD5, User: "u", Challenge: make([]byte, 16), Response: make([]byte, 15)},
	} {
		res, _, err := v.Authenticate(ctx, r, Call{})
		if err != nil || res.OK || res.Reason == "" {
			t.Errorf("%+v: %+v, %v", r, res, err)
		}
	}
	if len(srv.requests()) != n {
		t.Error("malformed logins were sent to the server")
	}
}

// acceptWith answers every Access-Request with an Access-Accept whose
// attributes make(req) returns.
func acceptWith(t *testing.T, make func(req *radius.Packet) []*radius.AVP) *fakeServer {
	return newFakeServer(t, func(req *radius.Packet, _ []byte) [][]byte {
		return [][]byte{answer(t, req, radius.CodeAccessAccept, true, make(req)...)}
	})
}

func TestAcceptMSCHAPv2(t *testing.T) {
	const user, password = "alice", "Clyde-and-Bonnie"
	sendKey := bytes.Repeat([]byte{0x5e}, 16)
	recvKey := bytes.Repeat([]byte{0x7e}, 16)
	req, peerChal, nt := msv2Request(user, password, 5)
	authResp := mschap.AuthenticatorResponse(mschap.NTPasswordHash(password), nt, peerChal, [16]byte(req.Challenge), user)
	srv := acceptWith(t, func(req *radius.Packet) []*radius.AVP {
		var ident byte
		for _, a := range msAttributes(req) {
			if a.typ == msCHAP2Response {
				ident = a.val[0]
			}
		}
		return []*radius.AVP{
			msAVP(msCHAP2Success, append([]byte{ident}, "S="+strings.ToLower(authResp[2:])...)),
			msAVP(msMPPESendKey, rfc2548Encrypt(sendKey, []byte(testSecret), req.Authenticator, [2]byte{0x81, 0x11})),
			msAVP(msMPPERecvKey, rfc2548Encrypt(recvKey, []byte(testSecret), req.Authenticator, [2]byte{0x82, 0x22})),
			msAVP(msMPPEEncryptionPolicy, []byte{0, 0, 0, 2}),
			msAVP(msMPPEEncryptionTypes, []byte{0, 0, 0, 4}),
			msAVP(msPrimaryDNSServer, []byte{10, 0, 0, 53}),
			avp(rfc2865.FramedIPAddress_Type, []byte{10, 1, 2, 3}),
			avp(rfc2865.Class_Type, []byte("c1")),
			avp(rfc2865.Class_Type, []byte("c2")),
			avp(rfc2869.AcctInterimInterval_Type, radius.NewInteger(10)),
			avp(rfc2865.UserName_Type, []byte("alice@realm")),
		}
	})
	c := testClient(t, []string{srv.addr()}, nil, func(c *Config) { c.RequireMessageAuthenticator = true })
	res, g, err := NewVerifier(c).Authenticate(ctxT(t, 5*time.Second), req, Call{})
	if err != nil || !res.OK {
		t.Fatalf("Authenticate = %+v, %v", res, err)
	}
	if res.AuthenticatorResponse != authResp {
		t.Errorf("AuthenticatorResponse %q, want %q (upper case)", res.AuthenticatorResponse, authResp)
	}
	if !res.HasKeys || !bytes.Equal(res.SendKey[:], sendKey) || !bytes.Equal(res.RecvKey[:], recvKey) {
		t.Errorf("keys %x %x %v", res.SendKey, res.RecvKey, res.HasKeys)
	}
	if res.Addr != netip.MustParseAddr("10.1.2.3") || g.Addr != res.Addr {
		t.Errorf("address %v / %v", res.Addr, g.Addr)
	}
	if g.MPPEPolicy != MPPEPolicyRequired || g.MPPETypes != MPPETypes128 || g.DNS[0] != netip.MustParseAddr("10.0.0.53") {
		t.Errorf("grant %+v", g)
	}
	if len(g.Class) != 2 || string(g.Class[1]) != "c2" || g.User != "alice@realm" || g.InterimInterval != MinInterimInterval {
		t.Errorf("grant %+v", g)
	}
	cc := g.ApplyMPPE(ccp.Config{Allow40: true, Allow56: true, Allow128: true})
	if cc != (ccp.Config{Allow128: true, Required: true}) {
		t.Errorf("ApplyMPPE = %+v", cc)
	}
}

func TestAcceptMSCHAPv1Keys(t *testing.T) {
	const password = "MyPw"
	h := mschap.NTPasswordHash(password)
	hh := mschap.HashNTPasswordHash(h)
	chal := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	srv := acceptWith(t, func(req *radius.Packet) []*radius.AVP {
		keys := append(make([]byte, 8), hh[:]...)
		return []*radius.AVP{msAVP(msCHAPMPPEKeys, rfc2865Hide(keys, []byte(testSecret), req.Authenticator))}
	})
	nt := mschap.NTChallengeResponse(chal, h)
	resp := make([]byte, 49)
	copy(resp[24:], nt[:])
	resp[48] = 1
	c := testClient(t, []string{srv.addr()}, nil, nil)
	res, _, err := NewVerifier(c).Authenticate(ctxT(t, 5*time.Second), &auth.Request{Method: ppp.AuthMSCHAPv1, User: "u", Challenge: chal[:], Response: resp}, Call{})
	if err != nil || !res.OK || !res.HasKeys {
		t.Fatalf("Authenticate = %+v, %v", res, err)
	}
	// pppd's radius_setmppekeys: mppe_set_chapv1(challenge, NT key).
	want := mppe.StartKeyV1(hh, chal)
	local := auth.Check(&auth.Request{Method: ppp.AuthMSCHAPv1, User: "u", Challenge: chal[:], Response: resp}, password, netip.Addr{})
	if res.SendKey != want || res.RecvKey != want || local.SendKey != want {
		t.Errorf("keys %x %x, want %x (local check %x)", res.SendKey, res.RecvKey, want, local.SendKey)
	}
}

func TestAcceptRefused(t *testing.T) {
	good := func(req *radius.Packet) []*radius.AVP { return nil }
	cases := []struct {
		name   string
		method ppp.AuthMethod
		attrs  func(req *radius.Packet) []*radius.AVP
		reason string
	}{
		{"no MS-CHAP2-Success", ppp.AuthMSCHAPv2, good, "no MS-CHAP2-Success"},
		{"bad MS-CHAP2-Success", ppp.AuthMSCHAPv2, func(*radius.Packet) []*radius.AVP {
			return []*radius.AVP{msAVP(msCHAP2Success, append([]byte{5}, "S=XYZ"+strings.Repeat("0", 38)...))}
		}, "MS-CHAP2-Success"},
		{"only a send key", ppp.AuthPAP, func(req *radius.Packet) []*radius.AVP {
			return []*radius.AVP{msAVP(msMPPESendKey, rfc2548Encrypt(make([]byte, 16), []byte(testSecret), req.Authenticator, [2]byte{0x80, 0}))}
		}, "only one of"},
		{"key encrypted for another request", ppp.AuthPAP, func(req *radius.Packet) []*radius.AVP {
			var other [16]byte
			return []*radius.AVP{
				msAVP(msMPPESendKey, rfc2548Encrypt(make([]byte, 16), []byte(testSecret), other, [2]byte{0x80, 0})),
				msAVP(msMPPERecvKey, rfc2548Encrypt(make([]byte, 16), []byte(testSecret), other, [2]byte{0x80, 0})),
			}
		}, "MS-MPPE-Send-Key"},
		{"login service", ppp.AuthPAP, func(*radius.Packet) []*radius.AVP {
			return []*radius.AVP{avp(rfc2865.ServiceType_Type, radius.NewInteger(1))}
		}, "Service-Type 1"},
		{"SLIP", ppp.AuthPAP, func(*radius.Packet) []*radius.AVP {
			return []*radius.AVP{avp(rfc2865.FramedProtocol_Type, radius.NewInteger(2))}
		}, "Framed-Protocol 2"},
		{"broadcast address", ppp.AuthPAP, func(*radius.Packet) []*radius.AVP {
			return []*radius.AVP{avp(rfc2865.FramedIPAddress_Type, []byte{224, 0, 0, 1})}
		}, "not a unicast"},
		{"short Session-Timeout", ppp.AuthPAP, func(*radius.Packet) []*radius.AVP {
			return []*radius.AVP{avp(rfc2865.SessionTimeout_Type, []byte{1})}
		}, "Session-Timeout of 1 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := acceptWith(t, tc.attrs)
			c := testClient(t, []string{srv.addr()}, nil, nil)
			req, _, _ := msv2Request("alice", "pw", 5)
			if tc.method == ppp.AuthPAP {
				req = &auth.Request{Method: ppp.AuthPAP, User: "alice", Password: []byte("pw")}
			}
			res, g, err := NewVerifier(c).Authenticate(ctxT(t, 5*time.Second), req, Call{})
			if err != nil || res.OK || g != nil || !strings.Contains(res.Reason, tc.reason) {
				t.Errorf("Authenticate = %+v, %v, %v; want a refusal mentioning %q", res, g, err, tc.reason)
			}
		})
	}
}

func TestAcceptSpecialAddresses(t *testing.T) {
	for _, tc := range []struct {
		addr        [4]byte
		peerChooses bool
	}{{[4]byte{255, 255, 255, 254}, false}, {[4]byte{255, 255, 255, 255}, true}} {
		srv := acceptWith(t, func(*radius.Packet) []*radius.AVP {
			return []*radius.AVP{avp(rfc2865.FramedIPAddress_Type, tc.addr[:]), avp(rfc2869.FramedPool_Type, []byte("pool\x1b"))}
		})
		c := testClient(t, []string{srv.addr()}, nil, nil)
		res, g, err := NewVerifier(c).Authenticate(ctxT(t, 5*time.Second), &auth.Request{Method: ppp.AuthPAP, User: "a", Password: []byte("p")}, Call{})
		if err != nil || !res.OK || res.Addr.IsValid() || g.PeerChoosesAddr != tc.peerChooses || g.Pool != "pool." {
			t.Errorf("%v: %+v %+v %v", tc.addr, res, g, err)
		}
	}
}

func TestRejectReason(t *testing.T) {
	srv := newFakeServer(t, func(req *radius.Packet, _ []byte) [][]byte {
		return [][]byte{answer(t, req, radius.CodeAccessReject, false,
			msAVP(msCHAPError, append([]byte{5}, "E=691 R=0 V=3\x1b[31m"...)),
			avp(rfc2865.ReplyMessage_Type, []byte("go away")))}
	})
	c := testClient(t, []string{srv.addr()}, nil, nil)
	req, _, _ := msv2Request("alice", "pw", 5)
	res, err := NewVerifier(c).Verify(ctxT(t, 5*time.Second), req)
	if err != nil || res.OK {
		t.Fatalf("Verify = %+v, %v", res, err)
	}
	if !strings.Contains(res.Reason, "MS-CHAP-Error E=691 R=0 V=3.[31m") || !strings.Contains(res.Reason, "go away") {
		t.Errorf("reason %q", res.Reason)
	}
}

func TestCallVerifierGrant(t *testing.T) {
	srv := acceptWith(t, func(*radius.Packet) []*radius.AVP {
		return []*radius.AVP{avp(rfc2865.SessionTimeout_Type, radius.NewInteger(99)), avp(rfc2865.IdleTimeout_Type, radius.NewInteger(7))}
	})
	c := testClient(t, []string{srv.addr()}, nil, nil)
	cv := NewVerifier(c).ForCall(Call{NASPort: 7, HasNASPort: true})
	var _ auth.Verifier = cv
	if cv.Grant() != nil {
		t.Fatal("grant before any login")
	}
	res, err := cv.Verify(ctxT(t, 5*time.Second), &auth.Request{Method: ppp.AuthPAP, User: "a", Password: []byte("p")})
	if err != nil || !res.OK {
		t.Fatal(res, err)
	}
	g := cv.Grant()
	if g == nil || g.SessionTimeout != 99*time.Second || g.IdleTimeout != 7*time.Second {
		t.Errorf("grant %+v", g)
	}
	if p := srv.requests()[0].pkt; binary.BigEndian.Uint32(p.Get(rfc2865.NASPort_Type)) != 7 {
		t.Error("NAS-Port of the call not sent")
	}
}

func TestApplyMPPE(t *testing.T) {
	all := ccp.Config{Allow40: true, Allow56: true, Allow128: true}
	for _, tc := range []struct {
		g    *Grant
		in   ccp.Config
		want ccp.Config
	}{
		{nil, all, all},
		{&Grant{}, all, all},
		{&Grant{MPPETypes: MPPETypes40}, all, all}, // types without a policy: ignored, as pppd does
		{&Grant{MPPEPolicy: MPPEPolicyAllowed, MPPETypes: MPPETypes40 | MPPETypes128}, all, ccp.Config{Allow40: true, Allow128: true}},
		{&Grant{MPPEPolicy: MPPEPolicyAllowed, MPPETypes: MPPETypes128}, ccp.Config{Allow40: true}, ccp.Config{}}, // never adds
		{&Grant{MPPEPolicy: MPPEPolicyRequired}, ccp.Config{Allow128: true}, ccp.Config{Allow128: true, Required: true}},
		{&Grant{MPPEPolicy: MPPEPolicyRequired}, ccp.Config{}, ccp.Config{Required: true}},
	} {
		if got := tc.g.ApplyMPPE(tc.in); got != tc.want {
			t.Errorf("%+v.ApplyMPPE(%+v) = %+v, want %+v", tc.g, tc.in, got, tc.want)
		}
	}
}

func TestDefaultRealm(t *testing.T) {
	srv := acceptWith(t, func(*radius.Packet) []*radius.AVP { return nil })
	c := testClient(t, []string{srv.addr()}, nil, func(c *Config) { c.DefaultRealm = "example.org" })
	v := NewVerifier(c)
	for user, want := range map[string]string{"alice": "alice@example.org", "bob@other": "bob@other"} {
		res, g, err := v.Authenticate(ctxT(t, 5*time.Second), &auth.Request{Method: ppp.AuthPAP, User: user, Password: []byte("p")}, Call{})
		if err != nil || !res.OK {
			t.Fatal(res, err)
		}
		rs := srv.requests()
		if got := attrString(rs[len(rs)-1].pkt, rfc2865.UserName_Type); got != want || g.User != want {
			t.Errorf("%s: User-Name %q, grant user %q; want %q", user, got, g.User, want)
		}
	}
}

func TestParseFramedRoute(t *testing.T) {
	for in, want := range map[string]string{
		"10.1.0.0/16 0.0.0.0 1": "10.1.0.0/16",
		"10.1.2.3/24":           "10.1.2.0/24",
		"192.0.2.7":             "192.0.2.7/32",
		"  10.9.0.0/24  ":       "10.9.0.0/24",
	} {
		p, err := parseFramedRoute(in)
		if err != nil || p.String() != want {
			t.Errorf("%q: %v %v, want %s", in, p, err, want)
		}
	}
	for _, in := range []string{"", "garbage", "10.0.0.0/4", "2001:db8::/32", "10.0.0.0/40"} {
		if _, err := parseFramedRoute(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
