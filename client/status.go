package client

import (
	"context"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gopptp/gopptp/control"
	"github.com/gopptp/gopptp/datapath"
	"github.com/gopptp/gopptp/session"
)

// tracker keeps what the status view shows. The connection loop writes
// it; control requests read it from other goroutines.
type tracker struct {
	mu       sync.Mutex
	st       control.ClientStatus
	call     *datapath.Call // the current call, for its counters
	upSince  time.Time
	attempts int
}

func newTracker(cfg *Config) *tracker {
	t := &tracker{st: control.ClientStatus{
		Name:    cfg.Name,
		PID:     os.Getpid(),
		State:   control.ClientConnecting,
		Mode:    "tun",
		Server:  cfg.Server,
		Started: time.Now(),
		User:    cfg.User,
	}}
	if cfg.proxyMode() {
		t.st.Mode = "proxy"
		for _, a := range cfg.SOCKS5 {
			t.st.Proxies = append(t.st.Proxies, "socks5 "+a)
		}
		for _, a := range cfg.HTTPProxy {
			t.st.Proxies = append(t.st.Proxies, "http "+a)
		}
	} else {
		t.st.Interface = cfg.IfName
	}
	return t
}

// connecting records the start of an attempt.
func (t *tracker) connecting() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.attempts++
	t.st.Attempts = t.attempts
	t.st.State = control.ClientConnecting
	t.st.NextTry = time.Time{}
	t.call = nil
}

// callPlaced records the call whose counters the status shows.
func (t *tracker) callPlaced(c *datapath.Call) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.call = c
}

// up records the session as up.
func (t *tracker) up(i session.Info, routes []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st.State = control.ClientUp
	t.st.Failures = 0
	t.upSince = time.Now()
	t.st.Local, t.st.Remote = i.Local.String(), i.Peer.String()
	t.st.Auth = i.Auth.String()
	t.st.MPPE = i.MPPE.Send.String()
	t.st.DNS = t.st.DNS[:0]
	for _, d := range i.DNS {
		t.st.DNS = append(t.st.DNS, d.String())
	}
	t.st.Routes = routes
}

// ended records why an attempt or session ended.
func (t *tracker) ended(err error, failures int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st.Failures = failures
	if err != nil {
		t.st.LastError = err.Error()
		t.st.LastErrAt = time.Now()
	}
	t.clearSessionLocked()
}

func (t *tracker) clearSessionLocked() {
	t.call = nil
	t.upSince = time.Time{}
	t.st.Local, t.st.Remote, t.st.Auth, t.st.MPPE = "", "", "", ""
	t.st.DNS, t.st.Routes = nil, nil
}

// waiting records the hold-off before the next attempt.
func (t *tracker) waiting(next time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st.State = control.ClientWaiting
	t.st.NextTry = next
}

// stopping records the final teardown.
func (t *tracker) stopping() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.st.State = control.ClientStopping
}

// snapshot returns the status now.
func (t *tracker) snapshot() control.ClientStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.st
	s.DNS = append([]string(nil), t.st.DNS...)
	s.Routes = append([]string(nil), t.st.Routes...)
	s.Proxies = append([]string(nil), t.st.Proxies...)
	if c := t.call; c != nil {
		s.RxBytes, s.TxBytes = c.Stats.RxBytes.Load(), c.Stats.TxBytes.Load()
		s.RxPackets, s.TxPackets = c.Stats.RxPackets.Load(), c.Stats.TxPackets.Load()
	}
	if !t.upSince.IsZero() {
		s.UpSince = t.upSince
		s.UptimeSec = time.Since(t.upSince).Seconds()
	}
	return s
}

// Status returns the client's state: what `pptp status` shows.
func (c *Client) Status() control.ClientStatus { return c.track.snapshot() }

// serveControl answers status requests on ln until ctx ends.
func (c *Client) serveControl(ctx context.Context, ln net.Listener) {
	err := control.ServeClient(ctx, ln, func(_ context.Context, req control.Request) control.ClientResponse {
		switch req.Command {
		case control.CmdClientStatus:
			s := c.Status()
			return control.ClientResponse{Status: &s}
		default:
			return control.ClientResponse{Error: "unknown command " + req.Command}
		}
	})
	if err != nil {
		c.log.Warn("control socket", "err", err)
	}
}
