package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckPrivate(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		mode os.FileMode
		want string
	}{
		{0o600, ""},
		{0o400, ""},
		{0o640, "readable by users other than its owner (mode 0640)"},
		{0o644, "readable by users other than its owner (mode 0644)"},
		{0o604, "readable"},
		{0o620, "can be changed by users other than its owner (mode 0620)"},
		{0o666, "can be changed"},
	} {
		p := filepath.Join(dir, "chap-secrets")
		os.WriteFile(p, []byte("x"), 0o600)
		if err := os.Chmod(p, tc.mode); err != nil {
			t.Fatal(err)
		}
		got := CheckPrivate(p)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("mode %04o: %q, want %q", tc.mode, got, tc.want)
		}
	}
	if w := CheckPrivate(filepath.Join(dir, "absent")); w != "" {
		t.Errorf("absent file: %q", w)
	}
}
