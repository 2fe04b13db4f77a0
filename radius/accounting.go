package radius

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
)

// Status is an Acct-Status-Type (RFC 2866 section 5.1).
type Status uint32

// Acct-Status-Type values.
const (
	StatusStart         Status = 1
	StatusStop          Status = 2
	StatusInterimUpdate Status = 3
	StatusAccountingOn  Status = 7
	StatusAccountingOff Status = 8
)

// String returns the RFC name of s.
func (s Status) String() string {
	switch s {
	case StatusStart:
		return "Start"
	case StatusStop:
		return "Stop"
	case StatusInterimUpdate:
		return "Interim-Update"
	case StatusAccountingOn:
		return "Accounting-On"
	case StatusAccountingOff:
		return "Accounting-Off"
	}
	return "Status(" + strconv.FormatUint(uint64(s), 10) + ")"
}

// TerminateCause is an Acct-Terminate-Cause (RFC 2866 section 5.10).
type TerminateCause uint32

// Acct-Terminate-Cause values.
const (
	CauseUserRequest        TerminateCause = 1 // the peer ended the session
	CauseLostCarrier        TerminateCause = 2 // the link went away (echo failure, control connection lost)
	CauseLostService        TerminateCause = 3
	CauseIdleTimeout        TerminateCause = 4 // Idle-Timeout expired
	CauseSessionTimeout     TerminateCause = 5 // Session-Timeout expired
	CauseAdminReset         TerminateCause = 6 // an administrator ended it (Disconnect-Request)
	CauseAdminReboot        TerminateCause = 7 // the server is shutting down by request
	CausePortError          TerminateCause = 8
	CauseNASError           TerminateCause = 9 // an internal error
	CauseNASRequest         TerminateCause = 10
	CauseNASReboot          TerminateCause = 11
	CausePortUnneeded       TerminateCause = 12
	CausePortPreempted      TerminateCause = 13
	CausePortSuspended      TerminateCause = 14
	CauseServiceUnavailable TerminateCause = 15 // negotiation failed (e.g. MPPE refused)
	CauseCallback           TerminateCause = 16
	CauseUserError          TerminateCause = 17 // the peer misbehaved
	CauseHostRequest        TerminateCause = 18
)

// String returns the RFC 2866 name of c.
func (c TerminateCause) String() string {
	names := [...]string{
		CauseUserRequest: "User-Request", CauseLostCarrier: "Lost-Carrier",
		CauseLostService: "Lost-Service", CauseIdleTimeout: "Idle-Timeout",
		CauseSessionTimeout: "Session-Timeout", CauseAdminReset: "Admin-Reset",
		CauseAdminReboot: "Admin-Reboot", CausePortError: "Port-Error",
		CauseNASError: "NAS-Error", CauseNASRequest: "NAS-Request",
		CauseNASReboot: "NAS-Reboot", CausePortUnneeded: "Port-Unneeded",
		CausePortPreempted: "Port-Preempted", CausePortSuspended: "Port-Suspended",
		CauseServiceUnavailable: "Service-Unavailable", CauseCallback: "Callback",
		CauseUserError: "User-Error", CauseHostRequest: "Host-Request",
	}
	if int(c) < len(names) && names[c] != "" {
		return names[c]
	}
	return "TerminateCause(" + strconv.FormatUint(uint64(c), 10) + ")"
}

// Counters are a session's traffic, from the NAS's point of view as RFC
// 2866 sees it: In is what the peer sent us, Out what we sent the peer.
type Counters struct {
	InOctets, OutOctets   uint64
	InPackets, OutPackets uint64
}

// Record describes a session for an Accounting-Request.
type Record struct {
	// SessionID is the Acct-Session-Id (see Accounting.NewSessionID).
	SessionID string
	// User is the User-Name (Grant.User).
	User string
	// NASPort, sent when HasNASPort, is our Call ID.
	NASPort    uint32
	HasNASPort bool
	// Addr is the peer's tunnel address (Framed-IP-Address).
	Addr netip.Addr
	// IPv6Prefix is the session's /64 (Framed-IPv6-Prefix, RFC 3162) and
	// DelegatedPrefixes the prefixes routed to it (Delegated-IPv6-Prefix,
	// RFC 4818); both are sent when set.
	IPv6Prefix        netip.Prefix
	DelegatedPrefixes []netip.Prefix
	// Peer is the client's underlay address (Calling-Station-Id).
	Peer netip.Addr
	// CalledStationID overrides Config.CalledStationID.
	CalledStationID string
	// Class holds the Class attributes of the Access-Accept (Grant.Class).
	Class [][]byte
	// Counters and SessionTime are sent in Interim-Update and Stop.
	Counters
	SessionTime time.Duration
	// Cause is sent in Stop when non-zero.
	Cause TerminateCause
}

// Accounting sends Accounting-Requests through a Client.
type Accounting struct {
	c      *Client
	prefix string
	seq    atomic.Uint64
}

// NewAccounting returns the accounting of c's accounting servers.
func NewAccounting(c *Client) *Accounting {
	var r [2]byte
	rand.Read(r[:])
	// Like pppd's rc_mksid: the start time makes identifiers unique
	// across restarts, the random part across NASes started together.
	return &Accounting{c: c, prefix: fmt.Sprintf("%08X%04X", uint32(time.Now().Unix()), binary.BigEndian.Uint16(r[:]))}
}

// Enabled reports whether there is an accounting server to send to.
func (a *Accounting) Enabled() bool { return len(a.c.acct) > 0 }

// NewSessionID returns an Acct-Session-Id unique to this Accounting and,
// through its start time, across restarts.
func (a *Accounting) NewSessionID() string {
	return fmt.Sprintf("%s%06X", a.prefix, a.seq.Add(1)&0xffffff)
}

// Send sends one Accounting-Request of the given status for rec and waits
// for its Accounting-Response.
func (a *Accounting) Send(ctx context.Context, status Status, rec *Record) error {
	if rec.SessionID == "" || len(rec.SessionID) > 253 {
		return errors.New("radius: accounting record without a valid session ID")
	}
	if len(rec.User) > 253 {
		return errors.New("radius: user name too long for accounting")
	}
	now := time.Now()
	r := *rec
	_, err := a.c.exchange(ctx, radius.CodeAccountingRequest, func(p *radius.Packet, delay time.Duration) error {
		p.Add(rfc2866.AcctStatusType_Type, radius.NewInteger(uint32(status)))
		p.Add(rfc2866.AcctSessionID_Type, radius.Attribute(r.SessionID))
		if r.User != "" {
			p.Add(rfc2865.UserName_Type, radius.Attribute(r.User))
		}
		p.Add(rfc2866.AcctAuthentic_Type, radius.NewInteger(acctAuthRADIUS))
		a.c.addNAS(p, r.Peer, Call{NASPort: r.NASPort, HasNASPort: r.HasNASPort, CalledStationID: r.CalledStationID})
		if r.Addr.Is4() {
			p.Add(rfc2865.FramedIPAddress_Type, r.Addr.AsSlice())
		}
		if r.IPv6Prefix.IsValid() && r.IPv6Prefix.Addr().Is6() {
			p.Add(framedIPv6PrefixType, ipv6PrefixAttribute(r.IPv6Prefix))
		}
		for _, d := range r.DelegatedPrefixes {
			if d.IsValid() && d.Addr().Is6() {
				p.Add(delegatedIPv6PrefixType, ipv6PrefixAttribute(d))
			}
		}
		for _, c := range r.Class {
			if len(c) > 0 && len(c) <= 253 {
				p.Add(rfc2865.Class_Type, c)
			}
		}
		if status == StatusInterimUpdate || status == StatusStop {
			addCounter(p, rfc2866.AcctInputOctets_Type, rfc2869.AcctInputGigawords_Type, r.InOctets)
			addCounter(p, rfc2866.AcctOutputOctets_Type, rfc2869.AcctOutputGigawords_Type, r.OutOctets)
			p.Add(rfc2866.AcctInputPackets_Type, radius.NewInteger(uint32(min(r.InPackets, 0xffffffff))))
			p.Add(rfc2866.AcctOutputPackets_Type, radius.NewInteger(uint32(min(r.OutPackets, 0xffffffff))))
			p.Add(rfc2866.AcctSessionTime_Type, radius.NewInteger(uint32(min(r.SessionTime/time.Second, 0xffffffff))))
		}
		if status == StatusStop && r.Cause != 0 {
			p.Add(rfc2866.AcctTerminateCause_Type, radius.NewInteger(uint32(r.Cause)))
		}
		p.Add(rfc2869.EventTimestamp_Type, radius.NewInteger(uint32(now.Unix())))
		// RFC 2866 section 5.2: how long this request has been trying,
		// so that the server can tell when the event happened.
		if d := delay / time.Second; d > 0 {
			p.Add(rfc2866.AcctDelayTime_Type, radius.NewInteger(uint32(d)))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("accounting %v for session %s: %w", status, rec.SessionID, err)
	}
	return nil
}

// addCounter adds a 64-bit octet counter as its low 32 bits and, when
// needed, the Gigawords attribute with the high ones (RFC 2869 5.1, 5.2).
func addCounter(p *radius.Packet, low, giga radius.Type, v uint64) {
	p.Add(low, radius.NewInteger(uint32(v)))
	if v>>32 != 0 {
		p.Add(giga, radius.NewInteger(uint32(v>>32)))
	}
}

// Start sends Accounting-Start for rec.
func (a *Accounting) Start(ctx context.Context, rec *Record) error {
	return a.Send(ctx, StatusStart, rec)
}

// Interim sends an Interim-Update for rec.
func (a *Accounting) Interim(ctx context.Context, rec *Record) error {
	return a.Send(ctx, StatusInterimUpdate, rec)
}

// Stop sends Accounting-Stop for rec.
func (a *Accounting) Stop(ctx context.Context, rec *Record) error {
	return a.Send(ctx, StatusStop, rec)
}

// On sends Accounting-On, which tells the server that the NAS started and
// so has no sessions (RFC 2866 section 5.1): sessions left open by a
// crash can be closed.
func (a *Accounting) On(ctx context.Context) error {
	return a.Send(ctx, StatusAccountingOn, &Record{SessionID: a.prefix})
}

// Off sends Accounting-Off, when the NAS shuts down.
func (a *Accounting) Off(ctx context.Context) error {
	return a.Send(ctx, StatusAccountingOff, &Record{SessionID: a.prefix})
}

// Session runs the accounting of one session: Start at Begin,
// Interim-Updates on a timer, Stop at End.
type Session struct {
	a        *Accounting
	counters func() Counters
	start    time.Time

	// recMu guards rec, which SetIPv6Prefix changes while updates go out.
	recMu sync.Mutex
	rec   Record

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// Begin starts the accounting of a session described by rec (SessionID
// set, counters zero): Accounting-Start goes out at once in the
// background, then an Interim-Update every interval (none when 0) with
// the counters reported by counters, which is called from another
// goroutine. The session time counts from Begin. ctx bounds everything but
// End's Stop; cancelling it stops the updates. With accounting disabled
// Begin returns a Session that does nothing.
//
// The interval is normally Grant.InterimInterval if set, else
// Config.InterimInterval.
func (a *Accounting) Begin(ctx context.Context, rec Record, interval time.Duration, counters func() Counters) *Session {
	s := &Session{a: a, rec: rec, counters: counters, start: time.Now(), done: make(chan struct{})}
	if !a.Enabled() {
		close(s.done)
		s.cancel = func() {}
		return s
	}
	// The interim updates stop at End, but an Accounting-Start in flight
	// is not abandoned: a Stop without its Start would confuse the books.
	loopCtx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	go s.run(ctx, loopCtx, interval)
	return s
}

// run sends Start, then the interim updates until loopCtx ends.
func (s *Session) run(ctx, loopCtx context.Context, interval time.Duration) {
	defer close(s.done)
	start := s.record()
	if err := s.a.Start(ctx, &start); err != nil {
		s.a.c.log.Warn("RADIUS accounting Start failed", "session", s.rec.SessionID, "user", s.rec.User, "err", err)
	}
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-loopCtx.Done():
			return
		case <-t.C:
		}
		rec := s.snapshot()
		if err := s.a.Interim(loopCtx, &rec); err != nil && loopCtx.Err() == nil {
			s.a.c.log.Warn("RADIUS accounting Interim-Update failed", "session", s.rec.SessionID, "user", s.rec.User, "err", err)
		}
	}
}

// record returns a copy of the record.
func (s *Session) record() Record {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	return s.rec
}

// SetIPv6Prefix records the session's /64 once it has one: a prefix from
// the server's own pool is only chosen when IPV6CP comes up, which may be
// after the Accounting-Start went out; the Interim-Updates and the Stop
// carry it.
func (s *Session) SetIPv6Prefix(p netip.Prefix) {
	s.recMu.Lock()
	s.rec.IPv6Prefix = p
	s.recMu.Unlock()
}

// snapshot is the record with the current counters and session time.
func (s *Session) snapshot() Record {
	rec := s.record()
	if s.counters != nil {
		rec.Counters = s.counters()
	}
	rec.SessionTime = time.Since(s.start)
	return rec
}

// End stops the interim updates and sends Accounting-Stop with the final
// counters and cause, waiting for a Start still in flight first. It blocks
// until the Stop is answered or has failed (bounded by ctx and MaxWait), so
// call it from a goroutine of its own. Only the first call does anything.
func (s *Session) End(ctx context.Context, cause TerminateCause) error {
	err := errors.New("radius: accounting session already ended")
	s.once.Do(func() {
		s.cancel()
		select {
		case <-s.done:
		case <-ctx.Done():
			err = fmt.Errorf("radius: accounting Stop for session %s not sent: %w", s.rec.SessionID, ctx.Err())
			return
		}
		if !s.a.Enabled() {
			err = nil
			return
		}
		rec := s.snapshot()
		rec.Cause = cause
		err = s.a.Stop(ctx, &rec)
	})
	return err
}

// ID returns the session's Acct-Session-Id.
func (s *Session) ID() string { return s.rec.SessionID }
