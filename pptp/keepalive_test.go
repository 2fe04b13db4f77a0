package pptp

import (
	"errors"
	"net"
	"testing"
	"time"
)

// pipePair returns our Conn with echo interval echo and the peer's raw
// end; both are closed when the test ends.
func pipePair(t *testing.T, echo time.Duration) (*Conn, *Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return NewConn(a, echo), NewConn(b, time.Hour)
}

// TestKeepaliveAnswered: an idle connection is probed after the interval,
// and a peer that answers keeps it open.
func TestKeepaliveAnswered(t *testing.T) {
	const echo = 50 * time.Millisecond
	c, peer := pipePair(t, echo)
	stop := c.StartKeepalive()
	defer stop()
	readErr := make(chan error, 1)
	go func() { _, err := c.Read(); readErr <- err }()

	// The peer reads raw messages so that it sees the Echo-Requests.
	start := time.Now()
	for i := range 3 {
		m, _, err := peer.r.ReadMessage()
		if err != nil {
			t.Fatalf("echo %d: %v", i, err)
		}
		rq, ok := m.(*EchoRequest)
		if !ok {
			t.Fatalf("echo %d: got %v, want Echo-Request", i, m.Type())
		}
		if i == 0 && time.Since(start) < echo {
			t.Errorf("first Echo-Request after %v, before the idle interval %v", time.Since(start), echo)
		}
		if err := peer.Send(&EchoReply{Identifier: rq.Identifier, Result: EchoOK}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-readErr:
		t.Fatalf("connection ended although every echo was answered: %v", err)
	default:
	}
	// A message that is not an echo still reaches the owner.
	if err := peer.Send(&SetLinkInfo{}); err != nil {
		t.Fatal(err)
	}
	if err := <-readErr; err != nil {
		t.Fatalf("Read: %v", err)
	}
}

// TestKeepaliveTimeout: a peer that never answers is cut off one interval
// after the Echo-Request, and Read says why.
func TestKeepaliveTimeout(t *testing.T) {
	const echo = 50 * time.Millisecond
	c, peer := pipePair(t, echo)
	stop := c.StartKeepalive()
	defer stop()
	go func() {
		for {
			if _, _, err := peer.r.ReadMessage(); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	_, err := c.Read()
	if !errors.Is(err, ErrEchoTimeout) {
		t.Fatalf("Read: %v, want ErrEchoTimeout", err)
	}
	if d := time.Since(start); d < 2*echo || d > 2*echo+time.Second {
		t.Errorf("cut off after %v, want about %v", d, 2*echo)
	}
}

// TestKeepaliveTraffic: messages from the peer postpone the probe.
func TestKeepaliveTraffic(t *testing.T) {
	const echo = 100 * time.Millisecond
	c, peer := pipePair(t, echo)
	stop := c.StartKeepalive()
	defer stop()
	got := make(chan Message, 16)
	go func() {
		for {
			m, _, err := peer.r.ReadMessage()
			if err != nil {
				close(got)
				return
			}
			got <- m
		}
	}()
	go func() {
		for {
			if _, err := c.Read(); err != nil {
				return
			}
		}
	}()
	for range 6 {
		time.Sleep(echo / 3)
		if err := peer.Send(&SetLinkInfo{}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case m := <-got:
		t.Fatalf("sent %v while the peer was talking", m.Type())
	default:
	}
}

// TestKeepaliveStop: once stopped, nothing is sent.
func TestKeepaliveStop(t *testing.T) {
	const echo = 30 * time.Millisecond
	c, peer := pipePair(t, echo)
	c.StartKeepalive()()
	got := make(chan error, 1)
	go func() { _, _, err := peer.r.ReadMessage(); got <- err }()
	select {
	case err := <-got:
		t.Fatalf("stopped keepalive sent something (err %v)", err)
	case <-time.After(4 * echo):
	}
	c.Close()
	<-got
}
