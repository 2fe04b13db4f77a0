package control

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type echoHandler struct{ got chan Request }

func (h echoHandler) Handle(_ context.Context, req Request) Response {
	h.got <- req
	if req.Command == "fail" {
		return Response{Error: "it failed"}
	}
	return Response{Message: req.Command + " " + req.Arg, Killed: 3}
}

func serve(t *testing.T) (string, chan Request) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "ctl.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := echoHandler{got: make(chan Request, 4)}
	done := make(chan error)
	go func() { done <- Serve(ctx, ln, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path, h.got
}

func TestCallRoundTrip(t *testing.T) {
	path, got := serve(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := Call(ctx, path, Request{Command: CmdKill, Arg: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Message != "kill alice" || resp.Killed != 3 {
		t.Errorf("response %+v", resp)
	}
	if r := <-got; r != (Request{Command: CmdKill, Arg: "alice"}) {
		t.Errorf("handler saw %+v", r)
	}
	// An error from the handler comes back as an error, with the response.
	resp, err = Call(ctx, path, Request{Command: "fail"})
	if err == nil || err.Error() != "it failed" || resp.Error != "it failed" {
		t.Errorf("failing command: %+v, %v", resp, err)
	}
}

func TestSocketIsPrivate(t *testing.T) {
	path, _ := serve(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestSecondListenerRefused(t *testing.T) {
	path, _ := serve(t)
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Listen on a live socket: %v", err)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	// Leave the file behind as a crashed pptpd would.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	ln2, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	ln2.Close()
}

func TestBadRequest(t *testing.T) {
	path, got := serve(t)
	for _, in := range []string{"not json\n", strings.Repeat("{", maxRequest+10)} {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte(in))
		buf := make([]byte, 512)
		n, _ := c.Read(buf)
		c.Close()
		if !strings.Contains(string(buf[:n]), "bad request") {
			t.Errorf("answer to %.20q: %q", in, buf[:n])
		}
	}
	select {
	case r := <-got:
		t.Errorf("handler called for a bad request: %+v", r)
	default:
	}
}

func TestCallNoServer(t *testing.T) {
	_, err := Call(context.Background(), filepath.Join(t.TempDir(), "none.sock"), Request{Command: CmdStats})
	if err == nil || !strings.Contains(err.Error(), "cannot reach pptpd") {
		t.Errorf("Call with no server: %v", err)
	}
}
