package config

import (
	"strings"
	"testing"
)

func TestSplitWords(t *testing.T) {
	type w struct {
		text      string
		line      int
		lineStart bool
	}
	tests := []struct {
		name string
		in   string
		want []w
	}{
		{"plain", "a bb\tccc\n", []w{{"a", 1, true}, {"bb", 1, false}, {"ccc", 1, false}}},
		{"lines", "a\n\n  b c\nd", []w{{"a", 1, true}, {"b", 3, true}, {"c", 3, false}, {"d", 4, true}}},
		{"comment", "# x y\na # b c\nd", []w{{"a", 2, true}, {"d", 3, true}}},
		{"hash ends word", "pass#word next\nz", []w{{"pass", 1, true}, {"z", 2, true}}},
		{"double quotes", `name "two words" x`, []w{{"name", 1, true}, {"two words", 1, false}, {"x", 1, false}}},
		{"single quotes", `'a "b" # c'`, []w{{`a "b" # c`, 1, true}}},
		{"quotes mid word", `ab"c d"e`, []w{{"abc de", 1, true}}},
		{"empty quoted", `user "" x`, []w{{"user", 1, true}, {"", 1, false}, {"x", 1, false}}},
		{"escaped quote", `"say \"hi\""`, []w{{`say "hi"`, 1, true}}},
		{"escaped backslash", `"a\\b" c\\`, []w{{`a\b`, 1, true}, {`c\`, 1, false}}},
		{"escaped space", `a\ b`, []w{{"a b", 1, true}}},
		{"escaped hash", `a\#b \#c`, []w{{"a#b", 1, true}, {"#c", 1, false}}},
		{"c escapes", `"\a\b\f\n\r\s\t"`, []w{{"\a\b\f\n\r \t", 1, true}}},
		{"octal", `\101\1011 \7x \0101`, []w{{"AA1", 1, true}, {"\ax", 1, false}, {"\x081", 1, false}}},
		{"octal wraps", `\501`, []w{{"A", 1, true}}},
		{"hex", `\x41\x4a\x4Bz \x7`, []w{{"AJKz", 1, true}, {"\x07", 1, false}}},
		{"other escape", `\q\"`, []w{{`q"`, 1, true}}},
		{"continuation", "a \\\nb\nc", []w{{"a", 1, true}, {"b", 2, false}, {"c", 3, true}}},
		{"continuation in word", "ab\\\ncd e", []w{{"abcd", 1, true}, {"e", 2, false}}},
		{"quoted newline", "\"a\nb\" c\nd", []w{{"a\nb", 1, true}, {"c", 2, false}, {"d", 3, true}}},
		{"crlf", "a b\r\nc\r\n", []w{{"a", 1, true}, {"b", 1, false}, {"c", 2, true}}},
		{"comment after continuation", "a \\\n# c\nb", []w{{"a", 1, true}, {"b", 3, true}}},
		{"trailing backslash", "a \\", []w{{"a", 1, true}}},
		{"empty", "", nil},
		{"only comments", "# a\n   # b\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, _, err := splitWords([]byte(tt.in), "f")
			if err != nil {
				t.Fatal(err)
			}
			var got []w
			for _, x := range ws {
				got = append(got, w{x.text, x.pos.Line, x.lineStart})
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("word %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestSplitWordsHashWarning(t *testing.T) {
	_, warns, err := splitWords([]byte("ok\nuser * hunter2#1 *\n"), "chap-secrets")
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 1 || !strings.HasPrefix(warns[0].String(), "chap-secrets:2: '#' in the middle of a word") {
		t.Fatalf("warnings = %v", warns)
	}
	// The warning must not reveal the (possibly secret) word.
	if strings.Contains(warns[0].String(), "hunter2") {
		t.Errorf("warning leaks the word: %s", warns[0])
	}
}

func TestSplitWordsErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\n\"open quote\n\n", "f:2: quote \" is never closed"},
		{"'x", "f:1: quote ' is never closed"},
		{"a \\000b", "f:1: word contains a NUL character"},
		{"a\nb\x00", "f:2: word contains a NUL character"},
		{"\\x", "f:1: word contains a NUL character"},
		{strings.Repeat("x", maxWordLen+1), "f:1: word longer than 1023 bytes"},
		{"\n\"" + strings.Repeat("y", 5000), "f:2: word longer than"},
	}
	for _, tt := range tests {
		_, _, err := splitWords([]byte(tt.in), "f")
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%.30q: err = %v, want %q", tt.in, err, tt.want)
		}
	}
	if ws, _, err := splitWords([]byte(strings.Repeat("x", maxWordLen)), "f"); err != nil || len(ws[0].text) != maxWordLen {
		t.Errorf("a word of exactly %d bytes: %v", maxWordLen, err)
	}
}
