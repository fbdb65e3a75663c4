package lambdafn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
	"github.com/ffbroker/ffbroker/internal/awstest"
)

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
		"FFB_TARGET_SSLMODE", "FFB_STATE_MACHINE_ARN", "FFB_SERVER_ID", "FFB_ACCOUNTS", "FFB_APPROVERS", "FFB_ACTIVITY_LOG_GROUP", "FFB_ACTIVITY_DB_USER"} {
		env = append(env, k+"="+getenv(k))
	}
	return env
}

var runtimeCases = []struct {
	fn, pkg, event string
	kind           lambdafn.Function
	signer         string // who signs an API event's identity proof
	want           func(a invocation) error
	// auditRequestID, when set, is the request id of an audit record the function
	// writes: API Gateway's for an API event, else the one the Runtime API gave.
	auditRequestID string
}{
	{"issue", "./cmd/issue", "status-api.json", lambdafn.FunctionIssue, "alice", wantStatus(200), ""},
	{"expire", "./cmd/expire", "expire-schedule.json", lambdafn.FunctionExpire, "", func(a invocation) error {
		var out map[string]json.RawMessage
		if err := wantAnswer(a); err != nil {
			return err
		}
		if json.Unmarshal(a.Body, &out) != nil || out["expired"] == nil {
			return fmt.Errorf("answer %s; want a sweep result", a.Body)
		}
		return nil
	}, ""},
	{"approve", "./cmd/approve", "approve-api.json", lambdafn.FunctionApprove, "bob", wantStatus(404), "req-approve"},
	{"activity", "./cmd/activity", "invalid/wrong-shape.json", lambdafn.FunctionActivity, "", wantFunctionError("InvalidInputError"), "req-1"},
}

// functionError is the document Lambda answers a function error with (the handler's
// error, which Step Functions matches on errorType).
type functionError struct {
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
}

// wantAnswer requires a successful invocation: 200, no function error.
func wantAnswer(a invocation) error {
	var fe functionError
	if a.Status != http.StatusOK || a.FunctionError != "" || (json.Unmarshal(a.Body, &fe) == nil && fe.ErrorType != "") {
		return fmt.Errorf("invocation %d (X-Amz-Function-Error %q) %s; want a 200 answer", a.Status, a.FunctionError, a.Body)
	}
	return nil
}

// wantFunctionError requires the handler's error: the invocation succeeds (200) and
// answers the error document with the given errorType and a message.
func wantFunctionError(errorType string) func(invocation) error {
	return func(a invocation) error {
		var fe functionError
		if a.Status != http.StatusOK || json.Unmarshal(a.Body, &fe) != nil || fe.ErrorType != errorType || fe.ErrorMessage == "" {
			return fmt.Errorf("invocation %d %s; want 200 with errorType %s and an errorMessage", a.Status, a.Body, errorType)
		}
		return nil
	}
}

func wantStatus(code int) func(invocation) error {
	return func(a invocation) error {
		var resp struct {
			StatusCode int `json:"statusCode"`
		}
		if err := wantAnswer(a); err != nil {
			return err
		}
		if json.Unmarshal(a.Body, &resp) != nil || resp.StatusCode != code {
			return fmt.Errorf("answer %s; want an API answer with status %d", a.Body, code)
		}
		return nil
	}
}

// The shipped artefact itself answers through the Lambda Runtime API: each built
// bootstrap is run under the AWS Lambda Runtime Interface Emulator, as the Lambda
// container image runs it, and invoked with a sample event through Lambda's Invoke API.
func TestBootstrapAnswersThroughRuntimeAPI(t *testing.T) {
	e := sharedEnv(t)
	srv := shared.Moto(t)
	for _, tc := range runtimeCases {
		t.Run(tc.fn, func(t *testing.T) {
			bin := buildBootstrap(t, tc.pkg)
			ev := readEvent(t, tc.event)
			if tc.signer != "" {
				ev = e.sign(t, tc.signer, ev)
			}
			r := startRIE(t, bin, functionEnv(e, srv, tc.kind))
			a, err := r.invoke(context.Background(), "req-1", ev)
			logs, internal := r.stop()
			if err != nil {
				t.Fatalf("invoke: %v\nfunction log:\n%s\nemulator log:\n%s", err, logs, internal)
			}
			if err := tc.want(a); err != nil {
				t.Errorf("%s: %v\nfunction log:\n%s\nemulator log:\n%s", tc.fn, err, logs, internal)
			}
			// The emulator reports the invocation by the id it was given; the function
			// logs only JSON lines, its audit records among them.
			if !strings.Contains(logs, "END RequestId: req-1\n") {
				t.Errorf("function log has no END line for req-1:\n%s", logs)
			}
			lines, err := functionLogLines(logs)
			if err != nil {
				t.Errorf("%v\nfunction log:\n%s", err, logs)
			}
			if tc.auditRequestID != "" && !slices.ContainsFunc(lines, func(m map[string]any) bool {
				return m["schema"] == "ffbroker.audit/v1" && m["request_id"] == tc.auditRequestID
			}) {
				t.Errorf("function log has no audit record for request %s:\n%s", tc.auditRequestID, logs)
			}
		})
	}
	// The emulator reports a failed init as Lambda's service does: the invocation
	// fails (502 from the emulator, Runtime.ExitError), and the function's log stream
	// holds the message that names the cause.
	initFailures := []struct {
		name, want string
		env        []string
	}{
		{"invalid configuration fails the cold start naming the variable", "ffbroker: configuration: FFB_DB_PORT", []string{"FFB_DB_PORT=70000"}},
		{"a missing AWS profile fails the init", "ffbroker: init: aws config", []string{"AWS_PROFILE=ffbroker-missing-profile"}},
	}
	for _, tt := range initFailures {
		t.Run(tt.name, func(t *testing.T) {
			r := startRIE(t, buildBootstrap(t, "./cmd/issue"), append(functionEnv(e, srv, lambdafn.FunctionIssue), tt.env...))
			a, err := r.invoke(context.Background(), "req-1", e.signed(t, "alice", "status-api.json"))
			logs, internal := r.stop()
			if err != nil {
				t.Fatalf("invoke: %v\nfunction log:\n%s\nemulator log:\n%s", err, logs, internal)
			}
			if a.Status != http.StatusBadGateway || !strings.Contains(logs, tt.want) || !strings.Contains(internal, "Runtime.ExitError") {
				t.Errorf("invocation %d %s; want 502, %q in the function log and Runtime.ExitError in the emulator's\nfunction log:\n%s\nemulator log:\n%s",
					a.Status, a.Body, tt.want, logs, internal)
			}
		})
	}
}

// functionLogLines parses the function's lines of a log stream, all of which must be
// JSON objects; the emulator's START, END and REPORT lines are left out.
func functionLogLines(logs string) ([]map[string]any, error) {
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(logs, "\n"), "\n") {
		if strings.HasPrefix(line, "START RequestId: ") || strings.HasPrefix(line, "END RequestId: ") || strings.HasPrefix(line, "REPORT RequestId: ") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return out, fmt.Errorf("function log line %q is not a JSON object: %v", line, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// BenchmarkColdStart measures each bootstrap from its first invocation through the
// Runtime Interface Emulator (process start, dependencies built as in Lambda's init
// phase, the handler) to the answer, and reports the binary's size.
func BenchmarkColdStart(b *testing.B) {
	coldStart(b, func(tc string) string { return tc })
}

// BenchmarkColdStartFloor is the baseline: the smallest aws-lambda-go function, built
// and started the same way, answering the same event.
func BenchmarkColdStartFloor(b *testing.B) {
	coldStart(b, func(string) string { return "./cmd/internal/lambdafn/testdata/floor" })
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
				b.StopTimer()
				r := startRIE(b, bin, functionEnv(e, srv, tc.kind))
				b.StartTimer()
				a, err := r.invoke(context.Background(), "req", event)
				b.StopTimer()
				logs, internal := r.stop()
				if err != nil || a.Status != http.StatusOK {
					b.Fatalf("invoke: %v %d %s\nfunction log:\n%s\nemulator log:\n%s", err, a.Status, a.Body, logs, internal)
				}
				b.ReportMetric(float64(a.Took.Microseconds())/1000, "ms-to-first-answer")
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
			r := startRIE(t, bin, append(functionEnv(e, srv, lambdafn.FunctionIssue), tt.env...))
			a, err := r.invoke(context.Background(), "req-1", e.signed(t, "alice", "status-api.json"))
			out, internal := r.stop()
			if err != nil {
				t.Fatalf("invoke: %v\nfunction log:\n%s\nemulator log:\n%s", err, out, internal)
			}
			if err := wantAnswer(a); err != nil {
				t.Fatalf("%v\nfunction log:\n%s", err, out)
			}
			var resp struct {
				StatusCode int    `json:"statusCode"`
				Body       string `json:"body"`
			}
			var body struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if json.Unmarshal(a.Body, &resp) != nil || json.Unmarshal([]byte(resp.Body), &body) != nil {
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
			if strings.Contains(out, tt.secret) || strings.Contains(internal, tt.secret) || strings.Contains(string(a.Body), tt.secret) {
				t.Errorf("function log, emulator log or answer holds the password:\n%s\n%s\n%s", out, internal, a.Body)
			}
		})
	}
}
