package radius

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gopptp/gopptp/config"
)

// maxRadiusclientServers is how many servers one authserver or acctserver
// line may list (SERVER_MAX in radiusclient).
const maxRadiusclientServers = 8

// ignoredRadiusclientKey reports the radiusclient.conf keywords that
// concern radiusclient's own login programs, dictionaries or sequence
// files, none of which a NAS with built-in dictionaries needs.
func ignoredRadiusclientKey(key string) bool {
	switch key {
	case "auth_order", "login_tries", "login_timeout", "nologin", "issue",
		"dictionary", "login_radius", "seqfile", "mapfile",
		"login_local", "clientdebug", "namespace", "use-public-addr":
		return true
	}
	return false
}

// LoadRadiusclientConf reads the radiusclient.conf file that pppd's radius
// plugin reads (the radiusclient, radiusclient-ng and freeradius-client
// format): "keyword value" lines, '#' comments at the start of a line.
//
// Used: authserver and acctserver, each a list of "host[:port][:secret]"
// separated by spaces, tabs or commas (IPv6 hosts in brackets), default
// ports 1812 and 1813; servers, the file of "server secret" lines that
// supplies the secrets not given inline (a relative path is taken from the
// directory of path); radius_timeout and radius_retries; radius_deadtime;
// nas_identifier; bindaddr ("*" for any); default_realm. Accepted and
// ignored: the login, dictionary and sequence-file settings of
// radiusclient's own programs. Unknown keywords are skipped as pppd does,
// with a note in Config.Warnings. serv-type must be udp, the only transport
// here. Errors name the file and line.
func LoadRadiusclientConf(path string) (Config, error) {
	var c Config
	f, err := os.Open(path)
	if err != nil {
		return c, fmt.Errorf("radius: %w", err)
	}
	defer f.Close()

	type srvLine struct {
		line    int
		entries []srvEntry
	}
	var auth, acct *srvLine
	var serversFile string
	var serversLine int
	seen := map[string]int{}
	errf := func(line int, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", path, line, fmt.Sprintf(format, args...))
	}
	positive := func(line int, key, v string) (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return 0, errf(line, "%s: want a positive number, not %q", key, v)
		}
		return n, nil
	}

	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), " \t\r")
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if text[0] == ' ' || text[0] == '\t' {
			// radiusclient refuses a line starting with white space.
			return c, errf(line, "bogus format: %q", text)
		}
		key, value := text, ""
		if i := strings.IndexAny(text, " \t"); i >= 0 {
			key, value = text[:i], strings.TrimSpace(text[i+1:])
		}
		if prev, dup := seen[key]; dup {
			return c, errf(line, "duplicate option %s (first on line %d)", key, prev)
		}
		seen[key] = line
		switch key {
		case "authserver", "acctserver":
			port := DefaultAuthPort
			if key == "acctserver" {
				port = DefaultAcctPort
			}
			entries, err := parseServerList(value, port)
			if err != nil {
				return c, errf(line, "%s: %v", key, err)
			}
			if key == "authserver" {
				auth = &srvLine{line, entries}
			} else {
				acct = &srvLine{line, entries}
			}
		case "servers":
			if value == "" {
				return c, errf(line, "servers: no file named")
			}
			serversFile, serversLine = value, line
			if !filepath.IsAbs(serversFile) {
				serversFile = filepath.Join(filepath.Dir(path), serversFile)
			}
		case "radius_timeout":
			n, err := positive(line, key, value)
			if err != nil {
				return c, err
			}
			c.Timeout = time.Duration(n) * time.Second
		case "radius_retries":
			n, err := positive(line, key, value)
			if err != nil {
				return c, err
			}
			// radiusclient counts transmissions to one server; Retries
			// counts the ones after the first.
			c.Retries = n - 1
			if c.Retries == 0 {
				c.Retries = -1 // explicitly none; 0 would mean the default
			}
		case "radius_deadtime":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return c, errf(line, "radius_deadtime: want a number of seconds, not %q", value)
			}
			c.DeadTime = time.Duration(n) * time.Second
			if n == 0 {
				c.DeadTime = -1 // radiusclient's 0 turns the marking off
			}
		case "nas_identifier":
			if len(value) > 253 {
				return c, errf(line, "nas_identifier longer than 253 bytes")
			}
			c.NASIdentifier = value
		case "bindaddr":
			if value == "" || value == "*" {
				break
			}
			a, err := netip.ParseAddr(value)
			if err != nil {
				return c, errf(line, "bindaddr: want an IP address or *, not %q", value)
			}
			c.BindAddr = a
		case "default_realm":
			c.DefaultRealm = value
		case "serv-type":
			if !strings.EqualFold(value, "udp") {
				return c, errf(line, "serv-type %q: only udp is supported", value)
			}
		default:
			if !ignoredRadiusclientKey(key) {
				c.Warnings = append(c.Warnings, fmt.Sprintf("%s:%d: unrecognized keyword %s ignored", path, line, key))
			}
		}
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("radius: %s: %w", path, err)
	}
	if auth == nil {
		return c, fmt.Errorf("%s: no authserver", path)
	}

	var secrets []serverSecret
	needSecrets := false
	for _, l := range []*srvLine{auth, acct} {
		if l == nil {
			continue
		}
		for _, e := range l.entries {
			needSecrets = needSecrets || e.secret == ""
		}
	}
	if needSecrets {
		if serversFile == "" {
			return c, fmt.Errorf("%s: servers without an inline secret and no servers file", path)
		}
		secrets, err = readServersFile(serversFile)
		if err != nil {
			return c, fmt.Errorf("%s:%d: %w", path, serversLine, err)
		}
		if w := config.CheckPrivate(serversFile); w != "" {
			c.Warnings = append(c.Warnings, w)
		}
	} else if w := config.CheckPrivate(path); w != "" {
		// The secrets are inline.
		c.Warnings = append(c.Warnings, w)
	}
	resolve := func(l *srvLine) ([]Server, error) {
		var out []Server
		for _, e := range l.entries {
			s := Server{Addr: e.addr, Secret: e.secret}
			if s.Secret == "" {
				s.Secret = lookupSecret(secrets, e.host)
				if s.Secret == "" {
					return nil, errf(l.line, "no secret for server %s in %s", e.host, serversFile)
				}
			}
			out = append(out, s)
		}
		return out, nil
	}
	if c.AuthServers, err = resolve(auth); err != nil {
		return c, err
	}
	if acct != nil {
		if c.AcctServers, err = resolve(acct); err != nil {
			return c, err
		}
	}
	return c, nil
}

// srvEntry is one server of an authserver or acctserver line.
type srvEntry struct {
	host   string // as written, without brackets
	addr   string // host:port
	secret string // inline secret, if any
}

// parseServerList splits a radiusclient server list.
func parseServerList(v string, defaultPort int) ([]srvEntry, error) {
	fields := strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
	if len(fields) == 0 {
		return nil, errors.New("no server named")
	}
	if len(fields) > maxRadiusclientServers {
		return nil, fmt.Errorf("too many servers listed (max %d)", maxRadiusclientServers)
	}
	var out []srvEntry
	for _, f := range fields {
		var host, rest string
		if strings.HasPrefix(f, "[") {
			end := strings.IndexByte(f, ']')
			if end < 0 {
				return nil, fmt.Errorf("%q: missing ']'", f)
			}
			host, rest = f[1:end], f[end+1:]
			if rest != "" && rest[0] != ':' {
				return nil, fmt.Errorf("%q: junk after ']'", f)
			}
			rest = strings.TrimPrefix(rest, ":")
		} else if _, err := netip.ParseAddr(f); err == nil {
			host = f // a bare IPv6 address: its colons are not separators
		} else {
			host, rest, _ = strings.Cut(f, ":")
		}
		port, secret, _ := strings.Cut(rest, ":")
		hp := host
		if port != "" {
			hp = "[" + host + "]:" + port
		}
		addr, err := ParseHostPort(hp, defaultPort)
		if err != nil {
			return nil, err
		}
		out = append(out, srvEntry{host: host, addr: addr, secret: secret})
	}
	return out, nil
}

// serverSecret is one line of a radiusclient servers file.
type serverSecret struct {
	names  []string // one name, or both of a "name1/name2" pair
	secret string
}

// readServersFile reads a radiusclient servers file: "server secret" lines,
// '#' comments.
func readServersFile(path string) ([]serverSecret, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("servers file: %w", err)
	}
	defer f.Close()
	var out []serverSecret
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		fields := strings.Fields(text)
		if len(fields) < 2 {
			return nil, fmt.Errorf("%s:%d: want \"server secret\"", path, line)
		}
		// pppd's "name1/name2" pairs name us and the server; without
		// resolving our own names either may be the server.
		out = append(out, serverSecret{names: strings.Split(fields[0], "/"), secret: fields[1]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}

// lookupSecret finds the secret of host: the first line naming it, as
// written or as the same IP address.
func lookupSecret(ss []serverSecret, host string) string {
	ha, herr := netip.ParseAddr(host)
	for _, s := range ss {
		for _, n := range s.names {
			if strings.EqualFold(n, host) {
				return s.secret
			}
			if herr != nil {
				continue
			}
			if h, _, err := net.SplitHostPort(n); err == nil {
				n = h // radcli allows "host:port" here
			}
			if a, err := netip.ParseAddr(strings.Trim(n, "[]")); err == nil && a.Unmap() == ha.Unmap() {
				return s.secret
			}
		}
	}
	return ""
}
