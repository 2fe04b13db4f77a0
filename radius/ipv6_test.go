package radius

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2866"

	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/auth"
)

func papRequest() *auth.Request {
	return &auth.Request{Method: ppp.AuthPAP, User: "alice", Password: []byte("pw")}
}

// TestAcceptIPv6: Framed-IPv6-Prefix and Delegated-IPv6-Prefix of an
// Access-Accept end up in the Grant, whether the server sends only the
// bytes the length covers or all 16, with stray host bits cleared.
func TestAcceptIPv6(t *testing.T) {
	srv := acceptWith(t, func(*radius.Packet) []*radius.AVP {
		return []*radius.AVP{
			avp(framedIPv6PrefixType, []byte{0, 64, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0x2a}),
			avp(delegatedIPv6PrefixType, append([]byte{0, 56}, netip.MustParseAddr("2001:db8:200::1").AsSlice()...)),
			avp(delegatedIPv6PrefixType, []byte{0, 48, 0x20, 0x01, 0x0d, 0xb8, 0, 3}),
		}
	})
	c := testClient(t, []string{srv.addr()}, nil, nil)
	res, g, err := NewVerifier(c).Authenticate(ctxT(t, 5*time.Second), papRequest(), Call{})
	if err != nil || !res.OK {
		t.Fatalf("Authenticate = %+v, %v", res, err)
	}
	if g.IPv6Prefix != netip.MustParsePrefix("2001:db8:1:2a::/64") {
		t.Errorf("IPv6Prefix %v", g.IPv6Prefix)
	}
	want := []netip.Prefix{netip.MustParsePrefix("2001:db8:200::/56"), netip.MustParsePrefix("2001:db8:3::/48")}
	if len(g.DelegatedPrefixes) != 2 || g.DelegatedPrefixes[0] != want[0] || g.DelegatedPrefixes[1] != want[1] {
		t.Errorf("DelegatedPrefixes %v, want %v", g.DelegatedPrefixes, want)
	}
}

// TestAcceptIPv6Refused: IPv6 attributes the server cannot use refuse the
// login with a reason that names them; none panics.
func TestAcceptIPv6Refused(t *testing.T) {
	p := func(bits byte, addr string) []byte {
		return append([]byte{0, bits}, netip.MustParseAddr(addr).AsSlice()...)
	}
	cases := []struct {
		name   string
		attrs  []*radius.AVP
		reason string
	}{
		{"framed /56", []*radius.AVP{avp(framedIPv6PrefixType, p(56, "2001:db8::"))}, "not a /64"},
		{"framed too short", []*radius.AVP{avp(framedIPv6PrefixType, []byte{0})}, "Framed-IPv6-Prefix of 1 bytes"},
		{"framed too long", []*radius.AVP{avp(framedIPv6PrefixType, make([]byte, 19))}, "Framed-IPv6-Prefix of 19 bytes"},
		{"length past the bytes", []*radius.AVP{avp(framedIPv6PrefixType, []byte{0, 64, 0x20, 0x01})}, "length /64 in 2 bytes"},
		{"length over 128", []*radius.AVP{avp(framedIPv6PrefixType, append([]byte{0, 129}, make([]byte, 16)...))}, "/129"},
		{"link-local", []*radius.AVP{avp(framedIPv6PrefixType, p(64, "fe80::"))}, "not a global unicast"},
		{"two /64s", []*radius.AVP{avp(framedIPv6PrefixType, p(64, "2001:db8:1::")), avp(framedIPv6PrefixType, p(64, "2001:db8:2::"))}, "two Framed-IPv6-Prefix"},
		{"delegated /72", []*radius.AVP{avp(delegatedIPv6PrefixType, p(72, "2001:db8::"))}, "not between /16 and /64"},
		{"delegated ::/0", []*radius.AVP{avp(delegatedIPv6PrefixType, []byte{0, 0})}, "Delegated-IPv6-Prefix ::/0 is not a global unicast"},
		{"delegated multicast", []*radius.AVP{avp(delegatedIPv6PrefixType, p(48, "ff02::"))}, "not a global unicast"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := acceptWith(t, func(*radius.Packet) []*radius.AVP { return tc.attrs })
			c := testClient(t, []string{srv.addr()}, nil, nil)
			res, g, err := NewVerifier(c).Authenticate(ctxT(t, 5*time.Second), papRequest(), Call{})
			if err != nil || res.OK || g != nil || !strings.Contains(res.Reason, tc.reason) {
				t.Errorf("Authenticate = %+v, %v, %v; want a refusal mentioning %q", res, g, err, tc.reason)
			}
		})
	}
}

// TestAccountingIPv6: Start, Interim-Update and Stop carry the session's
// Framed-IPv6-Prefix and Delegated-IPv6-Prefix; a /64 set after Begin
// (from the server's pool, when IPV6CP comes up) is in the later ones.
func TestAccountingIPv6(t *testing.T) {
	srv := accepting(t)
	c := testClient(t, []string{srv.addr()}, []string{srv.addr()}, nil)
	a := NewAccounting(c)
	delegated := netip.MustParsePrefix("2001:db8:200::/56")
	rec := Record{SessionID: a.NewSessionID(), User: "alice", DelegatedPrefixes: []netip.Prefix{delegated}}
	s := a.Begin(t.Context(), rec, 200*time.Millisecond, nil)
	// Wait for the Start before the /64 comes.
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s.SetIPv6Prefix(netip.MustParsePrefix("2001:db8:1:2a::/64"))
	time.Sleep(300 * time.Millisecond)
	if err := s.End(ctxT(t, 5*time.Second), CauseUserRequest); err != nil {
		t.Fatal(err)
	}
	rs := srv.requests()
	if len(rs) < 3 {
		t.Fatalf("%d requests, want Start, Interim-Update(s), Stop", len(rs))
	}
	for i, r := range rs {
		status, _ := radius.Integer(r.pkt.Get(rfc2866.AcctStatusType_Type))
		if got := r.pkt.Get(delegatedIPv6PrefixType); string(got) != string([]byte{0, 56, 0x20, 0x01, 0x0d, 0xb8, 0x02, 0x00, 0x00}) {
			t.Errorf("%v: Delegated-IPv6-Prefix %x", Status(status), got)
		}
		framed := r.pkt.Get(framedIPv6PrefixType)
		if i == 0 {
			if framed != nil {
				t.Errorf("Start has Framed-IPv6-Prefix %x before the session had one", framed)
			}
			continue
		}
		if string(framed) != string([]byte{0, 64, 0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0x2a}) {
			t.Errorf("%v: Framed-IPv6-Prefix %x", Status(status), framed)
		}
	}
}
