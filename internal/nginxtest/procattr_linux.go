//go:build linux

package nginxtest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes nginx die with the test binary, even on a crash.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
