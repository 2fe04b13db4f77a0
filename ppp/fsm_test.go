package ppp

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

type fakeTimer struct {
	running bool
	starts  int
}

func (t *fakeTimer) Start(time.Duration) { t.running = true; t.starts++ }
func (t *fakeTimer) Stop()               { t.running = false }

// testLayer negotiates one option, type 1, a single byte. want is what we
// ask for; accept is the set of peer values we ack; suggest is what we nak
// with otherwise; rejectAll rejects every option.
type testLayer struct {
	want, initial byte
	omit          bool // option rejected by the peer: stop asking
	accept        map[byte]bool
	suggest       byte
	rejectAll     bool
	log           []string
	finishedWhy   string
}

func (l *testLayer) ResetRequest() { l.want = l.initial; l.omit = false }
func (l *testLayer) AppendRequest(b []byte) []byte {
	if l.omit {
		return b
	}
	return AppendOption(b, 1, l.want)
}
func (l *testLayer) GotAck(opts []byte) bool {
	return bytes.Equal(opts, l.AppendRequest(nil))
}
func (l *testLayer) GotNak(opts []byte) bool {
	os, err := ParseOptions(opts)
	if err != nil {
		return false
	}
	for _, o := range os {
		if o.Type == 1 && len(o.Data) == 1 {
			l.want = o.Data[0]
		}
	}
	return true
}
func (l *testLayer) GotReject(opts []byte) bool {
	if !bytes.Equal(opts, l.AppendRequest(nil)) {
		return false
	}
	l.omit = true
	return true
}
func (l *testLayer) CheckRequest(opts []byte, rejectOnly bool) (Code, []byte) {
	os, err := ParseOptions(opts)
	if err != nil {
		return ConfRej, opts
	}
	r := NewReply(rejectOnly)
	for _, o := range os {
		switch {
		case l.rejectAll || o.Type != 1 || len(o.Data) != 1:
			r.Reject(o)
		case !l.accept[o.Data[0]]:
			r.Nak(o, []byte{l.suggest})
		}
	}
	return r.Result(opts)
}
func (l *testLayer) LayerUp()      { l.log = append(l.log, "up") }
func (l *testLayer) LayerDown()    { l.log = append(l.log, "down") }
func (l *testLayer) LayerStarted() { l.log = append(l.log, "started") }
func (l *testLayer) LayerFinished(reason string) {
	l.log = append(l.log, "finished")
	l.finishedWhy = reason
}
func (l *testLayer) ExtCode(p Packet) bool { return p.Code == EchoReq }

// link joins two automata back to back through packet queues.
type link struct {
	a, b     *FSM
	la, lb   *testLayer
	ta, tb   *fakeTimer
	qa, qb   []Packet // packets in flight to a and to b
	trace    []string
	dropToB  bool
	dropToA  bool
	maxSteps int
}

func newLink(la, lb *testLayer) *link {
	l := &link{la: la, lb: lb, ta: &fakeTimer{}, tb: &fakeTimer{}, maxSteps: 1000}
	l.a = NewFSM(ProtoLCP, la, func(p Packet) {
		l.trace = append(l.trace, fmt.Sprintf("a>%v:%d", p.Code, p.ID))
		if !l.dropToB {
			l.qb = append(l.qb, clonePacket(p))
		}
	}, l.ta, Config{})
	l.b = NewFSM(ProtoLCP, lb, func(p Packet) {
		l.trace = append(l.trace, fmt.Sprintf("b>%v:%d", p.Code, p.ID))
		if !l.dropToA {
			l.qa = append(l.qa, clonePacket(p))
		}
	}, l.tb, Config{})
	return l
}

func clonePacket(p Packet) Packet {
	p.Data = append([]byte(nil), p.Data...)
	return p
}

// pump delivers queued packets until none are left.
func (l *link) pump(t *testing.T) {
	t.Helper()
	for i := 0; len(l.qa)+len(l.qb) > 0; i++ {
		if i > l.maxSteps {
			t.Fatalf("negotiation does not converge: %s", strings.Join(l.trace, " "))
		}
		if len(l.qa) > 0 {
			p := l.qa[0]
			l.qa = l.qa[1:]
			l.a.Input(p)
		}
		if len(l.qb) > 0 {
			p := l.qb[0]
			l.qb = l.qb[1:]
			l.b.Input(p)
		}
	}
}

func (l *link) open() {
	l.a.Open()
	l.b.Open()
	l.a.Up()
	l.b.Up()
}

func TestFSMOpensAndTerminates(t *testing.T) {
	la := &testLayer{initial: 7, accept: map[byte]bool{9: true}, suggest: 9}
	lb := &testLayer{initial: 9, accept: map[byte]bool{7: true}, suggest: 7}
	l := newLink(la, lb)
	l.open()
	l.pump(t)
	if l.a.State() != Opened || l.b.State() != Opened {
		t.Fatalf("states %v %v, want Opened; trace %v", l.a.State(), l.b.State(), l.trace)
	}
	if l.ta.running || l.tb.running {
		t.Error("restart timer still running in Opened")
	}
	if got := strings.Join(la.log, ","); got != "started,up" {
		t.Errorf("layer a actions %q", got)
	}
	l.a.Close("admin")
	l.pump(t)
	if l.a.State() != Closed {
		t.Errorf("a state %v, want Closed", l.a.State())
	}
	if l.b.State() != Stopping {
		t.Errorf("b state %v, want Stopping (waits for its zero-restart timeout)", l.b.State())
	}
	if la.finishedWhy != "admin" {
		t.Errorf("a finished with %q", la.finishedWhy)
	}
	l.b.Timeout() // zrc: the peer gives the Terminate-Ack one restart period
	if l.b.State() != Stopped || lb.finishedWhy != "peer: admin" {
		t.Errorf("b state %v reason %q", l.b.State(), lb.finishedWhy)
	}
}

func TestFSMNakConverges(t *testing.T) {
	// a asks for 1; b only accepts 5 and naks with 5.
	la := &testLayer{initial: 1, accept: map[byte]bool{2: true}, suggest: 2}
	lb := &testLayer{initial: 2, accept: map[byte]bool{5: true}, suggest: 5}
	l := newLink(la, lb)
	l.open()
	l.pump(t)
	if !l.a.IsOpened() || !l.b.IsOpened() {
		t.Fatalf("not opened: %v %v: %v", l.a.State(), l.b.State(), l.trace)
	}
	if la.want != 5 {
		t.Errorf("a settled on %d, want 5", la.want)
	}
}

func TestFSMNakLoopBecomesReject(t *testing.T) {
	// b naks forever with a value a will not take (a keeps asking for 1
	// because its GotNak ignores the value): after MaxFailure naks b must
	// reject, a must drop the option, and the link must open.
	la := &stubbornLayer{testLayer{initial: 1, accept: map[byte]bool{2: true}, suggest: 2}}
	lb := &testLayer{initial: 2, accept: map[byte]bool{5: true}, suggest: 5}
	l := &link{ta: &fakeTimer{}, tb: &fakeTimer{}, maxSteps: 1000}
	l.a = NewFSM(ProtoIPCP, la, func(p Packet) { l.trace = append(l.trace, "a>"+p.Code.String()); l.qb = append(l.qb, clonePacket(p)) }, l.ta, Config{})
	l.b = NewFSM(ProtoIPCP, lb, func(p Packet) { l.trace = append(l.trace, "b>"+p.Code.String()); l.qa = append(l.qa, clonePacket(p)) }, l.tb, Config{})
	l.open()
	l.pump(t)
	if !l.a.IsOpened() || !l.b.IsOpened() {
		t.Fatalf("not opened: %v %v: %v", l.a.State(), l.b.State(), l.trace)
	}
	naks := strings.Count(strings.Join(l.trace, " "), "b>ConfNak")
	if naks != 5 {
		t.Errorf("b sent %d naks, want MaxFailure=5 before rejecting", naks)
	}
	if !la.omit {
		t.Error("a still asks for the rejected option")
	}
}

type stubbornLayer struct{ testLayer }

func (l *stubbornLayer) GotNak([]byte) bool { return true }

func TestFSMGivesUpAfterMaxConfigure(t *testing.T) {
	la := &testLayer{initial: 1, accept: map[byte]bool{}, suggest: 1}
	l := newLink(la, &testLayer{})
	l.dropToB = true
	l.a.Open()
	l.a.Up()
	for i := 0; i < 20 && l.a.State() != Stopped; i++ {
		l.a.Timeout()
	}
	if l.a.State() != Stopped {
		t.Fatalf("state %v after timeouts, want Stopped", l.a.State())
	}
	if got := strings.Count(strings.Join(l.trace, " "), "a>ConfReq"); got != 10 {
		t.Errorf("sent %d Configure-Requests, want MaxConfigure=10", got)
	}
	// Retransmissions keep the identifier of the request they repeat.
	if !strings.Contains(strings.Join(l.trace, " "), "a>ConfReq:1 a>ConfReq:1") {
		t.Errorf("retransmission changed the identifier: %v", l.trace)
	}
	if la.finishedWhy != "negotiation timed out" || l.ta.running {
		t.Errorf("finished %q, timer running %v", la.finishedWhy, l.ta.running)
	}
}

func TestFSMIgnoresStaleAck(t *testing.T) {
	la := &testLayer{initial: 1, accept: map[byte]bool{}, suggest: 1}
	l := newLink(la, &testLayer{})
	l.dropToB = true
	l.a.Open()
	l.a.Up()
	l.a.Input(Packet{Code: ConfAck, ID: 99, Data: AppendOption(nil, 1, 1)})
	if l.a.State() != ReqSent {
		t.Errorf("ack with wrong id moved state to %v", l.a.State())
	}
	l.a.Input(Packet{Code: ConfAck, ID: 1, Data: AppendOption(nil, 1, 2)})
	if l.a.State() != ReqSent {
		t.Errorf("ack with wrong options moved state to %v", l.a.State())
	}
	l.a.Input(Packet{Code: ConfAck, ID: 1, Data: AppendOption(nil, 1, 1)})
	if l.a.State() != AckRcvd {
		t.Errorf("good ack: state %v, want Ack-Rcvd", l.a.State())
	}
}

func TestFSMCodeRejectAndExtCodes(t *testing.T) {
	la := &testLayer{initial: 1, accept: map[byte]bool{1: true}, suggest: 1}
	lb := &testLayer{initial: 1, accept: map[byte]bool{1: true}, suggest: 1}
	l := newLink(la, lb)
	l.open()
	l.pump(t)
	l.trace = nil
	l.a.Input(Packet{Code: 77, ID: 5, Data: []byte{1, 2}})
	if len(l.qb) != 1 || l.qb[0].Code != CodeRej || !bytes.Equal(l.qb[0].Data, []byte{77, 5, 0, 6, 1, 2}) {
		t.Fatalf("unknown code: sent %v", l.qb)
	}
	l.qb = nil
	l.a.Input(Packet{Code: EchoReq, ID: 1})
	if len(l.qb) != 0 {
		t.Errorf("code handled by the layer was rejected")
	}
	// A Code-Reject of an optional code (echo) leaves the link up...
	l.a.Input(Packet{Code: CodeRej, ID: 3, Data: []byte{9, 1, 0, 4}})
	if !l.a.IsOpened() {
		t.Fatalf("RXJ+ closed the link")
	}
	// ...one of a code the automaton needs takes it down (RXJ-).
	l.a.Input(Packet{Code: CodeRej, ID: 4, Data: []byte{1, 1, 0, 4}})
	if l.a.State() != Stopping || len(l.qb) == 0 || l.qb[len(l.qb)-1].Code != TermReq {
		t.Errorf("RXJ-: state %v, sent %v", l.a.State(), l.qb)
	}
}

func TestFSMPeerRenegotiates(t *testing.T) {
	la := &testLayer{initial: 1, accept: map[byte]bool{1: true}, suggest: 1}
	lb := &testLayer{initial: 1, accept: map[byte]bool{1: true}, suggest: 1}
	l := newLink(la, lb)
	l.open()
	l.pump(t)
	// b restarts negotiation from Opened: a goes down and comes back up.
	l.b.Input(Packet{Code: ConfAck, ID: l.b.reqID, Data: AppendOption(nil, 1, 1)}) // RCA in Opened
	l.pump(t)
	if !l.a.IsOpened() || !l.b.IsOpened() {
		t.Fatalf("not reopened: %v %v", l.a.State(), l.b.State())
	}
	if got := strings.Join(la.log, ","); got != "started,up,down,up" {
		t.Errorf("a actions %q", got)
	}
}

func TestFSMDownAndIgnoredBeforeUp(t *testing.T) {
	la := &testLayer{initial: 1, accept: map[byte]bool{1: true}, suggest: 1}
	l := newLink(la, &testLayer{})
	l.a.Input(Packet{Code: ConfReq, ID: 1})
	if l.a.State() != Initial || len(l.qb) != 0 {
		t.Fatal("packet before Up was not discarded")
	}
	l.a.Open()
	l.a.Up()
	l.a.Down()
	if l.a.State() != Starting || l.ta.running {
		t.Errorf("after Down: %v, timer %v", l.a.State(), l.ta.running)
	}
	l.a.Close("x")
	if l.a.State() != Initial || la.finishedWhy != "x" {
		t.Errorf("Close in Starting: %v %q", l.a.State(), la.finishedWhy)
	}
}

func TestFrameCodec(t *testing.T) {
	for _, tc := range []struct {
		p         Protocol
		acfc, pfc bool
		want      []byte
	}{
		{ProtoIPv4, false, false, []byte{0xff, 0x03, 0x00, 0x21}},
		{ProtoIPv4, true, false, []byte{0x00, 0x21}},
		{ProtoIPv4, true, true, []byte{0x21}},
		{ProtoIPv4, false, true, []byte{0xff, 0x03, 0x21}},
		{ProtoLCP, true, true, []byte{0xff, 0x03, 0xc0, 0x21}},
		{ProtoIPCP, true, true, []byte{0x80, 0x21}},
	} {
		buf := make([]byte, 8)
		n := PutHeader(buf, tc.p, tc.acfc, tc.pfc)
		if got := buf[8-n:]; !bytes.Equal(got, tc.want) {
			t.Errorf("PutHeader(%v,%v,%v) = %x, want %x", tc.p, tc.acfc, tc.pfc, got, tc.want)
		}
		frame := append(append([]byte{}, tc.want...), 0xaa)
		p, info, err := ParseFrame(frame)
		if err != nil || p != tc.p || !bytes.Equal(info, []byte{0xaa}) {
			t.Errorf("ParseFrame(%x) = %v %x %v", frame, p, info, err)
		}
	}
	for _, bad := range [][]byte{{}, {0xff, 0x03}, {0xff, 0x05, 0x00, 0x21}, {0x00}, {0x00, 0x20}, {0xff, 0x03, 0xc0, 0x20}} {
		if _, _, err := ParseFrame(bad); err == nil {
			t.Errorf("ParseFrame(%x) accepted", bad)
		}
	}
}

func TestPacketAndOptions(t *testing.T) {
	raw := []byte{1, 7, 0, 10, 3, 6, 10, 0, 0, 1, 0xee, 0xee} // padded
	p, err := ParsePacket(raw)
	if err != nil || p.Code != ConfReq || p.ID != 7 || len(p.Data) != 6 {
		t.Fatalf("ParsePacket = %+v, %v", p, err)
	}
	if got := p.Append(nil); !bytes.Equal(got, raw[:10]) {
		t.Errorf("re-encoded %x", got)
	}
	opts, err := ParseOptions(p.Data)
	if err != nil || len(opts) != 1 || opts[0].Type != 3 || !bytes.Equal(opts[0].Data, []byte{10, 0, 0, 1}) {
		t.Fatalf("options %+v %v", opts, err)
	}
	for _, bad := range [][]byte{{1, 1, 0}, {1, 1, 0, 3}, {1, 1, 0, 9, 0}} {
		if _, err := ParsePacket(bad); err == nil {
			t.Errorf("ParsePacket(%x) accepted", bad)
		}
	}
	for _, bad := range [][]byte{{3}, {3, 1}, {3, 7, 1, 2}} {
		if _, err := ParseOptions(bad); err == nil {
			t.Errorf("ParseOptions(%x) accepted", bad)
		}
	}
}

func TestReply(t *testing.T) {
	req := AppendOption(AppendOption(nil, 1, 5), 2, 6)
	o1, o2 := Option{1, []byte{5}}, Option{2, []byte{6}}
	r := NewReply(false)
	if c, d := r.Result(req); c != ConfAck || !bytes.Equal(d, req) {
		t.Errorf("empty reply = %v %x", c, d)
	}
	r.Nak(o1, []byte{9})
	if c, d := r.Result(req); c != ConfNak || !bytes.Equal(d, []byte{1, 3, 9}) {
		t.Errorf("nak reply = %v %x", c, d)
	}
	r.Reject(o2)
	if c, d := r.Result(req); c != ConfRej || !bytes.Equal(d, []byte{2, 3, 6}) {
		t.Errorf("reject wins over nak: %v %x", c, d)
	}
	r = NewReply(true)
	r.Nak(o1, []byte{9})
	if c, d := r.Result(req); c != ConfRej || !bytes.Equal(d, []byte{1, 3, 5}) {
		t.Errorf("reject-only nak = %v %x", c, d)
	}
}

func FuzzFSMInput(f *testing.F) {
	f.Add([]byte{1, 1, 0, 7, 1, 3, 1})
	f.Add([]byte{2, 1, 0, 7, 1, 3, 1})
	f.Add([]byte{7, 1, 0, 8, 1, 1, 0, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		la := &testLayer{initial: 1, accept: map[byte]bool{1: true}, suggest: 1}
		l := newLink(la, &testLayer{})
		l.dropToB = true
		l.a.Open()
		l.a.Up()
		for len(data) > 0 {
			p, err := ParsePacket(data)
			if err != nil {
				return
			}
			l.a.Input(p)
			data = data[4+len(p.Data):]
		}
	})
}

func TestFSMDiscardsMalformedOptions(t *testing.T) {
	la := &testLayer{initial: 1, accept: map[byte]bool{1: true}, suggest: 1}
	lb := &testLayer{initial: 1, accept: map[byte]bool{1: true}, suggest: 1}
	l := newLink(la, lb)
	l.open()
	l.pump(t)
	l.qb = nil
	// An option running past the end: no reply, and the link stays up.
	l.a.Input(Packet{Code: ConfReq, ID: 9, Data: []byte{1, 9, 1}})
	l.a.Input(Packet{Code: ConfAck, ID: l.a.reqID, Data: []byte{1}})
	if !l.a.IsOpened() || len(l.qb) != 0 {
		t.Errorf("malformed packets changed state to %v or drew replies %v", l.a.State(), l.qb)
	}
}
