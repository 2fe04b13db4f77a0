package main

import (
	"net"
	"path/filepath"
	"strings"
)

// pptpValueOptions are pptp-linux's options that take a value as the next
// word (pptp(8)); they must not be mistaken for the server.
var pptpValueOptions = map[string]bool{
	"--phone": true, "--quirks": true, "--timeout": true, "--logstring": true,
	"--localbind": true, "--loglevel": true, "--idle-wait": true, "--max-echo-wait": true,
	"--test-type": true, "--test-rate": true, "--rtmark": true, "--port": true,
}

// serverFromPty finds the server in the command of a pptp-linux peers
// file's pty option, such as "pptp vpn.example.com --nolaunchpppd": the
// first argument of the pptp command that is not an option or an option's
// value.
func serverFromPty(cmd string) (string, bool) {
	words := splitShell(cmd)
	i := 0
	for i < len(words) && filepath.Base(words[i]) != "pptp" {
		i++
	}
	if i == len(words) {
		return "", false
	}
	// The server may come before or after the options; --port moves it
	// off 1723.
	var host, port string
	for i++; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "--":
			if host == "" && i+1 < len(words) {
				host = words[i+1]
			}
			i = len(words)
		case strings.HasPrefix(w, "--port="):
			port = strings.TrimPrefix(w, "--port=")
		case w == "--port" && i+1 < len(words):
			i++
			port = words[i]
		case strings.HasPrefix(w, "-"):
			if !strings.Contains(w, "=") && pptpValueOptions[w] {
				i++
			}
		case host == "":
			host = w
		}
	}
	if host == "" {
		return "", false
	}
	if port != "" {
		return net.JoinHostPort(strings.Trim(host, "[]"), port), true
	}
	return host, true
}

// splitShell splits a command line into words the way sh would for the
// simple commands peers files hold: blanks separate words, single and
// double quotes group, a backslash escapes the next character.
func splitShell(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
