package lcp

import (
	"bytes"
	"slices"
	"testing"

	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/ppptest"
)

// FuzzLCP feeds arbitrary packets to an LCP instance in both roles, from
// every state the packets drive it into. No input may panic it, every
// packet it sends must be well-formed and a proper answer (a Configure-Ack
// echoes the request, a Configure-Reject holds only options of the
// request, ...), what it agrees on must respect its configuration, and it
// must still answer a well-formed request afterwards. Seeds:
// testdata/fuzz/FuzzLCP, the LCP conversations of the captures and of our
// own engines (go run ./internal/fuzzseed).
func FuzzLCP(f *testing.F) {
	for _, seed := range [][]byte{
		{1, 1, 0, 14, 1, 4, 5, 120, 5, 6, 1, 2, 3, 4},
		{1, 1, 0, 18, 3, 5, 0xc2, 0x23, 0x81, 7, 2, 8, 2, 13, 3, 6, 0, 0},
		{3, 1, 0, 9, 3, 5, 0xc2, 0x23, 0x05},
		{4, 1, 0, 8, 5, 4, 0, 0},
		{9, 1, 0, 8, 1, 2, 3, 4},
		{8, 2, 0, 8, 0x80, 0x57, 1, 1},
	} {
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, client bool) {
		cfg := Config{MRU: 1400, Magic: func() uint32 { return 0x01020304 }}
		if client {
			cfg.Accept = []ppp.AuthMethod{ppp.AuthMSCHAPv2, ppp.AuthPAP}
		} else {
			cfg.Require = []ppp.AuthMethod{ppp.AuthMSCHAPv2, ppp.AuthCHAPMD5}
		}
		rec := &recorder{}
		hooks := Hooks{Up: func(r Result) {
			switch {
			case r.PeerMRU < minMRU || r.PeerMRU > 0xffff:
				t.Fatalf("up with peer MRU %d", r.PeerMRU)
			case !client && !slices.Contains(cfg.Require, r.Auth):
				t.Fatalf("server up with the peer authenticating by %v, not one of %v", r.Auth, cfg.Require)
			case client && r.Auth != ppp.AuthNone:
				t.Fatalf("client up requiring %v of the server", r.Auth)
			case r.PeerAuth != ppp.AuthNone && !slices.Contains(cfg.Accept, r.PeerAuth):
				t.Fatalf("up authenticating ourselves by %v, not one of %v", r.PeerAuth, cfg.Accept)
			}
		}}
		l := New(cfg, hooks, rec.send, &fakeTimer{}, ppp.Config{}, nil)
		l.Open()
		l.Up()
		ppptest.CheckSent(t, ppp.Packet{}, rec.take())
		for len(data) >= 4 {
			p, err := ppp.ParsePacket(data)
			if err != nil {
				return
			}
			l.Input(p)
			ppptest.CheckSent(t, p, rec.take())
			l.Failure()
			data = data[4+len(p.Data):]
		}
		l.EchoTick(3)
		l.SendProtocolReject(0x8057, bytes.Repeat([]byte{7}, 2000))
		for _, p := range rec.take() {
			if p.Code == ppp.ProtoRej && 4+len(p.Data) > l.Result().PeerMRU {
				t.Fatalf("Protocol-Reject of %d bytes, peer MRU %d", 4+len(p.Data), l.Result().PeerMRU)
			}
		}
		ppptest.StillAnswers(t, l.FSM, rec.take, ppp.Packet{Code: ppp.ConfReq, ID: 0xa5, Data: []byte{OptMagic, 6, 9, 9, 9, 9}})
	})
}
