package config

import (
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Default paths of pppd's secrets files and peers directory.
const (
	DefaultCHAPSecrets = "/etc/ppp/chap-secrets"
	DefaultPAPSecrets  = "/etc/ppp/pap-secrets"
	defaultPeersDir    = "/etc/ppp/peers"
)

const (
	// maxIncludeDepth bounds nested "file"/"call" includes; it also stops
	// a file that includes itself.
	maxIncludeDepth = 8
	// maxOptionsFile bounds the size of one options file.
	maxOptionsFile = 1 << 20
)

// Toggle records an option pair such as auth/noauth, where "neither was
// given" must be told apart from either choice.
type Toggle int8

// Toggle values.
const (
	ToggleUnset Toggle = iota // neither option was given
	ToggleOn                  // the positive option was given last
	ToggleOff                 // the negative option was given last
)

// String returns "unset", "on" or "off".
func (t Toggle) String() string {
	switch t {
	case ToggleOn:
		return "on"
	case ToggleOff:
		return "off"
	default:
		return "unset"
	}
}

// MPPEOptions holds the MPPE options as given. Use
// PPPOptions.ServerPolicy or ClientPolicy for their effective meaning.
type MPPEOptions struct {
	// Off is set by nomppe (-mppe).
	Off bool
	// Required is set by require-mppe, require-mppe-40,
	// require-mppe-128 (and their +mppe forms) and "mppe required".
	Required bool
	// Optional is set by the mppe option without "required": negotiate
	// MPPE if the peer agrees.
	Optional bool
	// Lengths are the key lengths the options above enable:
	// require-mppe enables 40 and 128 bits (as in pppd), the mppe option
	// 40, 56 and 128 bits (as in the MPPE-MPPC patch that introduced it).
	Lengths KeyLengths
	// Named are the lengths named one by one (require-mppe-40,
	// require-mppe-128); refusing one of them is a contradiction.
	Named KeyLengths
	// Refused are the lengths refused by nomppe-40, nomppe-128 and the
	// mppe option's no40, no56 and no128.
	Refused KeyLengths
	// Stateful is on after mppe-stateful, off after nomppe-stateful or
	// "mppe stateless".
	Stateful Toggle
	// StatefulRequired is our extension require-mppe-stateful: ask for
	// stateful mode and insist on it (it turns Stateful on).
	StatefulRequired bool
	// NoCCP is set by noccp (-ccp), which turns off CCP and so MPPE.
	NoCCP bool
}

// PPPOptions holds pppd options read from options files and command
// lines. NewPPPOptions returns pppd's defaults (the zero value holds
// none); each option given overrides them, a later option overriding an
// earlier one, as in pppd. Use IsSet to learn whether an option was given
// at all, and ServerPolicy or ClientPolicy for the authentication and
// encryption policy the options amount to.
type PPPOptions struct {
	// Name is our name for authentication ("name"); a server looks it up
	// in the server column of the secrets files. Empty if not given
	// (pppd then uses the host name).
	Name string
	// User is the name we authenticate as ("user"); see ClientUser.
	User string
	// Password is our password ("password"), used by a client before
	// the secrets files.
	Password Password
	// RemoteName is the peer's name for secrets look-ups ("remotename").
	RemoteName string

	// Auth is auth (on) or noauth (off), whichever came last.
	Auth Toggle
	// RequireAuth are the methods named by require-* (+pap, +chap ...).
	RequireAuth AuthMethods
	// RefuseAuth are the methods named by refuse-* (-pap, -chap ...).
	RefuseAuth AuthMethods
	// RefuseEAP is set by refuse-eap; EAP is never used anyway.
	RefuseEAP bool

	// MPPE holds the MPPE options as given.
	MPPE MPPEOptions

	// MSDNS and MSWINS are the addresses given to Windows peers
	// ("ms-dns", "ms-wins"): at most two each, the last two given, as in
	// pppd. With one address, pppd uses it as primary and secondary.
	MSDNS, MSWINS []netip.Addr

	// LCP timers and counters. pppd's defaults: no echo requests,
	// restart 3 s, 10 configure and 2 terminate requests.
	LCPEchoInterval int // "lcp-echo-interval", seconds; 0 disables
	LCPEchoFailure  int // "lcp-echo-failure"; 0 disables
	LCPRestart      int // "lcp-restart", seconds
	LCPMaxConfigure int // "lcp-max-configure"
	LCPMaxTerminate int // "lcp-max-terminate"
	// MTU and MRU are 0 when not given ("mtu", "mru").
	MTU, MRU int

	ProxyARP            bool   // "proxyarp"; "noproxyarp" clears it
	Debug               int    // number of "debug" options given
	KDebug              int    // "kdebug"
	DefaultRoute        bool   // "defaultroute"; "nodefaultroute" clears it
	ReplaceDefaultRoute bool   // "replacedefaultroute"
	UsePeerDNS          bool   // "usepeerdns"
	IfName              string // "ifname"
	NoDetach            bool   // "nodetach"
	Persist             bool   // "persist"; "nopersist" clears it
	MaxFail             int    // "maxfail"; pppd's default is 10, 0 means never give up
	Holdoff             int    // "holdoff", seconds; pppd's default is 30
	IPParam             string // "ipparam"
	LinkName            string // "linkname"
	Unit                int    // "unit"; -1 when not given
	Idle                int    // "idle", seconds; 0 disables
	MaxConnect          int    // "maxconnect", seconds; 0 disables

	// LocalIP and RemoteIP come from pppd's "local:remote" word; the
	// zero Addr means not given (either side may be empty, and 0.0.0.0
	// means not given, as in pppd).
	LocalIP, RemoteIP netip.Addr
	NoIPDefault       bool // "noipdefault"
	IPCPAcceptLocal   bool // "ipcp-accept-local"
	IPCPAcceptRemote  bool // "ipcp-accept-remote"
	IPv6              bool // "+ipv6"; "noipv6" clears it
	// DefaultRoute6 is pppd's defaultroute6: a default IPv6 route
	// through the link (client); "nodefaultroute6" clears it.
	DefaultRoute6 bool
	// MSDNS6 are the IPv6 DNS servers the server announces in its router
	// advertisements (RDNSS, RFC 8106): our "ms-dns6", at most two, the
	// last two given, like ms-dns.
	MSDNS6 []netip.Addr

	IPUpScript   string   // "ip-up-script"
	IPDownScript string   // "ip-down-script"
	LogFile      string   // "logfile"
	Plugins      []string // "plugin", in order given

	// RADIUS holds the radius plugin's options and our radius-* ones.
	RADIUS RADIUSOptions

	// Client holds our client (pptp) extensions: split routes, rootless
	// proxies, status socket, resolv.conf path.
	Client ClientOptions

	// CHAPSecrets and PAPSecrets are the secrets files ("chap-secrets",
	// "pap-secrets").
	CHAPSecrets, PAPSecrets string

	// TCPMSSClamp is our extension "tcp-mss-clamp auto|off|N": the largest
	// TCP MSS let through the tunnel in SYN packets. MSSClampAuto (the
	// default) derives it from the link MTU; 0 turns clamping off.
	TCPMSSClamp int

	// seen maps the canonical name of every option given to where it
	// was last given.
	seen map[string]seenOption
	// seq numbers the options given, so that the order of options from
	// different files can be compared.
	seq int
	// peersDir is where "call NAME" looks for NAME.
	peersDir string
}

type seenOption struct {
	pos Pos
	// spelled is the option as the user wrote it (an alias such as +pap
	// for require-pap), for messages.
	spelled string
	// seq orders the options given (see PPPOptions.seq).
	seq int
}

// MSSClampAuto is TCPMSSClamp's default: clamp to the link MTU less 40.
const MSSClampAuto = -1

// MSSClamp resolves a tcp-mss-clamp setting for a link of the given MTU:
// the MSS to clamp SYNs to, or 0 for no clamping. The IPv4 and TCP headers
// take 40 bytes of the MTU.
func MSSClamp(setting, mtu int) uint16 {
	switch {
	case setting == MSSClampAuto:
		return uint16(max(mtu-40, 0))
	case setting > 0:
		return uint16(max(min(setting, mtu-40), 0))
	}
	return 0
}

// NewPPPOptions returns options holding pppd's defaults.
func NewPPPOptions() *PPPOptions {
	return &PPPOptions{
		LCPRestart:      3,
		LCPMaxConfigure: 10,
		LCPMaxTerminate: 2,
		MaxFail:         10,
		Holdoff:         30,
		Unit:            -1,
		CHAPSecrets:     DefaultCHAPSecrets,
		PAPSecrets:      DefaultPAPSecrets,
		TCPMSSClamp:     MSSClampAuto,
		seen:            map[string]seenOption{},
		peersDir:        defaultPeersDir,
	}
}

// ParseOptionsFile reads the pppd options file at path, starting from
// pppd's defaults.
func ParseOptionsFile(path string) (*PPPOptions, []Warning, error) {
	o := NewPPPOptions()
	w, err := o.ApplyFile(path)
	if err != nil {
		return nil, w, err
	}
	return o, w, nil
}

// ParseOptions reads pppd options from r, starting from pppd's defaults;
// name is used in errors and warnings.
func ParseOptions(r io.Reader, name string) (*PPPOptions, []Warning, error) {
	o := NewPPPOptions()
	w, err := o.ApplyReader(r, name)
	if err != nil {
		return nil, w, err
	}
	return o, w, nil
}

// ParseOptionWords reads pppd options from a list of words such as a
// command line (without the program name), starting from pppd's
// defaults; source names the list in errors ("command line").
func ParseOptionWords(words []string, source string) (*PPPOptions, []Warning, error) {
	o := NewPPPOptions()
	w, err := o.ApplyWords(words, source)
	if err != nil {
		return nil, w, err
	}
	return o, w, nil
}

// ApplyFile reads the options file at path on top of the options already
// in o, as pppd reads /etc/ppp/options, then a peers file, then its
// command line. On error o is left unchanged.
func (o *PPPOptions) ApplyFile(path string) ([]Warning, error) {
	data, err := readLimited(path, maxOptionsFile)
	if err != nil {
		return nil, fmt.Errorf("reading pppd options: %w", err)
	}
	return o.applyData(data, path)
}

// ApplyReader reads options from r on top of the options already in o;
// name is used in errors and warnings. On error o is left unchanged.
func (o *PPPOptions) ApplyReader(r io.Reader, name string) ([]Warning, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxOptionsFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading pppd options from %s: %w", name, err)
	}
	if len(data) > maxOptionsFile {
		return nil, fmt.Errorf("reading pppd options from %s: larger than %d bytes", name, maxOptionsFile)
	}
	return o.applyData(data, name)
}

// ApplyWords applies a list of words, such as a command line, on top of
// the options already in o. The words are taken as they are (no quote or
// comment processing); a "file" option among them reads that file.
// On error o is left unchanged.
func (o *PPPOptions) ApplyWords(words []string, source string) ([]Warning, error) {
	ws := make([]word, len(words))
	for i, w := range words {
		ws[i] = word{text: w, pos: Pos{File: source, Arg: i + 1}}
	}
	return o.apply(ws)
}

func (o *PPPOptions) applyData(data []byte, name string) ([]Warning, error) {
	ws, warns, err := splitWords(data, name)
	if err != nil {
		return warns, err
	}
	more, err := o.apply(ws)
	return append(warns, more...), err
}

// apply runs the words against a copy of o and commits the copy only if
// every option is valid, so a failed parse leaves o as it was.
func (o *PPPOptions) apply(ws []word) ([]Warning, error) {
	p := &optParser{o: o.clone(), read: readOptionsFile}
	if err := p.run(ws, 0); err != nil {
		return p.warns, err
	}
	*o = *p.o
	return p.warns, nil
}

func (o *PPPOptions) clone() *PPPOptions {
	c := *o
	c.MSDNS = slices.Clone(o.MSDNS)
	c.MSWINS = slices.Clone(o.MSWINS)
	c.Plugins = slices.Clone(o.Plugins)
	c.seen = maps.Clone(o.seen)
	if c.seen == nil {
		c.seen = map[string]seenOption{}
	}
	if c.peersDir == "" {
		c.peersDir = defaultPeersDir
	}
	return &c
}

// IsSet reports whether the option was given. Aliases are accepted:
// IsSet("+pap") and IsSet("require-pap") are the same question. pppd's
// "a.b.c.d:e.f.g.h" address word is recorded as "local:remote".
func (o *PPPOptions) IsSet(option string) bool {
	_, ok := o.Where(option)
	return ok
}

// Where returns where the option (or an alias of it) was last given.
func (o *PPPOptions) Where(option string) (Pos, bool) {
	s, ok := o.seen[canonicalOption(option)]
	return s.pos, ok
}

// ClientUser returns the name a client authenticates as: "user" if
// given, else "name" (which pppd defaults to the host name).
func (o *PPPOptions) ClientUser() string {
	if o.IsSet("user") {
		return o.User
	}
	return o.Name
}

// ref describes an option for messages: `"+pap" (file:3)`.
func (o *PPPOptions) ref(option string) string {
	s, ok := o.seen[canonicalOption(option)]
	if !ok {
		return option
	}
	return fmt.Sprintf("%s (%s)", s.spelled, s.pos)
}

// optParser applies words to options.
type optParser struct {
	o     *PPPOptions
	warns []Warning
	read  readFileFunc
}

func (p *optParser) warn(pos Pos, format string, args ...any) {
	p.warns = append(p.warns, Warning{pos, fmt.Sprintf(format, args...)})
}

// record notes that the option was given, and where.
func (p *optParser) record(canon string, w word) {
	p.o.seq++
	p.o.seen[canon] = seenOption{pos: w.pos, spelled: w.text, seq: p.o.seq}
}

func (p *optParser) run(ws []word, depth int) error {
	for i := 0; i < len(ws); i++ {
		w := ws[i]
		spec, canon, ok := lookupOption(w.text)
		if !ok {
			if err := p.wild(w); err != nil {
				return err
			}
			continue
		}
		if spec.nargs > 0 && i+1 >= len(ws) {
			return errorAt(w.pos, "option %s needs an argument", w.text)
		}
		arg, argPos := "", w.pos
		if spec.nargs > 0 {
			arg, argPos = ws[i+1].text, ws[i+1].pos
			i++
		}
		p.record(canon, w)
		switch spec.kind {
		case kindInclude:
			if err := p.include(arg, argPos, depth); err != nil {
				return err
			}
		case kindCall:
			if err := checkCallName(arg); err != nil {
				return &ParseError{Pos: argPos, Msg: "call", Err: err}
			}
			if err := p.include(filepath.Join(p.o.peersDir, arg), argPos, depth); err != nil {
				return err
			}
		case kindUnsupported:
			return errorAt(w.pos, "%s", spec.note)
		default:
			if spec.apply != nil {
				if err := spec.apply(&optCtx{p: p, pos: w.pos}, arg); err != nil {
					return &ParseError{Pos: argPos, Msg: w.text, Err: err}
				}
			}
			if spec.kind == kindIgnored {
				note := spec.note
				if note == "" {
					note = w.text + " is not implemented; ignored"
				}
				p.warn(w.pos, "%s", note)
			}
		}
	}
	return nil
}

// include reads an options file named by "file" or "call".
func (p *optParser) include(path string, pos Pos, depth int) error {
	if depth+1 > maxIncludeDepth {
		return errorAt(pos, "files nested more than %d deep (does %s include itself?)", maxIncludeDepth, path)
	}
	data, err := p.read(path)
	if err != nil {
		return &ParseError{Pos: pos, Msg: "reading options file", Err: err}
	}
	ws, warns, err := splitWords(data, path)
	p.warns = append(p.warns, warns...)
	if err == nil {
		err = p.run(ws, depth+1)
	}
	if err != nil {
		return &ParseError{Pos: pos, Msg: "in file included here", Err: err}
	}
	return nil
}

// wild handles words that are not option names, as pppd's wildcard
// options do: "local:remote" addresses and a tty speed.
func (p *optParser) wild(w word) error {
	if local, remote, ok := strings.Cut(w.text, ":"); ok {
		l, err := parsePeerAddr(local)
		if err != nil {
			return errorAt(w.pos, "bad local address in %q: %v", w.text, err)
		}
		r, err := parsePeerAddr(remote)
		if err != nil {
			return errorAt(w.pos, "bad remote address in %q: %v", w.text, err)
		}
		if l.IsValid() {
			p.o.LocalIP = l
		}
		if r.IsValid() {
			p.o.RemoteIP = r
		}
		p.record(ipPairOption, w)
		return nil
	}
	if w.text != "" && strings.Trim(w.text, "0123456789") == "" {
		p.warn(w.pos, "tty speed %s ignored", w.text)
		return nil
	}
	msg := fmt.Sprintf("unknown option %q", w.text)
	if hint, ok := optionHints[w.text]; ok {
		msg += ": " + hint
	} else if len(p.o.Plugins) > 0 {
		msg += " (options of pppd plugins are not supported)"
	}
	return errorAt(w.pos, "%s", msg)
}

// ipPairOption is the name under which a "local:remote" word is
// recorded for IsSet.
const ipPairOption = "local:remote"

// parsePeerAddr parses one side of "local:remote": empty or 0.0.0.0
// means not given.
func parsePeerAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 address (host names are not resolved)", s)
	}
	if a.IsUnspecified() {
		return netip.Addr{}, nil
	}
	if badPeerAddr(a) {
		return netip.Addr{}, fmt.Errorf("%s cannot be a PPP address (loopback, multicast or reserved)", a)
	}
	return a, nil
}

// badPeerAddr rejects the addresses pppd's ppp_bad_ip_addr rejects:
// loopback, multicast and the reserved class E (including broadcast).
func badPeerAddr(a netip.Addr) bool {
	return a.IsLoopback() || a.IsMulticast() || a.As4()[0] >= 240
}

// checkCallName applies pppd's rule for "call NAME": a relative name
// without ".." components.
func checkCallName(name string) error {
	if name == "" || name[0] == '/' {
		return fmt.Errorf("%q must be a name relative to %s", name, defaultPeersDir)
	}
	if slices.Contains(strings.Split(name, "/"), "..") {
		return fmt.Errorf("%q may not contain ..", name)
	}
	return nil
}

// readFileFunc reads a file named by a configuration file ("file",
// "call", "@/path" secrets). Tests and fuzzing replace it.
type readFileFunc func(path string) ([]byte, error)

func readOptionsFile(path string) ([]byte, error) { return readLimited(path, maxOptionsFile) }

// readLimited reads a whole regular file, refusing files larger than
// limit. Devices and FIFOs are refused because reading them may block
// forever or never end.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}
