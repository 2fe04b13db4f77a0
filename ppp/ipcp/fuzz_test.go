package ipcp

import (
	"net/netip"
	"testing"

	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/ppptest"
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
		ppptest.CheckSent(t, ppp.Packet{}, rec.take())
		for len(data) >= 4 {
			p, err := ppp.ParsePacket(data)
			if err != nil {
				return
			}
			c.Input(p)
			ppptest.CheckSent(t, p, rec.take())
			c.Failure()
			_ = c.Result()
			data = data[4+len(p.Data):]
		}
		ppptest.StillAnswers(t, c.FSM, rec.take, ppp.Packet{Code: ppp.ConfReq, ID: 0xa5, Data: []byte{OptAddress, 6, 192, 168, 0, 234}})
	})
}
