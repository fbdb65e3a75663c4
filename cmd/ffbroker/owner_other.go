//go:build !unix

package main

import (
	"fmt"
	"os"
)

// checkOwnFile refuses a configuration file that others may write, by its mode bits
// (this platform has no owner to compare).
func checkOwnFile(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by others (mode %v): run ffbroker configure again", p, fi.Mode().Perm())
	}
	return nil
}
