package ppp

import (
	"time"
)

// State is a state of the option negotiation automaton (RFC 1661 section 4.2).
type State uint8

// The ten states of RFC 1661 section 4.
const (
	Initial State = iota
	Starting
	Closed
	Stopped
	Closing
	Stopping
	ReqSent
	AckRcvd
	AckSent
	Opened
)

var stateNames = [...]string{"Initial", "Starting", "Closed", "Stopped", "Closing",
	"Stopping", "Req-Sent", "Ack-Rcvd", "Ack-Sent", "Opened"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "invalid"
}

// timerRunning reports whether the Restart timer runs in state s: exactly
// the states that have TO events in the RFC 1661 state table.
func (s State) timerRunning() bool { return s >= Closing && s <= AckSent }

// Layer is what one protocol (LCP, IPCP, IPV6CP, CCP) supplies to the
// automaton: its options and its this-layer actions. The automaton calls it
// from the goroutine that drives the FSM; none of the calls may call back
// into the same FSM.
type Layer interface {
	// ResetRequest restores the options we will ask for to their initial
	// values, before a negotiation starts (again).
	ResetRequest()
	// AppendRequest appends the options of our next Configure-Request.
	AppendRequest(b []byte) []byte
	// GotAck checks that an ack matches our last request exactly and, if
	// so, records the options as agreed.
	GotAck(opts []byte) bool
	// GotNak adjusts our wanted options to the peer's suggestions. It
	// returns false when the packet is malformed and must be ignored.
	GotNak(opts []byte) bool
	// GotReject drops the rejected options from our requests. It returns
	// false when the peer rejected something we did not ask for, or an
	// option we cannot do without (the caller then gives up through the
	// max-configure count).
	GotReject(opts []byte) bool
	// CheckRequest judges the peer's Configure-Request and returns ConfAck,
	// ConfNak or ConfRej with the options to send back. rejectOnly is set
	// once the peer has ignored our naks max-failure times.
	CheckRequest(opts []byte, rejectOnly bool) (Code, []byte)
	// LayerUp is this-layer-up: the automaton reached Opened.
	LayerUp()
	// LayerDown is this-layer-down: the automaton left Opened.
	LayerDown()
	// LayerStarted is this-layer-started: the layer needs the lower layer.
	LayerStarted()
	// LayerFinished is this-layer-finished: the layer no longer needs the
	// lower layer; reason says why, for the log.
	LayerFinished(reason string)
	// ExtCode handles a code outside 1-7 (LCP echo, CCP reset, ...).
	// Returning false makes the automaton send a Code-Reject.
	ExtCode(p Packet) bool
}

// Timer is the Restart timer. Start (re)arms it; when it expires the owner
// of the FSM calls FSM.Timeout. It is an interface so that tests can drive
// the automaton without real time.
type Timer interface {
	Start(d time.Duration)
	Stop()
}

// Config holds the counters and timer of RFC 1661 section 4.6.
type Config struct {
	Restart      time.Duration // Restart timer, default 3 s
	MaxConfigure int           // Configure-Requests sent without an ack, default 10
	MaxTerminate int           // Terminate-Requests sent without an ack, default 2
	MaxFailure   int           // Configure-Naks sent before naks become rejects, default 5
}

func (c Config) withDefaults() Config {
	if c.Restart <= 0 {
		c.Restart = 3 * time.Second
	}
	if c.MaxConfigure <= 0 {
		c.MaxConfigure = 10
	}
	if c.MaxTerminate <= 0 {
		c.MaxTerminate = 2
	}
	if c.MaxFailure <= 0 {
		c.MaxFailure = 5
	}
	return c
}

// FSM is the option negotiation automaton of RFC 1661 section 4, shared by
// every protocol that negotiates options. It is not safe for concurrent use:
// one goroutine (the session's) feeds it events and packets.
type FSM struct {
	proto Protocol
	layer Layer
	send  func(Packet)
	timer Timer
	cfg   Config

	state    State
	id       uint8 // identifier of the last packet we originated
	reqID    uint8 // identifier of our outstanding Configure-Request
	restarts int   // Restart counter
	nakLoops int   // Configure-Naks sent in this negotiation
	reason   string
	// onTransition, when set, observes every state change (for logs).
	onTransition func(from, to State)
}

// NewFSM returns an automaton in the Initial state for protocol proto. send
// transmits one control packet of this protocol.
func NewFSM(proto Protocol, layer Layer, send func(Packet), timer Timer, cfg Config) *FSM {
	return &FSM{proto: proto, layer: layer, send: send, timer: timer, cfg: cfg.withDefaults()}
}

// Protocol returns the protocol this automaton negotiates.
func (f *FSM) Protocol() Protocol { return f.proto }

// State returns the current state.
func (f *FSM) State() State { return f.state }

// IsOpened reports whether the automaton is in the Opened state.
func (f *FSM) IsOpened() bool { return f.state == Opened }

// OnTransition registers fn to observe state changes.
func (f *FSM) OnTransition(fn func(from, to State)) { f.onTransition = fn }

// NextID returns a fresh identifier for a packet this protocol originates
// outside the automaton (LCP Echo-Request, CCP Reset-Request).
func (f *FSM) NextID() uint8 {
	f.id++
	return f.id
}

func (f *FSM) setState(s State) {
	if f.state.timerRunning() && !s.timerRunning() {
		f.timer.Stop()
	}
	from := f.state
	f.state = s
	if f.onTransition != nil && from != s {
		f.onTransition(from, s)
	}
}

// Up is the Up event: the lower layer is ready.
func (f *FSM) Up() {
	switch f.state {
	case Initial:
		f.setState(Closed)
	case Starting:
		f.sendConfReq(false)
		f.setState(ReqSent)
	}
}

// Down is the Down event: the lower layer is gone.
func (f *FSM) Down() {
	switch f.state {
	case Closed, Closing:
		f.setState(Initial)
	case Stopped:
		f.setState(Starting)
		f.layer.LayerStarted()
	case Stopping, ReqSent, AckRcvd, AckSent:
		f.setState(Starting)
	case Opened:
		f.setState(Starting)
		f.layer.LayerDown()
	}
}

// Open is the administrative Open event.
func (f *FSM) Open() {
	switch f.state {
	case Initial:
		f.setState(Starting)
		f.layer.LayerStarted()
	case Closed:
		f.sendConfReq(false)
		f.setState(ReqSent)
	case Closing:
		f.setState(Stopping)
	}
}

// Close is the administrative Close event; reason goes into the
// Terminate-Request.
func (f *FSM) Close(reason string) {
	f.reason = reason
	switch f.state {
	case Starting:
		f.setState(Initial)
		f.layer.LayerFinished(reason)
	case Stopped:
		f.setState(Closed)
	case Stopping:
		f.setState(Closing)
	case ReqSent, AckRcvd, AckSent:
		f.restarts = f.cfg.MaxTerminate
		f.sendTermReq()
		f.setState(Closing)
	case Opened:
		f.setState(Closing)
		f.layer.LayerDown()
		f.restarts = f.cfg.MaxTerminate
		f.sendTermReq()
	}
}

// Timeout is the expiry of the Restart timer (TO+ or TO-).
func (f *FSM) Timeout() {
	if !f.state.timerRunning() {
		return // a stale expiry that raced with a state change
	}
	if f.restarts > 0 {
		switch f.state {
		case Closing, Stopping:
			f.sendTermReq()
		case ReqSent, AckRcvd:
			f.sendConfReq(true)
			f.setState(ReqSent)
		case AckSent:
			f.sendConfReq(true)
		}
		return
	}
	switch f.state {
	case Closing:
		f.setState(Closed)
		f.layer.LayerFinished(f.termReason("no Terminate-Ack"))
	case Stopping:
		f.setState(Stopped)
		f.layer.LayerFinished(f.termReason("no Terminate-Ack"))
	default: // Req-Sent, Ack-Rcvd, Ack-Sent: negotiation failed
		f.setState(Stopped)
		f.layer.LayerFinished("negotiation timed out")
	}
}

func (f *FSM) termReason(fallback string) string {
	if f.reason != "" {
		return f.reason
	}
	return fallback
}

// ProtocolRejected is the RXJ- event caused by the peer's LCP
// Protocol-Reject of this protocol.
func (f *FSM) ProtocolRejected() { f.rxjMinus("protocol rejected by peer") }

// Input feeds one received control packet of this protocol to the automaton.
func (f *FSM) Input(p Packet) {
	if f.state == Initial || f.state == Starting {
		return // RFC 1661: no packets are legal before Up; discard silently
	}
	switch p.Code {
	case ConfReq, ConfAck, ConfNak, ConfRej:
		// A malformed option list cannot be answered sensibly; RFC 1661
		// has such packets silently discarded, before they can change
		// any state.
		if _, err := ParseOptions(p.Data); err != nil {
			return
		}
	}
	switch p.Code {
	case ConfReq:
		f.rcvConfReq(p)
	case ConfAck:
		f.rcvConfAck(p)
	case ConfNak, ConfRej:
		f.rcvNakRej(p)
	case TermReq:
		f.rcvTermReq(p)
	case TermAck:
		f.rcvTermAck()
	case CodeRej:
		f.rcvCodeRej(p)
	default:
		if !f.layer.ExtCode(p) {
			f.send(Packet{Code: CodeRej, ID: f.NextID(), Data: p.Append(nil)})
		}
	}
}

func (f *FSM) rcvConfReq(p Packet) {
	switch f.state {
	case Closed:
		f.sendTermAck(p.ID)
		return
	case Closing, Stopping:
		return
	case Opened:
		f.restartFromOpened()
	case Stopped:
		f.sendConfReq(false)
		f.setState(ReqSent)
	}
	code, reply := f.layer.CheckRequest(p.Data, f.nakLoops >= f.cfg.MaxFailure)
	if code == ConfNak {
		f.nakLoops++
	}
	f.send(Packet{Code: code, ID: p.ID, Data: reply})
	ok := code == ConfAck
	switch f.state {
	case ReqSent, AckSent:
		if ok {
			f.setState(AckSent)
		} else {
			f.setState(ReqSent)
		}
	case AckRcvd:
		if ok {
			f.setState(Opened)
			f.layer.LayerUp()
		}
	}
}

func (f *FSM) rcvConfAck(p Packet) {
	switch f.state {
	case Closed, Stopped:
		f.sendTermAck(p.ID)
		return
	case Closing, Stopping:
		return
	}
	if p.ID != f.reqID || !f.layer.GotAck(p.Data) {
		return // stale or wrong ack: ignored, the Restart timer recovers
	}
	switch f.state {
	case ReqSent:
		f.restarts = f.cfg.MaxConfigure
		f.setState(AckRcvd)
	case AckRcvd: // crossed connection
		f.sendConfReq(false)
		f.setState(ReqSent)
	case AckSent:
		f.setState(Opened)
		f.layer.LayerUp()
	case Opened:
		f.restartFromOpened()
	}
}

func (f *FSM) rcvNakRej(p Packet) {
	switch f.state {
	case Closed, Stopped:
		f.sendTermAck(p.ID)
		return
	case Closing, Stopping:
		return
	}
	if p.ID != f.reqID {
		return
	}
	var ok bool
	if p.Code == ConfNak {
		ok = f.layer.GotNak(p.Data)
	} else {
		ok = f.layer.GotReject(p.Data)
	}
	if !ok {
		return
	}
	switch f.state {
	case ReqSent, AckSent:
		f.sendConfReq(false)
	case AckRcvd:
		f.sendConfReq(false)
		f.setState(ReqSent)
	case Opened:
		f.restartFromOpened()
	}
}

func (f *FSM) rcvTermReq(p Packet) {
	switch f.state {
	case AckRcvd, AckSent:
		f.setState(ReqSent)
	case Opened:
		f.setState(Stopping)
		f.layer.LayerDown()
		f.restarts = 0
		f.timer.Start(f.cfg.Restart)
		if len(p.Data) > 0 {
			f.reason = "peer: " + Printable(p.Data, 64)
		} else {
			f.reason = "peer requested termination"
		}
	}
	f.sendTermAck(p.ID)
}

func (f *FSM) rcvTermAck() {
	switch f.state {
	case Closing:
		f.setState(Closed)
		f.layer.LayerFinished(f.termReason("closed"))
	case Stopping:
		f.setState(Stopped)
		f.layer.LayerFinished(f.termReason("stopped"))
	case AckRcvd:
		f.setState(ReqSent)
	case Opened:
		f.restartFromOpened()
	}
}

func (f *FSM) rcvCodeRej(p Packet) {
	// A rejected code the automaton itself needs is fatal (RXJ-); a
	// rejected extension code such as an LCP Echo is not (RXJ+).
	if len(p.Data) > 0 && p.Data[0] >= byte(ConfReq) && p.Data[0] <= byte(CodeRej) {
		f.rxjMinus("peer rejected code " + Code(p.Data[0]).String())
		return
	}
	if f.state == AckRcvd {
		f.setState(ReqSent)
	}
}

func (f *FSM) rxjMinus(reason string) {
	f.reason = reason
	switch f.state {
	case Closed, Closing:
		f.setState(Closed)
		f.layer.LayerFinished(reason)
	case Stopped, Stopping, ReqSent, AckRcvd, AckSent:
		f.setState(Stopped)
		f.layer.LayerFinished(reason)
	case Opened:
		f.setState(Stopping)
		f.layer.LayerDown()
		f.restarts = f.cfg.MaxTerminate
		f.sendTermReq()
	}
}

// restartFromOpened handles the events that take an Opened link back to
// negotiation (tld, scr/6): this-layer-down runs while the state still says
// Opened, as the layer may want to know what it is leaving.
func (f *FSM) restartFromOpened() {
	f.layer.LayerDown()
	f.sendConfReq(false)
	f.setState(ReqSent)
}

// sendConfReq sends our Configure-Request. A retransmission (Restart timer
// expiry) repeats the identifier and options; anything else is a new request
// with a new identifier and a full restart count, and when no negotiation
// is in progress our options start again from their initial values.
func (f *FSM) sendConfReq(retransmit bool) {
	if !retransmit {
		if f.state != ReqSent && f.state != AckRcvd && f.state != AckSent {
			f.layer.ResetRequest()
			f.nakLoops = 0
		}
		f.reqID = f.NextID()
		f.restarts = f.cfg.MaxConfigure
	}
	f.send(Packet{Code: ConfReq, ID: f.reqID, Data: f.layer.AppendRequest(nil)})
	f.restarts--
	f.timer.Start(f.cfg.Restart)
}

func (f *FSM) sendTermReq() {
	f.send(Packet{Code: TermReq, ID: f.NextID(), Data: []byte(f.reason)})
	f.restarts--
	f.timer.Start(f.cfg.Restart)
}

func (f *FSM) sendTermAck(id uint8) {
	f.send(Packet{Code: TermAck, ID: id})
}
