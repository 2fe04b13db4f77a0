package radius

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2869"
)

// ErrNoResponse is the error (wrapped) of a request that no server
// answered: a RADIUS outage.
var ErrNoResponse = errors.New("no RADIUS server answered")

// errMaxWait is the cause of a request's context ending at MaxWait.
var errMaxWait = errors.New("MaxWait reached")

// errEncode marks a request that could not be encoded: no server will
// take it, so none is tried.
var errEncode = errors.New("request cannot be encoded")

// maxRetries caps Retries so that the identifiers of one request's
// transmissions stay distinct.
const maxRetries = 10

// Client sends requests to the configured RADIUS servers. It is safe for
// concurrent use; every request uses its own socket, so replies cannot be
// confused between requests.
type Client struct {
	cfg   Config
	log   *slog.Logger
	nasID string
	auth  []*server
	acct  []*server

	authFailures atomic.Uint64
	acctFailures atomic.Uint64
}

// server is the state of one configured server.
type server struct {
	addr    string
	secret  []byte
	kind    Kind
	timeout time.Duration
	retries int

	mu        sync.Mutex
	deadUntil time.Time

	requests, retransmits, accepts, rejects, challenges, responses,
	timeouts, errors, dropped atomic.Uint64
}

// NewClient checks cfg and fills in its defaults.
func NewClient(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = DefaultRetries
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.DeadTime == 0 {
		cfg.DeadTime = DefaultDeadTime
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = DefaultMaxWait
	}
	c := &Client{cfg: cfg, log: cfg.Log, nasID: cfg.NASIdentifier}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.nasID == "" && !cfg.NASIPAddress.IsValid() {
		// RFC 2865 section 4.1: an Access-Request must identify its NAS.
		h, err := os.Hostname()
		if err != nil || h == "" || len(h) > 253 {
			h = "gopptp"
		}
		c.nasID = h
	}
	mk := func(kind Kind, ss []Server) []*server {
		var out []*server
		for _, s := range ss {
			sv := &server{addr: s.Addr, secret: []byte(s.Secret), kind: kind, timeout: cfg.Timeout, retries: cfg.Retries}
			if s.Timeout > 0 {
				sv.timeout = s.Timeout
			}
			switch {
			case s.Retries > 0:
				sv.retries = s.Retries
			case s.Retries < 0:
				sv.retries = 0
			}
			sv.retries = min(sv.retries, maxRetries)
			out = append(out, sv)
		}
		return out
	}
	c.auth = mk(KindAuth, cfg.AuthServers)
	c.acct = mk(KindAcct, cfg.AcctServers)
	return c, nil
}

// Config returns the configuration with its defaults filled in.
func (c *Client) Config() Config { return c.cfg }

// ServerStats are the counters of one server.
type ServerStats struct {
	Addr string
	Kind Kind
	// Requests counts requests sent to the server (first transmissions);
	// Retransmits the transmissions after the first.
	Requests, Retransmits uint64
	// Accepts, Rejects, Challenges and Responses count the valid replies
	// by code (Responses: Accounting-Response).
	Accepts, Rejects, Challenges, Responses uint64
	// Timeouts counts requests the server did not answer in time; Errors
	// those that failed otherwise (unreachable, resolution failures).
	Timeouts, Errors uint64
	// Dropped counts datagrams thrown away: unexpected identifier, wrong
	// authenticator or Message-Authenticator, malformed.
	Dropped uint64
	// Dead says the server is currently marked dead.
	Dead bool
}

// Stats is a snapshot of the client's counters.
type Stats struct {
	Servers []ServerStats
	// AuthFailures and AcctFailures count requests that no server
	// answered.
	AuthFailures, AcctFailures uint64
}

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	st := Stats{AuthFailures: c.authFailures.Load(), AcctFailures: c.acctFailures.Load()}
	now := time.Now()
	for _, s := range append(slices.Clip(c.auth), c.acct...) {
		s.mu.Lock()
		dead := now.Before(s.deadUntil)
		s.mu.Unlock()
		st.Servers = append(st.Servers, ServerStats{
			Addr: s.addr, Kind: s.kind,
			Requests: s.requests.Load(), Retransmits: s.retransmits.Load(),
			Accepts: s.accepts.Load(), Rejects: s.rejects.Load(), Challenges: s.challenges.Load(), Responses: s.responses.Load(),
			Timeouts: s.timeouts.Load(), Errors: s.errors.Load(), Dropped: s.dropped.Load(),
			Dead: dead,
		})
	}
	return st
}

// buildFunc makes the request for one server: its attributes depend on the
// secret (hidden passwords) and, for accounting, on how long the request
// has been pending (Acct-Delay-Time). The Client sets the Identifier and,
// for Access-Requests, the Authenticator before calling it, and encodes
// the result (adding the Message-Authenticator to Access-Requests).
type buildFunc func(p *radius.Packet, delay time.Duration) error

// reply is a validated answer.
type reply struct {
	*radius.Packet
	// reqAuth is the Request Authenticator of the request it answers,
	// which the hidden attributes of an Access-Accept are encrypted with.
	reqAuth [16]byte
	server  string
	secret  []byte
}

// sentReq is one transmission awaiting its reply.
type sentReq struct {
	id   byte
	auth [16]byte
}

// exchange sends a request of the given code to the servers of its kind
// until one answers, within ctx and MaxWait.
func (c *Client) exchange(ctx context.Context, code radius.Code, build buildFunc) (*reply, error) {
	kind, servers, failures := KindAuth, c.auth, &c.authFailures
	if code == radius.CodeAccountingRequest {
		kind, servers, failures = KindAcct, c.acct, &c.acctFailures
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("radius: no %s server configured", kind)
	}
	parent := ctx
	ctx, cancel := context.WithTimeoutCause(ctx, c.cfg.MaxWait, errMaxWait)
	defer cancel()

	// Servers that recently failed to answer go last, and get a single
	// transmission: an outage of the first server must not cost every
	// login its full timeout, yet with every server marked dead they are
	// still tried rather than refusing logins until the dead time ends.
	now := time.Now()
	var alive, dead []*server
	for _, s := range servers {
		s.mu.Lock()
		if now.Before(s.deadUntil) {
			dead = append(dead, s)
		} else {
			alive = append(alive, s)
		}
		s.mu.Unlock()
	}
	start := time.Now()
	var errs []error
	for i, s := range append(alive, dead...) {
		r, err := c.try(ctx, s, code, i >= len(alive), start, build)
		if err == nil {
			return r, nil
		}
		if errors.Is(err, errEncode) {
			return nil, fmt.Errorf("radius: %w", err)
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if parent.Err() != nil {
		return nil, fmt.Errorf("radius: %v request abandoned: %w", code, parent.Err())
	}
	failures.Add(1)
	err := errors.Join(errs...)
	if ctx.Err() != nil {
		err = fmt.Errorf("gave up after %v: %w", c.cfg.MaxWait, err)
	}
	c.log.Warn("RADIUS request failed", "kind", kind, "code", code.String(), "err", err)
	return nil, fmt.Errorf("radius: %v: %w: %w", code, ErrNoResponse, err)
}

// try sends the request to one server, with its retransmissions.
func (c *Client) try(ctx context.Context, s *server, code radius.Code, single bool, start time.Time, build buildFunc) (*reply, error) {
	t0 := time.Now()
	retransmits := 0
	observe := func(o Outcome) {
		if c.cfg.Observe != nil {
			c.cfg.Observe(Observation{Server: s.addr, Kind: s.kind, Outcome: o, Latency: time.Since(t0), Retransmits: retransmits})
		}
	}
	fail := func(o Outcome, err error) (*reply, error) {
		if o == OutcomeCanceled && errors.Is(context.Cause(ctx), errMaxWait) {
			// Not the caller giving up: the server used up what was left
			// of the request's time.
			o = OutcomeTimeout
		}
		switch o {
		case OutcomeTimeout:
			s.timeouts.Add(1)
			c.markDead(s)
		case OutcomeError:
			s.errors.Add(1)
			c.markDead(s)
		}
		observe(o)
		return nil, fmt.Errorf("%s: %w", s.addr, err)
	}

	d := net.Dialer{}
	if c.cfg.BindAddr.IsValid() {
		d.LocalAddr = &net.UDPAddr{IP: c.cfg.BindAddr.AsSlice()}
	}
	conn, err := d.DialContext(ctx, "udp", s.addr)
	if err != nil {
		if ctx.Err() != nil {
			return fail(OutcomeCanceled, ctx.Err())
		}
		return fail(OutcomeError, err)
	}
	defer conn.Close()

	// A blocked Read ends when ctx does: the deadline is moved into the
	// past, and not moved back by the loop below.
	var dmu sync.Mutex
	canceled := false
	stop := context.AfterFunc(ctx, func() {
		dmu.Lock()
		canceled = true
		conn.SetReadDeadline(time.Unix(1, 0))
		dmu.Unlock()
	})
	defer stop()
	setDeadline := func(t time.Time) {
		dmu.Lock()
		if !canceled {
			conn.SetReadDeadline(t)
		}
		dmu.Unlock()
	}

	attempts := s.retries + 1
	if single {
		attempts = 1
	}
	var sent []sentReq
	var wire []byte
	buf := make([]byte, radius.MaxPacketLength+1)
	s.requests.Add(1)
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 {
			retransmits++
			s.retransmits.Add(1)
		}
		// An Access-Request is repeated as it was (RFC 2865 section 2.5);
		// an Accounting-Request changes with Acct-Delay-Time, and so gets
		// a new identifier (RFC 2866 section 5.2).
		if wire == nil || code == radius.CodeAccountingRequest {
			var sr sentReq
			wire, sr, err = c.encode(s, code, build, sent, time.Since(start))
			if err != nil {
				return nil, err // the request's fault, not the server's
			}
			sent = append(sent, sr)
		}
		if _, err := conn.Write(wire); err != nil {
			if ctx.Err() != nil {
				return fail(OutcomeCanceled, ctx.Err())
			}
			return fail(OutcomeError, err)
		}
		setDeadline(time.Now().Add(s.timeout))
		for {
			n, err := conn.Read(buf)
			if err != nil {
				if ctx.Err() != nil {
					return fail(OutcomeCanceled, ctx.Err())
				}
				if errors.Is(err, os.ErrDeadlineExceeded) {
					break // retransmit
				}
				// On a connected UDP socket an ICMP port unreachable
				// comes back as an error: the server is not running.
				return fail(OutcomeError, err)
			}
			r, err := c.check(s, code, buf[:n], sent)
			if err != nil {
				s.dropped.Add(1)
				c.log.Debug("RADIUS reply dropped", "server", s.addr, "err", err)
				continue
			}
			c.markAlive(s)
			var o Outcome
			switch r.Code {
			case radius.CodeAccessAccept:
				o = OutcomeAccept
				s.accepts.Add(1)
			case radius.CodeAccessReject:
				o = OutcomeReject
				s.rejects.Add(1)
			case radius.CodeAccessChallenge:
				o = OutcomeChallenge
				s.challenges.Add(1)
			default:
				o = OutcomeResponse
				s.responses.Add(1)
			}
			observe(o)
			return r, nil
		}
	}
	return fail(OutcomeTimeout, fmt.Errorf("no answer to %d transmissions of %v after %v each", attempts, code, s.timeout))
}

// encode builds and encodes one transmission with an identifier not used by
// the earlier ones of the same request.
func (c *Client) encode(s *server, code radius.Code, build buildFunc, sent []sentReq, delay time.Duration) ([]byte, sentReq, error) {
	var rnd [17]byte
	rand.Read(rnd[:])
	p := &radius.Packet{Code: code, Identifier: rnd[0], Secret: s.secret}
	for slices.ContainsFunc(sent, func(r sentReq) bool { return r.id == p.Identifier }) {
		p.Identifier++
	}
	if code == radius.CodeAccessRequest {
		copy(p.Authenticator[:], rnd[1:])
	}
	if err := build(p, delay); err != nil {
		return nil, sentReq{}, fmt.Errorf("%w: %w", errEncode, err)
	}
	var b []byte
	var err error
	if code == radius.CodeAccessRequest {
		// RFC 3579 section 3.2 and RFC 5080 recommend it on every
		// Access-Request, and servers hardened against CVE-2024-3596
		// insist on it.
		p.Attributes.Del(rfc2869.MessageAuthenticator_Type)
		p.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, messageAuthenticatorLen))
		b, err = encodeSigned(p, p.Authenticator)
	} else {
		b, err = p.Encode()
	}
	if err != nil {
		return nil, sentReq{}, fmt.Errorf("%w: %v: %w", errEncode, code, err)
	}
	return b, sentReq{id: b[1], auth: [16]byte(b[4:20])}, nil
}

// check validates a datagram received for a request: it must answer one of
// its transmissions, with the right code, Response Authenticator and
// Message-Authenticator.
func (c *Client) check(s *server, code radius.Code, b []byte, sent []sentReq) (*reply, error) {
	if len(b) < 20 {
		return nil, fmt.Errorf("%d-byte datagram", len(b))
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < 20 || n > len(b) || n > radius.MaxPacketLength {
		return nil, fmt.Errorf("length field %d in a %d-byte datagram", n, len(b))
	}
	b = b[:n] // RFC 2865 section 3: octets past Length are padding
	i := slices.IndexFunc(sent, func(r sentReq) bool { return r.id == b[1] })
	if i < 0 {
		return nil, fmt.Errorf("identifier %d matches no request", b[1])
	}
	req := sent[i]
	rc := radius.Code(b[0])
	switch code {
	case radius.CodeAccessRequest:
		if rc != radius.CodeAccessAccept && rc != radius.CodeAccessReject && rc != radius.CodeAccessChallenge {
			return nil, fmt.Errorf("%v in answer to an Access-Request", rc)
		}
	case radius.CodeAccountingRequest:
		if rc != radius.CodeAccountingResponse {
			return nil, fmt.Errorf("%v in answer to an Accounting-Request", rc)
		}
	}
	h := md5.New()
	h.Write(b[:4])
	h.Write(req.auth[:])
	h.Write(b[20:])
	h.Write(s.secret)
	if subtle.ConstantTimeCompare(h.Sum(nil), b[4:20]) != 1 {
		return nil, errors.New("wrong Response Authenticator (wrong secret?)")
	}
	p, err := radius.Parse(b, s.secret)
	if err != nil {
		return nil, err
	}
	present, ok := checkMessageAuthenticator(b, s.secret, req.auth)
	if !ok {
		return nil, errors.New("wrong Message-Authenticator")
	}
	if !present && code == radius.CodeAccessRequest && c.cfg.RequireMessageAuthenticator {
		return nil, errors.New("no Message-Authenticator")
	}
	return &reply{Packet: p, reqAuth: req.auth, server: s.addr, secret: s.secret}, nil
}

// markDead notes that s did not answer.
func (c *Client) markDead(s *server) {
	if c.cfg.DeadTime < 0 {
		return
	}
	now := time.Now()
	s.mu.Lock()
	wasDead := now.Before(s.deadUntil)
	s.deadUntil = now.Add(c.cfg.DeadTime)
	s.mu.Unlock()
	if !wasDead {
		c.log.Warn("RADIUS server not answering; trying it last", "server", s.addr, "kind", s.kind, "for", c.cfg.DeadTime)
	}
}

// markAlive notes that s answered.
func (c *Client) markAlive(s *server) {
	s.mu.Lock()
	wasDead := !s.deadUntil.IsZero()
	s.deadUntil = time.Time{}
	s.mu.Unlock()
	if wasDead {
		c.log.Info("RADIUS server answering again", "server", s.addr, "kind", s.kind)
	}
}
