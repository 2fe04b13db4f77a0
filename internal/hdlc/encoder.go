package hdlc

import (
	"io"
	"slices"
	"sync/atomic"
)

// DefaultACCM is the async control character map that RFC 1662 requires
// until LCP negotiates another one: escape every octet below 0x20.
const DefaultACCM uint32 = 0xffffffff

// AppendFrame appends frame to dst as one HDLC-framed frame and returns the
// extended slice: an opening flag, the frame and its FCS-16 with 0x7e, 0x7d
// and every octet below 0x20 whose bit is set in accm escaped, and a
// closing flag. frame is the address, control, protocol and information
// fields as they are to be sent.
func AppendFrame(dst, frame []byte, accm uint32) []byte {
	// Every octet and the FCS may double, plus the two flags: growing once
	// up front keeps the appends below from reallocating.
	dst = slices.Grow(dst, 2*(len(frame)+fcsLen)+2)
	dst = append(dst, Flag)
	f := newFinder(frame, accm)
	for i := 0; i < len(frame); {
		// Append each run of octets that need no escaping in one go.
		j := f.next(i)
		dst = append(dst, frame[i:j]...)
		if j < len(frame) {
			dst = append(dst, Escape, frame[j]^escapeXOR)
			j++
		}
		i = j
	}
	fcs := ^UpdateFCS16(InitFCS16, frame)
	dst = appendOctet(dst, byte(fcs), &f.special) // least significant octet first
	dst = appendOctet(dst, byte(fcs>>8), &f.special)
	return append(dst, Flag)
}

// appendOctet appends c to dst, escaped if it is in special.
func appendOctet(dst []byte, c byte, special *octetSet) []byte {
	if special.has(c) {
		return append(dst, Escape, c^escapeXOR)
	}
	return append(dst, c)
}

// An Encoder writes HDLC-framed PPP frames to a byte stream, such as the
// input of pppd on its pty.
//
// Every frame gets its own opening flag, rather than sharing the previous
// closing flag, because RFC 1662 section 4.4.2 recommends one whenever the
// line may have been idle and a relay cannot know whether it was.
//
// An Encoder is not safe for concurrent use, except that SetACCM and ACCM
// may be called from any goroutine.
type Encoder struct {
	w    io.Writer
	buf  []byte // the encoded frame, reused from frame to frame
	accm atomic.Uint32
}

// NewEncoder returns an Encoder that writes to w with the ACCM set to
// DefaultACCM.
func NewEncoder(w io.Writer) *Encoder {
	e := &Encoder{
		w: w,
		// Room for a worst-case DefaultMaxFrame frame, so that a session
		// within the usual MRU never grows the buffer.
		buf: make([]byte, 0, 2*(DefaultMaxFrame+fcsLen)+2),
	}
	e.accm.Store(DefaultACCM)
	return e
}

// SetACCM sets the transmit async control character map: the octets below
// 0x20 whose bit (1<<octet) is set are escaped. It should be the ACCM that
// pppd asked for in its LCP Configure-Request once LCP is opened; keeping
// DefaultACCM is never wrong, since a receiver must accept every escape,
// and costs only bandwidth, which is what pptp-linux does.
func (e *Encoder) SetACCM(accm uint32) { e.accm.Store(accm) }

// ACCM returns the transmit async control character map.
func (e *Encoder) ACCM() uint32 { return e.accm.Load() }

// WriteFrame writes frame as one HDLC-framed frame in a single Write call,
// so that frames written by one Encoder never interleave on the stream.
// frame is the address, control, protocol and information fields; it is
// not retained. A write that is short without an error is reported as
// io.ErrShortWrite.
func (e *Encoder) WriteFrame(frame []byte) error {
	e.buf = AppendFrame(e.buf[:0], frame, e.accm.Load())
	n, err := e.w.Write(e.buf)
	if err == nil && n < len(e.buf) {
		err = io.ErrShortWrite
	}
	return err
}
