package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/internal/testenv"
)

// localAPIRun is one `ffbroker local-api` run in the background.
type localAPIRun struct {
	out, errOut testenv.Lines
	exit        chan int
	cancel      context.CancelFunc
}

func runLocalAPICommand(t *testing.T, stack string, flags ...string) *localAPIRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &localAPIRun{exit: make(chan int, 1), cancel: cancel}
	args := append([]string{"local-api", "--template", filepath.Join("..", "..", "template.yaml"), "--stack-name", stack}, flags...)
	go func() { r.exit <- run(ctx, args, &cli{stdout: &r.out, stderr: &r.errOut, getenv: os.Getenv}) }()
	t.Cleanup(func() { cancel(); <-r.exit }) // every reader of exit puts the code back
	return r
}

// served waits until r serves (true, with its address) or exits (false, its code).
func (r *localAPIRun) served(t *testing.T) (bool, string, int) {
	t.Helper()
	code := -1
	eventually(t, "local-api serves or exits", func() bool {
		select {
		case code = <-r.exit:
			r.exit <- code // for the cleanup
			return true
		default:
			return strings.HasSuffix(r.out.String(), "\n")
		}
	})
	if code != -1 {
		return false, "", code
	}
	addr, _, _ := strings.Cut(strings.TrimPrefix(r.out.String(), "local API on http://"), " ")
	return true, addr, 0
}

// notice is what local-api says on start about what it does not check.
const notice = "ffbroker local-api: for tests only: API Gateway's IAM authorization does not run here, and identity proofs " +
	"are checked with moto's STS, which verifies no signature"

// TestLocalAPIServesOtherMachinesOnlyWhenAsked: a --listen address that is not
// loopback is refused (usage, exit 2, nothing created in moto) unless
// --allow-remote; every start says what local-api does not check.
func TestLocalAPIServesOtherMachinesOnlyWhenAsked(t *testing.T) {
	f := setup(t, "lapinet")
	t.Setenv("FFB_APPROVER_DB_PASSWORD", approverPassword)
	for _, listen := range []string{"0.0.0.0:0", ":0"} {
		t.Run("refused "+listen, func(t *testing.T) {
			r := runLocalAPICommand(t, f.prefix, "--listen", listen)
			ok, addr, code := r.served(t)
			errOut := r.errOut.String()
			if ok || code != exitUsage || !strings.Contains(errOut, "is not a loopback address") || !strings.Contains(errOut, "pass --allow-remote") {
				t.Errorf("local-api --listen %s = serving %t on %s, exit %d\nstderr %s\nwant exit 2, not a loopback address, --allow-remote", listen, ok, addr, code, errOut)
			}
			if strings.Contains(errOut, "created ") {
				t.Errorf("local-api --listen %s created resources in moto before it refused:\n%s", listen, errOut)
			}
		})
	}
	tests := []struct {
		name   string
		flags  []string
		remote bool
	}{
		{"loopback", []string{"--listen", "127.0.0.1:0"}, false},
		{"remote with --allow-remote", []string{"--listen", "0.0.0.0:0", "--allow-remote"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runLocalAPICommand(t, f.prefix, tt.flags...)
			ok, addr, code := r.served(t)
			if !ok {
				t.Fatalf("local-api %s = exit %d before serving\n%s", strings.Join(tt.flags, " "), code, r.errOut.String())
			}
			errOut := r.errOut.String()
			if !strings.Contains(errOut, notice) {
				t.Errorf("local-api %s stderr does not say what it does not check (%q):\n%s", strings.Join(tt.flags, " "), notice, errOut)
			}
			if warned := strings.Contains(errOut, "warning: serving on "+addr+", reachable from other machines"); warned != tt.remote {
				t.Errorf("local-api %s warns of other machines: %t; want %t\n%s", strings.Join(tt.flags, " "), warned, tt.remote, errOut)
			}
			_, port, _ := net.SplitHostPort(addr)
			resp, err := http.Get("http://127.0.0.1:" + port + "/prod/access")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("GET /prod/access without a proof = %d; want 401", resp.StatusCode)
			}
			r.cancel()
			if code := <-r.exit; code != exitOK {
				t.Errorf("local-api after the context ended = exit %d; want 0", code)
			}
			r.exit <- exitOK
		})
	}
}
