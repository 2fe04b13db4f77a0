package ipcp

import (
	"net/netip"
	"testing"

	"github.com/gopptp/gopptp/ppp"
)

// FuzzIPCP feeds arbitrary packets to IPCP in the server and client roles.
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
			_ = c.Result()
			data = data[4+len(p.Data):]
		}
	})
}
