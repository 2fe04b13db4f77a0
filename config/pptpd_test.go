package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func parseConf(t *testing.T, text string) (*PptpdConfig, []Warning, error) {
	t.Helper()
	return ParsePptpdConf(strings.NewReader(text), "pptpd.conf")
}

func warningsContain(ws []Warning, sub string) bool {
	for _, w := range ws {
		if strings.Contains(w.String(), sub) {
			return true
		}
	}
	return false
}

func TestPptpdConfDebian(t *testing.T) {
	c, warns, err := LoadPptpdConf(filepath.Join("testdata", "debian-pptpd.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if c.OptionFile != "/etc/ppp/pptpd-options" {
		t.Errorf("OptionFile = %q", c.OptionFile)
	}
	if !c.LogWtmp {
		t.Error("LogWtmp not set")
	}
	if len(warns) != 1 || !strings.Contains(warns[0].String(), "debian-pptpd.conf:39: logwtmp is not implemented") {
		t.Errorf("warnings = %v, want one about logwtmp at line 39", warns)
	}
	// Everything else is poptop's default.
	if c.LocalIP.String() != "192.168.0.1" || c.RemoteIP.String() != "192.168.0.234-192.168.0.238" {
		t.Errorf("pools = %s / %s, want poptop's defaults", c.LocalIP, c.RemoteIP)
	}
	if c.Connections != 100 || c.STimeout != 10*time.Second || c.Debug || c.Listen.IsValid() {
		t.Errorf("defaults wrong: %+v", c)
	}
}

func TestPptpdConfInterop(t *testing.T) {
	c, warns, err := LoadPptpdConf(filepath.Join("testdata", "interop-pptpd.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if c.OptionFile != "/etc/ppp/pptpd-options" || c.LocalIP.String() != "192.168.77.1" ||
		c.RemoteIP.String() != "192.168.77.10-192.168.77.50" || c.RemoteIP.Len() != 41 {
		t.Errorf("got %+v", c)
	}
	// 41 remote addresses but 100 connections: the cap is the pool.
	if !warningsContain(warns, "interop-pptpd.conf:3: only 41 concurrent sessions possible") {
		t.Errorf("warnings = %v", warns)
	}
}

func TestPptpdConfMissing(t *testing.T) {
	_, _, err := LoadPptpdConf(filepath.Join(t.TempDir(), "nope.conf"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("err = %v, want fs.ErrNotExist", err)
	}
}

func TestPptpdConfAllKeys(t *testing.T) {
	text := `# comment
option /etc/ppp/options.pptpd   # trailing comment
localip 10.1.0.1-30
remoteip 10.2.0.0/24,10.3.0.5
listen 2001:db8::1
connections 20
stimeout 30
debug
pidfile /run/pptpd.pid
speed 115200
noipparam
logwtmp
bcrelay eth1
delegate
ppp /usr/sbin/pppd
vrf blue
metrics-listen 127.0.0.1:9100
control-socket /run/gopptp.sock
tun-name pptp%d
log-format json
datapath-workers 4
max-starting 50
max-half-open 100
connection-rate off
lockout-failures 5
lockout-time 120
`
	c, warns, err := parseConf(t, text)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"OptionFile", c.OptionFile, "/etc/ppp/options.pptpd"},
		{"LocalIP", c.LocalIP.String(), "10.1.0.1-10.1.0.30"},
		{"RemoteIP", c.RemoteIP.String(), "10.2.0.1-10.2.0.254,10.3.0.5"},
		{"Listen", c.Listen, netip.MustParseAddr("2001:db8::1")},
		{"Connections", c.Connections, 20},
		{"STimeout", c.STimeout, 30 * time.Second},
		{"Debug", c.Debug, true},
		{"PIDFile", c.PIDFile, "/run/pptpd.pid"},
		{"NoIPParam", c.NoIPParam, true},
		{"LogWtmp", c.LogWtmp, true},
		{"Bcrelay", c.Bcrelay, "eth1"},
		{"Delegate", c.Delegate, true},
		{"PPPBinary", c.PPPBinary, "/usr/sbin/pppd"},
		{"MetricsListen", c.MetricsListen, "127.0.0.1:9100"},
		{"ControlSocket", c.ControlSocket, "/run/gopptp.sock"},
		{"TunName", c.TunName, "pptp%d"},
		{"LogFormat", c.LogFormat, "json"},
		{"Workers", c.Workers, 4},
		{"MaxStarting", c.MaxStarting, 50},
		{"MaxHalfOpen", c.MaxHalfOpen, 100},
		{"ConnectionRate", c.ConnectionRate, -1},
		{"LockoutFailures", c.LockoutFailures, 5},
		{"LockoutTime", c.LockoutTime, 2 * time.Minute},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	for _, key := range []string{":10: speed", ":11: noipparam", ":12: logwtmp", ":13: bcrelay", ":14: delegate", ":15: ppp", ":16: vrf"} {
		if !warningsContain(warns, key) {
			t.Errorf("no warning %q in %v", key, warns)
		}
	}
	if len(warns) != 7 {
		t.Errorf("%d warnings, want 7: %v", len(warns), warns)
	}
}

func TestPptpdConfQuirks(t *testing.T) {
	// poptop uses the first of repeated keys.
	c, warns, err := parseConf(t, "localip 10.0.0.1\nlocalip 10.0.0.2\n")
	if err != nil || c.LocalIP.String() != "10.0.0.1" || !warningsContain(warns, "pptpd.conf:2: localip repeated; the first one (line 1)") {
		t.Errorf("repeat: %v %v %v", c, warns, err)
	}
	// Leading white space: poptop ignores the line; we read it and warn.
	c, warns, err = parseConf(t, "\tconnections 5\n")
	if err != nil || c.Connections != 5 || !warningsContain(warns, "pptpd.conf:1: line starts with white space") {
		t.Errorf("indent: %v %v %v", c, warns, err)
	}
	// A flag with a value.
	c, warns, err = parseConf(t, "debug yes\n")
	if err != nil || !c.Debug || !warningsContain(warns, `debug takes no value; "yes" ignored`) {
		t.Errorf("flag value: %v %v %v", c, warns, err)
	}
	// Tabs between key and value, CRLF line ends, a '#' inside a word.
	c, _, err = parseConf(t, "option\t/etc/ppp/opt#1\r\nconnections\t \t7\r\n")
	if err != nil || c.OptionFile != "/etc/ppp/opt#1" || c.Connections != 7 {
		t.Errorf("tabs/CRLF: %+v %v", c, err)
	}
	// localip overlapping remoteip is suspicious but allowed.
	_, warns, err = parseConf(t, "localip 10.0.0.1\nremoteip 10.0.0.1-5\n")
	if err != nil || !warningsContain(warns, "pptpd.conf:2: remoteip 10.0.0.1-10.0.0.5 overlaps localip 10.0.0.1") {
		t.Errorf("overlap: %v %v", warns, err)
	}
	// Enough addresses for the connections: no capacity warning.
	_, warns, err = parseConf(t, "connections 3\nlocalip 10.0.0.1-3\nremoteip 10.0.1.1-3\n")
	if err != nil || len(warns) != 0 {
		t.Errorf("capacity: %v %v", warns, err)
	}
	// A list of local addresses shorter than the remote pool limits too.
	_, warns, err = parseConf(t, "connections 3\nlocalip 10.0.0.1-2\nremoteip 10.0.1.1-3\n")
	if err != nil || !warningsContain(warns, "only 2 concurrent sessions") {
		t.Errorf("capacity: %v %v", warns, err)
	}
}

func TestPptpdConfErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"\n\nfoo bar\n", "pptpd.conf:3: unknown keyword foo"},
		{"Localip 10.0.0.1\n", "pptpd.conf:1: unknown keyword Localip"},
		{"localip\n", "pptpd.conf:1: localip needs a value"},
		{"option   \n", "pptpd.conf:1: option needs a value"},
		{"localip 10.0.0.300\n", "pptpd.conf:1: localip: bad address"},
		{"# x\nremoteip 10.0.0.9-1\n", "pptpd.conf:2: remoteip: bad range"},
		{"remoteip 2001:db8::1-2001:db8::9\n", "pptpd.conf:1: remoteip: IPv6 addresses cannot be assigned"},
		{"remoteip 10.0.0.1-10,10.0.0.5\n", "pptpd.conf:1: remoteip lists addresses twice"},
		{"listen vpn.example.com\n", "pptpd.conf:1: listen: \"vpn.example.com\" is not an IP address"},
		{"connections 0\n", "pptpd.conf:1: connections: 0 is out of range 1-65535"},
		{"connections ten\n", "pptpd.conf:1: connections: \"ten\" is not a decimal number"},
		{"stimeout -1\n", "stimeout: -1 is out of range"},
		{"stimeout 99999999999999999999\n", "stimeout: \"99999999999999999999\" is not a decimal number"},
		{"metrics-listen 9100\n", "pptpd.conf:1: metrics-listen: \"9100\" is not ADDR:PORT"},
		{"metrics-listen :99999\n", "metrics-listen: bad port"},
		{"tun-name a/b\n", "tun-name: \"a/b\" is not a valid interface name"},
		{"tun-name abcdefghijklmnop\n", "longer than 15 bytes"},
		{"log-format xml\n", "pptpd.conf:1: log-format: must be text or json, not \"xml\""},
		{"datapath-workers 0\n", "pptpd.conf:1: datapath-workers"},
		{"datapath-workers many\n", "pptpd.conf:1: datapath-workers"},
		{"max-starting off\n", "max-starting: \"off\" is not a decimal number"},
		{"max-half-open 0\n", "max-half-open: 0 is out of range"},
		{"lockout-failures -3\n", "lockout-failures: -3 is out of range"},
		{"lockout-time 0\n", "lockout-time: 0 is out of range"},
		{"option " + strings.Repeat("x", maxConfLine+10) + "\n", "pptpd.conf:1: line longer than"},
	}
	for _, tt := range tests {
		_, _, err := parseConf(t, tt.text)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%.40q: err = %v, want %q", tt.text, err, tt.want)
		}
		var pe *ParseError
		if err != nil && !errors.As(err, &pe) {
			t.Errorf("%.40q: error %T is not a *ParseError", tt.text, err)
		}
	}
}

func TestPptpdConfOverlapWithDefaultRemote(t *testing.T) {
	// remoteip is poptop's default; the warning points at localip.
	_, warns, err := parseConf(t, "connections 5\nlocalip 192.168.0.236\n")
	if err != nil || !warningsContain(warns, "pptpd.conf:2: remoteip 192.168.0.234-192.168.0.238 overlaps localip 192.168.0.236") {
		t.Errorf("%v %v", warns, err)
	}
}

func TestPptpdConfPools(t *testing.T) {
	c, _, err := parseConf(t, "ip-pool staff 10.5.0.10-20\nip-pool guests 10.6.0.1-10.6.0.50,10.6.1.1\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Pools) != 2 || c.Pools["staff"].String() != "10.5.0.10-10.5.0.20" || c.Pools["guests"].Len() != 51 {
		t.Errorf("pools %v", c.Pools)
	}
	for _, tc := range []struct{ text, want string }{
		{"ip-pool staff\n", "pptpd.conf:1: ip-pool: wants a name and address ranges"},
		{"ip-pool a 10.0.0.1-5\nip-pool a 10.0.1.1-5\n", "pptpd.conf:2: ip-pool: pool a defined twice"},
		{"ip-pool a 10.0.0.1-5,10.0.0.3\n", "pool a lists addresses twice"},
		{"ip-pool a 2001:db8::1-2001:db8::2\n", "pool a: IPv6"},
	} {
		if _, _, err := parseConf(t, tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestPptpdConfFramedRoutes(t *testing.T) {
	c, _, err := parseConf(t, "framed-route branch1 10.20.0.0/16, 10.21.5.0/24\nframed-route branch2 172.16.9.0/24\nframed-route branch1 10.22.0.0/16\n")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(c.FramedRoutes["branch1"]) != "[10.20.0.0/16 10.21.5.0/24 10.22.0.0/16]" || fmt.Sprint(c.FramedRoutes["branch2"]) != "[172.16.9.0/24]" {
		t.Errorf("routes %v", c.FramedRoutes)
	}
	for _, tc := range []struct{ text, want string }{
		{"framed-route bob\n", "pptpd.conf:1: framed-route: wants a user and subnets"},
		{"framed-route bob 10.0.0.1/24\n", "10.0.0.1/24 has host bits set (the subnet is 10.0.0.0/24)"},
		{"framed-route bob 10.0.0.0/4\n", "not an IPv4 subnet of /8 or longer"},
		{"framed-route bob 2001:db8::/48\n", "not an IPv4 subnet"},
	} {
		if _, _, err := parseConf(t, tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.want)
		}
	}
}
