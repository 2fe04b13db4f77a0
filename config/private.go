package config

import (
	"fmt"
	"io/fs"
	"os"
)

// CheckPrivate returns a warning when the file at path, which holds
// secrets, can be read or changed by users other than its owner; "" when
// it is private or does not exist.
func CheckPrivate(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return privacyWarning(path, fi.Mode())
}

func privacyWarning(path string, m fs.FileMode) string {
	switch perm := m.Perm(); {
	case perm&0o022 != 0:
		return fmt.Sprintf("%s can be changed by users other than its owner (mode %04o): run chmod 600 %s", path, perm, path)
	case perm&0o044 != 0:
		return fmt.Sprintf("%s holds secrets but is readable by users other than its owner (mode %04o): run chmod 600 %s", path, perm, path)
	}
	return ""
}
