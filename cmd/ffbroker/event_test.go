package main

import (
	"context"
	"encoding/json"
	"github.com/ffbroker/ffbroker/cmd/internal/config"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
	"github.com/ffbroker/ffbroker/identity"
)

// TestEventSign checks that ffbroker event sign writes an API event whose identity
// proof the issue function accepts, verified through moto's STS, for the person who
// signed it, and for nothing else.
func TestEventSign(t *testing.T) {
	f := setup(t, "evt")
	alice, bob := f.users["alice"].ARN, f.users["bob"].ARN
	h := f.issueHandler(t)

	sign := func(t *testing.T, file string) string {
		t.Helper()
		code, out, errOut := ffb(t, "event", "sign", file)
		if code != exitOK {
			t.Fatalf("ffbroker event sign %s = exit %d\n%s\n%s", file, code, out, errOut)
		}
		return out
	}

	signed := sign(t, "../../events/status-api.json")
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal([]byte(signed), &ev); err != nil || ev.Headers[identity.Header] == "" {
		t.Fatalf("event sign printed %q (%v); want the event with header %s", signed, err, identity.Header)
	}
	if strings.Contains(signed, f.users["alice"].Secret) {
		t.Fatal("the signed event holds alice's secret access key")
	}

	for _, tc := range []struct {
		name   string
		user   string
		file   string
		edit   func(string) string
		status int
		want   string // in the answer's body
	}{
		{"status as alice", "alice", "../../events/status-api.json", nil, http.StatusOK, `"roles"`},
		{"ro issue as alice", "alice", "../../events/issue-api-ro.json", nil, http.StatusCreated, `"role":"evt_firefighter_ro"`},
		{"another body than the signed one", "alice", "../../events/issue-api-ro.json",
			func(s string) string { return strings.Replace(s, `\"hours\": 1`, `\"hours\": 2`, 1) }, http.StatusUnauthorized, `"code":"unauthenticated"`},
		{"another path than the signed one", "alice", "../../events/status-api.json",
			func(s string) string { return strings.Replace(s, `"path":"/access"`, `"path":"/access/"`, 1) }, http.StatusUnauthorized, `"code":"unauthenticated"`},
		{"the proof taken out", "alice", "../../events/status-api.json",
			func(s string) string { return strings.Replace(s, identity.Header, "X-Not-The-Proof", -1) }, http.StatusUnauthorized, "carries no identity proof"},
		{"API Gateway names another caller", "alice", "../../events/status-api.json",
			func(s string) string { return strings.Replace(s, `"userArn":null`, `"userArn":"`+bob+`"`, 1) }, http.StatusUnauthorized, "names another caller"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.as(t, tc.user)
			s := sign(t, tc.file)
			if tc.edit != nil {
				edited := tc.edit(s)
				if edited == s {
					t.Fatalf("the edit changed nothing in %s", s)
				}
				s = edited
			}
			resp := handle(t, h, s)
			if resp.StatusCode != tc.status || !strings.Contains(resp.Body, tc.want) {
				t.Errorf("issue handler on the signed %s = %d %s; want %d with %s", tc.file, resp.StatusCode, resp.Body, tc.status, tc.want)
			}
		})
	}

	var requester string
	if err := f.super(t).QueryRow(context.Background(), `SELECT requester FROM db_admin.firefighter_grant WHERE role = 'evt_firefighter_ro'`).
		Scan(&requester); err != nil || requester != alice {
		t.Errorf("the grant's requester = %q (%v); want %s, who signed the event", requester, err, alice)
	}

	t.Run("signed for another deployment", func(t *testing.T) {
		t.Setenv("FFB_SERVER_ID", "ffbroker-other")
		s := sign(t, "../../events/status-api.json")
		if resp := handle(t, h, s); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a proof for ffbroker-other at ffbroker-evt = %d %s; want 401", resp.StatusCode, resp.Body)
		}
	})

	for _, tc := range []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stderr string
	}{
		{"no file", []string{"event", "sign"}, nil, exitUsage, "usage: ffbroker event sign"},
		{"unknown subcommand", []string{"event", "verify", "x.json"}, nil, exitUsage, "usage: ffbroker event sign"},
		{"missing file", []string{"event", "sign", "no-such.json"}, nil, exitUsage, "read the event"},
		{"not JSON", []string{"event", "sign", "../../README.md"}, nil, exitUsage, "not JSON"},
		{"without FFB_SERVER_ID", []string{"event", "sign", "../../events/status-api.json"}, map[string]string{"FFB_SERVER_ID": ""}, exitConfig, "FFB_SERVER_ID"},
		{"bad configuration", []string{"event", "sign", "../../events/status-api.json"}, map[string]string{"FFB_DB_PORT": "x"}, exitConfig, "FFB_DB_PORT"},
		{"without AWS credentials", []string{"event", "sign", "../../events/status-api.json"},
			map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, exitFailed, "sign the identity proof with your AWS credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, out, errOut := ffb(t, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.stderr) || out != "" {
				t.Errorf("ffbroker %s = exit %d\nstdout: %s\nstderr: %s\nwant exit %d, nothing on stdout, %q on stderr",
					strings.Join(tc.args, " "), code, out, errOut, tc.code, tc.stderr)
			}
		})
	}

	t.Run("a workflow step is not an API event: unchanged", func(t *testing.T) {
		raw, err := os.ReadFile("../../events/issue-sfn.json")
		if err != nil {
			t.Fatal(err)
		}
		var want, got any
		_ = json.Unmarshal(raw, &want)
		if err := json.Unmarshal([]byte(sign(t, "../../events/issue-sfn.json")), &got); err != nil || !jsonEqual(got, want) {
			t.Errorf("event sign of a workflow step = %v (%v); want it unchanged: %v", got, err, want)
		}
	})
}

// TestInvokeSignsAPIEvents runs ffbroker invoke on the sample API events: each gets a
// fresh proof for the shell's IAM user, and the functions act for that user only.
func TestInvokeSignsAPIEvents(t *testing.T) {
	f := setup(t, "inv")
	f.inRegion(t, "eu-west-1") // its own region: this test starts a workflow
	alice, bob := f.users["alice"].ARN, f.users["bob"].ARN

	resp := invoke(t, "issue", "../../events/issue-api-ro.json", "")
	if resp.StatusCode != http.StatusCreated || !strings.Contains(resp.Body, `"role":"inv_firefighter_ro"`) {
		t.Fatalf("invoke issue --event issue-api-ro.json = %d %s; want 201 with the ro grant", resp.StatusCode, resp.Body)
	}
	code, out, _ := ffb(t, "status")
	if code != exitOK || !strings.Contains(out, "requester "+alice) {
		t.Errorf("status after invoke = %s; want the grant with requester %s", out, alice)
	}

	resp = invoke(t, "issue", "../../events/issue-api-rw.json", "")
	var pending broker.PendingAnswer
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal([]byte(resp.Body), &pending) != nil || pending.RequestID == "" {
		t.Fatalf("invoke issue --event issue-api-rw.json = %d %s; want 202 with a request id", resp.StatusCode, resp.Body)
	}
	approveEvent := func(t *testing.T) string {
		raw, err := os.ReadFile("../../events/approve-api.json")
		if err != nil {
			t.Fatal(err)
		}
		return strings.ReplaceAll(string(raw), "3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b", pending.RequestID)
	}

	t.Run("alice cannot approve her own request", func(t *testing.T) {
		f.asApprover(t)
		t.Setenv("FFB_APPROVERS", alice+","+bob)
		if resp := invoke(t, "approve", "-", approveEvent(t)); resp.StatusCode != http.StatusForbidden ||
			!strings.Contains(resp.Body, "the approver must not be the requester") {
			t.Errorf("alice: invoke approve on her own request = %d %s; want 403", resp.StatusCode, resp.Body)
		}
	})
	t.Run("bob approves", func(t *testing.T) {
		f.as(t, "bob")
		f.asApprover(t)
		resp := invoke(t, "approve", "-", approveEvent(t))
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, `"state":"approved"`) {
			t.Errorf("bob: invoke approve = %d %s; want 200, approved", resp.StatusCode, resp.Body)
		}
		if got := f.request(t, pending.RequestID); got.approver != bob || got.comment != "matches INC-1234" {
			t.Errorf("ledger after bob's approval through the API event = %+v; want approver %s", got, bob)
		}
	})
}

// issueHandler is the issue function as it starts in Lambda: configuration from the
// environment, checked, with the function's own AWS credentials (not the caller's).
func (f *fixture) issueHandler(t *testing.T) *lambdafn.IssueHandler {
	t.Helper()
	cfg, err := config.Load(os.Getenv)
	if err == nil {
		err = cfg.Check(lambdafn.FunctionIssue)
	}
	if err != nil {
		t.Fatal(err)
	}
	d, err := lambdafn.BuildWith(lambdafn.FunctionIssue, cfg, f.srv.Config(context.Background()), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close(context.Background()) })
	return lambdafn.NewIssueHandler(d)
}

// handle runs h on an API event and returns its answer.
func handle(t *testing.T, h *lambdafn.IssueHandler, event string) events.APIGatewayProxyResponse {
	t.Helper()
	out, err := h.Handle(context.Background(), json.RawMessage(event))
	resp, ok := out.(events.APIGatewayProxyResponse)
	if err != nil || !ok {
		t.Fatalf("issue handler = %v, %v; want an API answer", out, err)
	}
	return resp
}

// invoke runs ffbroker invoke FUNCTION --event file (stdin when file is -) and returns
// the API answer it printed.
func invoke(t *testing.T, fn, file, stdin string) events.APIGatewayProxyResponse {
	t.Helper()
	code, out, errOut := ffbIn(t, stdin, "invoke", fn, "--event", file)
	var resp events.APIGatewayProxyResponse
	if code != exitOK || json.Unmarshal([]byte(out), &resp) != nil {
		t.Fatalf("ffbroker invoke %s --event %s = exit %d\n%s\n%s", fn, file, code, out, errOut)
	}
	return resp
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
