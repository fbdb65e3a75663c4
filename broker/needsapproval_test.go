package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

// TestTheDatabaseRowSaysWhichRolesNeedApproval: a DBA who makes ro need a second
// person (db_admin.firefighter_role.needs_approval) is followed by the broker on the
// next request, whatever its policy's default says: ro is filed as a request and waits,
// instead of being issued at once (which the database would refuse, FFB07).
func TestTheDatabaseRowSaysWhichRolesNeedApproval(t *testing.T) {
	ctx := context.Background()
	const prefix = "needsappr"
	f := newFixture(t, prefix)
	d := f.deps(t)
	b, err := broker.New(broker.Config{
		Policy: broker.DefaultPolicy(prefix), DB: d.db, Secrets: d.secrets, Audit: d.sink, Workflow: newMotoWorkflow(t),
		Target: broker.Target{Host: shared.Cluster.Host, Port: shared.Cluster.Port, DBName: f.DB, SSLMode: "disable"},
		Proofs: newProofs(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	for role, want := range map[string]bool{"ro": false, "rw": true, f.FirefighterRW: true, "nonsense": false} {
		if got, err := b.NeedsApproval(ctx, role); err != nil || got != want {
			t.Errorf("NeedsApproval(%s) = %v, %v; want %v (the bootstrap's rows)", role, got, err, want)
		}
	}
	if _, err := f.super(t).Exec(ctx, `UPDATE db_admin.firefighter_role SET needs_approval = true WHERE kind = 'ro'`); err != nil {
		t.Fatal(err)
	}
	if got, err := b.NeedsApproval(ctx, "ro"); err != nil || !got {
		t.Errorf("NeedsApproval(ro) after the DBA's change = %v, %v; want true", got, err)
	}
	body := []byte(`{"role":"ro","incident_id":"INC-N1"}`)
	out, err := b.Submit(ctx, broker.SubmitInput{Body: body, Caller: caller(t, "alice", "POST", "/access", body, time.Now()),
		RequestID: "req-needs", Source: audit.SourceAPI})
	if err != nil || out.Pending == nil || out.Grant != nil {
		t.Fatalf("Submit(ro) with ro needing approval = %+v, %v; want a pending request", out, err)
	}
	if _, err := b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-N2"}, Requester: alice,
		RequesterKey: alice, Source: audit.SourceAPI}); broker.ErrorCode(err) != broker.CodeForbidden {
		t.Errorf("Issue(ro) with ro needing approval = %v; want forbidden", err)
	}
}
