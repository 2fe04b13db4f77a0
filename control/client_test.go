package control

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClientSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "pptp-work.sock")
	ln, err := ListenClient(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode: %v %v", st.Mode(), err)
	}
	if st, _ := os.Stat(filepath.Dir(path)); st.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v", st.Mode())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ServeClient(ctx, ln, func(_ context.Context, req Request) ClientResponse {
			if req.Command != CmdClientStatus {
				return ClientResponse{Error: "unknown command " + req.Command}
			}
			return ClientResponse{Status: &ClientStatus{Name: "work", State: ClientUp, UpSince: time.Unix(1e9, 0)}}
		})
	}()
	cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer ccancel()
	resp, err := CallClient(cctx, path, Request{Command: CmdClientStatus})
	if err != nil || resp.Status == nil || resp.Status.Name != "work" || resp.Status.State != "up" || !resp.Status.UpSince.Equal(time.Unix(1e9, 0)) {
		t.Errorf("status: %+v %v", resp, err)
	}
	if _, err := CallClient(cctx, path, Request{Command: "nosuch"}); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command: %v", err)
	}
	// A second client with the same socket is refused.
	if _, err := ListenClient(path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second listener: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("socket file left behind")
	}
	// A stale socket file is replaced.
	os.WriteFile(path, nil, 0o600)
	ln, err = ListenClient(path)
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	ln.Close()
}
