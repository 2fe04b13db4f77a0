package mppe

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/gopptp/gopptp/internal/pcapfile"
	"github.com/gopptp/gopptp/mschap"
)

// pppFrame is one PPP frame carried in a GRE packet of a capture.
type pppFrame struct {
	src, dst netip.Addr
	proto    uint16
	info     []byte // the PPP information field
}

// captureFrames returns the PPP frames inside the GRE packets of a capture
// in testdata/captures. It knows just enough of RFC 2637's enhanced GRE and
// RFC 1662's framing to find them: optional sequence and acknowledgement
// numbers, optional FF 03 address and control, a protocol field that may be
// compressed to one byte.
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

// chapValues returns, from the CHAP packets of a capture, the
// authenticator's challenge and the value and name of the peer's response.
func chapValues(t *testing.T, frames []pppFrame) (challenge, response []byte, name string) {
	t.Helper()
	for _, f := range frames {
		b := f.info
		if f.proto != 0xc223 || len(b) < 5 || (b[0] != 1 && b[0] != 2) {
			continue
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n > len(b) || 5+int(b[4]) > n {
			t.Fatalf("malformed CHAP packet % x", b)
		}
		value := b[5 : 5+int(b[4])]
		if b[0] == 1 {
			challenge = value
		} else {
			response, name = value, string(b[5+int(b[4]):n])
		}
	}
	if challenge == nil || response == nil {
		t.Fatal("no CHAP Challenge and Response in the capture")
	}
	return challenge, response, name
}

// ipv4Valid reports whether p is an IPv4 packet with a correct header
// checksum and a total length of len(p).
func ipv4Valid(p []byte) bool {
	if len(p) < 20 || p[0]>>4 != 4 {
		return false
	}
	ihl := int(p[0]&0x0f) * 4
	if ihl < 20 || len(p) < ihl || int(binary.BigEndian.Uint16(p[2:])) != len(p) {
		return false
	}
	var sum uint32
	for i := 0; i < ihl; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return sum == 0xffff
}

// TestCaptureDecrypt decrypts the MPPE traffic of real sessions with keys
// derived from the credentials and checks that every packet is a valid IPv4
// packet from the right tunnel address (or an IPv6 one), and that Seal
// encrypts the plaintext back into exactly the bytes the real sender sent. For the pppd sessions it also
// checks that the decrypted packets are exactly those recorded on the
// client's ppp0 interface.
func TestCaptureDecrypt(t *testing.T) {
	for _, tc := range []struct {
		file, password string
		v1             bool
		keyBits        int
		client         netip.Addr // outer address of the PPTP client
		clientTunnel   netip.Addr // the client's address inside the tunnel
		ppp0           string     // the client's capture of ppp0, if any
	}{
		{"pppd-mschapv2-mppe128.pcap", "pptp-secret-42", false, 128,
			netip.MustParseAddr("10.99.0.3"), netip.MustParseAddr("192.168.77.10"), "pppd-mschapv2-mppe128.client-ppp0.pcap"},
		{"pppd-mschapv2-mppe40.pcap", "pptp-secret-42", false, 40,
			netip.MustParseAddr("10.99.0.3"), netip.MustParseAddr("192.168.77.10"), "pppd-mschapv2-mppe40.client-ppp0.pcap"},
		{"pppd-mschapv1-mppe128.pcap", "pptp-secret-42", true, 128,
			netip.MustParseAddr("10.99.0.3"), netip.MustParseAddr("192.168.77.10"), "pppd-mschapv1-mppe128.client-ppp0.pcap"},
		{"windows-client-rras-mschapv2-mppe128.pcap", "vpnuser123", false, 128,
			netip.MustParseAddr("192.168.43.39"), netip.Addr{}, ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			frames := captureFrames(t, tc.file)
			challenge, response, name := chapValues(t, frames)
			ph := mschap.NTPasswordHash(tc.password)
			hh := mschap.HashNTPasswordHash(ph)
			var clientSend, clientRecv [16]byte
			if tc.v1 {
				if len(challenge) != 8 {
					t.Fatalf("MS-CHAPv1 challenge of %d bytes", len(challenge))
				}
				clientSend = StartKeyV1(hh, [8]byte(challenge))
				clientRecv = clientSend
			} else {
				if len(challenge) != 16 || len(response) != 49 {
					t.Fatalf("MS-CHAPv2 challenge of %d bytes, response of %d", len(challenge), len(response))
				}
				nt := mschap.GenerateNTResponse([16]byte(challenge), [16]byte(response[:16]), name, ph)
				if nt != [24]byte(response[24:48]) {
					t.Fatal("wrong password for the capture")
				}
				clientSend, clientRecv = StartKeysV2(MasterKey(hh, nt), false)
			}
			o := Options{KeyBits: tc.keyBits, Stateless: true}
			fromClient, err := NewDecrypter(clientSend, o)
			if err != nil {
				t.Fatal(err)
			}
			fromServer, err := NewDecrypter(clientRecv, o)
			if err != nil {
				t.Fatal(err)
			}
			// Encrypters with the senders' keys re-encrypt what was decrypted:
			// Seal must reproduce the real senders' packets bit for bit.
			clientEnc, err := NewEncrypter(clientSend, o)
			if err != nil {
				t.Fatal(err)
			}
			serverEnc, err := NewEncrypter(clientRecv, o)
			if err != nil {
				t.Fatal(err)
			}

			var plain [][]byte       // decrypted IPv4 packets, in capture order
			counts := map[bool]int{} // packets decrypted, by direction (true: from the client)
			ipv4 := map[bool]int{}   // IPv4 packets among them
			for _, f := range frames {
				if f.proto != 0x00fd {
					continue
				}
				up := f.src == tc.client
				d, e := fromServer, serverEnc
				if up {
					d, e = fromClient, clientEnc
				}
				pkt := bytes.Clone(f.info)
				n, err := d.Open(pkt[HeaderLen:], pkt)
				if err != nil {
					t.Fatalf("packet %d from %v: %v", counts[up], f.src, err)
				}
				p := pkt[HeaderLen : HeaderLen+n]
				again := append([]byte{0, 0}, p...)
				if err := e.Seal(again); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again, f.info) {
					t.Fatalf("packet %d from %v: Seal gives % x..., the sender sent % x...",
						counts[up], f.src, again[:min(len(again), 16)], f.info[:min(len(f.info), 16)])
				}
				if len(p) >= 2 && p[0] == 0x00 && p[1] == 0x57 {
					// IPv6 (pppd negotiates IPV6CP): the first packets are
					// router solicitations.
					if !ipv6Valid(p[2:]) {
						t.Fatalf("packet %d from %v: invalid IPv6 header % x", counts[up], f.src, p[:min(len(p), 42)])
					}
					counts[up]++
					continue
				}
				// IPv4: mostly 45, but Windows sends IGMP with a Router
				// Alert option (46).
				if len(p) < 3 || p[0] != 0x00 || p[1] != 0x21 || p[2]>>4 != 4 {
					t.Fatalf("packet %d from %v decrypts to % x..., not 00 21 4x", counts[up], f.src, p[:min(len(p), 8)])
				}
				ip := p[2:]
				if !ipv4Valid(ip) {
					t.Fatalf("packet %d from %v: invalid IPv4 header % x", counts[up], f.src, ip[:min(len(ip), 20)])
				}
				if tc.clientTunnel.IsValid() {
					src := netip.AddrFrom4([4]byte(ip[12:16]))
					if (src == tc.clientTunnel) != up {
						t.Errorf("packet %d from %v has inner source %v", counts[up], f.src, src)
					}
				}
				plain = append(plain, ip)
				counts[up]++
				ipv4[up]++
			}
			if ipv4[true] == 0 || ipv4[false] == 0 {
				t.Fatalf("decrypted %d IPv4 packets from the client and %d from the server", ipv4[true], ipv4[false])
			}
			t.Logf("decrypted %d packets from the client (%d IPv4), %d from the server (%d IPv4)",
				counts[true], ipv4[true], counts[false], ipv4[false])

			if tc.ppp0 == "" {
				return
			}
			// Every packet the client saw on ppp0 is among the decrypted
			// ones, in the same order.
			dir, err := pcapfile.Dir()
			if err != nil {
				t.Fatal(err)
			}
			seen, err := pcapfile.Read(filepath.Join(dir, tc.ppp0))
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) == 0 {
				t.Fatal("empty ppp0 capture")
			}
			i := 0
			for _, s := range seen {
				for i < len(plain) && !sameIPv4(plain[i], s) {
					i++
				}
				if i == len(plain) {
					t.Fatalf("ppp0 packet %v->%v (%d bytes) not found among the decrypted ones", s.Src, s.Dst, len(s.Payload))
				}
				i++
			}
		})
	}
}

// ipv6Valid reports whether p looks like an IPv6 packet whose payload length
// matches len(p).
func ipv6Valid(p []byte) bool {
	return len(p) >= 40 && p[0]>>4 == 6 && int(binary.BigEndian.Uint16(p[4:]))+40 == len(p)
}

// sameIPv4 reports whether the IPv4 packet ip carries the packet p.
func sameIPv4(ip []byte, p pcapfile.Packet) bool {
	ihl := int(ip[0]&0x0f) * 4
	return netip.AddrFrom4([4]byte(ip[12:16])) == p.Src &&
		netip.AddrFrom4([4]byte(ip[16:20])) == p.Dst &&
		ip[9] == p.Proto && bytes.Equal(ip[ihl:], p.Payload)
}
