package ccp

import (
	"bytes"
	"testing"

	"github.com/gopptp/gopptp/ppp"
)

// FuzzCCP feeds arbitrary packets to CCP with each MPPE policy. Besides not
// panicking, every packet it sends must be well-formed and a proper answer,
// what it agrees on must respect the policy (key lengths allowed, MPPE
// both ways when required, stateless unless stateful is allowed), and it
// must still answer a well-formed request afterwards. The policy bits:
// 1 refuses 128-bit keys, 2 and 4 allow 40 and 56 bits, 8 requires MPPE,
// 16 allows and 32 requires stateful mode. Seeds: testdata/fuzz/FuzzCCP,
// the CCP conversations of the captures and of our own engines (go run
// ./internal/fuzzseed).
func FuzzCCP(f *testing.F) {
	f.Add([]byte{1, 1, 0, 10, 18, 6, 1, 0, 0, 0x41}, uint8(0))
	f.Add([]byte{3, 1, 0, 10, 18, 6, 0, 0, 0, 0x60}, uint8(1))
	f.Add([]byte{4, 1, 0, 10, 18, 6, 1, 0, 0, 0x40}, uint8(2))
	f.Add([]byte{1, 1, 0, 8, 26, 4, 0x78, 0, 14, 1, 0, 4}, uint8(3))
	f.Add([]byte{1, 1, 0, 10, 18, 6, 0, 0, 0, 0x40, 14, 2, 0, 4}, uint8(16|32))
	f.Fuzz(func(t *testing.T, data []byte, policy uint8) {
		cfg := Config{Allow128: policy&1 == 0, Allow40: policy&2 != 0, Allow56: policy&4 != 0,
			Required: policy&8 != 0, AllowStateful: policy&16 != 0, RequireStateful: policy&32 != 0}
		allowed := map[int]bool{40: cfg.Allow40, 56: cfg.Allow56, 128: cfg.Allow128}
		rec := &recorder{}
		hooks := Hooks{Up: func(r Result) {
			for _, d := range []Direction{r.Send, r.Recv} {
				switch {
				case d.On && !allowed[d.KeyBits]:
					t.Fatalf("agreed on %v with policy %+v", d, cfg)
				case cfg.Required && !d.On:
					t.Fatalf("MPPE required, up with %+v", r)
				case d.On && cfg.RequireStateful && d.Stateless:
					t.Fatalf("stateful required, up with %+v", r)
				case d.On && !cfg.AllowStateful && !cfg.RequireStateful && !d.Stateless:
					t.Fatalf("stateful not allowed, up with %+v", r)
				}
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
			r := c.Result()
			for _, d := range []Direction{r.Send, r.Recv} {
				if d.On && d.KeyBits != 40 && d.KeyBits != 56 && d.KeyBits != 128 {
					t.Fatalf("agreed on %v", d)
				}
			}
			data = data[4+len(p.Data):]
		}
		c.SendResetRequest()
		checkSent(t, ppp.Packet{}, rec.take())
		stillAnswers(t, c.FSM, rec, ppp.Packet{Code: ppp.ConfReq, ID: 0xa5, Data: []byte{OptMPPE, 6, 1, 0, 0, 0x40}})
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
