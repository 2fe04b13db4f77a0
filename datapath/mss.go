package datapath

import (
	"encoding/binary"
	"math/bits"
)

// clampMSS lowers the Maximum Segment Size option of a TCP SYN in the IP
// packet ip to mss, fixing the TCP checksum incrementally (RFC 1624). It
// returns whether it changed the packet.
//
// A tunnel's MTU is below the Ethernet MTU both ends assume, and path MTU
// discovery often fails behind firewalls that drop ICMP: connections then
// hang once full-size segments flow. Clamping the MSS of the handshake in
// both directions, as routers do for PPPoE, keeps segments small enough.
//
// For IPv6 (TCP straight after the fixed header; a SYN with extension
// headers is left alone) mss is lowered by the 20 bytes the IPv6 header
// has over IPv4's, since mss is the IPv4 figure.
func clampMSS(ip []byte, mss uint16) bool {
	var tcp []byte
	switch {
	case len(ip) >= 60 && ip[0]>>4 == 6 && ip[6] == 6:
		if mss <= 20 {
			return false
		}
		mss -= 20
		tcp = ip[40:]
	case len(ip) >= 20 && ip[0]>>4 == 4 && ip[9] == 6:
		ihl := int(ip[0]&0x0f) * 4
		// Only first fragments carry the TCP header.
		if binary.BigEndian.Uint16(ip[6:])&0x1fff != 0 || ihl < 20 || len(ip) < ihl+20 {
			return false
		}
		tcp = ip[ihl:]
	default:
		return false
	}
	if tcp[13]&0x02 == 0 { // not a SYN
		return false
	}
	doff := int(tcp[12]>>4) * 4
	if doff < 20 || doff > len(tcp) {
		return false
	}
	opts := tcp[20:doff]
	for i := 0; i < len(opts); {
		switch opts[i] {
		case 0: // end of options
			return false
		case 1: // no-op
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 || i+int(opts[i+1]) > len(opts) {
			return false
		}
		if opts[i] == 2 && opts[i+1] == 4 {
			old := binary.BigEndian.Uint16(opts[i+2:])
			if old <= mss {
				return false
			}
			binary.BigEndian.PutUint16(opts[i+2:], mss)
			// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). The checksum adds
			// 16-bit words from the start of the header; a value at an
			// odd offset straddles two of them, and its contribution is
			// its byte swap (one's-complement sums commute with swapping).
			m, m2 := old, mss
			if (20+i+2)%2 == 1 {
				m, m2 = bits.ReverseBytes16(m), bits.ReverseBytes16(m2)
			}
			sum := uint32(^binary.BigEndian.Uint16(tcp[16:])) + uint32(^m) + uint32(m2)
			sum = (sum >> 16) + (sum & 0xffff)
			sum += sum >> 16
			binary.BigEndian.PutUint16(tcp[16:], ^uint16(sum))
			return true
		}
		i += int(opts[i+1])
	}
	return false
}
