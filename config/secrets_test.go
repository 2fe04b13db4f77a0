package config

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadTestSecrets(t *testing.T) *Secrets {
	t.Helper()
	s, err := LoadSecrets(filepath.Join("testdata", "chap-secrets"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSecretsFile(t *testing.T) {
	s := loadTestSecrets(t)
	type entry struct {
		client, server, password, addrs string
		line                            int
	}
	want := []entry{
		{"pptpuser", "*", "pptp-secret-42", "*", 5},
		{"alice", "pptpd", "alice-pptpd", "10.0.0.5", 8},
		{"alice", "*", "alice-any", "*", 10},
		{"*", "pptpd", "wildcard-pptpd", "-", 12},
		{"bob", "pptpd", "two words", "!10.0.1.1 10.0.1.0/24", 14},
		{"carol", "pptpd", `say "hi"\`, "192.168.1.9 192.168.1.0/24 *", 16},
		{"dave", "pptpd", "dave-secret", "-", 18},
		{"erin", "pptpd", "single # quoted", "10.0.2.7", 20},
		{"frank", "pptpd", "", "*", 22},
		{"grace", "pptpd", "grace-secret", "10.0.3.3", 24},
	}
	es := s.Entries()
	if len(es) != len(want) {
		t.Fatalf("%d entries, want %d: %v", len(es), len(want), es)
	}
	for i, w := range want {
		e := es[i]
		got := entry{e.Client, e.Server, string(e.Password), e.Addrs.String(), e.Pos.Line}
		if got != w {
			t.Errorf("entry %d = %+v, want %+v", i, got, w)
		}
	}
	if strings.Join(es[7].Options, " ") != "mtu 1400" {
		t.Errorf("erin's options = %q", es[7].Options)
	}
	if len(s.Warnings()) != 0 {
		t.Errorf("warnings: %v", s.Warnings())
	}
	interop, err := LoadSecrets(filepath.Join("testdata", "interop-chap-secrets"))
	if err != nil {
		t.Fatal(err)
	}
	e, ok := interop.Lookup("pptpuser", "pptpd")
	if !ok || string(e.Password) != "pptp-secret-42" || !e.Addrs.AllowsAny() {
		t.Errorf("interop secret: %v %v", e, ok)
	}
}

func TestSecretsLookup(t *testing.T) {
	s := loadTestSecrets(t)
	tests := []struct {
		client, server string
		want           string // password, or "-" for no match
	}{
		{"alice", "pptpd", "alice-pptpd"},       // exact client and server
		{"alice", "other", "alice-any"},         // exact client, "*" server
		{"pptpuser", "pptpd", "pptp-secret-42"}, // exact client beats exact server
		{"zed", "pptpd", "wildcard-pptpd"},      // "*" client, exact server
		{"zed", "other", "-"},
		{"", "pptpd", "wildcard-pptpd"},
		{"", "", "-"},
		{"ALICE", "other", "-"}, // names are case-sensitive
		{"bob", "other", "-"},
	}
	for _, tt := range tests {
		e, ok := s.Lookup(tt.client, tt.server)
		got := "-"
		if ok {
			got = string(e.Password)
		}
		if got != tt.want {
			t.Errorf("Lookup(%q, %q) = %q, want %q", tt.client, tt.server, got, tt.want)
		}
	}
	// With no server name, an exact server column still counts as better.
	if e, ok := s.LookupAnyServer("alice"); !ok || string(e.Password) != "alice-pptpd" {
		t.Errorf("LookupAnyServer(alice) = %v", e)
	}
	if e, ok := s.LookupAnyServer("nobody"); !ok || string(e.Password) != "wildcard-pptpd" {
		t.Errorf("LookupAnyServer(nobody) = %v", e)
	}
}

func TestSecretsPrecedence(t *testing.T) {
	text := `* * any-any
* srv any-srv
u * u-any
u srv first
u srv second
v * v-first
v * v-second
`
	s, err := ParseSecrets(strings.NewReader(text), "secrets")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ client, server, want string }{
		{"u", "srv", "first"}, // the best match, first of equals
		{"u", "x", "u-any"},   // a later, better line beats an earlier one
		{"w", "srv", "any-srv"},
		{"w", "x", "any-any"},
		{"v", "srv", "v-first"}, // exact client beats exact server
	}
	for _, tt := range tests {
		e, ok := s.Lookup(tt.client, tt.server)
		if !ok || string(e.Password) != tt.want {
			t.Errorf("Lookup(%s, %s) = %q, %v; want %q", tt.client, tt.server, string(e.Password), ok, tt.want)
		}
	}
}

func TestSecretsAddrs(t *testing.T) {
	s := loadTestSecrets(t)
	get := func(client string) AllowedAddrs {
		e, ok := s.Lookup(client, "pptpd")
		if !ok {
			t.Fatalf("no entry for %s", client)
		}
		return e.Addrs
	}
	ip := netip.MustParseAddr
	tests := []struct {
		client    string
		allowed   []string
		forbidden []string
		suggested string
		none, any bool
	}{
		{"alice", []string{"10.0.0.5"}, []string{"10.0.0.6"}, "10.0.0.5", false, false},
		{"zed", nil, []string{"10.0.0.5", "1.2.3.4"}, "", true, false},
		{"dave", nil, []string{"10.0.0.5"}, "", true, false},
		{"bob", []string{"10.0.1.2", "10.0.1.254"}, []string{"10.0.1.1", "10.0.2.1"}, "", false, false},
		{"carol", []string{"192.168.1.9", "8.8.8.8"}, nil, "192.168.1.9", false, false},
		{"frank", []string{"10.9.9.9"}, nil, "", false, true},
	}
	for _, tt := range tests {
		a := get(tt.client)
		for _, x := range tt.allowed {
			if !a.Allows(ip(x)) {
				t.Errorf("%s: %s not allowed by %s", tt.client, x, a)
			}
		}
		for _, x := range tt.forbidden {
			if a.Allows(ip(x)) {
				t.Errorf("%s: %s allowed by %s", tt.client, x, a)
			}
		}
		sug, ok := a.Suggested()
		if (tt.suggested == "") == ok || (ok && sug.String() != tt.suggested) {
			t.Errorf("%s: Suggested = %v %v, want %q", tt.client, sug, ok, tt.suggested)
		}
		if a.None() != tt.none || a.AllowsAny() != tt.any {
			t.Errorf("%s: None %v AllowsAny %v", tt.client, a.None(), a.AllowsAny())
		}
	}
	// pppd's details: host bits are masked, words after "-" are ignored,
	// "!"-only rules allow nothing.
	s, err := ParseSecrets(strings.NewReader("a * p 10.0.0.9/24 !10.1.0.1 10.1.0.1 10.1.0.2\nb * p 10.2.0.1 - 10.3.0.1\nc * p !10.4.0.1\n"), "s")
	if err != nil {
		t.Fatal(err)
	}
	es := s.Entries()
	if es[0].Addrs.String() != "10.0.0.0/24 !10.1.0.1 10.1.0.1 10.1.0.2" {
		t.Errorf("a: %s", es[0].Addrs)
	}
	// The deny rule comes first, so 10.1.0.1 is refused and not suggested.
	if sug, _ := es[0].Addrs.Suggested(); sug.String() != "10.1.0.2" || es[0].Addrs.Allows(ip("10.1.0.1")) {
		t.Errorf("a: Suggested %v", sug)
	}
	if es[1].Addrs.String() != "10.2.0.1" || es[1].Addrs.Allows(ip("10.3.0.1")) {
		t.Errorf("b: %s", es[1].Addrs)
	}
	if !es[2].Addrs.None() {
		t.Errorf("c: None = false for %s", es[2].Addrs)
	}
}

func TestSecretsFromFile(t *testing.T) {
	dir := t.TempDir()
	pw := writeFile(t, dir, "pw", "# the secret\n  \"top secret\"  ignored\n")
	empty := writeFile(t, dir, "empty", "# nothing\n")
	text := fmt.Sprintf("a * @%s *\nb * @relative *\n", pw)
	s, err := ParseSecrets(strings.NewReader(text), "chap-secrets")
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := s.Lookup("a", "x"); string(e.Password) != "top secret" {
		t.Errorf("@file secret = %q", string(e.Password))
	}
	if e, _ := s.Lookup("b", "x"); string(e.Password) != "@relative" {
		t.Errorf("@relative is a literal secret in pppd, got %q", string(e.Password))
	}
	_, err = ParseSecrets(strings.NewReader("a * x\n\nb * @"+filepath.Join(dir, "missing")+" *\n"), "chap-secrets")
	if err == nil || !strings.HasPrefix(err.Error(), "chap-secrets:3: secret file:") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	_, err = ParseSecrets(strings.NewReader("b * @"+empty+"\n"), "chap-secrets")
	if err == nil || !strings.Contains(err.Error(), "holds no secret") {
		t.Errorf("empty file: %v", err)
	}
}

func TestSecretsErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{"ok * pw\nalice pptpd\n", "s:2: entry needs client, server and secret"},
		{"alice\n", "s:1: entry needs client, server and secret"},
		{"a * p host.example\n", `s:1: address "host.example" is not an IPv4 address`},
		{"a * p\\\n 10.0.0.0/0\n", `s:2: address "10.0.0.0/0": prefix length must be 1-32`},
		{"a * p 10.0.0.0/33\n", "prefix length must be 1-32"},
		{"a * p 10.0.0.0/8+\n", "the a.b.c.d/n+ form is not supported"},
		{"a * p 2001:db8::1\n", "is not an IPv4 address"},
		{"a * p net/24\n", `"net" is not an IPv4 address`},
		{"a * \"p\n", "s:1: quote \" is never closed"},
	}
	for _, tt := range tests {
		_, err := ParseSecrets(strings.NewReader(tt.text), "s")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.text, err, tt.want)
		}
	}
	if _, err := LoadSecrets(filepath.Join(t.TempDir(), "none")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	s, err := ParseSecrets(strings.NewReader("u * pass#word *\n"), "s")
	if err != nil || len(s.Warnings()) != 1 {
		t.Fatalf("'#' in a secret: %v %v", s, err)
	}
	if e, _ := s.Lookup("u", "x"); string(e.Password) != "pass" {
		t.Errorf("pppd cuts the secret at '#': got %q", string(e.Password))
	}
}

func TestPasswordsNeverPrinted(t *testing.T) {
	const secret = "hunter2-XYZZY"
	s, err := ParseSecrets(strings.NewReader("alice pptpd "+secret+" 10.0.0.1\n"), "s")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := s.Lookup("alice", "pptpd")
	o := mustParseOpts(t, "user alice password "+secret)
	values := map[string]any{
		"Secret": e, "*Secret": &e, "[]Secret": s.Entries(), "*Secrets": s, "Secrets": *s,
		"Password": e.Password, "*PPPOptions": o, "PPPOptions": *o,
		"struct": struct{ P Password }{e.Password},
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%10.3s", "%T %v"} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(out, secret) || strings.Contains(out, fmt.Sprintf("%x", secret)) || strings.Contains(out, fmt.Sprintf("%X", secret)) {
				t.Errorf("%s printed with %s shows the password: %s", name, verb, out)
			}
		}
	}
	if got := e.String(); got != `s:1: client "alice" server "pptpd" password [redacted] addresses 10.0.0.1` {
		t.Errorf("String = %s", got)
	}
	if fmt.Sprint(s) != "secrets from s (1 entries)" {
		t.Errorf("Secrets prints as %s", s)
	}
	// The value is still there for those who ask for it.
	if string(e.Password) != secret || string(o.Password) != secret {
		t.Error("password lost")
	}
}
