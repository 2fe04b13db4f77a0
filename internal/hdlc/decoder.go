package hdlc

import (
	"bytes"
	"errors"
	"io"
	"sync/atomic"
)

// Octets with a meaning in the framing (RFC 1662 section 4).
const (
	Flag   = 0x7e // flag sequence: begins and ends every frame
	Escape = 0x7d // control escape: the next octet is XORed with 0x20
)

// escapeXOR is what an escaped octet is XORed with (RFC 1662 section 4.2).
const escapeXOR = 0x20

// fcsLen is the length of the FCS-16 that ends every frame on the wire.
const fcsLen = 2

// minFrame is the shortest frame, FCS included, that is not discarded
// (RFC 1662 section 4.3).
const minFrame = 4

// DefaultMaxFrame is the longest frame, without its FCS, that a Decoder
// made by NewDecoder accepts. It leaves room for an MRU of 4096, well above
// the 1500 that pppd and PPTP servers use, plus the address, control and
// protocol fields and an MPPE or compression header in front.
const DefaultMaxFrame = 4096 + 64

// maxMaxFrame bounds what NewDecoderSize accepts: the MRU field of LCP is
// 16 bits, so no negotiated frame is longer than 65535 octets of
// information plus the headers above, and a larger buffer would only waste
// memory.
const maxMaxFrame = 65535 + 64

// readBufSize is the size of the buffer a Decoder reads into: reads from a
// pty rarely return more than 4 KiB, and 8 KiB holds several full-size
// frames per system call when they do.
const readBufSize = 8192

// maxEmptyReads is how many (0, nil) results from the underlying reader a
// Decoder tolerates in a row before it gives up with io.ErrNoProgress, as
// bufio.Reader does, so that a broken reader cannot spin it forever.
const maxEmptyReads = 100

// errBadRead reports a reader that claimed to have read more than it was
// given or a negative count; trusting the count would index out of range.
var errBadRead = errors.New("hdlc: reader returned an invalid count")

// Stats counts what a Decoder has done. Every frame that ends with a flag
// is counted in exactly one field, except the empty frames between two
// consecutive flags, which RFC 1662 section 3.1 says to discard without
// counting. A frame cut off by the end of the stream is counted only if it
// was already too long.
type Stats struct {
	Frames   uint64 // intact frames returned by ReadFrame
	BadFCS   uint64 // frames dropped because the FCS did not check
	Aborted  uint64 // frames dropped because they ended with 0x7d 0x7e
	TooLong  uint64 // frames dropped because they exceeded the maximum size
	TooShort uint64 // frames dropped because they had fewer than 4 octets with the FCS
}

// A Decoder reads HDLC-framed PPP frames from a byte stream, such as the
// output of pppd on its pty, which may split frames across reads or put
// several in one.
//
// Invalid frames are dropped and counted in Stats: aborted frames, frames
// shorter than four octets and frames whose FCS does not check, which
// RFC 1662 says to discard, and frames longer than the maximum size, whose
// rest is skipped up to the next flag so that memory stays bounded. pptp-linux only logs a bad FCS and
// forwards the frame anyway; a Decoder drops it instead, because on a pty
// a bad FCS means the framing itself went wrong (a lost or stray octet),
// and neither GRE nor MPPE would catch the damage on the other side of the
// tunnel. PPP recovers from the loss as it would on a noisy serial line.
//
// The stream is assumed to start at a frame boundary, as RFC 1662 section
// 4.4.2 describes an idle receiver; pppd opens its first frame with a
// flag anyway, so this only matters for garbage before it, which ends up
// counted as a short frame or a bad FCS.
//
// A Decoder is not safe for concurrent use, except that SetACCM, ACCM and
// Stats may be called from any goroutine.
type Decoder struct {
	r       io.Reader
	raw     []byte // read buffer; raw[pos:end] is not yet decoded
	pos     int
	end     int
	buf     []byte // the frame being decoded, FCS included; len is the maximum plus the FCS
	n       int    // octets of buf in use
	esc     bool   // the last octet was a control escape
	toss    bool   // the frame is too long: skip to the next flag
	err     error  // the error that ended the stream, returned once the buffer is drained
	accm    atomic.Uint32
	counter struct {
		frames, badFCS, aborted, tooLong, tooShort atomic.Uint64
	}
}

// NewDecoder returns a Decoder that reads from r and accepts frames of up
// to DefaultMaxFrame octets without the FCS.
func NewDecoder(r io.Reader) *Decoder {
	return NewDecoderSize(r, DefaultMaxFrame)
}

// NewDecoderSize returns a Decoder that reads from r and accepts frames of
// up to maxFrame octets without the FCS. A maxFrame of zero or less means
// DefaultMaxFrame; one above 65599 (the largest MRU plus headers) is
// lowered to it.
func NewDecoderSize(r io.Reader, maxFrame int) *Decoder {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxFrame
	}
	maxFrame = min(maxFrame, maxMaxFrame)
	return &Decoder{
		r:   r,
		raw: make([]byte, readBufSize),
		buf: make([]byte, maxFrame+fcsLen),
	}
}

// MaxFrame returns the longest frame, without its FCS, that d accepts.
func (d *Decoder) MaxFrame() int { return len(d.buf) - fcsLen }

// SetACCM sets the receive async control character map: an octet below
// 0x20 whose bit (1<<octet) is set is removed wherever it appears
// unescaped, because RFC 1662 section 4.2 treats it as inserted by the
// equipment in between. The default is 0, which keeps every octet.
//
// The default is not the 0xffffffff of RFC 1662 on purpose: once LCP opens,
// pppd sends unescaped control characters if the peer's ACCM allows them,
// and a relay that did not track the negotiation exactly would then delete
// real data. A pty inserts nothing, so removing nothing is always right.
func (d *Decoder) SetACCM(accm uint32) { d.accm.Store(accm) }

// ACCM returns the receive async control character map set by SetACCM.
func (d *Decoder) ACCM() uint32 { return d.accm.Load() }

// Stats returns the counts of frames decoded and dropped so far.
func (d *Decoder) Stats() Stats {
	return Stats{
		Frames:   d.counter.frames.Load(),
		BadFCS:   d.counter.badFCS.Load(),
		Aborted:  d.counter.aborted.Load(),
		TooLong:  d.counter.tooLong.Load(),
		TooShort: d.counter.tooShort.Load(),
	}
}

// ReadFrame returns the next intact frame, unescaped and without its FCS:
// address, control, protocol and information fields as the sender framed
// them. The frame is at least two octets long and at most MaxFrame. It
// aliases an internal buffer and is valid only until the next call.
//
// ReadFrame reads from the underlying reader only when the data already
// read holds no complete frame. At the end of the stream it returns io.EOF,
// or io.ErrUnexpectedEOF if the stream ended inside a frame; any other
// error of the reader is returned as it is, once the frames read before it
// have been returned. The error is returned again by every later call.
func (d *Decoder) ReadFrame() ([]byte, error) {
	for {
		if frame, ok := d.scan(); ok {
			return frame, nil
		}
		if d.err != nil {
			if d.err == io.EOF && (d.n > 0 || d.esc || d.toss) {
				d.err = io.ErrUnexpectedEOF
			}
			return nil, d.err
		}
		d.fill()
	}
}

// fill reads the next chunk of the stream into d.raw, or records why it
// could not.
func (d *Decoder) fill() {
	for range maxEmptyReads {
		n, err := d.r.Read(d.raw)
		if n < 0 || n > len(d.raw) {
			d.err = errBadRead
			return
		}
		d.pos, d.end = 0, n
		if err != nil {
			d.err = err
			return
		}
		if n > 0 {
			return
		}
	}
	d.err = io.ErrNoProgress
}

// scan decodes d.raw[d.pos:d.end] until it completes an intact frame,
// which it returns, or runs out of input, carrying the partial frame over
// to the next call.
func (d *Decoder) scan() ([]byte, bool) {
	// The loop keeps the state in locals so that the compiler can hold it
	// in registers; it is stored back when the loop exits.
	raw := d.raw[d.pos:d.end]
	f := newFinder(raw, d.accm.Load())
	buf := d.buf
	n, esc, toss := d.n, d.esc, d.toss
	for i := 0; i < len(raw); {
		if !esc && !toss {
			// Almost all of a frame is ordinary octets: find where the
			// run of them ends and copy it in one go.
			if j := f.next(i); j > i {
				if j-i > len(buf)-n {
					toss = true
					d.counter.tooLong.Add(1)
				} else {
					n += copy(buf[n:], raw[i:j])
				}
				i = j
				continue
			}
		}
		c := raw[i]
		i++
		if c == Flag {
			switch {
			case toss:
				// Counted as too long when the frame overflowed.
			case esc:
				d.counter.aborted.Add(1)
			case n == 0:
				// Two flags in a row: an empty frame, ignored.
			case n < minFrame:
				d.counter.tooShort.Add(1)
			case UpdateFCS16(InitFCS16, buf[:n]) != GoodFCS16:
				d.counter.badFCS.Add(1)
			default:
				d.pos += i
				d.n, d.esc, d.toss = 0, false, false
				d.counter.frames.Add(1)
				return buf[:n-fcsLen], true
			}
			// The flag that ends one frame begins the next.
			n, esc, toss = 0, false, false
			continue
		}
		if toss {
			continue
		}
		// RFC 1662 section 4.2: flagged control characters are removed
		// before anything else, even between an escape and the octet it
		// escapes.
		if c < 0x20 && f.special.has(c) {
			continue
		}
		if esc {
			c ^= escapeXOR
			esc = false
		} else if c == Escape {
			esc = true
			continue
		}
		if n >= len(buf) {
			toss = true
			d.counter.tooLong.Add(1)
			continue
		}
		buf[n] = c
		n++
	}
	d.pos = d.end
	d.n, d.esc, d.toss = n, esc, toss
	return nil, false
}

// A finder finds the octets of p that framing treats specially.
type finder struct {
	p       []byte
	special octetSet
	// fast is set when only the flag and the control escape are
	// special, as they are with an ACCM of 0 (the Decoder's default, and
	// what pppd usually negotiates). Then bytes.IndexByte finds them many
	// octets per instruction, and flag and esc remember where it found
	// them, so that each is searched for only once per occurrence.
	fast bool
	flag int // index of the next flag at or after the last search, or len(p)
	esc  int // index of the next control escape, likewise
}

// newFinder returns a finder over p for the given ACCM.
func newFinder(p []byte, accm uint32) finder {
	return finder{p: p, special: specialOctets(accm), fast: accm == 0, flag: -1, esc: -1}
}

// next returns the index of the first special octet of f.p at or after
// i, or len(f.p) if there is none. i must not decrease between calls.
func (f *finder) next(i int) int {
	if !f.fast {
		for i < len(f.p) && !f.special.has(f.p[i]) {
			i++
		}
		return i
	}
	if f.flag < i {
		f.flag = indexFrom(f.p, i, Flag)
	}
	if f.esc < i {
		f.esc = indexFrom(f.p, i, Escape)
	}
	return min(f.flag, f.esc)
}

// indexFrom returns the index of the first c in p at or after i, or len(p).
func indexFrom(p []byte, i int, c byte) int {
	if j := bytes.IndexByte(p[i:], c); j >= 0 {
		return i + j
	}
	return len(p)
}

// octetSet is a set of octets, one bit each.
type octetSet [4]uint64

// has reports whether c is in s.
func (s *octetSet) has(c byte) bool { return s[c>>6]>>(c&63)&1 != 0 }

// specialOctets returns the octets that framing treats specially with the
// given ACCM: the flag, the control escape and the control characters
// whose bit is set in accm, which the encoder escapes and the decoder
// removes when they arrive unescaped.
func specialOctets(accm uint32) octetSet {
	return octetSet{uint64(accm), 1<<(Flag-64) | 1<<(Escape-64), 0, 0}
}
