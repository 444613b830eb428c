package e2e

import "syscall"

// sysProcAttr kills the portal when the test binary dies, so no portal
// outlives an interrupted test run.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
