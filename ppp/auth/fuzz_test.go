package auth

import (
	"net/netip"
	"testing"

	"github.com/gopptp/gopptp/ppp"
)

// FuzzAuth feeds arbitrary PAP/CHAP packets to the authenticator and the
// peer side of every method. A verdict may only ever be a success for a
// correct password, which random input never carries.
func FuzzAuth(f *testing.F) {
	f.Add([]byte{2, 1, 0, 21, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, uint8(2))
	f.Add([]byte{1, 1, 0, 14, 3, 'b', 'o', 'b', 4, 'p', 'a', 's', 's', 0}, uint8(0))
	f.Add([]byte{1, 7, 0, 26, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 's', 'r', 'v', 'x', 'y'}, uint8(4))
	f.Add([]byte{4, 7, 0, 24, 'E', '=', '6', '9', '1', ' ', 'R', '=', '1', ' ', 'C', '=', '0', '0', ' ', 'V', '=', '3'}, uint8(4))
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		methods := []ppp.AuthMethod{ppp.AuthPAP, ppp.AuthCHAPMD5, ppp.AuthMSCHAPv1, ppp.AuthMSCHAPv2}
		m := methods[int(which)%len(methods)]
		var srv *Server
		srv = NewServer(m, "pptpd", func(ppp.Packet) {}, &fakeTimer{}, ServerHooks{
			Verify: func(r *Request) {
				srv.Complete(Check(r, "secret", netip.Addr{}), nil)
			},
			Done: func(r *Result) {
				if r.OK {
					t.Fatalf("random input authenticated")
				}
			},
		})
		cli := NewClient(m, "alice", "secret", func(ppp.Packet) {}, &fakeTimer{}, func(ClientResult) {})
		srv.Start()
		cli.Start()
		for len(data) >= 4 {
			p, err := ppp.ParsePacket(data)
			if err != nil {
				return
			}
			srv.Input(p)
			cli.Input(p)
			srv.Timeout()
			cli.Timeout()
			data = data[4+len(p.Data):]
		}
	})
}
