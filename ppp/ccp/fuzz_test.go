package ccp

import (
	"testing"

	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/ppptest"
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
		ppptest.CheckSent(t, ppp.Packet{}, rec.take())
		for len(data) >= 4 {
			p, err := ppp.ParsePacket(data)
			if err != nil {
				return
			}
			c.Input(p)
			ppptest.CheckSent(t, p, rec.take())
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
		ppptest.CheckSent(t, ppp.Packet{}, rec.take())
		ppptest.StillAnswers(t, c.FSM, rec.take, ppp.Packet{Code: ppp.ConfReq, ID: 0xa5, Data: []byte{OptMPPE, 6, 1, 0, 0, 0x40}})
	})
}
