package ipv6cp

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/gopptp/gopptp/ppp"
)

type nopTimer struct{}

func (nopTimer) Start(time.Duration) {}
func (nopTimer) Stop()               {}

// end is one side of an in-memory link.
type end struct {
	c    *IPV6CP
	up   *Result
	fail string
	out  []ppp.Packet
}

func newEnd(cfg Config) *end {
	e := &end{}
	e.c = New(cfg, Hooks{Up: func(r Result) { e.up = &r }, Finished: func(r string) { e.fail = r }},
		func(p ppp.Packet) { p.Data = append([]byte(nil), p.Data...); e.out = append(e.out, p) }, nopTimer{}, ppp.Config{})
	return e
}

// negotiate runs both automata until neither has anything to send.
func negotiate(t *testing.T, a, b *end) {
	t.Helper()
	for _, e := range []*end{a, b} {
		e.c.Open()
		e.c.Up()
	}
	for i := 0; i < 100; i++ {
		if len(a.out) == 0 && len(b.out) == 0 {
			return
		}
		pa, pb := a.out, b.out
		a.out, b.out = nil, nil
		for _, p := range pa {
			b.c.Input(p)
		}
		for _, p := range pb {
			a.c.Input(p)
		}
	}
	t.Fatal("negotiation did not settle")
}

// counter returns successive identifiers from a fixed list, then repeats
// the last: deterministic "random" numbers.
func counter(ids ...ID) func() ID {
	return func() ID {
		id := ids[0]
		if len(ids) > 1 {
			ids = ids[1:]
		}
		return id
	}
}

func TestNegotiation(t *testing.T) {
	for _, tc := range []struct {
		name         string
		a, b         Config
		wantA, wantB ID // the identifiers each end ends up with
	}{
		{"distinct", Config{Local: 0x1111}, Config{Local: 0x2222}, 0x1111, 0x2222},
		{"collision", Config{Local: 0x1111, Random: counter(0x3333)}, Config{Local: 0x1111, Random: counter(0x4444)}, 0, 0},
		{"client has none", Config{Local: 0, Random: counter(0x5555)}, Config{Local: 0x2222, Random: counter(0x6666)}, 0x6666, 0x2222},
		{"server assigns", Config{Local: 0x1111}, Config{Local: 0x2222, Peer: 0x7777}, 0x7777, 0x2222},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newEnd(tc.a), newEnd(tc.b)
			negotiate(t, a, b)
			if a.up == nil || b.up == nil {
				t.Fatalf("not up: a %v b %v (%q %q)", a.up, b.up, a.fail, b.fail)
			}
			if a.up.Local != b.up.Peer || b.up.Local != a.up.Peer || a.up.Local == b.up.Local || a.up.Local == 0 || b.up.Local == 0 {
				t.Fatalf("a %+v b %+v: identifiers must agree, differ and be non-zero", *a.up, *b.up)
			}
			if tc.wantA != 0 && (a.up.Local != tc.wantA || b.up.Local != tc.wantB) {
				t.Errorf("a %v b %v, want %v %v", a.up.Local, b.up.Local, tc.wantA, tc.wantB)
			}
			if a.up.Local&(1<<57) != 0 && tc.a.Local == 0 {
				t.Errorf("suggested identifier %v has the u bit set", a.up.Local)
			}
		})
	}
}

func TestBothZeroRejected(t *testing.T) {
	a, b := newEnd(Config{}), newEnd(Config{})
	a.c.Open()
	a.c.Up()
	req := a.out[0]
	code, reply := b.c.CheckRequest(req.Data[0:], false)
	if code != ppp.ConfRej || len(reply) != 10 {
		t.Errorf("zero against zero: %v %x, want Configure-Reject of the option", code, reply)
	}
}

func TestCheckRequest(t *testing.T) {
	c := newEnd(Config{Local: 0xaaaa, Random: counter(0xbbbb)}).c
	c.ResetRequest()
	opt := func(typ uint8, v []byte) []byte { return ppp.AppendOption(nil, typ, v...) }
	id := func(x ID) []byte { b := make([]byte, 8); binary.BigEndian.PutUint64(b, uint64(x)); return b }
	for _, tc := range []struct {
		name string
		req  []byte
		code ppp.Code
		want []byte
	}{
		{"fine", opt(1, id(0x1234)), ppp.ConfAck, opt(1, id(0x1234))},
		{"equal to ours", opt(1, id(0xaaaa)), ppp.ConfNak, opt(1, id(0xbbbb))},
		{"zero", opt(1, id(0)), ppp.ConfNak, opt(1, id(0xbbbb))},
		{"compression", append(opt(1, id(0x1234)), opt(2, []byte{0x00, 0x4f})...), ppp.ConfRej, opt(2, []byte{0x00, 0x4f})},
		{"short identifier", opt(1, []byte{1, 2, 3}), ppp.ConfRej, opt(1, []byte{1, 2, 3})},
		{"twice", append(opt(1, id(0x1234)), opt(1, id(0x5678))...), ppp.ConfRej, opt(1, id(0x5678))},
		{"garbage", []byte{1, 0xff}, ppp.ConfRej, nil},
	} {
		code, reply := c.CheckRequest(tc.req, false)
		if code != tc.code || string(reply) != string(tc.want) {
			t.Errorf("%s: %v %x, want %v %x", tc.name, code, reply, tc.code, tc.want)
		}
	}
}

func TestLinkLocal(t *testing.T) {
	if got := ID(0x0211_22ff_fe33_4455).LinkLocal().String(); got != "fe80::211:22ff:fe33:4455" {
		t.Errorf("link-local %s", got)
	}
	if got := ID(0x1234_0000_0000_abcd).String(); got != "1234:0:0:abcd" {
		t.Errorf("String %s", got)
	}
}
