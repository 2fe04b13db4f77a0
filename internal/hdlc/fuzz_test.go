package hdlc

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// fuzzMaxFrame is small so that the fuzzer reaches the oversize path.
const fuzzMaxFrame = 64

// fuzzDecode decodes data fed in chunks of size and returns copies of the
// frames, the final error and the stats, checking the bounds on the way.
func fuzzDecode(t *testing.T, data []byte, size int, accm uint32) ([][]byte, error, Stats) {
	d := NewDecoderSize(chunked(data, size), fuzzMaxFrame)
	d.SetACCM(accm)
	var frames [][]byte
	for range len(data) + 2 {
		f, err := d.ReadFrame()
		if err != nil {
			if len(d.buf) != fuzzMaxFrame+fcsLen || len(d.raw) != readBufSize {
				t.Fatalf("buffers grew to %d and %d", len(d.buf), len(d.raw))
			}
			return frames, err, d.Stats()
		}
		if len(f) < 2 || len(f) > fuzzMaxFrame {
			t.Fatalf("frame of %d octets, outside [2, %d]", len(f), fuzzMaxFrame)
		}
		frames = append(frames, bytes.Clone(f))
	}
	t.Fatalf("more frames than octets in %d octets of input", len(data))
	return nil, nil, Stats{}
}

// FuzzDecoder checks that no input panics the Decoder or grows its
// buffers, that the way the input is split into reads changes nothing,
// that every frame counted ends at a flag, and that every frame returned is
// one that the Encoder produces: it re-encodes and decodes to itself.
func FuzzDecoder(f *testing.F) {
	f.Add(lcpConfReqWire, uint32(0))
	f.Add(cat(lcpConfReqWireACCM0, lcpConfReqWire[1:]), DefaultACCM)
	f.Add([]byte{Flag, 0xff, Escape, Flag, Flag, Flag, Escape}, uint32(0))
	f.Add(bytes.Repeat([]byte{0x42, Escape, 0x5e}, 40), uint32(0x000a0000))
	f.Add(cat([]byte("CONNECT\r\n"), wire([]byte{0xc0, 0x21, 0x11, 0x13})), uint32(1<<0x11|1<<0x13))

	f.Fuzz(func(t *testing.T, data []byte, accm uint32) {
		whole, wholeErr, wholeStats := fuzzDecode(t, data, 1<<30, accm)
		single, singleErr, singleStats := fuzzDecode(t, data, 1, accm)
		if fmt.Sprint(whole) != fmt.Sprint(single) || wholeErr != singleErr || wholeStats != singleStats {
			t.Fatalf("whole input: %d frames, %v, %+v; octet by octet: %d frames, %v, %+v",
				len(whole), wholeErr, wholeStats, len(single), singleErr, singleStats)
		}
		if wholeErr != io.EOF && wholeErr != io.ErrUnexpectedEOF {
			t.Fatalf("error %v from a bytes reader", wholeErr)
		}
		st := wholeStats
		if st.Frames != uint64(len(whole)) {
			t.Fatalf("stats count %d frames, ReadFrame returned %d", st.Frames, len(whole))
		}
		if flags := uint64(bytes.Count(data, []byte{Flag})); st.Frames+st.BadFCS+st.Aborted+st.TooShort > flags {
			t.Fatalf("stats %+v count more frames than the %d flags can end", st, flags)
		}

		for _, frame := range whole {
			// The decoder's ACCM is the one octets were removed with, so
			// the encoder must escape at least those to get them through.
			enc := AppendFrame(nil, frame, accm)
			again, err, st := fuzzDecode(t, enc, 1<<30, accm)
			if err != io.EOF || len(again) != 1 || !bytes.Equal(again[0], frame) || st != (Stats{Frames: 1}) {
				t.Fatalf("frame % x re-encoded as % x decodes to % x, %v, %+v", frame, enc, again, err, st)
			}
		}
	})
}
