package proxy

import (
	"bufio"
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// SOCKS protocol numbers (RFC 1928, RFC 1929).
const (
	socksVersion = 5

	methodNoAuth       = 0x00
	methodUserPass     = 0x02
	methodNoAcceptable = 0xff

	userPassVersion = 1

	cmdConnect      = 0x01
	cmdBind         = 0x02
	cmdUDPAssociate = 0x03

	atypIPv4   = 0x01
	atypDomain = 0x03
	atypIPv6   = 0x04
)

// SOCKS5 reply codes (RFC 1928 section 6).
const (
	ReplySucceeded           = 0x00
	ReplyGeneralFailure      = 0x01
	ReplyNotAllowed          = 0x02
	ReplyNetworkUnreachable  = 0x03
	ReplyHostUnreachable     = 0x04
	ReplyConnectionRefused   = 0x05
	ReplyTTLExpired          = 0x06
	ReplyCommandNotSupported = 0x07
	ReplyAddressNotSupported = 0x08
)

// socksHandshakeReaderBytes buffers the negotiation: the largest message,
// an RFC 1929 request, is 513 bytes, but it is read field by field.
const socksHandshakeReaderBytes = 512

// SOCKS5 is a SOCKS version 5 server (RFC 1928) whose connections and UDP
// datagrams go out through Network. It supports CONNECT and UDP ASSOCIATE
// with IPv4, IPv6 and domain-name addresses; domain names are resolved
// through Network. BIND is refused (reply 0x07).
type SOCKS5 struct {
	// Network carries the proxied traffic. It must be set.
	Network Network
	// Auth, when set, requires RFC 1929 username/password authentication
	// and reports whether a pair is valid; see StaticCredentials. When
	// nil, clients must offer "no authentication".
	Auth func(user, password string) bool
	// HandshakeTimeout bounds the time from accepting a connection to
	// the reply to its request (default DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// DialTimeout bounds name resolution plus connecting for CONNECT
	// (default DefaultDialTimeout).
	DialTimeout time.Duration
	// MaxConns is how many client connections are served at once
	// (default DefaultMaxConns); more wait in the listen backlog.
	MaxConns int
	// Log receives per-connection diagnostics at debug level; nil
	// discards them.
	Log *slog.Logger
}

// StaticCredentials returns an Auth function accepting one user name and
// password, compared in constant time.
func StaticCredentials(user, password string) func(string, string) bool {
	return func(u, p string) bool {
		uok := subtle.ConstantTimeCompare([]byte(u), []byte(user))
		pok := subtle.ConstantTimeCompare([]byte(p), []byte(password))
		return uok&pok == 1
	}
}

// ListenAndServe listens on the TCP address addr and serves it until ctx
// ends.
func (s *SOCKS5) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := listen(ctx, addr)
	if err != nil {
		return fmt.Errorf("socks5: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves SOCKS clients on ln until ctx ends, then closes ln and every
// connection and UDP association and returns nil once all have ended. It
// returns an error if ln fails.
func (s *SOCKS5) Serve(ctx context.Context, ln net.Listener) error {
	if s.Network == nil {
		ln.Close()
		return errors.New("socks5: no Network")
	}
	log := orDiscard(s.Log)
	return serveConns(ctx, ln, orDefault(s.MaxConns, DefaultMaxConns), log, func(ctx context.Context, c net.Conn) {
		if err := s.handle(ctx, c); err != nil && ctx.Err() == nil {
			log.Debug("socks5 connection", "client", c.RemoteAddr().String(), "err", err)
		}
	})
}

// socksRequest is a parsed RFC 1928 request.
type socksRequest struct {
	cmd  byte
	atyp byte
	host string // IP literal or domain name
	port uint16
}

// errMalformed marks requests we cannot answer meaningfully: the
// connection is closed without a reply.
var errMalformed = errors.New("malformed SOCKS message")

// handle serves one client connection.
func (s *SOCKS5) handle(ctx context.Context, c net.Conn) error {
	// The whole negotiation is bounded in time, and in memory by the
	// reader's buffer: no field is longer than 255 bytes.
	c.SetDeadline(time.Now().Add(orDefault(s.HandshakeTimeout, DefaultHandshakeTimeout)))
	br := bufio.NewReaderSize(c, socksHandshakeReaderBytes)

	if err := s.negotiate(br, c); err != nil {
		return err
	}
	req, rep, err := readRequest(br)
	if err != nil {
		if rep != 0 {
			writeReply(c, rep, netip.AddrPort{})
		}
		return err
	}
	switch req.cmd {
	case cmdConnect:
		return s.connect(ctx, c, br, req)
	case cmdUDPAssociate:
		return s.udpAssociate(ctx, c, req)
	default: // BIND and unknown commands
		writeReply(c, ReplyCommandNotSupported, netip.AddrPort{})
		return fmt.Errorf("command %#x not supported", req.cmd)
	}
}

// negotiate runs the method selection and, if required, RFC 1929
// authentication.
func (s *SOCKS5) negotiate(br *bufio.Reader, c net.Conn) error {
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return fmt.Errorf("reading greeting: %w", err)
	}
	if hdr[0] != socksVersion {
		return fmt.Errorf("%w: version %d", errMalformed, hdr[0])
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(br, methods); err != nil {
		return fmt.Errorf("reading methods: %w", err)
	}
	want := byte(methodNoAuth)
	if s.Auth != nil {
		want = methodUserPass
	}
	offered := false
	for _, m := range methods {
		offered = offered || m == want
	}
	if !offered {
		c.Write([]byte{socksVersion, methodNoAcceptable})
		return fmt.Errorf("client offers no acceptable method (%x)", methods)
	}
	if _, err := c.Write([]byte{socksVersion, want}); err != nil {
		return fmt.Errorf("writing method: %w", err)
	}
	if s.Auth == nil {
		return nil
	}

	// RFC 1929: VER ULEN UNAME PLEN PASSWD.
	ver, err := br.ReadByte()
	if err != nil {
		return fmt.Errorf("reading authentication: %w", err)
	}
	if ver != userPassVersion {
		c.Write([]byte{userPassVersion, 1})
		return fmt.Errorf("%w: authentication version %d", errMalformed, ver)
	}
	user, err := readString(br)
	if err != nil {
		return fmt.Errorf("reading user name: %w", err)
	}
	pass, err := readString(br)
	if err != nil {
		return fmt.Errorf("reading password: %w", err)
	}
	if !s.Auth(user, pass) {
		c.Write([]byte{userPassVersion, 1})
		return fmt.Errorf("authentication failed for user %q", user)
	}
	if _, err := c.Write([]byte{userPassVersion, 0}); err != nil {
		return fmt.Errorf("writing authentication status: %w", err)
	}
	return nil
}

// readString reads a string preceded by its one-byte length.
func readString(r io.Reader) (string, error) {
	var l [1]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return "", err
	}
	b := make([]byte, l[0])
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}

// readRequest reads VER CMD RSV ATYP DST.ADDR DST.PORT. On failure, rep
// is the reply owed to the client, or 0 when the message is too broken
// to answer.
func readRequest(r io.Reader) (req socksRequest, rep byte, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return req, 0, fmt.Errorf("reading request: %w", err)
	}
	if hdr[0] != socksVersion {
		return req, 0, fmt.Errorf("%w: request version %d", errMalformed, hdr[0])
	}
	req.cmd = hdr[1]
	// RSV (hdr[2]) must be zero, but being strict about it helps nobody.
	req.atyp = hdr[3]
	host, port, rep, err := readAddr(r, req.atyp)
	if err != nil {
		return req, rep, err
	}
	req.host, req.port = host, port
	return req, 0, nil
}

// readAddr reads an address of type atyp and a port.
func readAddr(r io.Reader, atyp byte) (host string, port uint16, rep byte, err error) {
	var b []byte
	switch atyp {
	case atypIPv4:
		b = make([]byte, 4+2)
	case atypIPv6:
		b = make([]byte, 16+2)
	case atypDomain:
		var l [1]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return "", 0, 0, fmt.Errorf("reading address: %w", err)
		}
		if l[0] == 0 {
			return "", 0, ReplyHostUnreachable, errors.New("empty domain name")
		}
		b = make([]byte, int(l[0])+2)
	default:
		return "", 0, ReplyAddressNotSupported, fmt.Errorf("address type %#x not supported", atyp)
	}
	if _, err := io.ReadFull(r, b); err != nil {
		return "", 0, 0, fmt.Errorf("reading address: %w", err)
	}
	a, p := b[:len(b)-2], binary.BigEndian.Uint16(b[len(b)-2:])
	switch atyp {
	case atypIPv4:
		return netip.AddrFrom4([4]byte(a)).String(), p, 0, nil
	case atypIPv6:
		return netip.AddrFrom16([16]byte(a)).Unmap().String(), p, 0, nil
	}
	if !validDomain(a) {
		return "", 0, ReplyHostUnreachable, fmt.Errorf("invalid domain name %q", a)
	}
	return string(a), p, 0, nil
}

// validDomain accepts the characters host names and IP literals use; a
// name with anything else (NUL, '%', ':', '/') cannot be looked up and
// must not reach resolvers or logs as it is.
func validDomain(b []byte) bool {
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return len(b) > 0
}

// writeReply writes VER REP RSV ATYP BND.ADDR BND.PORT.
func writeReply(w io.Writer, rep byte, bnd netip.AddrPort) error {
	b := make([]byte, 0, 22)
	b = append(b, socksVersion, rep, 0)
	b = appendAddr(b, bnd)
	_, err := w.Write(b)
	return err
}

// appendAddr appends ATYP ADDR PORT; an invalid address is written as
// 0.0.0.0:0.
func appendAddr(b []byte, ap netip.AddrPort) []byte {
	ip := ap.Addr().Unmap()
	switch {
	case ip.Is4():
		a := ip.As4()
		b = append(b, atypIPv4)
		b = append(b, a[:]...)
	case ip.Is6():
		a := ip.As16()
		b = append(b, atypIPv6)
		b = append(b, a[:]...)
	default:
		b = append(b, atypIPv4, 0, 0, 0, 0)
	}
	return binary.BigEndian.AppendUint16(b, ap.Port())
}

// replyFor chooses the reply code for a failed CONNECT.
func replyFor(err error) byte {
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr), errors.Is(err, errNoAddress):
		return ReplyHostUnreachable
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReplyConnectionRefused
	case errors.Is(err, syscall.ENETUNREACH):
		return ReplyNetworkUnreachable
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.EHOSTDOWN),
		errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, os.ErrDeadlineExceeded):
		// A host that never answers is as good as unreachable; TTL
		// expired (0x06) is for ICMP time-exceeded, which we never see.
		return ReplyHostUnreachable
	}
	return ReplyGeneralFailure
}

// addrPortOf returns the IP address and port of a net.Addr.
func addrPortOf(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case *net.UDPAddr:
		return a.AddrPort()
	case nil:
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// connect serves CONNECT.
func (s *SOCKS5) connect(ctx context.Context, c net.Conn, br *bufio.Reader, req socksRequest) error {
	remote, err := dialTCP(ctx, s.Network, req.host, req.port, orDefault(s.DialTimeout, DefaultDialTimeout))
	if err != nil {
		writeReply(c, replyFor(err), netip.AddrPort{})
		return err
	}
	defer remote.Close()
	if err := writeReply(c, ReplySucceeded, addrPortOf(remote.LocalAddr())); err != nil {
		return fmt.Errorf("writing reply: %w", err)
	}
	c.SetDeadline(time.Time{})
	// A client may send data right behind its request without waiting
	// for the reply; it is in the handshake buffer.
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		if _, err := remote.Write(b); err != nil {
			return fmt.Errorf("forwarding early data: %w", err)
		}
	}
	relay(ctx, c, remote)
	return nil
}
