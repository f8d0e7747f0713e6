package redistest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the child receive SIGKILL if the test binary dies
// (a timeout panic, a kill), so no redis-server outlives its test.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
