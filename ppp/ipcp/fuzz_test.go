package ipcp

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/gopptp/gopptp/ppp"
)

// FuzzIPCP feeds arbitrary packets to IPCP in the server and client roles.
// Besides not panicking, every packet it sends must be well-formed and a
// proper answer, a server must never agree on addresses other than the
// ones it assigns, a client never comes up without an address, and it
// must still answer a well-formed request afterwards. Seeds:
// testdata/fuzz/FuzzIPCP, the IPCP conversations of the captures and of
// our own engines (go run ./internal/fuzzseed).
func FuzzIPCP(f *testing.F) {
	f.Add([]byte{1, 1, 0, 34, 3, 6, 0, 0, 0, 0, 129, 6, 0, 0, 0, 0, 130, 6, 0, 0, 0, 0, 131, 6, 0, 0, 0, 0, 132, 6, 0, 0, 0, 0}, false)
	f.Add([]byte{3, 1, 0, 10, 3, 6, 192, 168, 0, 234}, true)
	f.Add([]byte{4, 1, 0, 10, 129, 6, 0, 0, 0, 0}, true)
	f.Add([]byte{1, 1, 0, 10, 2, 6, 0, 0x2d, 0x0f, 1}, false)
	f.Fuzz(func(t *testing.T, data []byte, client bool) {
		cfg := Config{Local: netip.MustParseAddr("192.168.0.1"), Peer: netip.MustParseAddr("192.168.0.234"),
			DNS: [2]netip.Addr{netip.MustParseAddr("10.0.0.53")}}
		if client {
			cfg = Config{RequestDNS: true}
		}
		rec := &recorder{}
		hooks := Hooks{Up: func(r Result) {
			switch {
			case !r.Local.Is4() || r.Local.IsUnspecified():
				t.Fatalf("up with local address %v", r.Local)
			case !client && (r.Local != cfg.Local || r.Peer != cfg.Peer):
				t.Fatalf("server up with %v, configured %v and %v", r, cfg.Local, cfg.Peer)
			case !client && len(r.DNS) > 0:
				t.Fatalf("server up using the client's DNS %v", r.DNS)
			case len(r.DNS) > 2:
				t.Fatalf("up with DNS %v", r.DNS)
			}
		}}
		c := New(cfg, hooks, rec.send, &fakeTimer{}, ppp.Config{})
		c.Open()
		c.Up()
		checkSent(t, ppp.Packet{}, rec.take())
		for len(data) >= 4 {
			p, err := ppp.ParsePacket(data)
			if err != nil {
				return
			}
			c.Input(p)
			checkSent(t, p, rec.take())
			c.Failure()
			_ = c.Result()
			data = data[4+len(p.Data):]
		}
		stillAnswers(t, c.FSM, rec, ppp.Packet{Code: ppp.ConfReq, ID: 0xa5, Data: []byte{OptAddress, 6, 192, 168, 0, 234}})
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
