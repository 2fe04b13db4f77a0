package hdlc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
)

// lcpConfReq is the LCP Configure-Request that pppd sends first with its
// default options, "[LCP ConfReq id=0x1 <asyncmap 0x0> <magic 0x2a7e0d91>
// <pcomp> <accomp>]", as address, control, protocol and information. The
// magic number is chosen to contain a flag octet and a control character.
var lcpConfReq = []byte{
	0xff, 0x03, 0xc0, 0x21, // address, control, protocol LCP
	0x01, 0x01, 0x00, 0x14, // Configure-Request, identifier 1, length 20
	0x02, 0x06, 0x00, 0x00, 0x00, 0x00, // Async-Control-Character-Map 0
	0x05, 0x06, 0x2a, 0x7e, 0x0d, 0x91, // Magic-Number
	0x07, 0x02, // Protocol-Field-Compression
	0x08, 0x02, // Address-and-Control-Field-Compression
}

// lcpConfReqWire is lcpConfReq framed by hand from the rules of RFC 1662
// with the default ACCM: every octet below 0x20 and 0x7e are escaped. The
// FCS, 0x16ef, was computed separately with a bit-by-bit CRC and is sent
// as 0xef 0x16, where 0x16 is a control character and so escaped too.
var lcpConfReqWire = []byte{
	0x7e,
	0xff, 0x7d, 0x23, 0xc0, 0x21,
	0x7d, 0x21, 0x7d, 0x21, 0x7d, 0x20, 0x7d, 0x34,
	0x7d, 0x22, 0x7d, 0x26, 0x7d, 0x20, 0x7d, 0x20, 0x7d, 0x20, 0x7d, 0x20,
	0x7d, 0x25, 0x7d, 0x26, 0x2a, 0x7d, 0x5e, 0x7d, 0x2d, 0x91,
	0x7d, 0x27, 0x7d, 0x22,
	0x7d, 0x28, 0x7d, 0x22,
	0xef, 0x7d, 0x36,
	0x7e,
}

// lcpConfReqWireACCM0 is the same frame sent after LCP agreed on an ACCM
// of 0: only 0x7e and 0x7d are escaped.
var lcpConfReqWireACCM0 = []byte{
	0x7e,
	0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x14,
	0x02, 0x06, 0x00, 0x00, 0x00, 0x00,
	0x05, 0x06, 0x2a, 0x7d, 0x5e, 0x0d, 0x91,
	0x07, 0x02, 0x08, 0x02,
	0xef, 0x16,
	0x7e,
}

// chunkReader hands out data in chunks whose sizes come from next.
type chunkReader struct {
	data []byte
	next func() int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(r.next(), len(p), len(r.data))
	n = copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// chunked returns a reader of data in chunks of size bytes.
func chunked(data []byte, size int) io.Reader {
	return &chunkReader{data: data, next: func() int { return size }}
}

// decodeAll reads frames from d until an error and returns copies of them
// and the error.
func decodeAll(t testing.TB, d *Decoder) ([][]byte, error) {
	t.Helper()
	var frames [][]byte
	for {
		f, err := d.ReadFrame()
		if err != nil {
			return frames, err
		}
		if len(f) < 2 || len(f) > d.MaxFrame() {
			t.Fatalf("ReadFrame returned %d octets, outside [2, %d]", len(f), d.MaxFrame())
		}
		frames = append(frames, bytes.Clone(f))
	}
}

// chunkSizes are the ways the tests split a stream: one octet at a time,
// three at a time, and everything in one read (the reader's buffer limits
// it to readBufSize).
var chunkSizes = []int{1, 3, 1 << 30}

func TestEncodeLCPConfigureRequest(t *testing.T) {
	for _, tc := range []struct {
		accm uint32
		want []byte
	}{
		{DefaultACCM, lcpConfReqWire},
		{0, lcpConfReqWireACCM0},
	} {
		if got := AppendFrame(nil, lcpConfReq, tc.accm); !bytes.Equal(got, tc.want) {
			t.Errorf("AppendFrame(ACCM %#x) =\n% x\nwant\n% x", tc.accm, got, tc.want)
		}

		var w writeRecorder
		e := NewEncoder(&w)
		if tc.accm != DefaultACCM {
			e.SetACCM(tc.accm)
		}
		if err := e.WriteFrame(lcpConfReq); err != nil {
			t.Fatal(err)
		}
		if len(w.writes) != 1 || !bytes.Equal(w.writes[0], tc.want) {
			t.Errorf("Encoder with ACCM %#x wrote %d writes % x, want one write % x", tc.accm, len(w.writes), w.writes, tc.want)
		}
	}
}

func TestDecodeLCPConfigureRequest(t *testing.T) {
	for _, wire := range [][]byte{lcpConfReqWire, lcpConfReqWireACCM0} {
		for _, size := range chunkSizes {
			d := NewDecoder(chunked(wire, size))
			frames, err := decodeAll(t, d)
			if err != io.EOF {
				t.Errorf("chunks of %d: error %v, want io.EOF", size, err)
			}
			if len(frames) != 1 || !bytes.Equal(frames[0], lcpConfReq) {
				t.Errorf("chunks of %d: frames % x, want % x", size, frames, lcpConfReq)
			}
			if st := d.Stats(); st != (Stats{Frames: 1}) {
				t.Errorf("chunks of %d: stats %+v", size, st)
			}
		}
	}
}

// Two frames, the second sharing the first one's closing flag, split into
// two reads at every possible point.
func TestDecodeSplitAnywhere(t *testing.T) {
	stream := append(bytes.Clone(lcpConfReqWire), lcpConfReqWireACCM0[1:]...)
	for i := range len(stream) + 1 {
		r := io.MultiReader(bytes.NewReader(stream[:i]), bytes.NewReader(stream[i:]))
		d := NewDecoder(r)
		frames, err := decodeAll(t, d)
		if err != io.EOF || len(frames) != 2 ||
			!bytes.Equal(frames[0], lcpConfReq) || !bytes.Equal(frames[1], lcpConfReq) {
			t.Fatalf("split at %d: %d frames, error %v, stats %+v", i, len(frames), err, d.Stats())
		}
	}
}

// randomFrame returns a frame of n octets rich in the octets that framing
// treats specially.
func randomFrame(rng *rand.Rand, n int) []byte {
	f := make([]byte, n)
	for i := range f {
		switch rng.IntN(4) {
		case 0:
			f[i] = []byte{Flag, Escape, Flag ^ escapeXOR, Escape ^ escapeXOR}[rng.IntN(4)]
		case 1:
			f[i] = byte(rng.IntN(0x20))
		default:
			f[i] = byte(rng.Uint32())
		}
	}
	return f
}

// randomACCM returns all-escape, no-escape or a random map.
func randomACCM(rng *rand.Rand) uint32 {
	switch rng.IntN(4) {
	case 0:
		return DefaultACCM
	case 1:
		return 0
	default:
		return rng.Uint32()
	}
}

func TestRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const maxFrame = 1600
	for iter := range 300 {
		encACCM := randomACCM(rng)
		// The receiver may flag any control character that the sender
		// escapes: only unescaped ones are removed.
		decACCM := uint32(0)
		if rng.IntN(2) == 0 {
			decACCM = encACCM & rng.Uint32()
		}

		var want [][]byte
		var stream bytes.Buffer
		e := NewEncoder(&stream)
		e.SetACCM(encACCM)
		for range 1 + rng.IntN(8) {
			f := randomFrame(rng, 2+rng.IntN(maxFrame-1))
			want = append(want, f)
			start := stream.Len()
			if err := e.WriteFrame(f); err != nil {
				t.Fatal(err)
			}
			switch rng.IntN(3) {
			case 0: // share the flag with the previous frame
				if start > 0 {
					b := stream.Bytes()
					copy(b[start:], b[start+1:])
					stream.Truncate(stream.Len() - 1)
				}
			case 1: // inter-frame fill: empty frames
				stream.Write(bytes.Repeat([]byte{Flag}, 1+rng.IntN(3)))
			}
		}

		sizes := append(slices.Clone(chunkSizes), 1+rng.IntN(2000))
		for _, size := range sizes {
			d := NewDecoderSize(chunked(stream.Bytes(), size), maxFrame)
			d.SetACCM(decACCM)
			got, err := decodeAll(t, d)
			if err != io.EOF {
				t.Fatalf("iter %d, chunks of %d: error %v", iter, size, err)
			}
			if len(got) != len(want) {
				t.Fatalf("iter %d, chunks of %d: %d frames, want %d (stats %+v)", iter, size, len(got), len(want), d.Stats())
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("iter %d, chunks of %d, frame %d differs", iter, size, i)
				}
			}
			if st := d.Stats(); st != (Stats{Frames: uint64(len(want))}) {
				t.Fatalf("iter %d, chunks of %d: stats %+v", iter, size, st)
			}
		}
	}
}

// Control characters flagged in the receive ACCM are noise to be removed
// wherever they appear, even between an escape and the octet it escapes;
// with an ACCM of 0 they are data and break the FCS.
func TestDecodeRemovesACCMNoise(t *testing.T) {
	const xon, xoff = 0x11, 0x13
	var noisy []byte
	for i, c := range lcpConfReqWire {
		noisy = append(noisy, c)
		if i%3 == 0 {
			noisy = append(noisy, xon, xoff)
		}
	}
	if !bytes.Contains(noisy, []byte{Escape, xon}) {
		t.Fatal("test stream has no noise after an escape")
	}

	d := NewDecoder(bytes.NewReader(noisy))
	d.SetACCM(1<<xon | 1<<xoff)
	frames, err := decodeAll(t, d)
	if err != io.EOF || len(frames) != 1 || !bytes.Equal(frames[0], lcpConfReq) {
		t.Errorf("with XON/XOFF flagged: frames % x, error %v, stats %+v", frames, err, d.Stats())
	}

	d = NewDecoder(bytes.NewReader(noisy))
	frames, err = decodeAll(t, d)
	if err != io.EOF || len(frames) != 0 || d.Stats() != (Stats{BadFCS: 1}) {
		t.Errorf("with ACCM 0: frames % x, error %v, stats %+v", frames, err, d.Stats())
	}
}

// wire frames f with the default ACCM.
func wire(f []byte) []byte { return AppendFrame(nil, f, DefaultACCM) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestDecodeInvalidFrames(t *testing.T) {
	good := []byte{0xff, 0x03, 0xc0, 0x21, 0x05, 0x02, 0x00, 0x04} // LCP Terminate-Request
	maxFrame := 64
	exact := randomFrame(rand.New(rand.NewPCG(5, 6)), maxFrame)
	over := append(bytes.Clone(exact), 0x42)
	// Overflows on an escaped octet, not on the FCS or in a run of
	// ordinary ones.
	allFlags := bytes.Repeat([]byte{Flag}, maxFrame+3)
	badFCS := wire(good)
	badFCS[len(badFCS)-2] ^= 0x01 // in the FCS
	badData := wire(good)
	badData[5] ^= 0x80
	twoOctets := []byte{0xc0, 0x21}

	tests := []struct {
		name   string
		stream []byte
		frames [][]byte
		stats  Stats
		err    error
	}{
		{"bad FCS", cat(badFCS, wire(good)), [][]byte{good}, Stats{Frames: 1, BadFCS: 1}, io.EOF},
		{"bad data", cat(badData, wire(good)), [][]byte{good}, Stats{Frames: 1, BadFCS: 1}, io.EOF},
		{"abort mid-frame, flag reused", cat([]byte{Flag, 0xff, 0x03, 0xc0, Escape, Flag}, wire(good)[1:]),
			[][]byte{good}, Stats{Frames: 1, Aborted: 1}, io.EOF},
		{"abort of an empty frame", cat([]byte{Flag, Escape, Flag}, wire(good)), [][]byte{good}, Stats{Frames: 1, Aborted: 1}, io.EOF},
		{"abort just before the FCS would end", cat(wire(good)[:len(wire(good))-1], []byte{Escape, Flag}), nil, Stats{Aborted: 1}, io.EOF},
		{"exactly the maximum", wire(exact), [][]byte{exact}, Stats{Frames: 1}, io.EOF},
		{"one over the maximum", cat(wire(over), wire(good)), [][]byte{good}, Stats{Frames: 1, TooLong: 1}, io.EOF},
		{"exactly the maximum, all escaped", wire(allFlags[:maxFrame]), [][]byte{allFlags[:maxFrame]}, Stats{Frames: 1}, io.EOF},
		{"oversize ending in escaped octets", cat(wire(allFlags), wire(good)), [][]byte{good}, Stats{Frames: 1, TooLong: 1}, io.EOF},
		{"oversize counted once despite an abort", cat(wire(over)[:len(wire(over))-1], []byte{Escape, Flag}, wire(good)),
			[][]byte{good}, Stats{Frames: 1, TooLong: 1}, io.EOF},
		{"shortest frame", wire(twoOctets), [][]byte{twoOctets}, Stats{Frames: 1}, io.EOF},
		{"one octet and FCS", wire(twoOctets[:1]), nil, Stats{TooShort: 1}, io.EOF},
		{"FCS only", wire(nil), nil, Stats{TooShort: 1}, io.EOF},
		{"short garbage between flags", cat([]byte{Flag, 0x01, 0x02, 0x03, Flag}, wire(good)), [][]byte{good}, Stats{Frames: 1, TooShort: 1}, io.EOF},
		{"long garbage between flags", cat([]byte{Flag}, []byte("CONNECT 115200\r\n"), wire(good)), [][]byte{good}, Stats{Frames: 1, BadFCS: 1}, io.EOF},
		{"garbage before the first flag", cat([]byte("garbage"), wire(good)), [][]byte{good}, Stats{Frames: 1, BadFCS: 1}, io.EOF},
		{"empty frames", []byte{Flag, Flag, Flag, Flag}, nil, Stats{}, io.EOF},
		{"empty frames around frames", cat([]byte{Flag, Flag}, wire(good), []byte{Flag, Flag}, wire(good), []byte{Flag}),
			[][]byte{good, good}, Stats{Frames: 2}, io.EOF},
		{"empty stream", nil, nil, Stats{}, io.EOF},
		{"end inside a frame", wire(good)[:5], nil, Stats{}, io.ErrUnexpectedEOF},
		{"end after a frame and an opening flag", cat(wire(good), []byte{Flag}), [][]byte{good}, Stats{Frames: 1}, io.EOF},
		{"end after an escape", []byte{Flag, Escape}, nil, Stats{}, io.ErrUnexpectedEOF},
		{"end inside an oversize frame", wire(over)[:len(wire(over))-1], nil, Stats{TooLong: 1}, io.ErrUnexpectedEOF},
	}
	for _, tc := range tests {
		for _, size := range chunkSizes {
			d := NewDecoderSize(chunked(tc.stream, size), maxFrame)
			frames, err := decodeAll(t, d)
			if err != tc.err {
				t.Errorf("%s, chunks of %d: error %v, want %v", tc.name, size, err, tc.err)
			}
			if fmt.Sprint(frames) != fmt.Sprint(tc.frames) {
				t.Errorf("%s, chunks of %d: frames % x, want % x", tc.name, size, frames, tc.frames)
			}
			if st := d.Stats(); st != tc.stats {
				t.Errorf("%s, chunks of %d: stats %+v, want %+v", tc.name, size, st, tc.stats)
			}
			if _, err2 := d.ReadFrame(); err2 != err {
				t.Errorf("%s, chunks of %d: second error %v, want %v again", tc.name, size, err2, err)
			}
		}
	}
}

// funcReader adapts a function to io.Reader.
type funcReader func(p []byte) (int, error)

func (f funcReader) Read(p []byte) (int, error) { return f(p) }

func TestDecodeReaderErrors(t *testing.T) {
	errBoom := errors.New("boom")

	// Frames that arrive together with an error are returned first.
	data := cat(lcpConfReqWire, lcpConfReqWireACCM0)
	done := false
	d := NewDecoder(funcReader(func(p []byte) (int, error) {
		if done {
			t.Fatal("Read called after it returned an error")
		}
		done = true
		return copy(p, data), errBoom
	}))
	frames, err := decodeAll(t, d)
	if len(frames) != 2 || err != errBoom {
		t.Errorf("data with error: %d frames, error %v; want 2 and %v", len(frames), err, errBoom)
	}

	// A reader that never returns anything is given up on.
	calls := 0
	d = NewDecoder(funcReader(func(p []byte) (int, error) { calls++; return 0, nil }))
	if _, err := d.ReadFrame(); err != io.ErrNoProgress || calls != maxEmptyReads {
		t.Errorf("empty reader: error %v after %d reads, want %v after %d", err, calls, io.ErrNoProgress, maxEmptyReads)
	}

	// Impossible counts are errors, not panics.
	for _, n := range []int{-1, readBufSize + 1} {
		d = NewDecoder(funcReader(func(p []byte) (int, error) { return n, nil }))
		if _, err := d.ReadFrame(); err != errBadRead {
			t.Errorf("reader returning %d: error %v, want %v", n, err, errBadRead)
		}
	}
}

func TestNewDecoderSize(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{-5, DefaultMaxFrame}, {0, DefaultMaxFrame}, {1, 1}, {1500, 1500},
		{maxMaxFrame, maxMaxFrame}, {1 << 40, maxMaxFrame},
	} {
		if got := NewDecoderSize(nil, tc.in).MaxFrame(); got != tc.want {
			t.Errorf("NewDecoderSize(%d).MaxFrame() = %d, want %d", tc.in, got, tc.want)
		}
	}
	if got := NewDecoder(nil).MaxFrame(); got != DefaultMaxFrame {
		t.Errorf("NewDecoder().MaxFrame() = %d, want %d", got, DefaultMaxFrame)
	}
}

// For every octet value and many ACCMs, the encoded frame carries each
// octet raw exactly when RFC 1662 section 4.2 allows it.
func TestEncoderEscapesByACCM(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	accms := []uint32{DefaultACCM, 0, 1<<0x11 | 1<<0x13}
	for range 50 {
		accms = append(accms, rng.Uint32())
	}
	for _, accm := range accms {
		out := AppendFrame(nil, all, accm)
		if out[0] != Flag || out[len(out)-1] != Flag {
			t.Fatalf("ACCM %#x: no opening or closing flag", accm)
		}
		body := out[1 : len(out)-1]
		var decoded []byte
		for i := 0; i < len(body); i++ {
			c := body[i]
			escaped := c == Escape
			if escaped {
				i++
				if i == len(body) {
					t.Fatalf("ACCM %#x: escape at the end of the frame", accm)
				}
				c = body[i] ^ escapeXOR
			}
			mustEscape := c == Flag || c == Escape || c < 0x20 && accm&(1<<c) != 0
			if escaped != mustEscape {
				t.Fatalf("ACCM %#x: octet %#02x escaped %v, want %v", accm, c, escaped, mustEscape)
			}
			decoded = append(decoded, c)
		}
		if !bytes.Equal(decoded[:256], all) || UpdateFCS16(InitFCS16, decoded) != GoodFCS16 {
			t.Fatalf("ACCM %#x: unescaped frame % x does not carry the input and its FCS", accm, decoded)
		}
	}
}

// writeRecorder keeps a copy of every Write.
type writeRecorder struct{ writes [][]byte }

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, bytes.Clone(p))
	return len(p), nil
}

type funcWriter func(p []byte) (int, error)

func (f funcWriter) Write(p []byte) (int, error) { return f(p) }

func TestEncoderWrites(t *testing.T) {
	var w writeRecorder
	e := NewEncoder(&w)
	if e.ACCM() != DefaultACCM {
		t.Errorf("initial ACCM %#x, want %#x", e.ACCM(), DefaultACCM)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	var frames [][]byte
	for i := range 20 {
		f := randomFrame(rng, 2+rng.IntN(3*DefaultMaxFrame)) // some beyond the preallocated buffer
		frames = append(frames, f)
		if err := e.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
		if len(w.writes) != i+1 {
			t.Fatalf("%d writes after %d frames", len(w.writes), i+1)
		}
	}
	d := NewDecoderSize(bytes.NewReader(bytes.Join(w.writes, nil)), 3*DefaultMaxFrame+2)
	got, err := decodeAll(t, d)
	if err != io.EOF || fmt.Sprint(got) != fmt.Sprint(frames) {
		t.Errorf("written frames do not decode back: %d of %d, error %v", len(got), len(frames), err)
	}

	errBoom := errors.New("boom")
	e = NewEncoder(funcWriter(func(p []byte) (int, error) { return 1, errBoom }))
	if err := e.WriteFrame(lcpConfReq); err != errBoom {
		t.Errorf("failing writer: error %v, want %v", err, errBoom)
	}
	e = NewEncoder(funcWriter(func(p []byte) (int, error) { return len(p) - 1, nil }))
	if err := e.WriteFrame(lcpConfReq); err != io.ErrShortWrite {
		t.Errorf("short writer: error %v, want %v", err, io.ErrShortWrite)
	}
}

// loopReader returns data over and over, one copy per Read, without
// allocating, for steady-state measurements. It ends after left reads, or
// never if left is negative, so that a test whose frames all fail to
// decode stops instead of reading forever.
type loopReader struct {
	data []byte
	left int
}

func (r *loopReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	r.left--
	return copy(p, r.data), nil
}

// steadyFrame returns a 1500-octet frame of uniformly random octets after
// the PPP header, like the MPPE-encrypted payload that fills a tunnel.
func steadyFrame() []byte {
	rng := rand.New(rand.NewPCG(11, 12))
	f := make([]byte, 1500)
	for i := range f {
		f[i] = byte(rng.Uint32())
	}
	f[0], f[1], f[2], f[3] = 0xff, 0x03, 0x00, 0xfd
	return f
}

// benchACCMs are the two ACCMs that matter in practice: the default one,
// with which about one octet in eight is escaped, and the 0 that pppd
// negotiates, with which about one in a hundred is.
var benchACCMs = []uint32{DefaultACCM, 0}

func TestSteadyStateDoesNotAllocate(t *testing.T) {
	frame := steadyFrame()
	for _, accm := range benchACCMs {
		e := NewEncoder(io.Discard)
		e.SetACCM(accm)
		if n := testing.AllocsPerRun(100, func() { _ = e.WriteFrame(frame) }); n != 0 {
			t.Errorf("ACCM %#x: WriteFrame allocates %v times per frame", accm, n)
		}
		d := NewDecoder(&loopReader{AppendFrame(nil, frame, accm), 1000})
		if n := testing.AllocsPerRun(100, func() { _, _ = d.ReadFrame() }); n != 0 {
			t.Errorf("ACCM %#x: ReadFrame allocates %v times per frame", accm, n)
		}
		if st := d.Stats(); st != (Stats{Frames: 101}) {
			t.Errorf("ACCM %#x: steady-state decoding: stats %+v", accm, st)
		}
	}
}

func BenchmarkEncode1500(b *testing.B) {
	frame := steadyFrame()
	for _, accm := range benchACCMs {
		b.Run(fmt.Sprintf("accm=%#x", accm), func(b *testing.B) {
			e := NewEncoder(io.Discard)
			e.SetACCM(accm)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if err := e.WriteFrame(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode1500(b *testing.B) {
	frame := steadyFrame()
	for _, accm := range benchACCMs {
		b.Run(fmt.Sprintf("accm=%#x", accm), func(b *testing.B) {
			d := NewDecoder(&loopReader{AppendFrame(nil, frame, accm), -1})
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := d.ReadFrame(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
