package config

import "bytes"

// maxWordLen is the longest word pppd keeps (MAXWORDLEN less the NUL).
// pppd truncates longer words with a warning; truncating a password or
// a path silently changes its meaning, so we refuse them instead.
const maxWordLen = 1023

// word is one word of an options or secrets file.
type word struct {
	text string
	pos  Pos
	// lineStart reports that an unescaped newline (or the start of the
	// file) came before the word. Secrets files start each entry on a
	// new line.
	lineStart bool
}

// splitWords splits data into words the way pppd's getword does:
//   - words are separated by white space;
//   - '#' outside quotes starts a comment up to the end of the line; in
//     the middle of a word it also ends the word (we warn about that);
//   - "..." and '...' quote white space and '#'; quotes may appear in
//     the middle of a word and are removed;
//   - a backslash escapes the next character, inside quotes too:
//     \a \b \f \n \r \s (space) \t, \NNN octal (up to 3 digits),
//     \xHH hex (up to 2 digits), backslash-newline is removed, and any
//     other character stands for itself (so \" and \\ work).
//
// Unlike pppd, an unterminated quote, a word longer than 1023 bytes and
// a NUL byte in a word are errors.
func splitWords(data []byte, file string) ([]word, []Warning, error) {
	var words []word
	var warns []Warning
	line, i := 1, 0
	newline := true
	for {
		escape, comment := false, false
		for i < len(data) {
			c := data[i]
			if c == '\n' {
				line++
				i++
				if escape {
					escape = false
				} else {
					newline, comment = true, false
				}
				continue
			}
			if comment {
				i++
				continue
			}
			if escape {
				break // an escaped character starts a word
			}
			if c == '\\' {
				escape = true
			} else if c == '#' {
				comment = true
			} else if !isSpace(c) {
				break
			}
			i++
		}
		if i >= len(data) {
			return words, warns, nil
		}

		start := Pos{File: file, Line: line}
		var buf []byte
		var quote byte
		quoteLine := 0
	word:
		for ; i < len(data); i++ {
			c := data[i]
			switch {
			case escape:
				escape = false
				if c == '\n' {
					line++
					continue
				}
				v, n := decodeEscape(data[i:])
				buf = append(buf, v)
				i += n - 1
			case c == '\\':
				escape = true
				continue
			case quote != 0 && c == quote:
				quote = 0
				continue
			case quote != 0:
				if c == '\n' {
					line++
				}
				buf = append(buf, c)
			case c == '"' || c == '\'':
				quote, quoteLine = c, line
				continue
			case isSpace(c):
				break word
			case c == '#':
				// The word may be a password: say where, never what.
				warns = append(warns, Warning{Pos{File: file, Line: line},
					"'#' in the middle of a word ends the word and starts a comment, as in pppd; quote the word if the '#' belongs to it"})
				break word
			default:
				buf = append(buf, c)
			}
			if len(buf) > maxWordLen {
				return nil, warns, errorAt(start, "word longer than %d bytes", maxWordLen)
			}
		}
		if quote != 0 {
			return nil, warns, errorAt(Pos{File: file, Line: quoteLine}, "quote %c is never closed", quote)
		}
		if bytes.IndexByte(buf, 0) >= 0 {
			return nil, warns, errorAt(start, "word contains a NUL character")
		}
		words = append(words, word{text: string(buf), pos: start, lineStart: newline})
		newline = false
	}
}

// decodeEscape decodes the escape sequence whose first character (the
// one after the backslash) starts s. It returns the byte and how many
// bytes of s it used.
func decodeEscape(s []byte) (byte, int) {
	switch s[0] {
	case 'a':
		return '\a', 1
	case 'b':
		return '\b', 1
	case 'f':
		return '\f', 1
	case 'n':
		return '\n', 1
	case 'r':
		return '\r', 1
	case 's':
		return ' ', 1
	case 't':
		return '\t', 1
	case 'x':
		v, n := 0, 1
		for ; n < 3 && n < len(s) && isHex(s[n]); n++ {
			v = v<<4 | hexVal(s[n])
		}
		return byte(v), n
	}
	if isOctal(s[0]) {
		v, n := 0, 0
		for ; n < 3 && n < len(s) && isOctal(s[n]); n++ {
			v = v<<3 | int(s[n]-'0')
		}
		return byte(v), n // as in C, \400 and above wrap to a byte
	}
	return s[0], 1
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) int {
	switch {
	case c >= 'a':
		return int(c-'a') + 10
	case c >= 'A':
		return int(c-'A') + 10
	default:
		return int(c - '0')
	}
}
