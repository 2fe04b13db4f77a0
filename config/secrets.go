package config

import (
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// maxSecretsFile bounds the size of a secrets file.
const maxSecretsFile = 16 << 20

// redacted replaces passwords in all printed forms.
const redacted = "[redacted]"

// Password is a secret. It prints as "[redacted]" with every fmt verb,
// so that it cannot leak into logs by accident; convert it with
// string(p) where the value itself is needed.
type Password string

// String returns "[redacted]".
func (Password) String() string { return redacted }

// GoString returns "[redacted]".
func (Password) GoString() string { return redacted }

// Format writes "[redacted]" whatever the verb.
func (Password) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// AddrRule is one entry of a secret's address list.
type AddrRule struct {
	Prefix netip.Prefix
	// Deny is set for "!addr" entries, which forbid the addresses.
	Deny bool
}

// AllowedAddrs is the list of addresses a peer may use, from the fourth
// and later columns of a secrets file. As in pppd, the rules are checked
// in order and the first one matching an address decides; an address no
// rule matches is allowed only if the list ended with "*".
type AllowedAddrs struct {
	Rules []AddrRule
	// Any is set when the list ended with "*".
	Any bool
}

// Allows reports whether the peer may use address a.
func (l AllowedAddrs) Allows(a netip.Addr) bool {
	a = a.Unmap()
	for _, r := range l.Rules {
		if r.Prefix.Contains(a) {
			return !r.Deny
		}
	}
	return l.Any
}

// AllowsAny reports whether every address is allowed (the list is "*").
func (l AllowedAddrs) AllowsAny() bool { return l.Any && len(l.Rules) == 0 }

// None reports whether no address at all is allowed: the list was empty
// or "-", or holds only "!" rules. pppd refuses such peers an address.
func (l AllowedAddrs) None() bool {
	if l.Any {
		return false
	}
	for _, r := range l.Rules {
		if !r.Deny {
			return false
		}
	}
	return true
}

// Suggested returns the address to assign to the peer: the first single
// address listed, as in pppd, skipping any an earlier "!" rule forbids.
func (l AllowedAddrs) Suggested() (netip.Addr, bool) {
	for _, r := range l.Rules {
		if !r.Deny && r.Prefix.IsSingleIP() && l.Allows(r.Prefix.Addr()) {
			return r.Prefix.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// String formats the list as in a secrets file.
func (l AllowedAddrs) String() string {
	var parts []string
	for _, r := range l.Rules {
		s := r.Prefix.String()
		if r.Prefix.IsSingleIP() {
			s = r.Prefix.Addr().String()
		}
		if r.Deny {
			s = "!" + s
		}
		parts = append(parts, s)
	}
	switch {
	case l.Any:
		parts = append(parts, "*")
	case len(parts) == 0:
		parts = append(parts, "-")
	}
	return strings.Join(parts, " ")
}

// Secret is one entry of a chap-secrets or pap-secrets file. Printing a
// Secret never shows its password.
type Secret struct {
	// Client and Server are the names in the first two columns; "*"
	// matches any name.
	Client, Server string
	// Password is the secret, after reading it from a file for the
	// "@/path" form.
	Password Password
	// Addrs are the addresses the client may use.
	Addrs AllowedAddrs
	// Options are the words after "--" in the address column: extra
	// pppd options for this peer.
	Options []string
	// Pos is where the entry is.
	Pos Pos
}

// String describes the entry without its password.
func (s Secret) String() string {
	return fmt.Sprintf("%s: client %s server %s password %s addresses %s",
		s.Pos, strconv.Quote(s.Client), strconv.Quote(s.Server), redacted, s.Addrs)
}

// GoString is String: a Secret never prints its password.
func (s Secret) GoString() string { return s.String() }

// Format writes String whatever the verb.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// Secrets is a parsed secrets file.
type Secrets struct {
	name     string
	entries  []Secret
	warnings []Warning
}

// LoadSecrets reads and parses the secrets file at path.
func LoadSecrets(path string) (*Secrets, error) {
	data, err := readLimited(path, maxSecretsFile)
	if err != nil {
		return nil, fmt.Errorf("reading secrets: %w", err)
	}
	return parseSecrets(data, path, readOptionsFile)
}

// ParseSecrets parses a pppd chap-secrets or pap-secrets file read from
// r; name is used in errors. The format is pppd's: one entry per line,
//
//	client server secret [address ...] [-- option ...]
//
// with words quoted and commented as in options files. "*" in the client
// or server column matches any name. A secret of the form "@/path" is
// read from the first word of that file (this is the only I/O). The
// addresses are "*" (any), "-" (none; also the meaning of no address),
// a.b.c.d, a.b.c.d/n, or either prefixed with "!" to forbid it; host
// names are not resolved and are an error.
func ParseSecrets(r io.Reader, name string) (*Secrets, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSecretsFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading secrets from %s: %w", name, err)
	}
	if len(data) > maxSecretsFile {
		return nil, fmt.Errorf("reading secrets from %s: larger than %d bytes", name, maxSecretsFile)
	}
	return parseSecrets(data, name, readOptionsFile)
}

func parseSecrets(data []byte, name string, read readFileFunc) (*Secrets, error) {
	ws, warns, err := splitWords(data, name)
	if err != nil {
		return nil, err
	}
	s := &Secrets{name: name, warnings: warns}
	for i := 0; i < len(ws); {
		j := i + 1
		for j < len(ws) && !ws[j].lineStart {
			j++
		}
		e, err := parseSecretLine(ws[i:j], read)
		if err != nil {
			return nil, err
		}
		s.entries = append(s.entries, e)
		i = j
	}
	return s, nil
}

// parseSecretLine parses the words of one entry.
func parseSecretLine(ws []word, read readFileFunc) (Secret, error) {
	pos := ws[0].pos
	if len(ws) < 3 {
		return Secret{}, errorAt(pos, "entry needs client, server and secret")
	}
	e := Secret{Client: ws[0].text, Server: ws[1].text, Password: Password(ws[2].text), Pos: pos}
	if strings.HasPrefix(ws[2].text, "@/") {
		p, err := readSecretFile(ws[2].text[1:], read)
		if err != nil {
			return Secret{}, &ParseError{Pos: ws[2].pos, Msg: "secret file", Err: err}
		}
		e.Password = p
	}
	rest := ws[3:]
	for k, w := range rest {
		if w.text == "--" {
			for _, o := range rest[k+1:] {
				e.Options = append(e.Options, o.text)
			}
			rest = rest[:k]
			break
		}
	}
	for _, w := range rest {
		if w.text == "-" {
			break // pppd ignores the words after "-"
		}
		if w.text == "*" {
			e.Addrs.Any = true
			break
		}
		r, err := parseAddrRule(w.text)
		if err != nil {
			return Secret{}, errorAt(w.pos, "%v", err)
		}
		e.Addrs.Rules = append(e.Addrs.Rules, r)
	}
	return e, nil
}

// readSecretFile reads the secret of an "@/path" entry: the first word
// of the file, as pppd does.
func readSecretFile(path string, read readFileFunc) (Password, error) {
	data, err := read(path)
	if err != nil {
		return "", err
	}
	ws, _, err := splitWords(data, path)
	if err != nil {
		return "", err
	}
	if len(ws) == 0 {
		return "", fmt.Errorf("%s holds no secret", path)
	}
	return Password(ws[0].text), nil
}

// parseAddrRule parses one address of a secrets entry.
func parseAddrRule(s string) (AddrRule, error) {
	var r AddrRule
	t := s
	if strings.HasPrefix(t, "!") {
		r.Deny, t = true, t[1:]
	}
	if addr, bitsStr, ok := strings.Cut(t, "/"); ok {
		if strings.HasSuffix(bitsStr, "+") {
			return r, fmt.Errorf("address %q: the a.b.c.d/n+ form is not supported", s)
		}
		a, err := netip.ParseAddr(addr)
		if err != nil || !a.Is4() {
			return r, fmt.Errorf("address %q: %q is not an IPv4 address (host names are not resolved)", s, addr)
		}
		n, err := strconv.Atoi(bitsStr)
		if err != nil || n < 1 || n > 32 {
			return r, fmt.Errorf("address %q: prefix length must be 1-32 (use * for any address)", s)
		}
		// pppd masks the host bits off rather than refusing them.
		r.Prefix = netip.PrefixFrom(a, n).Masked()
		return r, nil
	}
	a, err := netip.ParseAddr(t)
	if err != nil || !a.Is4() {
		return r, fmt.Errorf("address %q is not an IPv4 address, *, or - (host names are not resolved)", s)
	}
	r.Prefix = netip.PrefixFrom(a, 32)
	return r, nil
}

// Lookup finds the secret for a client name and a server name, both as
// given (an empty name matches only an empty entry or "*"). pppd's
// precedence applies: an entry naming the client exactly beats one with
// "*" for the client, then an entry naming the server exactly beats one
// with "*" for the server; among equally good entries the first in the
// file wins.
func (s *Secrets) Lookup(client, server string) (Secret, bool) {
	return s.lookup(client, server, false)
}

// LookupAnyServer is Lookup for when the server's name is unknown (pppd
// passes no server name then, for example for a PAP client without
// remotename): any server column matches, and an exact one counts as
// better than "*", as in pppd.
func (s *Secrets) LookupAnyServer(client string) (Secret, bool) {
	return s.lookup(client, "", true)
}

func (s *Secrets) lookup(client, server string, anyServer bool) (Secret, bool) {
	const exactServer, exactClient = 1, 2
	best, found := -1, Secret{}
	for _, e := range s.entries {
		score := 0
		if e.Client != "*" {
			if e.Client != client {
				continue
			}
			score |= exactClient
		}
		if e.Server != "*" {
			if !anyServer && e.Server != server {
				continue
			}
			score |= exactServer
		}
		if score > best {
			best, found = score, e
		}
	}
	return found, best >= 0
}

// Entries returns the entries in file order.
func (s *Secrets) Entries() []Secret { return append([]Secret(nil), s.entries...) }

// Warnings returns what parsing accepted but warned about (a '#' ending
// a word, for example).
func (s *Secrets) Warnings() []Warning { return append([]Warning(nil), s.warnings...) }

// String describes the file without any password.
func (s Secrets) String() string {
	return fmt.Sprintf("secrets from %s (%d entries)", s.name, len(s.entries))
}

// Format writes String whatever the verb, so that printing a Secrets
// never shows a password.
func (s Secrets) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }
