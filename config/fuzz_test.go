package config

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// noFiles stands in for file reading while fuzzing, so that "file" and
// "@/path" in generated input touch nothing.
func noFiles(path string) ([]byte, error) { return nil, errors.New("no files while fuzzing") }

func addTestdataSeeds(f *testing.F, names ...string) {
	f.Helper()
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

func FuzzSplitWords(f *testing.F) {
	addTestdataSeeds(f, "debian-pptpd-options", "chap-secrets", "interop-peer-pptpi")
	for _, s := range []string{`"a\"b" 'c d' \x41\101 e#f`, "a\\\nb", `"open`, "\\", "#"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ws, _, err := splitWords(data, "f")
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Pos.Line < 1 {
				t.Fatalf("error without a position: %v", err)
			}
			return
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		prev := 0
		for i, w := range ws {
			if len(w.text) > maxWordLen || strings.IndexByte(w.text, 0) >= 0 {
				t.Fatalf("bad word %q", w.text)
			}
			if w.pos.Line < prev || w.pos.Line > lines {
				t.Fatalf("word %d at line %d (previous %d, %d lines)", i, w.pos.Line, prev, lines)
			}
			if i == 0 && !w.lineStart {
				t.Fatal("first word does not start a line")
			}
			prev = w.pos.Line
		}
	})
}

func FuzzParseAddrList(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "10.0.0.200-208", "100.64.0.10-100.64.40.250", "100.64.0.0/18",
		"192.168.0-255.2", "2001:db8::/64", "1.2.3.4,5.6.7.8-9", "0.0.0.0/0", "::/0", "10.0.0.1-2001:db8::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseAddrList(s)
		if err != nil {
			return
		}
		if len(l) == 0 || len(l) > maxOctetRangeItems*(len(s)+1) {
			t.Fatalf("%q: %d ranges", s, len(l))
		}
		n := l.Len()
		if n < 1 {
			t.Fatalf("%q: Len %d", s, n)
		}
		first := l.At(0)
		if !first.IsValid() || !l.Contains(first) {
			t.Fatalf("%q: At(0) = %v", s, first)
		}
		if n < math.MaxInt {
			last := l.At(n - 1)
			if !last.IsValid() || !l.Contains(last) || l.At(n).IsValid() {
				t.Fatalf("%q: At(%d) = %v", s, n-1, last)
			}
		}
		again, err := ParseAddrList(l.String())
		if err != nil || again.String() != l.String() {
			t.Fatalf("%q: round trip %q: %v", s, l.String(), err)
		}
	})
}

func FuzzParsePptpdConf(f *testing.F) {
	addTestdataSeeds(f, "debian-pptpd.conf", "interop-pptpd.conf")
	f.Add([]byte("localip 10.0.0.1-3\nremoteip 10.0.1.0/30\nconnections 2\n debug x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := ParsePptpdConf(bytes.NewReader(data), "f")
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Pos.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		if c.LocalIP.Len() < 1 || c.RemoteIP.Len() < 1 || c.Connections < 1 || c.STimeout <= 0 {
			t.Fatalf("bad config %+v", c)
		}
	})
}

func FuzzParseSecrets(f *testing.F) {
	addTestdataSeeds(f, "chap-secrets", "interop-chap-secrets")
	f.Add([]byte("a * @/etc/x *\nb c d 10.0.0.0/8 !10.0.0.1 - -- mtu 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseSecrets(data, "f", noFiles)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Pos.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		for _, e := range s.Entries() {
			got, ok := s.Lookup(e.Client, e.Server)
			if !ok {
				t.Fatalf("no match for an entry's own names %q %q", e.Client, e.Server)
			}
			if a, ok := got.Addrs.Suggested(); ok && !got.Addrs.Allows(a) {
				t.Fatalf("suggested %s is not allowed by %s", a, got.Addrs)
			}
			_ = got.String()
		}
	})
}

func FuzzParseOptions(f *testing.F) {
	addTestdataSeeds(f, "debian-pptpd-options", "interop-pptpd-options", "interop-peer-pptpi")
	f.Add([]byte("noauth require-mschap-v2 mppe required,no40 file /etc/x call y 10.0.0.1:10.0.0.2 ms-dns 1.1.1.1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ws, _, err := splitWords(data, "f")
		if err != nil {
			return
		}
		p := &optParser{o: NewPPPOptions(), read: noFiles}
		if err := p.run(ws, 0); err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Pos.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		for _, policy := range []func() (Policy, error){p.o.ServerPolicy, p.o.ClientPolicy} {
			pol, err := policy()
			if err != nil {
				continue
			}
			if pol.MPPE.Required && !pol.MPPE.Enabled() {
				t.Fatal("MPPE required with no key length")
			}
			if pol.MPPE.Required && len(pol.Auth.Methods) > 0 {
				for _, m := range pol.Auth.Methods {
					if !m.ProvidesMPPEKeys() {
						t.Fatalf("MPPE required but %s allowed", m)
					}
				}
			}
		}
	})
}
