package pptp

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

func concat(msgs ...[]byte) []byte {
	return bytes.Join(msgs, nil)
}

func TestReaderSequence(t *testing.T) {
	want := sampleMessages()
	var stream []byte
	for _, m := range want {
		stream = m.Append(stream)
	}
	// One byte per Read exercises every partial-read path.
	r := NewReader(iotest.OneByteReader(bytes.NewReader(stream)))
	for i, w := range want {
		m, raw, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !reflect.DeepEqual(m, w) {
			t.Errorf("message %d = %+v, want %+v", i, m, w)
		}
		if !bytes.Equal(raw, Marshal(w)) {
			t.Errorf("message %d raw = %x", i, raw)
		}
	}
	if _, _, err := r.ReadMessage(); err != io.EOF {
		t.Errorf("after last message: %v, want io.EOF", err)
	}
}

// An unknown type or a recoverable parse error is consumed whole and the
// next message is still read.
func TestReaderContinuesAfterRecoverableErrors(t *testing.T) {
	unknown := make([]byte, 40)
	be.PutUint16(unknown, 40)
	be.PutUint16(unknown[2:], controlMessage)
	be.PutUint32(unknown[4:], MagicCookie)
	be.PutUint16(unknown[8:], 77)

	reserved := Marshal(&EchoRequest{Identifier: 1})
	reserved[10] = 0x80

	wrongLen := Marshal(&EchoReply{})
	be.PutUint16(wrongLen[8:], uint16(TypeEchoRequest)) // 20 bytes claiming to be ECHORQ

	mgmt := Marshal(&EchoRequest{})
	be.PutUint16(mgmt[2:], 2)

	echo := Marshal(&EchoRequest{Identifier: 0xabcdef01})
	stream := concat(unknown, echo, reserved, echo, wrongLen, echo, mgmt, echo)
	r := NewReader(bytes.NewReader(stream))

	check := func(wantErr error, wantRaw []byte) {
		t.Helper()
		m, raw, err := r.ReadMessage()
		if wantErr == nil {
			if err != nil {
				t.Fatalf("ReadMessage: %v", err)
			}
			if e, ok := m.(*EchoRequest); !ok || e.Identifier != 0xabcdef01 {
				t.Fatalf("got %+v, want the echo request", m)
			}
			return
		}
		if m != nil {
			t.Errorf("message %+v returned with error", m)
		}
		if want, ok := wantErr.(*UnknownTypeError); ok {
			var got *UnknownTypeError
			if !errors.As(err, &got) || *got != *want {
				t.Fatalf("err = %v, want %v", err, want)
			}
		} else if !errors.Is(err, wantErr) {
			t.Fatalf("err = %v, want %v", err, wantErr)
		}
		if errors.Is(err, ErrLostSync) {
			t.Fatalf("recoverable error reported as lost sync: %v", err)
		}
		if !bytes.Equal(raw, wantRaw) {
			t.Errorf("raw = %x, want %x", raw, wantRaw)
		}
	}
	check(&UnknownTypeError{Type: 77}, unknown)
	check(nil, nil)
	check(ErrReserved, reserved)
	check(nil, nil)
	check(ErrBadLength, wrongLen)
	check(nil, nil)
	check(ErrNotControl, mgmt)
	check(nil, nil)
	if _, _, err := r.ReadMessage(); err != io.EOF {
		t.Errorf("end: %v", err)
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReaderLostSync(t *testing.T) {
	echo := Marshal(&EchoRequest{})
	badCookie := Marshal(&EchoRequest{})
	badCookie[5] = 0

	for _, tc := range []struct {
		name     string
		stream   []byte
		consumed int // bytes the Reader may have read when it gives up
		bad      error
	}{
		{"zero length", concat([]byte{0, 0}, echo), 2, ErrBadLength},
		{"length below header", concat([]byte{0, 11}, make([]byte, 20)), 2, ErrBadLength},
		{"huge length", concat([]byte{0xff, 0xff}, make([]byte, 2000)), 2, ErrBadLength},
		{"just over maximum", concat([]byte{0x04, 0x01}, make([]byte, 2000)), 2, ErrBadLength},
		{"bad cookie", concat(badCookie, echo), len(badCookie), ErrBadCookie},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cr := &countingReader{r: bytes.NewReader(tc.stream)}
			r := NewReader(cr)
			_, _, err := r.ReadMessage()
			if !errors.Is(err, ErrLostSync) || !errors.Is(err, tc.bad) {
				t.Fatalf("err = %v, want %v and %v", err, ErrLostSync, tc.bad)
			}
			if c, _ := ErrorCodeOf(err); c != ErrorCodeBadFormat {
				t.Errorf("error code %v, want Bad-Format", c)
			}
			if cr.n != tc.consumed {
				t.Errorf("read %d bytes, want %d", cr.n, tc.consumed)
			}
			// The stream stays broken and is not read further.
			for range 3 {
				if _, _, err2 := r.ReadMessage(); err2 != err {
					t.Fatalf("next call: %v, want the same %v", err2, err)
				}
			}
			if cr.n != tc.consumed {
				t.Errorf("read on after losing sync: %d bytes", cr.n)
			}
		})
	}
}

func TestReaderMaximumLength(t *testing.T) {
	// A message of exactly MaxMessageLen bytes is read (and is unknown).
	big := make([]byte, MaxMessageLen)
	be.PutUint16(big, MaxMessageLen)
	be.PutUint16(big[2:], controlMessage)
	be.PutUint32(big[4:], MagicCookie)
	be.PutUint16(big[8:], 200)
	r := NewReader(bytes.NewReader(concat(big, Marshal(&EchoRequest{}))))
	var ute *UnknownTypeError
	if _, raw, err := r.ReadMessage(); !errors.As(err, &ute) || len(raw) != MaxMessageLen {
		t.Fatalf("maximum-length message: %v, %d bytes", err, len(raw))
	}
	if _, _, err := r.ReadMessage(); err != nil {
		t.Fatalf("after maximum-length message: %v", err)
	}
}

func TestReaderTruncated(t *testing.T) {
	echo := Marshal(&EchoRequest{})
	for _, tc := range []struct {
		name   string
		stream []byte
		want   error
	}{
		{"empty", nil, io.EOF},
		{"half a length", echo[:1], io.ErrUnexpectedEOF},
		{"length only", echo[:2], io.ErrUnexpectedEOF},
		{"header only", echo[:12], io.ErrUnexpectedEOF},
		{"one byte short", echo[:15], io.ErrUnexpectedEOF},
		{"second message cut", concat(echo, echo[:5]), io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tc.stream))
			var err error
			for err == nil {
				_, _, err = r.ReadMessage()
			}
			if err != tc.want {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReaderPassesOnIOErrors(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(iotest.ErrReader(boom))
	if _, _, err := r.ReadMessage(); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want %v", err, boom)
	}
	r = NewReader(io.MultiReader(bytes.NewReader(Marshal(&EchoRequest{})[:9]), iotest.ErrReader(boom)))
	if _, _, err := r.ReadMessage(); !errors.Is(err, boom) {
		t.Fatalf("mid-message err = %v, want %v", err, boom)
	}
}

// loopReader serves the same bytes forever without allocating.
type loopReader struct {
	b   []byte
	off int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.b[l.off:])
	l.off = (l.off + n) % len(l.b)
	return n, nil
}

func TestReaderAllocations(t *testing.T) {
	r := NewReader(&loopReader{b: Marshal(&EchoRequest{Identifier: 5})})
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := r.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	})
	// The only allocation is the returned *EchoRequest.
	if allocs > 1 {
		t.Errorf("%v allocations per message, want at most 1", allocs)
	}
}

func BenchmarkReaderEcho(b *testing.B) {
	r := NewReader(&loopReader{b: Marshal(&EchoRequest{Identifier: 5})})
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := r.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseSCCRQ(b *testing.B) {
	msg := Marshal(sampleMessages()[0])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendSCCRQ(b *testing.B) {
	m := sampleMessages()[0]
	buf := make([]byte, 0, MaxMessageLen)
	b.ReportAllocs()
	for b.Loop() {
		buf = m.Append(buf[:0])
	}
}
