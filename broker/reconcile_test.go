package broker_test

import (
	"context"
	"sync"
	"testing"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

// countingDB counts the role locks taken through the real store, per role.
type countingDB struct {
	broker.Database
	mu    sync.Mutex
	locks map[string]int
}

func (d *countingDB) WithRoleLock(ctx context.Context, role string, fn func(context.Context, broker.RoleState) error) error {
	d.mu.Lock()
	d.locks[role]++
	d.mu.Unlock()
	return d.Database.WithRoleLock(ctx, role, fn)
}

// countingSecrets counts the reads of a role's current secret through the real store.
type countingSecrets struct {
	broker.Secrets
	mu    sync.Mutex
	reads map[string]int
}

func (s *countingSecrets) Current(ctx context.Context, role string) (broker.SecretValue, broker.SecretRef, error) {
	s.mu.Lock()
	s.reads[role]++
	s.mu.Unlock()
	return s.Secrets.Current(ctx, role)
}

// reset zeroes both counts.
func resetCounts(db *countingDB, sec *countingSecrets) {
	db.mu.Lock()
	db.locks = map[string]int{}
	db.mu.Unlock()
	sec.mu.Lock()
	sec.reads = map[string]int{}
	sec.mu.Unlock()
}

// A sweep and a revoke reconcile each role once: one lock of the role and one read
// of its secret per role per pass, whether the pass expired the role or not.
func TestSweepAndRevokeReconcileEachRoleOnce(t *testing.T) {
	f := newFixture(t, "once")
	ctx := context.Background()
	d := f.deps(t)
	db := &countingDB{Database: d.db, locks: map[string]int{}}
	sec := &countingSecrets{Secrets: d.secrets, reads: map[string]int{}}
	d.db, d.secrets = db, sec
	b := f.broker(t, d)
	for _, in := range []broker.IssueInput{
		{Request: broker.Request{Role: "ro", IncidentID: "INC-O1"}, Requester: alice, RequesterKey: alice, Source: audit.SourceAPI},
		{Request: broker.Request{Role: "rw", IncidentID: "INC-O2"}, Requester: alice, RequesterKey: alice, Source: audit.SourceAPI},
	} {
		if _, err := f.issue(t, b, in); err != nil {
			t.Fatal(err)
		}
	}
	check := func(t *testing.T, pass string, want map[string]int) {
		t.Helper()
		for _, role := range []string{f.FirefighterRO, f.FirefighterRW} {
			if got := db.locks[role]; got != want[role] {
				t.Errorf("%s: WithRoleLock(%s) called %d times; want %d", pass, role, got, want[role])
			}
			if got := sec.reads[role]; got != want[role] {
				t.Errorf("%s: Secrets.Current(%s) called %d times; want %d", pass, role, got, want[role])
			}
		}
	}

	// ro's grant reaches its expiry; rw's stays live.
	if _, err := f.super(t).Exec(ctx, `UPDATE db_admin.firefighter_grant SET issued_at = issued_at - interval '3 hours',
		expires_at = expires_at - interval '3 hours' WHERE role = $1`, f.FirefighterRO); err != nil {
		t.Fatal(err)
	}
	resetCounts(db, sec)
	out, err := b.Sweep(ctx, "sweep-once", audit.SourceSchedule)
	if err != nil || len(out.Expired) != 1 || out.Expired[0].Role != f.FirefighterRO || out.Expired[0].SecretVersion == "" {
		t.Fatalf("Sweep = %+v, %v; want ro expired with its tombstone's version", out, err)
	}
	check(t, "sweep expiring ro", map[string]int{f.FirefighterRO: 1, f.FirefighterRW: 1})
	if cur, version, _ := f.current(t, f.FirefighterRO); !cur.IsTombstone() || version != out.Expired[0].SecretVersion {
		t.Errorf("ro's AWSCURRENT after the sweep = %v at %s; want the tombstone %s", cur, version, out.Expired[0].SecretVersion)
	}

	resetCounts(db, sec)
	rev, err := b.Revoke(ctx, broker.RevokeInput{Role: "rw", IncidentID: "INC-O2", Caller: broker.Caller{ARN: alice, Key: alice}, Source: audit.SourceAPI})
	if err != nil || rev.SecretVersion == "" {
		t.Fatalf("Revoke(rw) = %+v, %v; want rw tombstoned", rev, err)
	}
	check(t, "revoke of rw", map[string]int{f.FirefighterRW: 1})

	resetCounts(db, sec)
	if out, err := b.Sweep(ctx, "sweep-idle", audit.SourceSchedule); err != nil || len(out.Expired) != 0 || len(out.Repaired) != 0 {
		t.Fatalf("Sweep with nothing to do = %+v, %v; want nothing", out, err)
	}
	check(t, "sweep with nothing to do", map[string]int{f.FirefighterRO: 1, f.FirefighterRW: 1})
}
