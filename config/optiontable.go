package config

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// optKind says what an option does.
type optKind uint8

const (
	kindEffect      optKind = iota // changes PPPOptions
	kindNoop                       // accepted silently: meaningless for PPTP or our default
	kindIgnored                    // accepted with a warning: not implemented
	kindUnsupported                // refused: ignoring it would change security or behaviour
	kindInclude                    // "file PATH"
	kindCall                       // "call NAME"
)

// optSpec describes one pppd option.
type optSpec struct {
	// alias, when set, names the option this one is another spelling of;
	// the other fields are then unused.
	alias string
	// nargs is the number of arguments, 0 or 1.
	nargs int
	kind  optKind
	// apply performs the option, or validates the argument of an option
	// that is otherwise ignored. It may be nil.
	apply func(c *optCtx, arg string) error
	// note is the warning for kindIgnored (a generic one when empty) or
	// the error for kindUnsupported.
	note string
}

// optCtx is what an option's apply function works on.
type optCtx struct {
	p   *optParser
	pos Pos
}

func (c *optCtx) opts() *PPPOptions { return c.p.o }

func (c *optCtx) warn(format string, args ...any) { c.p.warn(c.pos, format, args...) }

// lookupOption finds an option by name, following aliases. canon is the
// name under which the option is recorded.
func lookupOption(name string) (spec optSpec, canon string, ok bool) {
	spec, ok = pppOptions[name]
	if !ok {
		spec, ok = radiusOptions[name]
	}
	if !ok {
		spec, ok = clientOptions[name]
	}
	if !ok {
		spec, ok = ipv6Options[name]
	}
	if !ok {
		return optSpec{}, "", false
	}
	if spec.alias != "" {
		return pppOptions[spec.alias], spec.alias, true
	}
	return spec, name, true
}

// canonicalOption returns the name under which an option is recorded.
func canonicalOption(name string) string {
	if _, canon, ok := lookupOption(name); ok {
		return canon
	}
	return name
}

func boolOpt(f func(o *PPPOptions)) optSpec {
	return optSpec{apply: func(c *optCtx, _ string) error {
		f(c.opts())
		return nil
	}}
}

func strArg(f func(o *PPPOptions, s string)) optSpec {
	return optSpec{nargs: 1, apply: func(c *optCtx, s string) error {
		f(c.opts(), s)
		return nil
	}}
}

func intArg(lo, hi int, f func(o *PPPOptions, n int)) optSpec {
	return optSpec{nargs: 1, apply: func(c *optCtx, s string) error {
		n, err := parseCInt(s, lo, hi)
		if err != nil {
			return err
		}
		f(c.opts(), n)
		return nil
	}}
}

func alias(canon string) optSpec { return optSpec{alias: canon} }

func noop(nargs int) optSpec { return optSpec{nargs: nargs, kind: kindNoop} }

// noopCheck is a no-op whose argument must still be valid, so that a
// missing argument does not silently swallow the next option.
func noopCheck(check func(string) error) optSpec {
	return optSpec{nargs: 1, kind: kindNoop, apply: func(_ *optCtx, s string) error { return check(s) }}
}

func ignored(nargs int, note string) optSpec {
	return optSpec{nargs: nargs, kind: kindIgnored, note: note}
}

func ignoredInt(note string) optSpec {
	return optSpec{nargs: 1, kind: kindIgnored, note: note, apply: func(_ *optCtx, s string) error { return checkInt(s) }}
}

func unsupported(nargs int, note string) optSpec {
	return optSpec{nargs: nargs, kind: kindUnsupported, note: note}
}

func require(m AuthMethod) optSpec {
	return boolOpt(func(o *PPPOptions) { o.RequireAuth |= AuthMethods(m) })
}

func refuse(m AuthMethod) optSpec {
	return boolOpt(func(o *PPPOptions) { o.RefuseAuth |= AuthMethods(m) })
}

func requireMPPE(l KeyLengths, named bool) optSpec {
	return boolOpt(func(o *PPPOptions) {
		o.MPPE.Required = true
		o.MPPE.Lengths |= l
		if named {
			o.MPPE.Named |= l
		}
	})
}

func refuseMPPE(l KeyLengths) optSpec {
	return boolOpt(func(o *PPPOptions) { o.MPPE.Refused |= l })
}

const (
	maxInt32   = math.MaxInt32
	noteEAPTLS = "EAP-TLS is not supported; ignored"
	noteNoEAP  = "EAP is not supported; use require-mschap-v2"
)

// pppOptions is the table of pppd options, by name. It is never
// modified. Options marked as pppd's aliases are recorded, and reported
// by IsSet, under the name they stand for.
var pppOptions = map[string]optSpec{
	// Files.
	"file": {nargs: 1, kind: kindInclude},
	"call": {nargs: 1, kind: kindCall},

	// Authentication (pppd auth.c).
	"auth":              boolOpt(func(o *PPPOptions) { o.Auth = ToggleOn }),
	"noauth":            boolOpt(func(o *PPPOptions) { o.Auth = ToggleOff }),
	"require-pap":       require(AuthPAP),
	"+pap":              alias("require-pap"),
	"require-chap":      require(AuthCHAPMD5),
	"+chap":             alias("require-chap"),
	"require-mschap":    require(AuthMSCHAPv1),
	"+mschap":           alias("require-mschap"),
	"require-mschap-v2": require(AuthMSCHAPv2),
	"+mschap-v2":        alias("require-mschap-v2"),
	"require-eap":       unsupported(0, "require-eap: "+noteNoEAP),
	"need-peer-eap":     unsupported(0, "need-peer-eap: "+noteNoEAP),
	"refuse-pap":        refuse(AuthPAP),
	"-pap":              alias("refuse-pap"),
	"refuse-chap":       refuse(AuthCHAPMD5),
	"-chap":             alias("refuse-chap"),
	"refuse-mschap":     refuse(AuthMSCHAPv1),
	"-mschap":           alias("refuse-mschap"),
	"refuse-mschap-v2":  refuse(AuthMSCHAPv2),
	"-mschap-v2":        alias("refuse-mschap-v2"),
	"refuse-eap":        boolOpt(func(o *PPPOptions) { o.RefuseEAP = true }),
	"name":              strArg(func(o *PPPOptions, s string) { o.Name = s }),
	"user":              strArg(func(o *PPPOptions, s string) { o.User = s }),
	"password":          strArg(func(o *PPPOptions, s string) { o.Password = Password(s) }),
	"remotename":        strArg(func(o *PPPOptions, s string) { o.RemoteName = s }),
	"chap-secrets":      strArg(func(o *PPPOptions, s string) { o.CHAPSecrets = s }),
	"pap-secrets":       strArg(func(o *PPPOptions, s string) { o.PAPSecrets = s }),
	"tcp-mss-clamp": {nargs: 1, apply: func(c *optCtx, s string) error {
		switch s {
		case "auto":
			c.opts().TCPMSSClamp = MSSClampAuto
		case "off":
			c.opts().TCPMSSClamp = 0
		default:
			n, err := parseCInt(s, 88, 65495)
			if err != nil {
				return fmt.Errorf("want auto, off or a segment size: %w", err)
			}
			c.opts().TCPMSSClamp = n
		}
		return nil
	}},
	"usehostname":    ignored(0, "usehostname is not implemented; set the name with the name option"),
	"+ua":            ignored(1, "+ua is not implemented; use user and password, or pap-secrets"),
	"login":          unsupported(0, "login (PAP against the system password database) is not supported; put the passwords in pap-secrets"),
	"papcrypt":       unsupported(0, "papcrypt (crypt(3)-hashed PAP secrets) is not supported"),
	"enable-session": ignored(0, ""),
	"privgroup":      ignored(1, ""),
	"allow-ip":       ignored(1, "allow-ip is not implemented; ignored (peers that do not authenticate get no address from it)"),
	"remotenumber":   ignored(1, ""),
	"allow-number":   ignored(1, ""),
	"chapms-strip-domain": ignored(0,
		"chapms-strip-domain is not implemented; names are looked up in the secrets files as the peer sends them"),
	"ca":                   ignored(1, noteEAPTLS),
	"capath":               ignored(1, noteEAPTLS),
	"crl-dir":              ignored(1, noteEAPTLS),
	"crl":                  ignored(1, noteEAPTLS),
	"cert":                 ignored(1, noteEAPTLS),
	"key":                  ignored(1, noteEAPTLS),
	"pkcs12":               ignored(1, noteEAPTLS),
	"max-tls-version":      ignored(1, noteEAPTLS),
	"tls-verify-method":    ignored(1, noteEAPTLS),
	"tls-verify-key-usage": ignored(0, noteEAPTLS),
	"chap-restart":         ignoredInt(""),
	"chap-max-challenge":   ignoredInt(""),
	"chap-interval":        ignoredInt(""),
	"chap-timeout":         ignoredInt(""),
	"pap-restart":          ignoredInt(""),
	"pap-max-authreq":      ignoredInt(""),
	"pap-timeout":          ignoredInt(""),
	"eap-restart":          noopCheck(checkInt),
	"eap-max-sreq":         noopCheck(checkInt),
	"eap-timeout":          noopCheck(checkInt),
	"eap-max-rreq":         noopCheck(checkInt),
	"eap-interval":         noopCheck(checkInt),
	"hide-password":        noop(0),
	"show-password":        noop(0),

	// CCP and MPPE (pppd ccp.c).
	"noccp":            boolOpt(func(o *PPPOptions) { o.MPPE.NoCCP = true }),
	"-ccp":             alias("noccp"),
	"require-mppe":     requireMPPE(MPPE40|MPPE128, false),
	"+mppe":            alias("require-mppe"),
	"nomppe":           boolOpt(func(o *PPPOptions) { o.MPPE.Off = true }),
	"-mppe":            alias("nomppe"),
	"require-mppe-40":  requireMPPE(MPPE40, true),
	"+mppe-40":         alias("require-mppe-40"),
	"nomppe-40":        refuseMPPE(MPPE40),
	"-mppe-40":         alias("nomppe-40"),
	"require-mppe-128": requireMPPE(MPPE128, true),
	"+mppe-128":        alias("require-mppe-128"),
	"nomppe-128":       refuseMPPE(MPPE128),
	"-mppe-128":        alias("nomppe-128"),
	"mppe-stateful":    boolOpt(func(o *PPPOptions) { o.MPPE.Stateful = ToggleOn }),
	"nomppe-stateful":  boolOpt(func(o *PPPOptions) { o.MPPE.Stateful, o.MPPE.StatefulRequired = ToggleOff, false }),
	"require-mppe-stateful": boolOpt(func(o *PPPOptions) {
		o.MPPE.Stateful, o.MPPE.StatefulRequired = ToggleOn, true
	}),
	"mppe":           {nargs: 1, apply: applyMPPEModifiers},
	"bsdcomp":        noopCheck(checkCompArg),
	"nobsdcomp":      noop(0),
	"-bsdcomp":       alias("nobsdcomp"),
	"deflate":        noopCheck(checkCompArg),
	"nodeflate":      noop(0),
	"-deflate":       alias("nodeflate"),
	"nodeflatedraft": noop(0),
	"predictor1":     noop(0),
	"nopredictor1":   noop(0),
	"-predictor1":    alias("nopredictor1"),

	// IPCP (pppd ipcp.c).
	"ms-dns": {nargs: 1, apply: func(c *optCtx, s string) error {
		return addServerAddr(c, &c.opts().MSDNS, "ms-dns", s)
	}},
	"ms-wins": {nargs: 1, apply: func(c *optCtx, s string) error {
		return addServerAddr(c, &c.opts().MSWINS, "ms-wins", s)
	}},
	"noipdefault":           boolOpt(func(o *PPPOptions) { o.NoIPDefault = true }),
	"ipcp-accept-local":     boolOpt(func(o *PPPOptions) { o.IPCPAcceptLocal = true }),
	"ipcp-accept-remote":    boolOpt(func(o *PPPOptions) { o.IPCPAcceptRemote = true }),
	"ipparam":               strArg(func(o *PPPOptions, s string) { o.IPParam = s }),
	"defaultroute":          boolOpt(func(o *PPPOptions) { o.DefaultRoute = true }),
	"nodefaultroute":        boolOpt(func(o *PPPOptions) { o.DefaultRoute = false }),
	"-defaultroute":         alias("nodefaultroute"),
	"replacedefaultroute":   boolOpt(func(o *PPPOptions) { o.ReplaceDefaultRoute = true }),
	"noreplacedefaultroute": boolOpt(func(o *PPPOptions) { o.ReplaceDefaultRoute = false }),
	"proxyarp":              boolOpt(func(o *PPPOptions) { o.ProxyARP = true }),
	"noproxyarp":            boolOpt(func(o *PPPOptions) { o.ProxyARP = false }),
	"-proxyarp":             alias("noproxyarp"),
	"usepeerdns":            boolOpt(func(o *PPPOptions) { o.UsePeerDNS = true }),
	"ip-up-script":          strArg(func(o *PPPOptions, s string) { o.IPUpScript = s }),
	"ip-down-script":        strArg(func(o *PPPOptions, s string) { o.IPDownScript = s }),
	"novj":                  noop(0),
	"-vj":                   alias("novj"),
	"novjccomp":             noop(0),
	"-vjccomp":              alias("novjccomp"),
	"vj-max-slots":          noopCheck(checkInt),
	"ipcp-restart":          ignoredInt(""),
	"ipcp-max-terminate":    ignoredInt(""),
	"ipcp-max-configure":    ignoredInt(""),
	"ipcp-max-failure":      ignoredInt(""),
	"defaultroute-metric":   ignoredInt(""),
	"usepeerwins":           ignored(0, ""),
	"noresolvconf":          ignored(0, ""),
	"netmask":               ignored(1, ""),
	"ipcp-no-addresses":     ignored(0, ""),
	"ipcp-no-address":       ignored(0, ""),
	"noremoteip":            ignored(0, ""),
	"nosendip":              ignored(0, ""),
	"ip-pre-up-script":      ignored(1, ""),
	"noip":                  unsupported(0, "noip (no IPv4) is not supported"),
	"-ip":                   alias("noip"),

	// IPV6CP (pppd ipv6cp.c).
	"+ipv6":                   boolOpt(func(o *PPPOptions) { o.IPv6 = true }),
	"noipv6":                  boolOpt(func(o *PPPOptions) { o.IPv6 = false }),
	"-ipv6":                   alias("noipv6"),
	"ipv6":                    ignored(1, ""),
	"ipv6cp-accept-local":     ignored(0, ""),
	"ipv6cp-accept-remote":    ignored(0, ""),
	"ipv6cp-use-ipaddr":       ignored(0, ""),
	"ipv6cp-use-persistent":   ignored(0, ""),
	"ipv6cp-use-remotenumber": ignored(0, ""),
	"ipv6cp-noremote":         ignored(0, ""),
	"ipv6cp-nosend":           ignored(0, ""),
	"ipv6cp-restart":          ignoredInt(""),
	"ipv6cp-max-terminate":    ignoredInt(""),
	"ipv6cp-max-configure":    ignoredInt(""),
	"ipv6cp-max-failure":      ignoredInt(""),
	"defaultroute6":           boolOpt(func(o *PPPOptions) { o.DefaultRoute6 = true }),
	"nodefaultroute6":         boolOpt(func(o *PPPOptions) { o.DefaultRoute6 = false }),
	"-defaultroute6":          alias("nodefaultroute6"),
	"defaultroute6-metric":    ignoredInt(""),
	"ipv6-up-script":          ignored(1, ""),
	"ipv6-down-script":        ignored(1, ""),

	// LCP (pppd lcp.c).
	"lcp-echo-interval": intArg(0, maxInt32, func(o *PPPOptions, n int) { o.LCPEchoInterval = n }),
	"lcp-echo-failure":  intArg(0, maxInt32, func(o *PPPOptions, n int) { o.LCPEchoFailure = n }),
	"lcp-restart":       intArg(1, maxInt32, func(o *PPPOptions, n int) { o.LCPRestart = n }),
	"lcp-max-configure": intArg(1, maxInt32, func(o *PPPOptions, n int) { o.LCPMaxConfigure = n }),
	"lcp-max-terminate": intArg(1, maxInt32, func(o *PPPOptions, n int) { o.LCPMaxTerminate = n }),
	"mtu":               intArg(64, 65535, func(o *PPPOptions, n int) { o.MTU = n }),
	"mru":               intArg(64, 65535, func(o *PPPOptions, n int) { o.MRU = n }),
	"lcp-max-failure":   ignoredInt(""),
	"lcp-echo-adaptive": noop(0),
	"lcp-rtt-file":      ignored(1, ""),
	"noaccomp":          noop(0),
	"-ac":               alias("noaccomp"),
	"nopcomp":           noop(0),
	"-pc":               alias("nopcomp"),
	"asyncmap":          noopCheck(checkHex),
	"-as":               alias("asyncmap"),
	"default-asyncmap":  noop(0),
	"-am":               alias("default-asyncmap"),
	"nomagic":           ignored(0, ""),
	"-mn":               alias("nomagic"),
	"default-mru":       ignored(0, ""),
	"-mru":              alias("default-mru"),
	"passive":           noop(0),
	"-p":                alias("passive"),
	"silent":            noop(0),
	"receive-all":       ignored(0, ""),
	"mrru":              ignoredInt(""),
	"mpshortseq":        noop(0),
	"nompshortseq":      noop(0),
	"endpoint":          ignored(1, ""),
	"noendpoint":        noop(0),

	// General (pppd options.c).
	"debug":             boolOpt(func(o *PPPOptions) { o.Debug++ }),
	"-d":                alias("debug"),
	"kdebug":            intArg(0, maxInt32, func(o *PPPOptions, n int) { o.KDebug = n }),
	"nodetach":          boolOpt(func(o *PPPOptions) { o.NoDetach = true }),
	"-detach":           alias("nodetach"),
	"updetach":          ignored(0, ""),
	"up_sdnotify":       ignored(0, ""),
	"master_detach":     ignored(0, ""),
	"holdoff":           intArg(0, maxInt32, func(o *PPPOptions, n int) { o.Holdoff = n }),
	"idle":              intArg(0, maxInt32, func(o *PPPOptions, n int) { o.Idle = n }),
	"maxconnect":        intArg(0, maxInt32, func(o *PPPOptions, n int) { o.MaxConnect = n }),
	"domain":            ignored(1, ""),
	"persist":           boolOpt(func(o *PPPOptions) { o.Persist = true }),
	"nopersist":         boolOpt(func(o *PPPOptions) { o.Persist = false }),
	"demand":            ignored(0, ""),
	"logfile":           strArg(func(o *PPPOptions, s string) { o.LogFile = s }),
	"logfd":             ignoredInt(""),
	"nolog":             noop(0),
	"nologfd":           noop(0),
	"linkname":          strArg(func(o *PPPOptions, s string) { o.LinkName = s }),
	"maxfail":           intArg(0, maxInt32, func(o *PPPOptions, n int) { o.MaxFail = n }),
	"ktune":             noop(0),
	"noktune":           noop(0),
	"connect-delay":     noopCheck(checkInt),
	"unit":              intArg(0, maxInt32, func(o *PPPOptions, n int) { o.Unit = n }),
	"ifname":            strArg(func(o *PPPOptions, s string) { o.IfName = s }),
	"vrf":               ignored(1, ""),
	"dump":              noop(0),
	"dryrun":            unsupported(0, "dryrun is not supported"),
	"child-timeout":     ignoredInt(""),
	"set":               ignored(1, ""),
	"unset":             ignored(1, ""),
	"net-init-script":   ignored(1, ""),
	"net-pre-up-script": ignored(1, ""),
	"net-down-script":   ignored(1, ""),
	"auth-up-script":    ignored(1, ""),
	"auth-down-script":  ignored(1, ""),
	"multilink":         ignored(0, "multilink is not supported; ignored"),
	"mp":                alias("multilink"),
	"nomultilink":       noop(0),
	"nomp":              alias("nomultilink"),
	"bundle":            ignored(1, ""),
	"plugin":            {nargs: 1, apply: pluginOption},
	"pass-filter":       ignored(1, ""),
	"active-filter":     ignored(1, ""),
	"maxoctets":         ignoredInt(""),
	"mo":                alias("maxoctets"),
	"mo-direction":      ignored(1, ""),
	"mo-timeout":        ignoredInt(""),
	"noipx":             noop(0),

	// Serial lines and child processes (pppd tty.c), which PPTP has not.
	"lock":       noop(0),
	"nolock":     noop(0),
	"pty":        ptyOption,
	"connect":    ignored(1, "connect is ignored: gopptp carries PPP itself"),
	"disconnect": ignored(1, "disconnect is ignored: gopptp carries PPP itself"),
	"init":       ignored(1, ""),
	"welcome":    ignored(1, ""),
	"socket":     ignored(1, ""),
	"record":     ignored(1, ""),
	"notty":      noop(0),
	"crtscts":    noop(0),
	"cdtrcts":    noop(0),
	"nocrtscts":  noop(0),
	"-crtscts":   alias("nocrtscts"),
	"nocdtrcts":  noop(0),
	"xonxoff":    noop(0),
	"stop-bits":  noopCheck(checkInt),
	"modem":      noop(0),
	"local":      noop(0),
	"sync":       noop(0),
	"datarate":   noopCheck(checkInt),
	"escape":     noop(1),
}

// optionHints explain unknown options that old configurations often
// contain.
var optionHints = map[string]string{
	"mppe-40":        "this is the old MPPE patch's spelling; use require-mppe-40",
	"mppe-128":       "this is the old MPPE patch's spelling; use require-mppe-128",
	"mppe-stateless": "this is the old MPPE patch's spelling; stateless is the default (nomppe-stateful)",
	"+chapms":        "this is an old spelling; use require-mschap",
	"-chapms":        "this is an old spelling; use refuse-mschap",
	"+chapms-v2":     "this is an old spelling; use require-mschap-v2",
	"-chapms-v2":     "this is an old spelling; use refuse-mschap-v2",
	"nomppc":         "MPPC compression is not supported; remove it",
}

// applyMPPEModifiers handles the mppe option of the MPPE-MPPC patch:
// "mppe required,stateless,no40,no56,no128" (any subset, in any order).
func applyMPPEModifiers(c *optCtx, arg string) error {
	o := c.opts()
	var required bool
	var refused KeyLengths
	stateless := false
	for mod := range strings.SplitSeq(arg, ",") {
		switch mod {
		case "required":
			required = true
		case "stateless":
			stateless = true
		case "no40":
			refused |= MPPE40
		case "no56":
			refused |= MPPE56
		case "no128":
			refused |= MPPE128
		default:
			return fmt.Errorf("unknown modifier %q (want a comma-separated list of required, stateless, no40, no56, no128)", mod)
		}
	}
	o.MPPE.Lengths |= MPPE40 | MPPE56 | MPPE128
	o.MPPE.Refused |= refused
	if required {
		o.MPPE.Required = true
	} else {
		o.MPPE.Optional = true
	}
	if stateless {
		o.MPPE.Stateful, o.MPPE.StatefulRequired = ToggleOff, false
	}
	return nil
}

// addServerAddr keeps the last two addresses given, as pppd does for
// ms-dns and ms-wins.
func addServerAddr(c *optCtx, list *[]netip.Addr, option, s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return fmt.Errorf("%q is not an IPv4 address (host names are not resolved)", s)
	}
	return keepLastTwo(c, list, option, a)
}

// keepLastTwo adds a to list, dropping the oldest beyond two.
func keepLastTwo(c *optCtx, list *[]netip.Addr, option string, a netip.Addr) error {
	if len(*list) == 2 {
		c.warn("more than two %s options; %s is dropped and the last two are used, as in pppd", option, (*list)[0])
		*list = (*list)[1:]
	}
	*list = append(*list, a)
	return nil
}

// parseCInt parses an integer the way pppd does (C's strtol with base
// 0: decimal, 0x hex, or 0 octal) and checks it is in [lo, hi].
func parseCInt(s string, lo, hi int) (int, error) {
	t, neg := s, false
	if t != "" && (t[0] == '-' || t[0] == '+') {
		neg, t = t[0] == '-', t[1:]
	}
	base := 10
	switch {
	case len(t) > 2 && (t[:2] == "0x" || t[:2] == "0X"):
		base, t = 16, t[2:]
	case len(t) > 1 && t[0] == '0':
		base, t = 8, t[1:]
	}
	if t == "" || strings.ContainsAny(t, "_+-") {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	v, err := strconv.ParseInt(t, base, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if neg {
		v = -v
	}
	if v < int64(lo) || v > int64(hi) {
		return 0, fmt.Errorf("%s is out of range %d-%d", s, lo, hi)
	}
	return int(v), nil
}

func checkInt(s string) error {
	_, err := parseCInt(s, math.MinInt32, maxInt32)
	return err
}

// checkHex checks an asyncmap value: up to 32 bits in hex, with or
// without 0x.
func checkHex(s string) error {
	t := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	if _, err := strconv.ParseUint(t, 16, 32); err != nil || strings.Contains(t, "_") {
		return fmt.Errorf("%q is not a 32-bit hex number", s)
	}
	return nil
}

// checkCompArg checks a bsdcomp or deflate argument: "N" or "N,M".
func checkCompArg(s string) error {
	a, b, two := strings.Cut(s, ",")
	if err := checkInt(a); err != nil {
		return err
	}
	if two {
		return checkInt(b)
	}
	return nil
}
