package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// udpHeaderMax is the longest SOCKS UDP request header: RSV FRAG
	// ATYP, an IPv6 address and a port. (Domain names only come from the
	// client, and we answer with addresses.)
	udpHeaderMax = 3 + 1 + 16 + 2
	// udpBufBytes holds the largest UDP payload.
	udpBufBytes = 65535
	// udpResolveTimeout bounds a name lookup for a datagram: the relay
	// waits for it, so it must be short.
	udpResolveTimeout = 5 * time.Second
	// udpNameCacheSize and udpNameTTL bound the per-association cache
	// that spares a DNS query per datagram sent to a name.
	udpNameCacheSize = 64
	udpNameTTL       = time.Minute
)

// association is one UDP ASSOCIATE: a UDP socket on the host facing the
// client and, made on first use, one socket per address family in
// Network facing the world.
type association struct {
	nw     Network
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	local  *net.UDPConn

	// Datagrams are accepted from clientIP only (the control
	// connection's peer) and, if the request named one, from clientPort;
	// the first accepted datagram fixes the client's address.
	clientIP   netip.Addr
	clientPort uint16
	client     atomic.Pointer[netip.AddrPort]

	mu      sync.Mutex
	closed  bool
	remotes map[string]net.PacketConn // by "udp4", "udp6"
	wg      sync.WaitGroup

	names map[string]cachedName // only the client loop uses it
}

type cachedName struct {
	ip      netip.Addr
	expires time.Time
}

// udpAssociate serves UDP ASSOCIATE (RFC 1928 section 7) until the control
// connection c closes or ctx ends.
func (s *SOCKS5) udpAssociate(ctx context.Context, c net.Conn, req socksRequest) error {
	local := addrPortOf(c.LocalAddr())
	peer := addrPortOf(c.RemoteAddr())
	if !local.IsValid() || !peer.IsValid() {
		writeReply(c, ReplyGeneralFailure, netip.AddrPort{})
		return fmt.Errorf("UDP ASSOCIATE over a connection without IP addresses (%v)", c.LocalAddr())
	}
	clientIP := peer.Addr().Unmap()
	// The request may name the address and port the client will send
	// from. Datagrams are accepted from the control connection's address
	// only, so that nobody else can use a client's (authenticated) relay:
	// a request for another address is refused.
	if ip, err := netip.ParseAddr(req.host); err == nil && !ip.IsUnspecified() && ip.Unmap() != clientIP {
		writeReply(c, ReplyNotAllowed, netip.AddrPort{})
		return fmt.Errorf("UDP ASSOCIATE for %v from %v refused", req.host, clientIP)
	}
	// The relay is bound on the address the client reached us on, so it
	// is reachable exactly as the TCP listener is.
	pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local.Addr().Unmap(), 0)))
	if err != nil {
		writeReply(c, ReplyGeneralFailure, netip.AddrPort{})
		return fmt.Errorf("opening UDP relay: %w", err)
	}
	actx, cancel := context.WithCancel(ctx)
	a := &association{
		nw:       s.Network,
		log:      orDiscard(s.Log),
		ctx:      actx,
		cancel:   cancel,
		local:    pc,
		clientIP: clientIP,
		remotes:  make(map[string]net.PacketConn),
		names:    make(map[string]cachedName),
	}
	a.clientPort = req.port
	defer func() {
		a.close()
		a.wg.Wait()
	}()
	if err := writeReply(c, ReplySucceeded, addrPortOf(pc.LocalAddr())); err != nil {
		return fmt.Errorf("writing reply: %w", err)
	}
	c.SetDeadline(time.Time{})

	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.clientLoop()
	}()
	// The association lives as long as the control connection (closed
	// by the server when ctx ends); what the client sends on it means
	// nothing and is discarded.
	io.Copy(io.Discard, c)
	return nil
}

// close ends the association's loops by closing its sockets.
func (a *association) close() {
	a.mu.Lock()
	a.closed = true
	remotes := a.remotes
	a.remotes = nil
	a.mu.Unlock()
	a.cancel()
	a.local.Close()
	for _, pc := range remotes {
		pc.Close()
	}
}

// clientLoop relays datagrams from the client to the world.
func (a *association) clientLoop() {
	buf := make([]byte, udpBufBytes)
	for {
		n, src, err := a.local.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		if src.Addr() != a.clientIP || (a.clientPort != 0 && src.Port() != a.clientPort) {
			continue
		}
		if cur := a.client.Load(); cur == nil {
			a.client.Store(&src)
		} else if *cur != src {
			continue
		}
		if err := a.forward(buf[:n]); err != nil && a.ctx.Err() == nil {
			a.log.Debug("socks5 udp: dropped datagram", "client", src.String(), "err", err)
		}
	}
}

// forward sends one client datagram, with its SOCKS header, on its way.
func (a *association) forward(dgram []byte) error {
	host, port, payload, err := parseUDPHeader(dgram)
	if err != nil {
		return err
	}
	ip, err := a.resolve(host)
	if err != nil {
		return err
	}
	network := "udp4"
	if ip.Is6() {
		network = "udp6"
	}
	pc, err := a.remote(network)
	if err != nil {
		return err
	}
	if _, err := pc.WriteTo(payload, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, port))); err != nil {
		return fmt.Errorf("sending to %v: %w", netip.AddrPortFrom(ip, port), err)
	}
	return nil
}

// errFragment is why fragmented datagrams are dropped: reassembly is
// optional (RFC 1928 section 7) and nobody uses it.
var errFragment = errors.New("fragmented datagram")

// parseUDPHeader splits RSV RSV FRAG ATYP DST.ADDR DST.PORT DATA.
func parseUDPHeader(b []byte) (host string, port uint16, payload []byte, err error) {
	if len(b) < 4 {
		return "", 0, nil, fmt.Errorf("%w: short UDP header", errMalformed)
	}
	if b[2] != 0 {
		return "", 0, nil, errFragment
	}
	r := bytes.NewReader(b[4:])
	host, port, _, err = readAddr(r, b[3])
	if err != nil {
		return "", 0, nil, err
	}
	return host, port, b[len(b)-r.Len():], nil
}

// appendUDPHeader appends the header for a datagram from src.
func appendUDPHeader(b []byte, src netip.AddrPort) []byte {
	return appendAddr(append(b, 0, 0, 0), src)
}

// resolve returns the address to send to host, through a small cache.
func (a *association) resolve(host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), nil
	}
	now := time.Now()
	if e, ok := a.names[host]; ok && now.Before(e.expires) {
		return e.ip, nil
	}
	ctx, cancel := context.WithTimeout(a.ctx, udpResolveTimeout)
	defer cancel()
	ips, err := resolve(ctx, a.nw, host)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(a.names) >= udpNameCacheSize {
		clear(a.names)
	}
	a.names[host] = cachedName{ip: ips[0], expires: now.Add(udpNameTTL)}
	return ips[0], nil
}

// remote returns the association's socket in Network for network, opening
// it, and the loop relaying what it receives, on first use.
func (a *association) remote(network string) (net.PacketConn, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, net.ErrClosed
	}
	if pc := a.remotes[network]; pc != nil {
		return pc, nil
	}
	addr := "0.0.0.0:0"
	if network == "udp6" {
		addr = "[::]:0"
	}
	pc, err := a.nw.ListenPacket(a.ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("opening %s socket: %w", network, err)
	}
	a.remotes[network] = pc
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		a.remoteLoop(pc)
	}()
	return pc, nil
}

// remoteLoop relays datagrams arriving on pc to the client.
func (a *association) remoteLoop(pc net.PacketConn) {
	// The payload is read behind room for the longest header, so that
	// the header is written in front of it without a copy.
	buf := make([]byte, udpHeaderMax+udpBufBytes)
	var hdrBuf [udpHeaderMax]byte
	for {
		n, from, err := pc.ReadFrom(buf[udpHeaderMax:])
		if err != nil {
			return
		}
		client := a.client.Load()
		src := addrPortOf(from)
		if client == nil || !src.IsValid() {
			continue
		}
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		hdr := appendUDPHeader(hdrBuf[:0], src)
		start := udpHeaderMax - len(hdr)
		copy(buf[start:], hdr)
		if _, err := a.local.WriteToUDPAddrPort(buf[start:udpHeaderMax+n], *client); err != nil && a.ctx.Err() == nil {
			a.log.Debug("socks5 udp: reply to client failed", "err", err)
		}
	}
}
