package lambdafn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
	"github.com/ffbroker/ffbroker/internal/awstest"
	"github.com/ffbroker/ffbroker/internal/lambdart"
)

// buildBootstrap builds a function's main as Lambda's bootstrap is built (static,
// -tags lambda.norpc, stripped), for this machine's architecture so it can run here.
func buildBootstrap(tb testing.TB, pkg string) string {
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
	out := filepath.Join(binDir, strings.ReplaceAll(strings.Trim(pkg, "./"), "/", "-"), "bootstrap")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = "../../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	bins[pkg] = out
	return out
}

var (
	binMu sync.Mutex
	bins  = map[string]string{}
	// binDir holds the built bootstraps; TestMain removes it (removeBootstraps).
	binDir string
)

// removeBootstraps deletes the bootstraps the tests built.
func removeBootstraps() {
	binMu.Lock()
	defer binMu.Unlock()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

// functionEnv is the environment the template gives function fn, pointed at the test
// cluster and moto.
func functionEnv(e *env, srv *awstest.Server, fn lambdafn.Function) []string {
	getenv := functionGetenv(fn, e.names, map[string]string{"FFB_STATE_MACHINE_ARN": e.issue.Config.StateMachineARN})
	env := []string{
		"AWS_ENDPOINT_URL=" + srv.Endpoint, "AWS_REGION=" + awstest.Region, "AWS_ACCESS_KEY_ID=" + awstest.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + awstest.SecretAccessKey, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
	for _, k := range []string{"FFB_DB_HOST", "FFB_DB_PORT", "FFB_DB_NAME", "FFB_DB_USER", "FFB_DB_AUTH", "FFB_DB_PASSWORD", "FFB_DB_SSLMODE",
		"FFB_TARGET_SSLMODE", "FFB_STATE_MACHINE_ARN", "FFB_SERVER_ID", "FFB_APPROVERS", "FFB_ACTIVITY_LOG_GROUP", "FFB_ACTIVITY_DB_USER"} {
		env = append(env, k+"="+getenv(k))
	}
	return env
}

var runtimeCases = []struct {
	fn, pkg, event string
	kind           lambdafn.Function
	signer         string // who signs an API event's identity proof
	want           func(a lambdart.Answer) error
}{
	{"issue", "./cmd/issue", "status-api.json", lambdafn.FunctionIssue, "alice", wantStatus(200)},
	{"expire", "./cmd/expire", "expire-schedule.json", lambdafn.FunctionExpire, "", func(a lambdart.Answer) error {
		if a.Error || !strings.Contains(string(a.Body), `"expired"`) {
			return fmt.Errorf("answer %s; want a sweep result", a.Body)
		}
		return nil
	}},
	{"approve", "./cmd/approve", "approve-api.json", lambdafn.FunctionApprove, "bob", wantStatus(404)},
	{"activity", "./cmd/activity", "invalid/wrong-shape.json", lambdafn.FunctionActivity, "", func(a lambdart.Answer) error {
		if !a.Error || !strings.Contains(string(a.Body), `"errorType":"InvalidInputError"`) {
			return fmt.Errorf("answer %s; want an InvalidInputError", a.Body)
		}
		return nil
	}},
}

func wantStatus(code int) func(lambdart.Answer) error {
	return func(a lambdart.Answer) error {
		var resp struct {
			StatusCode int `json:"statusCode"`
		}
		if a.Error || json.Unmarshal(a.Body, &resp) != nil || resp.StatusCode != code {
			return fmt.Errorf("answer %s (error %v); want an API answer with status %d", a.Body, a.Error, code)
		}
		return nil
	}
}

// The shipped artefact itself answers through the Lambda Runtime API: each built
// bootstrap is started as Lambda would start it and given a sample event.
func TestBootstrapAnswersThroughRuntimeAPI(t *testing.T) {
	e := sharedEnv(t)
	srv := shared.Moto(t)
	for _, tc := range runtimeCases {
		t.Run(tc.fn, func(t *testing.T) {
			bin := buildBootstrap(t, tc.pkg)
			rt, err := lambdart.Start()
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close()
			p, err := rt.Run(context.Background(), bin, functionEnv(e, srv, tc.kind))
			if err != nil {
				t.Fatal(err)
			}
			ev := readEvent(t, tc.event)
			if tc.signer != "" {
				ev = e.sign(t, tc.signer, ev)
			}
			rt.Invoke("req-1", ev)
			a, err := rt.Wait(20 * time.Second)
			out := p.Stop()
			if err != nil {
				t.Fatalf("%v\noutput:\n%s", err, out)
			}
			if a.RequestID != "req-1" {
				t.Errorf("answer for request %q; want req-1", a.RequestID)
			}
			if err := tc.want(a); err != nil {
				t.Errorf("%s: %v\noutput:\n%s", tc.fn, err, out)
			}
		})
	}
	t.Run("invalid configuration fails the cold start naming the variable", func(t *testing.T) {
		bin := buildBootstrap(t, "./cmd/issue")
		cmd := exec.Command(bin)
		cmd.Env = append(functionEnv(e, srv, lambdafn.FunctionIssue), "FFB_DB_PORT=70000", "AWS_LAMBDA_RUNTIME_API=127.0.0.1:1")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "FFB_DB_PORT") {
			t.Errorf("bootstrap with FFB_DB_PORT=70000: %v, %q; want a failed start naming FFB_DB_PORT", err, out)
		}
	})
}

// BenchmarkColdStart measures each bootstrap from process start to its first answer
// through the Runtime API (dependencies built as in Lambda's init phase), and reports
// the binary's size.
func BenchmarkColdStart(b *testing.B) {
	coldStart(b, func(tc string) string { return tc })
}

// BenchmarkColdStartFloor is the baseline: the smallest aws-lambda-go function, built
// and started the same way, answering the same event.
func BenchmarkColdStartFloor(b *testing.B) {
	coldStart(b, func(string) string { return "./internal/lambdart/testdata/floor" })
}

func coldStart(b *testing.B, pkgFor func(string) string) {
	e := sharedEnv(b)
	srv := shared.Moto(b)
	for _, tc := range runtimeCases {
		b.Run(tc.fn, func(b *testing.B) {
			bin := buildBootstrap(b, pkgFor(tc.pkg))
			event := readEvent(b, tc.event)
			if tc.signer != "" {
				event = e.sign(b, tc.signer, event) // fresh for 5 minutes, longer than the benchmark
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rt, err := lambdart.Start()
				if err != nil {
					b.Fatal(err)
				}
				p, err := rt.Run(context.Background(), bin, functionEnv(e, srv, tc.kind))
				if err != nil {
					b.Fatal(err)
				}
				rt.Invoke("req", event)
				a, err := rt.Wait(20 * time.Second)
				if err != nil {
					b.Fatalf("%v: %s", err, p.Stop())
				}
				b.ReportMetric(float64(a.At.Sub(p.Started).Microseconds())/1000, "ms-to-first-answer")
				b.StopTimer()
				p.Stop()
				rt.Close()
				b.StartTimer()
			}
			if st, err := os.Stat(bin); err == nil {
				b.ReportMetric(float64(st.Size())/1e6, "MB")
			}
		})
	}
}

// The likely first-deployment failures, made for real against the test cluster, each
// answered by the shipped bootstrap with a 503 whose code and message name the
// category, and logged on its output as one JSON line with the category and a
// sanitized cause, without the password. (The IAM ones, which need TLS and the
// token stand-in, are broker's TestConnectFailureCategories.)
func TestBootstrapNamesFailureCategories(t *testing.T) {
	e := sharedEnv(t)
	srv := shared.Moto(t)
	const nologinPassword = "nologin-password-for-the-edge-test-0123"
	c, err := shared.Cluster.ConnectSuper(context.Background(), "postgres")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Exec(context.Background(), `DO $$BEGIN
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ffb_edge_nologin') THEN
			CREATE ROLE ffb_edge_nologin NOLOGIN PASSWORD '`+nologinPassword+`';
		END IF; END$$`)
	c.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	const wrongPassword = "wrong-broker-password-for-the-edge-test-0123"
	tests := []struct {
		name     string
		env      []string
		secret   string
		code     string
		category string
	}{
		{"verify-full to a server without TLS", []string{"FFB_DB_SSLMODE=verify-full"}, loginPassword(e.names.Broker), "database_unavailable", "tls"},
		{"wrong password", []string{"FFB_DB_PASSWORD=" + wrongPassword}, wrongPassword, "database_unavailable", "password"},
		{"role without LOGIN", []string{"FFB_DB_USER=ffb_edge_nologin", "FFB_DB_PASSWORD=" + nologinPassword}, nologinPassword, "database_unavailable", "login"},
		{"closed port", []string{"FFB_DB_PORT=" + itoa(closed)}, loginPassword(e.names.Broker), "unavailable", "network"},
	}
	bin := buildBootstrap(t, "./cmd/issue")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := lambdart.Start()
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close()
			p, err := rt.Run(context.Background(), bin, append(functionEnv(e, srv, lambdafn.FunctionIssue), tt.env...))
			if err != nil {
				t.Fatal(err)
			}
			rt.Invoke("req-1", e.sign(t, "alice", readEvent(t, "status-api.json")))
			a, err := rt.Wait(20 * time.Second)
			out := p.Stop()
			if err != nil {
				t.Fatalf("%v\noutput:\n%s", err, out)
			}
			var resp struct {
				StatusCode int    `json:"statusCode"`
				Body       string `json:"body"`
			}
			var body struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if a.Error || json.Unmarshal(a.Body, &resp) != nil || json.Unmarshal([]byte(resp.Body), &body) != nil {
				t.Fatalf("answer %s; want an API answer\noutput:\n%s", a.Body, out)
			}
			if want := "(category " + tt.category + ")"; resp.StatusCode != 503 || body.Error.Code != tt.code || !strings.HasSuffix(body.Error.Message, want) {
				t.Errorf("answer %d %s; want 503 with code %s and a message ending %q", resp.StatusCode, resp.Body, tt.code, want)
			}
			var logged bool
			for _, line := range strings.Split(out, "\n") {
				var m struct {
					Msg       string `json:"msg"`
					ErrorCode string `json:"error_code"`
					Category  string `json:"category"`
					Error     struct {
						Category, Cause string
					} `json:"error"`
				}
				if json.Unmarshal([]byte(line), &m) == nil && m.Msg == "request failed" {
					logged = m.ErrorCode == tt.code && m.Category == tt.category && m.Error.Category == tt.category && m.Error.Cause != ""
				}
			}
			if !logged {
				t.Errorf("output has no log line with error_code %s, category %s and a cause:\n%s", tt.code, tt.category, out)
			}
			if strings.Contains(out, tt.secret) || strings.Contains(string(a.Body), tt.secret) {
				t.Errorf("output or answer holds the password:\n%s\n%s", out, a.Body)
			}
		})
	}
}
