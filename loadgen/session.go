package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gopptp/gopptp/datapath"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/pptp"
	"github.com/gopptp/gopptp/session"
)

// recvWindow is the Packet Recv. Window Size we announce, the pptp
// client's.
const recvWindow = 16384

// sess is one generated session: what client.Client.attempt does, without
// the interface.
type sess struct {
	g    *gen
	i    int
	eng  *engine
	user User

	id       uint16 // our Call ID, 0 until allocated
	nc       net.Conn
	conn     *pptp.Conn
	dp       *datapath.Call
	ps       *session.Session
	sessDone chan error
	scancel  context.CancelFunc
	kcancel  context.CancelFunc
	ctrl     chan pptp.Message
	ctrlErr  chan error
	upc      chan session.Info

	// quiet tells the run the session has stopped pinging (hold over).
	quiet func()

	authFailed atomic.Bool
	ended      bool // sessDone was received

	// Pings. addrs is set once the session is up: the receive path reads
	// it to check replies.
	addrs   atomic.Pointer[[2][4]byte] // local, peer
	pmu     sync.Mutex
	pending []pendingPing
	seq     uint16
	replied chan struct{}
	buf     []byte
}

type pendingPing struct {
	seq      uint16
	deadline time.Time
}

// errTimeout and errInterrupted end setups cut short.
var (
	errTimeout     = errors.New("setup timed out")
	errInterrupted = errors.New("interrupted")
)

// setup runs a session up to the network phase. It returns "" when the
// session is up, else the failure reason (a short fixed text, the key of
// the failure counts) and the error behind it.
func (s *sess) setup(start time.Time) (string, error) {
	g := s.g
	ctx, cancel := context.WithDeadline(g.ctx, start.Add(g.cfg.SetupTimeout))
	defer cancel()
	why := func() (string, error) {
		if g.ctx.Err() != nil {
			return "interrupted", errInterrupted
		}
		return "setup timed out", errTimeout
	}

	src := s.eng.src
	err := g.enter(func() error {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
		var err error
		s.nc, err = d.DialContext(ctx, "tcp4", g.cfg.Server.String())
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return why()
		}
		return "connect failed: " + errnoText(err), err
	}
	// Until the session is up, an expired setup or an interrupt closes
	// the connection, which ends every wait below.
	stopClose := context.AfterFunc(ctx, func() { s.nc.Close() })
	defer stopClose()
	s.conn = pptp.NewConn(s.nc, 0)

	if err := s.conn.Send(&pptp.StartCtrlConnRequest{ProtocolVersion: pptp.ProtocolVersion,
		FramingCaps: pptp.FramingAny, BearerCaps: pptp.BearerAny, FirmwareRevision: 1,
		HostName: "pptp-load", VendorName: "gopptp"}); err != nil {
		if ctx.Err() != nil {
			return why()
		}
		return "control connection lost", err
	}
	m, reason, err := s.await(ctx, pptp.TypeStartCtrlConnReply)
	if reason != "" {
		if ctx.Err() != nil {
			return why()
		}
		return reason, err
	}
	if r := m.(*pptp.StartCtrlConnReply); r.Result != pptp.StartSuccess {
		return fmt.Sprintf("control connection refused (%v)", r.Result), fmt.Errorf("Start-Control-Connection-Reply: %v (%v)", r.Result, r.ErrorCode)
	}

	id, ok := s.eng.ids.get()
	if !ok {
		return "no free call ID", fmt.Errorf("all call IDs of source %v in use", src)
	}
	s.id = id
	s.replied = make(chan struct{}, 1)
	s.dp, err = s.eng.e.AddCall(datapath.CallConfig{LocalID: id, PeerUnknown: true, Peer: g.cfg.Server.Addr(), DeliverIP: s.deliver})
	if err != nil {
		s.eng.ids.put(id)
		s.id = 0
		return "no free call ID", err
	}
	log := g.log
	if g.cfg.Log != nil {
		log = log.With("session", s.i, "call", id)
	}
	scfg := session.Config{
		Role: session.Client, MRU: g.mru, EchoInterval: g.cfg.EchoInterval, EchoFailure: g.cfg.EchoFailure,
		Accept: []ppp.AuthMethod{ppp.AuthMSCHAPv2}, User: s.user.Name, Password: s.user.Password,
		MPPE: g.cfg.MPPE, Log: log,
		// Our own deadline comes first and says why.
		SetupTimeout: time.Until(start.Add(g.cfg.SetupTimeout)) + 5*time.Second,
	}
	s.upc = make(chan session.Info, 1)
	s.ps = session.New(scfg, s.dp, session.Hooks{
		Up: func(i session.Info) {
			select {
			case s.upc <- i:
			default:
			}
		},
		AuthFailed: func(string, ppp.AuthMethod, string) { s.authFailed.Store(true) },
	})
	// Registered and attached before the call is asked for: the server
	// starts LCP the moment it answers.
	s.dp.Attach(s.ps)

	if err := s.conn.Send(&pptp.OutgoingCallRequest{CallID: id, CallSerialNumber: uint16(s.i + 1),
		MinBPS: 2400, MaxBPS: 1_000_000_000, BearerType: pptp.BearerAny, FramingType: pptp.FramingAny,
		RecvWindowSize: recvWindow}); err != nil {
		if ctx.Err() != nil {
			return why()
		}
		return "control connection lost", err
	}
	m, reason, err = s.await(ctx, pptp.TypeOutgoingCallReply)
	if reason != "" {
		if ctx.Err() != nil {
			return why()
		}
		return reason, err
	}
	r := m.(*pptp.OutgoingCallReply)
	if r.Result != pptp.OutgoingConnected {
		return fmt.Sprintf("call refused (%v)", r.Result), fmt.Errorf("Outgoing-Call-Reply: %v (%v)", r.Result, r.ErrorCode)
	}
	if r.PeerCallID != id {
		return "call refused (wrong call ID)", fmt.Errorf("server answered call %d, we placed call %d", r.PeerCallID, id)
	}
	s.dp.SetPeerCall(r.CallID, r.RecvWindowSize)

	sctx, scancel := context.WithCancel(context.Background())
	s.scancel = scancel
	s.sessDone = make(chan error, 1)
	go func() { s.sessDone <- s.ps.Run(sctx) }()
	kctx, kcancel := context.WithCancel(context.Background())
	s.kcancel = kcancel
	go s.conn.Keepalive(kctx)
	s.ctrl = make(chan pptp.Message, 4)
	s.ctrlErr = make(chan error, 1)
	go s.readControl(kctx)

	for {
		select {
		case info := <-s.upc:
			if !stopClose() {
				return why() // the deadline passed as the session came up
			}
			if !info.Local.Is4() || !info.Peer.Is4() {
				return "negotiation failed", fmt.Errorf("IPCP gave no IPv4 addresses (%v, %v)", info.Local, info.Peer)
			}
			s.addrs.Store(&[2][4]byte{info.Local.As4(), info.Peer.As4()})
			return "", nil
		case err := <-s.sessDone:
			s.ended = true
			if ctx.Err() != nil {
				return why()
			}
			return s.sessionFailure(err)
		case m := <-s.ctrl:
			switch m := m.(type) {
			case *pptp.CallDisconnectNotify:
				return s.hangupBy(fmt.Sprintf("server disconnected the call (%v)", m.Result))
			case *pptp.StopCtrlConnRequest:
				s.conn.Send(&pptp.StopCtrlConnReply{Result: pptp.StopOK})
				return s.hangupBy(fmt.Sprintf("server closed the control connection (%v)", m.Reason))
			}
		case err := <-s.ctrlErr:
			if ctx.Err() != nil {
				return why()
			}
			return s.hangupBy("control connection lost: " + errnoText(err))
		case <-ctx.Done():
			return why()
		}
	}
}

// await reads until a message of type t arrives (before the reader
// goroutine runs). A failure comes back as a reason and an error.
func (s *sess) await(ctx context.Context, t pptp.MessageType) (pptp.Message, string, error) {
	for {
		m, err := s.conn.Read()
		if err != nil {
			if pptp.Recoverable(err) {
				continue
			}
			if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
				return nil, fmt.Sprintf("control connection closed by the server before %v", t.Name()), err
			}
			return nil, "control connection lost: " + errnoText(err), err
		}
		if m.Type() == t {
			return m, "", nil
		}
		if st, ok := m.(*pptp.StopCtrlConnRequest); ok {
			s.conn.Send(&pptp.StopCtrlConnReply{Result: pptp.StopOK})
			return nil, fmt.Sprintf("control connection stopped by the server before %v", t.Name()), fmt.Errorf("Stop-Control-Connection-Request: %v", st.Reason)
		}
	}
}

// readControl is the control connection's one reader once the call is
// placed.
func (s *sess) readControl(ctx context.Context) {
	for {
		m, err := s.conn.Read()
		if err != nil {
			if pptp.Recoverable(err) {
				continue
			}
			s.ctrlErr <- err
			return
		}
		select {
		case s.ctrl <- m:
		case <-ctx.Done():
			return
		}
	}
}

// sessionFailure names why a session ended before it was up.
func (s *sess) sessionFailure(err error) (string, error) {
	switch {
	case err == nil:
		return s.peerEnded()
	case s.authFailed.Load() || errors.Is(err, session.ErrAuthFailed):
		return "authentication failed", err
	case errors.Is(err, session.ErrMPPE):
		return "encryption refused", err
	case errors.Is(err, session.ErrPeerDead):
		return "peer not responding", err
	case s.dp.Stats.RxControl.Load() == 0 && s.dp.Stats.RxPackets.Load() == 0:
		return "GRE blocked", err
	}
	return "negotiation failed", err
}

// hangupBy ends a setup the server hung up on. The server usually hangs
// up because PPP failed (a wrong password), which the session knows
// better than the bare disconnect: it gets a moment to finish, and its
// verdict wins.
func (s *sess) hangupBy(why string) (string, error) {
	var err error
	select {
	case err = <-s.sessDone:
	case <-time.After(time.Second):
		s.scancel()
		err = <-s.sessDone
	}
	s.ended = true
	if err != nil && !errors.Is(err, context.Canceled) {
		return s.sessionFailure(err)
	}
	if s.authFailed.Load() {
		return "authentication failed", errors.New(why)
	}
	if reason, err := s.peerEnded(); reason != "server terminated the link" {
		return reason, err
	}
	return "hung up by the server", fmt.Errorf("%s; %s", why, s.ps.EndReason())
}

// peerEnded names a setup the server ended with an LCP Terminate-Request,
// by what the request said: a server that requires MPPE we do not offer
// says so there (pptpd and pppd: "MPPE required but peer refused").
func (s *sess) peerEnded() (string, error) {
	why := s.ps.EndReason()
	if strings.Contains(why, "MPPE") || strings.Contains(strings.ToLower(why), "encryption") {
		return "encryption refused", errors.New(why)
	}
	return "server terminated the link", fmt.Errorf("link terminated during setup: %s", why)
}

// hold keeps an established session up, pinging, until the run's hold is
// over; then it tears the session down. It returns a reason when the
// session was lost first.
func (s *sess) hold() (string, error) {
	g := s.g
	// The first ping goes out half to one interval after the session
	// came up: the server's end of IPCP opens a moment after ours (it
	// must receive our last Configure-Ack), and IP that reaches it before
	// is dropped, as it would be from any client; the spread also keeps
	// the sessions from pinging in step.
	var first, tick <-chan time.Time
	if g.cfg.Ping > 0 {
		s.buf = make([]byte, datapath.Headroom+PingLen)
		d := g.cfg.Ping/2 + rand.N(g.cfg.Ping/2+1)
		ft := time.NewTimer(d)
		defer ft.Stop()
		first = ft.C
	}
	var ticker *time.Ticker
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	for {
		select {
		case <-g.stop:
			s.finishPings()
			s.quiet()
			return s.waitTeardown()
		case <-first:
			ticker = time.NewTicker(g.cfg.Ping)
			tick = ticker.C
			s.sendPing()
		case now := <-tick:
			s.sweepPings(now)
			s.sendPing()
		case err := <-s.sessDone:
			s.ended = true
			return lostReason(s, err)
		case m := <-s.ctrl:
			if reason, err := lostByControl(s, m); reason != "" {
				return reason, err
			}
		case err := <-s.ctrlErr:
			return lostByControlError(err)
		}
	}
}

// waitTeardown waits, once the session is quiet, for the run to start
// the teardown, watching for the session being lost meanwhile.
func (s *sess) waitTeardown() (string, error) {
	for {
		select {
		case <-s.g.teardown:
			s.teardown()
			return "", nil
		case err := <-s.sessDone:
			s.ended = true
			return lostReason(s, err)
		case m := <-s.ctrl:
			if reason, err := lostByControl(s, m); reason != "" {
				return reason, err
			}
		case err := <-s.ctrlErr:
			return lostByControlError(err)
		}
	}
}

// lostReason names why an established session ended.
func lostReason(s *sess, err error) (string, error) {
	switch {
	case err == nil:
		return "server terminated the link", errors.New(s.ps.EndReason())
	case errors.Is(err, session.ErrPeerDead):
		return "LCP echo unanswered", err
	}
	return "link ended", err
}

// lostByControl names why a control message ends an established session
// ("" for messages that do not).
func lostByControl(s *sess, m pptp.Message) (string, error) {
	switch m := m.(type) {
	case *pptp.CallDisconnectNotify:
		return "server disconnected the call", fmt.Errorf("Call-Disconnect-Notify: %v %s", m.Result, m.CallStatistics)
	case *pptp.StopCtrlConnRequest:
		s.conn.Send(&pptp.StopCtrlConnReply{Result: pptp.StopOK})
		return "server closed the control connection", fmt.Errorf("Stop-Control-Connection-Request: %v", m.Reason)
	}
	return "", nil
}

func lostByControlError(err error) (string, error) {
	if errors.Is(err, pptp.ErrEchoTimeout) {
		return "control connection echo unanswered", err
	}
	return "control connection lost", err
}

// teardown ends an established session as the pptp client does on
// SIGTERM: LCP Terminate, then Call-Clear-Request and
// Stop-Control-Connection-Request, each waiting briefly for the answer.
func (s *sess) teardown() {
	s.ps.Close("User request")
	select {
	case <-s.sessDone:
	case <-time.After(4 * time.Second):
		s.scancel()
		<-s.sessDone
	}
	s.ended = true
	await := func(want pptp.MessageType) bool {
		timeout := time.NewTimer(2 * time.Second)
		defer timeout.Stop()
		for {
			select {
			case m := <-s.ctrl:
				if m.Type() == want {
					return true
				}
				if _, ok := m.(*pptp.StopCtrlConnRequest); ok {
					s.conn.Send(&pptp.StopCtrlConnReply{Result: pptp.StopOK})
					return false
				}
			case <-s.ctrlErr:
				return false
			case <-timeout.C:
				return want == pptp.TypeCallDisconnectNotify // go on to Stop anyway
			}
		}
	}
	if s.conn.Send(&pptp.CallClearRequest{CallID: s.id}) != nil || !await(pptp.TypeCallDisconnectNotify) {
		return
	}
	if s.conn.Send(&pptp.StopCtrlConnRequest{Reason: pptp.StopNone}) != nil {
		return
	}
	await(pptp.TypeStopCtrlConnReply)
}

// cleanup releases whatever the session still holds.
func (s *sess) cleanup() {
	if s.sessDone != nil && !s.ended {
		s.scancel()
		<-s.sessDone
	}
	if s.scancel != nil {
		s.scancel()
	}
	if s.kcancel != nil {
		s.kcancel()
	}
	if s.nc != nil {
		s.nc.Close()
	}
	if s.dp != nil {
		s.eng.e.RemoveCall(s.dp)
	}
	if s.id != 0 {
		s.eng.ids.put(s.id)
	}
	// Requests still unanswered are lost (a session lost while pinging).
	s.pmu.Lock()
	n := len(s.pending)
	s.pending = nil
	s.pmu.Unlock()
	s.g.pingsLost.Add(uint64(n))
}

// sendPing sends the next echo request.
func (s *sess) sendPing() {
	a := s.addrs.Load()
	s.pmu.Lock()
	s.seq++
	seq := s.seq
	s.pending = append(s.pending, pendingPing{seq: seq, deadline: time.Now().Add(s.g.cfg.PingTimeout)})
	s.pmu.Unlock()
	pkt := BuildEcho(s.buf[datapath.Headroom:], netip.AddrFrom4(a[0]), netip.AddrFrom4(a[1]), s.id, seq)
	s.g.pingsSent.Add(1)
	// A refusal (the network phase ended) shows as a lost ping and, more
	// to the point, as a lost session.
	s.dp.SendIP(s.buf[:datapath.Headroom+len(pkt)])
}

// sweepPings counts the requests unanswered past their deadline as lost.
func (s *sess) sweepPings(now time.Time) {
	s.pmu.Lock()
	kept := s.pending[:0]
	lost := 0
	for _, p := range s.pending {
		if now.After(p.deadline) {
			lost++
		} else {
			kept = append(kept, p)
		}
	}
	s.pending = kept
	s.pmu.Unlock()
	s.g.pingsLost.Add(uint64(lost))
}

// finishPings waits for the replies still due, until their deadlines.
func (s *sess) finishPings() {
	for {
		s.pmu.Lock()
		n := len(s.pending)
		var last time.Time
		if n > 0 {
			last = s.pending[n-1].deadline
		}
		s.pmu.Unlock()
		if n == 0 {
			return
		}
		d := time.Until(last)
		if d <= 0 {
			s.sweepPings(time.Now().Add(time.Nanosecond))
			return
		}
		t := time.NewTimer(d)
		select {
		case <-s.replied:
		case <-t.C:
		}
		t.Stop()
	}
}

// deliver takes an IP packet the call received (on the engine's receive
// goroutine: it must not block or keep pkt).
func (s *sess) deliver(pkt []byte) {
	a := s.addrs.Load()
	if a == nil {
		s.g.unexpected.Add(1)
		return
	}
	seq, err := CheckEchoReply(pkt, netip.AddrFrom4(a[0]), netip.AddrFrom4(a[1]), s.id)
	switch {
	case err == nil:
	case errors.Is(err, ErrNotICMP), errors.Is(err, ErrNotEchoReply), errors.Is(err, ErrWrongID),
		errors.Is(err, ErrAddresses), errors.Is(err, ErrFragment):
		s.g.unexpected.Add(1)
		return
	default:
		s.g.pingsBad.Add(1)
		return
	}
	s.pmu.Lock()
	found := false
	for k, p := range s.pending {
		if p.seq == seq {
			s.pending = append(s.pending[:k], s.pending[k+1:]...)
			found = true
			break
		}
	}
	s.pmu.Unlock()
	if !found {
		s.g.pingsLate.Add(1)
		return
	}
	s.g.pingsAnswered.Add(1)
	select {
	case s.replied <- struct{}{}:
	default:
	}
}

// errnoText gives the short form of a socket error for a failure reason:
// "connection refused", "i/o timeout", ...
func errnoText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "timeout"
	}
	if errors.Is(err, io.EOF) {
		return "closed by the server"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "error"
}
