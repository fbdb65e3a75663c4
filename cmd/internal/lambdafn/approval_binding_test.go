package lambdafn_test

// How each side of the two-person rule binds the other side's person: attacks by
// whoever holds a function's database login, lambda:InvokeFunction or a principal of
// another account, each refused with its own code.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/jackc/pgx/v5/pgconn"
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
// the event's "path", and the approve function refuses pathParameters that disagree
// with it.
func TestApprovalProofCannotBeRetargetedByPathParameters(t *testing.T) {
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
	if status != 401 || errorCode(body) != "unauthenticated" {
		t.Errorf("bob's proof for request %s replayed with pathParameters.request_id=%s = %d %v; want 401 unauthenticated (proof for another request)", alice, mal, status, body)
	}
	if st := f.requestState(t, mal); st != broker.StatePending {
		t.Errorf("mallory's request is %s after the replay; want pending", st)
	}
	_, err = lambdafn.NewIssueHandler(f.issue).Handle(ctx, json.RawMessage(`{"action":"issue","request_id":"`+mal+`"}`))
	var forbidden *lambdafn.ForbiddenError
	if !errors.As(err, &forbidden) || !strings.Contains(err.Error(), "not approved") {
		t.Errorf("issue step of mallory's request after the replay = %v; want ForbiddenError (not approved)", err)
	}
}

// An approver who signs a proof with a principal of another AWS account (a personal
// account costs nothing) is no second person: only FFB_ACCOUNTS' principals may call.
func TestForeignAccountCallerIsRefused(t *testing.T) {
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
	if status != 401 || errorCode(answer) != "unauthenticated" || !strings.Contains(fmt.Sprint(answer), "999999999999 are not accepted") {
		t.Errorf("POST /access rw as %s (another account) = %d %v; want 401 unauthenticated (account not accepted)", aws.ToString(who.Arn), status, answer)
	}
	if rows := f.requestRows(t, "INC-FOREIGN"); rows != "0" {
		t.Errorf("the request ledger has %s rows for INC-FOREIGN; want none", rows)
	}
}

// The approver's database login alone, with the attacker's own genuine request: the
// login names bob as approver without his proof and hands the task token to the
// workflow; the issue step checks the approver's kept proof and refuses.
func TestApproverLoginCannotApproveOwnRequest(t *testing.T) {
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
	var forbidden *lambdafn.ForbiddenError
	if !errors.As(err, &forbidden) || !strings.Contains(err.Error(), "valid proof of its approver") {
		t.Errorf("issue step of alice's request approved by the approver login alone = %+v, %v; want ForbiddenError (no valid proof of its approver)", out, err)
	}
	if n := f.rwGrants(t); n != 0 {
		t.Errorf("%d rw grants after the refused issue; want none", n)
	}
}

// The broker's database login alone, held by an approver: the login records a request
// in alice's name without her proof; the approve function refuses to decide it, and
// the database refuses the login's own issue of it.
func TestBrokerLoginCannotForgeARequester(t *testing.T) {
	ctx := context.Background()
	f := newFlow(t, "rt_brklogin", 3600)
	b := f.dbLogin(t, f.names.Broker)
	var id string
	if err := b.QueryRow(ctx, `SELECT request_id::text FROM db_admin.submit_firefighter_request(gen_random_uuid(), $1, 'INC-BRK', 1, 'x', $2, $3)`,
		f.names.FirefighterRW, aliceARN, "arn:aws:iam::123456789012:user/alice").Scan(&id); err != nil {
		t.Fatal(err)
	}
	if status, body := f.decide(t, "bob", id, "approve"); status != 403 || errorCode(body) != "forbidden" ||
		!strings.Contains(fmt.Sprint(body), "valid proof of its requester") {
		t.Errorf("bob approves the request the broker login filed in alice's name = %d %v; want 403 forbidden (no valid proof of its requester)", status, body)
	}
	pw := "bob-knows-this-password-0123456789abcdef"
	_, err := b.Exec(ctx, `SELECT * FROM db_admin.issue_firefighter_password($1::uuid, $2, $3, 1, 'INC-BRK', $4, $5, $1::uuid)`,
		id, f.names.FirefighterRW, pw, aliceARN, "arn:aws:iam::123456789012:user/alice")
	if sqlState(err) != "FFB07" {
		t.Errorf("the broker login issues rw on the request it forged = %v; want SQLSTATE FFB07 (not approved)", err)
	}
	if n := f.rwGrants(t); n != 0 {
		t.Errorf("%d rw grants after the refused issue; want none", n)
	}
}

// sqlState is the SQLSTATE of a PostgreSQL error, "" for anything else.
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// Both database logins together, with bob's genuine approval: the broker's login files
// an rw request for user/ghost without any proof, the approver's login records bob's
// real decision with his real proof for it, and the workflow runs the issue step. The
// issue step checks the requester's kept proof too and refuses; nothing is issued, and
// the database refuses to issue a request without a requester's proof even to a login
// that skips the check.
func TestBothLoginsCannotIssueARequestNobodyMade(t *testing.T) {
	ctx := context.Background()
	f := newFlow(t, "rt_ghost", 3600)
	const ghost = "arn:aws:iam::123456789012:user/ghost"
	var id string
	if err := f.dbLogin(t, f.names.Broker).QueryRow(ctx,
		`SELECT request_id::text FROM db_admin.submit_firefighter_request(gen_random_uuid(), $1, 'INC-GHOST', 1, 'x', $2, $2)`,
		f.names.FirefighterRW, ghost).Scan(&id); err != nil {
		t.Fatal(err)
	}
	// Bob's real proof for approving that request (he approves what he is shown).
	raw := readEvent(t, "approve-api.json")
	raw = []byte(strings.ReplaceAll(string(raw), "3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b", id))
	proof, body := proofOf(t, f.sign(t, "bob", withBody(t, raw, `{"decision":"approve","comment":"ok"}`)))
	if _, err := f.dbLogin(t, f.names.Approver).Exec(ctx,
		`SELECT * FROM db_admin.decide_firefighter_request($1, 'approve', $2, $2, 'ok', $3, $4)`, id, bobARN, proof, body); err != nil {
		t.Fatalf("decide as the approver login with bob's proof: %v", err)
	}
	secrets := f.secretsState(t)
	n := len(f.audit.Records(t))
	_, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, json.RawMessage(`{"action":"issue","request_id":"`+id+`"}`))
	var forbidden *lambdafn.ForbiddenError
	if !errors.As(err, &forbidden) || !strings.Contains(err.Error(), "valid proof of its requester") {
		t.Errorf("issue step of ghost's request = %v; want ForbiddenError (no valid proof of its requester)", err)
	}
	if got := f.lastRejection(t, n); got != "forbidden" {
		t.Errorf("audit: last request.rejected code = %v; want forbidden", got)
	}
	// The database's own backstop: the broker's login issuing it directly.
	_, err = f.dbLogin(t, f.names.Broker).Exec(ctx, `SELECT * FROM db_admin.issue_firefighter_password($1::uuid, $2, $3, 1, 'INC-GHOST', $4, $4, $1::uuid)`,
		id, f.names.FirefighterRW, "ghost-knows-this-password-0123456789abcdef", ghost)
	if sqlState(err) != "FFB07" || !strings.Contains(err.Error(), "no proof of its requester") {
		t.Errorf("the broker login issues ghost's approved request = %v; want SQLSTATE FFB07 (no proof of its requester)", err)
	}
	if n := f.rwGrants(t); n != 0 {
		t.Errorf("%d rw grants for a request nobody made; want none", n)
	}
	if got := f.superQuery(t, `SELECT (rolpassword IS NULL)::text FROM pg_authid WHERE rolname = $1`, f.names.FirefighterRW)[0]; got != "true" {
		t.Errorf("%s has a password after the refused issues", f.names.FirefighterRW)
	}
	if got := f.secretsState(t); got != secrets {
		t.Errorf("Secrets Manager changed by the refused issue:\n%s\nwant\n%s", got, secrets)
	}
}

// A direct invoke of the wait step with an execution ARN of another state machine
// (any name ending in :ffb-<request id>) cannot take over the request's task token:
// only this deployment's state machine's execution may keep it.
func TestWaitStepOfAnotherStateMachineCannotKeepTheToken(t *testing.T) {
	ctx := context.Background()
	f := newFlow(t, "rt_await", 3600)
	id, arn := f.submit(t, "alice", "INC-AWAIT")
	genuine := f.scheduled(t, arn, "await")
	var step lambdafn.AwaitStep
	if err := json.Unmarshal(genuine, &step); err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(step.ExecutionARN, ":execution:ffbroker-approval:", ":execution:mallory-machine:", 1)
	if forged == step.ExecutionARN {
		t.Fatalf("execution ARN %s does not name the state machine ffbroker-approval", step.ExecutionARN)
	}
	n := len(f.audit.Records(t))
	in, _ := json.Marshal(lambdafn.AwaitStep{Action: "await", RequestID: id, TaskToken: "mallory-token", ExecutionARN: forged})
	_, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, in)
	var forbidden *lambdafn.ForbiddenError
	if !errors.As(err, &forbidden) {
		t.Errorf("wait step with execution %s = %v; want ForbiddenError", forged, err)
	}
	if got := f.lastRejection(t, n); got != "forbidden" {
		t.Errorf("audit: last request.rejected code = %v; want forbidden", got)
	}
	if got := f.superQuery(t, `SELECT coalesce(task_token, '') FROM db_admin.firefighter_request WHERE request_id = $1`, id)[0]; got != "" {
		t.Errorf("the request keeps task token %q after the forged wait step; want none", got)
	}
	// The genuine wait step still keeps its token.
	if _, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, genuine); err != nil {
		t.Errorf("the genuine wait step after the forged one: %v", err)
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
// victim's Identity Center user name as session name, would be the victim to the
// broker; its account is not accepted, so mallory cannot revoke alice's grant.
func TestForeignSSORoleSessionCannotRevoke(t *testing.T) {
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
	if status, body := apiAnswer(t, out); status != 401 || errorCode(body) != "unauthenticated" {
		t.Errorf("mallory as arn:aws:sts::999999999999:assumed-role/AWSReservedSSO_Fake_1/alice revokes alice's ro grant = %d %v; want 401 unauthenticated", status, body)
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

// Mallory, an IAM user holding the broker's login, signs her own POST /access proof
// (never sending it) and files it with requester = carol's ARN, or with a reason of
// her choice: the approve function compares the proof's ARN and signed reason with
// the ledger's and refuses to decide.
func TestBrokerLoginCannotRelabelRequesterOrReason(t *testing.T) {
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
			if status != 403 || errorCode(answer) != "forbidden" || !strings.Contains(fmt.Sprint(answer), "valid proof of its requester") {
				t.Errorf("bob approves request %s (requester %s, reason %q) backed by mallory's proof for reason %q = %d %v; want 403 forbidden (no valid proof of its requester)",
					id, c.requester, c.reason, "cancel stuck order", status, answer)
			}
			if st := f.requestState(t, id); st != broker.StatePending {
				t.Errorf("request %s is %s; want pending", id, st)
			}
		})
	}
}

// A POST /access proof binds no request id: the broker's login copies alice's kept
// proof and body onto a new request row, so that after bob denied it carol could
// approve the copy (approver shopping). A kept proof backs one row only: the database
// refuses the copy (unique violation on firefighter_request_proof_once).
func TestKeptRequesterProofBacksOneRequest(t *testing.T) {
	ctx := context.Background()
	f := newFlow(t, "rt2_copy", 3600)
	first, proof, body := f.deniedRequestProof(t, "INC-COPY")
	var second string
	err := f.dbLogin(t, f.names.Broker).QueryRow(ctx,
		`SELECT request_id::text FROM db_admin.submit_firefighter_request(gen_random_uuid(), $1, 'INC-COPY', 1, 'cancel stuck order', $2, $3, $4, $5)`,
		f.names.FirefighterRW, aliceARN, "arn:aws:iam::123456789012:user/alice", proof, body).Scan(&second)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" || pe.ConstraintName != "firefighter_request_proof_once" {
		t.Errorf("filing a copy of alice's denied request %s with its kept proof = %s, %v; want SQLSTATE 23505 on firefighter_request_proof_once", first, second, err)
	}
}

// deniedRequestProof files alice's rw request for incident, has bob deny it, and
// returns the request id with the requester proof and body its row keeps, as the
// broker's login reads them.
func (f *flow) deniedRequestProof(t *testing.T, incident string) (id, proof, body string) {
	t.Helper()
	id, arn := f.submit(t, "alice", incident)
	f.await(t, arn)
	if status, answer := f.decide(t, "bob", id, "deny"); status != 200 {
		t.Fatalf("bob denies = %d %v", status, answer)
	}
	if err := f.dbLogin(t, f.names.Broker).QueryRow(context.Background(),
		`SELECT requester_proof, request_body FROM db_admin.firefighter_request_status($1)`, id).Scan(&proof, &body); err != nil {
		t.Fatal(err)
	}
	return id, proof, body
}
