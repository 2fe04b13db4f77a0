// Package privs drops the capabilities a daemon no longer needs once its
// sockets and devices are open.
package privs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
	"kernel.org/pub/linux/libs/security/libcap/psx"
)

// Keep drops every capability but keep from the whole process: the
// effective, permitted and inheritable sets and the bounding set, and sets
// no_new_privs so that nothing executed later regains them. The process
// keeps its user ID: files it owns (root's configuration) stay readable
// without CAP_DAC_OVERRIDE.
//
// Capabilities are per thread in Linux; Keep changes every thread at once
// through libcap's psx, with or without cgo.
func Keep(keep ...uintptr) error {
	last, err := lastCap()
	if err != nil {
		return err
	}
	var mask [2]uint32
	for _, c := range keep {
		if c > last {
			return fmt.Errorf("capability %d is beyond this kernel's last (%d)", c, last)
		}
		mask[c/32] |= 1 << (c % 32)
	}
	if _, _, e := psx.Syscall6(syscall.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("setting no_new_privs: %w", e)
	}
	// Emptying the bounding set needs CAP_SETPCAP, which a service
	// started with a narrow set (systemd's CapabilityBoundingSet) lacks:
	// then the bounding set is already narrow, and no_new_privs keeps
	// anything executed from regaining more.
	eff, err := Effective()
	if err != nil {
		return err
	}
	bnd, err := status("CapBnd")
	if err != nil {
		return err
	}
	if eff&(1<<unix.CAP_SETPCAP) != 0 {
		for c := uintptr(0); c <= last; c++ {
			if mask[c/32]&(1<<(c%32)) != 0 || bnd&(1<<c) == 0 {
				continue
			}
			if _, _, e := psx.Syscall6(syscall.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0, 0, 0, 0); e != 0 {
				return fmt.Errorf("dropping capability %d from the bounding set: %w", c, e)
			}
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	for i := range data {
		data[i].Effective, data[i].Permitted = mask[i], mask[i]
	}
	if _, _, e := psx.Syscall3(syscall.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return fmt.Errorf("setting capabilities: %w", e)
	}
	return nil
}

// lastCap is the highest capability number the kernel knows.
func lastCap() (uintptr, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("reading the last capability: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 || n > 63 {
		return 0, fmt.Errorf("bad cap_last_cap %q", b)
	}
	return uintptr(n), nil
}

// Effective returns the calling process's effective capability set as
// /proc reports it (CapEff), for logs and tests.
func Effective() (uint64, error) {
	return status("CapEff")
}

func status(field string) (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/self/status", field)
}
