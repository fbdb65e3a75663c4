package awstest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Fixed identity of every server: moto accepts any credentials and files resources
// under its default account.
const (
	// Region is the AWS region that Config and Setenv select.
	Region = "us-east-1"
	// AccessKeyID is the static test access key that Config and Setenv use.
	AccessKeyID = "testing"
	// SecretAccessKey is the static test secret key that Config and Setenv use.
	SecretAccessKey = "testing"
	// AccountID is the account moto assigns to every resource (for expected ARNs).
	AccountID = "123456789012"
)

// Timing of start and stop.
const (
	startTimeout = 20 * time.Second
	pollInterval = 100 * time.Millisecond
	stopTimeout  = 5 * time.Second
	startTries   = 3
)

// ErrNotInstalled is returned (wrapped) by New when moto_server is not on PATH.
// Require turns it into a skip, or into a failure when CI=true.
var ErrNotInstalled = errors.New("moto_server not found on PATH")

// errExited reports that moto_server ended before it answered, typically because
// another process took the port between its choice and moto's bind.
var errExited = errors.New("moto_server exited before it answered")

// Server is one running moto_server process.
type Server struct {
	// Endpoint is the server's base URL, e.g. "http://127.0.0.1:41234"; use it as
	// AWS_ENDPOINT_URL or BaseEndpoint.
	Endpoint string

	cmd     *exec.Cmd
	logPath string
	http    *http.Client

	done    chan struct{} // closed once the process has been reaped
	waitErr error         // the process's exit status, valid after done

	closeOnce sync.Once
	closeErr  error
}

// Option changes how New and Start run moto_server.
type Option func(*options)

// options is what the Options given to New and Start ask for.
type options struct {
	env []string // extra environment of the moto_server process
}

// WithAuthAfter makes the server check every AWS call after the first n the way
// AWS does (INITIAL_NO_AUTH_ACTION_COUNT=n): the SigV4 signature against the IAM
// access keys and assumed-role sessions moto knows, then the caller's IAM policies.
// Make the first n calls create the IAM users, keys and policies that later calls
// are signed with; the static test credentials of Config are not an IAM key, so
// they fail once checking starts. Calls to the moto API (/moto-api/) are not counted.
func WithAuthAfter(n int) Option {
	return func(o *options) {
		o.env = append(o.env, "INITIAL_NO_AUTH_ACTION_COUNT="+strconv.Itoa(max(n, 0)))
	}
}

// New starts a moto_server on a free port on 127.0.0.1 and waits until it answers.
// The caller must call Close. When moto_server is not on PATH the error wraps
// ErrNotInstalled; pass it to Require in each test to skip or fail.
func New(opts ...Option) (*Server, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	path, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("awstest: %w (%v); install it with: pip install 'moto[server]'", ErrNotInstalled, err)
	}
	var errs []error
	for range startTries {
		s, err := start(path, o)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
		if !errors.Is(err, errExited) {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// Start starts a server for one test and stops it when the test ends, pass or fail.
// When moto_server is missing it skips the test, or fails it when CI=true.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := New(opts...)
	s = Require(t, s, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("moto_server output (tail):\n%s", s.logTail())
		}
		if err := s.Close(); err != nil {
			t.Errorf("awstest: close moto_server: %v", err)
		}
	})
	return s
}

// Require returns s when New succeeded. When moto_server is not installed it skips
// the test with a loud message, unless the environment variable CI is true, in
// which case, as for any other error from New, it fails the test.
func Require(t testing.TB, s *Server, err error) *Server {
	t.Helper()
	if err == nil && s == nil {
		err = errors.New("awstest: no server and no error from New")
	}
	if err == nil {
		return s
	}
	if errors.Is(err, ErrNotInstalled) && !inCI() {
		t.Skipf("\n%s\n*** SKIPPED: moto_server is not on PATH, so this test did NOT run against the AWS emulator.\n*** %v\n*** (with CI=true this is a failure)\n%s",
			banner, err, banner)
	}
	t.Fatal(err)
	return nil
}

const banner = "********************************************************************************"

// inCI reports whether the environment variable CI says we run on a build machine.
func inCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// start runs one moto_server on a port that was free a moment ago.
func start(path string, o options) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.CreateTemp("", "moto_server-*.log")
	if err != nil {
		return nil, fmt.Errorf("awstest: create moto_server log: %w", err)
	}
	defer logFile.Close() // the child holds its own descriptor

	cmd := exec.Command(path, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(append(os.Environ(), "PYTHONUNBUFFERED=1"), o.env...)
	cmd.SysProcAttr = sysProcAttr()

	s := &Server{
		Endpoint: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		cmd:      cmd,
		logPath:  logFile.Name(),
		http:     &http.Client{Timeout: 10 * time.Second},
		done:     make(chan struct{}),
	}
	if err := s.spawn(); err != nil {
		os.Remove(s.logPath)
		return nil, fmt.Errorf("awstest: start %s: %w", path, err)
	}
	if err := s.waitReady(); err != nil {
		err = fmt.Errorf("awstest: moto_server on %s: %w\n--- moto_server output (tail) ---\n%s", s.Endpoint, err, s.logTail())
		s.Close()
		return nil, err
	}
	return s, nil
}

// spawn starts the process and reaps it, both from one goroutine locked to its OS
// thread: the kernel sends the parent-death signal when the thread that forked the
// child ends, and this thread lives exactly as long as the child or the test binary.
func (s *Server) spawn() error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.waitErr = s.cmd.Wait()
		close(s.done)
	}()
	return <-started
}

// waitReady polls the moto API until it answers, the process dies or time runs out.
func (s *Server) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("%w: %v", errExited, s.waitErr)
		default:
		}
		last = s.ping()
		if last == nil {
			return nil
		}
		time.Sleep(pollInterval)
	}
	return fmt.Errorf("no answer within %s: %v", startTimeout, last)
}

// ping asks the moto API for its index page once.
func (s *Server) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := s.call(ctx, http.MethodGet, "/moto-api/", nil)
	return err
}

// Close stops the server: SIGTERM to its process group, SIGKILL after a grace
// period, and removes its log. It is safe to call on a nil Server and more than once.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	s.closeOnce.Do(func() { s.closeErr = s.stop() })
	return s.closeErr
}

// stop ends the process group and waits until the process is reaped. It signals
// the group only while its leader is alive, so the group id cannot have been reused.
func (s *Server) stop() error {
	defer os.Remove(s.logPath)
	select {
	case <-s.done:
		return nil
	default:
	}
	if err := signalGroup(s.cmd.Process, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("awstest: signal moto_server: %w", err)
	}
	select {
	case <-s.done:
		return nil
	case <-time.After(stopTimeout):
	}
	if err := signalGroup(s.cmd.Process, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("awstest: kill moto_server: %w", err)
	}
	<-s.done
	return nil
}

// Config returns SDK configuration for the server: region us-east-1, static test
// credentials and BaseEndpoint set to Endpoint. Shared config and credential files
// are not read, so a developer's ~/.aws cannot redirect the tests. It panics if the
// SDK rejects the environment (for example a malformed AWS_* variable).
func (s *Server) Config(ctx context.Context) aws.Config {
	return configFor(ctx, s.Endpoint)
}

// configFor is Server.Config for any endpoint.
func configFor(ctx context.Context, endpoint string) aws.Config {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")),
		config.WithBaseEndpoint(endpoint),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	)
	if err != nil {
		panic(fmt.Sprintf("awstest: load AWS config for %s: %v", endpoint, err))
	}
	return cfg
}

// Setenv points code that loads its own SDK configuration (config.LoadDefaultConfig
// without options, as a Lambda's main does) at the server for the duration of t:
// AWS_ENDPOINT_URL, AWS_REGION, static credentials, and no shared files. Like
// t.Setenv it cannot be used in parallel tests.
func (s *Server) Setenv(t testing.TB) {
	t.Helper()
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL":            s.Endpoint,
		"AWS_REGION":                  Region,
		"AWS_DEFAULT_REGION":          Region,
		"AWS_ACCESS_KEY_ID":           AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":       SecretAccessKey,
		"AWS_SESSION_TOKEN":           "",
		"AWS_PROFILE":                 "",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED":   "true",
	} {
		t.Setenv(k, v)
	}
}

// Reset deletes every resource in the server (POST /moto-api/reset).
func (s *Server) Reset(ctx context.Context) error {
	_, err := s.call(ctx, http.MethodPost, "/moto-api/reset", nil)
	return err
}

// SetConfig changes moto's behaviour (POST /moto-api/config), e.g.
// json.RawMessage(`{"batch":{"use_docker":false}}`). cfg is encoded with
// encoding/json; a json.RawMessage is sent as it is.
func (s *Server) SetConfig(ctx context.Context, cfg any) error {
	body, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("awstest: encode moto config: %w", err)
	}
	_, err = s.call(ctx, http.MethodPost, "/moto-api/config", body)
	return err
}

// call sends one request to the moto API and returns the body of a 2xx answer.
func (s *Server) call(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.Endpoint+path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("awstest: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("awstest: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("awstest: %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("awstest: %s %s: status %s: %s", method, path, resp.Status, bytes.TrimSpace(out))
	}
	return out, nil
}

// freePort returns a TCP port on 127.0.0.1 that nothing listened on a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("awstest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail returns the last lines of moto_server's output.
func (s *Server) logTail() string {
	const maxBytes, maxLines = 8 << 10, 40
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", s.logPath, err)
	}
	if len(b) > maxBytes {
		b = b[len(b)-maxBytes:]
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return strings.Join(lines, "\n")
}
