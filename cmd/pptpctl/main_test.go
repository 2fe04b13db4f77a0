package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopptp/gopptp/control"
)

// fake answers like a pptpd with one session.
type fake struct{ last control.Request }

var session = control.Session{ID: 7, PeerCallID: 40000, State: "up", User: "alice", Peer: "10.0.1.2",
	Local: "192.168.0.1", Remote: "192.168.0.234", Auth: "MS-CHAP-v2", MPPESend: "MPPE-128 stateless",
	MPPERecv: "MPPE-128 stateless", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), UptimeSec: 3725,
	RxBytes: 2048, TxBytes: 5 << 20, RxPackets: 10, TxPackets: 3000,
	IPv6Prefix: "2001:db8:1:2a::/64", DelegatedPrefixes: []string{"2001:db8:200::/56"}}

func (f *fake) Handle(_ context.Context, req control.Request) control.Response {
	f.last = req
	switch req.Command {
	case control.CmdSessions, control.CmdShow:
		if req.Arg != "" && req.Arg != "7" {
			return control.Response{Error: "no session " + req.Arg}
		}
		return control.Response{Sessions: []control.Session{session}}
	case control.CmdKill:
		return control.Response{Killed: 1}
	case control.CmdReload:
		return control.Response{Message: "configuration reloaded"}
	case control.CmdStats:
		return control.Response{Stats: &control.Stats{Sessions: 1, LoginsOK: 4, LoginsFailed: 2,
			Refused: map[string]uint64{"rate": 5, "lockout": 1}}}
	}
	return control.Response{Error: "unknown"}
}

func start(t *testing.T) (string, *fake) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ctl.sock")
	ln, err := control.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f := &fake{}
	go control.Serve(ctx, ln, f)
	return path, f
}

func pptpctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCommands(t *testing.T) {
	sock, f := start(t)
	for _, tc := range []struct {
		args []string
		req  control.Request
		want []string
	}{
		{[]string{"sessions"}, control.Request{Command: "sessions"},
			[]string{"alice", "10.0.1.2", "192.168.0.234", "7/40000", "MS-CHAP-v2", "MPPE-128 stateless", "1h2m5s", "2.0KiB/10p", "5.0MiB/3000p", "up", "2001:db8:1:2a::/64+2001:db8:200::/56"}},
		{[]string{"show", "7"}, control.Request{Command: "show", Arg: "7"},
			[]string{"user:", "alice", "192.168.0.1/192.168.0.234", "2048 bytes, 10 packets",
				"IPv6 prefix:", "2001:db8:1:2a::/64", "delegated IPv6 prefixes:", "2001:db8:200::/56"}},
		{[]string{"kill", "alice"}, control.Request{Command: "kill", Arg: "alice"}, []string{"ended 1 session(s)"}},
		{[]string{"reload"}, control.Request{Command: "reload"}, []string{"configuration reloaded"}},
		{[]string{"stats"}, control.Request{Command: "stats"}, []string{"logins ok/failed:", "4/2", "lockout=1 rate=5"}},
	} {
		code, out, errOut := pptpctl(t, append([]string{"-s", sock}, tc.args...)...)
		if code != 0 {
			t.Errorf("%v: exit %d, %s", tc.args, code, errOut)
			continue
		}
		if f.last != tc.req {
			t.Errorf("%v: server got %+v, want %+v", tc.args, f.last, tc.req)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", tc.args, w, out)
			}
		}
	}
}

func TestJSON(t *testing.T) {
	sock, _ := start(t)
	// -json before or after the command.
	for _, args := range [][]string{{"-s", sock, "-json", "sessions"}, {"-s", sock, "sessions", "-json"}} {
		code, out, errOut := pptpctl(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		var resp control.Response
		if err := json.Unmarshal([]byte(out), &resp); err != nil {
			t.Fatalf("%v: not JSON: %v\n%s", args, err, out)
		}
		if len(resp.Sessions) != 1 || resp.Sessions[0].User != "alice" || resp.Sessions[0].TxBytes != 5<<20 ||
			resp.Sessions[0].IPv6Prefix != "2001:db8:1:2a::/64" || len(resp.Sessions[0].DelegatedPrefixes) != 1 ||
			!strings.Contains(out, `"ipv6_prefix": "2001:db8:1:2a::/64"`) {
			t.Errorf("%v: decoded %+v", args, resp)
		}
	}
}

func TestErrors(t *testing.T) {
	sock, _ := start(t)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"-s", sock}, 2, "usage"},
		{[]string{"-s", sock, "frobnicate"}, 2, "unknown command"},
		{[]string{"-s", sock, "show"}, 2, "takes 1 argument"},
		{[]string{"-s", sock, "sessions", "extra"}, 2, "takes 0 argument"},
		{[]string{"-s", sock, "show", "9"}, 1, "no session 9"},
		{[]string{"-s", filepath.Join(t.TempDir(), "absent.sock"), "stats"}, 1, "cannot reach pptpd"},
	} {
		code, _, errOut := pptpctl(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.msg)
		}
	}
}
