//go:build unix

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// checkOwnFile refuses a configuration file that someone else could have written: one
// another user owns or others may write, or one in a directory another user owns or
// others may write (they could replace it). root may own the directory.
func checkOwnFile(p string) error {
	me := os.Geteuid()
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != me {
		return fmt.Errorf("%s belongs to another user (uid %d): run ffbroker configure again as yourself", p, st.Uid)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("%s is writable by others (mode %v): chmod 600 it, or run ffbroker configure again", p, fi.Mode().Perm())
	}
	dir := filepath.Dir(p)
	di, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if st, ok := di.Sys().(*syscall.Stat_t); ok && int(st.Uid) != me && st.Uid != 0 {
		return fmt.Errorf("the directory %s of %s belongs to another user (uid %d), who could replace the file: keep it in a directory of your own", dir, p, st.Uid)
	}
	if di.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("the directory %s of %s is writable by others (mode %v), who could replace the file: chmod 700 it, or keep the file in a directory of your own", dir, p, di.Mode().Perm())
	}
	return nil
}
