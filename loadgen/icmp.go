package loadgen

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Echo requests are built and checked here rather than by the kernel: the
// generator has no interface per session, so each session makes its own
// IPv4 + ICMP packets and checks every reply field by field.

const (
	ipv4HeaderLen = 20
	icmpHeaderLen = 8
	// pingPayloadLen is ping(8)'s default payload size.
	pingPayloadLen = 56
	// PingLen is the size of one echo request, IPv4 header included.
	PingLen = ipv4HeaderLen + icmpHeaderLen + pingPayloadLen

	icmpEchoReply   = 0
	icmpEchoRequest = 8
	protoICMP       = 1
)

// checksum is the Internet checksum (RFC 1071) of b.
func checksum(b []byte) uint16 {
	var sum uint32
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// pingPayload fills p with bytes derived from id and seq, so that a reply
// carrying another session's or another request's data is caught.
func pingPayload(p []byte, id, seq uint16) {
	x := uint32(id)<<16 | uint32(seq)
	for i := range p {
		// xorshift: cheap, and every byte depends on id and seq.
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		p[i] = byte(x)
	}
}

// BuildEcho writes an ICMP echo request from src to dst with identifier
// id and sequence number seq into b, which must hold PingLen bytes, and
// returns the packet.
func BuildEcho(b []byte, src, dst netip.Addr, id, seq uint16) []byte {
	p := b[:PingLen]
	clear(p[:ipv4HeaderLen+icmpHeaderLen])
	p[0] = 0x45 // version 4, 20-byte header
	binary.BigEndian.PutUint16(p[2:], PingLen)
	binary.BigEndian.PutUint16(p[4:], seq) // identification
	p[8] = 64                              // TTL
	p[9] = protoICMP
	s, d := src.As4(), dst.As4()
	copy(p[12:16], s[:])
	copy(p[16:20], d[:])
	binary.BigEndian.PutUint16(p[10:], checksum(p[:ipv4HeaderLen]))
	icmp := p[ipv4HeaderLen:]
	icmp[0] = icmpEchoRequest
	binary.BigEndian.PutUint16(icmp[4:], id)
	binary.BigEndian.PutUint16(icmp[6:], seq)
	pingPayload(icmp[icmpHeaderLen:], id, seq)
	binary.BigEndian.PutUint16(icmp[2:], checksum(icmp))
	return p
}

// Reasons CheckEchoReply refuses a packet.
var (
	ErrNotIPv4        = errors.New("not an IPv4 packet")
	ErrIPChecksum     = errors.New("bad IPv4 header checksum")
	ErrIPLength       = errors.New("bad IPv4 length")
	ErrFragment       = errors.New("IPv4 fragment")
	ErrNotICMP        = errors.New("not ICMP")
	ErrAddresses      = errors.New("unexpected addresses")
	ErrICMPChecksum   = errors.New("bad ICMP checksum")
	ErrNotEchoReply   = errors.New("not an ICMP echo reply")
	ErrWrongID        = errors.New("echo reply for another identifier")
	ErrPayloadChanged = errors.New("echo reply payload differs from the request")
)

// CheckEchoReply checks that pkt is a well-formed echo reply from peer to
// local for identifier id: IPv4 header and its checksum, lengths, no
// fragment, ICMP checksum, type and code, identifier, and the payload our
// request carried. It returns the sequence number.
func CheckEchoReply(pkt []byte, local, peer netip.Addr, id uint16) (uint16, error) {
	if len(pkt) < ipv4HeaderLen || pkt[0]>>4 != 4 {
		return 0, ErrNotIPv4
	}
	ihl := int(pkt[0]&0x0f) * 4
	if ihl < ipv4HeaderLen || len(pkt) < ihl {
		return 0, ErrIPLength
	}
	if checksum(pkt[:ihl]) != 0 {
		return 0, ErrIPChecksum
	}
	total := int(binary.BigEndian.Uint16(pkt[2:]))
	if total < ihl+icmpHeaderLen || total > len(pkt) {
		return 0, ErrIPLength
	}
	if binary.BigEndian.Uint16(pkt[6:])&0x3fff != 0 { // MF or an offset
		return 0, ErrFragment
	}
	if pkt[9] != protoICMP {
		return 0, ErrNotICMP
	}
	if netip.AddrFrom4([4]byte(pkt[12:16])) != peer || netip.AddrFrom4([4]byte(pkt[16:20])) != local {
		return 0, ErrAddresses
	}
	icmp := pkt[ihl:total]
	if checksum(icmp) != 0 {
		return 0, ErrICMPChecksum
	}
	if icmp[0] != icmpEchoReply || icmp[1] != 0 {
		return 0, ErrNotEchoReply
	}
	if binary.BigEndian.Uint16(icmp[4:]) != id {
		return 0, ErrWrongID
	}
	seq := binary.BigEndian.Uint16(icmp[6:])
	payload := icmp[icmpHeaderLen:]
	if len(payload) != pingPayloadLen {
		return seq, ErrPayloadChanged
	}
	var want [pingPayloadLen]byte
	pingPayload(want[:], id, seq)
	if [pingPayloadLen]byte(payload) != want {
		return seq, ErrPayloadChanged
	}
	return seq, nil
}
