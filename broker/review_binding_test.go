package broker_test

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

// What bob approves is what he reviewed: while alice's request (rw, 1 hour, "stuck
// orders") waits, alice asking again for 2 hours and another reason, with a real proof
// of hers, is refused (conflict) instead of rewriting the pending request, so bob's
// approval by id issues exactly what GET /approvals showed him.
func TestApprovalBindsWhatTheApproverReviewed(t *testing.T) {
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
	_, err = store.SubmitRequest(ctx, broker.NewAccessRequest{ID: uuid.NewString(), Role: f.FirefighterRW, IncidentID: incident,
		Hours: 2, Reason: "bulk update of orders", Requester: c.ARN, RequesterKey: c.Key, Proof: c.Proof, Body: c.Body})
	if broker.ErrorCode(err) != broker.CodeConflict {
		t.Fatalf("alice asks again with other hours and reason = %v; want conflict (the pending request keeps what bob reviewed)", err)
	}

	// Bob approves the request he reviewed, by its id: the grant is what he read.
	if _, err := ab.Decide(ctx, decision(t, "bob", id, "approve", "ok: "+reviewed.Reason)); err != nil {
		t.Fatalf("bob approves %s: %v", id, err)
	}
	out, err := b.IssueApproved(ctx, broker.IssueApprovedInput{AccessRequestID: id, Source: audit.SourceStepFunctions})
	if err != nil {
		t.Fatalf("IssueApproved(%s): %v", id, err)
	}
	got, err := ab.AccessRequestStatus(ctx, broker.Caller{ARN: bob, Key: bob, CanApprove: true}, id)
	if err != nil {
		t.Fatal(err)
	}
	var validity time.Duration
	if err := f.super(t).QueryRow(ctx, `SELECT extract(epoch FROM expires_at - issued_at)::bigint * interval '1 second' FROM db_admin.firefighter_grant WHERE grant_id = $1`,
		out.GrantID).Scan(&validity); err != nil {
		t.Fatal(err)
	}
	if validity != time.Duration(reviewed.Hours)*time.Hour || got.Reason != reviewed.Reason {
		t.Errorf("bob approved request %s as reviewed (%d h, %q); the rw grant issued on his approval lasts %v for reason %q",
			id, reviewed.Hours, reviewed.Reason, validity, got.Reason)
	}
}
