// Package policy translates the authentication and encryption policies
// parsed from pppd options (package config) into the types the PPP layers
// negotiate with.
package policy

import (
	"time"

	"github.com/gopptp/gopptp/config"
	"github.com/gopptp/gopptp/ppp"
	"github.com/gopptp/gopptp/ppp/ccp"
)

// AuthMethods lists the methods of p in its order of preference.
func AuthMethods(p config.AuthPolicy) []ppp.AuthMethod {
	var out []ppp.AuthMethod
	for _, m := range p.Methods {
		switch m {
		case config.AuthPAP:
			out = append(out, ppp.AuthPAP)
		case config.AuthCHAPMD5:
			out = append(out, ppp.AuthCHAPMD5)
		case config.AuthMSCHAPv1:
			out = append(out, ppp.AuthMSCHAPv1)
		case config.AuthMSCHAPv2:
			out = append(out, ppp.AuthMSCHAPv2)
		}
	}
	return out
}

// MPPE converts an MPPE policy.
func MPPE(p config.MPPEPolicy) ccp.Config {
	return ccp.Config{
		Allow40:         p.Allowed.Has(config.MPPE40),
		Allow56:         p.Allowed.Has(config.MPPE56),
		Allow128:        p.Allowed.Has(config.MPPE128),
		Required:        p.Required,
		AllowStateful:   p.AllowStateful,
		RequireStateful: p.RequireStateful,
	}
}

// Default LCP keepalive when the options do not set one. pppd's own
// default is off; a concentrator that never notices dead peers leaks
// addresses, so both our ends probe every 30 s and give up after 4 misses
// (the values Debian's /etc/ppp/options ships).
const (
	DefaultEchoInterval = 30
	DefaultEchoFailure  = 4
)

// LCP returns the echo keepalive and automaton timers from the options.
func LCP(o *config.PPPOptions) (echo time.Duration, failure int, fsm ppp.Config) {
	interval, failure := DefaultEchoInterval, DefaultEchoFailure
	if o.IsSet("lcp-echo-interval") {
		interval = o.LCPEchoInterval
	}
	if o.IsSet("lcp-echo-failure") {
		failure = o.LCPEchoFailure
	}
	fsm = ppp.Config{Restart: time.Duration(o.LCPRestart) * time.Second, MaxConfigure: o.LCPMaxConfigure, MaxTerminate: o.LCPMaxTerminate}
	return time.Duration(interval) * time.Second, failure, fsm
}
