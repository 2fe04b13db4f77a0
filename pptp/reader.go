package pptp

import (
	"errors"
	"fmt"
	"io"
	"sync"
)

// Reader reads control messages off a byte stream, normally the TCP
// control connection. It is not safe for concurrent use.
type Reader struct {
	r   io.Reader
	err error // sticky: once the stream is out of sync, it stays so

	// hdr receives the Length field. The rest of a message goes into a
	// buffer taken from bufs once the Length has arrived, and kept only
	// until the next call (raw points into it): a connection waiting for
	// its next message, which is what a server's thousands of idle ones
	// do, holds no buffer.
	hdr [2]byte
	buf *[MaxMessageLen]byte
}

// bufs are the message buffers of all Readers.
var bufs = sync.Pool{New: func() any { return new([MaxMessageLen]byte) }}

// NewReader returns a Reader that reads messages from r. It makes two Read
// calls per message (the length, then the rest) and never reads beyond the
// message it returns.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r}
}

// ReadMessage reads the next message. raw holds its bytes and is valid only
// until the next call; the Message does not refer to it.
//
// Errors come in two kinds:
//
//   - The message was read whole but does not parse: an *UnknownTypeError,
//     or an error wrapping ErrBadLength (a known type with the wrong fixed
//     length), ErrNotControl or ErrReserved. The stream is still in sync;
//     raw is the offending message and the caller may carry on reading.
//   - The stream is lost: an error wrapping ErrLostSync (a Length below
//     the header size or above MaxMessageLen, which is never read past, or
//     a bad Magic Cookie), io.EOF at a message boundary,
//     io.ErrUnexpectedEOF inside a message, or an error of the underlying
//     reader. Every later call returns the same error.
func (r *Reader) ReadMessage() (m Message, raw []byte, err error) {
	if r.buf != nil {
		bufs.Put(r.buf)
		r.buf = nil
	}
	if r.err != nil {
		return nil, nil, r.err
	}
	if _, err := io.ReadFull(r.r, r.hdr[:]); err != nil {
		// io.EOF with nothing read is the clean end of the stream.
		return nil, nil, r.fail(err)
	}
	n := int(be.Uint16(r.hdr[:]))
	// Rejecting short lengths before reading anything else is what keeps
	// a zero Length from turning into an endless loop of empty reads.
	if n < HeaderLen || n > MaxMessageLen {
		return nil, nil, r.fail(fmt.Errorf("%w %d (want %d to %d); %w",
			ErrBadLength, n, HeaderLen, MaxMessageLen, ErrLostSync))
	}
	r.buf = bufs.Get().(*[MaxMessageLen]byte)
	copy(r.buf[:2], r.hdr[:])
	if _, err := io.ReadFull(r.r, r.buf[2:n]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, nil, r.fail(err)
	}
	raw = r.buf[:n]
	m, err = Parse(raw)
	if errors.Is(err, ErrBadCookie) {
		// The length was plausible but the cookie says this is not a
		// message boundary; the RFC forbids hunting for the next one.
		return nil, raw, r.fail(fmt.Errorf("%w; %w", err, ErrLostSync))
	}
	return m, raw, err
}

// fail records err as the permanent state of the stream.
func (r *Reader) fail(err error) error {
	r.err = err
	return err
}
