package auth

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"time"

	"github.com/gopptp/gopptp/mppe"
	"github.com/gopptp/gopptp/mschap"
	"github.com/gopptp/gopptp/ppp"
)

// Timing of the peer side: a PAP request is repeated every 3 s up to 10
// times (pppd's pap-restart and pap-max-authreq).
const (
	PAPInterval = 3 * time.Second
	MaxPAPTries = 10
)

// ClientResult is the outcome of authenticating ourselves to the server.
type ClientResult struct {
	OK bool
	// Reason explains a failure in plain words, including the server's
	// message when it sent one.
	Reason string
	// SendKey and RecvKey are our MPPE start keys, set when HasKeys.
	SendKey, RecvKey [16]byte
	HasKeys          bool
}

// Client is the authenticating peer of one link.
type Client struct {
	method   ppp.AuthMethod
	user     string
	password string
	send     func(ppp.Packet)
	timer    ppp.Timer
	done     func(ClientResult)

	id       uint8
	tries    int
	finished bool
	// The last challenge answered, so a repeated challenge gets the same
	// response and the MS-CHAP-v2 success can be checked against it.
	lastChalID uint8
	lastResp   ppp.Packet
	authChal   []byte
	peerChal   [16]byte
	ntResp     [24]byte
	answered   bool
}

// NewClient returns the peer side for method, authenticating as user.
func NewClient(method ppp.AuthMethod, user, password string, send func(ppp.Packet), timer ppp.Timer, done func(ClientResult)) *Client {
	return &Client{method: method, user: user, password: password, send: send, timer: timer, done: done}
}

// Start begins authentication once LCP is opened: PAP sends its request,
// the CHAP family waits for the server's challenge.
func (c *Client) Start() {
	if c.method == ppp.AuthPAP {
		var b [1]byte
		rand.Read(b[:])
		c.id = b[0]
		c.tries = 0
		c.sendPAP()
	}
}

// Stop abandons authentication.
func (c *Client) Stop() {
	c.timer.Stop()
	c.finished = true
}

func (c *Client) sendPAP() {
	c.tries++
	if c.tries > 1 {
		c.id++ // RFC 1334 2.2.1: a new identifier for each request sent
	}
	data := append([]byte{byte(len(c.user))}, c.user...)
	data = append(data, byte(len(c.password)))
	data = append(data, c.password...)
	c.send(ppp.Packet{Code: PAPRequest, ID: c.id, Data: data})
	c.timer.Start(PAPInterval)
}

// Timeout is the expiry of the PAP retransmission timer.
func (c *Client) Timeout() {
	if c.finished || c.method != ppp.AuthPAP {
		return
	}
	if c.tries >= MaxPAPTries {
		c.finish(ClientResult{Reason: "no answer to PAP authentication request"})
		return
	}
	c.sendPAP()
}

func (c *Client) finish(r ClientResult) {
	c.timer.Stop()
	c.finished = true
	c.done(r)
}

// Input handles one PAP or CHAP packet from the server.
func (c *Client) Input(p ppp.Packet) {
	if c.finished {
		return
	}
	if c.method == ppp.AuthPAP {
		if p.ID != c.id || (p.Code != PAPAck && p.Code != PAPNak) {
			return
		}
		msg := papMessage(p.Data)
		if p.Code == PAPAck {
			c.finish(ClientResult{OK: true})
		} else {
			c.finish(ClientResult{Reason: "PAP: the server said " + strconvQuote(msg)})
		}
		return
	}
	switch p.Code {
	case CHAPChallen:
		c.challenge(p)
	case CHAPSuccess:
		if c.answered && p.ID == c.lastChalID {
			c.success(p.Data)
		}
	case CHAPFailure:
		if c.answered && p.ID == c.lastChalID {
			c.failure(p.Data)
		}
	}
}

func papMessage(d []byte) string {
	if len(d) < 1 || len(d) < 1+int(d[0]) {
		return ""
	}
	return ppp.Printable(d[1:1+int(d[0])], 128)
}

func (c *Client) challenge(p ppp.Packet) {
	if c.answered && p.ID == c.lastChalID {
		c.send(c.lastResp) // our response was lost
		return
	}
	d := p.Data
	if len(d) < 1 || len(d) < 1+int(d[0]) {
		return
	}
	chal := d[1 : 1+int(d[0])]
	var value []byte
	switch c.method {
	case ppp.AuthCHAPMD5:
		h := chapMD5(p.ID, []byte(c.password), chal)
		value = h[:]
	case ppp.AuthMSCHAPv1:
		if len(chal) != 8 {
			return
		}
		nt := mschap.NTChallengeResponse([8]byte(chal), mschap.NTPasswordHash(c.password))
		value = make([]byte, msResponseLen)
		copy(value[24:48], nt[:])
		value[48] = 1 // use the NT response, not the LAN Manager one
	case ppp.AuthMSCHAPv2:
		if len(chal) != 16 {
			return
		}
		rand.Read(c.peerChal[:])
		c.ntResp = mschap.GenerateNTResponse([16]byte(chal), c.peerChal, c.user, mschap.NTPasswordHash(c.password))
		value = make([]byte, msResponseLen)
		copy(value[0:16], c.peerChal[:])
		copy(value[24:48], c.ntResp[:])
	default:
		return
	}
	c.authChal = append(c.authChal[:0], chal...)
	data := append([]byte{byte(len(value))}, value...)
	data = append(data, c.user...)
	c.lastChalID = p.ID
	c.lastResp = ppp.Packet{Code: CHAPRespons, ID: p.ID, Data: data}
	c.answered = true
	c.send(c.lastResp)
}

func (c *Client) success(msg []byte) {
	res := ClientResult{OK: true}
	h := mschap.NTPasswordHash(c.password)
	hh := mschap.HashNTPasswordHash(h)
	switch c.method {
	case ppp.AuthMSCHAPv2:
		// RFC 2759 section 5: the peer must check that the server knows
		// the password too, or a rogue server could pose as the real one.
		if !mschap.CheckAuthenticatorResponse(h, c.ntResp, c.peerChal, [16]byte(c.authChal), c.user, string(msg)) {
			c.finish(ClientResult{Reason: "server's MS-CHAP-v2 authenticator response is wrong: it does not know our password"})
			return
		}
		master := mppe.MasterKey(hh, c.ntResp)
		res.SendKey, res.RecvKey = mppe.StartKeysV2(master, false)
		res.HasKeys = true
	case ppp.AuthMSCHAPv1:
		k := mppe.StartKeyV1(hh, [8]byte(c.authChal))
		res.SendKey, res.RecvKey, res.HasKeys = k, k, true
	}
	c.finish(res)
}

func (c *Client) failure(msg []byte) {
	text := ppp.Printable(msg, 128)
	if c.method == ppp.AuthMSCHAPv1 || c.method == ppp.AuthMSCHAPv2 {
		if f, err := mschap.ParseFailure(string(msg)); err == nil {
			text = fmt.Sprintf("E=%d", f.Code)
			if f.Message != "" {
				text += " " + ppp.Printable([]byte(f.Message), 128)
			}
		}
	}
	c.finish(ClientResult{Reason: fmt.Sprintf("%v: the server said %s", c.method, text)})
}

func strconvQuote(s string) string { return strconv.Quote(s) }
