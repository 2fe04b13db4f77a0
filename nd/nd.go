// Package nd builds and parses the IPv6 Neighbor Discovery router messages
// a PPP link needs (RFC 4861 sections 4.1 and 4.2): Router Solicitations
// and Router Advertisements with the Prefix Information and MTU options,
// and the Recursive DNS Server option of RFC 8106.
//
// A PPP link has no link-layer addresses and, with IPV6CP, no duplicate
// address detection worth the name, so the rest of Neighbor Discovery has
// nothing to do on it. The functions here work on whole IPv6 packets (the
// fixed 40-byte header and the ICMPv6 message), are pure, and never panic
// on bad input.
package nd

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// ICMPv6 message types of the router messages.
const (
	TypeRouterSolicitation  = 133
	TypeRouterAdvertisement = 134
)

// Option types.
const (
	optPrefixInfo = 3
	optMTU        = 5
	optRDNSS      = 25
)

const (
	ipv6HeaderLen = 40
	protoICMPv6   = 58
	// hopLimit is what every ND message carries, and what a receiver
	// checks to know that the message was not forwarded by a router.
	hopLimit = 255
	raLen    = 16 // the fixed part of a Router Advertisement
	rsLen    = 8
)

// Infinite is the lifetime that never ends (RFC 4861 4.6.2).
const Infinite = 0xffffffff

// AllNodes and AllRouters are the link-scope multicast groups router
// messages go to.
var (
	AllNodes   = netip.MustParseAddr("ff02::1")
	AllRouters = netip.MustParseAddr("ff02::2")
)

// PrefixInfo is a Prefix Information option.
type PrefixInfo struct {
	Prefix netip.Prefix
	// OnLink (L) says addresses in the prefix are reached on the link;
	// Autonomous (A) that hosts may form addresses in it (SLAAC).
	OnLink, Autonomous bool
	// ValidLifetime and PreferredLifetime are seconds (Infinite: no end).
	ValidLifetime, PreferredLifetime uint32
}

// RouterAdvertisement is the content of a Router Advertisement.
type RouterAdvertisement struct {
	CurHopLimit uint8
	// Managed and Other are the M and O flags (DHCPv6).
	Managed, Other bool
	// RouterLifetime is how long, in seconds, the sender may serve as a
	// default router; 0: not a default router.
	RouterLifetime uint16
	ReachableTime  uint32 // milliseconds, 0: unspecified
	RetransTimer   uint32 // milliseconds, 0: unspecified
	Prefixes       []PrefixInfo
	// MTU is the link MTU option (0: none).
	MTU uint32
	// RDNSS are recursive DNS servers (RFC 8106), valid for
	// RDNSSLifetime seconds.
	RDNSS         []netip.Addr
	RDNSSLifetime uint32
}

// Errors of Parse.
var (
	ErrNotRouterMessage = errors.New("nd: not an ICMPv6 router message")
	ErrInvalid          = errors.New("nd: invalid router message")
)

// IsRouterMessage reports, from the fixed headers alone, whether the IPv6
// packet ip looks like a Router Solicitation or Advertisement: cheap enough
// for a data path to divert such packets, which Parse then checks fully.
// Packets with extension headers before ICMPv6 are not router messages
// here; RFC 4861 messages carry none.
func IsRouterMessage(ip []byte) bool {
	return len(ip) >= ipv6HeaderLen+rsLen && ip[0]>>4 == 6 && ip[6] == protoICMPv6 &&
		(ip[ipv6HeaderLen] == TypeRouterSolicitation || ip[ipv6HeaderLen] == TypeRouterAdvertisement)
}

// AppendRouterSolicitation appends an IPv6 packet carrying a Router
// Solicitation from src (usually our link-local address) to dst (usually
// AllRouters) to b. It has no options: the link has no link-layer address.
func AppendRouterSolicitation(b []byte, src, dst netip.Addr) []byte {
	start := len(b)
	b = appendHeader(b, src, dst)
	b = append(b, TypeRouterSolicitation, 0, 0, 0, 0, 0, 0, 0)
	return finish(b, start)
}

// AppendRouterAdvertisement appends an IPv6 packet carrying ra from src
// (the router's link-local address) to dst to b.
func AppendRouterAdvertisement(b []byte, src, dst netip.Addr, ra *RouterAdvertisement) []byte {
	start := len(b)
	b = appendHeader(b, src, dst)
	var flags byte
	if ra.Managed {
		flags |= 0x80
	}
	if ra.Other {
		flags |= 0x40
	}
	b = append(b, TypeRouterAdvertisement, 0, 0, 0, ra.CurHopLimit, flags)
	b = binary.BigEndian.AppendUint16(b, ra.RouterLifetime)
	b = binary.BigEndian.AppendUint32(b, ra.ReachableTime)
	b = binary.BigEndian.AppendUint32(b, ra.RetransTimer)
	if ra.MTU != 0 {
		b = append(b, optMTU, 1, 0, 0)
		b = binary.BigEndian.AppendUint32(b, ra.MTU)
	}
	for _, p := range ra.Prefixes {
		if !p.Prefix.IsValid() {
			continue
		}
		var f byte
		if p.OnLink {
			f |= 0x80
		}
		if p.Autonomous {
			f |= 0x40
		}
		b = append(b, optPrefixInfo, 4, byte(p.Prefix.Bits()), f)
		b = binary.BigEndian.AppendUint32(b, p.ValidLifetime)
		b = binary.BigEndian.AppendUint32(b, p.PreferredLifetime)
		b = append(b, 0, 0, 0, 0)
		a := p.Prefix.Masked().Addr().As16()
		b = append(b, a[:]...)
	}
	// An option's length is one octet of 8-octet units: 127 addresses
	// at most per option.
	for servers := ra.RDNSS; len(servers) > 0; {
		n := min(len(servers), 127)
		b = append(b, optRDNSS, byte(1+2*n), 0, 0)
		b = binary.BigEndian.AppendUint32(b, ra.RDNSSLifetime)
		for _, a := range servers[:n] {
			a16 := a.As16()
			b = append(b, a16[:]...)
		}
		servers = servers[n:]
	}
	return finish(b, start)
}

func appendHeader(b []byte, src, dst netip.Addr) []byte {
	b = append(b, 0x60, 0, 0, 0, 0, 0, protoICMPv6, hopLimit)
	s, d := src.As16(), dst.As16()
	b = append(b, s[:]...)
	return append(b, d[:]...)
}

// finish writes the payload length and the ICMPv6 checksum of the packet
// that starts at b[start].
func finish(b []byte, start int) []byte {
	pkt := b[start:]
	binary.BigEndian.PutUint16(pkt[4:], uint16(len(pkt)-ipv6HeaderLen))
	binary.BigEndian.PutUint16(pkt[ipv6HeaderLen+2:], checksum(pkt))
	return b
}

// checksum is the ICMPv6 checksum of the packet (RFC 4443 2.3) with the
// checksum field taken as is: 0 over a packet whose checksum is right
// when the field is filled in, the value to write when it is zero.
func checksum(pkt []byte) uint16 {
	msg := pkt[ipv6HeaderLen:]
	var sum uint32
	add := func(p []byte) {
		for len(p) >= 2 {
			sum += uint32(p[0])<<8 | uint32(p[1])
			p = p[2:]
		}
		if len(p) == 1 {
			sum += uint32(p[0]) << 8
		}
	}
	add(pkt[8:40]) // source and destination
	sum += uint32(len(msg)>>16) + uint32(len(msg)&0xffff) + protoICMPv6
	add(msg)
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// Message is a parsed router message.
type Message struct {
	Type     uint8 // TypeRouterSolicitation or TypeRouterAdvertisement
	Src, Dst netip.Addr
	// RA is the advertisement's content (Type TypeRouterAdvertisement).
	RA RouterAdvertisement
}

// Parse checks an IPv6 packet carrying a Router Solicitation or
// Advertisement as RFC 4861 sections 6.1.1 and 6.1.2 ask (hop limit 255,
// checksum, code 0, lengths, a link-local source for advertisements) and
// returns its content. Unknown options are skipped; a prefix option with
// a prefix length over 128 is ignored, as is an RDNSS option too short to
// hold an address.
func Parse(ip []byte) (Message, error) {
	if !IsRouterMessage(ip) {
		return Message{}, ErrNotRouterMessage
	}
	plen := int(binary.BigEndian.Uint16(ip[4:]))
	if plen < rsLen || ipv6HeaderLen+plen > len(ip) {
		return Message{}, ErrInvalid
	}
	ip = ip[:ipv6HeaderLen+plen]
	msg := ip[ipv6HeaderLen:]
	m := Message{Type: msg[0], Src: netip.AddrFrom16([16]byte(ip[8:24])), Dst: netip.AddrFrom16([16]byte(ip[24:40]))}
	if ip[7] != hopLimit || msg[1] != 0 || checksum(ip) != 0 {
		return Message{}, ErrInvalid
	}
	fixed := rsLen
	if m.Type == TypeRouterAdvertisement {
		fixed = raLen
		if !m.Src.IsLinkLocalUnicast() {
			return Message{}, ErrInvalid
		}
	}
	if len(msg) < fixed {
		return Message{}, ErrInvalid
	}
	opts := msg[fixed:]
	// Every option must have a non-zero length that fits, whatever its
	// type (6.1.1, 6.1.2).
	for o := opts; len(o) > 0; {
		if len(o) < 2 || o[1] == 0 || int(o[1])*8 > len(o) {
			return Message{}, ErrInvalid
		}
		o = o[int(o[1])*8:]
	}
	if m.Type == TypeRouterSolicitation {
		return m, nil
	}
	ra := &m.RA
	ra.CurHopLimit = msg[4]
	ra.Managed, ra.Other = msg[5]&0x80 != 0, msg[5]&0x40 != 0
	ra.RouterLifetime = binary.BigEndian.Uint16(msg[6:])
	ra.ReachableTime = binary.BigEndian.Uint32(msg[8:])
	ra.RetransTimer = binary.BigEndian.Uint32(msg[12:])
	for len(opts) > 0 {
		n := int(opts[1]) * 8
		o := opts[:n]
		opts = opts[n:]
		switch o[0] {
		case optPrefixInfo:
			if n != 32 || o[2] > 128 {
				continue
			}
			p := netip.PrefixFrom(netip.AddrFrom16([16]byte(o[16:32])), int(o[2])).Masked()
			ra.Prefixes = append(ra.Prefixes, PrefixInfo{Prefix: p, OnLink: o[3]&0x80 != 0, Autonomous: o[3]&0x40 != 0,
				ValidLifetime: binary.BigEndian.Uint32(o[4:]), PreferredLifetime: binary.BigEndian.Uint32(o[8:])})
		case optMTU:
			if n == 8 {
				ra.MTU = binary.BigEndian.Uint32(o[4:])
			}
		case optRDNSS:
			if n < 24 {
				continue // RFC 8106 5.1: at least one address
			}
			ra.RDNSSLifetime = binary.BigEndian.Uint32(o[4:])
			for a := o[8:]; len(a) >= 16; a = a[16:] {
				ra.RDNSS = append(ra.RDNSS, netip.AddrFrom16([16]byte(a[:16])))
			}
		}
	}
	return m, nil
}
