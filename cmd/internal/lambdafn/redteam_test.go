package lambdafn_test

// Red-team tests of the two-person rule (issue 10). Each fails while its attack
// works: the assertion states what a fixed broker must do.

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
	"github.com/ffbroker/ffbroker/identity"
	"github.com/jackc/pgx/v5"
)

// requestState reads a request's state from the ledger as the superuser.
func (f *flow) requestState(t *testing.T, id string) string {
	t.Helper()
	c, err := shared.Cluster.ConnectSuper(context.Background(), f.names.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var s string
	if err := c.QueryRow(context.Background(), `SELECT state FROM db_admin.firefighter_request WHERE request_id = $1`, id).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// dbLogin connects as one of the functions' database logins, as an attacker holding
// its credentials would.
func (f *flow) dbLogin(t *testing.T, login string) *pgx.Conn {
	t.Helper()
	c, err := shared.Cluster.Connect(context.Background(), login, loginPassword(login), f.names.DB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// A captured approval proof re-targeted by a direct invoke: the proof's digest covers
// the event's "path", but the approve function takes the request id from
// "pathParameters", which a direct invoke sets independently.
func TestRedTeamApprovalProofRetargetedByPathParameters(t *testing.T) {
	ctx := context.Background()
	f := newFlow(t, "rt_retarget", 3600)
	alice, arnA := f.submit(t, "alice", "INC-RTA")
	f.await(t, arnA)
	// Mallory's own pending request, as Submit records it (moto 5.2 answers 500 to a
	// second StartExecution of the state machine, so it has no workflow here; the
	// approval and the issue step do not need one).
	var mal string
	if err := f.dbLogin(t, f.names.Broker).QueryRow(ctx,
		`SELECT request_id::text FROM db_admin.submit_firefighter_request(gen_random_uuid(), $1, 'INC-RTM', 1, 'x', $2, $3)`,
		f.names.FirefighterRW, "arn:aws:iam::123456789012:user/mallory", "arn:aws:iam::123456789012:user/mallory").Scan(&mal); err != nil {
		t.Fatal(err)
	}

	// Bob approves alice's request: a genuine call.
	raw := readEvent(t, "approve-api.json")
	raw = []byte(strings.ReplaceAll(string(raw), "3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b", alice))
	signed := f.sign(t, "bob", withBody(t, raw, `{"decision":"approve","comment":"checked"}`))
	out, err := lambdafn.NewApproveHandler(f.approve).Handle(ctx, signed)
	if err != nil {
		t.Fatal(err)
	}
	if status, body := apiAnswer(t, out); status != 200 {
		t.Fatalf("bob's genuine approval = %d %v", status, body)
	}

	// Mallory replays bob's event (proof unchanged, path unchanged) with her own
	// request id in pathParameters, by lambda:InvokeFunction.
	var ev map[string]any
	if err := json.Unmarshal(signed, &ev); err != nil {
		t.Fatal(err)
	}
	ev["pathParameters"] = map[string]any{"request_id": mal}
	forged, _ := json.Marshal(ev)
	out, err = lambdafn.NewApproveHandler(f.approve).Handle(ctx, forged)
	if err != nil {
		t.Fatal(err)
	}
	status, body := apiAnswer(t, out)
	if status != 401 {
		t.Errorf("bob's proof for request %s replayed with pathParameters.request_id=%s = %d %v; want 401 (proof for another request)", alice, mal, status, body)
	}
	if st := f.requestState(t, mal); st != broker.StatePending {
		t.Errorf("mallory's request is %s after the replay; want pending", st)
	}
	if _, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, json.RawMessage(`{"action":"issue","request_id":"`+mal+`"}`)); err == nil {
		t.Errorf("mallory's rw request was issued on bob's re-targeted approval")
	}
}

// An approver who signs a proof with a principal of another AWS account (a personal
// account costs nothing) is a second "person": nothing ties callers to the
// deployment's account.
func TestRedTeamForeignAccountRequesterSelfApproval(t *testing.T) {
	ctx := context.Background()
	f := newFlow(t, "rt_foreign", 3600)
	// Bob (an approver) assumes a role in his own account 999999999999.
	creds, err := sts.NewFromConfig(f.people["bob"]).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::999999999999:role/Personal"), RoleSessionName: aws.String("bob")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.srv.Config(ctx)
	cfg.Credentials = aws.NewCredentialsCache(staticCreds(creds.Credentials.AccessKeyId, creds.Credentials.SecretAccessKey, creds.Credentials.SessionToken))
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(who.Account) != "999999999999" {
		t.Fatalf("moto gave the foreign session account %s; this test needs moto's multi-account support", aws.ToString(who.Account))
	}
	f.people["bob-personal"] = cfg

	body, _ := json.Marshal(broker.Request{Role: "rw", IncidentID: "INC-FOREIGN", Hours: 1, Reason: "cancel stuck order"})
	out, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, f.sign(t, "bob-personal", withBody(t, readEvent(t, "issue-api-rw.json"), string(body))))
	if err != nil {
		t.Fatal(err)
	}
	status, answer := apiAnswer(t, out)
	if status == 401 || status == 403 {
		return // fixed: a caller of another account is refused
	}
	t.Errorf("POST /access rw as %s (another account) = %d; want 401 or 403", aws.ToString(who.Arn), status)
	if status != 202 {
		return
	}
	id, arn := answer["request_id"].(string), answer["execution_arn"].(string)
	f.await(t, arn)
	if status, body := f.decide(t, "bob", id, "approve"); status == 200 {
		t.Errorf("bob approved the request he made from his personal account: %v", body)
	}
	if _, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, f.scheduled(t, arn, "issue")); err == nil {
		t.Errorf("rw issued to bob's personal-account identity on bob's own approval (rw grants: %d)", f.rwGrants(t))
	}
}

// The approver's database login alone, with the attacker's own genuine request: the
// login names any approver key, decide_firefighter_request hands back the task token,
// and the issue step trusts what the approval ledger says.
func TestRedTeamApproverLoginApprovesOwnRequest(t *testing.T) {
	ctx := context.Background()
	f := newFlow(t, "rt_applogin", 3600)
	id, arn := f.submit(t, "alice", "INC-APPLOGIN")
	f.await(t, arn)
	var token string
	if err := f.dbLogin(t, f.names.Approver).QueryRow(ctx,
		`SELECT task_token FROM db_admin.decide_firefighter_request($1, 'approve', $2, 'arn:aws:iam::123456789012:user/bob', 'ok')`,
		id, bobARN).Scan(&token); err != nil {
		t.Fatalf("decide as the approver login: %v", err)
	}
	if _, err := f.sfn.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(`{}`)}); err != nil {
		t.Fatal(err)
	}
	out, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, f.scheduled(t, arn, "issue"))
	if err == nil {
		t.Errorf("alice, holding only the approver login, got her own rw request issued with bob named as approver: %+v", out)
	}
}

// The broker's database login alone, held by an approver: the login records a request
// in someone else's name, the approver approves it through the real API as himself, and
// the login issues it with a password of its choice. The ledger names alice as the
// requester.
func TestRedTeamBrokerLoginForgedRequester(t *testing.T) {
	ctx := context.Background()
	f := newFlow(t, "rt_brklogin", 3600)
	b := f.dbLogin(t, f.names.Broker)
	var id string
	if err := b.QueryRow(ctx, `SELECT request_id::text FROM db_admin.submit_firefighter_request(gen_random_uuid(), $1, 'INC-BRK', 1, 'x', $2, $3)`,
		f.names.FirefighterRW, aliceARN, "arn:aws:iam::123456789012:user/alice").Scan(&id); err != nil {
		t.Fatal(err)
	}
	status, body := f.decide(t, "bob", id, "approve")
	if status != 200 {
		return // the forged request was not approvable
	}
	t.Logf("bob approved the request the broker login filed in alice's name: %v", body)
	pw := "bob-knows-this-password-0123456789abcdef"
	_, err := b.Exec(ctx, `SELECT * FROM db_admin.issue_firefighter_password($1::uuid, $2, $3, 1, 'INC-BRK', $4, $5, $1::uuid)`,
		id, f.names.FirefighterRW, pw, aliceARN, "arn:aws:iam::123456789012:user/alice")
	if err == nil {
		if c, cerr := shared.Cluster.Connect(ctx, f.names.FirefighterRW, pw, f.names.DB); cerr == nil {
			c.Close(ctx)
			t.Errorf("bob, holding the broker login, logged in as %s with his own password; the ledger names alice as requester", f.names.FirefighterRW)
		} else {
			t.Errorf("the broker login issued rw on a request it forged in alice's name")
		}
	}
}

// foreignSession is a session of role in account 999999999999 (the attacker's own),
// named session, made with who's credentials.
func (f *flow) foreignSession(t *testing.T, who, role, session string) string {
	t.Helper()
	ctx := context.Background()
	out, err := sts.NewFromConfig(f.people[who]).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::999999999999:role/" + role), RoleSessionName: aws.String(session)})
	if err != nil {
		t.Fatal(err)
	}
	cfg := f.srv.Config(ctx)
	cfg.Credentials = aws.NewCredentialsCache(staticCreds(out.Credentials.AccessKeyId, out.Credentials.SecretAccessKey, out.Credentials.SessionToken))
	name := "999999999999:" + role + "/" + session
	f.people[name] = cfg
	return name
}

// A session key ("session/<name>") is the same for an AWSReservedSSO_* role of any
// account: a role of that name in the attacker's own account, assumed with the
// victim's Identity Center user name as session name, is the victim to the broker.
// Mallory, no party to alice's grant, revokes it.
func TestRedTeamForeignSSOSessionImpersonatesForRevoke(t *testing.T) {
	ctx := context.Background()
	f := newFlow(t, "rt_sso", 3600)
	alice := f.assumeRole(t, "alice", "AWSReservedSSO_Engineer_0123456789abcdef", "alice")
	out, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, f.sign(t, alice, readEvent(t, "issue-api-ro.json")))
	if err != nil {
		t.Fatal(err)
	}
	if status, body := apiAnswer(t, out); status != 201 {
		t.Fatalf("alice (SSO) issues ro = %d %v", status, body)
	}
	fake := f.foreignSession(t, "mallory", "AWSReservedSSO_Fake_1", "alice")
	out, err = lambdafn.NewExpireHandler(f.expire).Handle(ctx, f.sign(t, fake, readEvent(t, "revoke-api.json")))
	if err != nil {
		t.Fatal(err)
	}
	if status, body := apiAnswer(t, out); status != 401 && status != 403 {
		t.Errorf("mallory as arn:aws:sts::999999999999:assumed-role/AWSReservedSSO_Fake_1/alice revokes alice's ro grant = %d %v; want 401 or 403", status, body)
	}
}

// proofOf is the identity proof and body of a signed API event: what the broker's
// login reads back from the request ledger, or what who signs without ever sending.
func proofOf(t *testing.T, signed json.RawMessage) (proof, body string) {
	t.Helper()
	var req events.APIGatewayProxyRequest
	if err := json.Unmarshal(signed, &req); err != nil {
		t.Fatal(err)
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, identity.Header) {
			return v, req.Body
		}
	}
	t.Fatal("the signed event carries no identity proof")
	return "", ""
}

// fileRequest records a request through the broker's login with the given requester,
// key, reason, proof and body, as whoever holds that login can.
func (f *flow) fileRequest(t *testing.T, incident, reason, requester, key, proof, body string) string {
	t.Helper()
	var id string
	if err := f.dbLogin(t, f.names.Broker).QueryRow(context.Background(),
		`SELECT request_id::text FROM db_admin.submit_firefighter_request(gen_random_uuid(), $1, $2, 1, $3, $4, $5, $6, $7)`,
		f.names.FirefighterRW, incident, reason, requester, key, proof, body).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// Red team 2, attack 1 (high). The approve function checks the kept requester proof
// for the person key, role, incident and hours, but not the requester ARN nor the
// reason the ledger shows the approver. Mallory, an IAM user holding the broker's
// login, signs her own POST /access proof (never sending it) and files it with
// requester = carol's ARN, or with a reason of her choice: bob approves "carol's"
// request (GET /approvals shows carol), and the issue step writes password.issued
// naming carol as requester. Fixed: checkRequester also compares the proof's ARN with
// the ledger's requester and the signed reason with the ledger's. Left: a re-ask from
// another session of a non-trusted role refreshes the proof but keeps the old ARN, so
// the request is then refused (submit_firefighter_request should refuse or update it).
func TestRedTeam2BrokerLoginRelabelsRequesterAndReason(t *testing.T) {
	ctx := context.Background()
	f := newFlow(t, "rt2_relabel", 3600)
	const carolARN = "arn:aws:iam::123456789012:user/carol"
	const malloryKey = "arn:aws:iam::123456789012:user/mallory"
	sign := func(incident string) (string, string) {
		body, _ := json.Marshal(broker.Request{Role: "rw", IncidentID: incident, Hours: 1, Reason: "cancel stuck order"})
		return proofOf(t, f.sign(t, "mallory", withBody(t, readEvent(t, "issue-api-rw.json"), string(body))))
	}
	cases := []struct{ name, incident, requester, reason string }{
		{"requester ARN of another person", "INC-RL-ARN", carolARN, "cancel stuck order"},
		{"reason not the one signed", "INC-RL-WHY", "arn:aws:iam::123456789012:user/mallory", "CAB-4711 approved schema migration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			proof, body := sign(c.incident)
			id := f.fileRequest(t, c.incident, c.reason, c.requester, malloryKey, proof, body)
			status, answer := f.decide(t, "bob", id, "approve")
			if status != 200 {
				return // refused: the kept proof must match what the ledger shows
			}
			t.Errorf("bob approved request %s (requester %s, reason %q) backed by mallory's proof for reason %q: %v",
				id, c.requester, c.reason, "cancel stuck order", answer)
			if _, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, json.RawMessage(`{"action":"issue","request_id":"`+id+`"}`)); err != nil {
				return
			}
			for _, r := range f.audit.Records(t) {
				if r["event"] == "password.issued" && r["grant_id"] == id {
					t.Errorf("rw issued on it; password.issued names requester %v, reason unchecked (the proof is mallory's)", r["requester"])
				}
			}
		})
	}
}

// Red team 2, attack 2 (medium). A POST /access proof binds no request id: the
// broker's login copies alice's kept proof and body onto a new request row. Bob denied
// alice's request; within the proof's 14 minutes the login files it again, behind
// alice's back, and carol approves it: one request of alice's became two decisions
// (approver shopping); the login then sets the password of the grant. Fix: a kept
// proof backs one row only (a unique index on sha256(requester_proof), or
// submit_firefighter_request refusing a proof another row keeps).
func TestRedTeam2RequesterProofCopiedToAnotherRow(t *testing.T) {
	ctx := context.Background()
	f := newFlow(t, "rt2_copy", 3600)
	first, arn := f.submit(t, "alice", "INC-COPY")
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
		`SELECT request_id::text FROM db_admin.submit_firefighter_request(gen_random_uuid(), $1, 'INC-COPY', 1, 'cancel stuck order', $2, $3, $4, $5)`,
		f.names.FirefighterRW, aliceARN, "arn:aws:iam::123456789012:user/alice", proof, body).Scan(&second)
	if err != nil {
		if !strings.Contains(err.Error(), "firefighter_request_proof_once") {
			t.Fatalf("filing the copy: %v; want refused by the one-request-per-proof index", err)
		}
		return // refused at filing: a kept proof backs one request only
	}
	if status, answer := f.decide(t, "carol", second, "approve"); status == 200 {
		t.Errorf("carol approved request %s, a copy of alice's denied request %s with its kept proof: %v", second, first, answer)
	}
}
