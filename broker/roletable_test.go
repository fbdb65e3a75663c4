package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

// unreadableRoleTable takes the broker login's EXECUTE on db_admin.firefighter_roles()
// away (as a cluster whose SQL predates the function, or a grant lost in drift): the
// broker can no longer read which roles need a second person.
func unreadableRoleTable(t *testing.T, f *fixture) {
	t.Helper()
	if _, err := f.super(t).Exec(context.Background(),
		fmt.Sprintf(`REVOKE EXECUTE ON FUNCTION db_admin.firefighter_roles() FROM %q`, f.Broker)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.broker(t, f.deps(t)).NeedsApproval(context.Background(), "rw"); err == nil {
		t.Fatal("NeedsApproval(rw) read the role table after its EXECUTE was revoked")
	}
}

// TestAskingFailsClosedWhenTheRoleTableCannotBeRead: when the broker cannot read
// which roles need approval, a request is refused and nothing is issued; it never
// falls back to a default that lets ro, or rw, through without the table.
func TestAskingFailsClosedWhenTheRoleTableCannotBeRead(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "rtclosed")
	d := f.deps(t)
	b, err := broker.New(broker.Config{
		Policy: broker.DefaultPolicy(f.vars.Prefix), DB: d.db, Secrets: d.secrets, Audit: d.sink, Workflow: newMotoWorkflow(t),
		Target: broker.Target{Host: shared.Cluster.Host, Port: shared.Cluster.Port, DBName: f.DB, SSLMode: "disable"},
		Proofs: newProofs(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	unreadableRoleTable(t, f)
	dbBefore, smBefore := f.dbState(t), f.secretsState(t)
	for _, role := range []string{"ro", "rw"} {
		body := []byte(fmt.Sprintf(`{"role":%q,"incident_id":"INC-RT1"}`, role))
		out, err := b.Submit(ctx, broker.SubmitInput{Body: body, Caller: caller(t, "alice", "POST", "/access", body, time.Now()),
			RequestID: "req-rt-" + role, Source: audit.SourceAPI})
		if err == nil || out.Grant != nil || out.Pending != nil {
			t.Errorf("Submit(%s) with the role table unreadable = %+v, %v; want a refusal", role, out, err)
		}
		if code := broker.ErrorCode(err); code != broker.CodeInternal {
			t.Errorf("Submit(%s) code = %q; want %q (the read failed: the caller's request is not at fault)", role, code, broker.CodeInternal)
		}
		if _, err := b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: role, IncidentID: "INC-RT2"}, Requester: alice,
			RequesterKey: alice, Source: audit.SourceAPI}); broker.ErrorCode(err) != broker.CodeInternal {
			t.Errorf("Issue(%s) with the role table unreadable = %v; want %q", role, err, broker.CodeInternal)
		}
	}
	if got := f.dbState(t); got != dbBefore {
		t.Errorf("database changed by refused requests:\n%s\nwant\n%s", got, dbBefore)
	}
	if got := f.secretsState(t); got != smBefore {
		t.Errorf("secrets changed by refused requests:\n%s\nwant\n%s", got, smBefore)
	}
}

// TestRevokeTakesBackWhenTheRoleTableCannotBeRead: taking access away must not depend
// on reading which roles need approval. A live grant revoked while the broker cannot
// read db_admin.firefighter_roles() still ends: its password stops working and the
// revoke answers success. (Before the role table was read, revoke of rw named the
// role; now a failed read leaves the grant live and its password working.)
func TestRevokeTakesBackWhenTheRoleTableCannotBeRead(t *testing.T) {
	for _, kind := range []string{"ro", "rw"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, "rtrevoke"+kind)
			b := f.broker(t, f.deps(t))
			role := f.vars.Prefix + "_firefighter_" + kind
			in := broker.IssueInput{Request: broker.Request{Role: kind, IncidentID: "INC-RT3"}, Requester: alice, RequesterKey: alice, Source: audit.SourceAPI}
			if _, err := f.issue(t, b, in); err != nil {
				t.Fatal(err)
			}
			v, _, _ := f.current(t, role)
			unreadableRoleTable(t, f)

			out, err := b.Revoke(ctx, broker.RevokeInput{Role: kind, IncidentID: "INC-RT3", Caller: broker.Caller{ARN: alice, Key: alice}, Source: audit.SourceAPI})
			if err != nil || out.GrantsClosed != 1 || !out.AllGrantsEnded {
				t.Errorf("Revoke(%s) with the role table unreadable = %+v, %v; want 1 grant closed, all ended", kind, out, err)
			}
			if c, err := loginWith(ctx, v); err == nil {
				c.Close(ctx)
				t.Errorf("login with the revoked %s password still succeeds", kind)
			}
		})
	}
}

// TestSweepEndsAnExpiredGrantWhenTheRoleTableCannotBeRead: an ro grant that reaches
// its expiry while another person's ro grant is live ends at the sweep, with the
// role's password rotated so that the expired holder's copy stops working, even when
// the broker cannot read db_admin.firefighter_roles(). A failed read must not keep
// the expired holder in.
func TestSweepEndsAnExpiredGrantWhenTheRoleTableCannotBeRead(t *testing.T) {
	ctx := context.Background()
	const carol = "arn:aws:iam::123456789012:user/carol"
	f := newFixture(t, "rtsweep")
	b := f.broker(t, f.deps(t))
	a, err := b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-RT4"}, Requester: alice, RequesterKey: alice, Source: audit.SourceAPI})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-RT5"}, Requester: carol, RequesterKey: carol, Source: audit.SourceAPI}); err != nil {
		t.Fatal(err)
	}
	known, _, _ := f.current(t, f.FirefighterRO) // the role's password, which alice could read while her grant was live
	if _, err := f.super(t).Exec(ctx, `UPDATE db_admin.firefighter_grant SET issued_at = issued_at - interval '3 hours',
		expires_at = expires_at - interval '3 hours' WHERE grant_id = $1`, a.GrantID); err != nil {
		t.Fatal(err)
	}
	unreadableRoleTable(t, f)

	sw, err := b.Sweep(ctx, "sweep-rt", audit.SourceSchedule)
	if err != nil || len(sw.Ended) != 1 || sw.Ended[0] != a.GrantID {
		t.Errorf("Sweep with the role table unreadable = %+v, %v; want alice's grant %s ended", sw, err, a.GrantID)
	}
	if c, err := loginWith(ctx, known); err == nil {
		c.Close(ctx)
		t.Error("the ro password alice held still logs in after her grant's expiry")
	}
}
