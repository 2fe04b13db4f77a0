package datapath

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/gopptp/gopptp/ppp/ccp"
)

// tcpSYN builds an IPv4 TCP SYN from tunA to tunB with the given MSS
// option after nops NOP options (one NOP puts the value at an odd offset,
// across two checksum words) and a correct checksum.
func tcpSYN(mss uint16, flags byte) []byte { return tcpSYNAt(mss, flags, 1) }

func tcpSYNAt(mss uint16, flags byte, nops int) []byte {
	ip := make([]byte, 20+28)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	ip[8], ip[9] = 64, 6
	copy(ip[12:16], tunA.AsSlice())
	copy(ip[16:20], tunB.AsSlice())
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 80)
	tcp[12] = 7 << 4 // 28-byte header
	tcp[13] = flags
	binary.BigEndian.PutUint16(tcp[14:], 64240)
	opts := append(make([]byte, 0, 8), []byte{1, 1}[:nops]...)
	opts = append(opts, 2, 4, byte(mss>>8), byte(mss))
	for len(opts) < 8 {
		opts = append(opts, 1)
	}
	copy(tcp[20:], opts)
	binary.BigEndian.PutUint16(tcp[16:], tcpChecksum(ip))
	return ip
}

// tcpChecksum computes the TCP checksum of ip from scratch (with the
// checksum field taken as zero), independently of clampMSS's update.
func tcpChecksum(ip []byte) uint16 {
	tcp := ip[20:]
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(ip[12:20])
	sum += 6 + uint32(len(tcp))
	c := append([]byte(nil), tcp...)
	c[16], c[17] = 0, 0
	add(c)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

func TestClampMSS(t *testing.T) {
	for _, tc := range []struct {
		mss, clamp, want uint16
		flags            byte
		changed          bool
	}{
		{1460, 1360, 1360, 0x02, true},       // SYN
		{1460, 1360, 1360, 0x12, true},       // SYN-ACK
		{1200, 1360, 1200, 0x02, false},      // already small enough
		{1460, 1360, 1460, 0x10, false},      // not a SYN
		{0xffff, 1360, 1360, 0x02, true},     // checksum carry
		{0x0101, 0x0100, 0x0100, 0x02, true}, // low bytes
	} {
		ip := tcpSYN(tc.mss, tc.flags)
		changed := clampMSS(ip, tc.clamp)
		got := binary.BigEndian.Uint16(ip[20+23:])
		even := tcpSYNAt(tc.mss, tc.flags, 0) // the usual layout: MSS first
		clampMSS(even, tc.clamp)
		if sum := binary.BigEndian.Uint16(even[36:]); sum != tcpChecksum(even) || binary.BigEndian.Uint16(even[42:]) != tc.want {
			t.Errorf("mss %d at an even offset: checksum %#04x want %#04x", tc.mss, sum, tcpChecksum(even))
		}
		if changed != tc.changed || got != tc.want {
			t.Errorf("mss %d clamp %d flags %#x: changed %v mss %d, want %v %d", tc.mss, tc.clamp, tc.flags, changed, got, tc.changed, tc.want)
		}
		if sum := binary.BigEndian.Uint16(ip[36:]); sum != tcpChecksum(ip) {
			t.Errorf("mss %d: checksum %#04x after the update, want %#04x", tc.mss, sum, tcpChecksum(ip))
		}
	}
	// Malformed option lists and short packets are left alone.
	for _, bad := range [][]byte{nil, make([]byte, 30), func() []byte { b := tcpSYN(1460, 2); b[20+22] = 9; return b }()} {
		clampMSS(bad, 536)
	}
}

// tcpSYN6 builds an IPv6 TCP SYN with the given MSS and a correct
// checksum.
func tcpSYN6(mss uint16) []byte {
	ip := make([]byte, 40+24)
	ip[0], ip[6], ip[7] = 0x60, 6, 64
	binary.BigEndian.PutUint16(ip[4:], 24)
	copy(ip[8:24], cli6.AsSlice())
	copy(ip[24:40], lan6.AsSlice())
	tcp := ip[40:]
	tcp[12], tcp[13] = 6<<4, 0x02
	copy(tcp[20:], []byte{2, 4, byte(mss >> 8), byte(mss)})
	binary.BigEndian.PutUint16(tcp[16:], ^tcpSum(ip))
	return ip
}

// TestClampMSS6: the clamp, an IPv4 figure, is 20 bytes lower for IPv6.
func TestClampMSS6(t *testing.T) {
	ip := tcpSYN6(1440)
	if !clampMSS(ip, 1416) {
		t.Fatal("not clamped")
	}
	if got := binary.BigEndian.Uint16(ip[62:]); got != 1396 {
		t.Errorf("MSS %d, want 1396", got)
	}
	if s := tcpSum(ip); s != 0xffff {
		t.Errorf("checksum wrong after clamping: sum %#04x", s)
	}
	if clampMSS(tcpSYN6(1300), 1416) {
		t.Error("a small MSS was changed")
	}
}

func TestMSSClampedBothWays(t *testing.T) {
	p := newPair(t, ccp.Direction{On: true, KeyBits: 128, Stateless: true})
	p.ca.SetMSSClamp(1360)
	p.cb.SetMSSClamp(1300)
	p.receive(time.Now(), p.encap(t, tcpSYN(1460, 0x02)))
	if len(p.got) != 1 {
		t.Fatal("SYN not delivered")
	}
	// Clamped by the sender to 1360, then by the receiver to 1300.
	if mss := binary.BigEndian.Uint16(p.got[0][20+23:]); mss != 1300 {
		t.Errorf("delivered MSS %d, want 1300", mss)
	}
	if sum := binary.BigEndian.Uint16(p.got[0][36:]); sum != tcpChecksum(p.got[0]) {
		t.Error("delivered SYN has a bad checksum")
	}
}
