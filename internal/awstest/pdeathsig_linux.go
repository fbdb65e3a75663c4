package awstest

import "syscall"

// setParentDeathSignal makes the kernel kill the child when the test binary ends.
func setParentDeathSignal(attr *syscall.SysProcAttr) {
	attr.Pdeathsig = syscall.SIGKILL
}
