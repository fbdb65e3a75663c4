package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/identity"
	"github.com/ffbroker/ffbroker/internal/awstest"
	"github.com/ffbroker/ffbroker/internal/iamsim"
)

// The functions' roles as the stack would name them; the secrets' resource policy
// names them (FFB_FUNCTION_ROLE_ARNS).
const (
	issueFnRole  = "arn:aws:iam::" + awstest.AccountID + ":role/ffbroker-IssueFunctionRole-0A1B2C3D4E5F"
	expireFnRole = "arn:aws:iam::" + awstest.AccountID + ":role/ffbroker-ExpireFunctionRole-0A1B2C3D4E5F"
)

// templateOf is template.yaml with fixture f's names (secret and role prefix, the
// broker's login) and a test account, as the IAM evaluator reads its policies.
func templateOf(t *testing.T, f *fixture, prefix string) *iamsim.Template {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return iamsim.LoadTemplate(t, filepath.Join(filepath.Dir(file), "..", "template.yaml"), map[string]string{
		"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": awstest.AccountID,
		"AWS::StackId": "arn:aws:cloudformation:us-east-1:" + awstest.AccountID + ":stack/ffbroker/0", "AWS::StackName": "ffbroker",
		"SecretPrefix": f.secretPrefix, "RolePrefix": prefix, "BrokerApi": "a1b2c3d4e5", "ClusterResourceId": "cluster-ABC",
		"BrokerDbUser": f.Broker, "ClusterIdentifier": "ffbroker-cluster", "ApprovalTopic": "arn:aws:sns:us-east-1:" + awstest.AccountID + ":ffbroker-approvals",
	})
}

// onCallSSORole is the Identity Center role of the on-call sessions dave and erin,
// which the requesters' list names.
const onCallSSORole = "arn:aws:iam::" + awstest.AccountID + ":role/AWSReservedSSO_OnCall_0123456789abcdef"

// motoWorkflow starts a real (moto) Step Functions execution per request, named
// ffb-<request id> as the broker's workflow names them.
type motoWorkflow struct {
	c   *sfn.Client
	arn string
}

func newMotoWorkflow(t *testing.T) motoWorkflow {
	t.Helper()
	ctx := context.Background()
	c := sfn.NewFromConfig(shared.Moto(t).Config(ctx))
	out, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("readers-" + fmt.Sprint(time.Now().UnixNano())),
		Definition: aws.String(`{"StartAt":"Wait","States":{"Wait":{"Type":"Pass","End":true}}}`),
		RoleArn:    aws.String("arn:aws:iam::" + awstest.AccountID + ":role/ffbroker-StateMachineRole")})
	if err != nil {
		t.Fatal(err)
	}
	return motoWorkflow{c: c, arn: aws.ToString(out.StateMachineArn)}
}

func (w motoWorkflow) Start(ctx context.Context, requestID string) (string, error) {
	out, err := w.c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(w.arn), Name: aws.String("ffb-" + requestID)})
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ExecutionArn), nil
}

func (w motoWorkflow) Resume(context.Context, broker.Token, string, string) error { return nil }

func (w motoWorkflow) ExecutionARN(requestID string) string {
	return strings.Replace(w.arn, ":stateMachine:", ":execution:", 1) + ":ffb-" + requestID
}

// principal is one caller of Secrets Manager as the evaluator sees it.
type principal struct {
	arn, roleARN, userID string
	policies             map[string]any
}

// ssoSessions assumes an Identity Center role (its session names are the person) in
// moto as each of names and returns the sessions' credentials and principals.
func ssoSessions(t *testing.T, names ...string) (map[string]aws.Config, map[string]principal) {
	t.Helper()
	ctx := context.Background()
	srv := shared.Moto(t)
	role, err := iam.NewFromConfig(srv.Config(ctx)).CreateRole(ctx, &iam.CreateRoleInput{
		RoleName: aws.String("AWSReservedSSO_OnCall_0123456789abcdef"), Path: aws.String("/aws-reserved/sso.amazonaws.com/"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	cfgs, ps := map[string]aws.Config{}, map[string]principal{}
	for _, n := range names {
		out, err := sts.NewFromConfig(srv.Config(ctx)).AssumeRole(ctx, &sts.AssumeRoleInput{RoleArn: role.Role.Arn, RoleSessionName: aws.String(n)})
		if err != nil {
			t.Fatal(err)
		}
		cfg := srv.Config(ctx)
		cr := out.Credentials
		cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(cr.AccessKeyId), aws.ToString(cr.SecretAccessKey), aws.ToString(cr.SessionToken))
		id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatal(err)
		}
		cfgs[n] = cfg
		ps[n] = principal{arn: aws.ToString(id.Arn), roleARN: aws.ToString(role.Role.Arn), userID: aws.ToString(id.UserId)}
	}
	return cfgs, ps
}

// userPrincipal is moto IAM user name as the evaluator sees it.
func userPrincipal(t *testing.T, name string) principal {
	t.Helper()
	id, err := sts.NewFromConfig(people(t)[name]).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	return principal{arn: aws.ToString(id.Arn), roleARN: aws.ToString(id.Arn), userID: aws.ToString(id.UserId)}
}

// verified is who's call as the edge verifies it (moto's STS answers the proof).
func verified(t *testing.T, cfg aws.Config, method, path string, body []byte) broker.Caller {
	t.Helper()
	ctx := context.Background()
	proof, err := identity.NewSigner(cfg, serverID).Proof(ctx, identity.Request{Method: method, Path: path, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	c, err := newProofs(t, onCallSSORole).CheckProof(ctx, broker.KeptProof{Proof: proof, Method: method, Path: path, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	c.Proof, c.Body = proof, body
	return c
}

// TestOnlyLiveGrantsRequestersReadTheSecret runs the broker against moto and
// PostgreSQL, reads each secret's resource policy back from moto as the broker wrote
// it, and evaluates reads with the template's on-call and function policies in an
// IAM policy evaluator: only the requesters of the role's live grants and the
// functions read; everyone else on call is explicitly denied.
func TestOnlyLiveGrantsRequestersReadTheSecret(t *testing.T) {
	ctx := context.Background()
	const prefix = "readers"
	f := newFixture(t, prefix)
	d := f.deps(t)
	d.sstore.WithFunctionRoles(issueFnRole, expireFnRole)
	b, err := broker.New(broker.Config{
		Policy: broker.DefaultPolicy(prefix), DB: d.db, Secrets: d.secrets, Audit: d.sink, Workflow: newMotoWorkflow(t),
		Target: broker.Target{Host: shared.Cluster.Host, Port: shared.Cluster.Port, DBName: f.DB, SSLMode: "disable"},
		Proofs: newProofs(t, onCallSSORole),
	})
	if err != nil {
		t.Fatal(err)
	}

	tpl := templateOf(t, f, prefix)
	onCall := map[string]any{"OnCallPolicy": tpl.ManagedPolicy(t, "OnCallPolicy")}
	fns := map[string]principal{
		"issue function": {arn: "arn:aws:sts::" + awstest.AccountID + ":assumed-role/ffbroker-IssueFunctionRole-0A1B2C3D4E5F/ffbroker-IssueFunction",
			roleARN: issueFnRole, userID: "AROAISSUEFUNCTION0001:ffbroker-IssueFunction", policies: map[string]any{"issue": tpl.RolePolicy(t, "IssueFunctionRole", "issue")}},
		"expire function": {arn: "arn:aws:sts::" + awstest.AccountID + ":assumed-role/ffbroker-ExpireFunctionRole-0A1B2C3D4E5F/ffbroker-ExpireFunction",
			roleARN: expireFnRole, userID: "AROAEXPIREFUNCTION001:ffbroker-ExpireFunction", policies: map[string]any{"expire": tpl.RolePolicy(t, "ExpireFunctionRole", "expire")}},
	}

	sessions, ps := ssoSessions(t, "dave", "erin")
	for _, n := range []string{"alice", "bob", "carol"} {
		ps[n] = userPrincipal(t, n)
	}
	for n, p := range ps {
		p.policies = onCall // everyone here holds the on-call policy, bob too
		ps[n] = p
	}

	smc := sm.NewFromConfig(shared.Moto(t).Config(ctx))
	// can evaluates action on role's secret for each of who, with the resource
	// policy read back from moto.
	can := func(t *testing.T, role, action string, who map[string]principal) map[string]string {
		t.Helper()
		name := broker.SecretName(f.secretPrefix, role)
		pol, err := smc.GetResourcePolicy(ctx, &sm.GetResourcePolicyInput{SecretId: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(pol.ResourcePolicy) == "" {
			t.Fatalf("%s has no resource policy", name)
		}
		var names []string
		var reqs []iamsim.Request
		for n, p := range who {
			names = append(names, n)
			reqs = append(reqs, iamsim.Request{Principal: p.arn, Action: action, Resource: aws.ToString(pol.ARN), Account: awstest.AccountID,
				Context: map[string]string{"aws:PrincipalArn": p.roleARN, "aws:userid": p.userID, "aws:PrincipalAccount": awstest.AccountID,
					"aws:CurrentTime": time.Now().UTC().Format(time.RFC3339)},
				Identity: p.policies, ResourcePolicy: aws.ToString(pol.ResourcePolicy)})
		}
		res := iamsim.Evaluate(t, reqs)
		out := map[string]string{}
		for i, n := range names {
			out[n] = res[i]
		}
		return out
	}
	expect := func(t *testing.T, role, action string, want map[string]string) {
		t.Helper()
		who := map[string]principal{}
		for n := range want {
			if p, ok := ps[n]; ok {
				who[n] = p
			} else {
				who[n] = fns[n]
			}
		}
		got := can(t, role, action, who)
		for n, w := range want {
			if got[n] != w {
				t.Errorf("%s on %s by %s = %s; want %s", action, role, n, got[n], w)
			}
		}
	}
	functionsManage := func(t *testing.T, role string) {
		t.Helper()
		for _, action := range []string{"secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
			"secretsmanager:UpdateSecretVersionStage", "secretsmanager:PutResourcePolicy"} {
			expect(t, role, action, map[string]string{"issue function": iamsim.Allowed, "expire function": iamsim.Allowed})
		}
	}
	roleOf := func(kind string) string { return prefix + "_firefighter_" + kind }
	ask := func(t *testing.T, cfg aws.Config, kind, incident string) broker.SubmitOutput {
		t.Helper()
		body, _ := json.Marshal(broker.Request{Role: kind, IncidentID: incident, Hours: 1, Reason: "stuck orders"})
		out, err := b.Submit(ctx, broker.SubmitInput{Body: body, Caller: verified(t, cfg, "POST", "/access", body), Source: audit.SourceAPI})
		if err != nil {
			t.Fatalf("Submit(%s, %s): %v", kind, incident, err)
		}
		return out
	}

	t.Run("the trusted session that asked reads ro; another session of its role, another on-call user and an approver are denied", func(t *testing.T) {
		ask(t, sessions["dave"], "ro", "INC-R1")
		expect(t, roleOf("ro"), "secretsmanager:GetSecretValue", map[string]string{
			"dave": iamsim.Allowed, "erin": iamsim.ExplicitlyDenied, "carol": iamsim.ExplicitlyDenied, "bob": iamsim.ExplicitlyDenied})
		functionsManage(t, roleOf("ro"))
		// Nobody else on call may rewrite the policy or the value either.
		expect(t, roleOf("ro"), "secretsmanager:PutResourcePolicy", map[string]string{"dave": iamsim.ExplicitlyDenied, "carol": iamsim.ExplicitlyDenied})
	})

	t.Run("the requester of an approved rw grant reads it; the approver and other on-call users are denied", func(t *testing.T) {
		out := ask(t, people(t)["alice"], "rw", "INC-W1")
		if out.Pending == nil {
			t.Fatalf("rw answered %+v; want a pending request", out)
		}
		if _, err := f.approver(t).Decide(ctx, decision(t, "bob", out.Pending.RequestID, "approve", "")); err != nil {
			t.Fatal(err)
		}
		if _, err := b.IssueApproved(ctx, broker.IssueApprovedInput{AccessRequestID: out.Pending.RequestID, Source: audit.SourceStepFunctions}); err != nil {
			t.Fatal(err)
		}
		expect(t, roleOf("rw"), "secretsmanager:GetSecretValue", map[string]string{
			"alice": iamsim.Allowed, "bob": iamsim.ExplicitlyDenied, "carol": iamsim.ExplicitlyDenied, "dave": iamsim.ExplicitlyDenied})
		functionsManage(t, roleOf("rw"))
	})

	t.Run("with two overlapping ro grants both requesters read", func(t *testing.T) {
		ask(t, people(t)["carol"], "ro", "INC-R2")
		expect(t, roleOf("ro"), "secretsmanager:GetSecretValue", map[string]string{
			"dave": iamsim.Allowed, "carol": iamsim.Allowed, "erin": iamsim.ExplicitlyDenied, "alice": iamsim.ExplicitlyDenied})
	})

	t.Run("once one grant has ended only the other's requester reads", func(t *testing.T) {
		db := f.super(t)
		if _, err := db.Exec(ctx, `UPDATE db_admin.firefighter_grant SET issued_at = now() - interval '2 hours', expires_at = now() - interval '1 second'
			WHERE role = $1 AND incident_id = 'INC-R1'`, roleOf("ro")); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Sweep(ctx, "sweep-1", audit.SourceSchedule); err != nil {
			t.Fatal(err)
		}
		expect(t, roleOf("ro"), "secretsmanager:GetSecretValue", map[string]string{
			"dave": iamsim.ExplicitlyDenied, "carol": iamsim.Allowed})
		functionsManage(t, roleOf("ro"))
	})

	t.Run("a revoked grant's requester reads no more", func(t *testing.T) {
		if _, err := b.Revoke(ctx, broker.RevokeInput{Role: "rw", IncidentID: "INC-W1", Caller: verified(t, people(t)["alice"], "DELETE", "/access/rw", nil),
			Source: audit.SourceAPI}); err != nil {
			t.Fatal(err)
		}
		expect(t, roleOf("rw"), "secretsmanager:GetSecretValue", map[string]string{"alice": iamsim.ExplicitlyDenied})
		functionsManage(t, roleOf("rw"))
	})

	t.Run("a reader is denied from its grant's end on, before any rewrite", func(t *testing.T) {
		name := broker.SecretName(f.secretPrefix, roleOf("ro"))
		pol, err := smc.GetResourcePolicy(ctx, &sm.GetResourcePolicyInput{SecretId: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		p := ps["carol"]
		later := time.Now().Add(3 * time.Hour).UTC().Format(time.RFC3339)
		res := iamsim.Evaluate(t, []iamsim.Request{{Principal: p.arn, Action: "secretsmanager:GetSecretValue", Resource: aws.ToString(pol.ARN), Account: awstest.AccountID,
			Context:  map[string]string{"aws:PrincipalArn": p.roleARN, "aws:userid": p.userID, "aws:PrincipalAccount": awstest.AccountID, "aws:CurrentTime": later},
			Identity: p.policies, ResourcePolicy: aws.ToString(pol.ResourcePolicy)}})
		if res[0] != iamsim.ExplicitlyDenied {
			t.Errorf("carol's read 3 hours later = %s; want %s (policy %s)", res[0], iamsim.ExplicitlyDenied, strings.TrimSpace(aws.ToString(pol.ResourcePolicy)))
		}
	})
}
