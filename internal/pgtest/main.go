package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"
)

// Main starts a cluster for a test package, runs its tests and stops the cluster,
// also when they fail. It calls setup with the running cluster before the tests. When
// no server binaries exist it says so loudly and skips the package, except under CI
// (CI=true), where that is a failure.
func Main(m *testing.M, opts Options, setup func(*Cluster)) {
	os.Exit(Run(m, opts, setup))
}

// Run is Main without the exit: it returns the tests' exit code, so a TestMain can
// stop other servers before it exits.
func Run(m *testing.M, opts Options, setup func(*Cluster)) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := New(ctx, opts)
	cancel()
	if errors.Is(err, ErrNoBinaries) && os.Getenv("CI") != "true" {
		fmt.Fprintf(os.Stderr, "\n!!! SKIPPED: %v\n!!! the PostgreSQL tests of this package did not run\n\n", err)
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	fmt.Fprintf(os.Stderr, "pgtest: PostgreSQL %d from %s on %s:%d\n", c.Major, c.BinDir, c.Host, c.Port)
	setup(c)
	return m.Run()
}
