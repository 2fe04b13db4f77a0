package freeradius

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// ownProcessGroup puts the command into a process group of its own, so
// that killProcessGroup also reaches what a wrapping command (such as a
// shell) started, and has the kernel kill it if the test binary dies
// without running its cleanups (a go test timeout).
func ownProcessGroup(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if cmd.SysProcAttr.Pdeathsig == 0 {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
}

// startCommand starts cmd on a thread that never exits. The kernel sends
// the parent-death signal when the thread that forked the child exits,
// not the process; Go threads normally live forever, but one whose
// goroutine exits while locked to it (as internal/netns does in places)
// is destroyed and would take the server with it.
func startCommand(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnc = make(chan func())
		go func() {
			runtime.LockOSThread()
			for f := range spawnc {
				f()
			}
		}()
	})
	errc := make(chan error, 1)
	spawnc <- func() { errc <- cmd.Start() }
	return <-errc
}

var (
	spawnOnce sync.Once
	spawnc    chan func()
)

// killProcessGroup kills the process group ownProcessGroup created.
func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	// The group's ID is the ID of the process this package started.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		cmd.Process.Kill()
	}
}
