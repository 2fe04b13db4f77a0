package config

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestClientOptions(t *testing.T) {
	o, warns, err := ParseOptionWords([]string{
		"route", "10.0.0.0/8", "route", "172.16.5.4/12", "route", "192.0.2.7", "route", "10.0.0.0/8",
		"socks5", "127.0.0.1:1080", "http-proxy", "127.0.0.1:8080", "http-proxy", "[::1]:8080",
		"control-socket", "/run/x.sock", "resolv-conf", "/tmp/resolv.conf", "pptp-server", "vpn.example.com:1723",
		"pty", "pptp vpn.example.com --nolaunchpppd",
	}, "command line")
	if err != nil {
		t.Fatal(err)
	}
	wantRoutes := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("172.16.0.0/12"), netip.MustParsePrefix("192.0.2.7/32")}
	c := o.Client
	if !slices.Equal(c.Routes, wantRoutes) {
		t.Errorf("routes %v, want %v (host bits cleared, duplicates dropped)", c.Routes, wantRoutes)
	}
	if !slices.Equal(c.SOCKS5, []string{"127.0.0.1:1080"}) || !slices.Equal(c.HTTPProxy, []string{"127.0.0.1:8080", "[::1]:8080"}) || !c.ProxyMode() {
		t.Errorf("proxies %v %v", c.SOCKS5, c.HTTPProxy)
	}
	if c.ControlSocket != "/run/x.sock" || c.ResolvConf != "/tmp/resolv.conf" || c.Server != "vpn.example.com:1723" || c.Pty != "pptp vpn.example.com --nolaunchpppd" {
		t.Errorf("client options %+v", c)
	}
	// pty is still reported as not run.
	if len(warns) != 1 || !strings.Contains(warns[0].Message, "pty is ignored") {
		t.Errorf("warnings %v", warns)
	}
	if !o.IsSet("route") || !o.IsSet("socks5") {
		t.Error("client options not recorded as set")
	}
	var z PPPOptions
	if z.Client.ProxyMode() {
		t.Error("proxy mode without proxies")
	}
}

func TestClientOptionErrors(t *testing.T) {
	for _, words := range [][]string{
		{"route", "10.0.0.0/33"},
		{"route", "2001:db8::/32"},
		{"route", "example.com"},
		{"route"},
		{"socks5", "1080"},
		{"socks5", "127.0.0.1:"},
		{"socks5", "127.0.0.1:0x50"},
		{"http-proxy", "127.0.0.1:99999"},
		{"pptp-server", ""},
		{"pptp-server", "a b"},
	} {
		if _, _, err := ParseOptionWords(words, "command line"); err == nil {
			t.Errorf("%q: no error", words)
		}
	}
}

// A failed parse leaves the options as they were, also the slices that
// the options append to.
func TestClientOptionsFailedParse(t *testing.T) {
	o, _, err := ParseOptionWords([]string{"route", "10.0.0.0/8", "socks5", "127.0.0.1:1"}, "cl")
	if err != nil {
		t.Fatal(err)
	}
	o.Client.Routes = slices.Grow(o.Client.Routes, 4) // spare capacity a careless append would write into
	before := slices.Clone(o.Client.Routes[:cap(o.Client.Routes)])
	if _, err := o.ApplyWords([]string{"route", "192.168.0.0/16", "socks5", "127.0.0.1:2", "nosuch"}, "cl"); err == nil {
		t.Fatal("no error")
	}
	if len(o.Client.Routes) != 1 || len(o.Client.SOCKS5) != 1 || !slices.Equal(before, o.Client.Routes[:cap(o.Client.Routes)]) {
		t.Errorf("failed parse changed the options: %v %v", o.Client.Routes[:cap(o.Client.Routes)], o.Client.SOCKS5)
	}
}

func TestClientOptionTable(t *testing.T) {
	for name, spec := range clientOptions {
		if _, ok := pppOptions[name]; ok {
			t.Errorf("%s is pppd's already", name)
		}
		if _, ok := radiusOptions[name]; ok {
			t.Errorf("%s is a RADIUS option already", name)
		}
		if spec.alias != "" || spec.nargs != 1 || spec.apply == nil || spec.kind != kindEffect {
			t.Errorf("%s: unexpected spec %+v", name, spec)
		}
	}
}

func TestPeersDir(t *testing.T) {
	o := NewPPPOptions()
	if o.PeersDir() != "/etc/ppp/peers" {
		t.Errorf("default peers dir %q", o.PeersDir())
	}
	dir := t.TempDir()
	writeFile(t, dir, "work", "name alice\nroute 10.1.0.0/16\n")
	o.SetPeersDir(dir)
	if _, err := o.ApplyWords([]string{"call", "work"}, "cl"); err != nil {
		t.Fatal(err)
	}
	if o.Name != "alice" || len(o.Client.Routes) != 1 || o.PeersDir() != dir {
		t.Errorf("call through a peers dir: %+v", o)
	}
	var z PPPOptions
	if z.PeersDir() != "/etc/ppp/peers" {
		t.Errorf("zero value peers dir %q", z.PeersDir())
	}
}
