package lambdafn_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/activity"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
	"github.com/ffbroker/ffbroker/identity"
)

func handlers(e *env) map[string]lambdafn.Handler {
	return map[string]lambdafn.Handler{
		"issue":    lambdafn.NewIssueHandler(e.issue).Handle,
		"expire":   lambdafn.NewExpireHandler(e.expire).Handle,
		"approve":  lambdafn.NewApproveHandler(e.approve).Handle,
		"activity": lambdafn.NewActivityHandler(e.activity).Handle,
	}
}

// apiAnswer returns the status and decoded body of an API answer.
func apiAnswer(t *testing.T, out any) (int, map[string]any) {
	t.Helper()
	resp, ok := out.(events.APIGatewayProxyResponse)
	if !ok {
		t.Fatalf("answer is %T; want an API Gateway proxy response", out)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("answer body %q: %v", resp.Body, err)
	}
	return resp.StatusCode, body
}

// Every sample event decodes into the aws-lambda-go type its function expects and runs
// through its handler against real PostgreSQL and moto with the expected answer. They
// run in the order of an incident: issue ro, status, issue rw (workflow), the workflow's
// issue step, revoke ro, the expiry step, the scheduled sweep.
func TestSampleEvents(t *testing.T) {
	e := sharedEnv(t)
	h := handlers(e)
	ctx := context.Background()

	t.Run("events decode into their aws-lambda-go types", func(t *testing.T) {
		for _, name := range []string{"issue-api-ro.json", "issue-api-rw.json", "status-api.json", "revoke-api.json", "approve-api.json"} {
			var req events.APIGatewayProxyRequest
			if err := json.Unmarshal(readEvent(t, name), &req); err != nil || req.HTTPMethod == "" || req.RequestContext.RequestID == "" {
				t.Errorf("%s as APIGatewayProxyRequest: %v (method %q)", name, err, req.HTTPMethod)
			}
		}
		for _, name := range []string{"expire-schedule.json", "activity-schedule.json"} {
			var ev events.CloudWatchEvent
			if err := json.Unmarshal(readEvent(t, name), &ev); err != nil || ev.DetailType != "Scheduled Event" {
				t.Errorf("%s as CloudWatchEvent: %v (detail-type %q)", name, err, ev.DetailType)
			}
		}
		var in lambdafn.RequestStep
		if err := json.Unmarshal(readEvent(t, "issue-sfn.json"), &in); err != nil || in.Action != "issue" || in.RequestID == "" {
			t.Errorf("issue-sfn.json as RequestStep: %v", err)
		}
		var ex lambdafn.ExpireStep
		if err := json.Unmarshal(readEvent(t, "expire-sfn.json"), &ex); err != nil || ex.Action != "expire" {
			t.Errorf("expire-sfn.json as ExpireStep: %v", err)
		}
	})

	var roSecret string
	t.Run("issue-api-ro.json", func(t *testing.T) {
		out, err := h["issue"](ctx, e.signed(t, "alice", "issue-api-ro.json"))
		if err != nil {
			t.Fatal(err)
		}
		status, body := apiAnswer(t, out)
		if status != 201 || body["grant_id"] == nil || body["role"] != e.names.FirefighterRO || body["secret_arn"] == nil {
			t.Fatalf("POST /access ro = %d %v; want 201 with grant_id, role, secret_arn", status, body)
		}
		roSecret = fmt.Sprint(body["secret_arn"])
		v, _, err := e.issue.Secrets.Current(ctx, e.names.FirefighterRO)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.(events.APIGatewayProxyResponse).Body, v.Password.Reveal()) {
			t.Error("the API answer contains the password")
		}
	})
	t.Run("status-api.json", func(t *testing.T) {
		out, err := h["issue"](ctx, e.signed(t, "alice", "status-api.json"))
		if err != nil {
			t.Fatal(err)
		}
		status, body := apiAnswer(t, out)
		roles, _ := body["roles"].([]any)
		if status != 200 || len(roles) != 2 {
			t.Fatalf("GET /access = %d %v; want 200 with two roles", status, body)
		}
		ro := roles[0].(map[string]any)
		if ro["role"] != e.names.FirefighterRO || ro["valid"] != true || len(ro["grants"].([]any)) != 1 {
			t.Errorf("status of ro = %v; want valid with one grant", ro)
		}
	})
	var rwRequest string
	t.Run("issue-api-rw.json records one request and starts its workflow", func(t *testing.T) {
		var ids, arns []string
		for i := 0; i < 2; i++ {
			out, err := h["issue"](ctx, e.signed(t, "alice", "issue-api-rw.json"))
			if err != nil {
				t.Fatal(err)
			}
			status, body := apiAnswer(t, out)
			if status != 202 || body["status"] != "pending_approval" || body["request_id"] == nil {
				t.Fatalf("POST /access rw = %d %v; want 202 pending_approval with a request id", status, body)
			}
			ids, arns = append(ids, fmt.Sprint(body["request_id"])), append(arns, fmt.Sprint(body["execution_arn"]))
		}
		rwRequest = ids[0]
		if ids[0] != ids[1] || arns[0] != arns[1] || !strings.HasSuffix(arns[0], ":execution:ffbroker-approval-"+e.names.Broker+":"+lambdafn.ExecutionName(ids[0])) {
			t.Errorf("request ids %q, execution ARNs %q; want one request, one execution named after it", ids, arns)
		}
	})
	t.Run("issue-sfn.json on a request nobody approved", func(t *testing.T) {
		raw := []byte(strings.Replace(string(readEvent(t, "issue-sfn.json")), "3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b", rwRequest, 1))
		_, err := h["issue"](ctx, raw)
		var forbidden *lambdafn.ForbiddenError
		if !errors.As(err, &forbidden) {
			t.Fatalf("issue step for a pending request = %v; want ForbiddenError", err)
		}
		if _, err := h["issue"](ctx, readEvent(t, "issue-sfn.json")); err == nil {
			t.Error("issue step for a request id the ledger does not hold succeeded")
		}
	})
	t.Run("revoke-api.json", func(t *testing.T) {
		out, err := h["expire"](ctx, e.signed(t, "alice", "revoke-api.json"))
		if err != nil {
			t.Fatal(err)
		}
		status, body := apiAnswer(t, out)
		if status != 200 || body["all_grants_ended"] != true || body["grants_closed"] != 1.0 || body["secret_arn"] != roSecret {
			t.Errorf("DELETE /access/ro = %d %v; want 200, one grant closed, all grants ended, the ro secret", status, body)
		}
	})
	t.Run("expire-sfn.json", func(t *testing.T) {
		out, err := h["expire"](ctx, readEvent(t, "expire-sfn.json"))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := out.(broker.SweepOutput); !ok {
			t.Fatalf("expire step = %#v; want a sweep answer", out)
		}
	})
	t.Run("expire-schedule.json", func(t *testing.T) {
		out, err := h["expire"](ctx, readEvent(t, "expire-schedule.json"))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := out.(broker.SweepOutput); !ok {
			t.Fatalf("scheduled sweep = %#v; want a sweep answer", out)
		}
	})
	t.Run("activity-schedule.json", func(t *testing.T) {
		out, err := h["activity"](ctx, readEvent(t, "activity-schedule.json"))
		if err != nil {
			t.Fatal(err)
		}
		rep, ok := out.(activity.Report)
		if !ok || !rep.DryRun || rep.Logs == nil || rep.Logs.Group != "/aws/rds/cluster/test/postgresql" {
			t.Fatalf("activity run = %#v; want a dry-run report that read the cluster's log group", out)
		}
	})
	t.Run("approve-api.json for a request the ledger does not hold", func(t *testing.T) {
		out, err := h["approve"](ctx, e.signed(t, "bob", "approve-api.json"))
		if err != nil {
			t.Fatal(err)
		}
		if status, body := apiAnswer(t, out); status != 404 {
			t.Errorf("POST /approvals/{unknown request} = %d %v; want 404", status, body)
		}
	})
}

// Every file in events/invalid gets its typed error and changes nothing.
func TestInvalidEvents(t *testing.T) {
	e := sharedEnv(t)
	h := handlers(e)
	ctx := context.Background()
	tests := []struct {
		file, fn string
		status   int    // for API events
		code     string // error code in the answer, or the Go error type for other shapes
	}{
		{"issue-api-bad-role.json", "issue", 422, "invalid_role"},
		{"issue-api-hours-3.json", "issue", 422, "invalid_hours"},
		{"issue-api-malformed.json", "issue", 400, "invalid_json"},
		{"issue-api-injection.json", "issue", 422, "invalid_incident"},
		{"issue-api-requester-in-body.json", "issue", 400, "invalid_request"},
		{"issue-api-unauthenticated.json", "issue", 401, "unauthenticated"},
		{"issue-api-oversize.json", "issue", 413, "body_too_large"},
		{"revoke-api-bad-role.json", "expire", 422, "invalid_role"},
		{"approve-api-bad-decision.json", "approve", 400, "invalid_request"},
		{"approve-api-task-token.json", "approve", 400, "invalid_request"},
		{"issue-sfn-unknown-field.json", "issue", 0, "*lambdafn.InvalidInputError"},
		{"issue-sfn-forged-approver.json", "issue", 0, "*lambdafn.InvalidInputError"},
		{"wrong-shape.json", "issue", 0, "*lambdafn.InvalidInputError"},
		{"wrong-shape.json", "expire", 0, "*lambdafn.InvalidInputError"},
		{"wrong-shape.json", "approve", 0, "*lambdafn.InvalidInputError"},
		{"wrong-shape.json", "activity", 0, "*lambdafn.InvalidInputError"},
		{"schedule-to-issue.json", "issue", 0, "*lambdafn.InvalidInputError"},
	}
	files, _ := os.ReadDir("../../../events/invalid")
	covered := map[string]bool{"approve-api-self.json": true} // TestTwoPersonRule
	for _, tc := range tests {
		covered[tc.file] = true
	}
	for _, f := range files {
		if !covered[f.Name()] {
			t.Errorf("events/invalid/%s has no case in this test", f.Name())
		}
	}
	dbBefore, smBefore := e.dbState(t), e.secretsState(t)
	for _, tc := range tests {
		t.Run(tc.fn+"/"+tc.file, func(t *testing.T) {
			before := len(e.audit.Records(t))
			raw := readEvent(t, "invalid/"+tc.file)
			if tc.status != 0 && tc.file != "issue-api-unauthenticated.json" {
				raw = e.sign(t, "alice", raw) // a real caller: the refusal is about the input
			}
			out, err := h[tc.fn](ctx, raw)
			if tc.status != 0 {
				if err != nil {
					t.Fatalf("API event answered with a Go error %v; want an HTTP answer", err)
				}
				status, body := apiAnswer(t, out)
				e, _ := body["error"].(map[string]any)
				if status != tc.status || e["code"] != tc.code || e["message"] == "" {
					t.Errorf("answer = %d %v; want %d with code %s", status, body, tc.status, tc.code)
				}
			} else {
				var invalid *lambdafn.InvalidInputError
				if !errors.As(err, &invalid) || fmt.Sprintf("%T", err) != tc.code {
					t.Errorf("error = %T %v; want %s", err, err, tc.code)
				}
			}
			recs := e.audit.Records(t)[before:]
			if len(recs) != 1 || recs[0]["event"] != "request.rejected" {
				t.Errorf("audit records = %v; want one request.rejected", recs)
			}
		})
	}
	if got := e.dbState(t); got != dbBefore {
		t.Errorf("database changed: %s -> %s", dbBefore, got)
	}
	if got := e.secretsState(t); got != smBefore {
		t.Errorf("Secrets Manager changed: %s -> %s", smBefore, got)
	}
}

// Every API route refuses a call whose identity proof is missing, stale, for another
// deployment or another request, or at odds with what API Gateway saw: 401, a
// request.rejected record, nothing changed.
func TestIdentityProofRefused(t *testing.T) {
	e := sharedEnv(t)
	h := handlers(e)
	ctx := context.Background()
	ro := readEvent(t, "issue-api-ro.json")
	signedBy := func(who, server string, raw json.RawMessage) json.RawMessage {
		out, err := lambdafn.SignEvent(ctx, identity.NewSigner(e.people[who], server), raw)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	stale := identity.NewSigner(e.people["alice"], serverID)
	stale.Now = func() time.Time { return time.Now().Add(-10 * time.Minute) }
	staleEvent, err := lambdafn.SignEvent(ctx, stale, ro)
	if err != nil {
		t.Fatal(err)
	}
	otherBody := withBody(t, e.signed(t, "alice", "issue-api-ro.json"), `{"role":"ro","incident_id":"INC-9999"}`)
	var forgedArn map[string]any
	_ = json.Unmarshal(e.signed(t, "mallory", "issue-api-ro.json"), &forgedArn)
	forgedArn["requestContext"].(map[string]any)["identity"].(map[string]any)["userArn"] = aliceARN
	forged, _ := json.Marshal(forgedArn)
	var bare map[string]any
	_ = json.Unmarshal(ro, &bare)
	bare["requestContext"].(map[string]any)["identity"].(map[string]any)["userArn"] = aliceARN
	typedCaller, _ := json.Marshal(bare)

	tests := []struct {
		name, fn string
		event    json.RawMessage
	}{
		{"no proof", "issue", ro},
		{"no proof, a caller typed into requestContext", "issue", typedCaller},
		{"no proof on status", "issue", readEvent(t, "status-api.json")},
		{"no proof on revoke", "expire", readEvent(t, "revoke-api.json")},
		{"no proof on approve", "approve", readEvent(t, "approve-api.json")},
		{"proof for another deployment", "issue", signedBy("alice", "ffbroker-other", ro)},
		{"proof for another body", "issue", otherBody},
		{"proof older than five minutes", "issue", staleEvent},
		{"proof at odds with API Gateway's caller", "issue", forged},
		{"proof for another route", "approve", withRoute(t, e.signed(t, "bob", "status-api.json"), "/approvals", "GET")},
	}
	dbBefore, smBefore := e.dbState(t), e.secretsState(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.audit.Records(t))
			out, err := h[tc.fn](ctx, tc.event)
			if err != nil {
				t.Fatal(err)
			}
			status, body := apiAnswer(t, out)
			if code := body["error"].(map[string]any)["code"]; status != 401 || code != "unauthenticated" {
				t.Errorf("answer = %d %v; want 401 unauthenticated", status, body)
			}
			recs := e.audit.Records(t)[before:]
			if len(recs) != 1 || recs[0]["event"] != "request.rejected" || recs[0]["error_code"] != "unauthenticated" || recs[0]["requester"] != nil {
				t.Errorf("audit records = %v; want one request.rejected naming no requester", recs)
			}
		})
	}
	if got := e.dbState(t); got != dbBefore {
		t.Errorf("database changed: %s -> %s", dbBefore, got)
	}
	if got := e.secretsState(t); got != smBefore {
		t.Errorf("Secrets Manager changed: %s -> %s", smBefore, got)
	}
}

// withRoute moves a signed event to another route, keeping its proof.
func withRoute(t *testing.T, raw json.RawMessage, path, method string) json.RawMessage {
	t.Helper()
	var req events.APIGatewayProxyRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	req.Path, req.Resource, req.HTTPMethod = path, path, method
	out, _ := json.Marshal(req)
	return out
}
