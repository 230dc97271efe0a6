package functions

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes a worker die with the node that started it.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
