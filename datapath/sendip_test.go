package datapath

import (
	"errors"
	"testing"
	"time"

	"github.com/gopptp/gopptp/gre"
	"github.com/gopptp/gopptp/ppp/ccp"
)

// sendIP runs SendIP on side A and returns the GRE packets it put on the
// wire, with IPv4 headers, as B's socket would receive them.
func (p *pair) sendIP(t *testing.T, ip []byte) [][]byte {
	t.Helper()
	buf := make([]byte, Headroom+len(ip))
	copy(buf[Headroom:], ip)
	before := len(p.underlying)
	if err := p.ca.SendIP(buf); err != nil {
		t.Fatalf("SendIP: %v", err)
	}
	var out [][]byte
	for _, g := range p.underlying[before:] {
		out = append(out, withIPv4(g, underA, underB))
	}
	return out
}

// TestSendIP: packets a TUN-less owner sends with SendIP arrive intact and
// in order through the peer's receive path, in every MPPE mode, and the
// buffer can be reused at once.
func TestSendIP(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			p := newPair(t, m.dir)
			var want []int
			now := time.Now()
			for i := 0; i < 300; i++ {
				pkts := p.sendIP(t, ipPacket(tunA, tunB, i, 32+i%1200))
				if len(pkts) != 1 {
					t.Fatalf("packet %d: %d GRE packets sent", i, len(pkts))
				}
				p.receive(now, pkts...)
				want = append(want, i)
			}
			p.checkOrder(t, want)
			if n := p.ca.Stats.TxPackets.Load(); n != 300 {
				t.Errorf("TxPackets %d", n)
			}
			if p.ca.unsent != 0 {
				t.Errorf("unsent %d after SendIP", p.ca.unsent)
			}
		})
	}
}

// TestSendIPNotUp: nothing leaves before the network phase, after it, or
// once the call is removed.
func TestSendIPNotUp(t *testing.T) {
	p := newPair(t, ccp.Direction{On: true, KeyBits: 128, Stateless: true})
	ip := ipPacket(tunA, tunB, 0, 60)
	buf := make([]byte, Headroom+len(ip))
	p.ca.SetNetwork(false, tunA, tunB)
	copy(buf[Headroom:], ip)
	if err := p.ca.SendIP(buf); !errors.Is(err, ErrNotUp) {
		t.Errorf("network down: %v", err)
	}
	p.ca.SetNetwork(true, tunA, tunB)
	p.a.RemoveCall(p.ca)
	if err := p.ca.SendIP(buf); !errors.Is(err, ErrNotUp) {
		t.Errorf("removed call: %v", err)
	}
	if err := p.ca.SendIP(buf[:Headroom]); err == nil {
		t.Error("SendIP without a packet succeeded")
	}
	if len(p.underlying) != 0 {
		t.Errorf("%d packets sent", len(p.underlying))
	}
}

// TestSendIPQueuesBehindWindow: with the peer's window full the packet
// waits in the call's queue (a copy: the caller's buffer is reused) and
// goes out when the peer acknowledges.
func TestSendIPQueuesBehindWindow(t *testing.T) {
	p := newPair(t, ccp.Direction{On: true, KeyBits: 128})
	p.ca.txMu.Lock()
	p.ca.snd = gre.NewSender(2) // adaptive start: one packet in flight
	p.ca.txMu.Unlock()
	var sent [][]byte
	buf := make([]byte, Headroom+100)
	for i := 0; i < 3; i++ {
		copy(buf[Headroom:], ipPacket(tunA, tunB, i, 100))
		before := len(p.underlying)
		if err := p.ca.SendIP(buf); err != nil {
			t.Fatal(err)
		}
		for _, g := range p.underlying[before:] {
			sent = append(sent, withIPv4(g, underA, underB))
		}
		clear(buf) // the queue must hold its own copy
	}
	if len(sent) != 1 || len(p.ca.queue) != 2 {
		t.Fatalf("sent %d queued %d", len(sent), len(p.ca.queue))
	}
	before := len(p.underlying)
	p.ca.gotAck(0)
	for _, g := range p.underlying[before:] {
		sent = append(sent, withIPv4(g, underA, underB))
	}
	p.receive(time.Now(), sent...)
	p.checkOrder(t, []int{0, 1, 2})
}
