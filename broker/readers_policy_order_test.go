package broker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/secretsmanager"
	"github.com/ffbroker/ffbroker/internal/awstest"
	"github.com/ffbroker/ffbroker/internal/iamsim"
)

// readersBroker is a broker of fixture f whose store keeps the secrets' resource
// policies (as the functions do), reaching moto through api.
func readersBroker(t *testing.T, f *fixture, api secretsmanager.API) *broker.Broker {
	t.Helper()
	d := f.deps(t)
	d.sstore = secretsmanager.New(api, f.secretPrefix, map[string]string{"ffbroker:cluster": "test"}).WithFunctionRoles(issueFnRole, expireFnRole)
	d.secrets = d.sstore
	b, err := broker.New(broker.Config{
		Policy: broker.DefaultPolicy(f.vars.Prefix), DB: d.db, Secrets: d.secrets, Audit: d.sink, Workflow: newMotoWorkflow(t),
		Target: broker.Target{Host: shared.Cluster.Host, Port: shared.Cluster.Port, DBName: f.DB, SSLMode: "disable"},
		Proofs: newProofs(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// onCallPolicy is the template's on-call policy for fixture f.
func onCallPolicy(t *testing.T, f *fixture, prefix string) map[string]any {
	t.Helper()
	tpl := templateOf(t, f, prefix)
	return map[string]any{"OnCallPolicy": tpl.ManagedPolicy(t, "OnCallPolicy")}
}

// promotionWatch is the store's Secrets Manager: each time AWSCURRENT moves to a
// version, it reads that version and the secret's resource policy as they are at
// that moment, which is what an on-call reader polling GetSecretValue meets.
type promotionWatch struct {
	secretsmanager.API
	mu   sync.Mutex
	seen []promoted
}

type promoted struct {
	secretARN, policy string
	value             broker.SecretValue
}

func (w *promotionWatch) UpdateSecretVersionStage(ctx context.Context, in *sm.UpdateSecretVersionStageInput, opts ...func(*sm.Options)) (*sm.UpdateSecretVersionStageOutput, error) {
	out, err := w.API.UpdateSecretVersionStage(ctx, in, opts...)
	if err != nil || aws.ToString(in.VersionStage) != "AWSCURRENT" {
		return out, err
	}
	v, gerr := w.API.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: in.SecretId, VersionStage: aws.String("AWSCURRENT")})
	p, perr := w.API.GetResourcePolicy(ctx, &sm.GetResourcePolicyInput{SecretId: in.SecretId})
	if gerr == nil && perr == nil {
		if sv, err := broker.ParseSecretValue(aws.ToString(v.SecretString)); err == nil {
			w.mu.Lock()
			w.seen = append(w.seen, promoted{secretARN: aws.ToString(v.ARN), policy: aws.ToString(p.ResourcePolicy), value: sv})
			w.mu.Unlock()
		}
	}
	return out, err
}

// The first read-write grant of a deployment: alice's request (Submit) creates the
// rw secret with its tombstone and no resource policy; the issue step makes alice's
// password AWSCURRENT and only then writes the policy. In between (and until the next
// sweep, if that write fails) the secret has no resource policy, and carol, on call
// with no request, reads the rw password with the on-call policy alone. What must
// hold: whenever AWSCURRENT holds a password, the secret's policy denies everyone but
// the live grants' requesters and the functions.
func TestFirstRWPasswordIsNeverCurrentWithoutThePolicy(t *testing.T) {
	ctx := context.Background()
	const prefix = "rdwin"
	f := newFixture(t, prefix)
	watch := &promotionWatch{API: f.sm}
	b := readersBroker(t, f, watch)
	onCall := onCallPolicy(t, f, prefix)
	carol := userPrincipal(t, "carol")

	body, _ := json.Marshal(broker.Request{Role: "rw", IncidentID: "INC-WIN1", Hours: 1, Reason: "stuck orders"})
	out, err := b.Submit(ctx, broker.SubmitInput{Body: body, Caller: verified(t, people(t)["alice"], "POST", "/access", body), Source: audit.SourceAPI})
	if err != nil || out.Pending == nil {
		t.Fatalf("Submit(rw) as alice = %+v, %v; want a pending request", out, err)
	}
	if _, err := f.approver(t).Decide(ctx, decision(t, "bob", out.Pending.RequestID, "approve", "")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.IssueApproved(ctx, broker.IssueApprovedInput{AccessRequestID: out.Pending.RequestID, Source: audit.SourceStepFunctions}); err != nil {
		t.Fatal(err)
	}

	var checked int
	for _, p := range watch.seen {
		if p.value.Username != f.FirefighterRW || p.value.Password.Reveal() == "" {
			continue
		}
		checked++
		res := iamsim.Evaluate(t, []iamsim.Request{{Principal: carol.arn, Action: "secretsmanager:GetSecretValue", Resource: p.secretARN, Account: awstest.AccountID,
			Context: map[string]string{"aws:PrincipalArn": carol.roleARN, "aws:userid": carol.userID, "aws:PrincipalAccount": awstest.AccountID,
				"aws:CurrentTime": time.Now().UTC().Format(time.RFC3339)},
			Identity: onCall, ResourcePolicy: p.policy}})
		if res[0] != iamsim.ExplicitlyDenied {
			t.Errorf("when alice's rw password became AWSCURRENT, carol's GetSecretValue = %s; want %s (resource policy then: %q)",
				res[0], iamsim.ExplicitlyDenied, p.policy)
		}
	}
	if checked == 0 {
		t.Fatalf("no rw password was seen becoming AWSCURRENT")
	}
}

// Secrets Manager holds at most 50 tags per secret (moto has no such limit), and each
// reader record is one. One requester files read-write requests for 49 incidents (no
// approval needed to file one): a pending request keeps no record (the issue step
// records its requester as the grant goes live), and one person holds at most
// MaxLiveGrantsPerPerson live grants of a role, so a fourth is refused with 409
// too_many_grants, at Submit and at the issue step. Other people's requests still go
// through. What must hold: what one requester does keeps the secret within 50 tags.
func TestOneRequesterCannotFillTheSecretsTags(t *testing.T) {
	ctx := context.Background()
	const prefix = "rdtag"
	f := newFixture(t, prefix)
	b := readersBroker(t, f, f.sm)
	submit := func(who, incident string) (broker.SubmitOutput, error) {
		body, _ := json.Marshal(broker.Request{Role: "rw", IncidentID: incident, Hours: 1, Reason: "x"})
		return b.Submit(ctx, broker.SubmitInput{Body: body, Caller: verified(t, people(t)[who], "POST", "/access", body), Source: audit.SourceAPI})
	}
	approver := f.approver(t)
	issue := func(id string) (broker.IssueOutput, error) {
		if _, err := approver.Decide(ctx, decision(t, "bob", id, "approve", "")); err != nil {
			t.Fatal(err)
		}
		return b.IssueApproved(ctx, broker.IssueApprovedInput{AccessRequestID: id, Source: audit.SourceStepFunctions})
	}
	tags := func() (all, readers int) {
		d, err := f.sm.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String(broker.SecretName(f.secretPrefix, f.FirefighterRW))})
		var missing *smtypes.ResourceNotFoundException
		if errors.As(err, &missing) {
			return 0, 0 // no secret yet: nothing was issued
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range d.Tags {
			if strings.HasPrefix(aws.ToString(tag.Key), "ffbroker:reader:") {
				readers++
			}
		}
		return len(d.Tags), readers
	}

	var pending []string
	for i := range 49 {
		out, err := submit("mallory", fmt.Sprintf("INC-TAG%02d", i))
		if err != nil || out.Pending == nil {
			t.Fatalf("Submit(rw, %d) as mallory = %+v, %v; want a pending request", i, out, err)
		}
		pending = append(pending, out.Pending.RequestID)
	}
	if all, readers := tags(); readers != 0 || all > 50 {
		t.Errorf("after 49 pending rw requests the rw secret has %d tags, %d reader records; want no reader record", all, readers)
	}
	for _, id := range pending[:broker.MaxLiveGrantsPerPerson] {
		if _, err := issue(id); err != nil {
			t.Fatalf("IssueApproved(%s) for mallory: %v", id, err)
		}
	}
	if _, err := issue(pending[broker.MaxLiveGrantsPerPerson]); broker.ErrorCode(err) != broker.CodeTooManyGrants {
		t.Errorf("issue of mallory's approved request beyond %d live grants: %v (code %q); want %q",
			broker.MaxLiveGrantsPerPerson, err, broker.ErrorCode(err), broker.CodeTooManyGrants)
	}
	if _, err := submit("mallory", "INC-TAG-MORE"); broker.ErrorCode(err) != broker.CodeTooManyGrants {
		t.Errorf("Submit(rw) by mallory with %d live grants: %v (code %q); want %q",
			broker.MaxLiveGrantsPerPerson, err, broker.ErrorCode(err), broker.CodeTooManyGrants)
	}

	out, err := submit("alice", "INC-TAG-ALICE")
	if err != nil || out.Pending == nil {
		t.Fatalf("Submit(rw) as alice = %+v, %v; want a pending request", out, err)
	}
	if _, err := issue(out.Pending.RequestID); err != nil {
		t.Fatalf("IssueApproved for alice: %v; want her grant", err)
	}
	if all, readers := tags(); all > 50 || readers != broker.MaxLiveGrantsPerPerson+1 {
		t.Errorf("after mallory's %d grants and alice's the rw secret has %d tags, %d reader records; want %d reader records, at most 50 tags",
			broker.MaxLiveGrantsPerPerson, all, readers, broker.MaxLiveGrantsPerPerson+1)
	}
}

// failingPolicy is the store's Secrets Manager with PutResourcePolicy failing while
// fail is set.
type failingPolicy struct {
	*promotionWatch
	fail bool
}

func (p *failingPolicy) PutResourcePolicy(ctx context.Context, in *sm.PutResourcePolicyInput, opts ...func(*sm.Options)) (*sm.PutResourcePolicyOutput, error) {
	if p.fail {
		return nil, errors.New("PutResourcePolicy: service unavailable")
	}
	return p.promotionWatch.PutResourcePolicy(ctx, in, opts...)
}

// When the policy naming the new reader cannot be written, nothing is issued: the
// issue step answers unavailable (audited), no password becomes AWSCURRENT, and the
// step's retry resumes and issues with the policy in place.
func TestNoPolicyNoCurrentPassword(t *testing.T) {
	ctx := context.Background()
	const prefix = "rdfail"
	f := newFixture(t, prefix)
	api := &failingPolicy{promotionWatch: &promotionWatch{API: f.sm}}
	b := readersBroker(t, f, api)

	body, _ := json.Marshal(broker.Request{Role: "rw", IncidentID: "INC-FAIL1", Hours: 1, Reason: "stuck orders"})
	out, err := b.Submit(ctx, broker.SubmitInput{Body: body, Caller: verified(t, people(t)["alice"], "POST", "/access", body), Source: audit.SourceAPI})
	if err != nil || out.Pending == nil {
		t.Fatalf("Submit(rw) as alice = %+v, %v; want a pending request", out, err)
	}
	if _, err := f.approver(t).Decide(ctx, decision(t, "bob", out.Pending.RequestID, "approve", "")); err != nil {
		t.Fatal(err)
	}
	api.fail = true
	before := len(f.audit.Records(t))
	_, err = b.IssueApproved(ctx, broker.IssueApprovedInput{AccessRequestID: out.Pending.RequestID, Source: audit.SourceStepFunctions})
	if broker.ErrorCode(err) != broker.CodeUnavailable {
		t.Fatalf("IssueApproved with the policy write failing: %v (code %q); want %q", err, broker.ErrorCode(err), broker.CodeUnavailable)
	}
	for _, p := range api.seen {
		if p.value.Password.Reveal() != "" {
			t.Errorf("a password became AWSCURRENT though its policy was not written (policy then: %q)", p.policy)
		}
	}
	failed := false
	for _, r := range f.audit.Records(t)[before:] {
		failed = failed || (r["event"] == string(audit.EventPasswordIssued) && r["outcome"] == string(audit.OutcomeFailure) && r["error_code"] == "unavailable")
	}
	if !failed {
		t.Errorf("no %s failure record with error_code unavailable", audit.EventPasswordIssued)
	}

	api.fail = false
	if _, err := b.IssueApproved(ctx, broker.IssueApprovedInput{AccessRequestID: out.Pending.RequestID, Source: audit.SourceStepFunctions}); err != nil {
		t.Fatalf("retried IssueApproved: %v; want the grant", err)
	}
	issued := 0
	for _, p := range api.seen {
		if p.value.Username == f.FirefighterRW && p.value.Password.Reveal() != "" {
			issued++
			if !strings.Contains(p.policy, "OnlyLiveGrantsRead") {
				t.Errorf("alice's password became AWSCURRENT under policy %q; want one naming its readers", p.policy)
			}
		}
	}
	if issued != 1 {
		t.Errorf("%d rw passwords became AWSCURRENT after the retry; want 1", issued)
	}
}
