package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/gopptp/gopptp/internal/hdlc"
	"github.com/gopptp/gopptp/mppe"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/auth"
	"github.com/gopptp/gopptp/ppp/ccp"
	"github.com/gopptp/gopptp/ppp/ipcp"
	"github.com/gopptp/gopptp/ppp/lcp"
)

// nopTimer is a Restart timer that never fires: the in-memory sessions run
// to completion on their first exchange.
type nopTimer struct{}

func (nopTimer) Start(time.Duration) {}
func (nopTimer) Stop()               {}

// wire joins two protocol engines: what one sends is queued for the other.
// It records each side's packets, encoded, in the order sent.
type wire struct {
	q    [2][]ppp.Packet // packets in flight to side 0 and side 1
	sent [2][][]byte     // packets side 0 and side 1 sent
}

// sender returns the send function of side from.
func (w *wire) sender(from int) func(ppp.Packet) {
	return func(p ppp.Packet) {
		p.Data = append([]byte(nil), p.Data...)
		w.q[1-from] = append(w.q[1-from], p)
		w.sent[from] = append(w.sent[from], p.Append(nil))
	}
}

// pump delivers queued packets until there are none, or a step limit.
func (w *wire) pump(input [2]func(ppp.Packet)) {
	for range 1000 {
		if len(w.q[0])+len(w.q[1]) == 0 {
			return
		}
		for side := range 2 {
			if len(w.q[side]) > 0 {
				p := w.q[side][0]
				w.q[side] = w.q[side][1:]
				input[side](p)
			}
		}
	}
}

// seqOf concatenates a side's packets, the form the engine targets take.
func seqOf(pkts [][]byte) []byte {
	var b []byte
	for _, p := range pkts {
		b = append(b, p...)
	}
	return b
}

// addConversation adds the packets of a finished in-memory session: each
// packet on its own and each side's whole sequence, as the peer of the
// role it was sent to. addOne receives the packet and whether it went to
// the client (was sent by side 1, the server).
func (c *corpus) addConversation(w *wire, proto ppp.Protocol, addOne func(pkt []byte, toClient bool)) {
	for side := range 2 {
		for _, p := range w.sent[side] {
			addOne(p, side == 1)
			c.add(tPPPPacket, "own", fmt.Sprintf("%v %d %d", proto, p[0], side), p)
			frame := ppp.AppendFrame(nil, proto, p)
			c.add(tPPPFrame, "own", fmt.Sprintf("%v %d %d", proto, p[0], side), frame)
			c.add(tHDLC, "own", fmt.Sprint("frame ", proto, side), hdlc.AppendFrame(nil, frame, 0), uint32(0))
		}
		if len(w.sent[side]) > 0 {
			addOne(seqOf(w.sent[side]), side == 1)
		}
	}
}

// ownSessions runs our engines against each other and adds what they say.
// Side 0 is the client, side 1 the server.
func ownSessions(c *corpus) {
	magic := uint32(0x5eed0000)
	nextMagic := func() uint32 { magic++; return magic }

	// LCP: the authentication methods a server may require and a client
	// accept, matching and not (the naks and rejects are the interesting
	// part), and an MRU on one side.
	for _, tc := range []struct {
		require, accept []ppp.AuthMethod
		mru             int
	}{
		{[]ppp.AuthMethod{ppp.AuthMSCHAPv2}, []ppp.AuthMethod{ppp.AuthMSCHAPv2}, 0},
		{[]ppp.AuthMethod{ppp.AuthMSCHAPv2, ppp.AuthMSCHAPv1}, []ppp.AuthMethod{ppp.AuthMSCHAPv1, ppp.AuthPAP}, 1400},
		{[]ppp.AuthMethod{ppp.AuthCHAPMD5}, []ppp.AuthMethod{ppp.AuthPAP, ppp.AuthCHAPMD5}, 1200},
		{[]ppp.AuthMethod{ppp.AuthPAP}, nil, 0},
		{nil, []ppp.AuthMethod{ppp.AuthMSCHAPv2}, 1500},
	} {
		w := &wire{}
		cli := lcp.New(lcp.Config{Accept: tc.accept, MRU: tc.mru, Magic: nextMagic}, lcp.Hooks{}, w.sender(0), nopTimer{}, ppp.Config{}, nil)
		srv := lcp.New(lcp.Config{Require: tc.require, Magic: nextMagic}, lcp.Hooks{}, w.sender(1), nopTimer{}, ppp.Config{}, nil)
		for _, l := range []*lcp.LCP{cli, srv} {
			l.Open()
			l.Up()
		}
		w.pump([2]func(ppp.Packet){cli.Input, srv.Input})
		if cli.IsOpened() {
			cli.EchoTick(3)
			srv.EchoTick(3)
			srv.SendProtocolReject(0x8057, []byte{1, 1, 0, 4})
			w.pump([2]func(ppp.Packet){cli.Input, srv.Input})
			cli.Close("bye")
			w.pump([2]func(ppp.Packet){cli.Input, srv.Input})
		}
		c.addConversation(w, ppp.ProtoLCP, func(p []byte, toClient bool) {
			c.add(tLCP, "own", fmt.Sprint(p[0], toClient, len(p) > 200), p, toClient)
			c.add(tPPPFSM, "own", fmt.Sprint(p[0], len(p) > 200), p)
		})
	}

	// IPCP: a server assigning an address and DNS servers, to a client that
	// asks for DNS or not, and one that wants an address of its own.
	for _, tc := range []struct {
		cli ipcp.Config
	}{
		{ipcp.Config{RequestDNS: true}},
		{ipcp.Config{}},
		{ipcp.Config{Local: netip.MustParseAddr("192.168.0.99"), RequestDNS: true}},
	} {
		w := &wire{}
		srvCfg := ipcp.Config{Local: netip.MustParseAddr("192.168.0.1"), Peer: netip.MustParseAddr("192.168.0.234"),
			DNS: [2]netip.Addr{netip.MustParseAddr("10.0.0.53"), netip.MustParseAddr("10.0.0.54")}}
		cli := ipcp.New(tc.cli, ipcp.Hooks{}, w.sender(0), nopTimer{}, ppp.Config{})
		srv := ipcp.New(srvCfg, ipcp.Hooks{}, w.sender(1), nopTimer{}, ppp.Config{})
		for _, x := range []*ipcp.IPCP{cli, srv} {
			x.Open()
			x.Up()
		}
		w.pump([2]func(ppp.Packet){cli.Input, srv.Input})
		c.addConversation(w, ppp.ProtoIPCP, func(p []byte, toClient bool) {
			c.add(tIPCP, "own", fmt.Sprint(p[0], toClient), p, toClient)
		})
	}

	// CCP: MPPE policies on both sides, stateful ones included.
	for _, tc := range []struct {
		cli, srv ccp.Config
		stateful bool
		keyBits  int
	}{
		{ccp.Config{Allow128: true, Required: true}, ccp.Config{Allow128: true, Required: true}, false, 128},
		{ccp.Config{Allow40: true, Allow128: true}, ccp.Config{Allow40: true}, false, 40},
		{ccp.Config{Allow56: true}, ccp.Config{Allow56: true, Allow128: true}, false, 56},
		{ccp.Config{Allow128: true, AllowStateful: true}, ccp.Config{Allow128: true, RequireStateful: true, AllowStateful: true}, true, 128},
		{ccp.Config{}, ccp.Config{Allow128: true, Required: true}, false, 128},
	} {
		w := &wire{}
		cli := ccp.New(tc.cli, ccp.Hooks{}, w.sender(0), nopTimer{}, ppp.Config{})
		srv := ccp.New(tc.srv, ccp.Hooks{}, w.sender(1), nopTimer{}, ppp.Config{})
		for _, x := range []*ccp.CCP{cli, srv} {
			x.Open()
			x.Up()
		}
		w.pump([2]func(ppp.Packet){cli.Input, srv.Input})
		if cli.IsOpened() && tc.stateful {
			cli.SendResetRequest()
			w.pump([2]func(ppp.Packet){cli.Input, srv.Input})
		}
		policy := ccpPolicy(tc.keyBits, tc.stateful)
		c.addConversation(w, ppp.ProtoCCP, func(p []byte, toClient bool) {
			c.add(tCCP, "own", fmt.Sprint(p[0], policy), p, policy)
		})
	}

	// Authentication: every method, with the right password and a wrong one.
	for i, m := range []ppp.AuthMethod{ppp.AuthPAP, ppp.AuthCHAPMD5, ppp.AuthMSCHAPv1, ppp.AuthMSCHAPv2} {
		for _, password := range []string{"secret", "wrong"} {
			w := &wire{}
			var srv *auth.Server
			srv = auth.NewServer(m, "pptpd", w.sender(1), nopTimer{}, auth.ServerHooks{
				Verify: func(r *auth.Request) { srv.Complete(auth.Check(r, "secret", netip.Addr{}), nil) },
				Done:   func(*auth.Result) {},
			})
			srv.SetRetries(1)
			cli := auth.NewClient(m, "alice", password, w.sender(0), nopTimer{}, func(auth.ClientResult) {})
			srv.Start()
			cli.Start()
			w.pump([2]func(ppp.Packet){cli.Input, srv.Input})
			proto := m.Protocol()
			// Identifiers relative to the first challenge or request.
			base := w.sent[1][0][1]
			if m == ppp.AuthPAP {
				base = w.sent[0][0][1]
			}
			for side := range 2 {
				for j, p := range w.sent[side] {
					w.sent[side][j] = relativeID(p, base)
					if m != ppp.AuthPAP {
						w.sent[side][j] = stabilize(w.sent[side][j], fmt.Sprint(m, password, side, j))
					}
				}
			}
			c.addConversation(w, proto, func(p []byte, toClient bool) {
				c.add(tAuth, "own", fmt.Sprint(i, p[0], toClient), p, byte(i))
				if proto == ppp.ProtoCHAP && (p[0] == 3 || p[0] == 4) && m != ppp.AuthCHAPMD5 {
					c.add(tMSCHAPFail, "own", fmt.Sprint(i, p[0]), string(p[4:]))
				}
			})
			// Both directions interleaved, in the order sent.
			var all []byte
			for side := range 2 {
				all = append(all, seqOf(w.sent[side])...)
			}
			c.add(tAuth, "own", "all", all, byte(i))
		}
	}

	// MPPE: packets of our encrypter in every mode. Stateful mode, which no
	// capture has, gets enough packets to cross a flag packet (count
	// 0xFF) and a flush.
	for _, stateless := range []bool{true, false} {
		for _, bits := range []int{40, 56, 128} {
			mode := mppeMode(bits, stateless)
			// The key FuzzOpen decrypts with, so that these decrypt.
			key := [16]byte{mode}
			e, err := mppe.NewEncrypter(key, mppe.Options{KeyBits: bits, Stateless: stateless})
			if err != nil {
				panic(err)
			}
			for n := range 300 {
				if n == 3 {
					e.Flush()
				}
				plain := []byte{0x00, 0x21, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 192, 168, 0, 1, 192, 168, 0, 2, 8, 0, 0, 0, 0, 0, byte(n), 0}
				pkt := make([]byte, mppe.HeaderLen+len(plain))
				copy(pkt[mppe.HeaderLen:], plain)
				if err := e.Seal(pkt); err != nil {
					panic(err)
				}
				if n < 4 || n == 254 || n == 255 {
					c.add(tMPPEOpen, "own", fmt.Sprint(mode, n), pkt, mode)
				}
			}
		}
	}
}

// stabilize replaces the random parts of a CHAP packet of our
// own sessions (challenges, responses and the hex values derived from them
// in MS-CHAP Success and Failure texts) with fixed pseudo-random bytes
// derived from seed, so that the generated corpus is the same on every
// run. The values were random to begin with, and no fuzzed exchange can
// reuse them, so nothing of value is lost.
func stabilize(pkt []byte, seed string) []byte {
	if len(pkt) < 5 || pkt[0] > 4 {
		return pkt
	}
	fill := func(b []byte, hexDigits bool) {
		for i := 0; i < len(b); i += 32 {
			h := sha256.Sum256([]byte(fmt.Sprint(seed, i)))
			if hexDigits {
				copy(b[i:], strings.ToUpper(hex.EncodeToString(h[:])))
			} else {
				copy(b[i:], h[:])
			}
		}
	}
	d := pkt[4:]
	switch pkt[0] {
	case 1, 2: // Challenge, Response
		if n := int(d[0]); n == 8 || n == 16 || n == 49 {
			if 1+n <= len(d) {
				fill(d[1:1+n], false)
			}
		}
	case 3, 4: // Success, Failure
		text := string(d)
		for _, key := range []string{"S=", "C="} {
			if i := strings.Index(text, key); i >= 0 {
				j := i + 2
				for j < len(d) && strings.IndexByte("0123456789ABCDEFabcdef", d[j]) >= 0 {
					j++
				}
				fill(d[i+2:j], true)
			}
		}
	}
	return pkt
}
