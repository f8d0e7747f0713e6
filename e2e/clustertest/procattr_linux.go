package clustertest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the child receive SIGKILL if the test binary dies,
// so no rtgate outlives its test.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
