package broker_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/postgres"
)

// approver returns a broker as the approve function builds it: the approvals ledger
// through the approver's own login, and nothing else of the database.
func (f *fixture) approver(t testing.TB) *broker.Broker {
	t.Helper()
	store := postgres.NewApprovalStore(shared.Connector(t, f.Approver, f.approverPassword, f.DB))
	t.Cleanup(func() { store.Close(context.Background()) })
	b, err := broker.New(broker.Config{Policy: broker.DefaultPolicy(f.vars.Prefix), Approvals: store, Audit: audit.NewJSONSink(f.audit),
		Proofs: newProofs(t)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// submitted records a pending rw request for requester (key) through the broker's
// login, as Submit does before it starts the workflow, with no proof of the requester.
func (f *fixture) submitted(t testing.TB, incident, requester, key string) string {
	t.Helper()
	return f.submit(t, broker.NewAccessRequest{ID: uuid.NewString(), Role: f.FirefighterRW,
		IncidentID: incident, Hours: 1, Reason: "stuck orders", Requester: requester, RequesterKey: key})
}

// asked records who's rw request for incident with who's real identity proof, made at
// now, as Submit does for a verified caller.
func (f *fixture) asked(t testing.TB, who, incident string, now time.Time) string {
	t.Helper()
	body, _ := json.Marshal(broker.Request{Role: "rw", IncidentID: incident, Hours: 1, Reason: "stuck orders"})
	c := caller(t, who, "POST", "/access", body, now)
	return f.submit(t, broker.NewAccessRequest{ID: uuid.NewString(), Role: f.FirefighterRW, IncidentID: incident, Hours: 1,
		Reason: "stuck orders", Requester: c.ARN, RequesterKey: c.Key, Proof: c.Proof, Body: c.Body})
}

func (f *fixture) submit(t testing.TB, r broker.NewAccessRequest) string {
	t.Helper()
	store := postgres.NewStore(f.connector(t))
	defer store.Close(context.Background())
	sub, err := store.SubmitRequest(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return sub.ID
}

// decision is who's decision on request id, with who's real identity proof.
func decision(t testing.TB, who, id, dec, comment string) broker.DecideInput {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"decision": dec, "comment": comment})
	return broker.DecideInput{AccessRequestID: id, Body: body, Caller: caller(t, who, "POST", "/approvals/"+id, body, time.Now()),
		RequestID: "api-1", Source: audit.SourceAPI}
}

func TestDecide(t *testing.T) {
	f := newFixture(t, "decide")
	ctx := context.Background()
	ab := f.approver(t)
	req := f.asked(t, "alice", "INC-D1", time.Now())
	aliceListed := func(in broker.DecideInput) broker.DecideInput { in.Caller.CanApprove = true; return in }
	noCaller := func(in broker.DecideInput) broker.DecideInput { in.Caller = broker.Caller{}; return in }
	withID := func(id string) func(broker.DecideInput) broker.DecideInput {
		return func(in broker.DecideInput) broker.DecideInput { in.AccessRequestID = id; return in }
	}
	keep := func(in broker.DecideInput) broker.DecideInput { return in }

	tests := []struct {
		name          string
		who, dec, cmt string
		edit          func(broker.DecideInput) broker.DecideInput
		want          broker.Code
		newState      string
	}{
		{"no caller", "bob", "approve", "", noCaller, broker.CodeUnauthenticated, ""},
		{"caller not on the approvers' list", "mallory", "approve", "", keep, broker.CodeForbidden, ""},
		{"the requester, were she on the list", "alice", "approve", "", aliceListed, broker.CodeForbidden, ""},
		{"unknown request", "bob", "approve", "", withID("00000000-0000-4000-8000-00000000dead"), broker.CodeNotFound, ""},
		{"substring of a request id", "bob", "approve", "", withID(req[:8]), broker.CodeInvalidRequest, ""},
		{"odd decision", "bob", "yes", "", keep, broker.CodeInvalidRequest, ""},
		{"empty decision", "bob", "", "", keep, broker.CodeInvalidRequest, ""},
		{"comment with a newline", "bob", "approve", "ok\nforged line", keep, broker.CodeInvalidReason, ""},
		{"another person on the list approves", "bob", "approve", "checked", keep, "", broker.StateApproved},
		{"a later denial", "bob", "deny", "", keep, broker.CodeConflict, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.audit.Records(t))
			out, err := ab.Decide(ctx, tc.edit(decision(t, tc.who, req, tc.dec, tc.cmt)))
			if got := broker.ErrorCode(err); got != tc.want {
				t.Fatalf("Decide(%s by %s) error code = %q (%v); want %q", tc.dec, tc.who, got, err, tc.want)
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
				recs[0]["approver"] != bob || recs[0]["requester"] != alice {
				t.Errorf("audit records = %v; want one access.approved naming bob and alice", recs)
			}
		})
	}
	got, err := ab.AccessRequestStatus(ctx, broker.Caller{ARN: bob, Key: bob, CanApprove: true}, req)
	if err != nil || got.State != broker.StateApproved || got.Approver != bob || got.ApproverKey != bob || got.Comment != "checked" {
		t.Errorf("request after the decisions = %+v, %v; want approved by bob with his comment", got, err)
	}
}

// The approve function checks the requester's own proof from the ledger: a request the
// broker's login filed in someone else's name, or whose proof does not match it, cannot
// be approved; one confirmed too long ago asks the requester to confirm it again.
func TestDecideChecksTheRequester(t *testing.T) {
	f := newFixture(t, "decreq")
	ctx := context.Background()
	ab := f.approver(t)
	body, _ := json.Marshal(broker.Request{Role: "rw", IncidentID: "INC-OTHER", Hours: 1})
	other := caller(t, "alice", "POST", "/access", body, time.Now())
	tests := []struct {
		name string
		id   string
		want broker.Code
	}{
		{"filed by the broker's login with no proof", f.submitted(t, "INC-F1", alice, alice), broker.CodeForbidden},
		{"a real proof of alice's for another incident", f.submit(t, broker.NewAccessRequest{ID: uuid.NewString(), Role: f.FirefighterRW,
			IncidentID: "INC-F2", Hours: 1, Requester: alice, RequesterKey: alice, Proof: other.Proof, Body: other.Body}), broker.CodeForbidden},
		{"a real proof of mallory's in alice's name", f.submit(t, broker.NewAccessRequest{ID: uuid.NewString(), Role: f.FirefighterRW,
			IncidentID: "INC-OTHER", Hours: 1, Requester: alice, RequesterKey: alice, Proof: caller(t, "mallory", "POST", "/access", body, time.Now()).Proof,
			Body: body}), broker.CodeForbidden},
		{"confirmed twenty minutes ago", f.asked(t, "alice", "INC-OLD", time.Now().Add(-20*time.Minute)), broker.CodeConflict},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ab.Decide(ctx, decision(t, "bob", tc.id, "approve", ""))
			if got := broker.ErrorCode(err); got != tc.want {
				t.Errorf("Decide(approve) error code = %q (%v); want %s", got, err, tc.want)
			}
			if r, _ := ab.AccessRequestStatus(ctx, broker.Caller{ARN: bob, Key: bob, CanApprove: true}, tc.id); r.State != broker.StatePending {
				t.Errorf("request state after the refusal = %s; want pending", r.State)
			}
		})
	}
	// Asking again confirms the request with a fresh proof: now it can be approved.
	if again := f.asked(t, "alice", "INC-OLD", time.Now()); again != tests[3].id {
		t.Fatalf("asking again = %s; want the pending request %s", again, tests[3].id)
	}
	if _, err := ab.Decide(ctx, decision(t, "bob", tests[3].id, "approve", "")); err != nil {
		t.Errorf("Decide after the requester confirmed again: %v", err)
	}
}

func TestIssueApproved(t *testing.T) {
	f := newFixture(t, "isap")
	ctx := context.Background()
	b := f.broker(t, f.deps(t))
	ab := f.approver(t)
	pending := f.asked(t, "alice", "INC-P", time.Now())
	denied := f.asked(t, "alice", "INC-D", time.Now())
	if _, err := ab.Decide(ctx, decision(t, "bob", denied, "deny", "")); err != nil {
		t.Fatal(err)
	}
	// The approver's login alone: an approval it wrote without bob's proof.
	forged := f.asked(t, "alice", "INC-F", time.Now())
	approvals := postgres.NewApprovalStore(shared.Connector(t, f.Approver, f.approverPassword, f.DB))
	defer approvals.Close(ctx)
	if _, err := approvals.Decide(ctx, broker.Decision{RequestID: forged, Decision: "approve", Approver: bob, ApproverKey: bob}); err != nil {
		t.Fatal(err)
	}
	// Both logins: a request nobody made (no requester proof), approved with bob's real proof.
	const ghost = "arn:aws:iam::123456789012:user/ghost"
	nobodys := f.submitted(t, "INC-G", ghost, ghost)
	bobs := decision(t, "bob", nobodys, "approve", "")
	if _, err := approvals.Decide(ctx, broker.Decision{RequestID: nobodys, Decision: "approve", Approver: bobs.Caller.ARN,
		ApproverKey: bobs.Caller.Key, Proof: bobs.Caller.Proof, Body: bobs.Caller.Body}); err != nil {
		t.Fatal(err)
	}
	dbBefore, smBefore := f.dbState(t), f.secretsState(t)
	for _, tc := range []struct {
		name, id string
		want     broker.Code
	}{
		{"pending request", pending, broker.CodeForbidden},
		{"approved by the approver's login without the approver's proof", forged, broker.CodeForbidden},
		{"approved with the approver's proof, filed by the broker's login without a requester's proof", nobodys, broker.CodeForbidden},
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

	if _, err := ab.Decide(ctx, decision(t, "bob", pending, "approve", "")); err != nil {
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

// Submit asks the requesters' list: a caller it does not name asks for nothing, and one
// whose key is not a person's (CanAsk without CanAskApproval: a listed role's session)
// asks for read-only only. Nothing is filed for a refused request.
func TestSubmitAsksTheRequestersList(t *testing.T) {
	f := newFixture(t, "askers")
	ctx := context.Background()
	b := f.broker(t, f.deps(t))
	const role = "arn:aws:sts::123456789012:assumed-role/BuildServer/ci"
	const roleKey = "arn:aws:iam::123456789012:role/buildserver"
	before, secrets := f.dbState(t), f.secretsState(t)
	for _, tc := range []struct {
		name, body string
		caller     broker.Caller
	}{
		{"ro, not on the list", `{"role":"ro","incident_id":"INC-A1"}`, broker.Caller{ARN: alice, Key: alice}},
		{"rw, not on the list", `{"role":"rw","incident_id":"INC-A1"}`, broker.Caller{ARN: alice, Key: alice}},
		{"rw, a listed role's session", `{"role":"rw","incident_id":"INC-A1"}`, broker.Caller{ARN: role, Key: roleKey, CanAsk: true}},
	} {
		n := len(f.audit.Records(t))
		_, err := b.Submit(ctx, broker.SubmitInput{Body: []byte(tc.body), Caller: tc.caller, RequestID: "req-ask", Source: audit.SourceAPI})
		if broker.ErrorCode(err) != broker.CodeForbidden || !strings.Contains(err.Error(), "FFB_REQUESTERS") {
			t.Errorf("Submit(%s) = %v; want forbidden naming FFB_REQUESTERS", tc.name, err)
		}
		if recs := f.audit.Records(t)[n:]; len(recs) != 1 || recs[0]["event"] != "request.rejected" || recs[0]["error_code"] != "forbidden" {
			t.Errorf("Submit(%s) audit records = %v; want one request.rejected, forbidden", tc.name, recs)
		}
	}
	if got := f.dbState(t); got != before {
		t.Errorf("database changed by refused requests: %s -> %s", before, got)
	}
	if got := f.secretsState(t); got != secrets {
		t.Errorf("Secrets Manager changed by refused requests: %s -> %s", secrets, got)
	}
	out, err := b.Submit(ctx, broker.SubmitInput{Body: []byte(`{"role":"ro","incident_id":"INC-A2"}`),
		Caller: broker.Caller{ARN: role, Key: roleKey, CanAsk: true}, RequestID: "req-ask", Source: audit.SourceAPI})
	if err != nil || out.Grant == nil {
		t.Errorf("Submit(ro, a listed role's session) = %+v, %v; want a grant", out, err)
	}
}
