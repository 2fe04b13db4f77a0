package control

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"time"
)

// The client (pptp) answers requests on a control socket of its own, one
// per connection, with the same framing as pptpd's: one JSON Request, one
// JSON ClientResponse per connection.

// CmdClientStatus asks a client for its ClientStatus.
const CmdClientStatus = "status"

// Client states, for ClientStatus.State.
const (
	ClientConnecting = "connecting" // placing the call and negotiating PPP
	ClientUp         = "up"         // the network phase is up: IP flows
	ClientWaiting    = "waiting"    // the link dropped: waiting before reconnecting (persist)
	ClientStopping   = "stopping"   // tearing down for good
)

// ClientResponse is what a client answers.
type ClientResponse struct {
	Error  string        `json:"error,omitempty"`
	Status *ClientStatus `json:"status,omitempty"`
}

// ClientStatus describes a running client and its current session.
type ClientStatus struct {
	Name  string `json:"name"` // the link name: linkname, the call name or the interface
	PID   int    `json:"pid"`
	State string `json:"state"`
	// Mode is "tun" (a kernel interface) or "proxy" (rootless, SOCKS5
	// and HTTP proxies over a user-space stack).
	Mode      string   `json:"mode"`
	Server    string   `json:"server"`
	Interface string   `json:"interface,omitempty"`
	Proxies   []string `json:"proxies,omitempty"` // "socks5 127.0.0.1:1080" ...
	Routes    []string `json:"routes,omitempty"`  // routes through the tunnel
	DNS       []string `json:"dns,omitempty"`     // the server's DNS servers

	User   string `json:"user,omitempty"`
	Auth   string `json:"auth,omitempty"`
	MPPE   string `json:"mppe,omitempty"`   // what we encrypt with: "MPPE-128 stateless", "none"
	Local  string `json:"local,omitempty"`  // our tunnel address
	Remote string `json:"remote,omitempty"` // the server's tunnel address

	Started   time.Time `json:"started"`                // when the client started
	UpSince   time.Time `json:"up_since,omitzero"`      // when the current session came up
	UptimeSec float64   `json:"uptime_seconds"`         // of the current session
	RxBytes   uint64    `json:"rx_bytes"`               // IP bytes received in the current session
	TxBytes   uint64    `json:"tx_bytes"`               // IP bytes sent in the current session
	RxPackets uint64    `json:"rx_packets"`             //
	TxPackets uint64    `json:"tx_packets"`             //
	Attempts  int       `json:"attempts"`               // connection attempts since the start
	Failures  int       `json:"consecutive_failures"`   // failed attempts since the last session up
	NextTry   time.Time `json:"next_attempt,omitzero"`  // when waiting: the next attempt
	LastError string    `json:"last_error,omitempty"`   // why the last session or attempt ended
	LastErrAt time.Time `json:"last_error_at,omitzero"` //
}

// ClientHandler answers a client's control requests.
type ClientHandler func(ctx context.Context, req Request) ClientResponse

// ListenClient opens a client's control socket at path, replacing a stale
// one. The directory is created private to the user when missing, and the
// socket lets only its owner connect.
func ListenClient(path string) (net.Listener, error) {
	ln, err := listenPrivate(path, 0o700, "is another pptp with this link name running?")
	if err != nil {
		return nil, err
	}
	// The socket file goes when the listener closes, so that a stale
	// file does not suggest a running client.
	if ul, ok := ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(true)
	}
	return ln, nil
}

// ServeClient answers requests on ln with h until ctx ends, then closes ln.
func ServeClient(ctx context.Context, ln net.Listener, h ClientHandler) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// EMFILE and the like pass; wait rather than spin.
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return nil
			}
			continue
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			var req Request
			if err := json.NewDecoder(io.LimitReader(c, maxRequest)).Decode(&req); err != nil {
				json.NewEncoder(c).Encode(ClientResponse{Error: "bad request: " + err.Error()})
				return
			}
			json.NewEncoder(c).Encode(h(ctx, req))
		}()
	}
}

// CallClient sends one request to the client listening at path.
func CallClient(ctx context.Context, path string, req Request) (ClientResponse, error) {
	var resp ClientResponse
	err := call(ctx, path, "pptp", req, &resp)
	if err == nil && resp.Error != "" {
		err = errors.New(resp.Error)
	}
	return resp, err
}
