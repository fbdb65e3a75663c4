package broker_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/internal/awstest"
	"github.com/ffbroker/ffbroker/internal/iamsim"
)

// rotationWatch is the broker's secrets store with a look at the secret's resource
// policy each time a new password version is written (AWSPENDING) and made current.
type rotationWatch struct {
	broker.Secrets
	mu      sync.Mutex
	watch   func(stage string)
	enabled bool
}

func (w *rotationWatch) look(stage string) {
	w.mu.Lock()
	on := w.enabled
	w.mu.Unlock()
	if on {
		w.watch(stage)
	}
}

func (w *rotationWatch) PutPending(ctx context.Context, role, versionID string, v broker.SecretValue) (broker.SecretRef, broker.SecretValue, error) {
	ref, stored, err := w.Secrets.PutPending(ctx, role, versionID, v)
	if err == nil {
		w.look("AWSPENDING")
	}
	return ref, stored, err
}

func (w *rotationWatch) Promote(ctx context.Context, role, versionID string) (broker.SecretRef, error) {
	ref, err := w.Secrets.Promote(ctx, role, versionID)
	if err == nil {
		w.look("AWSCURRENT")
	}
	return ref, err
}

// TestRevokedHolderCannotReadTheRotatedPassword: when a revoke ends alice's ro grant
// while carol's is live, the broker writes a new password for carol. From the moment
// that password exists in the secret (AWSPENDING, then AWSCURRENT), the secret's
// resource policy must already deny alice: otherwise alice, polling GetSecretValue,
// reads the password that keeps carol's access and logs in after her revoke. Today the
// policy is rewritten only at the end of the revoke (reconcile), after the new
// version is current, the sessions are terminated and the notices are sent; and not
// at all when the session check after the termination fails (a login of alice's with
// the new password in that window makes it fail), until the next sweep.
func TestRevokedHolderCannotReadTheRotatedPassword(t *testing.T) {
	ctx := context.Background()
	const prefix = "rotread"
	f := newFixture(t, prefix)
	d := f.deps(t)
	d.sstore.WithFunctionRoles(issueFnRole, expireFnRole)
	w := &rotationWatch{Secrets: d.secrets}
	b, err := broker.New(broker.Config{
		Policy: broker.DefaultPolicy(prefix), DB: d.db, Secrets: w, Audit: d.sink,
		Target: broker.Target{Host: shared.Cluster.Host, Port: shared.Cluster.Port, DBName: f.DB, SSLMode: "disable"},
		Proofs: newProofs(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	tpl := templateOf(t, f, prefix)
	alice := userPrincipal(t, "alice")
	alice.policies = map[string]any{"OnCallPolicy": tpl.ManagedPolicy(t, "OnCallPolicy")}
	smc := sm.NewFromConfig(shared.Moto(t).Config(ctx))
	aliceReads := func(t *testing.T) string {
		t.Helper()
		pol, err := smc.GetResourcePolicy(ctx, &sm.GetResourcePolicyInput{SecretId: aws.String(broker.SecretName(f.secretPrefix, f.FirefighterRO))})
		if err != nil {
			t.Fatal(err)
		}
		return iamsim.Evaluate(t, []iamsim.Request{{Principal: alice.arn, Action: "secretsmanager:GetSecretValue", Resource: aws.ToString(pol.ARN),
			Account: awstest.AccountID,
			Context: map[string]string{"aws:PrincipalArn": alice.roleARN, "aws:userid": alice.userID, "aws:PrincipalAccount": awstest.AccountID,
				"aws:CurrentTime": time.Now().UTC().Format(time.RFC3339)},
			Identity: alice.policies, ResourcePolicy: aws.ToString(pol.ResourcePolicy)}})[0]
	}
	seen := map[string]string{}
	w.watch = func(stage string) { seen[stage] = aliceReads(t) }

	issue := func(t *testing.T, who, incident string) {
		t.Helper()
		body, _ := json.Marshal(broker.Request{Role: "ro", IncidentID: incident, Hours: 2, Reason: "stuck orders"})
		out, err := b.Submit(ctx, broker.SubmitInput{Body: body, Caller: verified(t, people(t)[who], "POST", "/access", body), Source: audit.SourceAPI})
		if err != nil || out.Grant == nil {
			t.Fatalf("Submit(ro, %s) as %s = %+v, %v; want a grant", incident, who, out, err)
		}
	}
	issue(t, "alice", "INC-A1")
	issue(t, "carol", "INC-C1")
	if r := aliceReads(t); r != iamsim.Allowed {
		t.Fatalf("alice's read of her live grant's secret = %s; want %s", r, iamsim.Allowed)
	}

	w.mu.Lock()
	w.enabled = true
	w.mu.Unlock()
	out, err := b.Revoke(ctx, broker.RevokeInput{Role: "ro", IncidentID: "INC-A1",
		Caller: verified(t, people(t)["alice"], "DELETE", "/access/ro", nil), Source: audit.SourceAPI})
	if err != nil || !out.PasswordRotated {
		t.Fatalf("Revoke(ro, INC-A1) as alice = %+v, %v; want her grant ended and the password rotated for carol", out, err)
	}
	for _, stage := range []string{"AWSPENDING", "AWSCURRENT"} {
		got, ok := seen[stage]
		if !ok {
			t.Fatalf("the revoke wrote no %s version (seen %v)", stage, seen)
		}
		if got != iamsim.ExplicitlyDenied {
			t.Errorf("when carol's new password became %s, alice's GetSecretValue = %s; want %s (her grant was being revoked)",
				stage, got, iamsim.ExplicitlyDenied)
		}
	}
	if r := aliceReads(t); r != iamsim.ExplicitlyDenied {
		t.Errorf("after the revoke alice's read = %s; want %s", r, iamsim.ExplicitlyDenied)
	}
}
