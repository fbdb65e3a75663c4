package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ffbroker/ffbroker/cmd/internal/config"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
	"github.com/ffbroker/ffbroker/identity"
	"github.com/ffbroker/ffbroker/internal/localapi"
)

// localAPI is one local-api serving on a real port, and the people who call it.
type localAPI struct {
	f      *fixture
	base   string // http://127.0.0.1:PORT
	server string // the server id proofs are bound to
	people map[string]aws.Config
	stop   func() error
}

// startLocalAPI starts local-api for the fixture's role model on a free port with the
// template's parameters overridden by params. Only moto credentials reach the
// clients: they sign identity proofs with alice's or bob's IAM keys and have no
// database configuration.
func startLocalAPI(t *testing.T, f *fixture, params map[string]string) *localAPI {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	cfg := f.srv.Config(ctx)
	srv, err := localapi.New(ctx, localapi.Options{Template: filepath.Join("..", "..", "template.yaml"), StackName: f.prefix,
		Parameters: params, Getenv: os.Getenv, Env: localAPIEnv(config.ReadLocalAPI(os.Getenv)), AWS: &cfg, Log: &logs, Audit: io.Discard, Functions: localFunctions(),
		PollInterval: 100 * time.Millisecond})
	if err != nil {
		cancel()
		t.Fatalf("localapi.New: %v\n%s", err, logs.String())
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, l) }()
	a := &localAPI{f: f, base: "http://" + l.Addr().String(), server: srv.ServerID(), people: map[string]aws.Config{}}
	var stopped bool
	var stopErr error
	a.stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			stopErr = <-served
		}
		return stopErr
	}
	t.Cleanup(func() {
		if err := a.stop(); err != nil {
			t.Errorf("Serve = %v; want nil after the context ends", err)
		}
		if t.Failed() {
			t.Logf("local-api log:\n%s", logs.String())
		}
	})
	for who, u := range f.users {
		c := f.srv.Config(ctx)
		c.Credentials = credentials.NewStaticCredentialsProvider(u.KeyID, u.Secret, "")
		a.people[who] = c
	}
	return a
}

// call sends method path (optionally under /prod) as who with an identity proof
// bound to the stage-less path, and returns the status and the decoded answer.
func (a *localAPI) call(t *testing.T, who, method, path, body string) (int, map[string]any) {
	t.Helper()
	u, err := url.Parse(a.base + path)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, u.String(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if who != "" {
		proof, err := identity.NewSigner(a.people[who], a.server).Proof(context.Background(),
			identity.Request{Method: method, Path: strings.TrimPrefix(u.EscapedPath(), "/prod"), Query: u.Query(), Body: []byte(body)})
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(identity.Header, proof)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s as %s = %d %q; want a JSON answer", method, path, who, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

// eventually polls cond until it holds, failing t after a generous bound.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting: %s", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// execution describes an execution in the moto account its ARN names.
func (a *localAPI) execution(t *testing.T, arn string) *sfn.DescribeExecutionOutput {
	t.Helper()
	account := strings.Split(arn, ":")[4]
	out, err := sfn.NewFromConfig(a.f.srv.Config(context.Background())).DescribeExecution(context.Background(),
		&sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)}, func(o *sfn.Options) {
			o.APIOptions = append(o.APIOptions, smithyhttp.SetHeaderValue(localapi.MotoAccountHeader, account))
		})
	if err != nil {
		t.Fatalf("DescribeExecution(%s): %v", arn, err)
	}
	return out
}

// rwRequest files a read-write request as alice and waits until the runner has run
// the workflow's wait step (the ledger keeps its task token).
func (a *localAPI) rwRequest(t *testing.T, incident string) (string, string) {
	t.Helper()
	status, out := a.call(t, "alice", "POST", "/access", `{"role":"rw","incident_id":"`+incident+`","hours":1,"reason":"fix one order"}`)
	id, _ := out["request_id"].(string)
	arn, _ := out["execution_arn"].(string)
	if status != http.StatusAccepted || id == "" || !strings.Contains(arn, ":execution:") {
		t.Fatalf("POST /access rw as alice = %d %v; want 202 with a request id and an execution", status, out)
	}
	eventually(t, "the runner runs the wait step of "+id, func() bool { return a.f.request(t, id).taskToken })
	return id, arn
}

// TestLocalAPI runs the on-call and the approver's story over real HTTP through
// local-api against PostgreSQL and moto, with identity proofs signed by two moto IAM
// users: the approval workflow runs in moto, its Lambda steps in local-api.
func TestLocalAPI(t *testing.T) {
	f := setup(t, "lapi")
	alice, bob := f.users["alice"].ARN, f.users["bob"].ARN
	t.Setenv("FFB_APPROVERS", alice+","+bob)
	t.Setenv("FFB_APPROVER_DB_PASSWORD", approverPassword)
	// Clients bring only AWS credentials; the shell's FFB_DB_* are the functions'.
	if _, err := f.super(t).Exec(context.Background(), `UPDATE db_admin.firefighter_setting SET value = 60 WHERE name = 'approval_timeout_seconds'`); err != nil {
		t.Fatal(err)
	}
	goroutines := runtime.NumGoroutine()
	a := startLocalAPI(t, f, nil)

	t.Run("read-only is issued at once", func(t *testing.T) {
		status, out := a.call(t, "alice", "POST", "/access", `{"role":"ro","incident_id":"INC-501","hours":1,"reason":"read the orders"}`)
		if status != http.StatusCreated || out["grant_id"] == nil || out["password"] != nil {
			t.Errorf("POST /access ro = %d %v; want 201 with a grant and no password", status, out)
		}
	})

	t.Run("read-write needs another person", func(t *testing.T) {
		id, arn := a.rwRequest(t, "INC-502")
		// local-api runs the execution on a copy in a moto account of its own; the wait
		// step is told the home state machine's execution of the same name.
		home := strings.Replace(os.Getenv("FFB_STATE_MACHINE_ARN"), ":stateMachine:", ":execution:", 1) + ":" + lambdafn.ExecutionName(id)
		if got := a.f.request(t, id); got.executionARN != home || got.state != "pending" || !strings.HasSuffix(arn, ":"+lambdafn.ExecutionName(id)) {
			t.Errorf("ledger after the wait step = %+v (answer's execution %s); want pending with execution %s", got, arn, home)
		}
		status, out := a.call(t, "alice", "POST", "/approvals/"+id, `{"decision":"approve","comment":"my own"}`)
		if status != http.StatusForbidden {
			t.Errorf("alice approves her own request = %d %v; want 403", status, out)
		}
		status, out = a.call(t, "bob", "POST", "/approvals/"+id, `{"decision":"approve","comment":"checked INC-502"}`)
		if status != http.StatusOK {
			t.Fatalf("bob approves = %d %v; want 200", status, out)
		}
		eventually(t, "the runner runs the issue step of "+id, func() bool {
			_, out := a.call(t, "alice", "GET", "/requests/"+id, "")
			return out["state"] == "issued"
		})
		if got := a.f.request(t, id); got.state != "issued" || got.approver != bob {
			t.Errorf("ledger after the issue step = %+v; want issued, approved by %s", got, bob)
		}
		status, out = a.call(t, "alice", "GET", "/prod/access", "")
		if status != http.StatusOK || !strings.Contains(mustString(out), `"approver":"`+bob+`","expires_at"`) || !strings.Contains(mustString(out), `"incident_id":"INC-502"`) {
			t.Errorf("GET /prod/access = %d %v; want 200 with the rw grant live", status, out)
		}
		if st := a.execution(t, arn).Status; st != sfntypes.ExecutionStatusRunning {
			t.Errorf("execution after the issue = %s; want RUNNING (it waits for the grant's expiry)", st)
		}
	})

	t.Run("denied", func(t *testing.T) {
		id, arn := a.rwRequest(t, "INC-503")
		status, out := a.call(t, "bob", "POST", "/approvals/"+id, `{"decision":"deny","comment":"use read-only"}`)
		if status != http.StatusOK {
			t.Fatalf("bob denies = %d %v; want 200", status, out)
		}
		eventually(t, "the execution of "+id+" fails", func() bool { return a.execution(t, arn).Status != sfntypes.ExecutionStatusRunning })
		if e := a.execution(t, arn); e.Status != sfntypes.ExecutionStatusFailed || aws.ToString(e.Error) != "Denied" {
			t.Errorf("execution after a denial = %s %s; want FAILED Denied", e.Status, aws.ToString(e.Error))
		}
		if got := a.f.request(t, id); got.state != "denied" {
			t.Errorf("ledger after a denial = %+v; want denied", got)
		}
	})

	t.Run("refused at the edge", func(t *testing.T) {
		for _, tc := range []struct {
			name, who, method, path, body string
			status                        int
			code                          string
		}{
			{"unknown route", "alice", "GET", "/nothing", "", http.StatusNotFound, "not_found"},
			{"unknown method", "alice", "PUT", "/access", "", http.StatusNotFound, "not_found"},
			{"unknown route under the stage", "alice", "GET", "/prod/nothing", "", http.StatusNotFound, "not_found"},
			{"missing proof", "", "POST", "/access", `{"role":"ro","incident_id":"INC-504","hours":1,"reason":"x"}`, http.StatusUnauthorized, "unauthenticated"},
			{"missing proof under the stage", "", "GET", "/prod/approvals", "", http.StatusUnauthorized, "unauthenticated"},
			{"bad input", "alice", "POST", "/access", `{"role":"admin","incident_id":"INC-504","hours":1,"reason":"x"}`, http.StatusUnprocessableEntity, "invalid_role"},
			{"over the API's body limit", "", "POST", "/access", strings.Repeat("x", localapi.MaxBodyBytes+1), http.StatusRequestEntityTooLarge, "body_too_large"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, out := a.call(t, tc.who, tc.method, tc.path, tc.body)
				e, _ := out["error"].(map[string]any)
				if status != tc.status || e == nil || e["code"] != tc.code {
					t.Errorf("%s %s = %d %v; want %d with error code %s", tc.method, tc.path, status, out, tc.status, tc.code)
				}
			})
		}
	})

	t.Run("timeout", func(t *testing.T) {
		// A second local-api on the same moto, with a short approval timeout: its
		// executions take new moto accounts too.
		b := startLocalAPI(t, f, map[string]string{"ApprovalTimeoutSeconds": "2"})
		id, arn := b.rwRequest(t, "INC-505")
		eventually(t, "the execution of "+id+" times out", func() bool { return b.execution(t, arn).Status != sfntypes.ExecutionStatusRunning })
		if e := b.execution(t, arn); e.Status != sfntypes.ExecutionStatusFailed || aws.ToString(e.Error) != "Denied" {
			t.Errorf("execution after the approval timeout = %s %s; want FAILED Denied", e.Status, aws.ToString(e.Error))
		}
		if got := f.request(t, id); got.state != "expired" {
			t.Errorf("ledger after the timeout step = %+v; want expired", got)
		}
		if err := b.stop(); err != nil {
			t.Errorf("stop the second local-api: %v", err)
		}
	})

	t.Run("stops cleanly", func(t *testing.T) {
		if err := a.stop(); err != nil {
			t.Fatalf("Serve = %v; want nil after the context ends", err)
		}
		if c, err := net.Dial("tcp", strings.TrimPrefix(a.base, "http://")); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after the stop", a.base)
		}
		http.DefaultClient.CloseIdleConnections()
		// A connection's goroutine ends once it reads the close; give the scheduler a
		// bounded moment under load. Only running frames count, not "created by" lines.
		var stacks, left string
		for i := 0; i < 100; i++ {
			buf := make([]byte, 1<<20)
			stacks, left = string(buf[:runtime.Stack(buf, true)]), ""
			for _, frame := range []string{"internal/localapi.(*runner)", "internal/localapi.(*Server).Serve", "net/http.(*Server).Serve(", "net/http.(*conn).serve("} {
				for _, line := range strings.Split(stacks, "\n") {
					if strings.Contains(line, frame) && !strings.HasPrefix(strings.TrimSpace(line), "created by") {
						left = frame
					}
				}
			}
			if left == "" {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if left != "" {
			t.Errorf("a goroutine in %s is still running after the stop (started with %d goroutines):\n%s", left, goroutines, stacks)
		}
	})
}

// TestLocalAPIRefusesUnknownStates: a definition with a state the runner does not
// follow stops local-api at start with a message naming it.
func TestLocalAPIRefusesUnknownStates(t *testing.T) {
	f := setup(t, "lapibad")
	dir := t.TempDir()
	tmpl, err := os.ReadFile(filepath.Join("..", "..", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	def, err := os.ReadFile(filepath.Join("..", "..", "statemachine", "approval.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	var asl map[string]any
	if err := json.Unmarshal(def, &asl); err != nil {
		t.Fatal(err)
	}
	asl["States"].(map[string]any)["Notify"] = map[string]any{"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
		"Parameters": map[string]any{"TopicArn": "t", "Message": "m"}, "End": true}
	if err := os.MkdirAll(filepath.Join(dir, "statemachine"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "template.yaml"), tmpl, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "statemachine", "approval.asl.json"), []byte(mustString(asl)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := f.srv.Config(context.Background())
	srv, err := localapi.New(context.Background(), localapi.Options{Template: filepath.Join(dir, "template.yaml"), StackName: f.prefix,
		Getenv: os.Getenv, Env: localAPIEnv(config.ReadLocalAPI(os.Getenv)), AWS: &cfg, Log: io.Discard, Audit: io.Discard, Functions: localFunctions()})
	if err == nil {
		srv.Close()
		t.Fatal("localapi.New with an sns:publish task = nil error; want the rewrite to refuse it")
	}
	if !strings.Contains(err.Error(), `state Notify`) || !strings.Contains(err.Error(), "arn:aws:states:::sns:publish") {
		t.Errorf("localapi.New error = %v; want it to name the state and its Task resource", err)
	}
	var ce *configError
	if errors.As(err, &ce) {
		t.Errorf("localapi.New returned a CLI error type %T", err)
	}
}

func mustString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestLocalAPICommand runs `ffbroker local-api`: one line on stdout when it is ready,
// an answering API, and exit 0 when the context ends.
func TestLocalAPICommand(t *testing.T) {
	f := setup(t, "lapicmd")
	t.Setenv("FFB_APPROVER_DB_PASSWORD", approverPassword)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut testenv.Lines
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"local-api", "--listen", "127.0.0.1:0", "--template", filepath.Join("..", "..", "template.yaml"),
			"--stack-name", f.prefix, "--parameter", "ApprovalTimeoutSeconds=120"}, &cli{stdout: &out, stderr: &errOut, getenv: os.Getenv})
	}()
	var line string
	eventually(t, "local-api prints its address", func() bool {
		select {
		case code := <-exit:
			t.Fatalf("ffbroker local-api = exit %d before it was ready\n%s", code, errOut.String())
		default:
		}
		line = out.String()
		return strings.HasSuffix(line, "\n")
	})
	var addr, server string
	if n, err := fmt.Sscanf(line, "local API on http://%s (server id %s", &addr, &server); n != 2 || err != nil ||
		strings.TrimSuffix(server, ")") != "ffbroker-"+f.prefix || strings.Count(line, "\n") != 1 {
		t.Fatalf("stdout = %q; want one line \"local API on http://ADDR (server id ffbroker-%s)\"", line, f.prefix)
	}
	resp, err := http.Get("http://" + addr + "/prod/access")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /prod/access without a proof = %d; want 401", resp.StatusCode)
	}
	for _, want := range []string{"created SNS topic", "created audit log group"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut.String())
		}
	}
	cancel()
	if code := <-exit; code != exitOK {
		t.Errorf("ffbroker local-api after the context ended = exit %d; want 0\n%s", code, errOut.String())
	}
}
