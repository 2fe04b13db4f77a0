package mschap

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Error codes carried in the E= field of a Failure message
// (RFC 2759 section 6, RFC 2433 section 6).
const (
	ErrorRestrictedLogonHours = 646 // ERROR_RESTRICTED_LOGON_HOURS
	ErrorAccountDisabled      = 647 // ERROR_ACCT_DISABLED
	ErrorPasswordExpired      = 648 // ERROR_PASSWD_EXPIRED
	ErrorNoDialinPermission   = 649 // ERROR_NO_DIALIN_PERMISSION
	ErrorAuthenticationFailed = 691 // ERROR_AUTHENTICATION_FAILURE
	ErrorChangingPassword     = 709 // ERROR_CHANGING_PASSWORD
)

// Failure is the formatted text of an MS-CHAP Failure packet:
//
//	E=691 R=0 C=00112233445566778899AABBCCDDEEFF V=3 M=Authentication failed
type Failure struct {
	Code  int  // E=: one of the Error constants, or another Windows error code
	Retry bool // R=1: the peer may resubmit a response

	// Challenge is the C= field: the authenticator's next challenge, 16 bytes
	// in MS-CHAPv2 and 8 bytes in MS-CHAPv1; nil when the field is absent.
	Challenge []byte

	// Version is the V= field: the password-change protocol version the
	// authenticator supports; 3 for MS-CHAPv2 on Windows, 0 from pppd. A
	// missing field parses as 0.
	Version int

	// Message is the human-readable M= text, everything after "M=" to the end.
	Message string
}

// maxCode bounds the decimal fields E= and V=, so that parsing cannot
// overflow; Windows error codes are well below it.
const maxCode = 1<<31 - 1

// String formats f the way Windows does: E, R, C and V separated by single
// spaces, then M when Message is not empty. C is upper-case hex and omitted
// when Challenge is nil.
func (f Failure) String() string {
	var b strings.Builder
	b.WriteString("E=")
	b.WriteString(strconv.Itoa(f.Code))
	if f.Retry {
		b.WriteString(" R=1")
	} else {
		b.WriteString(" R=0")
	}
	if f.Challenge != nil {
		b.WriteString(" C=")
		b.WriteString(strings.ToUpper(hex.EncodeToString(f.Challenge)))
	}
	b.WriteString(" V=")
	b.WriteString(strconv.Itoa(f.Version))
	if f.Message != "" {
		b.WriteString(" M=")
		b.WriteString(f.Message)
	}
	return b.String()
}

// ParseFailure parses the text of an MS-CHAP Failure packet. Only E= is
// required. The fields may come in any order and be separated by any run of
// spaces; M= must come last, as its text runs to the end of the string. Hex
// digits may be of either case, C= may hold an MS-CHAPv1 (8-byte) or
// MS-CHAPv2 (16-byte) challenge, and unknown single-letter fields are
// skipped. Trailing NUL bytes, which some peers count into the packet, are
// ignored.
func ParseFailure(s string) (Failure, error) {
	var f Failure
	var seen [26]bool
	rest := strings.TrimRight(s, "\x00")
	for {
		rest = strings.TrimLeft(rest, " \t\r\n")
		if rest == "" {
			break
		}
		if len(rest) < 2 || rest[1] != '=' || rest[0] < 'A' || rest[0] > 'Z' {
			return Failure{}, fmt.Errorf("mschap: failure message %q: malformed field %q", s, firstField(rest))
		}
		key := rest[0]
		if seen[key-'A'] {
			return Failure{}, fmt.Errorf("mschap: failure message %q: repeated field %c=", s, key)
		}
		seen[key-'A'] = true
		if key == 'M' {
			f.Message = rest[2:]
			break
		}
		val := firstField(rest)[2:]
		rest = rest[2+len(val):]
		var err error
		switch key {
		case 'E':
			f.Code, err = parseDecimal(val)
		case 'R':
			switch val {
			case "0":
				f.Retry = false
			case "1":
				f.Retry = true
			default:
				err = errors.New("not 0 or 1")
			}
		case 'C':
			f.Challenge, err = parseChallenge(val)
		case 'V':
			f.Version, err = parseDecimal(val)
		}
		if err != nil {
			return Failure{}, fmt.Errorf("mschap: failure message %q: field %c=: %w", s, key, err)
		}
	}
	if !seen['E'-'A'] {
		return Failure{}, fmt.Errorf("mschap: failure message %q: no E= field", s)
	}
	return f, nil
}

// firstField returns s up to its first white space.
func firstField(s string) string {
	if i := strings.IndexAny(s, " \t\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

func parseDecimal(s string) (int, error) {
	if s == "" {
		return 0, errors.New("empty number")
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
		n = n*10 + int(c-'0')
		if n > maxCode {
			return 0, fmt.Errorf("%q is out of range", s)
		}
	}
	return n, nil
}

func parseChallenge(s string) ([]byte, error) {
	if len(s) != 16 && len(s) != 32 {
		return nil, fmt.Errorf("challenge has %d hex digits, want 32 (or 16 for MS-CHAPv1)", len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	return b, nil
}

// FormatSuccess returns the text of an MS-CHAPv2 Success packet:
// "S=" with the authenticator response in 40 upper-case hex digits, then
// " M=" and message when message is not empty (RFC 2759 section 5).
func FormatSuccess(authResp [20]byte, message string) string {
	s := "S=" + strings.ToUpper(hex.EncodeToString(authResp[:]))
	if message != "" {
		s += " M=" + message
	}
	return s
}

// ParseSuccess parses the text of an MS-CHAPv2 Success packet: "S=" and 40
// hex digits of either case, optionally followed by "M=" and a message,
// separated by white space or, as pppd also accepts, by nothing. Trailing NUL
// bytes are ignored.
func ParseSuccess(s string) (authResp [20]byte, message string, err error) {
	rest := strings.TrimRight(s, "\x00")
	const n = 2 + 2*len(authResp)
	if len(rest) < n || rest[:2] != "S=" {
		return authResp, "", fmt.Errorf("mschap: success message %q: does not start with S= and 40 hex digits", s)
	}
	if _, err := hex.Decode(authResp[:], []byte(rest[2:n])); err != nil {
		return [20]byte{}, "", fmt.Errorf("mschap: success message %q: %w", s, err)
	}
	rest = strings.TrimLeft(rest[n:], " \t\r\n")
	switch {
	case rest == "":
	case strings.HasPrefix(rest, "M="):
		message = rest[2:]
	default:
		return [20]byte{}, "", fmt.Errorf("mschap: success message %q: unexpected text after the authenticator response", s)
	}
	return authResp, message, nil
}
