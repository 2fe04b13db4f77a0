package ccp

import (
	"testing"

	"github.com/gopptp/gopptp/ppp"
)

// FuzzCCP feeds arbitrary packets to CCP with each MPPE policy.
func FuzzCCP(f *testing.F) {
	f.Add([]byte{1, 1, 0, 10, 18, 6, 1, 0, 0, 0x41}, uint8(0))
	f.Add([]byte{3, 1, 0, 10, 18, 6, 0, 0, 0, 0x60}, uint8(1))
	f.Add([]byte{4, 1, 0, 10, 18, 6, 1, 0, 0, 0x40}, uint8(2))
	f.Add([]byte{1, 1, 0, 8, 26, 4, 0x78, 0, 14, 1, 0, 4}, uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, policy uint8) {
		cfg := Config{Allow128: policy&1 == 0, Allow40: policy&2 != 0, Allow56: policy&4 != 0,
			Required: policy&8 != 0, AllowStateful: policy&16 != 0}
		c := New(cfg, Hooks{}, func(ppp.Packet) {}, &fakeTimer{}, ppp.Config{})
		c.Open()
		c.Up()
		for len(data) >= 4 {
			p, err := ppp.ParsePacket(data)
			if err != nil {
				return
			}
			c.Input(p)
			c.Failure()
			r := c.Result()
			for _, d := range []Direction{r.Send, r.Recv} {
				if d.On && d.KeyBits != 40 && d.KeyBits != 56 && d.KeyBits != 128 {
					t.Fatalf("agreed on %v", d)
				}
			}
			data = data[4+len(p.Data):]
		}
	})
}
