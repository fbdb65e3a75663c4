package lambdafn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/internal/testenv"
)

// riePackage is the AWS Lambda Runtime Interface Emulator's main package, pinned by
// go.mod's tool directive: the emulator that Lambda's container base images run as
// their entrypoint (aws-lambda-rie /var/task/bootstrap).
const riePackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// buildBootstrap builds a function's main as Lambda's bootstrap is built (static,
// -tags lambda.norpc, stripped, GOOS=linux), for this machine's architecture so it can
// run here. Each package is built once per test binary run; TestMain removes them.
func buildBootstrap(tb testing.TB, pkg string) string {
	tb.Helper()
	return buildOnce(tb, pkg, filepath.Join(strings.ReplaceAll(strings.Trim(pkg, "./"), "/", "-"), "bootstrap"),
		"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w")
}

// rieBinary builds the Runtime Interface Emulator at the version go.mod pins, once.
func rieBinary(tb testing.TB) string {
	tb.Helper()
	return buildOnce(tb, riePackage, "aws-lambda-rie", "build", "-trimpath")
}

func buildOnce(tb testing.TB, pkg, name string, args ...string) string {
	tb.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if p, ok := bins[pkg]; ok {
		return p
	}
	if binDir == "" {
		dir, err := os.MkdirTemp("", "ffbroker-bootstrap-")
		if err != nil {
			tb.Fatal(err)
		}
		binDir = dir
	}
	out := filepath.Join(binDir, name)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("go", append(args, "-o", out, pkg)...)
	cmd.Dir = "../../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	bins[pkg] = out
	return out
}

var (
	binMu sync.Mutex
	bins  = map[string]string{}
	// binDir holds the built bootstraps and the emulator; TestMain removes it
	// (removeBootstraps).
	binDir string
)

// removeBootstraps deletes the binaries the tests built.
func removeBootstraps() {
	binMu.Lock()
	defer binMu.Unlock()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// rie is one bootstrap running under the Runtime Interface Emulator, started as the
// Lambda container image starts it: `aws-lambda-rie /var/task/bootstrap`, the emulator
// serving the Runtime API to the bootstrap (AWS_LAMBDA_RUNTIME_API, set by the
// emulator) and Lambda's Invoke API to the test. The emulator starts the bootstrap on
// the first invocation (the init phase) and keeps it for the next ones.
type rie struct {
	cmd  *exec.Cmd
	addr string // the Invoke API, host:port
	// logs is the function's log stream, what Lambda sends to CloudWatch Logs: the
	// bootstrap's stdout and stderr, and the START/END/REPORT lines.
	logs *testenv.Lines
	// internal is the emulator's own log (its stderr), Runtime.ExitError and the like.
	internal *testenv.Lines
	exited   chan struct{}
	stopped  bool
}

// invocation is the emulator's answer to one Invoke call.
type invocation struct {
	Status int
	Body   []byte
	// FunctionError is the X-Amz-Function-Error header. (The emulator does not set
	// it: a function error is a 200 with the errorType/errorMessage document.)
	FunctionError string
	// Took is from the request to the end of the answer; on the first invocation it
	// includes the cold start (process start and init).
	Took time.Duration
}

// lambdaEnv is what the Lambda service adds to a function's environment.
var lambdaEnv = []string{
	"AWS_LAMBDA_FUNCTION_NAME=ffbroker-test", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256", "AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
	"AWS_LAMBDA_FUNCTION_TIMEOUT=30", "AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/ffbroker-test",
	"AWS_LAMBDA_LOG_STREAM_NAME=2026/11/21/[$LATEST]test",
}

// startRIE starts bin under the emulator with the function's environment fnEnv (the
// emulator passes its own environment to the function, as the container image does),
// on two free loopback ports, and waits until both its APIs listen. A port taken
// between choosing and binding it makes the emulator exit; it is started again on
// other ports.
func startRIE(tb testing.TB, bin string, fnEnv []string) *rie {
	tb.Helper()
	rieBin := rieBinary(tb)
	var lastErr error
	for range 5 {
		r, err := tryStartRIE(rieBin, bin, fnEnv)
		if err == nil {
			return r
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	tb.Fatalf("starting the Runtime Interface Emulator: %v", lastErr)
	return nil
}

var errPortTaken = errors.New("port taken")

func tryStartRIE(rieBin, bin string, fnEnv []string) (*rie, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	invokeAddr, runtimeAddr := "127.0.0.1:"+ports[0], "127.0.0.1:"+ports[1]
	cmd := exec.Command(rieBin, "--runtime-interface-emulator-address", invokeAddr, "--runtime-api-address", runtimeAddr, bin)
	cmd.Dir = filepath.Dir(bin) // the bootstrap's directory, like /var/task
	cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + os.TempDir()}, lambdaEnv...), fnEnv...)
	// Its own process group, so that stop ends the emulator and what it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r := &rie{cmd: cmd, addr: invokeAddr, logs: &testenv.Lines{}, internal: &testenv.Lines{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = r.logs, r.internal
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { cmd.Wait(); close(r.exited) }()
	for _, addr := range []string{invokeAddr, runtimeAddr} {
		if err := r.awaitListening(addr); err != nil {
			logs, internal := r.stop()
			if strings.Contains(internal, "address already in use") {
				return nil, fmt.Errorf("%w: %v", errPortTaken, err)
			}
			return nil, fmt.Errorf("%v\nemulator log:\n%s\nfunction log:\n%s", err, internal, logs)
		}
	}
	return r, nil
}

// awaitListening waits until addr accepts connections, while the emulator runs.
func (r *rie) awaitListening(addr string) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-r.exited:
			return fmt.Errorf("the emulator exited before %s listened", addr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s does not listen after 20s: %v", addr, err)
		}
	}
}

// invoke calls Lambda's Invoke API on the emulator with the given request id
// (X-Amzn-RequestId, the id the function gets through the Runtime API).
func (r *rie) invoke(ctx context.Context, requestID string, event []byte) (invocation, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+r.addr+"/2015-03-31/functions/function/invocations", bytes.NewReader(event))
	if err != nil {
		return invocation{}, err
	}
	req.Header.Set("X-Amzn-RequestId", requestID)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return invocation{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return invocation{}, err
	}
	return invocation{Status: resp.StatusCode, Body: body, FunctionError: resp.Header.Get("X-Amz-Function-Error"), Took: time.Since(start)}, nil
}

// stop ends the emulator and the bootstrap it started (which runs in a process group
// of its own), and returns the function's log stream and the emulator's log.
func (r *rie) stop() (logs, internal string) {
	if !r.stopped {
		r.stopped = true
		// The bootstrap first, while the emulator, its parent, is there to reap it.
		children := childProcesses(r.cmd.Process.Pid)
		for _, pid := range children {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		for _, pid := range children {
			for i := 0; i < 500 && processExists(pid); i++ {
				time.Sleep(10 * time.Millisecond)
			}
		}
		syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.exited
	}
	return r.logs.String(), r.internal.String()
}

// childProcesses lists the processes whose parent is pid.
func childProcesses(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// processExists reports whether pid is still there (a zombie counts: not reaped yet).
func processExists(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// freePorts returns n distinct loopback ports free at the time of the call.
func freePorts(n int) ([]string, error) {
	var ports []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}
