package pptp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
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

// FuzzReader checks the reassembly of control messages from a stream: no
// input may panic the Reader or stop it advancing, every message it
// returns re-encodes to its bytes, every error is one of those documented,
// and how the stream is cut into reads (whole, a byte at a time, halves,
// data returned together with io.EOF) changes nothing, since TCP may
// segment it any way. Seeds: testdata/fuzz/FuzzReader, the control
// streams of the captures (go run ./internal/fuzzseed).
func FuzzReader(f *testing.F) {
	addCaptureSeeds(f, true)
	f.Fuzz(func(t *testing.T, data []byte) {
		whole := readStream(t, bytes.NewReader(data), len(data))
		for _, r := range []io.Reader{
			iotest.OneByteReader(bytes.NewReader(data)),
			iotest.HalfReader(bytes.NewReader(data)),
			iotest.DataErrReader(bytes.NewReader(data)),
		} {
			if got := readStream(t, r, len(data)); got != whole {
				t.Fatalf("read in pieces:\n%s\nread whole:\n%s", got, whole)
			}
		}
	})
}

// readStream reads messages off r until an error that ends the stream and
// describes what it read, for comparison.
func readStream(t *testing.T, in io.Reader, n int) string {
	t.Helper()
	var out strings.Builder
	r := NewReader(in)
	// Every call consumes at least the 2-byte length or ends the
	// stream, so this bound catches a Reader that stops advancing.
	for range n/2 + 2 {
		m, raw, err := r.ReadMessage()
		fmt.Fprintf(&out, "%x %v\n", raw, err)
		switch {
		case err == nil:
			checkReencode(t, m, raw)
		case err == io.EOF, errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, ErrLostSync):
			if m != nil {
				t.Fatalf("message %v with %v", m, err)
			}
			if _, _, err2 := r.ReadMessage(); err2 != err {
				t.Fatalf("error %v is not sticky: then %v", err, err2)
			}
			return out.String()
		default:
			if m != nil || raw == nil {
				t.Fatalf("message %v, raw %x with %v", m, raw, err)
			}
			if _, ok := ErrorCodeOf(err); !ok || !Recoverable(err) {
				t.Fatalf("unexpected error %v", err)
			}
		}
	}
	t.Fatal("Reader did not reach the end of the stream")
	return ""
}
