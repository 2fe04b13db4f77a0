package config

import (
	"fmt"
	"net"
	"path"
	"strings"
	"time"
)

// RADIUSOptions are the options of pppd's radius plugin and our direct
// radius-* options, for set-ups without a radiusclient.conf.
type RADIUSOptions struct {
	// ConfigFile is the plugin's "radius-config-file": a radiusclient.conf.
	ConfigFile string
	// Servers are "radius-server HOST[:PORT]" (repeatable, tried in order)
	// and AcctServers "radius-acct-server HOST[:PORT]".
	Servers, AcctServers []string
	Secret               string        // "radius-secret"
	NASIdentifier        string        // "radius-nas-identifier"
	AcctInterim          time.Duration // "radius-acct-interim SECONDS"
	DAEListen            string        // "radius-dae-listen ADDR[:PORT]"
}

// DefaultRadiusclientConf is where pppd's radius plugin reads its
// configuration unless radius-config-file says otherwise.
const DefaultRadiusclientConf = "/etc/radiusclient/radiusclient.conf"

// RADIUSMode says how logins are checked.
type RADIUSMode int

const (
	// RADIUSOff: local chap-secrets and pap-secrets.
	RADIUSOff RADIUSMode = iota
	// RADIUSDirect: the radius-server options.
	RADIUSDirect
	// RADIUSClientConf: pppd's radius plugin with its radiusclient.conf
	// (RADIUS.ConfigFile, or DefaultRadiusclientConf).
	RADIUSClientConf
)

// RADIUSMode reports whether logins go to RADIUS, and configured how:
// radius-server wins over the plugin's radiusclient.conf.
func (o *PPPOptions) RADIUSMode() RADIUSMode {
	switch {
	case len(o.RADIUS.Servers) > 0:
		return RADIUSDirect
	case o.RADIUS.ConfigFile != "" || o.HasPlugin("radius.so"):
		return RADIUSClientConf
	}
	return RADIUSOff
}

// HasPlugin reports whether "plugin NAME" was given, by file name, as pppd
// looks plugins up by path or in its plugin directory.
func (o *PPPOptions) HasPlugin(name string) bool {
	for _, p := range o.Plugins {
		if path.Base(p) == name {
			return true
		}
	}
	return false
}

// checkRADIUS validates what the radius options say together.
func (o *PPPOptions) checkRADIUS() error {
	r := &o.RADIUS
	direct := len(r.AcctServers) > 0 || r.Secret != ""
	if direct && len(r.Servers) == 0 {
		return fmt.Errorf("radius-acct-server and radius-secret need radius-server")
	}
	if len(r.Servers) > 0 && r.Secret == "" {
		return fmt.Errorf("radius-server needs radius-secret")
	}
	return nil
}

// pluginOption records a pppd plugin. Only the radius plugin (and
// radattr, whose files nothing here reads) has a meaning for us: its work
// is built in.
func pluginOption(c *optCtx, s string) error {
	o := c.opts()
	o.Plugins = append(o.Plugins, s)
	switch path.Base(s) {
	case "radius.so":
	case "radattr.so":
		c.warn("plugin %s: the radattr files are not written; ignored", s)
	default:
		c.warn("plugin %s is not supported; ignored", s)
	}
	return nil
}

// radiusOptions is the table of RADIUS options, kept apart from pppd's own.
var radiusOptions = map[string]optSpec{
	// pppd's radius plugin.
	"radius-config-file": strArg(func(o *PPPOptions, s string) { o.RADIUS.ConfigFile = s }),
	"avpair":             ignored(1, "avpair (radius plugin) is not supported; ignored"),
	"map-to-ifname":      ignored(0, ""),
	"map-to-ttyname":     ignored(0, ""),
	// Ours.
	"radius-server": hostPortArg(func(o *PPPOptions, s string) { o.RADIUS.Servers = append(o.RADIUS.Servers, s) }),
	"radius-acct-server": hostPortArg(func(o *PPPOptions, s string) {
		o.RADIUS.AcctServers = append(o.RADIUS.AcctServers, s)
	}),
	"radius-secret":         strArg(func(o *PPPOptions, s string) { o.RADIUS.Secret = s }),
	"radius-nas-identifier": strArg(func(o *PPPOptions, s string) { o.RADIUS.NASIdentifier = s }),
	"radius-acct-interim": intArg(0, 7*24*3600, func(o *PPPOptions, n int) {
		o.RADIUS.AcctInterim = time.Duration(n) * time.Second
	}),
	"radius-dae-listen": hostPortArg(func(o *PPPOptions, s string) { o.RADIUS.DAEListen = s }),
}

// hostPortArg takes "HOST", "HOST:PORT", "[V6]:PORT" or a bare IPv6
// address; the radius package applies the default port.
func hostPortArg(f func(o *PPPOptions, s string)) optSpec {
	return optSpec{nargs: 1, apply: func(c *optCtx, s string) error {
		if s == "" || strings.ContainsAny(s, " \t/") {
			return fmt.Errorf("%q is not HOST[:PORT]", s)
		}
		if h, _, err := net.SplitHostPort(s); err == nil && h == "" {
			return fmt.Errorf("%q names no host", s)
		}
		f(c.opts(), s)
		return nil
	}}
}
