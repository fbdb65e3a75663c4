package lambdafn_test

// Red team 3 (issues 10 and 11: extensions, notifications, the client). Each test
// fails while its attack works; the comment gives the severity and a proposed fix.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
)

// Red team 3, attack 1 (medium: approver shopping by the broker's login, the red
// team 2 attack again). The one-request-per-proof index is on md5(requester_proof),
// the text as stored, but the verifier accepts many spellings of one proof: it trims
// any run of trailing "=" before decoding base64url (and JSON re-encodings decode
// alike). Bob denied alice's request; the broker's login files alice's kept proof
// again with "=" appended, the index sees a new proof, and carol approves it: one
// request of alice's became two decisions. Fix: key the index on a canonical form
// (sha256 of the decoded, re-marshalled wire proof, or of its Authorization
// signature, which is unique per signed request), or have the verifier refuse any
// spelling but base64.RawURLEncoding of its own re-encoding.
func TestRedTeam3ProofRespelledDefeatsOneRequestPerProof(t *testing.T) {
	ctx := context.Background()
	f := newFlow(t, "rt3_respell", 3600)
	first, arn := f.submit(t, "alice", "INC-RSP")
	f.await(t, arn)
	if status, body := f.decide(t, "bob", first, "deny"); status != 200 {
		t.Fatalf("bob denies = %d %v", status, body)
	}
	var proof, body string
	if err := f.dbLogin(t, f.names.Broker).QueryRow(ctx,
		`SELECT requester_proof, request_body FROM db_admin.firefighter_request_status($1)`, first).Scan(&proof, &body); err != nil {
		t.Fatal(err)
	}
	var second string
	err := f.dbLogin(t, f.names.Broker).QueryRow(ctx,
		`SELECT request_id::text FROM db_admin.submit_firefighter_request(gen_random_uuid(), $1, 'INC-RSP', 1, 'cancel stuck order', $2, $3, $4, $5)`,
		f.names.FirefighterRW, aliceARN, aliceARN, proof+"==", body).Scan(&second)
	if err != nil {
		t.Logf("filing refused: %v", err)
		return // refused at filing: the same proof, however spelled, backs one request only
	}
	status, answer := f.decide(t, "carol", second, "approve")
	t.Logf("carol: %d %v", status, answer)
	if status == 200 {
		t.Errorf("carol approved request %s, a copy of alice's denied request %s with its kept proof plus \"==\": %v", second, first, answer)
	}
}

// Red team 3, attack 2 (low: forged notice and audit record by a direct invoke). The
// issue step of an extension request that was carried out is answered again from the
// ledger even after the grant ended: anyone with lambda:InvokeFunction on the issue
// function sends {"action":"issue","request_id":EXT} after alice's rw grant was
// revoked, and alice is told "Your firefighter rw access ... now ends at <later>"
// (NotifyExtended is published with notify, not notifyOnce, so on every invoke) and
// the audit trail gets another access.extended success for a grant that is closed.
// Fix: extend_firefighter_grant's 'issued' branch refuses (FFB05) when the grant is
// closed or expired; extendApproved claims the notice ('extended' in
// claim_firefighter_notice) and audits a retry without outcome success.
func TestRedTeam3ReplayedExtensionStepAfterRevoke(t *testing.T) {
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
	t.Logf("replayed issue step: %v", err)
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

// Red team 3, attack 3 (medium: a notification that names the wrong person, and chat
// mentions). The approvers' message names the requester by the verified ARN, whose
// session name any caller of a non-trusted role chooses: mallory, in role Engineer,
// asks as assumed-role/Engineer/bob.smith and the approvers read "bob.smith"; the
// principal key the two-person rule really uses (role Engineer: everyone who can
// assume it) is nowhere in the message. Session names and IAM user names may also
// hold "@" ([\w+=,.@-]), which chatSafe handles for typed text only: the Requester
// and Approver lines carry "@here" into chat unchanged. Fix: name the requester by
// the principal key ("role Engineer (any session)", "user alice", "SSO alice"),
// show a non-trusted session name as "session name chosen by the caller", and pass
// every ARN through chatSafe.
func TestRedTeam3NotificationNamesUnverifiedSessionName(t *testing.T) {
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
