package deploytest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/internal/awstest"
)

// moto is the package's shared moto_server, with Step Functions executing state
// machines and Lambda answering without Docker (see TestMain).
var moto awstest.Shared

func TestMain(m *testing.M) { os.Exit(awstest.RunShared(m, &moto, configureMoto)) }

// configureMoto makes moto run state machines (its ASL interpreter, which also
// validates definitions on CreateStateMachine) and answer Lambda invocations from a
// queue of results instead of running code in Docker.
func configureMoto(srv *awstest.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.SetConfig(ctx, map[string]any{
		"stepfunctions": map[string]any{"execute_state_machine": true},
		"lambda":        map[string]any{"use_docker": false},
	})
}

// repoRoot is the module's root directory (two levels above this package).
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// repoFile is the path of a file in the repository.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	return filepath.Join(repoRoot(t), filepath.FromSlash(rel))
}

const banner = "********************************************************************************"

// requireTool returns the path of an executable, or skips the test loudly when it is
// not on PATH (fails it when CI=true).
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("%s is not on PATH (CI=true); install it with: %s", name, install)
	}
	t.Skipf("\n%s\n*** SKIPPED: %s is not on PATH, so this check did NOT run.\n*** Install it with: %s\n*** (with CI=true this is a failure)\n%s",
		banner, name, install, banner)
	return ""
}

// run executes a command in the repository root and returns its combined output
// and exit error.
func run(t *testing.T, timeout time.Duration, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s %s: timed out after %s: %w", name, strings.Join(args, " "), timeout, err)
	}
	return out.String(), err
}
