package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRADIUSOptions(t *testing.T) {
	o := mustParseOpts(t, `require-mschap-v2
radius-server 10.0.0.5
radius-server [2001:db8::5]:1645
radius-acct-server 10.0.0.6:1646
radius-secret s3cret
radius-nas-identifier vpn1
radius-acct-interim 300
radius-dae-listen 0.0.0.0:3799
`)
	r := o.RADIUS
	if !slices.Equal(r.Servers, []string{"10.0.0.5", "[2001:db8::5]:1645"}) || !slices.Equal(r.AcctServers, []string{"10.0.0.6:1646"}) ||
		r.Secret != "s3cret" || r.NASIdentifier != "vpn1" || r.AcctInterim != 5*time.Minute || r.DAEListen != "0.0.0.0:3799" {
		t.Errorf("parsed %+v", r)
	}
	if o.RADIUSMode() != RADIUSDirect {
		t.Errorf("mode %v, want direct", o.RADIUSMode())
	}
	if _, err := o.ServerPolicy(); err != nil {
		t.Error(err)
	}
}

func TestRADIUSPlugin(t *testing.T) {
	// What pptpd users have: the plugin, maybe with its configuration file.
	o, warns, err := parseOpts(t, "plugin /usr/lib/pppd/2.4.9/radius.so\nplugin radattr.so\nmap-to-ifname\n")
	if err != nil {
		t.Fatal(err)
	}
	if o.RADIUSMode() != RADIUSClientConf || o.RADIUS.ConfigFile != "" {
		t.Errorf("mode %v, file %q", o.RADIUSMode(), o.RADIUS.ConfigFile)
	}
	if !warningsContain(warns, "map-to-ifname") {
		t.Errorf("no warning for map-to-ifname: %v", warns)
	}
	o = mustParseOpts(t, "plugin radius.so\nradius-config-file /etc/r/rc.conf\n")
	if o.RADIUSMode() != RADIUSClientConf || o.RADIUS.ConfigFile != "/etc/r/rc.conf" {
		t.Errorf("mode %v, file %q", o.RADIUSMode(), o.RADIUS.ConfigFile)
	}
	if o := mustParseOpts(t, "require-mschap-v2\n"); o.RADIUSMode() != RADIUSOff {
		t.Errorf("no radius options: mode %v", o.RADIUSMode())
	}
}

func TestRADIUSOptionErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"radius-server\n", "radius-server"},
		{"radius-server :1812\n", "names no host"},
		{"radius-acct-interim -5\n", "radius-acct-interim"},
		{"radius-dae-listen a/b\n", "not HOST[:PORT]"},
	} {
		if _, _, err := parseOpts(t, tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.text, err, tc.want)
		}
	}
	for _, tc := range []struct{ text, want string }{
		{"radius-server 10.0.0.5\n", "radius-server needs radius-secret"},
		{"radius-secret x\n", "need radius-server"},
	} {
		o := mustParseOpts(t, tc.text)
		if _, err := o.ServerPolicy(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: ServerPolicy err %v, want %q", tc.text, err, tc.want)
		}
	}
}
