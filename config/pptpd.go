package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// Defaults that poptop uses when pptpd.conf does not say otherwise.
const (
	DefaultLocalIP     = "192.168.0.1"
	DefaultRemoteIP    = "192.168.0.234-238"
	DefaultConnections = 100
	DefaultSTimeout    = 10 * time.Second
)

// Limits on the values of pptpd.conf keys.
const (
	maxConnections  = 65535 // PPTP call IDs are 16 bits
	maxWorkers      = 256
	maxSTimeoutSecs = 86400
	maxIfNameLen    = 15 // Linux IFNAMSIZ - 1
	maxConfLine     = 64 << 10
	maxConfSize     = 4 << 20
)

// PptpdConfig is the content of a PoPToP pptpd.conf file.
type PptpdConfig struct {
	// OptionFile is the pppd options file ("option"); empty if not given
	// (poptop's pppd then reads only /etc/ppp/options).
	OptionFile string
	// LocalIP and RemoteIP are the address pools ("localip",
	// "remoteip"). When LocalIP holds a single address every session
	// uses it; otherwise session slot i uses LocalIP.At(i), as poptop
	// does. Both are IPv4 only.
	LocalIP, RemoteIP AddrList
	// Listen is the address to bind ("listen"); the zero Addr means all
	// addresses.
	Listen netip.Addr
	// Connections caps concurrent sessions ("connections").
	Connections int
	// STimeout is the time allowed for the first control message
	// ("stimeout").
	STimeout time.Duration
	// Debug turns on debug logging ("debug").
	Debug bool
	// PIDFile is where to write the process ID ("pidfile"); empty if not
	// given (poptop would use /var/run/pptpd.pid).
	PIDFile string

	// Poptop keys that are recorded but not implemented; each one given
	// produces a warning.
	NoIPParam bool   // "noipparam"
	LogWtmp   bool   // "logwtmp"
	Delegate  bool   // "delegate": pppd (not pptpd) allocates addresses
	Bcrelay   string // "bcrelay IF"
	PPPBinary string // "ppp PATH"

	// gopptp's own keys.
	MetricsListen string // "metrics-listen ADDR:PORT"
	ControlSocket string // "control-socket PATH"
	TunName       string // "tun-name NAME"
	// Workers is how many goroutines of each direction carry the
	// sessions' packets ("datapath-workers N|auto"); 0 (auto) leaves
	// the server's default, one per CPU.
	Workers int
	// Pools are named address pools ("ip-pool NAME RANGES", repeatable),
	// for RADIUS's Framed-Pool attribute.
	Pools map[string]AddrList
	// FramedRoutes are the subnets routed to each user's session, and
	// accepted as sources from it ("framed-route USER PREFIX,...",
	// repeatable): a router with a LAN behind it.
	FramedRoutes map[string][]netip.Prefix
	// IPv6Prefix is "ipv6-prefix PREFIX/LEN": the pool each IPv6
	// session (+ipv6 in the options file) gets a /64 from. The first /64
	// is the server's own; LEN is at most 63. Invalid when not given:
	// sessions then have link-local IPv6 only.
	IPv6Prefix netip.Prefix
	// LogFormat is "text" (the default) or "json" ("log-format").
	LogFormat string
	// Limits on unauthenticated work; 0 leaves the server's default, -1
	// (from "off" where allowed) turns a limit off.
	MaxStarting     int           // "max-starting N": sessions negotiating at once
	MaxHalfOpen     int           // "max-half-open N": control connections before their start
	ConnectionRate  int           // "connection-rate N": new connections per second per address
	LockoutFailures int           // "lockout-failures N|off": failed logins before a lockout
	LockoutTime     time.Duration // "lockout-time SECONDS": the first lockout, doubling after

}

// DefaultPptpdConfig returns the configuration poptop uses when
// pptpd.conf is absent or silent.
func DefaultPptpdConfig() *PptpdConfig {
	local, err1 := ParseAddrList(DefaultLocalIP)
	remote, err2 := ParseAddrList(DefaultRemoteIP)
	if err := errors.Join(err1, err2); err != nil {
		// The defaults are constants; failing here is a bug in this file,
		// but we still must not panic on it.
		local, remote = nil, nil
	}
	return &PptpdConfig{
		LocalIP:     local,
		RemoteIP:    remote,
		Connections: DefaultConnections,
		STimeout:    DefaultSTimeout,
	}
}

// LoadPptpdConf reads and parses the pptpd.conf file at path. A missing
// file is an error satisfying errors.Is(err, fs.ErrNotExist); callers
// that treat an absent file as empty should use DefaultPptpdConfig then.
func LoadPptpdConf(path string) (*PptpdConfig, []Warning, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading pptpd configuration: %w", err)
	}
	defer f.Close()
	return ParsePptpdConf(f, path)
}

// pptpdKey describes one pptpd.conf keyword.
type pptpdKey struct {
	// hasValue says whether the keyword takes a value.
	hasValue bool
	// repeatable keywords may be given more than once, each time adding
	// to what the earlier ones said.
	repeatable bool
	// unimplemented, when set, is the warning given whenever the keyword
	// is used.
	unimplemented string
	apply         func(c *PptpdConfig, val string) error
}

// pptpdKeys is the table of pptpd.conf keywords. It is never modified.
var pptpdKeys = map[string]pptpdKey{
	"option": {hasValue: true, apply: func(c *PptpdConfig, v string) error {
		c.OptionFile = v
		return nil
	}},
	"localip": {hasValue: true, apply: func(c *PptpdConfig, v string) (err error) {
		c.LocalIP, err = parsePool(v)
		return err
	}},
	"remoteip": {hasValue: true, apply: func(c *PptpdConfig, v string) (err error) {
		c.RemoteIP, err = parsePool(v)
		return err
	}},
	"listen": {hasValue: true, apply: func(c *PptpdConfig, v string) error {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return fmt.Errorf("%q is not an IP address (host names are not resolved)", v)
		}
		c.Listen = a
		return nil
	}},
	"connections": {hasValue: true, apply: func(c *PptpdConfig, v string) (err error) {
		c.Connections, err = parseBoundedInt(v, 1, maxConnections)
		return err
	}},
	"stimeout": {hasValue: true, apply: func(c *PptpdConfig, v string) error {
		n, err := parseBoundedInt(v, 1, maxSTimeoutSecs)
		c.STimeout = time.Duration(n) * time.Second
		return err
	}},
	"debug": {apply: func(c *PptpdConfig, _ string) error {
		c.Debug = true
		return nil
	}},
	"pidfile": {hasValue: true, apply: func(c *PptpdConfig, v string) error {
		c.PIDFile = v
		return nil
	}},
	"speed": {hasValue: true, unimplemented: "speed has no meaning without a tty; ignored",
		apply: func(*PptpdConfig, string) error { return nil }},
	"noipparam": {unimplemented: "noipparam is not implemented; ignored", apply: func(c *PptpdConfig, _ string) error {
		c.NoIPParam = true
		return nil
	}},
	"logwtmp": {unimplemented: "logwtmp is not implemented; ignored", apply: func(c *PptpdConfig, _ string) error {
		c.LogWtmp = true
		return nil
	}},
	"delegate": {unimplemented: "delegate is not implemented; addresses come from localip/remoteip", apply: func(c *PptpdConfig, _ string) error {
		c.Delegate = true
		return nil
	}},
	"bcrelay": {hasValue: true, unimplemented: "bcrelay is not implemented; ignored", apply: func(c *PptpdConfig, v string) error {
		c.Bcrelay = v
		return nil
	}},
	"ppp": {hasValue: true, unimplemented: "ppp is ignored: PPP runs inside gopptp, not in pppd", apply: func(c *PptpdConfig, v string) error {
		c.PPPBinary = v
		return nil
	}},
	"vrf": {hasValue: true, unimplemented: "vrf is not implemented; ignored",
		apply: func(*PptpdConfig, string) error { return nil }},
	"metrics-listen": {hasValue: true, apply: func(c *PptpdConfig, v string) error {
		if err := checkHostPort(v); err != nil {
			return err
		}
		c.MetricsListen = v
		return nil
	}},
	"control-socket": {hasValue: true, apply: func(c *PptpdConfig, v string) error {
		c.ControlSocket = v
		return nil
	}},
	"log-format": {hasValue: true, apply: func(c *PptpdConfig, v string) error {
		if v != "text" && v != "json" {
			return fmt.Errorf("must be text or json, not %q", v)
		}
		c.LogFormat = v
		return nil
	}},
	"max-starting":     limitKey(func(c *PptpdConfig) *int { return &c.MaxStarting }, false),
	"max-half-open":    limitKey(func(c *PptpdConfig) *int { return &c.MaxHalfOpen }, false),
	"connection-rate":  limitKey(func(c *PptpdConfig) *int { return &c.ConnectionRate }, true),
	"lockout-failures": limitKey(func(c *PptpdConfig) *int { return &c.LockoutFailures }, true),
	"lockout-time": {hasValue: true, apply: func(c *PptpdConfig, v string) error {
		n, err := parseBoundedInt(v, 1, 7*24*3600)
		c.LockoutTime = time.Duration(n) * time.Second
		return err
	}},
	"ip-pool": {hasValue: true, repeatable: true, apply: func(c *PptpdConfig, v string) error {
		name, ranges, _ := strings.Cut(v, " ")
		ranges = strings.TrimSpace(ranges)
		if ranges == "" {
			return errors.New("wants a name and address ranges: ip-pool NAME RANGE[,RANGE...]")
		}
		if _, dup := c.Pools[name]; dup {
			return fmt.Errorf("pool %s defined twice", name)
		}
		l, err := parsePool(ranges)
		if err != nil {
			return fmt.Errorf("pool %s: %w", name, err)
		}
		if a, b, ok := l.selfOverlap(); ok {
			return fmt.Errorf("pool %s lists addresses twice (%s and %s overlap)", name, a, b)
		}
		if c.Pools == nil {
			c.Pools = map[string]AddrList{}
		}
		c.Pools[name] = l
		return nil
	}},
	"framed-route": {hasValue: true, repeatable: true, apply: func(c *PptpdConfig, v string) error {
		user, list, _ := strings.Cut(v, " ")
		list = strings.TrimSpace(list)
		if list == "" {
			return errors.New("wants a user and subnets: framed-route USER PREFIX[,PREFIX...]")
		}
		for _, f := range strings.Split(list, ",") {
			p, err := netip.ParsePrefix(strings.TrimSpace(f))
			if err != nil || !p.Addr().Is4() || p.Bits() < 8 {
				return fmt.Errorf("%q is not an IPv4 subnet of /8 or longer", f)
			}
			if p != p.Masked() {
				return fmt.Errorf("%v has host bits set (the subnet is %v)", p, p.Masked())
			}
			if c.FramedRoutes == nil {
				c.FramedRoutes = map[string][]netip.Prefix{}
			}
			c.FramedRoutes[user] = append(c.FramedRoutes[user], p)
		}
		return nil
	}},
	"ipv6-prefix": {hasValue: true, apply: func(c *PptpdConfig, v string) error {
		p, err := netip.ParsePrefix(v)
		if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() {
			return fmt.Errorf("%q is not an IPv6 prefix such as 2001:db8:100::/56", v)
		}
		if p.Bits() > 63 {
			return fmt.Errorf("%v is too small: each session takes a /64 and the server one more, so at most /63", p)
		}
		// Shorter than /16 is no prefix one server is given, and at /0
		// the count of /64s (2^64) no longer fits the pool's arithmetic.
		if p.Bits() < 16 {
			return fmt.Errorf("%v is too large: no server is delegated more than a /16, so at least /16", p)
		}
		if p != p.Masked() {
			return fmt.Errorf("%v has host bits set (the prefix is %v)", p, p.Masked())
		}
		if p.Addr().IsLinkLocalUnicast() || p.Addr().IsMulticast() {
			return fmt.Errorf("%v is not a prefix for global or unique local addresses", p)
		}
		c.IPv6Prefix = p
		return nil
	}},
	"datapath-workers": {hasValue: true, apply: func(c *PptpdConfig, v string) (err error) {
		if v == "auto" {
			c.Workers = 0
			return nil
		}
		c.Workers, err = parseBoundedInt(v, 1, maxWorkers)
		return err
	}},
	"tun-name": {hasValue: true, apply: func(c *PptpdConfig, v string) error {
		if err := checkIfName(v); err != nil {
			return err
		}
		c.TunName = v
		return nil
	}},
}

// ParsePptpdConf parses a pptpd.conf read from r; name is used in errors
// and warnings. The syntax is poptop's: one "keyword [value]" per line,
// the value being the rest of the line; '#' at the start of a line or
// after white space starts a comment. As in poptop, when a keyword is
// repeated the first occurrence wins (later ones draw a warning).
func ParsePptpdConf(r io.Reader, name string) (*PptpdConfig, []Warning, error) {
	cfg := DefaultPptpdConfig()
	var warns []Warning
	first := map[string]int{}
	sc := bufio.NewScanner(io.LimitReader(r, maxConfSize+1))
	sc.Buffer(make([]byte, 0, 4096), maxConfLine)
	line, size := 0, 0
	for sc.Scan() {
		line++
		size += len(sc.Bytes()) + 1
		if size > maxConfSize {
			return nil, warns, errorAt(Pos{File: name, Line: line}, "file is larger than %d bytes", maxConfSize)
		}
		pos := Pos{File: name, Line: line}
		text := stripConfComment(strings.TrimRight(sc.Text(), " \t\r"))
		if strings.TrimSpace(text) == "" {
			continue
		}
		if text[0] == ' ' || text[0] == '\t' {
			warns = append(warns, Warning{pos, "line starts with white space; poptop ignores such lines, gopptp reads it"})
			text = strings.TrimLeft(text, " \t")
		}
		key, val := text, ""
		if i := strings.IndexAny(text, " \t"); i >= 0 {
			key, val = text[:i], strings.TrimSpace(text[i:])
		}
		spec, ok := pptpdKeys[key]
		if !ok {
			return nil, warns, errorAt(pos, "unknown keyword %s", key)
		}
		if prev, dup := first[key]; dup && !spec.repeatable {
			warns = append(warns, Warning{pos, fmt.Sprintf("%s repeated; the first one (line %d) is used, as in poptop", key, prev)})
			continue
		}
		first[key] = line
		switch {
		case spec.hasValue && val == "":
			return nil, warns, errorAt(pos, "%s needs a value", key)
		case !spec.hasValue && val != "":
			warns = append(warns, Warning{pos, fmt.Sprintf("%s takes no value; %q ignored", key, val)})
		}
		if err := spec.apply(cfg, val); err != nil {
			return nil, warns, &ParseError{Pos: pos, Msg: key, Err: err}
		}
		if spec.unimplemented != "" {
			warns = append(warns, Warning{pos, spec.unimplemented})
		}
	}
	if err := sc.Err(); err != nil {
		pos := Pos{File: name, Line: line + 1}
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, warns, errorAt(pos, "line longer than %d bytes", maxConfLine)
		}
		return nil, warns, &ParseError{Pos: pos, Msg: "read failed", Err: err}
	}
	warns = append(warns, cfg.check(name, first)...)
	if a, b, ok := cfg.RemoteIP.selfOverlap(); ok {
		return nil, warns, errorAt(Pos{File: name, Line: first["remoteip"]},
			"remoteip lists addresses twice (%s and %s overlap)", a, b)
	}
	return cfg, warns, nil
}

// check returns warnings about a configuration that works but is likely
// not what the user meant.
func (c *PptpdConfig) check(name string, lines map[string]int) []Warning {
	var warns []Warning
	if l, r, ok := c.LocalIP.overlap(c.RemoteIP); ok {
		warns = append(warns, Warning{Pos{File: name, Line: max(lines["remoteip"], lines["localip"])},
			fmt.Sprintf("remoteip %s overlaps localip %s; such sessions get the server's own address", r, l)})
	}
	// Only warn when the user chose a value; poptop's defaults (5 remote
	// addresses, 100 connections) always disagree.
	line := 0
	for _, k := range []string{"connections", "localip", "remoteip"} {
		line = max(line, lines[k])
	}
	if line == 0 {
		return warns
	}
	limit := min(c.Connections, c.RemoteIP.Len())
	if c.LocalIP.Len() > 1 {
		limit = min(limit, c.LocalIP.Len())
	}
	if limit < c.Connections {
		warns = append(warns, Warning{Pos{File: name, Line: line},
			fmt.Sprintf("only %d concurrent sessions possible: connections is %d but the address pools are smaller", limit, c.Connections)})
	}
	return warns
}

// stripConfComment removes a comment that starts the line or follows
// white space; a '#' inside a word is kept.
func stripConfComment(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t') {
			return s[:i]
		}
	}
	return s
}

func parsePool(v string) (AddrList, error) {
	l, err := ParseAddrList(v)
	if err != nil {
		return nil, err
	}
	if !l[0].First.Is4() {
		return nil, errors.New("IPv6 addresses cannot be assigned by IPCP; use IPv4")
	}
	return l, nil
}

// parseBoundedInt parses a decimal integer in [lo, hi].
func parseBoundedInt(s string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range %d-%d", n, lo, hi)
	}
	return n, nil
}

// limitKey parses a positive limit, or "off" (stored as -1) when
// canBeOff.
func limitKey(field func(*PptpdConfig) *int, canBeOff bool) pptpdKey {
	return pptpdKey{hasValue: true, apply: func(c *PptpdConfig, v string) error {
		if canBeOff && v == "off" {
			*field(c) = -1
			return nil
		}
		n, err := parseBoundedInt(v, 1, 1<<20)
		*field(c) = n
		return err
	}}
}

func checkHostPort(v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%q is not ADDR:PORT: %w", v, err)
	}
	if _, err := parseBoundedInt(port, 0, 65535); err != nil {
		return fmt.Errorf("bad port in %q: %w", v, err)
	}
	return nil
}

func checkIfName(v string) error {
	if len(v) > maxIfNameLen {
		return fmt.Errorf("interface name %q is longer than %d bytes", v, maxIfNameLen)
	}
	if v == "." || v == ".." || strings.ContainsAny(v, "/: \t\x00") {
		return fmt.Errorf("%q is not a valid interface name", v)
	}
	return nil
}
