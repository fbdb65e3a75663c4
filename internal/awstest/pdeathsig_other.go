//go:build unix && !linux

package awstest

import "syscall"

// setParentDeathSignal does nothing: only Linux has a parent-death signal. Close
// and t.Cleanup still stop the server.
func setParentDeathSignal(*syscall.SysProcAttr) {}
