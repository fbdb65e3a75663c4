package broker_test

// Red team 3 (issues 10 and 11). Each test fails while its attack works; the comment
// gives the severity and a proposed fix.

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/postgres"
)

// Red team 3, attack 4 (medium: the second person approves something other than what
// they reviewed). A decision names only the request id; what it approves is whatever
// the row says when the decision lands. While a request is pending, the requester
// "asking again" (the documented way to refresh the proof) rewrites its hours and
// reason (submit_firefighter_request and submit_firefighter_extension update both),
// and no new approval_needed notice goes out (claimed once per request). Alice asks
// for rw for 1 hour "to read stuck orders"; bob reads that in the notification or in
// GET /approvals; alice asks again for 2 hours "bulk update of orders"; bob's
// approval, typed against what he read, issues a 2-hour grant for the new reason.
// Fix: a re-ask may refresh the proof and ARN only when role, incident, hours and
// reason are unchanged (otherwise 409, or a new request that the approvers are told
// of); or the decision body carries a digest of the reviewed (role, incident, hours,
// reason, kind) that decide_firefighter_request compares with the row.
func TestRedTeam3ApprovalBindsWhatTheApproverReviewed(t *testing.T) {
	f := newFixture(t, "rt3_review")
	ctx := context.Background()
	b := f.broker(t, f.deps(t))
	ab := f.approver(t)
	const incident = "INC-RV1"
	id := f.asked(t, "alice", incident, time.Now()) // rw, 1 hour, "stuck orders"
	listed, err := ab.Pending(ctx, broker.Caller{ARN: bob, Key: bob, CanApprove: true}, "api-list")
	if err != nil || len(listed.Requests) != 1 || listed.Requests[0].ID != id {
		t.Fatalf("Pending for bob = %+v, %v; want alice's request %s", listed, err, id)
	}
	reviewed := listed.Requests[0]

	// Alice asks again, for more and for something else, with a real proof of hers.
	body, _ := json.Marshal(broker.Request{Role: "rw", IncidentID: incident, Hours: 2, Reason: "bulk update of orders"})
	c := caller(t, "alice", "POST", "/access", body, time.Now())
	store := postgres.NewStore(f.connector(t))
	defer store.Close(ctx)
	sub, err := store.SubmitRequest(ctx, broker.NewAccessRequest{ID: uuid.NewString(), Role: f.FirefighterRW, IncidentID: incident,
		Hours: 2, Reason: "bulk update of orders", Requester: c.ARN, RequesterKey: c.Key, Proof: c.Proof, Body: c.Body})
	if err != nil {
		return // refused: a pending request keeps what the approvers were shown
	}

	// Bob approves the request he reviewed, by its id.
	if _, err := ab.Decide(ctx, decision(t, "bob", sub.ID, "approve", "ok: "+reviewed.Reason)); err != nil {
		return // refused: the request changed since it was reviewed
	}
	out, err := b.IssueApproved(ctx, broker.IssueApprovedInput{AccessRequestID: sub.ID, Source: audit.SourceStepFunctions})
	if err != nil {
		return
	}
	got, err := ab.AccessRequestStatus(ctx, broker.Caller{ARN: bob, Key: bob, CanApprove: true}, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	var validity time.Duration
	if err := f.super(t).QueryRow(ctx, `SELECT extract(epoch FROM expires_at - issued_at)::bigint * interval '1 second' FROM db_admin.firefighter_grant WHERE grant_id = $1`,
		out.GrantID).Scan(&validity); err != nil {
		t.Fatal(err)
	}
	if sub.ID == id && (validity > time.Duration(reviewed.Hours)*time.Hour || got.Reason != reviewed.Reason) {
		t.Errorf("bob approved request %s as reviewed (%d h, %q); the rw grant issued on his approval lasts %v for reason %q",
			id, reviewed.Hours, reviewed.Reason, validity, got.Reason)
	}
}
