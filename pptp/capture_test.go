package pptp

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/gopptp/gopptp/internal/pcapfile"
)

// captureStream is one direction of a PPTP control connection from
// testdata/captures.
type captureStream struct {
	name string // file and direction, for messages
	data []byte
}

func captureStreams(tb testing.TB) []captureStream {
	tb.Helper()
	paths, err := pcapfile.All()
	if err != nil {
		tb.Fatal(err)
	}
	var out []captureStream
	for _, p := range paths {
		pkts, err := pcapfile.Read(p)
		if err != nil {
			tb.Fatalf("%s: %v", filepath.Base(p), err)
		}
		for _, s := range pcapfile.TCPStreams(pkts, Port) {
			out = append(out, captureStream{
				name: filepath.Base(p) + " " + s.Src.String() + "->" + s.Dst.String(),
				data: s.Data,
			})
		}
	}
	if len(out) == 0 {
		tb.Fatal("no PPTP control streams in testdata/captures")
	}
	return out
}

// readAll reads every message of a stream, failing on any error but the
// end of the stream.
func readAll(t *testing.T, s captureStream) (msgs []Message, raws [][]byte) {
	t.Helper()
	r := NewReader(bytes.NewReader(s.data))
	for {
		m, raw, err := r.ReadMessage()
		if err == io.EOF {
			return msgs, raws
		}
		if err != nil {
			t.Fatalf("%s: message %d: %v", s.name, len(msgs), err)
		}
		msgs = append(msgs, m)
		raws = append(raws, bytes.Clone(raw))
	}
}

func TestCapturesRoundTrip(t *testing.T) {
	counts := map[string]map[MessageType]int{}
	for _, s := range captureStreams(t) {
		msgs, raws := readAll(t, s)
		file := s.name[:bytes.IndexByte([]byte(s.name), ' ')]
		if counts[file] == nil {
			counts[file] = map[MessageType]int{}
		}
		for i, m := range msgs {
			counts[file][m.Type()]++
			if got := Marshal(m); !bytes.Equal(got, raws[i]) {
				t.Errorf("%s: %v re-encodes differently:\n got %x\nwant %x", s.name, m.Type(), got, raws[i])
			}
			// Parse on its own agrees with the Reader.
			if _, err := Parse(raws[i]); err != nil {
				t.Errorf("%s: Parse(%v): %v", s.name, m.Type(), err)
			}
		}
	}

	// Every pppd session has the same exchange; the Windows one adds
	// Set-Link-Info in both directions.
	for _, file := range []string{"pppd-mschapv2-mppe128.pcap", "pppd-pap-nomppe.pcap", "windows-client-rras-mschapv2-mppe128.pcap"} {
		c := counts[file]
		if c == nil {
			t.Errorf("%s: no control messages", file)
			continue
		}
		for _, ty := range []MessageType{TypeStartCtrlConnRequest, TypeStartCtrlConnReply, TypeOutgoingCallRequest, TypeOutgoingCallReply} {
			if c[ty] != 1 {
				t.Errorf("%s: %d %v, want 1", file, c[ty], ty)
			}
		}
	}
	if n := counts["windows-client-rras-mschapv2-mppe128.pcap"][TypeSetLinkInfo]; n != 3 {
		t.Errorf("Windows capture: %d SLI, want 3", n)
	}
	if n := counts["pppd-mschapv2-mppe128.pcap"][TypeCallClearRequest]; n != 1 {
		t.Errorf("pppd capture: %d CCRQ, want 1", n)
	}
}

// TestCaptureFieldValues checks decoded values against what the captured
// peers are known to send.
func TestCaptureFieldValues(t *testing.T) {
	byType := map[string]map[MessageType]Message{}
	for _, s := range captureStreams(t) {
		msgs, _ := readAll(t, s)
		for _, m := range msgs {
			file := s.name[:bytes.IndexByte([]byte(s.name), ' ')]
			if byType[file] == nil {
				byType[file] = map[MessageType]Message{}
			}
			byType[file][m.Type()] = m
		}
	}

	pppd := byType["pppd-mschapv2-mppe128.pcap"]
	sccrq := pppd[TypeStartCtrlConnRequest].(*StartCtrlConnRequest)
	want := &StartCtrlConnRequest{ProtocolVersion: ProtocolVersion, FramingCaps: FramingAny, BearerCaps: BearerAny,
		MaxChannels: 0xffff, FirmwareRevision: 1, HostName: "local", VendorName: "cananian"}
	if *sccrq != *want {
		t.Errorf("pptp-linux SCCRQ = %+v, want %+v", sccrq, want)
	}
	sccrp := pppd[TypeStartCtrlConnReply].(*StartCtrlConnReply)
	if sccrp.Result != StartSuccess || sccrp.VendorName != "linux" || sccrp.HostName != "local" {
		t.Errorf("PoPToP SCCRP = %+v", sccrp)
	}
	ocrq := pppd[TypeOutgoingCallRequest].(*OutgoingCallRequest)
	ocrp := pppd[TypeOutgoingCallReply].(*OutgoingCallReply)
	if ocrq.CallID != 0xd5c0 || ocrp.PeerCallID != ocrq.CallID || ocrp.Result != OutgoingConnected {
		t.Errorf("OCRQ %+v / OCRP %+v do not pair up", ocrq, ocrp)
	}
	if ocrq.MinBPS != 2400 || ocrq.MaxBPS != 10_000_000 || ocrq.RecvWindowSize != 3 || ocrp.RecvWindowSize != 3 {
		t.Errorf("pptp-linux OCRQ %+v, PoPToP OCRP %+v", ocrq, ocrp)
	}
	if cc := pppd[TypeCallClearRequest].(*CallClearRequest); cc.CallID != ocrq.CallID {
		t.Errorf("CCRQ for call %#x, want %#x", cc.CallID, ocrq.CallID)
	}

	win := byType["windows-client-rras-mschapv2-mppe128.pcap"]
	if v := win[TypeStartCtrlConnRequest].(*StartCtrlConnRequest).VendorName; v != "Microsoft" {
		t.Errorf("Windows vendor %q", v)
	}
	wocrq := win[TypeOutgoingCallRequest].(*OutgoingCallRequest)
	if wocrq.RecvWindowSize != 64 || len(wocrq.Subaddress) != 16 {
		// Windows fills Subaddress with a 16-byte binary identifier.
		t.Errorf("Windows OCRQ %+v", wocrq)
	}
	sli := win[TypeSetLinkInfo].(*SetLinkInfo)
	if sli.SendACCM != 0xffffffff || sli.RecvACCM != 0xffffffff {
		t.Errorf("Windows SLI %+v", sli)
	}
}

// TestCaptureStreamTruncated cuts a real stream at every byte and checks
// the Reader reports the cut precisely.
func TestCaptureStreamTruncated(t *testing.T) {
	s := captureStreams(t)[0]
	bounds := map[int]bool{0: true}
	off := 0
	for off < len(s.data) {
		off += int(be.Uint16(s.data[off:]))
		bounds[off] = true
	}
	for cut := 0; cut < len(s.data); cut++ {
		r := NewReader(bytes.NewReader(s.data[:cut]))
		var err error
		for err == nil {
			_, _, err = r.ReadMessage()
		}
		switch {
		case bounds[cut] && err != io.EOF:
			t.Fatalf("cut at boundary %d: %v, want io.EOF", cut, err)
		case !bounds[cut] && !errors.Is(err, io.ErrUnexpectedEOF):
			t.Fatalf("cut at %d: %v, want io.ErrUnexpectedEOF", cut, err)
		}
	}
}
