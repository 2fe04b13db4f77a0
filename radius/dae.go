package radius

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"
	"layeh.com/radius/rfc3576"
)

// Error-Cause values of RFC 5176 section 3.5 that DAEServer sends.
const (
	errorCauseUnsupportedAttribute = 401
	errorCauseMissingAttribute     = 402
	errorCauseNASIdentMismatch     = 403
	errorCauseSessionNotFound      = 503
	errorCauseSessionNotRemovable  = 504
	errorCauseResourcesUnavailable = 506
)

// DAE timing.
const (
	// daeDupWindow is how long an answer is kept to be repeated to a
	// retransmitted request (RFC 5176 section 2.3): a repeated Disconnect
	// must be ACKed again, not NAKed because the session is gone.
	daeDupWindow = 30 * time.Second
	// daeDupMax bounds that memory.
	daeDupMax = 4096
	// daeTimestampWindow is how far an Event-Timestamp may be from our
	// clock (RFC 5176 section 3.4 replay protection).
	daeTimestampWindow = 300 * time.Second
)

// Match identifies the sessions a Disconnect- or CoA-Request is about. A
// session matches when every field that is set equals its own.
type Match struct {
	SessionID string     // Acct-Session-Id
	User      string     // User-Name
	Addr      netip.Addr // Framed-IP-Address
	// CallingStationID is the Calling-Station-Id: the client's address as
	// the Access-Request sent it.
	CallingStationID string
	// NASPort is the NAS-Port (our Call ID), compared when HasNASPort.
	NASPort    uint32
	HasNASPort bool
}

// Empty reports whether m names no session at all.
func (m Match) Empty() bool {
	return m.SessionID == "" && m.User == "" && !m.Addr.IsValid() && m.CallingStationID == "" && !m.HasNASPort
}

// Matches reports whether the session that rec describes matches m. An
// empty Match matches nothing.
func (m Match) Matches(rec *Record) bool {
	if m.Empty() {
		return false
	}
	return (m.SessionID == "" || m.SessionID == rec.SessionID) &&
		(m.User == "" || m.User == rec.User) &&
		(!m.Addr.IsValid() || m.Addr == rec.Addr.Unmap()) &&
		(m.CallingStationID == "" || (rec.Peer.IsValid() && m.CallingStationID == rec.Peer.Unmap().String())) &&
		(!m.HasNASPort || (rec.HasNASPort && m.NASPort == rec.NASPort))
}

// Sessions is what the DAE listener needs of the PPTP server. The listener
// handles one request at a time, so the methods should return promptly
// (end sessions and send their Accounting-Stop in the background).
type Sessions interface {
	// Disconnect ends the sessions m matches (Acct-Terminate-Cause
	// Admin-Reset) and returns how many there were.
	Disconnect(m Match) (int, error)
	// SetSessionTimeout gives the sessions m matches a new Session-Timeout,
	// counted like the Access-Accept's from the start of the session, and
	// returns how many there were.
	SetSessionTimeout(m Match, d time.Duration) (int, error)
}

// DAEStats are the DAE listener's counters.
type DAEStats struct {
	// Requests counts authentic requests; Duplicates those among them
	// answered from memory.
	Requests, Duplicates uint64
	// ACKs and NAKs count the answers.
	ACKs, NAKs uint64
	// Dropped counts datagrams thrown away: unknown source, wrong
	// authenticator or Message-Authenticator, stale Event-Timestamp,
	// malformed.
	Dropped uint64
}

// DAEServer is a Dynamic Authorization listener (RFC 5176).
type DAEServer struct {
	conn     *net.UDPConn
	secret   []byte
	clients  []netip.Prefix
	sessions Sessions
	nasID    string
	nasIP    netip.Addr
	log      *slog.Logger

	mu    sync.Mutex
	dups  map[dupKey]dupEntry
	stats struct{ requests, duplicates, acks, naks, dropped atomic.Uint64 }
}

type dupKey struct {
	src  netip.AddrPort
	id   byte
	auth [16]byte
}

type dupEntry struct {
	reply   []byte
	expires time.Time
}

// ListenDAE opens the DAE listener that c's configuration describes
// (Config.DAE) and calls sessions for its requests; Serve runs it. The
// host names of the RADIUS servers, which are the default clients, are
// resolved within ctx.
func ListenDAE(ctx context.Context, c *Client, sessions Sessions) (*DAEServer, error) {
	cfg := c.cfg.DAE
	ap, err := netip.ParseAddrPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("radius: DAE listen address %q: %w", cfg.Listen, err)
	}
	d := &DAEServer{sessions: sessions, nasID: c.nasID, nasIP: c.cfg.NASIPAddress, log: c.log, dups: map[dupKey]dupEntry{}}
	d.secret = []byte(cfg.Secret)
	if len(d.secret) == 0 && len(c.auth) > 0 {
		d.secret = c.auth[0].secret
	}
	if len(d.secret) == 0 {
		return nil, errors.New("radius: DAE listener without a secret")
	}
	d.clients = cfg.Clients
	if len(d.clients) == 0 {
		if d.clients, err = serverPrefixes(ctx, append(serverHosts(c.auth), serverHosts(c.acct)...)); err != nil {
			return nil, err
		}
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, fmt.Errorf("radius: DAE listener: %w", err)
	}
	d.conn = conn
	return d, nil
}

// serverHosts lists the hosts of servers.
func serverHosts(servers []*server) []string {
	var out []string
	for _, s := range servers {
		if h, _, err := net.SplitHostPort(s.addr); err == nil {
			out = append(out, h)
		}
	}
	return out
}

// serverPrefixes resolves host names into single-address prefixes.
func serverPrefixes(ctx context.Context, hosts []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, h := range hosts {
		if a, err := netip.ParseAddr(h); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
		if err != nil {
			return nil, fmt.Errorf("radius: DAE clients: resolving RADIUS server %s: %w", h, err)
		}
		for _, a := range addrs {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return out, nil
}

// Addr returns the address the listener is bound to.
func (d *DAEServer) Addr() netip.AddrPort {
	return d.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Stats returns a snapshot of the counters.
func (d *DAEServer) Stats() DAEStats {
	return DAEStats{
		Requests: d.stats.requests.Load(), Duplicates: d.stats.duplicates.Load(),
		ACKs: d.stats.acks.Load(), NAKs: d.stats.naks.Load(), Dropped: d.stats.dropped.Load(),
	}
}

// Serve answers requests until ctx ends, then closes the listener and
// returns nil; any other error ends it too.
func (d *DAEServer) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { d.conn.Close() })
	defer stop()
	defer d.conn.Close()
	buf := make([]byte, radius.MaxPacketLength+1)
	for {
		n, src, err := d.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("radius: DAE listener: %w", err)
		}
		out, err := d.handle(src, buf[:n], time.Now())
		if err != nil {
			d.stats.dropped.Add(1)
			d.log.Debug("DAE request dropped", "from", src, "err", err)
			continue
		}
		if _, err := d.conn.WriteToUDPAddrPort(out, src); err != nil {
			d.log.Warn("DAE reply not sent", "to", src, "err", err)
		}
	}
}

// handle answers one datagram; an error means it is dropped unanswered.
func (d *DAEServer) handle(src netip.AddrPort, b []byte, now time.Time) ([]byte, error) {
	src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	allowed := false
	for _, p := range d.clients {
		if p.Contains(src.Addr()) {
			allowed = true
			break
		}
	}
	if !allowed {
		return nil, errors.New("not from a DAE client")
	}
	if len(b) < 20 {
		return nil, fmt.Errorf("%d-byte datagram", len(b))
	}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < 20 || n > len(b) || n > radius.MaxPacketLength {
		return nil, fmt.Errorf("length field %d in a %d-byte datagram", n, len(b))
	}
	b = b[:n]
	code := radius.Code(b[0])
	if code != radius.CodeDisconnectRequest && code != radius.CodeCoARequest {
		return nil, fmt.Errorf("unexpected %v", code)
	}
	if !radius.IsAuthenticRequest(b, d.secret) {
		return nil, errors.New("wrong Request Authenticator (wrong secret?)")
	}
	if _, ok := checkMessageAuthenticator(b, d.secret, [16]byte{}); !ok {
		return nil, errors.New("wrong Message-Authenticator")
	}
	req, err := radius.Parse(b, d.secret)
	if err != nil {
		return nil, err
	}
	if ts, ok := req.Lookup(rfc2869.EventTimestamp_Type); ok {
		t, err := radius.Date(ts)
		if err != nil {
			return nil, fmt.Errorf("Event-Timestamp: %w", err)
		}
		if t.Sub(now).Abs() > daeTimestampWindow {
			return nil, fmt.Errorf("Event-Timestamp %v too far from now (replay?)", t.UTC())
		}
	}

	key := dupKey{src: src, id: b[1], auth: [16]byte(b[4:20])}
	d.mu.Lock()
	if e, ok := d.dups[key]; ok && now.Before(e.expires) {
		d.mu.Unlock()
		d.stats.requests.Add(1)
		d.stats.duplicates.Add(1)
		return e.reply, nil
	}
	d.mu.Unlock()

	d.stats.requests.Add(1)
	ack, cause := d.apply(req)
	out, err := d.answer(req, ack, cause)
	if err != nil {
		return nil, err
	}
	if ack {
		d.stats.acks.Add(1)
	} else {
		d.stats.naks.Add(1)
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.dups) >= daeDupMax {
		for k, e := range d.dups {
			if !now.Before(e.expires) {
				delete(d.dups, k)
			}
		}
	}
	if len(d.dups) < daeDupMax {
		d.dups[key] = dupEntry{reply: out, expires: now.Add(daeDupWindow)}
	}
	return out, nil
}

// apply carries out an authentic request: ack, or the Error-Cause of the
// NAK.
func (d *DAEServer) apply(req *radius.Packet) (ack bool, cause uint32) {
	var m Match
	var timeout time.Duration
	haveTimeout := false
	for _, avp := range req.Attributes {
		a := avp.Attribute
		switch avp.Type {
		case rfc2866.AcctSessionID_Type:
			m.SessionID = string(a)
		case rfc2865.UserName_Type:
			m.User = string(a)
		case rfc2865.FramedIPAddress_Type:
			if len(a) != 4 {
				return false, errorCauseUnsupportedAttribute
			}
			m.Addr = netip.AddrFrom4([4]byte(a))
		case rfc2865.CallingStationID_Type:
			m.CallingStationID = string(a)
		case rfc2865.NASPort_Type:
			v, err := radius.Integer(a)
			if err != nil {
				return false, errorCauseUnsupportedAttribute
			}
			m.NASPort, m.HasNASPort = v, true
		case rfc2865.NASIdentifier_Type:
			if string(a) != d.nasID {
				return false, errorCauseNASIdentMismatch
			}
		case rfc2865.NASIPAddress_Type, nasIPv6AddressType:
			// Without a configured NAS-IP-Address we never sent one, and
			// the server can only have taken the address from our packets:
			// there is nothing to hold it against.
			ip, ok := netip.AddrFromSlice(a)
			if !ok || d.nasIP.IsValid() && ip.Unmap() != d.nasIP.Unmap() {
				return false, errorCauseNASIdentMismatch
			}
		case rfc2865.SessionTimeout_Type:
			v, err := radius.Integer(a)
			if err != nil || req.Code != radius.CodeCoARequest {
				return false, errorCauseUnsupportedAttribute
			}
			timeout, haveTimeout = time.Duration(v)*time.Second, true
		case rfc2869.EventTimestamp_Type, rfc2869.MessageAuthenticator_Type, rfc2865.ProxyState_Type,
			rfc2865.ReplyMessage_Type, rfc2865.State_Type, rfc2865.CalledStationID_Type,
			rfc2865.NASPortType_Type, rfc2865.ServiceType_Type:
			// Carried for the server's sake or ours to check elsewhere;
			// nothing to act on.
		default:
			// RFC 5176 section 3.5: what the NAS cannot honour is refused
			// as a whole rather than half applied.
			return false, errorCauseUnsupportedAttribute
		}
	}
	if m.Empty() {
		return false, errorCauseMissingAttribute
	}
	var n int
	var err error
	if req.Code == radius.CodeDisconnectRequest {
		n, err = d.sessions.Disconnect(m)
		if err != nil {
			d.log.Warn("DAE Disconnect failed", "match", fmt.Sprintf("%+v", m), "err", err)
			return false, errorCauseSessionNotRemovable
		}
	} else {
		if !haveTimeout {
			return false, errorCauseMissingAttribute
		}
		n, err = d.sessions.SetSessionTimeout(m, timeout)
		if err != nil {
			d.log.Warn("DAE CoA failed", "match", fmt.Sprintf("%+v", m), "err", err)
			return false, errorCauseResourcesUnavailable
		}
	}
	if n == 0 {
		return false, errorCauseSessionNotFound
	}
	d.log.Info("DAE request carried out", "code", req.Code.String(), "sessions", n, "match", fmt.Sprintf("%+v", m))
	return true, 0
}

// answer encodes the ACK or NAK of req.
func (d *DAEServer) answer(req *radius.Packet, ack bool, cause uint32) ([]byte, error) {
	code := radius.CodeDisconnectACK
	switch {
	case req.Code == radius.CodeDisconnectRequest && !ack:
		code = radius.CodeDisconnectNAK
	case req.Code == radius.CodeCoARequest && ack:
		code = radius.CodeCoAACK
	case req.Code == radius.CodeCoARequest:
		code = radius.CodeCoANAK
	}
	p := req.Response(code)
	if !ack {
		p.Add(rfc3576.ErrorCause_Type, radius.NewInteger(cause))
	}
	// RFC 5176 section 3: Proxy-State comes back unchanged and in order.
	for _, avp := range req.Attributes {
		if avp.Type == rfc2865.ProxyState_Type {
			p.Add(rfc2865.ProxyState_Type, avp.Attribute)
		}
	}
	if _, ok := req.Lookup(rfc2869.MessageAuthenticator_Type); ok {
		p.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, messageAuthenticatorLen))
		return encodeSigned(p, req.Authenticator)
	}
	return p.Encode()
}
