package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopptp/gopptp/client"
	"github.com/gopptp/gopptp/control"
)

func TestServerFromPty(t *testing.T) {
	for cmd, want := range map[string]string{
		"pptp vpn.example.com --nolaunchpppd":                      "vpn.example.com",
		"/usr/sbin/pptp 10.1.2.3 --nolaunchpppd --loglevel 0":      "10.1.2.3",
		"pptp --loglevel 0 --timeout 10 vpn.example.com":           "vpn.example.com",
		"pptp --timeout=10 --nolaunchpppd vpn.example.com":         "vpn.example.com",
		`pptp "vpn.example.com" --nolaunchpppd`:                    "vpn.example.com",
		`env LANG=C pptp 'vpn.example.com' --nolaunchpppd`:         "vpn.example.com",
		"pptp -- vpn.example.com":                                  "vpn.example.com",
		"/usr/sbin/pptp --phone 555 --localbind 10.0.0.1 vpn.corp": "vpn.corp",
		"pptp vpn --nolaunchpppd --port 10000":                     "vpn:10000",
		"pptp --port=1724 2001:db8::1 --nolaunchpppd":              "[2001:db8::1]:1724",
		"ssh host pppd":       "",
		"pptp --nolaunchpppd": "",
		"":                    "",
	} {
		got, ok := serverFromPty(cmd)
		if got != want || ok != (want != "") {
			t.Errorf("serverFromPty(%q) = %q %v, want %q", cmd, got, ok, want)
		}
	}
}

func TestSplitShell(t *testing.T) {
	got := splitShell(`a "b c" 'd "e"' f\ g  "h\"i" ''`)
	want := []string{"a", "b c", `d "e"`, "f g", `h"i`, ""}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("splitShell = %q, want %q", got, want)
	}
}

func writePeers(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestParseArgsCall(t *testing.T) {
	dir := writePeers(t, map[string]string{
		"office": "pty \"pptp vpn.example.com --nolaunchpppd\"\nname alice\npassword s3cret\nremotename PPTP\nipparam office\n",
		"native": "pptp-server 10.1.2.3\nname bob\n",
		"noserv": "name carol\n",
		"other":  "pty \"ssh gw pppd notty\"\nname dave\n",
	})
	inv, err := parseArgs([]string{"call", "office", "debug", "persist"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if inv.server != "vpn.example.com" || inv.callName != "office" || inv.opts.Name != "alice" || inv.opts.Debug != 1 || !inv.opts.Persist {
		t.Errorf("call office: %+v", inv)
	}
	for _, w := range inv.warns {
		if strings.Contains(w.Message, "pty") {
			t.Errorf("warning about the pty line that named the server: %v", w)
		}
	}
	if inv, err := parseArgs([]string{"call", "native"}, dir); err != nil || inv.server != "10.1.2.3" {
		t.Errorf("pptp-server: %+v %v", inv, err)
	}
	// A server on the command line wins.
	if inv, err := parseArgs([]string{"192.0.2.9", "call", "office"}, dir); err != nil || inv.server != "192.0.2.9" || inv.callName != "" {
		t.Errorf("server and call: %+v %v", inv, err)
	}
	for _, args := range [][]string{{"call", "noserv"}, {"call", "other"}, {"call"}, {"call", "nosuch"}, {"-d", "x"}, {"vpn", "nosuchoption"}} {
		if _, err := parseArgs(args, dir); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

func TestClientConfig(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	inv, err := parseArgs([]string{"vpn.example.com", "name", "alice", "password", "pw", "defaultroute", "replacedefaultroute",
		"route", "10.0.0.0/8", "usepeerdns", "resolv-conf", "/tmp/r.conf", "persist", "holdoff", "5", "maxfail", "0",
		"ipparam", "x", "linkname", "work", "ip-up-script", "/bin/up"}, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientConfig(inv, log)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server != "vpn.example.com" || !cfg.DefaultRoute || !cfg.ReplaceDefaultRoute || len(cfg.Routes) != 1 ||
		cfg.Routes[0] != netip.MustParsePrefix("10.0.0.0/8") || !cfg.UsePeerDNS || cfg.DNS.ResolvConf != "/tmp/r.conf" ||
		cfg.DNS.Resolved || !cfg.Persist || cfg.Holdoff != 5*time.Second || cfg.MaxFail != 0 || cfg.Name != "work" {
		t.Errorf("config %+v", cfg)
	}
	if s := cfg.Scripts; s.Up != "/bin/up" || s.Down != client.DefaultIPDown || s.IPParam != "x" || s.LinkName != "work" || s.PeerName != "vpn.example.com" {
		t.Errorf("scripts %+v", s)
	}
	if !strings.HasSuffix(cfg.ControlSocket, "/pptp-work.sock") {
		t.Errorf("control socket %q", cfg.ControlSocket)
	}
	// pppd's defaults: maxfail 10, holdoff 30.
	inv, _ = parseArgs([]string{"vpn", "name", "a", "password", "p", "persist", "socks5", "127.0.0.1:1080", "control-socket", "/x.sock"}, "")
	cfg, err = clientConfig(inv, log)
	if err != nil || cfg.MaxFail != 10 || cfg.Holdoff != 30*time.Second || cfg.Name != "proxy" || cfg.ControlSocket != "/x.sock" ||
		len(cfg.SOCKS5) != 1 || cfg.Scripts.Up != client.DefaultIPUp {
		t.Errorf("defaults: %+v %v", cfg, err)
	}
}

func TestLinkName(t *testing.T) {
	dir := writePeers(t, map[string]string{"office": "pptp-server vpn\n"})
	for want, args := range map[string][]string{
		"ppp0":   {"vpn"},
		"ppp3":   {"vpn", "ifname", "ppp3"},
		"work":   {"vpn", "ifname", "ppp3", "linkname", "work"},
		"office": {"call", "office"},
		"proxy":  {"vpn", "socks5", "127.0.0.1:1"},
	} {
		inv, err := parseArgs(args, dir)
		if err != nil {
			t.Fatal(err)
		}
		if got := linkName(inv); got != want {
			t.Errorf("%q: link name %q, want %q", args, got, want)
		}
	}
	if _, err := defaultSocket("a/b"); err == nil {
		t.Error("a link name with a slash names a socket")
	}
}

func TestStatus(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.sock")
	ln, err := control.ListenClient(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	st := control.ClientStatus{Name: "work", PID: 42, State: control.ClientUp, Mode: "tun", Server: "vpn.example.com",
		Interface: "ppp0", User: "alice", Auth: "MS-CHAP-v2", MPPE: "MPPE-128 stateless", Local: "192.168.0.234",
		Remote: "192.168.0.1", DNS: []string{"10.0.2.53"}, Routes: []string{"default"}, UpSince: now.Add(-90 * time.Second),
		UptimeSec: 90, TxBytes: 3 << 20, TxPackets: 10, RxBytes: 512, RxPackets: 4, Attempts: 2,
		LastError: "server disconnected the call", LastErrAt: now}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go control.ServeClient(ctx, ln, func(context.Context, control.Request) control.ClientResponse {
		return control.ClientResponse{Status: &st}
	})
	var out, errOut bytes.Buffer
	if code := runStatus([]string{"-s", path}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"work: up", "ppp0", "vpn.example.com", "alice (MS-CHAP-v2)", "192.168.0.234 -> 192.168.0.1",
		"MPPE-128 stateless", "10.0.2.53", "default", "1m30s", "3.0 MiB in 10 packets", "512 B in 4 packets",
		"2 (0 failed in a row)", "server disconnected the call", "42"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := runStatus([]string{"-s", path, "-json"}, &out, io.Discard); code != 0 {
		t.Fatal(code)
	}
	var got control.ClientStatus
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Name != "work" || got.TxBytes != 3<<20 {
		t.Errorf("json: %v %+v", err, got)
	}
	// Waiting to reconnect.
	st.State, st.NextTry = control.ClientWaiting, time.Now().Add(20*time.Second)
	out.Reset()
	runStatus([]string{"-s", path}, &out, io.Discard)
	if !strings.Contains(out.String(), "work: waiting") || !strings.Contains(out.String(), "next attempt:") ||
		strings.Contains(out.String(), "addresses") {
		t.Errorf("waiting status:\n%s", out.String())
	}
	if code := runStatus([]string{"-s", filepath.Join(t.TempDir(), "none.sock")}, io.Discard, io.Discard); code != 1 {
		t.Errorf("no client: exit %d", code)
	}
	if code := runStatus([]string{"a", "b"}, io.Discard, io.Discard); code != 2 {
		t.Errorf("two names: exit %d", code)
	}
}

func TestBytesText(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 20 << 20: "20.0 MiB", 5 << 30: "5.0 GiB"} {
		if got := bytesText(n); got != want {
			t.Errorf("bytesText(%d) = %q, want %q", n, got, want)
		}
	}
}
