package auth

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"time"

	"github.com/gopptp/gopptp/mschap"
	"github.com/gopptp/gopptp/ppp"
)

// Timing of the authenticator, pppd's defaults: a challenge is repeated
// every 3 s up to 10 times; a PAP peer gets 30 s to send its request.
const (
	ChallengeInterval = 3 * time.Second
	MaxChallenges     = 10
	PAPTimeout        = 30 * time.Second
	// RetryTimeout is how long an MS-CHAP peer allowed to retry has to
	// answer: Windows asks its user for the password again, so the
	// short timeout is off (RFC 2759 section 6).
	RetryTimeout = 60 * time.Second
)

// DefaultRetries is how many further MS-CHAP responses a peer may send
// after a wrong one (R=1 in the Failure), as Windows servers allow: three
// attempts in all.
const DefaultRetries = 2

// ServerHooks connect a Server to its session.
type ServerHooks struct {
	// Verify must start the (possibly slow) verification of req on another
	// goroutine and later call Server.Complete on the session goroutine.
	Verify func(req *Request)
	// Retry reports a failed MS-CHAP attempt after which the peer may try
	// again (every failed attempt is worth a log line).
	Retry func(user string, res *Result)
	// Done reports the end of authentication: res.OK says how it went.
	// On failure the session terminates the link.
	Done func(res *Result)
}

type serverState uint8

const (
	srvIdle serverState = iota
	srvWaiting
	srvVerifying
	srvSucceeded
	srvFailed
)

// Server is the authenticator side of one link.
type Server struct {
	method ppp.AuthMethod
	name   string // our name in CHAP challenges (pppd's "name")
	send   func(ppp.Packet)
	timer  ppp.Timer
	hooks  ServerHooks

	state     serverState
	id        uint8
	challenge []byte
	tries     int
	req       *Request
	last      ppp.Packet // our final Success/Failure, repeated on a duplicate response
	user      string
	retries   int        // MS-CHAP retries left
	retryFail ppp.Packet // the R=1 Failure, repeated if the peer missed it
}

// NewServer returns an authenticator for method. send transmits a packet
// of the method's protocol (PAP or CHAP).
func NewServer(method ppp.AuthMethod, name string, send func(ppp.Packet), timer ppp.Timer, hooks ServerHooks) *Server {
	return &Server{method: method, name: name, send: send, timer: timer, hooks: hooks, retries: DefaultRetries}
}

// SetRetries sets how many further MS-CHAP attempts a peer gets after a
// wrong response (0: none, the link ends at the first failure).
func (s *Server) SetRetries(n int) { s.retries = max(n, 0) }

// Method returns the authentication method.
func (s *Server) Method() ppp.AuthMethod { return s.method }

// User returns the name the peer authenticated (or tried to) with.
func (s *Server) User() string { return s.user }

// Start begins authentication once LCP is opened: CHAP sends its first
// challenge, PAP waits for the peer's request.
func (s *Server) Start() {
	s.state = srvWaiting
	var b [1]byte
	rand.Read(b[:])
	s.id = b[0]
	if s.method == ppp.AuthPAP {
		s.timer.Start(PAPTimeout)
		return
	}
	s.sendChallenge()
}

// Stop abandons authentication (the link went down).
func (s *Server) Stop() {
	s.timer.Stop()
	s.state = srvIdle
}

func (s *Server) sendChallenge() {
	s.newChallenge()
	s.id++
	s.tries = 1
	s.transmitChallenge()
}

func (s *Server) newChallenge() {
	n := 16
	if s.method == ppp.AuthMSCHAPv1 {
		n = 8 // RFC 2433: MS-CHAP challenges are 8 octets
	}
	s.challenge = make([]byte, n)
	rand.Read(s.challenge)
}

func (s *Server) transmitChallenge() {
	data := append([]byte{byte(len(s.challenge))}, s.challenge...)
	data = append(data, s.name...)
	s.send(ppp.Packet{Code: CHAPChallen, ID: s.id, Data: data})
	s.timer.Start(ChallengeInterval)
}

// Timeout is the expiry of the authenticator's timer.
func (s *Server) Timeout() {
	if s.state != srvWaiting {
		return
	}
	if s.method == ppp.AuthPAP || s.tries >= MaxChallenges {
		s.finish(&Result{Reason: "peer did not authenticate in time"}, nil)
		return
	}
	s.tries++
	s.transmitChallenge()
}

// Input handles one PAP or CHAP packet from the peer.
func (s *Server) Input(p ppp.Packet) {
	if s.method == ppp.AuthPAP {
		s.inputPAP(p)
	} else {
		s.inputCHAP(p)
	}
}

func (s *Server) inputPAP(p ppp.Packet) {
	if p.Code != PAPRequest {
		return
	}
	switch s.state {
	case srvSucceeded, srvFailed:
		// The peer missed our answer and asks again: repeat it (there is
		// none when we gave up waiting).
		if s.last.Code != 0 {
			s.send(ppp.Packet{Code: s.last.Code, ID: p.ID, Data: s.last.Data})
		}
		return
	case srvWaiting:
	default:
		return
	}
	d := p.Data
	if len(d) < 1 || len(d) < 1+int(d[0])+1 {
		return // malformed: RFC 1334 says discard
	}
	user := d[1 : 1+int(d[0])]
	d = d[1+int(d[0]):]
	if len(d) < 1+int(d[0]) {
		return
	}
	pass := d[1 : 1+int(d[0])]
	s.id = p.ID
	s.user = string(user)
	s.verify(&Request{Method: ppp.AuthPAP, User: s.user, Password: append([]byte(nil), pass...), ID: p.ID})
}

func (s *Server) inputCHAP(p ppp.Packet) {
	if p.Code != CHAPRespons {
		return // Challenge/Success/Failure from the peer are not for us
	}
	if p.ID != s.id {
		if s.state == srvWaiting && s.retryFail.Code != 0 && p.ID == s.retryFail.ID {
			s.send(s.retryFail) // the peer missed the Failure inviting a retry
		}
		return // a response to an old challenge
	}
	switch s.state {
	case srvSucceeded, srvFailed:
		if s.last.Code != 0 {
			s.send(s.last)
		}
		return
	case srvWaiting:
	default:
		return // already verifying this response
	}
	d := p.Data
	if len(d) < 1 || len(d) < 1+int(d[0]) {
		return
	}
	value := d[1 : 1+int(d[0])]
	name := string(d[1+int(d[0]):])
	want := 16
	if s.method != ppp.AuthCHAPMD5 {
		want = msResponseLen
	}
	if len(value) != want {
		return // wrong length for this method: discard, the timer retries
	}
	s.user = name
	s.verify(&Request{Method: s.method, User: name, ID: p.ID,
		Challenge: append([]byte(nil), s.challenge...), Response: append([]byte(nil), value...)})
}

func (s *Server) verify(req *Request) {
	s.timer.Stop()
	s.state = srvVerifying
	s.req = req
	s.hooks.Verify(req)
}

// Complete delivers the Verifier's answer for the request in progress. A
// nil res with an error counts as a failure (the back-end is down).
func (s *Server) Complete(res *Result, err error) {
	if s.state != srvVerifying {
		return
	}
	if err != nil || res == nil {
		reason := "authentication back-end failed"
		if err != nil {
			reason += ": " + err.Error()
		}
		res = &Result{Reason: reason}
	}
	if !res.OK && s.retries > 0 && (s.method == ppp.AuthMSCHAPv1 || s.method == ppp.AuthMSCHAPv2) {
		s.retry(res)
		return
	}
	s.finish(res, s.req)
}

// retry answers a wrong MS-CHAP response with a Failure that allows
// another attempt (R=1) with a new challenge; the peer's next Response
// carries the next identifier (RFC 2759 9.1.4).
func (s *Server) retry(res *Result) {
	s.retries--
	if s.hooks.Retry != nil {
		s.hooks.Retry(s.user, res)
	}
	s.newChallenge()
	f := s.failure()
	f.Retry = true
	s.retryFail = ppp.Packet{Code: CHAPFailure, ID: s.id, Data: []byte(f.String())}
	s.send(s.retryFail)
	s.id++
	s.state = srvWaiting
	s.tries = MaxChallenges // nothing to retransmit: the timer only bounds the wait
	s.timer.Start(RetryTimeout)
}

// failure is the MS-CHAP Failure text for a wrong password, carrying the
// current challenge: Windows shows the E= code to its user.
func (s *Server) failure() mschap.Failure {
	f := mschap.Failure{Code: mschap.ErrorAuthenticationFailed, Challenge: s.challenge, Message: "Authentication failed"}
	if s.method == ppp.AuthMSCHAPv2 {
		f.Version = 3
	} else {
		f.Version = 2 // RFC 2433: the MS-CHAP version the server supports
	}
	return f
}

func (s *Server) finish(res *Result, req *Request) {
	s.timer.Stop()
	if res.OK {
		s.state = srvSucceeded
	} else {
		s.state = srvFailed
	}
	if req != nil {
		s.last = s.answer(res)
		s.send(s.last)
	}
	s.hooks.Done(res)
}

// answer builds the Success/Failure (CHAP) or Ack/Nak (PAP) packet.
func (s *Server) answer(res *Result) ppp.Packet {
	if s.method == ppp.AuthPAP {
		msg := "Login ok"
		code := PAPAck
		if !res.OK {
			msg, code = "Login incorrect", PAPNak
		}
		return ppp.Packet{Code: code, ID: s.id, Data: append([]byte{byte(len(msg))}, msg...)}
	}
	var msg string
	switch {
	case res.OK && s.method == ppp.AuthMSCHAPv2:
		msg = res.AuthenticatorResponse + " M=Access granted"
	case res.OK:
		msg = "Access granted"
	case s.method == ppp.AuthCHAPMD5:
		msg = "Access denied"
	default:
		msg = s.failure().String() // R=0: no attempts left
	}
	code := CHAPSuccess
	if !res.OK {
		code = CHAPFailure
	}
	return ppp.Packet{Code: code, ID: s.id, Data: []byte(msg)}
}

func chapMD5(id uint8, secret, challenge []byte) [16]byte {
	h := md5.New()
	h.Write([]byte{id})
	h.Write(secret)
	h.Write(challenge)
	var out [16]byte
	h.Sum(out[:0])
	return out
}

func constantTimeEqual(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}
