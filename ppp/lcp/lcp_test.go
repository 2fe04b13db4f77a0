package lcp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"io"
	"log/slog"
	"testing"

	"github.com/gopptp/gopptp/ppp"
)

// The magic numbers the tests' Magic function hands out, in order.
const (
	magic1 = 0x11111111
	magic2 = 0x22222222
	magic3 = 0x33333333
)

// seqMagic returns a Magic function that yields 0x11111111, 0x22222222, ...
func seqMagic() func() uint32 {
	var n uint32
	return func() uint32 {
		n++
		return n * 0x11111111
	}
}

// testLCP is an LCP instance with its recorded output and observed hooks.
type testLCP struct {
	*LCP
	out      *recorder
	timer    *fakeTimer
	up       []Result
	protRej  []ppp.Protocol
	idents   []string
	loopback int
	finished []string
}

func newTestLCP(cfg Config) *testLCP {
	if cfg.Magic == nil {
		cfg.Magic = seqMagic()
	}
	tl := &testLCP{out: &recorder{}, timer: &fakeTimer{}}
	hooks := Hooks{
		Up:              func(r Result) { tl.up = append(tl.up, r) },
		Finished:        func(r string) { tl.finished = append(tl.finished, r) },
		ProtocolReject:  func(p ppp.Protocol) { tl.protRej = append(tl.protRej, p) },
		Identification:  func(s string) { tl.idents = append(tl.idents, s) },
		LoopbackWarning: func() { tl.loopback++ },
	}
	tl.LCP = New(cfg, hooks, tl.out.send, tl.timer, ppp.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return tl
}

// start opens the automaton and returns our first Configure-Request.
func (tl *testLCP) start(t *testing.T) ppp.Packet {
	t.Helper()
	tl.Open()
	tl.Up()
	p := tl.out.one(t)
	if p.Code != ppp.ConfReq {
		t.Fatalf("first packet is %v, want ConfReq", p.Code)
	}
	return p
}

// open takes the automaton to Opened: our request is acked and the peer's
// request (peerOpts) must be acked by us.
func (tl *testLCP) open(t *testing.T, peerOpts []byte) {
	t.Helper()
	req := tl.start(t)
	tl.Input(ppp.Packet{Code: ppp.ConfReq, ID: 0x42, Data: peerOpts})
	if r := tl.out.one(t); r.Code != ppp.ConfAck {
		t.Fatalf("peer request %x answered with %v %x, want ConfAck", peerOpts, r.Code, r.Data)
	}
	tl.Input(ppp.Packet{Code: ppp.ConfAck, ID: req.ID, Data: req.Data})
	if !tl.IsOpened() {
		t.Fatalf("LCP in state %v after both acks, want Opened", tl.State())
	}
	tl.out.take()
}

func u32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// pppdPeerRequest is what pppd 2.4.9 as a PPTP client asks for (from
// pppd-mschapv2-mppe128.pcap): asyncmap 0, magic, pcomp, accomp.
var pppdPeerRequest = mustHex("0206000000000506c38e863007020802")

func TestOwnRequest(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"server MS-CHAPv2", Config{Require: []ppp.AuthMethod{ppp.AuthMSCHAPv2}}, "0305c22381" + "050611111111" + "0702" + "0802"},
		{"server MS-CHAPv1", Config{Require: []ppp.AuthMethod{ppp.AuthMSCHAPv1}}, "0305c22380" + "050611111111" + "0702" + "0802"},
		{"server CHAP-MD5", Config{Require: []ppp.AuthMethod{ppp.AuthCHAPMD5}}, "0305c22305" + "050611111111" + "0702" + "0802"},
		{"server PAP first", Config{Require: []ppp.AuthMethod{ppp.AuthPAP, ppp.AuthMSCHAPv2}}, "0304c023" + "050611111111" + "0702" + "0802"},
		{"client", Config{Accept: []ppp.AuthMethod{ppp.AuthMSCHAPv2}}, "050611111111" + "0702" + "0802"},
		{"client MRU 1400", Config{MRU: 1400, Accept: []ppp.AuthMethod{ppp.AuthMSCHAPv2}}, "01040578" + "050611111111" + "0702" + "0802"},
		{"default MRU not asked", Config{MRU: DefaultMRU}, "050611111111" + "0702" + "0802"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := newTestLCP(tc.cfg).start(t)
			if got := hex.EncodeToString(req.Data); got != tc.want {
				t.Errorf("Configure-Request options = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestOwnRequestLikePppd checks that our server's request carries the
// options pppd's server sent in the captures, in the same order; only the
// asyncmap (meaningless on PPTP) and the magic number differ.
func TestOwnRequestLikePppd(t *testing.T) {
	tests := []struct {
		capture string
		method  ppp.AuthMethod
	}{
		{"pppd-mschapv2-mppe128.pcap", ppp.AuthMSCHAPv2},
		{"pppd-mschapv1-mppe128.pcap", ppp.AuthMSCHAPv1},
		{"pppd-chapmd5-nomppe.pcap", ppp.AuthCHAPMD5},
		{"pppd-pap-nomppe.pcap", ppp.AuthPAP},
	}
	for _, tc := range tests {
		t.Run(tc.capture, func(t *testing.T) {
			pppdReq := find(t, capturePackets(t, tc.capture, ppp.ProtoLCP), "10.99.0.2", ppp.ConfReq, -1)
			opts, err := ppp.ParseOptions(pppdReq.Data)
			if err != nil {
				t.Fatal(err)
			}
			var want []byte
			for _, o := range opts {
				switch o.Type {
				case OptACCM:
				case OptMagic:
					want = ppp.AppendOption(want, OptMagic, u32(magic1)...)
				default:
					want = o.Append(want)
				}
			}
			req := newTestLCP(Config{Require: []ppp.AuthMethod{tc.method}}).start(t)
			if !bytes.Equal(req.Data, want) {
				t.Errorf("our request %x, pppd's (without asyncmap, our magic) %x", req.Data, want)
			}
		})
	}
}

// TestServerAcksPppdRequests feeds the LCP Configure-Request of every pppd
// client in the captures to a server-role LCP: pppd's server acked them, so
// must we, and the result must reflect them.
func TestServerAcksPppdRequests(t *testing.T) {
	for _, capture := range []string{
		"pppd-mschapv2-mppe128.pcap", "pppd-mschapv2-mppe40.pcap", "pppd-mschapv1-mppe128.pcap",
		"pppd-chapmd5-nomppe.pcap", "pppd-pap-nomppe.pcap",
	} {
		t.Run(capture, func(t *testing.T) {
			pkts := capturePackets(t, capture, ppp.ProtoLCP)
			peerReq := find(t, pkts, "10.99.0.3", ppp.ConfReq, -1)
			realReply := find(t, pkts, "10.99.0.2", ppp.ConfAck, int(peerReq.ID))

			l := newTestLCP(Config{Require: []ppp.AuthMethod{ppp.AuthMSCHAPv2}})
			ourReq := l.start(t)
			l.Input(peerReq)
			reply := l.out.one(t)
			if reply.Code != realReply.Code || reply.ID != realReply.ID || !bytes.Equal(reply.Data, realReply.Data) {
				t.Fatalf("reply %v id %d %x, pppd sent %v id %d %x", reply.Code, reply.ID, reply.Data, realReply.Code, realReply.ID, realReply.Data)
			}
			l.Input(ppp.Packet{Code: ppp.ConfAck, ID: ourReq.ID, Data: ourReq.Data})
			if len(l.up) != 1 {
				t.Fatalf("Up hook ran %d times, want 1", len(l.up))
			}
			r := l.up[0]
			wantMagic := binary.BigEndian.Uint32(peerReq.Data[8:12])
			if r.PeerMRU != DefaultMRU || !r.SendPFC || !r.SendACFC || r.PeerMagic != wantMagic ||
				r.LocalMagic != magic1 || r.Auth != ppp.AuthMSCHAPv2 || r.PeerAuth != ppp.AuthNone {
				t.Errorf("result %+v, want MRU 1500, PFC, ACFC, peer magic %#x, local magic %#x, auth MS-CHAPv2, no peer auth", r, wantMagic, magic1)
			}
		})
	}
}

// TestServerAgainstWindowsClient replays the Windows client's LCP requests:
// the Callback option (13) is rejected alone, then the request without it
// is acked with MRU 1400, magic, PFC and ACFC kept.
func TestServerAgainstWindowsClient(t *testing.T) {
	pkts := capturePackets(t, "windows-client-rras-mschapv2-mppe128.pcap", ppp.ProtoLCP)
	winReq := find(t, pkts, "192.168.43.39", ppp.ConfReq, -1)

	l := newTestLCP(Config{Require: []ppp.AuthMethod{ppp.AuthMSCHAPv2}})
	ourReq := l.start(t)
	l.Input(winReq)
	reply := l.out.one(t)
	if reply.Code != ppp.ConfRej || reply.ID != winReq.ID {
		t.Fatalf("reply %v id %d, want ConfRej id %d", reply.Code, reply.ID, winReq.ID)
	}
	if want := mustHex("0d0306"); !bytes.Equal(reply.Data, want) {
		t.Fatalf("rejected %x, want exactly the Callback option %x", reply.Data, want)
	}

	// What Windows sends next: the same without Callback.
	opts, _ := ppp.ParseOptions(winReq.Data)
	var next []byte
	for _, o := range opts {
		if o.Type != OptCallback {
			next = o.Append(next)
		}
	}
	l.Input(ppp.Packet{Code: ppp.ConfReq, ID: winReq.ID + 1, Data: next})
	if r := l.out.one(t); r.Code != ppp.ConfAck || !bytes.Equal(r.Data, next) {
		t.Fatalf("second request %x answered %v %x, want ConfAck echoing it", next, r.Code, r.Data)
	}
	l.Input(ppp.Packet{Code: ppp.ConfAck, ID: ourReq.ID, Data: ourReq.Data})
	if len(l.up) != 1 {
		t.Fatalf("LCP not up (state %v)", l.State())
	}
	r := l.up[0]
	if r.PeerMRU != 1400 || !r.SendPFC || !r.SendACFC || r.PeerMagic != 0x75eb25d5 {
		t.Errorf("result %+v, want peer MRU 1400, PFC, ACFC, peer magic 0x75eb25d5", r)
	}
}

// TestClientAgainstRRAS replays the Windows RRAS server's LCP requests to a
// client-role LCP: Callback, MRRU and Endpoint-Discriminator are rejected,
// then EAP is naked in favour of MS-CHAPv2 exactly as the Windows client
// did, and the MS-CHAPv2 request is acked.
func TestClientAgainstRRAS(t *testing.T) {
	pkts := capturePackets(t, "windows-client-rras-mschapv2-mppe128.pcap", ppp.ProtoLCP)
	const rras = "192.168.43.104"
	req0 := find(t, pkts, rras, ppp.ConfReq, 0)
	realNak := find(t, pkts, "192.168.43.39", ppp.ConfNak, 1)
	req2 := find(t, pkts, rras, ppp.ConfReq, 2)

	l := newTestLCP(Config{Accept: []ppp.AuthMethod{ppp.AuthMSCHAPv2, ppp.AuthMSCHAPv1}})
	ourReq := l.start(t)

	l.Input(req0)
	r := l.out.one(t)
	if r.Code != ppp.ConfRej || r.ID != 0 {
		t.Fatalf("RRAS request 0 answered %v id %d, want ConfRej id 0", r.Code, r.ID)
	}
	var wantRej []byte
	opts, _ := ppp.ParseOptions(req0.Data)
	for _, o := range opts {
		if o.Type == OptCallback || o.Type == OptMRRU || o.Type == OptEndpoint {
			wantRej = o.Append(wantRej)
		}
	}
	if !bytes.Equal(r.Data, wantRej) {
		t.Fatalf("rejected %x, want Callback+MRRU+Endpoint %x", r.Data, wantRej)
	}

	// RRAS without what we rejected: only the EAP request is left to nak.
	var noRej []byte
	for _, o := range opts {
		if o.Type != OptCallback && o.Type != OptMRRU && o.Type != OptEndpoint {
			noRej = o.Append(noRej)
		}
	}
	l.Input(ppp.Packet{Code: ppp.ConfReq, ID: 1, Data: noRej})
	r = l.out.one(t)
	if r.Code != ppp.ConfNak || !bytes.Equal(r.Data, realNak.Data) {
		t.Fatalf("EAP request answered %v %x, want ConfNak %x as the Windows client sent", r.Code, r.Data, realNak.Data)
	}

	// RRAS's final request, minus the Callback we keep rejecting.
	var final []byte
	opts, _ = ppp.ParseOptions(req2.Data)
	for _, o := range opts {
		if o.Type != OptCallback {
			final = o.Append(final)
		}
	}
	l.Input(ppp.Packet{Code: ppp.ConfReq, ID: 2, Data: final})
	if r = l.out.one(t); r.Code != ppp.ConfAck {
		t.Fatalf("MS-CHAPv2 request answered %v %x, want ConfAck", r.Code, r.Data)
	}
	l.Input(ppp.Packet{Code: ppp.ConfAck, ID: ourReq.ID, Data: ourReq.Data})
	if len(l.up) != 1 {
		t.Fatalf("LCP not up (state %v)", l.State())
	}
	if got := l.up[0]; got.PeerAuth != ppp.AuthMSCHAPv2 || got.Auth != ppp.AuthNone || got.PeerMRU != 1400 {
		t.Errorf("result %+v, want PeerAuth MS-CHAPv2, Auth none, PeerMRU 1400", got)
	}
}

func TestCheckRequest(t *testing.T) {
	server := Config{Require: []ppp.AuthMethod{ppp.AuthMSCHAPv2}}
	client := Config{Accept: []ppp.AuthMethod{ppp.AuthMSCHAPv2, ppp.AuthMSCHAPv1}}
	tests := []struct {
		name       string
		cfg        Config
		req        string
		rejectOnly bool
		code       ppp.Code
		reply      string // "" with ConfAck: echo of req
	}{
		{"pppd client", server, "0206000000000506c38e863007020802", false, ppp.ConfAck, ""},
		{"MRU 1400", server, "010405780506abcdef01", false, ppp.ConfAck, ""},
		{"MRU 128 is the floor", server, "01040080", false, ppp.ConfAck, ""},
		{"MRU 127 naked to 128", server, "0104007f0506abcdef01", false, ppp.ConfNak, "01040080"},
		{"MRU 64 naked to 128", server, "01040040", false, ppp.ConfNak, "01040080"},
		{"MRU 64 rejected in reject-only mode", server, "01040040", true, ppp.ConfRej, "01040040"},
		{"MRU of bad length", server, "0105000040", false, ppp.ConfRej, "0105000040"},
		{"ACCM accepted", server, "020600000000", false, ppp.ConfAck, ""},
		{"ACCM of bad length", server, "02050000ff", false, ppp.ConfRej, "02050000ff"},
		{"quality protocol", server, "0408c025000003e8", false, ppp.ConfRej, "0408c025000003e8"},
		{"callback", server, "0d0306", false, ppp.ConfRej, "0d0306"},
		{"MRRU", server, "1104064e", false, ppp.ConfRej, "1104064e"},
		{"short sequence numbers", server, "1202", false, ppp.ConfRej, "1202"},
		{"endpoint discriminator", server, "1305010203", false, ppp.ConfRej, "1305010203"},
		{"unknown option", server, "630401020506abcdef01", false, ppp.ConfRej, "63040102"},
		{"PFC with data", server, "070301", false, ppp.ConfRej, "070301"},
		{"ACFC with data", server, "080301", false, ppp.ConfRej, "080301"},
		{"magic of bad length", server, "0505abcdef", false, ppp.ConfRej, "0505abcdef"},
		{"server asked to authenticate", server, "0305c223810506abcdef01", false, ppp.ConfRej, "0305c22381"},
		{"reject wins over nak", server, "010400400d0306", false, ppp.ConfRej, "0d0306"},
		{"client takes MS-CHAPv2", client, "0305c22381", false, ppp.ConfAck, ""},
		{"client takes MS-CHAPv1", client, "0305c22380", false, ppp.ConfAck, ""},
		{"client naks EAP", client, "0304c227", false, ppp.ConfNak, "0305c22381"},
		{"client naks CHAP-MD5", client, "0305c22305", false, ppp.ConfNak, "0305c22381"},
		{"client naks PAP", client, "0304c023", false, ppp.ConfNak, "0305c22381"},
		{"client naks SHA1 CHAP", client, "0305c22306", false, ppp.ConfNak, "0305c22381"},
		{"client rejects EAP in reject-only mode", client, "0304c227", true, ppp.ConfRej, "0304c227"},
		{"client that accepts nothing rejects auth", Config{}, "0305c22381", false, ppp.ConfRej, "0305c22381"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestLCP(tc.cfg)
			l.start(t)
			req := mustHex(tc.req)
			code, reply := l.CheckRequest(req, tc.rejectOnly)
			want := mustHex(tc.reply)
			if tc.code == ppp.ConfAck {
				want = req
			}
			if code != tc.code || !bytes.Equal(reply, want) {
				t.Errorf("CheckRequest(%s) = %v %x, want %v %x", tc.req, code, reply, tc.code, want)
			}
		})
	}
}

// TestMagicZeroNaked: RFC 1661 6.4 says a zero magic number MUST be naked
// (if not rejected); the nak must suggest a usable, non-zero number.
func TestMagicZeroNaked(t *testing.T) {
	l := newTestLCP(Config{})
	l.start(t) // our magic is magic1
	code, reply := l.CheckRequest(mustHex("050600000000"), false)
	if code != ppp.ConfNak {
		t.Fatalf("magic 0 answered %v, want ConfNak", code)
	}
	os, err := ppp.ParseOptions(reply)
	if err != nil || len(os) != 1 || os[0].Type != OptMagic || len(os[0].Data) != 4 {
		t.Fatalf("nak %x, want one magic-number option", reply)
	}
	if v := binary.BigEndian.Uint32(os[0].Data); v == 0 {
		t.Errorf("nak suggests magic 0")
	}
	if l.loopback != 0 {
		t.Errorf("a zero magic number raised the loopback warning")
	}
}

// TestLoopback sends our own Configure-Request back to us, as a looped-back
// link would: RFC 1661 6.4 requires a Configure-Nak with a different magic
// number, and the session is warned.
func TestLoopback(t *testing.T) {
	l := newTestLCP(Config{MRU: 1400})
	req := l.start(t)
	l.Input(req)
	r := l.out.one(t)
	if r.Code != ppp.ConfNak || r.ID != req.ID {
		t.Fatalf("looped request answered %v id %d, want ConfNak id %d", r.Code, r.ID, req.ID)
	}
	os, err := ppp.ParseOptions(r.Data)
	if err != nil || len(os) != 1 || os[0].Type != OptMagic {
		t.Fatalf("nak %x, want only a magic-number option", r.Data)
	}
	if v := binary.BigEndian.Uint32(os[0].Data); v == magic1 || v == 0 {
		t.Errorf("nak suggests magic %#x, want a new non-zero one (ours is %#x)", v, magic1)
	}
	if l.loopback != 1 {
		t.Errorf("loopback warning raised %d times, want 1", l.loopback)
	}

	// The looped nak comes back to us as a nak of our request: choose
	// a new magic number and ask again (RFC 1661 6.4).
	l.Input(ppp.Packet{Code: ppp.ConfNak, ID: req.ID, Data: r.Data})
	next := l.out.one(t)
	if next.Code != ppp.ConfReq || next.ID == req.ID {
		t.Fatalf("after the nak sent %v id %d, want a new ConfReq", next.Code, next.ID)
	}
	nos, _ := ppp.ParseOptions(next.Data)
	for _, o := range nos {
		if o.Type == OptMagic && binary.BigEndian.Uint32(o.Data) == magic1 {
			t.Errorf("new request still uses magic %#x", magic1)
		}
	}
}

func TestServerAuthNak(t *testing.T) {
	pap := "0304c023"
	eap := "0304c227"
	v1 := "0305c22380"
	tests := []struct {
		name    string
		require []ppp.AuthMethod
		naks    []string // successive naks of our Authentication-Protocol
		want    string   // Authentication-Protocol of the request after the last nak
		failure bool     // Failure reported after the last nak
	}{
		{"nak suggesting PAP", []ppp.AuthMethod{ppp.AuthMSCHAPv2, ppp.AuthPAP}, []string{pap}, pap, false},
		{"nak suggesting an unknown method moves on", []ppp.AuthMethod{ppp.AuthMSCHAPv2, ppp.AuthPAP}, []string{eap}, pap, false},
		{"nak suggesting a method not required moves on", []ppp.AuthMethod{ppp.AuthMSCHAPv2, ppp.AuthCHAPMD5, ppp.AuthPAP}, []string{v1}, "0305c22305", false},
		{"nak suggesting a later method skips to it", []ppp.AuthMethod{ppp.AuthMSCHAPv2, ppp.AuthMSCHAPv1, ppp.AuthPAP}, []string{pap}, pap, false},
		{"every method naked", []ppp.AuthMethod{ppp.AuthMSCHAPv2, ppp.AuthPAP}, []string{eap, eap}, "", true},
		{"single method naked", []ppp.AuthMethod{ppp.AuthMSCHAPv2}, []string{eap}, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestLCP(Config{Require: tc.require})
			req := l.start(t)
			for _, nak := range tc.naks {
				l.Input(ppp.Packet{Code: ppp.ConfNak, ID: req.ID, Data: mustHex(nak)})
				req = l.out.one(t)
				if req.Code != ppp.ConfReq {
					t.Fatalf("after nak sent %v, want ConfReq", req.Code)
				}
			}
			f := l.Failure()
			if tc.failure {
				if f == "" {
					t.Fatalf("no Failure after the peer naked every method")
				}
				if again := l.Failure(); again != "" {
					t.Errorf("Failure reported twice: %q", again)
				}
				return
			}
			if f != "" {
				t.Fatalf("Failure %q, want none", f)
			}
			os, _ := ppp.ParseOptions(req.Data)
			var got string
			for _, o := range os {
				if o.Type == OptAuth {
					got = hex.EncodeToString(o.Append(nil))
				}
			}
			if got != tc.want {
				t.Fatalf("request after naks asks auth %s, want %s (request %x)", got, tc.want, req.Data)
			}
			// The peer acks: the agreed method is the one asked last.
			l.Input(ppp.Packet{Code: ppp.ConfReq, ID: 9, Data: pppdPeerRequest})
			l.out.take()
			l.Input(ppp.Packet{Code: ppp.ConfAck, ID: req.ID, Data: req.Data})
			m, _ := ppp.ParseAuthOption(mustHex(tc.want)[2:])
			if len(l.up) != 1 || l.up[0].Auth != m {
				t.Errorf("up results %+v, want Auth %v", l.up, m)
			}
		})
	}
}

func TestServerAuthRejected(t *testing.T) {
	l := newTestLCP(Config{Require: []ppp.AuthMethod{ppp.AuthMSCHAPv2}})
	req := l.start(t)
	l.Input(ppp.Packet{Code: ppp.ConfRej, ID: req.ID, Data: mustHex("0305c22381")})
	if f := l.Failure(); f == "" {
		t.Fatal("no Failure after the peer rejected authentication")
	}
}

func TestGotNakAndReject(t *testing.T) {
	tests := []struct {
		name string
		mru  int
		code ppp.Code
		opts string
		want string // our next request
	}{
		{"smaller MRU taken", 1400, ppp.ConfNak, "01040500", "01040500" + "050611111111" + "07020802"},
		{"larger MRU refused", 1400, ppp.ConfNak, "010405dc", "01040578" + "050611111111" + "07020802"},
		{"MRU below 128 refused", 1400, ppp.ConfNak, "01040040", "01040578" + "050611111111" + "07020802"},
		{"MRU rejected", 1400, ppp.ConfRej, "01040578", "050611111111" + "07020802"},
		{"magic naked: new magic", 0, ppp.ConfNak, "0506deadbeef", "050622222222" + "07020802"},
		{"magic rejected", 0, ppp.ConfRej, "050611111111", "07020802"},
		{"PFC and ACFC rejected", 0, ppp.ConfRej, "07020802", "050611111111"},
		{"PFC naked", 0, ppp.ConfNak, "0702", "050611111111" + "0802"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestLCP(Config{MRU: tc.mru})
			req := l.start(t)
			l.Input(ppp.Packet{Code: tc.code, ID: req.ID, Data: mustHex(tc.opts)})
			next := l.out.one(t)
			if got := hex.EncodeToString(next.Data); next.Code != ppp.ConfReq || got != tc.want {
				t.Errorf("after %v %s sent %v %s, want ConfReq %s", tc.code, tc.opts, next.Code, got, tc.want)
			}
		})
	}
}

// TestRejectOfOptionNotSent: RFC 1661 5.4 lets a Configure-Reject carry
// only options of our last request; anything else is ignored.
func TestRejectOfOptionNotSent(t *testing.T) {
	l := newTestLCP(Config{})
	req := l.start(t)
	l.Input(ppp.Packet{Code: ppp.ConfRej, ID: req.ID, Data: mustHex("01040578")})
	if p := l.out.take(); len(p) != 0 {
		t.Errorf("a reject of an option we never sent caused %v", p)
	}
}

func TestEchoRequest(t *testing.T) {
	echo := ppp.Packet{Code: ppp.EchoReq, ID: 7, Data: append(u32(0xc38e8630), "ping"...)}

	l := newTestLCP(Config{})
	req := l.start(t)
	l.Input(echo)
	if p := l.out.take(); len(p) != 0 {
		t.Fatalf("Echo-Request answered in state Req-Sent: %v", p)
	}
	l.Input(ppp.Packet{Code: ppp.ConfReq, ID: 1, Data: pppdPeerRequest})
	l.out.take()
	l.Input(ppp.Packet{Code: ppp.ConfAck, ID: req.ID, Data: req.Data})
	if !l.IsOpened() {
		t.Fatalf("state %v, want Opened", l.State())
	}
	l.Input(echo)
	r := l.out.one(t)
	want := append(u32(magic1), "ping"...)
	if r.Code != ppp.EchoRep || r.ID != 7 || !bytes.Equal(r.Data, want) {
		t.Errorf("Echo-Request answered %v id %d %x, want EchoRep id 7 %x", r.Code, r.ID, r.Data, want)
	}

	// Too short for a magic number: discarded.
	l.Input(ppp.Packet{Code: ppp.EchoReq, ID: 8, Data: []byte{1, 2}})
	if p := l.out.take(); len(p) != 0 {
		t.Errorf("short Echo-Request answered: %v", p)
	}
}

func TestEchoReplyWithoutMagic(t *testing.T) {
	// The peer rejected our magic number: echo replies carry zero.
	l := newTestLCP(Config{})
	req := l.start(t)
	l.Input(ppp.Packet{Code: ppp.ConfRej, ID: req.ID, Data: mustHex("050611111111")})
	req = l.out.one(t)
	l.Input(ppp.Packet{Code: ppp.ConfReq, ID: 1, Data: pppdPeerRequest})
	l.out.take()
	l.Input(ppp.Packet{Code: ppp.ConfAck, ID: req.ID, Data: req.Data})
	l.Input(ppp.Packet{Code: ppp.EchoReq, ID: 3, Data: u32(0xc38e8630)})
	if r := l.out.one(t); r.Code != ppp.EchoRep || !bytes.Equal(r.Data, u32(0)) {
		t.Errorf("reply %v %x, want EchoRep 00000000", r.Code, r.Data)
	}
}

func TestEchoTick(t *testing.T) {
	l := newTestLCP(Config{})
	if !l.EchoTick(3) {
		t.Fatal("EchoTick before Opened reported a dead peer")
	}
	if p := l.out.take(); len(p) != 0 {
		t.Fatalf("EchoTick before Opened sent %v", p)
	}
	l.open(t, pppdPeerRequest)

	ids := map[uint8]bool{}
	for i := 1; i <= 3; i++ {
		if !l.EchoTick(3) {
			t.Fatalf("tick %d reported a dead peer after %d unanswered requests", i, i-1)
		}
		p := l.out.one(t)
		if p.Code != ppp.EchoReq || !bytes.Equal(p.Data, u32(magic1)) {
			t.Fatalf("tick %d sent %v %x, want EchoReq with our magic %#x", i, p.Code, p.Data, magic1)
		}
		if ids[p.ID] {
			t.Errorf("Echo-Request id %d reused", p.ID)
		}
		ids[p.ID] = true
	}
	if l.EchoTick(3) {
		t.Fatal("tick after 3 unanswered requests did not report a dead peer")
	}

	// A reply from the peer (its own magic) clears the count.
	l.Input(ppp.Packet{Code: ppp.EchoRep, ID: 1, Data: u32(0xc38e8630)})
	l.out.take()
	for i := 1; i <= 3; i++ {
		if !l.EchoTick(3) {
			t.Fatalf("after a reply, tick %d reported a dead peer", i)
		}
	}
	// A reply with our own magic is a loopback, not an answer.
	l.Input(ppp.Packet{Code: ppp.EchoRep, ID: 1, Data: u32(magic1)})
	if l.loopback != 1 {
		t.Errorf("loopback warnings %d, want 1", l.loopback)
	}
	if l.EchoTick(3) {
		t.Error("our own looped reply counted as an answer")
	}

	// failures 0: never give up.
	for i := 0; i < 20; i++ {
		if !l.EchoTick(0) {
			t.Fatal("EchoTick(0) reported a dead peer")
		}
	}
}

func TestProtocolReject(t *testing.T) {
	// The Windows RRAS server's Protocol-Reject of IPV6CP.
	pr := find(t, capturePackets(t, "windows-client-rras-mschapv2-mppe128.pcap", ppp.ProtoLCP), "192.168.43.104", ppp.ProtoRej, -1)

	l := newTestLCP(Config{})
	l.start(t)
	l.Input(pr)
	if len(l.protRej) != 0 {
		t.Errorf("Protocol-Reject before Opened reached the hook: %v", l.protRej)
	}
	if p := l.out.take(); len(p) != 0 {
		t.Errorf("Protocol-Reject before Opened caused %v", p)
	}

	l = newTestLCP(Config{})
	l.open(t, pppdPeerRequest)
	l.Input(pr)
	if len(l.protRej) != 1 || l.protRej[0] != ppp.ProtoIPV6CP {
		t.Errorf("hook saw %v, want [IPV6CP]", l.protRej)
	}
	if p := l.out.take(); len(p) != 0 {
		t.Errorf("Protocol-Reject answered with %v", p)
	}
	l.Input(ppp.Packet{Code: ppp.ProtoRej, ID: 9, Data: []byte{0x80}})
	if len(l.protRej) != 1 {
		t.Errorf("a one-octet Protocol-Reject reached the hook")
	}
}

func TestSendProtocolReject(t *testing.T) {
	big := bytes.Repeat([]byte{0xab}, 2000)
	tests := []struct {
		name     string
		peerReq  []byte
		info     []byte
		wantInfo int
	}{
		{"fits", pppdPeerRequest, big[:100], 100},
		{"truncated to default MRU", pppdPeerRequest, big, 1500 - 6},
		{"truncated to peer MRU 1400", mustHex("010405780506abcdef01"), big, 1400 - 6},
		{"truncated to peer MRU 128", mustHex("01040080"), big, 128 - 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestLCP(Config{})
			l.SendProtocolReject(ppp.ProtoIPV6CP, tc.info)
			if p := l.out.take(); len(p) != 0 {
				t.Fatalf("Protocol-Reject sent before Opened: %v", p)
			}
			l.open(t, tc.peerReq)
			l.SendProtocolReject(ppp.ProtoIPV6CP, tc.info)
			p := l.out.one(t)
			if p.Code != ppp.ProtoRej {
				t.Fatalf("sent %v, want ProtRej", p.Code)
			}
			if got := binary.BigEndian.Uint16(p.Data); got != uint16(ppp.ProtoIPV6CP) {
				t.Errorf("rejected protocol %#04x, want 0x8057", got)
			}
			if n := len(p.Data) - 2; n != tc.wantInfo || !bytes.Equal(p.Data[2:], tc.info[:n]) {
				t.Errorf("rejected information %d octets, want the first %d", n, tc.wantInfo)
			}
			if n := len(p.Append(nil)); n > l.Result().PeerMRU {
				t.Errorf("packet of %d octets exceeds the peer's MRU %d", n, l.Result().PeerMRU)
			}
		})
	}
}

func TestIdentification(t *testing.T) {
	pkts := capturePackets(t, "windows-client-rras-mschapv2-mppe128.pcap", ppp.ProtoLCP)
	l := newTestLCP(Config{})
	l.open(t, pppdPeerRequest)
	var n int
	for _, p := range pkts {
		if p.pkt.Code == ppp.Ident {
			l.Input(p.pkt)
			n++
		}
	}
	if n == 0 {
		t.Fatal("no Identification packets in the capture")
	}
	if len(l.idents) != n || l.idents[0] != "MSRASV5.20" || l.idents[1] != "MSRAS-0-WIN-2RRBUS7N9GE" {
		t.Errorf("identifications %q, want %d starting with MSRASV5.20, MSRAS-0-WIN-2RRBUS7N9GE", l.idents, n)
	}
	if p := l.out.take(); len(p) != 0 {
		t.Errorf("Identification answered with %v", p)
	}
}

func TestUnknownCodeRejected(t *testing.T) {
	l := newTestLCP(Config{})
	l.open(t, pppdPeerRequest)
	bad := ppp.Packet{Code: 42, ID: 5, Data: []byte("xyz")}
	l.Input(bad)
	p := l.out.one(t)
	if p.Code != ppp.CodeRej || !bytes.Equal(p.Data, bad.Append(nil)) {
		t.Errorf("unknown code answered %v %x, want CodeRej carrying %x", p.Code, p.Data, bad.Append(nil))
	}
	// Discard-Request and Time-Remaining are known and silently taken.
	for _, c := range []ppp.Code{ppp.DiscardReq, ppp.TimeRemain} {
		l.Input(ppp.Packet{Code: c, ID: 6, Data: u32(0xc38e8630)})
		if p := l.out.take(); len(p) != 0 {
			t.Errorf("%v answered with %v", c, p)
		}
	}
}

// TestRenegotiation: a renegotiation from Opened must not keep the
// previous peer options (e.g. a larger MRU) once the new ones are agreed.
func TestRenegotiation(t *testing.T) {
	l := newTestLCP(Config{})
	l.open(t, mustHex("010405780506abcdef01"))
	if got := l.Result().PeerMRU; got != 1400 {
		t.Fatalf("PeerMRU %d, want 1400", got)
	}
	// The peer renegotiates without an MRU and without PFC/ACFC.
	l.Input(ppp.Packet{Code: ppp.ConfReq, ID: 50, Data: mustHex("0506abcdef02")})
	pk := l.out.take()
	if len(pk) != 2 || pk[0].Code != ppp.ConfReq || pk[1].Code != ppp.ConfAck {
		t.Fatalf("renegotiation sent %v, want ConfReq then ConfAck", pk)
	}
	l.Input(ppp.Packet{Code: ppp.ConfAck, ID: pk[0].ID, Data: pk[0].Data})
	if len(l.up) != 2 {
		t.Fatalf("Up ran %d times, want 2", len(l.up))
	}
	r := l.up[1]
	if r.PeerMRU != DefaultMRU || r.SendPFC || r.SendACFC || r.PeerMagic != 0xabcdef02 {
		t.Errorf("result after renegotiation %+v, want MRU 1500, no PFC/ACFC, magic 0xabcdef02", r)
	}
}
