package freeradius

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/md5"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gopptp/gopptp/internal/netns"
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

// secret has characters radiusd.conf would otherwise take specially.
const secret = `s3cr3t with 'quotes' "and" \ $ {x} # %{y}`

const users = `alice	Cleartext-Password := "alice-pw"
	Reply-Message = "hello alice"
`

// papRequest returns an Access-Request for user with a PAP password and
// a Message-Authenticator.
func papRequest(user, password string) *radius.Packet {
	p := radius.New(radius.CodeAccessRequest, []byte(secret))
	rfc2865.UserName_SetString(p, user)
	rfc2865.UserPassword_SetString(p, password)
	rfc2869.MessageAuthenticator_Set(p, messageAuthenticator(p, p.Authenticator))
	return p
}

// messageAuthenticator computes p's Message-Authenticator (RFC 3579
// section 3.2): the HMAC-MD5 of p with auth as its authenticator (a
// reply's is its request's) and the attribute zeroed.
func messageAuthenticator(p *radius.Packet, auth [16]byte) []byte {
	q := *p
	q.Authenticator = auth
	q.Attributes = append(radius.Attributes(nil), p.Attributes...)
	rfc2869.MessageAuthenticator_Set(&q, make([]byte, 16))
	raw, err := q.MarshalBinary()
	if err != nil {
		panic(err)
	}
	m := hmac.New(md5.New, []byte(secret))
	m.Write(raw)
	return m.Sum(nil)
}

func TestAccessRequest(t *testing.T) {
	s := Start(t, Options{Users: users, Secret: secret})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, tc := range []struct {
		user, pw string
		want     radius.Code
	}{{"alice", "alice-pw", radius.CodeAccessAccept}, {"alice", "wrong", radius.CodeAccessReject}} {
		req := papRequest(tc.user, tc.pw)
		resp, err := radius.Exchange(ctx, req, s.AuthAddr())
		if err != nil {
			t.Fatalf("%s/%s: %v", tc.user, tc.pw, err)
		}
		if resp.Code != tc.want {
			t.Errorf("%s/%s: %v, want %v", tc.user, tc.pw, resp.Code, tc.want)
		}
		if tc.want == radius.CodeAccessAccept && rfc2865.ReplyMessage_GetString(resp) != "hello alice" {
			t.Errorf("Reply-Message %q", rfc2865.ReplyMessage_GetString(resp))
		}
		// Every reply carries a Message-Authenticator, computed with the
		// request's authenticator.
		if got := rfc2869.MessageAuthenticator_Get(resp); !hmac.Equal(got, messageAuthenticator(resp, req.Authenticator)) {
			t.Errorf("%v: Message-Authenticator %x is wrong or missing", resp.Code, got)
		}
	}
	if !strings.Contains(s.Output(), "Ready to process requests") || !strings.Contains(s.Version(), "FreeRADIUS") {
		t.Errorf("version %q, output %q", s.Version(), tail(s.Output(), 500))
	}
}

func TestRadclientAndAccounting(t *testing.T) {
	s := Start(t, Options{Users: users, Secret: secret})
	RequireRadclient(t)
	out, err := s.Radclient(t, s.AuthAddr(), "auth", secret, `User-Name = "alice"`, `User-Password = "alice-pw"`)
	if err != nil || !strings.Contains(out, "Received Access-Accept") || !strings.Contains(out, "Message-Authenticator") {
		t.Errorf("auth: %v\n%s", err, out)
	}
	out, err = s.Radclient(t, s.AuthAddr(), "auth", secret, `User-Name = "alice"`, `User-Password = "nope"`)
	if err == nil || !strings.Contains(out, "Received Access-Reject") {
		t.Errorf("wrong password: %v\n%s", err, out)
	}
	// A wrong secret gets no answer: FreeRADIUS drops a request whose
	// Message-Authenticator it cannot verify.
	t0 := time.Now()
	out, err = s.RadclientWait(t, 300*time.Millisecond, s.AuthAddr(), "auth", "wrong",
		`User-Name = "alice"`, `User-Password = "alice-pw"`, "Message-Authenticator = 0x00")
	if err == nil || !strings.Contains(out, "No reply") || time.Since(t0) > 5*time.Second {
		t.Errorf("wrong secret: %v after %v\n%s", err, time.Since(t0), out)
	}

	for _, st := range []string{"Start", "Stop"} {
		out, err := s.Radclient(t, s.AcctAddr(), "acct", secret, `Acct-Session-Id = "sess-1"`, `User-Name = "alice"`,
			"Acct-Status-Type = "+st, "Acct-Output-Octets = 42")
		if err != nil || !strings.Contains(out, "Received Accounting-Response") {
			t.Fatalf("%s: %v\n%s", st, err, out)
		}
	}
	recs := s.WaitRecords(t, func(r []map[string][]string) bool { return len(r) == 2 }, 5*time.Second)
	if got := s.SessionRecords(t, "sess-1"); !reflect.DeepEqual(got, recs) {
		t.Errorf("session records %v, all %v", got, recs)
	}
	if recs[0]["Acct-Status-Type"][0] != "Start" || recs[1]["Acct-Status-Type"][0] != "Stop" ||
		recs[1]["User-Name"][0] != "alice" || recs[1]["Acct-Output-Octets"][0] != "42" {
		t.Errorf("records %v", recs)
	}
	if got := s.SessionRecords(t, "other"); got != nil {
		t.Errorf("records of another session: %v", got)
	}
}

func TestParseDetail(t *testing.T) {
	const rec = "Mon Jan  1 00:00:00 2024\n\tUser-Name = \"a\"\n\tClass = 0x6263\n\tClass = 0x6465\n\tTimestamp = 1\n\n"
	want := []map[string][]string{{"User-Name": {"a"}, "Class": {"0x6263", "0x6465"}, "Timestamp": {"1"}}}
	for _, partial := range []string{"", "Mon Jan", "Mon Jan  1 00:00:00 2024\n", "Mon Jan  1 00:00:00 2024\n\tUser-Name = \"b\"\n"} {
		if got := parseDetail(rec + partial); !reflect.DeepEqual(got, want) {
			t.Errorf("with %q after it: %v", partial, got)
		}
	}
	if got := parseDetail(""); got != nil {
		t.Errorf("empty: %v", got)
	}
}

// TestNamespace runs FreeRADIUS and radclient inside a fresh network
// namespace on the standard ports.
func TestNamespace(t *testing.T) {
	netns.RequireRoot(t)
	h := netns.NewHost(t, "frad")
	s := Start(t, Options{Users: users, Secret: secret, Ports: StandardPorts, Command: h.Command})
	if s.AuthAddr() != "127.0.0.1:1812" || s.AcctAddr() != "127.0.0.1:1813" {
		t.Errorf("addresses %s, %s", s.AuthAddr(), s.AcctAddr())
	}
	out, err := s.Radclient(t, s.AuthAddr(), "auth", secret, `User-Name = "alice"`, `User-Password = "alice-pw"`)
	if err != nil || !strings.Contains(out, "Received Access-Accept") {
		t.Errorf("auth: %v\n%s", err, out)
	}
	// Go code in the namespace reaches it too.
	err = h.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := radius.Exchange(ctx, papRequest("alice", "alice-pw"), s.AuthAddr())
		if err == nil && resp.Code != radius.CodeAccessAccept {
			t.Errorf("%v", resp.Code)
		}
		return err
	})
	if err != nil {
		t.Error(err)
	}
}

func TestListenAndClients(t *testing.T) {
	for _, tc := range []struct {
		listen  string
		clients []string
		want    bool // answered
	}{
		{"0.0.0.0", []string{"10.0.0.0/8", "127.0.0.0/8"}, true},
		{"::1", []string{"::1"}, true},
		{"", []string{"10.0.0.0/8"}, false}, // 127.0.0.1 is no client
	} {
		t.Run(cmp.Or(tc.listen, "default"), func(t *testing.T) {
			if tc.listen == "::1" {
				c, err := net.ListenPacket("udp", "[::1]:0")
				if err != nil {
					t.Skipf("no IPv6 loopback: %v", err)
				}
				c.Close()
			}
			s := Start(t, Options{Users: users, Secret: secret, ListenAddr: tc.listen, Clients: tc.clients})
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			resp, err := radius.Exchange(ctx, papRequest("alice", "alice-pw"), s.AuthAddr())
			if tc.want && (err != nil || resp.Code != radius.CodeAccessAccept) {
				t.Errorf("%s: %v, %v", s.AuthAddr(), resp, err)
			}
			if !tc.want && err == nil {
				t.Errorf("%s: %v to a client not in %v", s.AuthAddr(), resp.Code, tc.clients)
			}
		})
	}
}
