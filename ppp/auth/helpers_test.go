package auth

import (
	"encoding/hex"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopptp/gopptp/gre"
	"github.com/gopptp/gopptp/internal/pcapfile"
	"github.com/gopptp/gopptp/ppp"
)

// fakeTimer is a ppp.Timer that only records what it was asked to do; the
// tests fire it by calling Timeout themselves.
type fakeTimer struct {
	running bool
	starts  int
	d       time.Duration // the last duration started
}

func (t *fakeTimer) Start(d time.Duration) { t.running = true; t.starts++; t.d = d }
func (t *fakeTimer) Stop()                 { t.running = false }

// recorder collects the packets an LCP instance sends.
type recorder struct{ pkts []ppp.Packet }

func (r *recorder) send(p ppp.Packet) {
	p.Data = append([]byte(nil), p.Data...)
	r.pkts = append(r.pkts, p)
}

// take returns and forgets everything sent so far.
func (r *recorder) take() []ppp.Packet {
	p := r.pkts
	r.pkts = nil
	return p
}

// one returns the single packet sent since the last take, failing the test
// if there is not exactly one.
func (r *recorder) one(t *testing.T) ppp.Packet {
	t.Helper()
	p := r.take()
	if len(p) != 1 {
		t.Fatalf("sent %d packets (%v), want exactly 1", len(p), p)
	}
	return p[0]
}

// ctlPacket is one control packet found in a capture.
type ctlPacket struct {
	index int // frame number in the capture
	src   netip.Addr
	pkt   ppp.Packet
}

// capturePackets returns the control packets of protocol proto in the GRE
// traffic of testdata/captures/name, in capture order.
func capturePackets(t *testing.T, name string, proto ppp.Protocol) []ctlPacket {
	t.Helper()
	dir, err := pcapfile.Dir()
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := pcapfile.Read(filepath.Join(dir, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var out []ctlPacket
	for _, p := range pcapfile.GRE(pkts) {
		_, payload, err := gre.Parse(p.Payload)
		if err != nil {
			t.Fatalf("%s frame %d: %v", name, p.Index, err)
		}
		if len(payload) == 0 {
			continue
		}
		pr, info, err := ppp.ParseFrame(payload)
		if err != nil || pr != proto {
			continue
		}
		cp, err := ppp.ParsePacket(info)
		if err != nil {
			t.Fatalf("%s frame %d: %v", name, p.Index, err)
		}
		out = append(out, ctlPacket{index: p.Index, src: p.Src, pkt: cp})
	}
	if len(out) == 0 {
		t.Fatalf("%s: no %v packets", name, proto)
	}
	return out
}

// find returns the first packet from src with the given code (and, when id
// is not negative, identifier).
func find(t *testing.T, pkts []ctlPacket, src string, code ppp.Code, id int) ppp.Packet {
	t.Helper()
	a := netip.MustParseAddr(src)
	for _, p := range pkts {
		if p.src == a && p.pkt.Code == code && (id < 0 || int(p.pkt.ID) == id) {
			return p.pkt
		}
	}
	t.Fatalf("no %v id %d from %v in the capture", code, id, src)
	return ppp.Packet{}
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
