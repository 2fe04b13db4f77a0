package lcp

import (
	"testing"

	"github.com/gopptp/gopptp/ppp"
)

// FuzzLCP feeds arbitrary packets to an LCP instance in both roles, from
// every state the packets drive it into: no input may panic or leave it
// unable to answer a well-formed request.
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
		l := New(cfg, Hooks{}, func(ppp.Packet) {}, &fakeTimer{}, ppp.Config{}, nil)
		l.Open()
		l.Up()
		for len(data) >= 4 {
			p, err := ppp.ParsePacket(data)
			if err != nil {
				return
			}
			l.Input(p)
			l.Failure()
			data = data[4+len(p.Data):]
		}
		l.EchoTick(3)
		l.SendProtocolReject(0x8057, data)
	})
}
