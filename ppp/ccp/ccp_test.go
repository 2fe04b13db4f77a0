package ccp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/gopptp/gopptp/ppp"
)

type testCCP struct {
	*CCP
	out    *recorder
	timer  *fakeTimer
	up     []Result
	resets int
}

func newTestCCP(cfg Config) *testCCP {
	tc := &testCCP{out: &recorder{}, timer: &fakeTimer{}}
	tc.CCP = New(cfg, Hooks{
		Up:           func(r Result) { tc.up = append(tc.up, r) },
		ResetRequest: func() { tc.resets++ },
	}, tc.out.send, tc.timer, ppp.Config{})
	return tc
}

func (tc *testCCP) start(t *testing.T) ppp.Packet {
	t.Helper()
	tc.Open()
	tc.Up()
	p := tc.out.one(t)
	if p.Code != ppp.ConfReq {
		t.Fatalf("first packet %v, want ConfReq", p.Code)
	}
	return p
}

// mppe encodes an MPPE option with the given bits.
func mppe(bits uint32) string {
	return hex.EncodeToString(ppp.AppendOption(nil, OptMPPE, binary.BigEndian.AppendUint32(nil, bits)...))
}

var (
	only128      = Config{Allow128: true, Required: true}
	only40       = Config{Allow40: true, Required: true}
	all          = Config{Allow40: true, Allow56: true, Allow128: true}
	s40or128     = Config{Allow40: true, Allow128: true}
	stateful     = Config{Allow128: true, AllowStateful: true}
	mustStateful = Config{Allow128: true, Required: true, AllowStateful: true, RequireStateful: true}
)

func TestCheckRequest(t *testing.T) {
	const deflate = "1a047800"
	const bsd = "15032f"
	tests := []struct {
		name       string
		cfg        Config
		req        string
		rejectOnly bool
		code       ppp.Code
		reply      string // ignored for ConfAck, which echoes req
		send       Direction
	}{
		{"H|S, 128 allowed", only128, mppe(BitH | BitS), false, ppp.ConfAck, "", Direction{On: true, KeyBits: 128, Stateless: true}},
		{"H|L, 40 allowed", only40, mppe(BitH | BitL), false, ppp.ConfAck, "", Direction{On: true, KeyBits: 40, Stateless: true}},
		{"H|L, 40 and 128 allowed: the peer's choice", s40or128, mppe(BitH | BitL), false, ppp.ConfAck, "", Direction{On: true, KeyBits: 40, Stateless: true}},
		{"H|M, 56 allowed", all, mppe(BitH | BitM), false, ppp.ConfAck, "", Direction{On: true, KeyBits: 56, Stateless: true}},
		{"H|S|C (RRAS)", only128, mppe(BitH | BitS | BitC), false, ppp.ConfNak, mppe(BitH | BitS), Direction{}},
		{"H|S|D", only128, mppe(BitH | BitS | BitD), false, ppp.ConfNak, mppe(BitH | BitS), Direction{}},
		{"unknown bit", only128, mppe(BitH | BitS | 0x00100000), false, ppp.ConfNak, mppe(BitH | BitS), Direction{}},
		{"no bits, 128 allowed", only128, mppe(0), false, ppp.ConfNak, mppe(BitH | BitS), Direction{}},
		{"no bits, 40 and 128 allowed", s40or128, mppe(0), false, ppp.ConfNak, mppe(BitH | BitS | BitL), Direction{}},
		{"only C", only128, mppe(BitC), false, ppp.ConfNak, mppe(BitH | BitS), Direction{}},
		{"S|L, 128 allowed", only128, mppe(BitH | BitS | BitL), false, ppp.ConfNak, mppe(BitH | BitS), Direction{}},
		{"S|L, 40 allowed", only40, mppe(BitH | BitS | BitL), false, ppp.ConfNak, mppe(BitH | BitL), Direction{}},
		{"S|M|L, all allowed", all, mppe(BitH | BitS | BitM | BitL), false, ppp.ConfNak, mppe(BitH | BitS), Direction{}},
		{"L only, 128 allowed", only128, mppe(BitH | BitL), false, ppp.ConfNak, mppe(BitH | BitS), Direction{}},
		{"M only, 40 and 128 allowed", s40or128, mppe(BitH | BitM), false, ppp.ConfNak, mppe(BitH | BitS), Direction{}},
		{"stateful, not allowed", only128, mppe(BitS), false, ppp.ConfNak, mppe(BitH | BitS), Direction{}},
		{"stateful, allowed", stateful, mppe(BitS), false, ppp.ConfAck, "", Direction{On: true, KeyBits: 128}},
		{"stateless with stateful allowed", stateful, mppe(BitH | BitS), false, ppp.ConfAck, "", Direction{On: true, KeyBits: 128, Stateless: true}},
		{"stateful S|L, allowed", stateful, mppe(BitS | BitL), false, ppp.ConfNak, mppe(BitS), Direction{}},
		{"deflate", only128, deflate, false, ppp.ConfRej, deflate, Direction{}},
		{"BSD compress", only128, bsd, false, ppp.ConfRej, bsd, Direction{}},
		{"pppd deflate pair", Config{}, "1a04780018047800", false, ppp.ConfRej, "1a04780018047800", Direction{}},
		{"deflate with MPPE: reject only deflate", only128, deflate + mppe(BitH|BitS), false, ppp.ConfRej, deflate, Direction{}},
		{"MPPE while MPPE is off", Config{}, mppe(BitH | BitS), false, ppp.ConfRej, mppe(BitH | BitS), Direction{}},
		{"MPPE of bad length", only128, "1205010000", false, ppp.ConfRej, "1205010000", Direction{}},
		{"empty request", only128, "", false, ppp.ConfAck, "", Direction{}},
		{"empty request, MPPE off (pppd nomppe)", Config{}, "", false, ppp.ConfAck, "", Direction{}},
		{"H|S|C in reject-only mode", only128, mppe(BitH | BitS | BitC), true, ppp.ConfRej, mppe(BitH | BitS | BitC), Direction{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCCP(tc.cfg)
			c.start(t)
			req := mustHex(tc.req)
			code, reply := c.CheckRequest(req, tc.rejectOnly)
			want := mustHex(tc.reply)
			if tc.code == ppp.ConfAck {
				want = req
			}
			if code != tc.code || !bytes.Equal(reply, want) {
				t.Fatalf("CheckRequest(%s) = %v %x, want %v %x", tc.req, code, reply, tc.code, want)
			}
			if code == ppp.ConfAck {
				if got := c.Result().Send; got != tc.send {
					t.Errorf("Result().Send = %+v, want %+v", got, tc.send)
				}
			}
		})
	}
}

func TestOwnRequest(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{only128, mppe(BitH | BitS)},
		{only40, mppe(BitH | BitL)},
		{s40or128, mppe(BitH | BitS | BitL)},
		{all, mppe(BitH | BitS | BitM | BitL)},
		{stateful, mppe(BitH | BitS)}, // allowed, not asked for: as pppd
		{mustStateful, mppe(BitS)},
		{Config{}, ""},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%+v", tc.cfg), func(t *testing.T) {
			req := newTestCCP(tc.cfg).start(t)
			if got := hex.EncodeToString(req.Data); got != tc.want {
				t.Errorf("request %s, want %s", got, tc.want)
			}
		})
	}
}

// TestNegotiationUp runs a full negotiation and checks both directions.
func TestNegotiationUp(t *testing.T) {
	c := newTestCCP(only128)
	req := c.start(t)
	c.Input(ppp.Packet{Code: ppp.ConfReq, ID: 1, Data: mustHex(mppe(BitH | BitS))})
	if r := c.out.one(t); r.Code != ppp.ConfAck {
		t.Fatalf("answer %v, want ConfAck", r.Code)
	}
	c.Input(ppp.Packet{Code: ppp.ConfAck, ID: req.ID, Data: req.Data})
	want := Direction{On: true, KeyBits: 128, Stateless: true}
	if len(c.up) != 1 || c.up[0].Send != want || c.up[0].Recv != want {
		t.Fatalf("Up results %+v, want send and receive %+v", c.up, want)
	}
	if f := c.Failure(); f != "" {
		t.Errorf("Failure %q", f)
	}
}

// TestRequiredButNoMPPEFromPeer: MPPE required and the peer's request asks for
// nothing we could ack with MPPE: CCP must not come up silently.
func TestRequiredButNoMPPEFromPeer(t *testing.T) {
	c := newTestCCP(only128)
	req := c.start(t)
	c.Input(ppp.Packet{Code: ppp.ConfReq, ID: 1}) // empty: the peer sends in clear
	c.out.take()
	c.Input(ppp.Packet{Code: ppp.ConfAck, ID: req.ID, Data: req.Data})
	if len(c.up) != 0 {
		t.Errorf("Up ran with %+v although the peer will not encrypt", c.up)
	}
	if f := c.Failure(); f == "" {
		t.Error("no Failure with MPPE required and not agreed for sending")
	}
}

// TestRejectEndsRequiredMPPE: there is no fallback after a reject of a
// required MPPE option (pppd would already have closed the link).
func TestRejectEndsRequiredMPPE(t *testing.T) {
	for _, required := range []bool{true, false} {
		t.Run(fmt.Sprintf("required=%v", required), func(t *testing.T) {
			cfg := only128
			cfg.Required = required
			c := newTestCCP(cfg)
			req := c.start(t)
			c.Input(ppp.Packet{Code: ppp.ConfRej, ID: req.ID, Data: req.Data})
			req = c.out.one(t)
			if req.Code != ppp.ConfReq || len(req.Data) != 0 {
				t.Errorf("after the reject sent %v %x, want an empty ConfReq", req.Code, req.Data)
			}
			if f := c.Failure(); (f != "") != required {
				t.Errorf("Failure %q with MPPE required=%v", f, required)
			}
		})
	}
}

// TestRequireStateful covers require-mppe-stateful: we ask for stateful
// mode, nak a stateless request towards it, and fail when the peer insists
// on stateless mode.
func TestRequireStateful(t *testing.T) {
	c := newTestCCP(mustStateful)
	req := c.start(t)
	c.Input(ppp.Packet{Code: ppp.ConfReq, ID: 1, Data: mustHex(mppe(BitH | BitS))})
	if r := c.out.one(t); r.Code != ppp.ConfNak || hex.EncodeToString(r.Data) != mppe(BitS) {
		t.Fatalf("stateless request answered %v %x, want a Nak to stateful", r.Code, r.Data)
	}
	c.Input(ppp.Packet{Code: ppp.ConfReq, ID: 2, Data: mustHex(mppe(BitS))})
	if r := c.out.one(t); r.Code != ppp.ConfAck {
		t.Fatalf("stateful request answered %v", r.Code)
	}
	c.Input(ppp.Packet{Code: ppp.ConfAck, ID: req.ID, Data: req.Data})
	want := Direction{On: true, KeyBits: 128}
	if len(c.up) != 1 || c.up[0].Send != want || c.up[0].Recv != want {
		t.Fatalf("Up %+v, want stateful both ways", c.up)
	}

	c = newTestCCP(mustStateful)
	req = c.start(t)
	c.Input(ppp.Packet{Code: ppp.ConfNak, ID: req.ID, Data: mustHex(mppe(BitH | BitS))})
	if f := c.Failure(); f == "" {
		t.Error("a peer insisting on stateless mode did not fail require-mppe-stateful")
	}
}

func TestRejectOfUnaskedOption(t *testing.T) {
	c := newTestCCP(only128)
	req := c.start(t)
	c.Input(ppp.Packet{Code: ppp.ConfRej, ID: req.ID, Data: mustHex("1a047800")})
	if p := c.out.take(); len(p) != 0 {
		t.Errorf("reject of an option we never asked caused %v", p)
	}
}

func TestGotNak(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		nak     string
		want    string // next request
		failure bool
	}{
		{"to 40, only 128 allowed", only128, mppe(BitH | BitL), "", true},
		{"to 56, only 128 allowed", only128, mppe(BitH | BitM), "", true},
		{"to 128, only 40 allowed", only40, mppe(BitH | BitS), "", true},
		{"nothing suggested", only128, mppe(0), "", true},
		{"to 40, 40 and 128 allowed", s40or128, mppe(BitH | BitL), mppe(BitH | BitL), false},
		{"to S|L: strongest taken", s40or128, mppe(BitH | BitS | BitL), mppe(BitH | BitS), false},
		{"to stateful, not allowed: stay stateless", only128, mppe(BitS), mppe(BitH | BitS), false},
		{"stateful to stateless", stateful, mppe(BitH | BitS), mppe(BitH | BitS), false},
		{"stateful stays stateful", stateful, mppe(BitS | BitC), mppe(BitS), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCCP(tc.cfg)
			req := c.start(t)
			c.Input(ppp.Packet{Code: ppp.ConfNak, ID: req.ID, Data: mustHex(tc.nak)})
			f := c.Failure()
			if tc.failure {
				if f == "" {
					t.Fatalf("no Failure after nak %s", tc.nak)
				}
				return
			}
			if f != "" {
				t.Fatalf("Failure %q", f)
			}
			next := c.out.one(t)
			if got := hex.EncodeToString(next.Data); next.Code != ppp.ConfReq || got != tc.want {
				t.Errorf("after nak %s sent %v %s, want ConfReq %s", tc.nak, next.Code, got, tc.want)
			}
		})
	}
}

func TestResetRequest(t *testing.T) {
	c := newTestCCP(only128)
	req := c.start(t)

	// Not opened: ignored, no Code-Reject either.
	c.Input(ppp.Packet{Code: ppp.ResetReq, ID: 33})
	if p := c.out.take(); len(p) != 0 || c.resets != 0 {
		t.Fatalf("Reset-Request before Opened: sent %v, hook ran %d times", p, c.resets)
	}
	c.SendResetRequest()
	if p := c.out.take(); len(p) != 0 {
		t.Fatalf("SendResetRequest before Opened sent %v", p)
	}

	c.Input(ppp.Packet{Code: ppp.ConfReq, ID: 1, Data: mustHex(mppe(BitH | BitS))})
	c.out.take()
	c.Input(ppp.Packet{Code: ppp.ConfAck, ID: req.ID, Data: req.Data})
	if !c.IsOpened() {
		t.Fatalf("state %v, want Opened", c.State())
	}

	c.Input(ppp.Packet{Code: ppp.ResetReq, ID: 77, Data: []byte{1, 2}})
	p := c.out.one(t)
	if p.Code != ppp.ResetAck || p.ID != 77 {
		t.Errorf("Reset-Request answered %v id %d, want ResetAck id 77", p.Code, p.ID)
	}
	if c.resets != 1 {
		t.Errorf("ResetRequest hook ran %d times, want 1", c.resets)
	}
	c.Input(ppp.Packet{Code: ppp.ResetAck, ID: 5})
	if p := c.out.take(); len(p) != 0 {
		t.Errorf("Reset-Ack answered with %v", p)
	}

	// While a request is outstanding, another changes nothing: its
	// retransmissions carry it. Once acknowledged, the next is new.
	c.SendResetRequest()
	c.SendResetRequest()
	ps := c.out.take()
	if len(ps) != 1 || ps[0].Code != ppp.ResetReq {
		t.Fatalf("SendResetRequest twice sent %v, want one ResetReq", ps)
	}
	c.Input(ppp.Packet{Code: ppp.ResetAck, ID: ps[0].ID})
	c.SendResetRequest()
	if p := c.out.one(t); p.Code != ppp.ResetReq || p.ID == ps[0].ID {
		t.Errorf("after the Reset-Ack SendResetRequest sent %v id %d, want a ResetReq with a new id", p.Code, p.ID)
	}

	// Unknown codes are Code-Rejected.
	c.Input(ppp.Packet{Code: 9, ID: 3})
	if p := c.out.one(t); p.Code != ppp.CodeRej {
		t.Errorf("code 9 answered %v, want CodeRej", p.Code)
	}
}

// replay feeds the peer's CCP Configure-Requests of a capture to our CCP and
// checks each answer against the one the real peer at ours sent.
func replay(t *testing.T, capture, us, peer string, cfg Config) *testCCP {
	t.Helper()
	pkts := capturePackets(t, capture, ppp.ProtoCCP)
	c := newTestCCP(cfg)
	c.start(t)
	n := 0
	for _, p := range pkts {
		if p.src.String() != peer || p.pkt.Code != ppp.ConfReq {
			continue
		}
		n++
		var real ppp.Packet
		for _, q := range pkts {
			if q.src.String() == us && q.pkt.ID == p.pkt.ID && (q.pkt.Code == ppp.ConfAck || q.pkt.Code == ppp.ConfNak || q.pkt.Code == ppp.ConfRej) {
				real = q.pkt
				break
			}
		}
		c.Input(p.pkt)
		got := c.out.one(t)
		if got.Code != real.Code || got.ID != real.ID || !bytes.Equal(got.Data, real.Data) {
			t.Errorf("request id %d %x: answered %v id %d %x, the real peer %v id %d %x",
				p.pkt.ID, p.pkt.Data, got.Code, got.ID, got.Data, real.Code, real.ID, real.Data)
		}
	}
	if n == 0 {
		t.Fatal("no requests to replay")
	}
	return c
}

func TestReplayPppdServer(t *testing.T) {
	tests := []struct {
		capture string
		cfg     Config
		dir     Direction
	}{
		{"pppd-mschapv2-mppe128.pcap", only128, Direction{On: true, KeyBits: 128, Stateless: true}},
		{"pppd-mschapv1-mppe128.pcap", only128, Direction{On: true, KeyBits: 128, Stateless: true}},
		{"pppd-mschapv2-mppe40.pcap", only40, Direction{On: true, KeyBits: 40, Stateless: true}},
		{"pppd-mschapv2-mppe40.pcap", s40or128, Direction{On: true, KeyBits: 40, Stateless: true}},
		{"pppd-chapmd5-nomppe.pcap", Config{}, Direction{}},
		{"pppd-pap-nomppe.pcap", Config{}, Direction{}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s %+v", tc.capture, tc.cfg), func(t *testing.T) {
			c := replay(t, tc.capture, "10.99.0.2", "10.99.0.3", tc.cfg)
			if got := c.Result().Send; got != tc.dir {
				t.Errorf("send direction %+v, want %+v", got, tc.dir)
			}
			if !tc.dir.On {
				return
			}
			if tc.cfg != only128 && tc.cfg != only40 {
				return
			}
			// With pppd's configuration our own request is the one pppd's
			// server sent, which the client acked.
			realReq := find(t, capturePackets(t, tc.capture, ppp.ProtoCCP), "10.99.0.2", ppp.ConfReq, -1)
			if ours := newTestCCP(tc.cfg).start(t); !bytes.Equal(ours.Data, realReq.Data) {
				t.Errorf("our request %x, pppd's %x", ours.Data, realReq.Data)
			}
		})
	}
}

// TestReplayWindows: as a server we answer the Windows client's request like
// RRAS did (ack H|S); as a client we answer RRAS's H|S|C offer like the
// Windows client did (nak H|S), then ack RRAS's H|S.
func TestReplayWindows(t *testing.T) {
	const capture = "windows-client-rras-mschapv2-mppe128.pcap"
	c := replay(t, capture, "192.168.43.104", "192.168.43.39", only128)
	want := Direction{On: true, KeyBits: 128, Stateless: true}
	if got := c.Result().Send; got != want {
		t.Errorf("server send direction %+v, want %+v", got, want)
	}

	c = replay(t, capture, "192.168.43.39", "192.168.43.104", only128)
	if got := c.Result().Send; got != want {
		t.Errorf("client send direction %+v, want %+v", got, want)
	}
	// Windows' request is what we would ask for too.
	winReq := find(t, capturePackets(t, capture, ppp.ProtoCCP), "192.168.43.39", ppp.ConfReq, -1)
	if ours := newTestCCP(only128).start(t); !bytes.Equal(ours.Data, winReq.Data) {
		t.Errorf("our request %x, Windows' %x", ours.Data, winReq.Data)
	}
}

// TestResetRequestRetransmitted: a Reset-Request goes again on the timer,
// with its Identifier, until the Reset-Ack with that Identifier arrives,
// and at most resetRetries more times.
func TestResetRequestRetransmitted(t *testing.T) {
	c := newTestCCP(stateful)
	req := c.start(t)
	c.Input(ppp.Packet{Code: ppp.ConfReq, ID: 1, Data: mustHex(mppe(BitS))})
	c.out.take()
	c.Input(ppp.Packet{Code: ppp.ConfAck, ID: req.ID, Data: req.Data})
	if !c.IsOpened() || c.timer.running {
		t.Fatalf("state %v, timer running %v; want Opened, idle", c.State(), c.timer.running)
	}

	c.SendResetRequest()
	first := c.out.one(t)
	if first.Code != ppp.ResetReq || !c.timer.running {
		t.Fatalf("sent %v, timer running %v; want ResetReq and the timer", first.Code, c.timer.running)
	}
	c.Timeout()
	if p := c.out.one(t); p.Code != ppp.ResetReq || p.ID != first.ID {
		t.Errorf("retransmission %v id %d, want ResetReq id %d", p.Code, p.ID, first.ID)
	}
	c.Input(ppp.Packet{Code: ppp.ResetAck, ID: first.ID + 1}) // not ours
	if !c.timer.running {
		t.Error("a Reset-Ack with another Identifier stopped the retransmissions")
	}
	c.Input(ppp.Packet{Code: ppp.ResetAck, ID: first.ID})
	if c.timer.running {
		t.Error("timer still running after the Reset-Ack")
	}
	c.Timeout() // a stale expiry
	if p := c.out.take(); len(p) != 0 {
		t.Errorf("sent %v after the Reset-Ack", p)
	}

	// Never acknowledged: resetRetries copies after the first, then quiet.
	c.SendResetRequest()
	c.out.take()
	n := 0
	for c.timer.running && n < 100 {
		c.timer.running = false
		c.Timeout()
		n += len(c.out.take())
	}
	if n != resetRetries {
		t.Errorf("%d retransmissions without a Reset-Ack, want %d", n, resetRetries)
	}

	// Leaving Opened hands the timer back to the FSM: its expiry is a
	// Configure-Request again, not a Reset-Request.
	c.SendResetRequest()
	c.out.take()
	c.Input(ppp.Packet{Code: ppp.ConfReq, ID: 2, Data: mustHex(mppe(BitS))})
	c.out.take()
	c.Timeout()
	for _, p := range c.out.take() {
		if p.Code == ppp.ResetReq {
			t.Errorf("Reset-Request retransmitted after CCP left Opened (state %v)", c.State())
		}
	}
}

// TestResetRequestCopies: a copy of the Reset-Request we just flushed for
// (same Identifier, within resetEcho) is acknowledged without a second
// flush; a later copy, or a new request, flushes again.
func TestResetRequestCopies(t *testing.T) {
	c := newTestCCP(stateful)
	req := c.start(t)
	c.Input(ppp.Packet{Code: ppp.ConfReq, ID: 1, Data: mustHex(mppe(BitS))})
	c.out.take()
	c.Input(ppp.Packet{Code: ppp.ConfAck, ID: req.ID, Data: req.Data})
	now := time.Unix(1e9, 0)
	c.now = func() time.Time { return now }
	for _, step := range []struct {
		id     uint8
		after  time.Duration
		resets int
	}{
		{9, 0, 1},
		{9, ResetRetry, 1},  // our own retransmission interval: a copy
		{9, ResetRetry, 1},  // still within resetEcho of the flush
		{9, time.Second, 2}, // pppd's interval: the flushed packet may be lost
		{10, 0, 3},          // a new request
	} {
		now = now.Add(step.after)
		c.Input(ppp.Packet{Code: ppp.ResetReq, ID: step.id})
		if p := c.out.one(t); p.Code != ppp.ResetAck || p.ID != step.id {
			t.Fatalf("Reset-Request id %d answered %v id %d", step.id, p.Code, p.ID)
		}
		if c.resets != step.resets {
			t.Fatalf("after Reset-Request id %d (+%v): %d flushes, want %d", step.id, step.after, c.resets, step.resets)
		}
	}
}
