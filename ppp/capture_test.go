package ppp

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/gopptp/gopptp/gre"
	"github.com/gopptp/gopptp/internal/pcapfile"
)

// captureCounts tallies what one capture holds, for the table
// TestCaptureFramesRoundTrip logs.
type captureCounts struct {
	gre     int              // GRE packets
	ackOnly int              // GRE packets without a PPP payload
	frames  map[Protocol]int // PPP frames per protocol
	padded  int              // control packets with octets after Length
	lcpACFC int              // LCP frames sent without FF 03
	ip      int              // IPv4 packets of a decrypted ppp0 capture
}

// controlProtocols are the protocols whose information field is an
// LCP-style control packet (code, identifier, length, data).
var controlProtocols = map[Protocol]bool{
	ProtoLCP: true, ProtoPAP: true, ProtoCHAP: true, ProtoIPCP: true,
	ProtoCCP: true, ProtoIPV6CP: true, ProtoCBCP: true,
}

// optionProtocols are the control protocols whose Configure-Request, -Ack,
// -Nak and -Reject carry an option list.
var optionProtocols = map[Protocol]bool{
	ProtoLCP: true, ProtoIPCP: true, ProtoCCP: true, ProtoIPV6CP: true,
}

// dataProtocols are the network-layer protocols the captures carry; their
// frames only need a valid header.
var dataProtocols = map[Protocol]bool{ProtoIPv4: true, ProtoIPv6: true, ProtoMPPE: true}

// TestCaptureFramesRoundTrip runs every PPP frame of the real sessions in
// testdata/captures (pppd on both ends, and a Windows client with a
// Windows RRAS server) through our codecs: each must parse, and our
// encoders must rebuild each frame header, control packet and option list
// byte for byte. A codec that misreads a field, or re-encodes a length or
// a compressed header differently from the peers, fails here.
func TestCaptureFramesRoundTrip(t *testing.T) {
	paths, err := pcapfile.All()
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 6 {
		t.Fatalf("found %d captures, want at least 6", len(paths))
	}
	counts := make(map[string]*captureCounts)
	var tunnels, decrypted int
	for _, path := range paths {
		name := filepath.Base(path)
		c := &captureCounts{frames: make(map[Protocol]int)}
		counts[name] = c
		t.Run(name, func(t *testing.T) {
			pkts, err := pcapfile.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			// The client's ppp0 captures hold the decrypted IP traffic
			// (Linux cooked framing), not PPTP.
			if strings.Contains(name, ".client-ppp0.") {
				decrypted++
				c.ip = len(pkts)
				if c.ip == 0 {
					t.Error("no IPv4 packets in a ppp0 capture")
				}
				return
			}
			tunnels++
			for _, p := range pcapfile.GRE(pkts) {
				c.gre++
				checkGRE(t, c, p)
			}
			if c.frames[ProtoLCP] == 0 || c.frames[ProtoIPCP] == 0 {
				t.Errorf("capture has %d LCP and %d IPCP frames, want some of each", c.frames[ProtoLCP], c.frames[ProtoIPCP])
			}
		})
	}
	if tunnels < 6 || decrypted < 5 {
		t.Errorf("%d tunnel and %d ppp0 captures, want at least 6 and 5", tunnels, decrypted)
	}
	t.Log("\n" + countTable(paths, counts))
}

// checkGRE checks one captured GRE packet and the PPP frame it carries.
func checkGRE(t *testing.T, c *captureCounts, p pcapfile.Packet) {
	t.Helper()
	_, payload, err := gre.Parse(p.Payload)
	if err != nil {
		t.Errorf("frame %d: GRE: %v: % x", p.Index+1, err, p.Payload)
		return
	}
	if len(payload) == 0 {
		c.ackOnly++
		return
	}
	proto, info, err := ParseFrame(payload)
	if err != nil {
		t.Errorf("frame %d: ParseFrame: %v: % x", p.Index+1, err, payload)
		return
	}
	c.frames[proto]++
	// The header is whatever precedes the information field; which
	// compressions the sender used follows from its shape.
	hdr := payload[:len(payload)-len(info)]
	acfc := !bytes.HasPrefix(hdr, []byte{0xff, 0x03})
	protoLen := len(hdr)
	if !acfc {
		protoLen -= 2
	}
	pfc := protoLen == 1
	var buf [4]byte
	n := PutHeader(buf[:], proto, acfc, pfc)
	got := buf[len(buf)-n:]
	want := hdr
	if proto == ProtoLCP && acfc {
		// Windows (client and RRAS) sends LCP Identification and
		// Protocol-Reject with the address and control field compressed
		// once LCP is open, although RFC 1661 section 6.6 forbids it.
		// PutHeader rightly always writes FF 03 for LCP, so the header
		// it builds may differ from such a frame by exactly that field.
		c.lcpACFC++
		want = append([]byte{0xff, 0x03}, hdr...)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("frame %d: %v header % x, PutHeader(acfc=%v, pfc=%v) gives % x", p.Index+1, proto, hdr, acfc, pfc, got)
	}
	switch {
	case controlProtocols[proto]:
		checkControl(t, c, p.Index+1, proto, info)
	case dataProtocols[proto]:
		// Only the header matters here: the datagram is either plain IP,
		// which the kernel parsed, or MPPE ciphertext.
	default:
		t.Errorf("frame %d: unexpected PPP protocol %v: % x", p.Index+1, proto, payload)
	}
}

// checkControl parses a control packet and its options and re-encodes them.
func checkControl(t *testing.T, c *captureCounts, frame int, proto Protocol, info []byte) {
	t.Helper()
	pkt, err := ParsePacket(info)
	if err != nil {
		t.Errorf("frame %d: %v ParsePacket: %v: % x", frame, proto, err, info)
		return
	}
	// RFC 1661 section 5: octets after Length are padding. Only the
	// packet proper must come back.
	length := 4 + len(pkt.Data)
	if len(info) > length {
		c.padded++
		t.Logf("frame %d: %v %s padded: length %d, %d octets follow: % x",
			frame, proto, CodeName(proto, pkt.Code), length, len(info)-length, info[length:])
	}
	if got := pkt.Append(nil); !bytes.Equal(got, info[:length]) {
		t.Errorf("frame %d: %v %s re-encodes as\n% x\nwant\n% x", frame, proto, CodeName(proto, pkt.Code), got, info[:length])
	}
	if !optionProtocols[proto] || pkt.Code < ConfReq || pkt.Code > ConfRej {
		return
	}
	opts, err := ParseOptions(pkt.Data)
	if err != nil {
		t.Errorf("frame %d: %v %v ParseOptions: %v: % x", frame, proto, pkt.Code, err, pkt.Data)
		return
	}
	var again []byte
	for _, o := range opts {
		again = o.Append(again)
	}
	if !bytes.Equal(again, pkt.Data) {
		t.Errorf("frame %d: %v %v options re-encode as\n% x\nwant\n% x", frame, proto, pkt.Code, again, pkt.Data)
	}
}

// countTable formats the counts, one row per capture in path order.
func countTable(paths []string, counts map[string]*captureCounts) string {
	cols := []Protocol{ProtoLCP, ProtoPAP, ProtoCHAP, ProtoCBCP, ProtoIPCP, ProtoIPV6CP, ProtoCCP, ProtoIPv4, ProtoIPv6, ProtoMPPE}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 1, ' ', tabwriter.AlignRight)
	fmt.Fprint(w, "capture\tGRE\tack-only\t")
	for _, p := range cols {
		fmt.Fprintf(w, "%v\t", p)
	}
	fmt.Fprint(w, "LCP w/o FF03\tpadded\tppp0 IPv4\t\n")
	for _, path := range paths {
		name := filepath.Base(path)
		c := counts[name]
		fmt.Fprintf(w, "%s\t%d\t%d\t", name, c.gre, c.ackOnly)
		for _, p := range cols {
			fmt.Fprintf(w, "%d\t", c.frames[p])
		}
		fmt.Fprintf(w, "%d\t%d\t%d\t\n", c.lcpACFC, c.padded, c.ip)
	}
	w.Flush()
	return b.String()
}
