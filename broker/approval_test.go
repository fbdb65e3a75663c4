package broker_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/google/uuid"
)

// approver returns a broker as the approve function builds it: the approvals ledger
// through the approver's own login, and nothing else of the database.
func (f *fixture) approver(t testing.TB) *broker.Broker {
	t.Helper()
	store := broker.NewApprovalStore(shared.Connector(t, f.Approver, f.approverPassword, f.DB))
	t.Cleanup(func() { store.Close(context.Background()) })
	b, err := broker.New(broker.Config{Policy: broker.DefaultPolicy(f.vars.Prefix), Approvals: store, Audit: audit.NewJSONSink(f.audit)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// submitted records a pending rw request for requester (key) through the broker's
// login, as Submit does before it starts the workflow.
func (f *fixture) submitted(t testing.TB, incident, requester, key string) string {
	t.Helper()
	store := broker.NewPGStore(f.connector(t))
	defer store.Close(context.Background())
	sub, err := store.SubmitRequest(context.Background(), broker.NewAccessRequest{ID: uuid.NewString(), Role: f.FirefighterRW,
		IncidentID: incident, Hours: 1, Reason: "stuck orders", Requester: requester, RequesterKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return sub.ID
}

func TestDecide(t *testing.T) {
	f := newFixture(t, "decide")
	ctx := context.Background()
	ab := f.approver(t)
	const engineer = "arn:aws:iam::123456789012:role/engineer"
	aliceSession := broker.Caller{ARN: "arn:aws:sts::123456789012:assumed-role/Engineer/alice", Key: engineer, CanApprove: true}
	aliceOtherSession := broker.Caller{ARN: "arn:aws:sts::123456789012:assumed-role/Engineer/alice-2", Key: engineer, CanApprove: true}
	bobApprover := broker.Caller{ARN: bob, Key: bob, CanApprove: true}
	malloryNotListed := broker.Caller{ARN: mallory, Key: mallory}
	req := f.submitted(t, "INC-D1", aliceSession.ARN, aliceSession.Key)

	tests := []struct {
		name     string
		caller   broker.Caller
		id, dec  string
		comment  string
		want     broker.Code
		newState string
	}{
		{"no caller", broker.Caller{}, req, "approve", "", broker.CodeUnauthenticated, ""},
		{"caller not on the approvers' list", malloryNotListed, req, "approve", "", broker.CodeForbidden, ""},
		{"the requester's second session of the same role", aliceOtherSession, req, "approve", "", broker.CodeForbidden, ""},
		{"unknown request", bobApprover, "00000000-0000-4000-8000-00000000dead", "approve", "", broker.CodeNotFound, ""},
		{"substring of a request id", bobApprover, req[:8], "approve", "", broker.CodeInvalidRequest, ""},
		{"odd decision", bobApprover, req, "yes", "", broker.CodeInvalidRequest, ""},
		{"comment with a newline", bobApprover, req, "approve", "ok\nforged line", broker.CodeInvalidReason, ""},
		{"empty decision", bobApprover, req, "", "", broker.CodeInvalidRequest, ""},
		{"another person on the list approves", bobApprover, req, "approve", "checked", "", broker.StateApproved},
		{"a later denial", bobApprover, req, "deny", "", broker.CodeConflict, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.audit.Records(t))
			body, _ := json.Marshal(map[string]string{"decision": tc.dec, "comment": tc.comment})
			out, err := ab.Decide(ctx, broker.DecideInput{AccessRequestID: tc.id, Body: body, Caller: tc.caller,
				RequestID: "api-1", Source: audit.SourceAPI})
			if got := broker.ErrorCode(err); got != tc.want {
				t.Fatalf("Decide(%s by %s) error code = %q (%v); want %q", tc.dec, tc.caller.ARN, got, err, tc.want)
			}
			recs := f.audit.Records(t)[before:]
			if tc.want != "" {
				if len(recs) != 1 || recs[0]["event"] != "request.rejected" {
					t.Errorf("audit records = %v; want exactly one request.rejected (nothing was decided)", recs)
				}
				return
			}
			if out.State != tc.newState || out.WorkflowResumed {
				t.Errorf("Decide = %+v; want state %s, no workflow resumed (none waits here)", out, tc.newState)
			}
			if len(recs) != 1 || recs[0]["event"] != "access.approved" || recs[0]["outcome"] != "success" ||
				recs[0]["approver"] != bob || recs[0]["requester"] != aliceSession.ARN {
				t.Errorf("audit records = %v; want one access.approved naming bob and alice", recs)
			}
		})
	}
	got, err := ab.AccessRequestStatus(ctx, bobApprover, req)
	if err != nil || got.State != broker.StateApproved || got.Approver != bob || got.ApproverKey != bob || got.Comment != "checked" {
		t.Errorf("request after the decisions = %+v, %v; want approved by bob with his comment", got, err)
	}
}

func TestIssueApproved(t *testing.T) {
	f := newFixture(t, "isap")
	ctx := context.Background()
	b := f.broker(t, f.deps(t))
	ab := f.approver(t)
	bobApprover := broker.Caller{ARN: bob, Key: bob, CanApprove: true}

	pending := f.submitted(t, "INC-P", alice, alice)
	denied := f.submitted(t, "INC-D", alice, alice)
	if _, err := ab.Decide(ctx, broker.DecideInput{AccessRequestID: denied, Body: []byte(`{"decision":"deny"}`), Caller: bobApprover}); err != nil {
		t.Fatal(err)
	}
	dbBefore, smBefore := f.dbState(t), f.secretsState(t)
	for _, tc := range []struct {
		name, id string
		want     broker.Code
	}{
		{"pending request", pending, broker.CodeForbidden},
		{"denied request", denied, broker.CodeForbidden},
		{"unknown request", "00000000-0000-4000-8000-00000000dead", broker.CodeNotFound},
		{"not a request id", "INC-P", broker.CodeInvalidRequest},
	} {
		if _, err := b.IssueApproved(ctx, broker.IssueApprovedInput{AccessRequestID: tc.id, Source: audit.SourceStepFunctions}); broker.ErrorCode(err) != tc.want {
			t.Errorf("IssueApproved(%s) error = %v; want code %s", tc.name, err, tc.want)
		}
	}
	if got := f.dbState(t); got != dbBefore {
		t.Errorf("database changed by refused issues: %s -> %s", dbBefore, got)
	}
	if got := f.secretsState(t); got != smBefore {
		t.Errorf("Secrets Manager changed by refused issues: %s -> %s", smBefore, got)
	}

	if _, err := ab.Decide(ctx, broker.DecideInput{AccessRequestID: pending, Body: []byte(`{"decision":"approve"}`), Caller: bobApprover}); err != nil {
		t.Fatal(err)
	}
	first, err := b.IssueApproved(ctx, broker.IssueApprovedInput{AccessRequestID: pending, Source: audit.SourceStepFunctions})
	if err != nil || first.GrantID != pending {
		t.Fatalf("IssueApproved(approved) = %+v, %v; want grant %s", first, err, pending)
	}
	v, _, _ := f.current(t, f.FirefighterRW)
	again, err := b.IssueApproved(ctx, broker.IssueApprovedInput{AccessRequestID: pending, Source: audit.SourceStepFunctions})
	if err != nil || again.GrantID != first.GrantID {
		t.Errorf("IssueApproved retry = %+v, %v; want the same grant", again, err)
	}
	if v2, _, _ := f.current(t, f.FirefighterRW); v2.Password.Reveal() != v.Password.Reveal() {
		t.Error("a retry of the issue step rotated the password")
	}
	var approver string
	if err := f.super(t).QueryRow(ctx, `SELECT approver FROM db_admin.firefighter_grant WHERE grant_id = $1`, first.GrantID).Scan(&approver); err != nil || approver != bob {
		t.Errorf("grant's approver = %q, %v; want %s, from the approval ledger", approver, err, bob)
	}
}

// Revoke authority: the requester or approver of a live grant on the role, or an
// approver; anyone else is refused and nothing changes.
func TestRevokeAuthority(t *testing.T) {
	f := newFixture(t, "revauth")
	ctx := context.Background()
	b := f.broker(t, f.deps(t))
	in := broker.IssueInput{Request: broker.Request{Role: "rw", IncidentID: "INC-A"}, Requester: alice, RequesterKey: alice, Source: audit.SourceAPI}
	for _, tc := range []struct {
		name   string
		caller broker.Caller
		want   broker.Code
	}{
		{"someone with no part in the grant", broker.Caller{ARN: mallory, Key: mallory}, broker.CodeForbidden},
		{"the requester", broker.Caller{ARN: alice, Key: alice}, ""},
		{"the grant's approver", broker.Caller{ARN: bob, Key: bob}, ""},
		{"an approver with no part in the grant", broker.Caller{ARN: "arn:aws:iam::123456789012:user/carol", Key: "carol", CanApprove: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.issue(t, b, in); err != nil {
				t.Fatal(err)
			}
			before := f.dbState(t)
			_, err := b.Revoke(ctx, broker.RevokeInput{Role: "rw", IncidentID: "INC-A", Caller: tc.caller, Source: audit.SourceAPI})
			if got := broker.ErrorCode(err); got != tc.want {
				t.Fatalf("Revoke by %s error code = %q (%v); want %q", tc.caller.ARN, got, err, tc.want)
			}
			if tc.want != "" {
				if after := f.dbState(t); after != before {
					t.Errorf("a refused revoke changed the database: %s -> %s", before, after)
				}
				if _, err := b.Revoke(ctx, broker.RevokeInput{Role: "rw", IncidentID: "INC-A", Caller: broker.Caller{ARN: alice, Key: alice}}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestPending(t *testing.T) {
	f := newFixture(t, "pend")
	ctx := context.Background()
	ab := f.approver(t)
	mine := f.submitted(t, "INC-M", bob, bob)
	theirs := f.submitted(t, "INC-T", alice, alice)
	out, err := ab.Pending(ctx, broker.Caller{ARN: bob, Key: bob, CanApprove: true}, "api-1")
	if err != nil || len(out.Requests) != 1 || out.Requests[0].ID != theirs || out.Requests[0].Requester != alice {
		t.Errorf("Pending for bob = %+v, %v; want only alice's request %s (not his own %s)", out, err, theirs, mine)
	}
	out, err = ab.Pending(ctx, broker.Caller{ARN: mallory, Key: mallory}, "api-2")
	if err != nil || len(out.Requests) != 0 {
		t.Errorf("Pending for someone not on the approvers' list = %+v, %v; want none", out, err)
	}
}
