package ipv6cp

import (
	"testing"

	"github.com/gopptp/gopptp/ppp"
)

// FuzzIPV6CP feeds arbitrary option lists to every input of the layer: no
// panic, an Ack echoes the request exactly, and what we ask for next is
// never zero-length garbage.
func FuzzIPV6CP(f *testing.F) {
	f.Add([]byte{1, 10, 0, 0, 0, 0, 0, 0, 0x12, 0x34}, uint8(0))
	f.Add([]byte{1, 10, 0, 0, 0, 0, 0, 0, 0, 0}, uint8(1))
	f.Add([]byte{2, 4, 0, 0x4f, 1, 10, 1, 2, 3, 4, 5, 6, 7, 8}, uint8(2))
	f.Add([]byte{1, 2}, uint8(3))
	f.Fuzz(func(t *testing.T, opts []byte, mode uint8) {
		e := newEnd(Config{Local: ID(mode & 1), Peer: ID(mode&2) << 8, Random: counter(0x99, 0x98)})
		e.c.ResetRequest()
		code, reply := e.c.CheckRequest(opts, mode&4 != 0)
		if code == ppp.ConfAck && string(reply) != string(opts) {
			t.Fatalf("Ack %x of request %x", reply, opts)
		}
		e.c.GotNak(opts)
		e.c.GotReject(opts)
		req := e.c.AppendRequest(nil)
		if _, err := ppp.ParseOptions(req); err != nil {
			t.Fatalf("our own request %x does not parse: %v", req, err)
		}
	})
}
