package privs

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestKeep runs itself in a child process (dropping capabilities is for
// good) and checks from /proc what the child kept.
func TestKeep(t *testing.T) {
	if os.Getenv("PRIVS_CHILD") == "1" {
		if err := Keep(unix.CAP_NET_ADMIN, unix.CAP_NET_RAW); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile("/proc/self/status")
		os.Stdout.Write(b)
		// Without CAP_SYS_ADMIN even root cannot mount.
		if err := unix.Mount("none", "/mnt", "tmpfs", 0, ""); err == nil {
			unix.Unmount("/mnt", 0)
			t.Fatal("mount succeeded after dropping CAP_SYS_ADMIN")
		}
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: dropping capabilities is only visible with some to drop")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestKeep$", "-test.v")
	cmd.Env = append(os.Environ(), "PRIVS_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	want := map[string]string{"CapEff": "0000000000003000", "CapPrm": "0000000000003000", "CapBnd": "0000000000003000",
		"CapInh": "0000000000000000", "NoNewPrivs": "1"}
	for _, l := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if w, in := want[k]; ok && in {
			if strings.TrimSpace(v) != w {
				t.Errorf("%s = %s, want %s", k, strings.TrimSpace(v), w)
			}
			delete(want, k)
		}
	}
	if len(want) != 0 {
		t.Errorf("not in the child's status: %v\n%s", want, out)
	}
}
