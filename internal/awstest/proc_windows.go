package awstest

import (
	"os"
	"syscall"
)

// sysProcAttr has nothing to add on Windows, which has no process groups to signal.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// signalGroup kills the process itself: Windows cannot signal a group.
func signalGroup(p *os.Process, _ syscall.Signal) error {
	err := p.Kill()
	if err == os.ErrProcessDone {
		return nil
	}
	return err
}
