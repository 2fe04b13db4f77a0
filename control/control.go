// Package control is the administration API between a running pptpd and
// pptpctl: one JSON request and one JSON response per connection on a Unix
// socket that only root can open.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"
)

// DefaultSocket is where pptpd listens unless pptpd.conf names another
// path with control-socket.
const DefaultSocket = "/run/gopptp/pptpd.sock"

// Commands.
const (
	CmdSessions = "sessions" // list every session
	CmdShow     = "show"     // one session by ID
	CmdKill     = "kill"     // end sessions by user, address or ID
	CmdReload   = "reload"   // re-read configuration and secrets (as SIGHUP)
	CmdStats    = "stats"    // server counters
)

// Request is what pptpctl sends.
type Request struct {
	Command string `json:"command"`
	Arg     string `json:"arg,omitempty"`
}

// Response is what pptpd answers.
type Response struct {
	Error    string    `json:"error,omitempty"`
	Sessions []Session `json:"sessions,omitempty"`
	Stats    *Stats    `json:"stats,omitempty"`
	Killed   int       `json:"killed,omitempty"`
	Message  string    `json:"message,omitempty"`
}

// Session describes one session.
type Session struct {
	ID         uint16    `json:"id"`           // our Call ID
	PeerCallID uint16    `json:"peer_call_id"` // the peer's Call ID
	State      string    `json:"state"`        // "negotiating" or "up"
	User       string    `json:"user,omitempty"`
	Peer       string    `json:"peer"`                // the peer's underlay address
	Local      string    `json:"local,omitempty"`     // our tunnel address
	Remote     string    `json:"remote,omitempty"`    // the peer's tunnel address
	Auth       string    `json:"auth,omitempty"`      // authentication method
	MPPESend   string    `json:"mppe_send,omitempty"` // what we encrypt with
	MPPERecv   string    `json:"mppe_recv,omitempty"` // what the peer encrypts with
	Started    time.Time `json:"started"`
	UptimeSec  float64   `json:"uptime_seconds"`
	RxBytes    uint64    `json:"rx_bytes"`
	TxBytes    uint64    `json:"tx_bytes"`
	RxPackets  uint64    `json:"rx_packets"`
	TxPackets  uint64    `json:"tx_packets"`
	Lost       uint64    `json:"lost_packets"`
	Dropped    uint64    `json:"dropped_packets"`
	Reordered  uint64    `json:"reordered_packets"`
	// Stateful MPPE resynchronisation: CCP Reset-Requests we sent after
	// losing packets, resyncs on the peer's flushed packet, and the
	// peer's Reset-Requests we answered (datapath.Stats).
	MPPEResetsSent     uint64 `json:"mppe_resets_sent"`
	MPPEResyncs        uint64 `json:"mppe_resyncs"`
	MPPEResetsReceived uint64 `json:"mppe_resets_received"`
	// IPv6Prefix is the session's /64 while it has IPv6 with one, and
	// DelegatedPrefixes the prefixes routed to it (RADIUS's
	// Delegated-IPv6-Prefix).
	IPv6Prefix        string   `json:"ipv6_prefix,omitempty"`
	DelegatedPrefixes []string `json:"delegated_prefixes,omitempty"`
}

// Stats are server-wide counters.
type Stats struct {
	Started       time.Time         `json:"started"`
	Sessions      int               `json:"sessions"`
	Negotiating   int               `json:"negotiating"`
	MaxSessions   int               `json:"max_sessions"`
	Connections   uint64            `json:"control_connections_total"`
	LoginsOK      uint64            `json:"logins_ok_total"`
	LoginsFailed  uint64            `json:"logins_failed_total"`
	Refused       map[string]uint64 `json:"refused_total,omitempty"` // by reason
	RxBytes       uint64            `json:"rx_bytes_total"`
	TxBytes       uint64            `json:"tx_bytes_total"`
	Drops         map[string]uint64 `json:"drops_total,omitempty"` // by reason
	LockedSources int               `json:"locked_out_sources"`
}

// Handler answers requests; the server implements it.
type Handler interface {
	Handle(ctx context.Context, req Request) Response
}

// Listen opens the control socket at path, replacing a stale one, with
// permissions that let only the owner (root) connect: whoever reaches it
// can list and end sessions.
func Listen(path string) (net.Listener, error) {
	return listenPrivate(path, 0o755, "is another pptpd running?")
}

// listenPrivate listens on a unix socket at path that only its owner may
// connect to, creating its directory with mode dir when missing and
// replacing a stale socket file; inUse is the hint when a live one is
// there.
func listenPrivate(path string, dir os.FileMode, inUse string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), dir); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s is in use: %s", path, inUse)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket permissions: %w", err)
	}
	return ln, nil
}

// maxRequest bounds a request: they are a few dozen bytes.
const maxRequest = 4096

// Serve answers requests on ln until ctx ends.
func Serve(ctx context.Context, ln net.Listener, h Handler) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go serveConn(ctx, c, h)
	}
}

func serveConn(ctx context.Context, c net.Conn, h Handler) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var req Request
	if err := json.NewDecoder(io.LimitReader(c, maxRequest)).Decode(&req); err != nil {
		json.NewEncoder(c).Encode(Response{Error: "bad request: " + err.Error()})
		return
	}
	json.NewEncoder(c).Encode(h.Handle(ctx, req))
}

// Call sends one request to the pptpd listening at path.
func Call(ctx context.Context, path string, req Request) (Response, error) {
	var resp Response
	err := call(ctx, path, "pptpd", req, &resp)
	if err == nil && resp.Error != "" {
		err = errors.New(resp.Error)
	}
	return resp, err
}

// call sends req to the program (who) listening at path and decodes its
// answer into resp. The bound is generous: the session list of a server
// holding ten thousand sessions runs to megabytes.
func call(ctx context.Context, path, who string, req Request, resp any) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("cannot reach %s at %s: %w", who, path, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return fmt.Errorf("sending the request: %w", err)
	}
	if err := json.NewDecoder(io.LimitReader(c, 64<<20)).Decode(resp); err != nil {
		return fmt.Errorf("reading the answer: %w", err)
	}
	return nil
}
