package mschap

import (
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/gopptp/gopptp/internal/pcapfile"
)

// pppFrame is one PPP frame carried in a GRE packet of a capture.
type pppFrame struct {
	src, dst netip.Addr
	proto    uint16
	info     []byte // the PPP information field
}

// captureFrames returns the PPP frames inside the GRE packets of a capture
// in testdata/captures. It knows just enough of RFC 2637's enhanced GRE and
// of RFC 1662's framing to find them: optional sequence and acknowledgement
// numbers, an optional FF 03 address and control, a protocol field that may
// be compressed to one byte.
func captureFrames(t *testing.T, name string) []pppFrame {
	t.Helper()
	dir, err := pcapfile.Dir()
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := pcapfile.Read(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	var out []pppFrame
	for _, p := range pcapfile.GRE(pkts) {
		g := p.Payload
		if len(g) < 8 || binary.BigEndian.Uint16(g[2:]) != 0x880b {
			t.Fatalf("%s frame %d: not an enhanced GRE packet", name, p.Index)
		}
		plen := int(binary.BigEndian.Uint16(g[4:]))
		off := 8
		if g[0]&0x10 != 0 { // S: sequence number present
			off += 4
		}
		if g[1]&0x80 != 0 { // A: acknowledgement number present
			off += 4
		}
		if plen == 0 {
			continue
		}
		if off+plen > len(g) {
			t.Fatalf("%s frame %d: GRE payload truncated", name, p.Index)
		}
		ppp := g[off : off+plen]
		if len(ppp) >= 2 && ppp[0] == 0xff && ppp[1] == 0x03 {
			ppp = ppp[2:]
		}
		var proto uint16
		switch {
		case len(ppp) >= 1 && ppp[0]&1 == 1:
			proto, ppp = uint16(ppp[0]), ppp[1:]
		case len(ppp) >= 2:
			proto, ppp = binary.BigEndian.Uint16(ppp), ppp[2:]
		default:
			t.Fatalf("%s frame %d: PPP frame too short", name, p.Index)
		}
		out = append(out, pppFrame{src: p.Src, dst: p.Dst, proto: proto, info: ppp})
	}
	return out
}

// chapPacket is a CHAP packet (RFC 1994) as seen in a capture.
type chapPacket struct {
	src         netip.Addr
	code, id    byte
	value, name []byte // Challenge and Response packets
	message     []byte // Success and Failure packets
}

func captureCHAP(t *testing.T, name string) []chapPacket {
	t.Helper()
	var out []chapPacket
	for _, f := range captureFrames(t, name) {
		if f.proto != 0xc223 {
			continue
		}
		b := f.info
		if len(b) < 4 || int(binary.BigEndian.Uint16(b[2:])) > len(b) {
			t.Fatalf("%s: truncated CHAP packet % x", name, b)
		}
		b = b[:binary.BigEndian.Uint16(b[2:])]
		c := chapPacket{src: f.src, code: b[0], id: b[1]}
		switch c.code {
		case 1, 2:
			if len(b) < 5 || 5+int(b[4]) > len(b) {
				t.Fatalf("%s: bad CHAP value in % x", name, b)
			}
			c.value = b[5 : 5+int(b[4])]
			c.name = b[5+int(b[4]):]
		default:
			c.message = b[4:]
		}
		out = append(out, c)
	}
	return out
}

// TestCaptureMSCHAPv2 recomputes the MS-CHAPv2 exchanges of real sessions
// (pppd client and server; Windows client and RRAS server) and compares them
// with the bytes on the wire.
func TestCaptureMSCHAPv2(t *testing.T) {
	for _, tc := range []struct {
		file, user, password string
		wantMsg              string // the text after S=... in the Success packet
	}{
		{"pppd-mschapv2-mppe128.pcap", "pptpuser", "pptp-secret-42", "Access granted"},
		{"pppd-mschapv2-mppe40.pcap", "pptpuser", "pptp-secret-42", "Access granted"},
		{"windows-client-rras-mschapv2-mppe128.pcap", "vpnuser", "vpnuser123", ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			pkts := captureCHAP(t, tc.file)
			var challenge, response, success *chapPacket
			for i := range pkts {
				switch p := &pkts[i]; p.code {
				case 1:
					challenge = p
				case 2:
					response = p
				case 3:
					success = p
				case 4:
					t.Fatalf("unexpected CHAP Failure %q", p.message)
				}
			}
			if challenge == nil || response == nil || success == nil {
				t.Fatal("capture lacks a Challenge, Response or Success")
			}
			if len(challenge.value) != 16 || len(response.value) != 49 {
				t.Fatalf("value sizes %d and %d, want 16 and 49", len(challenge.value), len(response.value))
			}
			if string(response.name) != tc.user {
				t.Fatalf("response name %q, want %q", response.name, tc.user)
			}
			auth := [16]byte(challenge.value)
			peer := [16]byte(response.value[0:16])
			ntResp := [24]byte(response.value[24:48])

			ph := NTPasswordHash(tc.password)
			if got := GenerateNTResponse(auth, peer, tc.user, ph); got != ntResp {
				t.Errorf("NT-Response %x, on the wire %x", got, ntResp)
			}
			s := AuthenticatorResponse(ph, ntResp, peer, auth, tc.user)
			wantS := s
			if tc.wantMsg != "" {
				wantS += " M=" + tc.wantMsg
			}
			if string(success.message) != wantS {
				t.Errorf("Success message %q, want %q", success.message, wantS)
			}
			if !CheckAuthenticatorResponse(ph, ntResp, peer, auth, tc.user, string(success.message)) {
				t.Errorf("CheckAuthenticatorResponse rejects the real Success message %q", success.message)
			}
			_, msg, err := ParseSuccess(string(success.message))
			if err != nil || msg != tc.wantMsg {
				t.Errorf("ParseSuccess(%q) = message %q, %v; want %q", success.message, msg, err, tc.wantMsg)
			}
			if CheckAuthenticatorResponse(NTPasswordHash(tc.password+"x"), ntResp, peer, auth, tc.user, string(success.message)) {
				t.Error("CheckAuthenticatorResponse accepts the Success message for a wrong password")
			}
		})
	}
}

// TestCaptureValuesREADME checks the values that testdata/captures/README.md
// lists for pppd-mschapv2-mppe128.pcap against the capture itself.
func TestCaptureValuesREADME(t *testing.T) {
	pkts := captureCHAP(t, "pppd-mschapv2-mppe128.pcap")
	if len(pkts) < 3 {
		t.Fatalf("%d CHAP packets, want 3", len(pkts))
	}
	if got := hexString(pkts[0].value); got != "e828c3d700d788652ffac77d9bdba79a" {
		t.Errorf("AuthenticatorChallenge %s", got)
	}
	if got := hexString(pkts[1].value[:16]); got != "e8428bb3fc424e17e0d4a0ec3b1dbdc8" {
		t.Errorf("PeerChallenge %s", got)
	}
	auth := mustHex16(t, "e828c3d700d788652ffac77d9bdba79a")
	peer := mustHex16(t, "e8428bb3fc424e17e0d4a0ec3b1dbdc8")
	ph := NTPasswordHash("pptp-secret-42")
	nt := GenerateNTResponse(auth, peer, "pptpuser", ph)
	if got := AuthenticatorResponse(ph, nt, peer, auth, "pptpuser"); got != "S=E85A1DB2A82B7E039B217A8C7685B6F090445F6C" {
		t.Errorf("AuthenticatorResponse %s", got)
	}
}

// TestCaptureMSCHAPv1 recomputes the MS-CHAPv1 NT response of a real pppd
// session. pppd sends no LM response (24 zero bytes) and sets the use-NT flag.
func TestCaptureMSCHAPv1(t *testing.T) {
	pkts := captureCHAP(t, "pppd-mschapv1-mppe128.pcap")
	if len(pkts) < 3 || pkts[0].code != 1 || pkts[1].code != 2 || pkts[2].code != 3 {
		t.Fatalf("want Challenge, Response, Success; got %d packets", len(pkts))
	}
	if len(pkts[0].value) != 8 || len(pkts[1].value) != 49 {
		t.Fatalf("value sizes %d and %d, want 8 and 49", len(pkts[0].value), len(pkts[1].value))
	}
	challenge := [8]byte(pkts[0].value)
	resp := pkts[1].value
	if resp[48] != 1 {
		t.Errorf("use-NT flag %d, want 1", resp[48])
	}
	got := NTChallengeResponse(challenge, NTPasswordHash("pptp-secret-42"))
	if got != [24]byte(resp[24:48]) {
		t.Errorf("NT response %x, on the wire %x", got, resp[24:48])
	}
}
