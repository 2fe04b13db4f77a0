package lcp

import (
	"bytes"
	"slices"
	"testing"

	"github.com/gopptp/gopptp/ppp"
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
		checkSent(t, ppp.Packet{}, rec.take())
		for len(data) >= 4 {
			p, err := ppp.ParsePacket(data)
			if err != nil {
				return
			}
			l.Input(p)
			checkSent(t, p, rec.take())
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
		stillAnswers(t, l.FSM, rec, ppp.Packet{Code: ppp.ConfReq, ID: 0xa5, Data: []byte{OptMagic, 6, 9, 9, 9, 9}})
	})
}

// checkSent checks the packets an engine sent in response to in (or,
// with a zero in, on its own account).
func checkSent(t *testing.T, in ppp.Packet, sent []ppp.Packet) {
	t.Helper()
	for _, s := range sent {
		if 4+len(s.Data) > 0xffff {
			t.Fatalf("sent a %v of %d bytes", s.Code, 4+len(s.Data))
		}
		switch s.Code {
		case ppp.ConfAck, ppp.ConfNak, ppp.ConfRej:
			if in.Code != ppp.ConfReq || s.ID != in.ID {
				t.Fatalf("sent %v id %d in answer to %v id %d", s.Code, s.ID, in.Code, in.ID)
			}
			opts, err := ppp.ParseOptions(s.Data)
			if err != nil {
				t.Fatalf("sent %v with malformed options %x", s.Code, s.Data)
			}
			req, _ := ppp.ParseOptions(in.Data)
			switch s.Code {
			case ppp.ConfAck:
				if !bytes.Equal(s.Data, in.Data) {
					t.Fatalf("Configure-Ack %x of request %x", s.Data, in.Data)
				}
			case ppp.ConfRej:
				// RFC 1661 5.4: the rejected options, unmodified, in order.
				i := 0
				for _, o := range opts {
					for i < len(req) && (req[i].Type != o.Type || !bytes.Equal(req[i].Data, o.Data)) {
						i++
					}
					if i == len(req) {
						t.Fatalf("Configure-Reject %x is not made of options of the request %x", s.Data, in.Data)
					}
					i++
				}
			}
		case ppp.ConfReq:
			if _, err := ppp.ParseOptions(s.Data); err != nil {
				t.Fatalf("sent a Configure-Request with malformed options %x", s.Data)
			}
		case ppp.CodeRej:
			if !bytes.HasPrefix(in.Append(nil), s.Data) || len(s.Data) < 4 {
				t.Fatalf("Code-Reject %x of packet %x", s.Data, in.Append(nil))
			}
		case ppp.TermAck:
			if in.Code == ppp.TermReq && s.ID != in.ID {
				t.Fatalf("Terminate-Ack id %d to request id %d", s.ID, in.ID)
			}
		}
	}
}

// stillAnswers checks that the automaton, in whatever state the fuzzed
// input left it, reacts to a well-formed Configure-Request as RFC 1661's
// state table says.
func stillAnswers(t *testing.T, f *ppp.FSM, rec *recorder, req ppp.Packet) {
	t.Helper()
	state := f.State()
	f.Input(req)
	sent := rec.take()
	checkSent(t, req, sent)
	answered := false
	for _, s := range sent {
		switch s.Code {
		case ppp.ConfAck, ppp.ConfNak, ppp.ConfRej, ppp.TermAck:
			answered = s.ID == req.ID
		}
	}
	switch state {
	case ppp.Closing, ppp.Stopping:
		if len(sent) > 0 {
			t.Fatalf("in %v, answered a Configure-Request with %v", state, sent)
		}
	default:
		if !answered {
			t.Fatalf("in %v, did not answer a Configure-Request (sent %v)", state, sent)
		}
	}
}
