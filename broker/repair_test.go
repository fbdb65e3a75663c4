package broker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// An issue stopped after each of its steps; the next sweep (or a retry) leaves a
// consistent state: while the role has a live grant AWSCURRENT logs in, otherwise it
// is a tombstone or the version it was, and no pending label is left on a version
// without a live grant.
func TestSweepRepairsHalfDoneIssues(t *testing.T) {
	ctx := context.Background()
	gr := func(id, incident string) broker.GrantRequest {
		return broker.GrantRequest{GrantID: id, Role: "", Hours: 1, IncidentID: incident, Requester: alice, RequesterKey: alice}
	}
	tests := []struct {
		name string
		stop func(t *testing.T, f *fixture, d deps, r broker.GrantRequest)
		want string // what the sweep repairs
	}{
		{"after the pending version", func(t *testing.T, f *fixture, d deps, r broker.GrantRequest) {
			res, err := d.store.ReserveGrant(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			pw, _ := broker.GeneratePassword(nil, 40)
			if _, _, err := d.sstore.PutPending(ctx, r.Role, r.GrantID, broker.SecretValue{Username: r.Role, Password: pw,
				ExpiresAt: res.ExpiresAt, GrantID: r.GrantID, Status: broker.SecretActive}); err != nil {
				t.Fatal(err)
			}
		}, "lost its AWSPENDING label"},
		{"after the commit, before AWSCURRENT moved", func(t *testing.T, f *fixture, d deps, r broker.GrantRequest) {
			res, err := d.store.ReserveGrant(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			pw, _ := broker.GeneratePassword(nil, 40)
			_, stored, err := d.sstore.PutPending(ctx, r.Role, r.GrantID, broker.SecretValue{Host: shared.Cluster.Host, Port: shared.Cluster.Port,
				DBName: f.DB, Username: r.Role, Password: pw, ExpiresAt: res.ExpiresAt, GrantID: r.GrantID, Status: broker.SecretActive})
			if err != nil {
				t.Fatal(err)
			}
			v, _ := broker.GenerateVerifier(nil, stored.Password)
			if _, err := d.store.ActivateGrant(ctx, r, v, nil); err != nil { // committed, nothing published
				t.Fatal(err)
			}
		}, "made AWSCURRENT"},
		{"after AWSCURRENT moved, before the commit", func(t *testing.T, f *fixture, d deps, r broker.GrantRequest) {
			res, err := d.store.ReserveGrant(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			pw, _ := broker.GeneratePassword(nil, 40)
			if _, _, err := d.sstore.PutPending(ctx, r.Role, r.GrantID, broker.SecretValue{Username: r.Role, Password: pw,
				ExpiresAt: res.ExpiresAt, GrantID: r.GrantID, Status: broker.SecretActive}); err != nil {
				t.Fatal(err)
			}
			if _, err := d.sstore.Promote(ctx, r.Role, r.GrantID); err != nil { // published, the transaction never committed
				t.Fatal(err)
			}
		}, "made AWSCURRENT"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fmt.Sprintf("crash%d", i))
			d := f.deps(t)
			b := f.broker(t, d)
			// A live grant from an earlier incident: the state to keep working.
			if _, err := b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-OLD"}, Requester: alice, RequesterKey: alice, Source: audit.SourceAPI}); err != nil {
				t.Fatal(err)
			}
			r := gr(fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i), "INC-NEW")
			r.Role = f.FirefighterRO
			tc.stop(t, f, d, r)

			out, err := b.Sweep(ctx, "sweep", audit.SourceSchedule)
			if err != nil {
				t.Fatalf("Sweep error = %v", err)
			}
			if len(out.Repaired) != 1 || !strings.Contains(out.Repaired[0], tc.want) {
				t.Errorf("Sweep repaired %q; want one repair that %s", out.Repaired, tc.want)
			}
			consistent(t, f, d.store, f.FirefighterRO, "")
			if pending, err := d.sstore.PendingVersions(ctx, f.FirefighterRO); err != nil {
				t.Fatal(err)
			} else if grants, _ := d.store.LiveGrants(ctx); len(pending) > 0 && !hasGrant(grants, pending[0]) {
				t.Errorf("pending version %s left without a live grant", pending[0])
			}
			if again, err := b.Sweep(ctx, "sweep-2", audit.SourceSchedule); err != nil || len(again.Repaired)+len(again.Expired) != 0 {
				t.Errorf("second sweep = %+v, %v; want nothing to do", again, err)
			}
		})
	}
}

func hasGrant(grants []broker.Grant, id string) bool {
	for _, g := range grants {
		if g.ID == id {
			return true
		}
	}
	return false
}

// Sweeps and issues interleaved: at least 20 of each, concurrently. Every call ends in
// success or a retryable error, and afterwards the role is consistent.
func TestSweepsAndIssuesInterleaved(t *testing.T) {
	f := newFixture(t, "mix")
	ctx := context.Background()
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := 0; i < n; i++ {
		di, ds := f.deps(t), f.deps(t)
		bi, bs := f.broker(t, di), f.broker(t, ds)
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			defer di.store.Close(context.Background())
			_, err := bi.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: fmt.Sprintf("INC-M%d", i)}, Requester: alice, RequesterKey: fmt.Sprintf("%s-%d", alice, i), Source: audit.SourceAPI}) // one person holds 3 grants
			if err != nil && !broker.Retryable(err) {
				errs <- fmt.Errorf("issue %d: %w", i, err)
			}
			if i%4 == 0 { // some grants end early, so the sweeps have work
				if _, err := f.super(t).Exec(ctx, `UPDATE db_admin.firefighter_grant SET issued_at = issued_at - interval '3 hours', expires_at = expires_at - interval '3 hours'
					WHERE incident_id = $1`, fmt.Sprintf("INC-M%d", i)); err != nil {
					errs <- err
				}
			}
		}(i)
		go func(i int) {
			defer wg.Done()
			defer ds.store.Close(context.Background())
			if _, err := bs.Sweep(ctx, fmt.Sprintf("sweep-%d", i), audit.SourceSchedule); err != nil && !broker.Retryable(err) {
				errs <- fmt.Errorf("sweep %d: %w", i, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	d := f.deps(t)
	b := f.broker(t, d)
	if _, err := b.Sweep(ctx, "final", audit.SourceSchedule); err != nil {
		t.Fatal(err)
	}
	consistent(t, f, d.store, f.FirefighterRO, "")
	st, err := d.store.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.LiveGrants == 0 && s.ValidUntil.After(time.Unix(0, 0)) {
			t.Errorf("%s has no live grant but is valid until %v", s.Role, s.ValidUntil)
		}
	}
}

// A later, shorter grant ends while an earlier, longer one is live: the role held the
// short grant's password, which must not work past the short grant's end, so the sweep
// ends the short grant and rotates the password for the long one: AWSCURRENT is a new
// version that logs in, and the short grant's password is refused.
func TestSweepRotatesWhenAShorterGrantEnds(t *testing.T) {
	f := newFixture(t, "overlap")
	ctx := context.Background()
	d := f.deps(t)
	b := f.broker(t, d)
	long, err := b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-LONG", Hours: 2}, Requester: alice, RequesterKey: alice, Source: audit.SourceAPI})
	if err != nil {
		t.Fatal(err)
	}
	short, err := b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-SHORT", Hours: 1}, Requester: alice, RequesterKey: alice, Source: audit.SourceAPI})
	if err != nil {
		t.Fatal(err)
	}
	old, _, _ := f.current(t, f.FirefighterRO)
	if _, err := f.super(t).Exec(ctx, `UPDATE db_admin.firefighter_grant SET issued_at = issued_at - interval '90 minutes',
		expires_at = expires_at - interval '90 minutes' WHERE grant_id = $1`, short.GrantID); err != nil {
		t.Fatal(err)
	}
	out, err := b.Sweep(ctx, "sweep", audit.SourceSchedule)
	if err != nil || len(out.Expired)+len(out.Repaired) != 0 || strings.Join(out.Ended, ",") != short.GrantID {
		t.Errorf("Sweep = %+v, %v; want the short grant ended, nothing expired or repaired", out, err)
	}
	cur, version, _ := f.current(t, f.FirefighterRO)
	if version == short.GrantID || version == long.GrantID || cur.GrantID != long.GrantID {
		t.Errorf("AWSCURRENT = version %s of grant %s; want a new version for the long grant %s", version, cur.GrantID, long.GrantID)
	}
	if c, err := loginWith(ctx, cur); err != nil {
		t.Errorf("login with the rotated password: %v", err)
	} else {
		c.Close(ctx)
	}
	if _, err := loginWith(ctx, old); pgtest.SQLState(err) != "28P01" {
		t.Errorf("login with the ended grant's password: %v; want SQLSTATE 28P01", err)
	}
	consistent(t, f, d.store, f.FirefighterRO, "")
}
