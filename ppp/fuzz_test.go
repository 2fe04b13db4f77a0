package ppp

import (
	"bytes"
	"testing"
)

// FuzzParseFrame checks the frame codec on any input: a frame that parses
// has a well-formed protocol number, its information field is the tail of
// the input, and its header re-encodes, in the compression it was sent
// with, to the same bytes (LCP aside, which always gets FF 03 back).
// Seeds: testdata/fuzz/FuzzParseFrame, from captures and our own sessions
// (go run ./internal/fuzzseed).
func FuzzParseFrame(f *testing.F) {
	f.Add([]byte{0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 4})
	f.Add([]byte{0x21, 0x45, 0})
	f.Add([]byte{0xfd, 0x90, 0x00, 1, 2})
	f.Add([]byte{0xff, 0x03, 0x00, 0xfd, 0x90})
	f.Add([]byte{0xff, 0x05})
	f.Add([]byte{0x80, 0x21, 1, 1, 0, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, info, err := ParseFrame(b)
		if err != nil {
			if p != 0 || info != nil {
				t.Fatalf("%v, %x returned with %v", p, info, err)
			}
			return
		}
		if !p.Valid() {
			t.Fatalf("protocol %v is not a valid protocol number", p)
		}
		hdr := len(b) - len(info)
		if hdr < 1 || hdr > 4 || !bytes.Equal(b[hdr:], info) {
			t.Fatalf("info %x is not the tail of %x", info, b)
		}
		if len(info) > 0 && &info[0] != &b[hdr] {
			t.Fatal("info is a copy, not the input's own bytes")
		}
		acfc := !(b[0] == 0xff && hdr >= 3)
		pfc := hdr == 1 || hdr == 3
		if pfc && p >= 0x100 {
			t.Fatalf("one-octet protocol field gave %v", p)
		}
		n := HeaderLen(p, acfc, pfc)
		buf := make([]byte, n+2)
		if got := PutHeader(buf[:n], p, acfc, pfc); got != n {
			t.Fatalf("PutHeader wrote %d bytes, HeaderLen says %d", got, n)
		}
		if p == ProtoLCP && acfc {
			// LCP is always sent with the address and control field.
			if !bytes.Equal(buf[:2], []byte{0xff, 0x03}) || !bytes.Equal(buf[2:n], b[:hdr]) {
				t.Fatalf("LCP header %x re-encodes as %x", b[:hdr], buf[:n])
			}
		} else if !bytes.Equal(buf[:n], b[:hdr]) {
			t.Fatalf("header %x (acfc %v pfc %v) re-encodes as %x", b[:hdr], acfc, pfc, buf[:n])
		}
		// The uncompressed form parses back to the same frame.
		p2, info2, err := ParseFrame(AppendFrame(nil, p, info))
		if err != nil || p2 != p || !bytes.Equal(info2, info) {
			t.Fatalf("AppendFrame(%v, %x) parses as %v, %x, %v", p, info, p2, info2, err)
		}
		if p.String() == "" || p.IsNetwork() != (p < 0x4000) {
			t.Fatalf("protocol %d: String %q IsNetwork %v", p, p, p.IsNetwork())
		}
	})
}

// FuzzParsePacket checks the control packet and option codecs: a packet
// that parses re-encodes to the bytes it came from (without the padding
// after its Length), an option list that parses re-encodes to itself, and
// the Configure-Ack/Nak/Reject that Reply builds from it is well-formed and
// made of the options it was given. Seeds: testdata/fuzz/FuzzParsePacket,
// every LCP, IPCP, CCP, PAP and CHAP packet type in the captures and our
// own sessions.
func FuzzParsePacket(f *testing.F) {
	f.Add([]byte{1, 1, 0, 14, 1, 4, 5, 120, 5, 6, 1, 2, 3, 4})
	f.Add([]byte{1, 1, 0, 8, 3, 5, 0xc2, 0x23, 0x81, 0, 0})
	f.Add([]byte{4, 2, 0, 6, 7, 2})
	f.Add([]byte{1, 1, 0, 4})
	f.Add([]byte{1, 1, 0, 7, 1, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParsePacket(b)
		if err != nil {
			if p.Code != 0 || p.ID != 0 || p.Data != nil {
				t.Fatalf("%+v returned with %v", p, err)
			}
			return
		}
		n := 4 + len(p.Data)
		if n > len(b) || n > 0xffff {
			t.Fatalf("packet of %d bytes from %d", n, len(b))
		}
		if enc := p.Append(nil); !bytes.Equal(enc, b[:n]) {
			t.Fatalf("%x re-encodes as %x", b[:n], enc)
		}
		if CodeName(ProtoCHAP, p.Code) == "" || CodeName(ProtoPAP, p.Code) == "" || p.Code.String() == "" {
			t.Fatalf("code %d has no name", p.Code)
		}
		if s := Printable(p.Data, 64); len(s) > 64 || len(s) > len(p.Data) || bytes.ContainsFunc([]byte(s), func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			t.Fatalf("Printable(%x) = %q", p.Data, s)
		}

		opts, err := ParseOptions(p.Data)
		if err != nil {
			if opts != nil {
				t.Fatalf("options %v returned with %v", opts, err)
			}
			return
		}
		var re []byte
		for _, o := range opts {
			if len(o.Data) > 253 {
				t.Fatalf("option of %d value bytes", len(o.Data))
			}
			re = o.Append(re)
			if o.Type == 3 { // LCP Authentication-Protocol
				if m, ok := ParseAuthOption(o.Data); ok && !bytes.Equal(m.OptionData(), o.Data) {
					t.Fatalf("auth option %x parses as %v, which encodes as %x", o.Data, m, m.OptionData())
				}
			}
		}
		if !bytes.Equal(re, p.Data) {
			t.Fatalf("options %x re-encode as %x", p.Data, re)
		}

		// Reject the options at even positions and nak the others with
		// their own values (the nak of an option repeats its type).
		for _, rejectOnly := range []bool{false, true} {
			r := NewReply(rejectOnly)
			var rej, nak []byte
			for i, o := range opts {
				if i%2 == 0 {
					r.Reject(o)
					rej = o.Append(rej)
				} else {
					r.Nak(o, o.Data)
					nak = o.Append(nak)
				}
			}
			code, data := r.Result(p.Data)
			var want []byte
			wantCode := ConfAck
			switch {
			case rejectOnly && len(opts) > 0:
				// Every nak turned into a reject: all options, in order.
				wantCode, want = ConfRej, p.Data
			case len(rej) > 0:
				wantCode, want = ConfRej, rej
			case len(nak) > 0:
				wantCode, want = ConfNak, nak
			default:
				want = p.Data
			}
			if code != wantCode || !bytes.Equal(data, want) {
				t.Fatalf("reply (reject-only %v) to %x: %v %x, want %v %x", rejectOnly, p.Data, code, data, wantCode, want)
			}
			if _, err := ParseOptions(data); err != nil {
				t.Fatalf("reply options %x do not parse: %v", data, err)
			}
		}
	})
}
