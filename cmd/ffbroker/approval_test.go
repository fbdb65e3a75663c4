package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
	"github.com/jackc/pgx/v5"
)

// TestTwoPersonRule runs the read-write story through the CLI's local mode against
// real PostgreSQL and moto: alice asks, the workflow's wait step keeps its task token
// in the ledger, alice cannot approve herself, bob (on FFB_APPROVERS) approves as the
// approve function, and the issue step issues against the approved request.
func TestTwoPersonRule(t *testing.T) {
	f := setup(t, "two")
	alice, bob := f.users["alice"].ARN, f.users["bob"].ARN

	pending := f.requestRW(t, "INC-77")
	if !strings.HasSuffix(pending.ExecutionARN, ":execution:two-approval:"+lambdafn.ExecutionName(pending.RequestID)) {
		t.Errorf("execution ARN = %q; want the workflow named %s", pending.ExecutionARN, lambdafn.ExecutionName(pending.RequestID))
	}
	if got := f.request(t, pending.RequestID); got.state != broker.StatePending || got.requester != alice || got.taskToken {
		t.Errorf("request ledger after issue --role rw = %+v; want pending, requester %s, no task token yet", got, alice)
	}

	// The workflow's wait step, as moto built its input: the issue handler stores the token.
	await := f.stepPayload(t, pending.ExecutionARN, "await")
	if code, out, errOut := ffbIn(t, await, "invoke", "issue", "--event", "-"); code != exitOK || !strings.Contains(out, `"state": "pending"`) {
		t.Fatalf("invoke issue on the wait step's input = exit %d\n%s\n%s", code, out, errOut)
	}
	if got := f.request(t, pending.RequestID); !got.taskToken || got.executionARN != pending.ExecutionARN {
		t.Fatalf("request ledger after the wait step = %+v; want its task token and execution %s", got, pending.ExecutionARN)
	}

	t.Run("alice cannot approve", func(t *testing.T) {
		f.asApprover(t)
		for _, tc := range []struct {
			name, approvers, want string
		}{
			{"not an approver", bob, "the caller is not on the approvers' list (forbidden)"},
			{"approver, but her own request", alice + "," + bob, "the approver must not be the requester (forbidden)"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Setenv("FFB_APPROVERS", tc.approvers)
				t.Setenv("FFB_AUDIT_QUIET", "")
				code, out, errOut := ffb(t, "approve", pending.RequestID, "--yes")
				if code != exitFailed || !strings.Contains(errOut, tc.want) {
					t.Errorf("alice: ffbroker approve %s = exit %d\n%s\n%s\nwant exit 1 and %q", pending.RequestID, code, out, errOut, tc.want)
				}
				if rec := auditRecord(t, errOut, "request.rejected"); rec["error_code"] != "forbidden" || rec["approver"] != alice {
					t.Errorf("audit record of the refusal = %v; want request.rejected, forbidden, approver %s", rec, alice)
				}
				if got := f.request(t, pending.RequestID); got.state != broker.StatePending || got.decision != "" {
					t.Errorf("ledger after alice's self-approval = %+v; want still pending, no decision", got)
				}
			})
		}
	})

	t.Run("the broker's login cannot approve", func(t *testing.T) {
		f.as(t, "bob")
		code, _, errOut := ffb(t, "approve", pending.RequestID, "--yes")
		if code != exitFailed {
			t.Errorf("bob on the broker's login: ffbroker approve = exit %d (%s); want 1", code, errOut)
		}
		if got := f.request(t, pending.RequestID); got.state != broker.StatePending || got.decision != "" {
			t.Errorf("ledger after an approval through the broker's login = %+v; want still pending", got)
		}
	})

	t.Run("nothing is issued before the approval", func(t *testing.T) {
		code, _, errOut := ffbIn(t, `{"action":"issue","request_id":"`+pending.RequestID+`"}`, "invoke", "issue", "--event", "-")
		if code != exitFailed || !strings.Contains(errOut, `"errorType":"ForbiddenError"`) {
			t.Errorf("invoke issue of a pending request = exit %d\n%s\nwant ForbiddenError", code, errOut)
		}
	})

	t.Run("bob approves", func(t *testing.T) {
		f.as(t, "bob")
		f.asApprover(t)
		code, out, errOut := ffb(t, "approve", pending.RequestID, "--yes", "--json", "--comment", "matches INC-77")
		var got broker.DecideOutput
		if code != exitOK || json.Unmarshal([]byte(out), &got) != nil {
			t.Fatalf("bob: ffbroker approve %s = exit %d\n%s\n%s", pending.RequestID, code, out, errOut)
		}
		want := broker.DecideOutput{RequestID: pending.RequestID, Decision: "approve", State: broker.StateApproved, WorkflowResumed: true}
		if got != want {
			t.Errorf("approve answer = %+v; want %+v", got, want)
		}
		led := f.request(t, pending.RequestID)
		if led.state != broker.StateApproved || led.decision != "approve" || led.approver != bob || led.recordedBy != f.names.Approver || led.comment != "matches INC-77" {
			t.Errorf("ledger after bob's approval = %+v; want approved by %s, recorded by %s", led, bob, f.names.Approver)
		}
	})

	t.Run("the approver's login cannot issue", func(t *testing.T) {
		f.asApprover(t)
		code, _, errOut := ffbIn(t, `{"action":"issue","request_id":"`+pending.RequestID+`"}`, "invoke", "issue", "--event", "-")
		if code != exitFailed {
			t.Errorf("invoke issue on the approver's login = exit %d (%s); want 1", code, errOut)
		}
	})

	// The workflow went on to its issue step: its input is the request id only.
	issue := f.stepPayload(t, pending.ExecutionARN, "issue")
	var step map[string]any
	if err := json.Unmarshal([]byte(issue), &step); err != nil || len(step) != 2 || step["request_id"] != pending.RequestID {
		t.Fatalf("issue step input = %s; want only action and request_id", issue)
	}
	code, out, errOut := ffbIn(t, issue, "invoke", "issue", "--event", "-")
	var grant broker.IssueOutput
	if code != exitOK || json.Unmarshal([]byte(out), &grant) != nil || grant.Role != "two_firefighter_rw" || grant.GrantID != pending.RequestID {
		t.Fatalf("invoke issue on the issue step's input = exit %d\n%s\n%s\nwant a two_firefighter_rw grant with the request's id", code, out, errOut)
	}
	if got := f.request(t, pending.RequestID); got.state != broker.StateIssued {
		t.Errorf("request after the issue step = %+v; want issued", got)
	}
	var approver, requester string
	if err := f.super(t).QueryRow(context.Background(), `SELECT approver, requester FROM db_admin.firefighter_grant WHERE grant_id = $1`,
		pending.RequestID).Scan(&approver, &requester); err != nil || approver != bob || requester != alice {
		t.Errorf("grant ledger = approver %q requester %q (%v); want approver %s, requester %s", approver, requester, err, bob, alice)
	}
	code, out, errOut = ffb(t, "status")
	if code != exitOK || !strings.Contains(out, "requester "+alice+"  approver "+bob) {
		t.Errorf("ffbroker status = exit %d\n%s\n%s\nwant the rw grant with requester alice and approver bob", code, out, errOut)
	}

	t.Run("a second issue step reuses the grant", func(t *testing.T) {
		code, out, errOut := ffbIn(t, issue, "invoke", "issue", "--event", "-")
		if code != exitOK || !strings.Contains(out, `"grant_id": "`+pending.RequestID+`"`) {
			t.Errorf("a retried issue step = exit %d\n%s\n%s; want the same grant", code, out, errOut)
		}
	})

	t.Run("bob denies", func(t *testing.T) {
		f.inRegion(t, "us-west-2")
		p := f.requestRW(t, "INC-78")
		if code, out, errOut := ffbIn(t, f.stepPayload(t, p.ExecutionARN, "await"), "invoke", "issue", "--event", "-"); code != exitOK {
			t.Fatalf("the wait step = exit %d\n%s\n%s", code, out, errOut)
		}
		f.as(t, "bob")
		f.asApprover(t)
		code, out, errOut := ffb(t, "deny", p.RequestID, "--comment", "not needed")
		if code != exitOK || !strings.Contains(out, "deny: request "+p.RequestID+" is denied") {
			t.Fatalf("bob: ffbroker deny = exit %d\n%s\n%s", code, out, errOut)
		}
		if got := f.request(t, p.RequestID); got.state != broker.StateDenied || got.decision != "deny" || got.approver != bob {
			t.Errorf("ledger after the denial = %+v; want denied by %s", got, bob)
		}
		if got := f.executionStatus(t, p.ExecutionARN); got != sfntypes.ExecutionStatusFailed {
			t.Errorf("the denied request's workflow = %s; want FAILED", got)
		}
		if code, _, errOut := ffb(t, "approve", p.RequestID, "--yes"); code != exitFailed || !strings.Contains(errOut, "(conflict)") {
			t.Errorf("approving a denied request = exit %d (%s); want 1, conflict", code, errOut)
		}
	})
}

// TestDecisionBeforeTheWaitStep approves a request whose workflow has not yet stored
// its task token: the decision is recorded and the CLI says that no workflow took it.
func TestDecisionBeforeTheWaitStep(t *testing.T) {
	f := setup(t, "early")
	f.inRegion(t, "ap-southeast-2") // its own region: this test starts a workflow
	p := f.requestRW(t, "INC-79")
	f.as(t, "bob")
	f.asApprover(t)
	code, out, errOut := ffb(t, "approve", p.RequestID, "--yes")
	if code != exitOK || !strings.Contains(out, "is approved") || !strings.Contains(out, "the workflow takes it as soon as its wait step runs") {
		t.Errorf("bob: ffbroker approve before the wait step = exit %d\n%s\n%s\nwant approved, with the workflow not resumed", code, out, errOut)
	}
	if got := f.request(t, p.RequestID); got.state != broker.StateApproved || got.approver != f.users["bob"].ARN || got.taskToken {
		t.Errorf("ledger after an approval before the wait step = %+v; want approved by bob, no task token", got)
	}
}

// requestRW runs ffbroker issue --role rw as the current user and returns the answer.
func (f *fixture) requestRW(t *testing.T, incident string) broker.PendingAnswer {
	t.Helper()
	code, out, errOut := ffb(t, "issue", "--json", "--role", "rw", "--incident", incident, "--reason", "fix one order")
	var p broker.PendingAnswer
	if code != exitOK || json.Unmarshal([]byte(out), &p) != nil || p.RequestID == "" || p.Status != "pending_approval" {
		t.Fatalf("ffbroker issue --role rw --incident %s = exit %d\n%s\n%s\nwant a pending request", incident, code, out, errOut)
	}
	return p
}

// ledgerRow is a request and its decision as the database holds them.
type ledgerRow struct {
	state, requester, executionARN          string
	taskToken                               bool
	decision, approver, comment, recordedBy string
}

// request reads request id's row of the request and approval ledgers as the superuser.
func (f *fixture) request(t *testing.T, id string) ledgerRow {
	t.Helper()
	var r ledgerRow
	var execARN, decision, approver, comment, recordedBy *string
	err := f.super(t).QueryRow(context.Background(), `SELECT r.state, r.requester, r.task_token IS NOT NULL, r.execution_arn,
		a.decision, a.approver, a.comment, a.recorded_by
		FROM db_admin.firefighter_request r LEFT JOIN db_admin.firefighter_approval a USING (request_id) WHERE r.request_id = $1`, id).
		Scan(&r.state, &r.requester, &r.taskToken, &execARN, &decision, &approver, &comment, &recordedBy)
	if err != nil {
		t.Fatalf("read request %s: %v", id, err)
	}
	deref := func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	}
	r.executionARN, r.decision, r.approver, r.comment, r.recordedBy = deref(execARN), deref(decision), deref(approver), deref(comment), deref(recordedBy)
	return r
}

// super is a superuser connection to the fixture's database, closed with t.
func (f *fixture) super(t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := shared.Cluster.ConnectSuper(context.Background(), f.names.DB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// executionStatus waits for the execution to end and returns its status.
func (f *fixture) executionStatus(t *testing.T, arn string) sfntypes.ExecutionStatus {
	t.Helper()
	c := sfn.NewFromConfig(f.srv.Config(context.Background()), regionOf(arn))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		d, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatalf("DescribeExecution(%s): %v", arn, err)
		}
		if d.Status != sfntypes.ExecutionStatusRunning {
			return d.Status
		}
		select {
		case <-ctx.Done():
			return d.Status
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// auditRecord returns the last audit record of event in the CLI's stderr.
func auditRecord(t *testing.T, stderr, event string) map[string]any {
	t.Helper()
	var found map[string]any
	for _, l := range strings.Split(stderr, "\n") {
		var r map[string]any
		if json.Unmarshal([]byte(l), &r) == nil && r["event"] == event {
			found = r
		}
	}
	if found == nil {
		t.Errorf("no %s audit record in:\n%s", event, stderr)
	}
	return found
}
