package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gopptp/gopptp/datapath"
	"github.com/gopptp/gopptp/internal/hdlc"
	"github.com/gopptp/gopptp/pptp"
)

// PtyConfig configures RunPty, the mode pptp-linux calls --nolaunchpppd:
// pppd runs PPP itself and uses us as its pty, and we only carry its
// frames between that pty and a PPTP call.
type PtyConfig struct {
	// Server is the server's host name or IPv4 address, with an optional
	// ":port".
	Server string
	// LocalAddr and LocalPort bind the control connection (and, for the
	// address, the GRE socket): pptp-linux's --localbind and --localport.
	// Zero values let the kernel choose.
	LocalAddr netip.Addr
	LocalPort int
	// Phone is the Phone Number of the Outgoing-Call-Request (--phone),
	// which some servers use to pick a profile.
	Phone string
	// Sync is pptp-linux's --sync: pppd runs with "sync", so every read
	// of In is one frame and every write to Out must be one, with no
	// HDLC framing. Otherwise the stream is RFC 1662 asynchronous HDLC.
	Sync bool
	// ReorderTimeout is how long out-of-order GRE packets wait for a
	// missing one (--timeout); 0 means datapath.DefaultReorderTimeout.
	ReorderTimeout time.Duration
	// EchoInterval is the control connection's idle time before an
	// Echo-Request (--idle-wait); 0 means pptp.EchoInterval.
	EchoInterval time.Duration
	// ConnectTimeout bounds reaching the server and placing the call
	// (default 15 s).
	ConnectTimeout time.Duration
	// In and Out are pppd's side: our standard input and output. Reads
	// of In are interrupted at the end if it has SetReadDeadline (an
	// *os.File in non-blocking mode); otherwise the reading goroutine is
	// left to the end of the process.
	In  io.Reader
	Out io.Writer
	Log *slog.Logger
}

// RunPty opens the control connection, places a call and relays PPP
// frames between pppd (cfg.In, cfg.Out) and the call's GRE until pppd
// hangs up (In ends), ctx ends (a signal) or the server ends the call. It
// negotiates nothing: pppd does LCP, authentication, CCP/MPPE and IPCP
// through the tunnel. Frames pass untouched both ways, address and control
// fields included, as pptp-linux passes them.
//
// When we end the call (pppd hung up, ctx ended) it is cleared politely:
// Call-Clear-Request, then Stop-Control-Connection-Request, and RunPty
// returns nil. When the server ends it, or cannot be reached, the error
// is an *Error with pppd's exit code. Every socket is created before
// RunPty starts a goroutine, so a caller that entered a network namespace
// on its thread keeps them there.
func RunPty(ctx context.Context, cfg PtyConfig) error {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 15 * time.Second
	}
	// A local address to bind to decides the family of the server's.
	network := "ip"
	if cfg.LocalAddr.IsValid() {
		network = map[bool]string{false: "ip6", true: "ip4"}[cfg.LocalAddr.Unmap().Is4()]
	}
	srv, err := resolve(ctx, cfg.Server, network)
	if err != nil {
		return fail(ExitConnectFailed, "server unreachable: %v", err)
	}
	log := cfg.Log.With("server", srv.Addr().String())
	// The helpers shared with the normal mode need only these.
	c := &Client{cfg: Config{ConnectTimeout: cfg.ConnectTimeout}, log: log}

	d := net.Dialer{Timeout: cfg.ConnectTimeout}
	if cfg.LocalAddr.IsValid() || cfg.LocalPort != 0 {
		d.LocalAddr = &net.TCPAddr{IP: cfg.LocalAddr.AsSlice(), Port: cfg.LocalPort}
	}
	log.Debug("connecting")
	nc, err := d.DialContext(ctx, "tcp", srv.String())
	if err != nil {
		if ctx.Err() != nil {
			return fail(ExitUserRequest, "interrupted while connecting")
		}
		return fail(ExitConnectFailed, "server unreachable: %v", err)
	}
	conn := pptp.NewConn(nc, cfg.EchoInterval)
	defer conn.Close()
	if err := c.startControl(conn); err != nil {
		return err
	}
	var b [2]byte
	rand.Read(b[:])
	callID := binary.BigEndian.Uint16(b[:]) | 1

	// GRE must be received from the moment we ask for the call: the
	// server's pppd starts LCP as soon as it answers.
	localAP, _ := netip.ParseAddrPort(nc.LocalAddr().String())
	gs, err := datapath.ListenGRE(localAP.Addr().Unmap(), srv.Addr())
	if err != nil {
		return fail(ExitFatal, "%v", err)
	}
	engine := datapath.NewEngine(datapath.Config{GRE: []*datapath.GRESocket{gs}, ReorderTimeout: cfg.ReorderTimeout, Log: log})
	ectx, ecancel := context.WithCancel(context.Background())
	engineDone := make(chan error, 1)
	go func() { engineDone <- engine.Run(ectx) }()
	defer func() {
		ecancel()
		<-engineDone
	}()
	r := newRelay(cfg.In, cfg.Out, cfg.Sync, log)
	dp, err := engine.AddCall(datapath.CallConfig{LocalID: callID, PeerUnknown: true, Peer: srv.Addr(), Raw: r.fromTunnel})
	if err != nil {
		return fail(ExitFatal, "%v", err)
	}
	defer engine.RemoveCall(dp)
	peerCallID, peerWindow, err := c.placeCall(conn, callID, cfg.Phone)
	if err != nil {
		return err
	}
	dp.SetPeerCall(peerCallID, peerWindow)
	log.Info("call placed", "call", callID, "peer_call", peerCallID, "peer_window", peerWindow)

	ctrl, ctrlErr, stopControl := watchControl(conn)
	defer stopControl()
	pppdGone := r.start(dp)
	defer r.stop()

	var runErr error
	polite := true
loop:
	for {
		select {
		case <-ctx.Done():
			log.Info("terminating on signal")
			break loop
		case err := <-pppdGone:
			if err != nil {
				log.Warn("pppd side failed", "err", err)
			} else {
				log.Info("pppd hung up")
			}
			break loop
		case m := <-ctrl:
			switch m := m.(type) {
			case *pptp.CallDisconnectNotify:
				runErr = fail(ExitHangup, "server disconnected the call (%v)", m.Result)
				// The control connection stays usable: close it
				// politely below, without a Call-Clear-Request.
				if conn.Send(&pptp.StopCtrlConnRequest{Reason: pptp.StopNone}) == nil {
					awaitStopReply(ctrl, ctrlErr)
				}
				polite = false
				break loop
			case *pptp.StopCtrlConnRequest:
				conn.Send(&pptp.StopCtrlConnReply{Result: pptp.StopOK})
				runErr = fail(ExitHangup, "server closed the control connection (%v)", m.Reason)
				polite = false
				break loop
			case *pptp.SetLinkInfo:
				// pppd learns the ACCMs from LCP itself; the
				// server's view changes nothing here.
			default:
				log.Debug("ignoring control message", "type", m.Type())
			}
		case err := <-ctrlErr:
			polite = false
			if errors.Is(err, pptp.ErrEchoTimeout) {
				runErr = fail(ExitPeerDead, "server stopped answering on the control connection")
			} else {
				runErr = fail(ExitHangup, "control connection lost: %v", err)
			}
			break loop
		}
	}
	if polite {
		c.clearCall(conn, callID, ctrl, ctrlErr, log)
	}
	st := r.stats()
	log.Debug("relay finished", "to_server", dp.Stats.TxPackets.Load(), "from_server", dp.Stats.RxPackets.Load(),
		"dropped_to_pppd", st.dropped, "bad_from_pppd", st.bad, "lost", dp.Stats.Lost.Load())
	if runErr != nil {
		log.Info("call ended by the server", "reason", runErr)
	} else {
		log.Info("call cleared")
	}
	return runErr
}

// awaitStopReply waits briefly for the server's Stop-Control-Connection-
// Reply.
func awaitStopReply(msgs <-chan pptp.Message, errs <-chan error) {
	timeout := time.After(2 * time.Second)
	for {
		select {
		case m := <-msgs:
			if m.Type() == pptp.TypeStopCtrlConnReply {
				return
			}
		case <-errs:
			queued(msgs, pptp.TypeStopCtrlConnReply)
			return
		case <-timeout:
			return
		}
	}
}

// relayQueue is how many frames from the server may wait for pppd to read
// its pty. PPP copes with loss, so when pppd falls that far behind, frames
// are dropped rather than stalling the engine's receive path, which
// serves acknowledgements too.
const relayQueue = 128

// relayFrame bounds a frame either way: what the GRE receive path can
// hold, and what a Decoder accepts from pppd.
const relayFrame = hdlc.DefaultMaxFrame

// relay moves frames between pppd's byte stream and a raw call.
type relay struct {
	in   io.Reader
	out  io.Writer
	sync bool
	log  *slog.Logger

	// Frames from the server wait in rx, in buffers taken from free, so
	// that the receive path allocates nothing.
	rx   chan []byte
	free chan []byte
	done chan struct{}

	wg       sync.WaitGroup
	stopOnce sync.Once
	dropped  atomic.Uint64 // frames from the server pppd had no room for
	bad      atomic.Uint64 // frames from pppd the call refused
	dec      *hdlc.Decoder // nil in sync mode; set before start
}

func newRelay(in io.Reader, out io.Writer, syncPPP bool, log *slog.Logger) *relay {
	r := &relay{in: in, out: out, sync: syncPPP, log: log,
		rx: make(chan []byte, relayQueue), free: make(chan []byte, relayQueue), done: make(chan struct{})}
	for range relayQueue {
		r.free <- make([]byte, 0, relayFrame)
	}
	if !syncPPP {
		// Receive ACCM 0: a pty inserts no control characters, so none
		// is removed, and nothing depends on following LCP's ACCM
		// negotiation (see hdlc.Decoder.SetACCM).
		r.dec = hdlc.NewDecoderSize(in, relayFrame)
	}
	return r
}

// frameSender is what the relay sends pppd's frames with: a raw
// datapath.Call.
type frameSender interface {
	SendFrame(frame []byte) error
}

// fromTunnel takes one frame from the call (engine receive goroutine; it
// must not block).
func (r *relay) fromTunnel(frame []byte) {
	if len(frame) > relayFrame {
		r.dropped.Add(1)
		return
	}
	select {
	case b := <-r.free:
		r.rx <- append(b[:0], frame...) // cannot block: rx holds every buffer
	default:
		r.dropped.Add(1)
	}
}

// start runs the two directions; the channel receives the reason pppd's
// side ended (nil for a hang-up: the end of the stream, EIO or EPIPE).
func (r *relay) start(call frameSender) <-chan error {
	gone := make(chan error, 2)
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		gone <- r.toTunnel(call)
	}()
	go func() {
		defer r.wg.Done()
		err := r.toPppd()
		select {
		case <-r.done: // stopped, not gone
		default:
			gone <- err
		}
	}()
	return gone
}

// stop ends both directions: the writer at once, the reader by a read
// deadline where In allows one. It waits for the reader only then.
func (r *relay) stop() {
	r.stopOnce.Do(func() {
		close(r.done)
		if d, ok := r.in.(interface{ SetReadDeadline(time.Time) error }); ok && d.SetReadDeadline(time.Now()) == nil {
			r.wg.Wait()
		}
	})
}

type relayStats struct{ dropped, bad uint64 }

func (r *relay) stats() relayStats {
	s := relayStats{dropped: r.dropped.Load(), bad: r.bad.Load()}
	if r.dec != nil {
		st := r.dec.Stats()
		s.bad += st.BadFCS + st.Aborted + st.TooLong + st.TooShort
	}
	return s
}

// toTunnel reads pppd's frames and sends them on the call until the
// stream ends.
func (r *relay) toTunnel(call frameSender) error {
	next := r.syncFrames()
	if r.dec != nil {
		next = r.dec.ReadFrame
	}
	for {
		frame, err := next()
		if err != nil {
			return hungUp(err)
		}
		if len(frame) == 0 {
			continue
		}
		if err := call.SendFrame(frame); err != nil {
			if errors.Is(err, datapath.ErrNotUp) {
				return nil
			}
			r.bad.Add(1)
			r.log.Debug("frame from pppd not sent", "len", len(frame), "err", err)
		}
	}
}

// syncFrames reads one frame per read, as pppd's sync mode (the N_HDLC
// line discipline) writes them.
func (r *relay) syncFrames() func() ([]byte, error) {
	buf := make([]byte, relayFrame)
	return func() ([]byte, error) {
		// A reader that keeps returning nothing must not spin us.
		for range 100 {
			n, err := r.in.Read(buf)
			if n > 0 {
				return buf[:n], nil
			}
			if err != nil {
				return nil, err
			}
		}
		return nil, io.ErrNoProgress
	}
}

// hungUp tells a hang-up (nil) from a failure: pppd closing its end of the
// pty shows as the end of the stream, or EIO, and our own read deadline
// at the end as a timeout.
func hungUp(err error) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.EIO),
		errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, os.ErrClosed), errors.Is(err, io.ErrClosedPipe):
		return nil
	}
	return err
}

// toPppd writes the server's frames to pppd, HDLC-framed unless in sync
// mode, until the relay stops or pppd's side fails.
func (r *relay) toPppd() error {
	// Transmit ACCM: every control character escaped, whatever LCP
	// agreed. Always correct (a receiver must accept any escape) and
	// what pptp-linux does; it costs a few bytes on a local pty.
	enc := hdlc.NewEncoder(r.out)
	for {
		select {
		case <-r.done:
			return nil
		case f := <-r.rx:
			var err error
			if r.sync {
				_, err = r.out.Write(f)
			} else {
				err = enc.WriteFrame(f)
			}
			r.free <- f
			if err != nil {
				if hungUp(err) == nil || errors.Is(err, syscall.EPIPE) {
					return nil
				}
				return fmt.Errorf("writing to pppd: %w", err)
			}
		}
	}
}
