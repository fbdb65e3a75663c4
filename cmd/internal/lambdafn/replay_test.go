package lambdafn_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
)

// The one-request-per-proof index is on the proof's text: the broker's login files
// alice's kept proof again with "=" appended, which the index sees as new. The
// verifier accepts only the canonical spelling of a proof (base64url without padding
// of its own encoding), so the copy carries no valid proof and carol's approval of it
// is refused: one request of alice's stays one decision.
func TestRespelledKeptProofIsNoProof(t *testing.T) {
	ctx := context.Background()
	f := newFlow(t, "rt3_respell", 3600)
	first, proof, body := f.deniedRequestProof(t, "INC-RSP")
	var second string
	err := f.dbLogin(t, f.names.Broker).QueryRow(ctx,
		`SELECT request_id::text FROM db_admin.submit_firefighter_request(gen_random_uuid(), $1, 'INC-RSP', 1, 'cancel stuck order', $2, $3, $4, $5)`,
		f.names.FirefighterRW, aliceARN, aliceARN, proof+"==", body).Scan(&second)
	if err != nil {
		t.Fatalf("filing the respelled copy: %v; the index is on the text, so the copy files", err)
	}
	status, answer := f.decide(t, "carol", second, "approve")
	if status != 403 || errorCode(answer) != "forbidden" || !strings.Contains(fmt.Sprint(answer), "valid proof of its requester") {
		t.Errorf("carol approves request %s, a copy of alice's denied request %s with its kept proof plus \"==\" = %d %v; want 403 forbidden (no valid proof of its requester)",
			second, first, status, answer)
	}
	if st := f.requestState(t, second); st != broker.StatePending {
		t.Errorf("the copy is %s; want pending", st)
	}
}

// The issue step of an extension request that was carried out, invoked again
// directly after the grant was revoked, is refused (conflict: its grant has ended):
// nobody is told of an extension, and no access.extended success is written.
func TestReplayedExtensionStepAfterRevokeIsRefused(t *testing.T) {
	ctx := context.Background()
	f := newFlow(t, "rt3_extreplay", 3600)
	alice := f.mailbox(t, "alice3", `{"recipient":["`+aliceARN+`"]}`)
	grant := f.liveRWGrant(t, "INC-XRP")
	status, pending := f.call(t, "alice", extendEvent(t, "rw", `{"incident_id":"INC-XRP","hours":2,"reason":"still investigating"}`))
	if status != 202 {
		t.Fatalf("extend rw = %d %v; want 202", status, pending)
	}
	extID, extARN := fmt.Sprint(pending["request_id"]), fmt.Sprint(pending["execution_arn"])
	f.await(t, extARN)
	if status, body := f.decide(t, "bob", extID, "approve"); status != 200 {
		t.Fatalf("bob approves the extension = %d %v", status, body)
	}
	if _, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, f.scheduled(t, extARN, "issue")); err != nil {
		t.Fatalf("issue step of the approved extension: %v", err)
	}
	alice.take(t)
	// The grant ends (revoke, as db_admin does it).
	f.superQuery(t, `UPDATE db_admin.firefighter_grant SET closed_at = clock_timestamp(), closed_reason = 'revoked' WHERE grant_id = $1 RETURNING grant_id::text`, grant.GrantID)
	n := len(f.audit.Records(t))
	step := json.RawMessage(`{"action":"issue","request_id":"` + extID + `"}`)
	_, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, step)
	var conflict *lambdafn.ConflictError
	if !errors.As(err, &conflict) || !strings.Contains(err.Error(), "its grant has ended") {
		t.Errorf("replayed issue step after the revoke = %v; want ConflictError (its grant has ended)", err)
	}
	got := alice.take(t)
	for _, r := range got {
		t.Errorf("a direct invoke of the issue step after the revoke told alice %q: %s", r.chat.Metadata.EventType, r.chat.Content.Title)
	}
	for _, r := range f.audit.Records(t)[n:] {
		if r["event"] == "access.extended" && r["outcome"] == "success" {
			t.Errorf("a direct invoke of the issue step after the revoke wrote access.extended success for closed grant %s: %v (step error %v)", grant.GrantID, r, err)
		}
	}
}

// The approvers' message names the requester by the principal key the two-person rule
// uses (role Engineer: everyone who can assume it), not only by a session name the
// caller chose, and no "@here" or "@channel" from a session name reaches chat.
func TestNotificationNamesThePrincipalKeyWithoutMentions(t *testing.T) {
	const roleKey = "arn:aws:iam::123456789012:role/engineer"
	n := broker.Notification{Kind: broker.NotifyApprovalNeeded, Request: broker.AccessRequest{
		ID: "3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b", Role: "my_pg_firefighter_rw", IncidentID: "INC-77", Hours: 1,
		Reason: "cancel stuck order", Requester: "arn:aws:sts::123456789012:assumed-role/Engineer/@here",
		RequesterKey: roleKey}}
	chat, mail := lambdafn.Messages(n)
	if strings.Contains(chat.Content.Description, "@here") || strings.Contains(chat.Content.Title, "@here") {
		t.Errorf("approval_needed chat description carries a mention from the caller's session name: %q", chat.Content.Description)
	}
	for name, text := range map[string]string{"chat": chat.Content.Description, "mail": mail} {
		if !strings.Contains(strings.ToLower(text), ":role/engineer") {
			t.Errorf("approval_needed %s names the requester only by the session name the caller chose; want the principal key %s (everyone who can assume Engineer): %q",
				name, roleKey, text)
		}
	}
	d := broker.Notification{Kind: broker.NotifyDenied, Request: broker.AccessRequest{ID: n.Request.ID, Role: "my_pg_firefighter_rw",
		IncidentID: "INC-77", Requester: aliceARN, RequesterKey: aliceARN,
		Approver: "arn:aws:sts::123456789012:assumed-role/Approver/@channel", ApproverKey: "arn:aws:iam::123456789012:role/approver"}}
	chat, _ = lambdafn.Messages(d)
	if strings.Contains(chat.Content.Description, "@channel") {
		t.Errorf("denied chat description carries a mention from the approver's session name: %q", chat.Content.Description)
	}
}
