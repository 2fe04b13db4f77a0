package pptp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// EchoInterval is the idle time after which a control connection is probed
// with an Echo-Request, and the time the peer has to answer it (RFC 2637
// section 3.1: "If no control message is received for 60 seconds").
const EchoInterval = 60 * time.Second

// writeTimeout bounds a blocked write: a peer that stops reading must not
// hold a goroutine forever.
const writeTimeout = 10 * time.Second

// ErrEchoTimeout is returned by Conn.Read when the peer did not answer an
// Echo-Request in time.
var ErrEchoTimeout = errors.New("pptp: peer did not answer the control connection echo")

// Conn is a control connection: message framing over TCP plus the echo
// keepalive both ends run. Echo-Requests from the peer are answered and
// Echo-Replies consumed inside Read, so the owner only sees the messages
// that drive calls.
type Conn struct {
	nc     net.Conn
	r      *Reader
	wmu    sync.Mutex
	echo   time.Duration
	lastRx atomic.Int64 // unix nanoseconds of the last message received
	echoID atomic.Uint32
	// echoOut is the identifier of the unanswered Echo-Request we sent,
	// 0 when none is outstanding.
	echoOut  atomic.Uint32
	echoSent atomic.Int64
	timedOut atomic.Bool
}

// NewConn wraps nc. echo is the idle interval for keepalive (0 means
// EchoInterval); Keepalive must run for it to take effect.
func NewConn(nc net.Conn, echo time.Duration) *Conn {
	if echo <= 0 {
		echo = EchoInterval
	}
	c := &Conn{nc: nc, r: NewReader(nc), echo: echo}
	c.lastRx.Store(time.Now().UnixNano())
	return c
}

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr returns our address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Send writes one message.
func (c *Conn) Send(m Message) error {
	b := Marshal(m)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("send %v: %w", m.Type(), err)
	}
	return nil
}

// Read returns the next message that is not an echo. Errors that leave the
// stream in sync (an unknown message type, a wrong length for a known
// type) come back with a nil message and the Conn stays usable; check
// Recoverable.
func (c *Conn) Read() (Message, error) {
	for {
		m, _, err := c.r.ReadMessage()
		if err != nil {
			if c.timedOut.Load() {
				return nil, ErrEchoTimeout
			}
			return nil, err
		}
		c.lastRx.Store(time.Now().UnixNano())
		switch m := m.(type) {
		case *EchoRequest:
			if err := c.Send(&EchoReply{Identifier: m.Identifier, Result: EchoOK}); err != nil {
				return nil, err
			}
		case *EchoReply:
			c.echoOut.CompareAndSwap(m.Identifier, 0)
		default:
			return m, nil
		}
	}
}

// Recoverable reports whether a Read error left the stream in sync, so
// that reading may continue.
func Recoverable(err error) bool {
	if err == nil || errors.Is(err, ErrLostSync) {
		return false
	}
	var u *UnknownTypeError
	return errors.As(err, &u) || errors.Is(err, ErrBadLength) || errors.Is(err, ErrNotControl) || errors.Is(err, ErrReserved)
}

// SetReadDeadline bounds the next Read (the first message's stimeout).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// Keepalive sends an Echo-Request whenever nothing was received for the
// echo interval and closes the connection when one goes unanswered for
// another interval. It returns when ctx ends. StartKeepalive does the same
// without occupying the caller's goroutine.
func (c *Conn) Keepalive(ctx context.Context) {
	stop := c.StartKeepalive()
	<-ctx.Done()
	stop()
}

// StartKeepalive runs the echo keepalive of Keepalive on a timer, so that
// an idle connection costs no goroutine of its own (a server holds
// thousands), and returns the function that stops it. A check that is
// already running when stop is called may still send one Echo-Request;
// closing the connection ends it.
func (c *Conn) StartKeepalive() (stop func()) {
	k := &keepalive{c: c}
	k.mu.Lock()
	k.t = time.AfterFunc(c.echo, k.check)
	k.mu.Unlock()
	return func() {
		k.mu.Lock()
		k.stopped = true
		k.t.Stop()
		k.mu.Unlock()
	}
}

// keepalive is the state of one StartKeepalive.
type keepalive struct {
	c       *Conn
	mu      sync.Mutex // guards t and stopped
	t       *time.Timer
	stopped bool
}

// check runs when the connection may have been idle for the echo interval
// or an Echo-Request may have gone unanswered for as long; it acts on
// whichever is due and sets the timer for the next moment anything can be.
func (k *keepalive) check() {
	c := k.c
	now := time.Now()
	k.mu.Lock()
	if k.stopped {
		k.mu.Unlock()
		return
	}
	if c.echoOut.Load() != 0 {
		if wait := time.Unix(0, c.echoSent.Load()).Add(c.echo).Sub(now); wait > 0 {
			k.t.Reset(wait)
			k.mu.Unlock()
			return
		}
		k.stopped = true
		k.mu.Unlock()
		c.timedOut.Store(true)
		c.nc.Close()
		return
	}
	if wait := time.Unix(0, c.lastRx.Load()).Add(c.echo).Sub(now); wait > 0 {
		k.t.Reset(wait)
		k.mu.Unlock()
		return
	}
	id := c.echoID.Add(1)
	if id == 0 {
		id = c.echoID.Add(1)
	}
	c.echoSent.Store(now.UnixNano())
	c.echoOut.Store(id)
	// The reply is due within one interval; the timer is set before the
	// request leaves so that a quick answer cannot be missed, and the send
	// happens outside the lock so that stop never waits for a slow peer.
	k.t.Reset(c.echo)
	k.mu.Unlock()
	if c.Send(&EchoRequest{Identifier: id}) != nil {
		k.mu.Lock()
		k.stopped = true
		k.t.Stop()
		k.mu.Unlock()
	}
}

// Close closes the TCP connection.
func (c *Conn) Close() error { return c.nc.Close() }
