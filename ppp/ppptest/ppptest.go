// Package ppptest holds checks shared by the tests of the protocols built
// on the ppp option automaton (LCP, IPCP, IPV6CP, CCP).
package ppptest

import (
	"bytes"
	"testing"

	"github.com/gopptp/gopptp/ppp"
)

// CheckSent checks the packets an engine sent in response to in (or,
// with a zero in, on its own account): sizes within PPP's limits, answers
// with the request's identifier, a Configure-Ack that repeats the request,
// a Configure-Reject made of the request's options in order (RFC 1661
// 5.4), well-formed option lists, a Code-Reject that quotes the packet.
func CheckSent(t *testing.T, in ppp.Packet, sent []ppp.Packet) {
	t.Helper()
	for _, s := range sent {
		if 4+len(s.Data) > 0xffff {
			t.Fatalf("sent a %v of %d bytes", s.Code, 4+len(s.Data))
		}
		switch s.Code {
		case ppp.ConfAck, ppp.ConfNak, ppp.ConfRej:
			if in.Code != ppp.ConfReq || s.ID != in.ID {
				t.Fatalf("sent %v id %d in answer to %v id %d", s.Code, s.ID, in.Code, in.ID)
			}
			opts, err := ppp.ParseOptions(s.Data)
			if err != nil {
				t.Fatalf("sent %v with malformed options %x", s.Code, s.Data)
			}
			req, _ := ppp.ParseOptions(in.Data)
			switch s.Code {
			case ppp.ConfAck:
				if !bytes.Equal(s.Data, in.Data) {
					t.Fatalf("Configure-Ack %x of request %x", s.Data, in.Data)
				}
			case ppp.ConfRej:
				// RFC 1661 5.4: the rejected options, unmodified, in order.
				i := 0
				for _, o := range opts {
					for i < len(req) && (req[i].Type != o.Type || !bytes.Equal(req[i].Data, o.Data)) {
						i++
					}
					if i == len(req) {
						t.Fatalf("Configure-Reject %x is not made of options of the request %x", s.Data, in.Data)
					}
					i++
				}
			}
		case ppp.ConfReq:
			if _, err := ppp.ParseOptions(s.Data); err != nil {
				t.Fatalf("sent a Configure-Request with malformed options %x", s.Data)
			}
		case ppp.CodeRej:
			if !bytes.HasPrefix(in.Append(nil), s.Data) || len(s.Data) < 4 {
				t.Fatalf("Code-Reject %x of packet %x", s.Data, in.Append(nil))
			}
		case ppp.TermAck:
			if in.Code == ppp.TermReq && s.ID != in.ID {
				t.Fatalf("Terminate-Ack id %d to request id %d", s.ID, in.ID)
			}
		}
	}
}

// StillAnswers checks that the automaton, in whatever state the fuzzed
// input left it, reacts to a well-formed Configure-Request as RFC 1661's
// state table says; take returns (and forgets) what the automaton sent.
func StillAnswers(t *testing.T, f *ppp.FSM, take func() []ppp.Packet, req ppp.Packet) {
	t.Helper()
	state := f.State()
	f.Input(req)
	sent := take()
	CheckSent(t, req, sent)
	answered := false
	for _, s := range sent {
		switch s.Code {
		case ppp.ConfAck, ppp.ConfNak, ppp.ConfRej, ppp.TermAck:
			answered = s.ID == req.ID
		}
	}
	switch state {
	case ppp.Closing, ppp.Stopping:
		if len(sent) > 0 {
			t.Fatalf("in %v, answered a Configure-Request with %v", state, sent)
		}
	default:
		if !answered {
			t.Fatalf("in %v, did not answer a Configure-Request (sent %v)", state, sent)
		}
	}
}
