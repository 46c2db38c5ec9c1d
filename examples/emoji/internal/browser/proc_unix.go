//go:build unix

package browser

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup makes cmd the leader of a new process group: chromedriver and the Chromium
// it starts can then be ended together.
func ownProcessGroup(cmd *exec.Cmd) { cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} }

// killProcessGroup ends the process group cmd leads.
func killProcessGroup(cmd *exec.Cmd) { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
