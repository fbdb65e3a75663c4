//go:build unix

package awstest

import (
	"os"
	"syscall"
)

// sysProcAttr puts moto_server in a process group of its own, so that Close can
// signal everything it started, and asks for it to die with the test binary.
func sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(attr)
	return attr
}

// signalGroup sends sig to the process group that p leads.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	return syscall.Kill(-p.Pid, sig)
}
