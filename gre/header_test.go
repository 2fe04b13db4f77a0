package gre

import (
	"bytes"
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopptp/gopptp/internal/pcapfile"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The golden headers are laid out by hand from RFC 2637 section 4.1: first
// word C R K S s Recur A Flags Ver, Protocol Type; then Payload Length,
// Call ID; then the optional Sequence and Acknowledgment Numbers.
var goldenHeaders = []struct {
	name string
	h    Header
	wire string
}{
	{"ack only", Header{CallID: 0x736a, HasAck: true, Ack: 0x01020304},
		"2081 880b 0000 736a 01020304"},
	{"data", Header{CallID: 0xd5c0, PayloadLen: 3, HasSeq: true, Seq: 0xfffffffe},
		"3001 880b 0003 d5c0 fffffffe"},
	{"data and ack", Header{CallID: 0x0001, PayloadLen: 0x05dc, HasSeq: true, Seq: 7, HasAck: true, Ack: 0x80000000},
		"3081 880b 05dc 0001 00000007 80000000"},
	{"bare", Header{CallID: 0xffff}, "2001 880b 0000 ffff"},
}

func TestHeaderGolden(t *testing.T) {
	for _, tc := range goldenHeaders {
		t.Run(tc.name, func(t *testing.T) {
			want := unhex(t, tc.wire)
			if tc.h.Len() != len(want) {
				t.Errorf("Len = %d, want %d", tc.h.Len(), len(want))
			}
			buf := bytes.Repeat([]byte{0xee}, MaxHeaderLen+4)
			if n := tc.h.Put(buf); n != len(want) {
				t.Fatalf("Put = %d, want %d", n, len(want))
			}
			if !bytes.Equal(buf[:len(want)], want) {
				t.Errorf("Put wrote %x, want %x", buf[:len(want)], want)
			}
			if buf[len(want)] != 0xee {
				t.Error("Put wrote past the header")
			}
			if got := tc.h.Append([]byte{9}); !bytes.Equal(got, append([]byte{9}, want...)) {
				t.Errorf("Append = %x", got)
			}
		})
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	for _, tc := range goldenHeaders {
		if !tc.h.HasSeq && !tc.h.HasAck {
			continue // a bare header is not a valid packet
		}
		t.Run(tc.name, func(t *testing.T) {
			payload := bytes.Repeat([]byte{0xab}, int(tc.h.PayloadLen))
			pkt := append(tc.h.Append(nil), payload...)
			pkt = append(pkt, 0, 0, 0) // trailing bytes are not payload
			h, p, err := Parse(pkt)
			if err != nil {
				t.Fatal(err)
			}
			if h != tc.h {
				t.Errorf("Parse = %+v, want %+v", h, tc.h)
			}
			if !bytes.Equal(p, payload) {
				t.Errorf("payload %x, want %x", p, payload)
			}
		})
	}
}

func TestPutShortBuffer(t *testing.T) {
	h := Header{HasSeq: true, HasAck: true}
	buf := make([]byte, 15)
	if n := h.Put(buf); n != 0 {
		t.Errorf("Put into 15 bytes = %d, want 0", n)
	}
	if !bytes.Equal(buf, make([]byte, 15)) {
		t.Error("Put wrote into a buffer too short")
	}
	if n := (Header{}).Put(nil); n != 0 {
		t.Errorf("Put(nil) = %d", n)
	}
}

func TestParseErrors(t *testing.T) {
	valid := "3081 880b 0002 0001 00000001 00000000 aabb"
	for _, tc := range []struct {
		name string
		wire string
		want error
	}{
		{"empty", "", ErrTruncated},
		{"7 bytes", "3081 880b 0002 00", ErrTruncated},
		{"seq missing", "3001 880b 0000 0001", ErrTruncated},
		{"ack cut", "3081 880b 0000 0001 00000001 0000", ErrTruncated},
		{"version 0", "3080 880b 0002 0001 00000001 00000000 aabb", ErrVersion},
		{"version 2", "3082 880b 0002 0001 00000001 00000000 aabb", ErrVersion},
		{"protocol IPv4", "3081 0800 0002 0001 00000001 00000000 aabb", ErrProtocol},
		{"no key", "1081 880b 0002 0001 00000001 00000000 aabb", ErrNoKey},
		{"checksum", "b081 880b 0002 0001 00000001 00000000 aabb", ErrReservedBits},
		{"routing", "7081 880b 0002 0001 00000001 00000000 aabb", ErrReservedBits},
		{"strict route", "3881 880b 0002 0001 00000001 00000000 aabb", ErrReservedBits},
		{"recursion", "3181 880b 0002 0001 00000001 00000000 aabb", ErrReservedBits},
		{"flags", "3089 880b 0002 0001 00000001 00000000 aabb", ErrReservedBits},
		{"flags high", "30c1 880b 0002 0001 00000001 00000000 aabb", ErrReservedBits},
		{"payload too long", "3081 880b 0003 0001 00000001 00000000 aabb", ErrPayloadLength},
		{"payload max", "3001 880b ffff 0001 00000001", ErrPayloadLength},
		{"ack with payload", "2081 880b 0002 0001 00000000 aabb", ErrNoSeq},
		{"nothing", "2001 880b 0000 0001", ErrEmpty},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, p, err := Parse(unhex(t, tc.wire))
			if err != tc.want {
				t.Fatalf("Parse = %+v, %x, %v; want %v", h, p, err, tc.want)
			}
			if h != (Header{}) || p != nil {
				t.Errorf("returned %+v, %x with an error", h, p)
			}
		})
	}
	if _, _, err := Parse(unhex(t, valid)); err != nil {
		t.Fatalf("the valid base packet fails: %v", err)
	}
}

// A data packet with a zero-length payload is odd but harmless: it still
// takes a sequence number.
func TestParseEmptyDataPacket(t *testing.T) {
	h, p, err := Parse(unhex(t, "3001 880b 0000 0001 00000009"))
	if err != nil || !h.HasSeq || h.Seq != 9 || len(p) != 0 {
		t.Fatalf("Parse = %+v, %x, %v", h, p, err)
	}
}

func captureGRE(tb testing.TB) map[string][]pcapfile.Packet {
	tb.Helper()
	paths, err := pcapfile.All()
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]pcapfile.Packet{}
	for _, path := range paths {
		pkts, err := pcapfile.Read(path)
		if err != nil {
			tb.Fatalf("%s: %v", filepath.Base(path), err)
		}
		if g := pcapfile.GRE(pkts); len(g) > 0 {
			out[filepath.Base(path)] = g
		}
	}
	if len(out) == 0 {
		tb.Fatal("no GRE packets in testdata/captures")
	}
	return out
}

func TestCaptureHeaders(t *testing.T) {
	total := 0
	var seen [3]int // by header length 8, 12, 16
	for name, pkts := range captureGRE(t) {
		for _, pkt := range pkts {
			b := pkt.Payload
			h, p, err := Parse(b)
			if err != nil {
				t.Errorf("%s frame %d: %v (%x)", name, pkt.Index, err, b[:min(len(b), 16)])
				continue
			}
			n := h.Len()
			var buf [MaxHeaderLen]byte
			if h.Put(buf[:]) != n || !bytes.Equal(buf[:n], b[:n]) {
				t.Errorf("%s frame %d: header re-encodes as %x, captured %x", name, pkt.Index, buf[:n], b[:n])
			}
			if len(p) != int(h.PayloadLen) || n+len(p) != len(b) {
				t.Errorf("%s frame %d: payload %d bytes, header says %d, packet %d", name, pkt.Index, len(p), h.PayloadLen, len(b))
			}
			seen[(n-MinHeaderLen)/4]++
			total++
		}
	}
	if total < 1000 {
		t.Errorf("parsed only %d GRE packets", total)
	}
	// The captures hold ack-only (12 bytes), data (12) and data+ack (16)
	// packets; an 8-byte header is never valid.
	if seen[0] != 0 || seen[1] == 0 || seen[2] == 0 {
		t.Errorf("header lengths seen: %v", seen)
	}
}

func TestParseAllocations(t *testing.T) {
	pkt := append(unhex(t, "3081 880b 0004 0001 00000001 00000000"), 0xff, 0x03, 0xc0, 0x21)
	bad := unhex(t, "3080 880b 0000 0001")
	var buf [MaxHeaderLen]byte
	h := Header{CallID: 1, PayloadLen: 4, HasSeq: true, Seq: 1, HasAck: true}
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := Parse(pkt); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Parse(bad); err == nil {
			t.Fatal("bad packet accepted")
		}
		h.Put(buf[:])
	})
	if allocs != 0 {
		t.Errorf("%v allocations, want 0", allocs)
	}
}

func BenchmarkParse(b *testing.B) {
	pkt := append(unhex(b, "3081 880b 05d4 0001 00000001 00000000"), make([]byte, 1492)...)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Parse(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPut(b *testing.B) {
	var buf [MaxHeaderLen]byte
	h := Header{CallID: 1, PayloadLen: 1492, HasSeq: true, HasAck: true}
	b.ReportAllocs()
	for b.Loop() {
		h.Seq++
		h.Put(buf[:])
	}
}

func FuzzParse(f *testing.F) {
	for _, pkts := range captureGRE(f) {
		for i, pkt := range pkts {
			if i%10 == 0 {
				f.Add(pkt.Payload)
			}
		}
	}
	for _, tc := range goldenHeaders {
		f.Add(unhex(f, tc.wire))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, p, err := Parse(b)
		if err != nil {
			if h != (Header{}) || p != nil {
				t.Fatalf("%+v, %x returned with %v", h, p, err)
			}
			return
		}
		n := h.Len()
		var buf [MaxHeaderLen]byte
		if h.Put(buf[:]) != n || !bytes.Equal(buf[:n], b[:n]) {
			t.Fatalf("header %x re-encodes as %x", b[:n], buf[:n])
		}
		if len(p) != int(h.PayloadLen) || !bytes.Equal(p, b[n:n+len(p)]) {
			t.Fatalf("payload %x is not the %d bytes after the header", p, h.PayloadLen)
		}
		if (h.PayloadLen > 0 && !h.HasSeq) || (!h.HasSeq && !h.HasAck) {
			t.Fatalf("accepted %+v", h)
		}
	})
}
