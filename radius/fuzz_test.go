package radius

import (
	"crypto/md5"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"layeh.com/radius"

	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/auth"
)

// signedReply wraps attrs (any bytes) into a reply of code to a request
// with authenticator reqAuth, with a valid Response Authenticator, so that
// fuzzed attributes get past the transport checks.
func signedReply(code radius.Code, id byte, reqAuth [16]byte, attrs []byte, secret []byte) []byte {
	if len(attrs) > radius.MaxPacketLength-20 {
		attrs = attrs[:radius.MaxPacketLength-20]
	}
	b := make([]byte, 20+len(attrs))
	b[0], b[1] = byte(code), id
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	copy(b[20:], attrs)
	h := md5.New()
	h.Write(b[:4])
	h.Write(reqAuth[:])
	h.Write(b[20:])
	h.Write(secret)
	h.Sum(b[4:4])
	return b
}

// FuzzReply feeds authentic replies with arbitrary attributes to the reply
// checks and to the Access-Accept interpretation of every method: they
// must never panic, and an accepted login must be consistent.
func FuzzReply(f *testing.F) {
	f.Add([]byte{26, 12, 0, 0, 1, 55, 16, 6, 0x80, 0, 1, 2}, byte(2))
	f.Add([]byte{8, 6, 10, 0, 0, 1, 27, 6, 0, 0, 0, 60}, byte(2))
	f.Add([]byte{26, 51, 0, 0, 1, 55, 26, 45, 5, 'S', '='}, byte(2))
	f.Add([]byte{80, 18, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, byte(3))
	secret := []byte(testSecret)
	c, err := NewClient(Config{AuthServers: []Server{{Addr: "127.0.0.1:1812", Secret: testSecret}}, Log: quietLog()})
	if err != nil {
		f.Fatal(err)
	}
	s := c.auth[0]
	reqAuth := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	sent := []sentReq{{id: 5, auth: reqAuth}}
	reqs := []*auth.Request{
		{Method: ppp.AuthPAP, User: "u", Password: []byte("p")},
		{Method: ppp.AuthCHAPMD5, User: "u", ID: 5, Challenge: make([]byte, 16), Response: make([]byte, 16)},
		{Method: ppp.AuthMSCHAPv1, User: "u", ID: 5, Challenge: make([]byte, 8), Response: make([]byte, 49)},
		{Method: ppp.AuthMSCHAPv2, User: "u", ID: 5, Challenge: make([]byte, 16), Response: make([]byte, 49)},
	}
	f.Fuzz(func(t *testing.T, attrs []byte, code byte) {
		b := signedReply(radius.Code(code), 5, reqAuth, attrs, secret)
		r, err := c.check(s, radius.CodeAccessRequest, b, sent)
		if err != nil {
			return
		}
		for _, req := range reqs {
			switch r.Code {
			case radius.CodeAccessAccept:
				res, g := accept(req, r)
				if res.OK != (g != nil) {
					t.Fatalf("OK %v with grant %v", res.OK, g)
				}
				if res.OK && req.Method == ppp.AuthMSCHAPv2 && len(res.AuthenticatorResponse) != 42 {
					t.Fatalf("authenticator response %q", res.AuthenticatorResponse)
				}
				if res.HasKeys && req.Method != ppp.AuthMSCHAPv1 && req.Method != ppp.AuthMSCHAPv2 {
					t.Fatal("keys for a method without MPPE")
				}
			case radius.CodeAccessReject:
				_ = rejectReason(r)
			}
		}
	})
}

// FuzzDAE feeds authentic Disconnect- and CoA-Requests with arbitrary
// attributes to the DAE listener.
func FuzzDAE(f *testing.F) {
	f.Add([]byte{1, 7, 'a', 'l', 'i', 'c', 'e'}, true)
	f.Add([]byte{44, 3, 'x', 27, 6, 0, 0, 0, 9}, false)
	f.Add([]byte{8, 6, 10, 0, 0, 2, 55, 6, 0, 0, 0, 0}, true)
	fs := &fakeSessions{sessions: []Record{aliceSession()}}
	d := &DAEServer{secret: []byte(testSecret), clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		sessions: fs, nasID: "nas", log: quietLog(), dups: map[dupKey]dupEntry{}}
	src := netip.MustParseAddrPort("127.0.0.1:4000")
	f.Fuzz(func(t *testing.T, attrs []byte, disconnect bool) {
		if len(attrs) > radius.MaxPacketLength-20 {
			attrs = attrs[:radius.MaxPacketLength-20]
		}
		code := radius.CodeCoARequest
		if disconnect {
			code = radius.CodeDisconnectRequest
		}
		b := make([]byte, 20+len(attrs))
		b[0], b[1] = byte(code), byte(len(attrs))
		binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
		copy(b[20:], attrs)
		h := md5.New()
		h.Write(b)
		h.Write([]byte(testSecret))
		h.Sum(b[4:4])
		out, err := d.handle(src, b, time.Unix(0, 0))
		if err != nil {
			return
		}
		if !radius.IsAuthenticResponse(out, b, []byte(testSecret)) || out[1] != b[1] {
			t.Fatal("answer not authentic")
		}
		fs.mu.Lock()
		fs.sessions = []Record{aliceSession()}
		fs.mu.Unlock()
	})
}

// FuzzDecrypt checks that the decryptions reject rather than panic.
func FuzzDecrypt(f *testing.F) {
	f.Add([]byte{0x80, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Fuzz(func(t *testing.T, v []byte) {
		var ra [16]byte
		if k, err := decryptSalted(v, []byte("s"), ra); err == nil && len(k) > len(v) {
			t.Fatal("key longer than its attribute")
		}
		decryptHidden(v, []byte("s"), ra)
		chapMPPEKeys(v, []byte("s"), ra)
	})
}
