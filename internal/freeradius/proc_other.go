//go:build !linux

package freeradius

import "os/exec"

func ownProcessGroup(cmd *exec.Cmd) {}

func startCommand(cmd *exec.Cmd) error { return cmd.Start() }

func killProcessGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		cmd.Process.Kill()
	}
}
