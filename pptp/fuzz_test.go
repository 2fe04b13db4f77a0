package pptp

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

func addCaptureSeeds(f *testing.F, whole bool) {
	for _, s := range captureStreams(f) {
		if whole {
			f.Add(s.data)
			continue
		}
		for off := 0; off+2 <= len(s.data); {
			n := int(be.Uint16(s.data[off:]))
			if n == 0 || off+n > len(s.data) {
				break
			}
			f.Add(s.data[off : off+n])
			off += n
		}
	}
	for _, m := range sampleMessages() {
		f.Add(Marshal(m))
	}
}

// checkReencode asserts that a message Parse accepted from b encodes back
// to b, up to the bytes Parse is documented to ignore, and that the
// re-encoding parses to the same message.
func checkReencode(t *testing.T, m Message, b []byte) {
	t.Helper()
	out := Marshal(m)
	if want := canonical(b); !bytes.Equal(out, want) {
		t.Fatalf("re-encoding differs:\n got %x\nwant %x", out, want)
	}
	m2, err := Parse(out)
	if err != nil {
		t.Fatalf("re-encoding does not parse: %v", err)
	}
	if !reflect.DeepEqual(m, m2) {
		t.Fatalf("second round trip: %+v != %+v", m2, m)
	}
}

func FuzzParse(f *testing.F) {
	addCaptureSeeds(f, false)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			if m != nil {
				t.Fatalf("message and error: %v, %v", m, err)
			}
			if _, ok := ErrorCodeOf(err); !ok {
				t.Fatalf("error without a General Error Code: %v", err)
			}
			return
		}
		checkReencode(t, m, b)
	})
}

func FuzzReader(f *testing.F) {
	addCaptureSeeds(f, true)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		// Every call consumes at least the 2-byte length or ends the
		// stream, so this bound catches a Reader that stops advancing.
		for range len(data)/2 + 2 {
			m, raw, err := r.ReadMessage()
			switch {
			case err == nil:
				checkReencode(t, m, raw)
			case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, ErrLostSync):
				return
			default:
				if _, ok := ErrorCodeOf(err); !ok {
					t.Fatalf("unexpected error %v", err)
				}
			}
		}
		t.Fatal("Reader did not reach the end of the stream")
	})
}
