package broker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

// openSessions logs in n times with the role's current secret.
func openSessions(t *testing.T, f *fixture, role string, n int) []*pgx.Conn {
	t.Helper()
	v, _, ok := f.current(t, role)
	if !ok {
		t.Fatal("no current secret")
	}
	conns := make([]*pgx.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range conns {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := loginWith(context.Background(), v)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("open a session as %s: %v", role, err)
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close(context.Background())
		}
	})
	return conns
}

func sessionCount(t *testing.T, f *fixture, role string) int {
	t.Helper()
	var n int
	if err := f.super(t).QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE usename = $1`, role).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRevokeTerminatesEverySession(t *testing.T) {
	tests := []struct {
		kind     string
		sessions int
		limit    int // 0 keeps the role's own limit
	}{
		{"ro", 5, 0},
		{"rw", 3, 0},
		{"ro", 200, 200},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%d", tc.kind, tc.sessions), func(t *testing.T) {
			f := newFixture(t, fmt.Sprintf("rev%s%d", tc.kind, tc.sessions))
			ctx := context.Background()
			b := f.broker(t, f.deps(t))
			role := f.vars.Prefix + "_firefighter_" + tc.kind
			if tc.limit > 0 {
				// For scale: the role's limit and the database's (200 in the role model) raised.
				if _, err := f.super(t).Exec(ctx, fmt.Sprintf(`ALTER ROLE %s CONNECTION LIMIT %d; ALTER DATABASE %q CONNECTION LIMIT -1`, role, tc.limit, f.DB)); err != nil {
					t.Fatal(err)
				}
			}
			in := broker.IssueInput{Request: broker.Request{Role: tc.kind, IncidentID: "INC-42"}, Requester: alice, RequesterKey: alice, Source: audit.SourceAPI}
			if _, err := f.issue(t, b, in); err != nil {
				t.Fatal(err)
			}
			v, _, _ := f.current(t, role)
			conns := openSessions(t, f, role, tc.sessions)
			if got := sessionCount(t, f, role); got != tc.sessions {
				t.Fatalf("open sessions = %d; want %d", got, tc.sessions)
			}
			before := len(f.audit.Records(t))

			out, err := b.Revoke(ctx, broker.RevokeInput{Role: tc.kind, IncidentID: "INC-42", Caller: broker.Caller{ARN: alice, Key: alice}, Source: audit.SourceAPI})
			if err != nil {
				t.Fatalf("Revoke(%s, INC-42) error = %v", tc.kind, err)
			}
			if out.SessionsTerminated != tc.sessions || out.GrantsClosed != 1 || !out.AllGrantsEnded {
				t.Errorf("Revoke = %+v; want %d sessions terminated, 1 grant closed, all grants ended", out, tc.sessions)
			}
			if got := sessionCount(t, f, role); got != 0 {
				t.Errorf("sessions left after revoke = %d; want 0", got)
			}
			for i, c := range conns {
				if _, err := c.Exec(ctx, "SELECT 1"); err == nil {
					t.Errorf("session %d still answers", i)
					break
				}
			}
			if c, err := loginWith(ctx, v); err == nil {
				c.Close(ctx)
				t.Error("login with the revoked password succeeded")
			}
			cur, _, _ := f.current(t, role)
			if cur.Status != broker.SecretExpired || cur.Password.Len() != 0 {
				t.Errorf("secret after revoke = %s; want a tombstone without password", cur)
			}
			recs := f.audit.Records(t)[before:]
			var counts []string
			for _, r := range recs {
				if r["outcome"] == "success" {
					counts = append(counts, fmt.Sprintf("%v %v %v", r["event"], r["grants_closed"], r["sessions_terminated"]))
				}
			}
			want := []string{"grant.ended <nil> <nil>", "password.expired 1 <nil>", fmt.Sprintf("sessions.terminated <nil> %d", tc.sessions)}
			if strings.Join(counts, ",") != strings.Join(want, ",") {
				t.Errorf("audit records = %q; want %q", counts, want)
			}
		})
	}
}

func TestSweepEndsRunningQueriesAndIsIdempotent(t *testing.T) {
	f := newFixture(t, "swp")
	ctx := context.Background()
	b := f.broker(t, f.deps(t))
	for _, in := range []broker.IssueInput{
		{Request: broker.Request{Role: "ro", IncidentID: "INC-S1"}, Requester: alice, RequesterKey: alice, Source: audit.SourceAPI},
		{Request: broker.Request{Role: "rw", IncidentID: "INC-S2"}, Requester: alice, RequesterKey: alice, Source: audit.SourceAPI},
	} {
		if _, err := f.issue(t, b, in); err != nil {
			t.Fatal(err)
		}
	}
	conns := openSessions(t, f, f.FirefighterRO, 3)
	queries := make(chan error, len(conns))
	for _, c := range conns {
		go func(c *pgx.Conn) {
			_, err := c.Exec(ctx, "SELECT pg_sleep(60)")
			queries <- err
		}(c)
	}
	time.Sleep(200 * time.Millisecond) // let the queries start

	// A sweep while both grants are live does nothing.
	if out, err := b.Sweep(ctx, "sweep-0", audit.SourceSchedule); err != nil || len(out.Expired) != 0 {
		t.Fatalf("sweep with live grants = %+v, %v; want nothing expired", out, err)
	}
	// ro's grant reaches its expiry; rw's stays live.
	if _, err := f.super(t).Exec(ctx, `UPDATE db_admin.firefighter_grant SET issued_at = issued_at - interval '3 hours',
		expires_at = expires_at - interval '3 hours' WHERE role = $1`, f.FirefighterRO); err != nil {
		t.Fatal(err)
	}
	out, err := b.Sweep(ctx, "sweep-1", audit.SourceSchedule)
	if err != nil {
		t.Fatalf("Sweep error = %v", err)
	}
	if len(out.Expired) != 1 || out.Expired[0].Role != f.FirefighterRO || out.Expired[0].SessionsTerminated != 3 || out.Expired[0].GrantsClosed != 1 {
		t.Fatalf("Sweep = %+v; want ro expired with 1 grant closed and 3 sessions terminated", out)
	}
	for range conns {
		select {
		case err := <-queries:
			if err == nil {
				t.Error("a running query finished normally; want it terminated")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a running query survived the sweep")
		}
	}
	if cur, _, _ := f.current(t, f.FirefighterRO); cur.Status != broker.SecretExpired {
		t.Errorf("ro secret after sweep = %s; want a tombstone", cur)
	}
	rw, _, _ := f.current(t, f.FirefighterRW)
	if c, err := loginWith(ctx, rw); err != nil {
		t.Errorf("rw, with a live grant, no longer logs in after the sweep: %v", err)
	} else {
		c.Close(ctx)
	}
	again, err := b.Sweep(ctx, "sweep-2", audit.SourceSchedule)
	if err != nil || len(again.Expired) != 0 || len(again.Repaired) != 0 {
		t.Errorf("second sweep = %+v, %v; want nothing to do", again, err)
	}
}

func TestRevokeRejectsBadInput(t *testing.T) {
	f := newFixture(t, "revbad")
	ctx := context.Background()
	b := f.broker(t, f.deps(t))
	if _, err := b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-1"}, Requester: alice, RequesterKey: alice, Source: audit.SourceAPI}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, role, incident, requester string
		want                            broker.Code
	}{
		{"unknown role", "admin", "INC-1", alice, broker.CodeInvalidRole},
		{"another role's full name", "revbad_app", "INC-1", alice, broker.CodeInvalidRole},
		{"role injection", "ro'; DROP ROLE revbad_admin; --", "INC-1", alice, broker.CodeInvalidRole},
		{"empty role", "", "INC-1", alice, broker.CodeInvalidRole},
		{"missing incident", "ro", "", alice, broker.CodeInvalidIncident},
		{"incident injection", "ro", "INC-1' OR '1'='1", alice, broker.CodeInvalidIncident},
		{"unknown incident", "ro", "INC-999", alice, broker.CodeNotFound},
		{"a role with no live grant: nothing to revoke", "rw", "INC-1", alice, broker.CodeNotFound},
		{"a role with no live grant, by someone with no part", "rw", "INC-1", mallory, broker.CodeNotFound},
		{"someone with no part in any grant", "ro", "INC-1", mallory, broker.CodeForbidden},
		{"no caller", "ro", "INC-1", "", broker.CodeUnauthenticated},
	}
	dbBefore, smBefore := f.dbState(t), f.secretsState(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := b.Revoke(ctx, broker.RevokeInput{Role: tc.role, IncidentID: tc.incident, Caller: broker.Caller{ARN: tc.requester, Key: tc.requester}, Source: audit.SourceAPI})
			if got := broker.ErrorCode(err); got != tc.want {
				t.Errorf("Revoke(%q, %q) error code = %q (%v); want %s", tc.role, tc.incident, got, err, tc.want)
			}
		})
	}
	if got := f.dbState(t); got != dbBefore {
		t.Errorf("database changed by refused revokes: %s -> %s", dbBefore, got)
	}
	if got := f.secretsState(t); got != smBefore {
		t.Errorf("Secrets Manager changed by refused revokes: %s -> %s", smBefore, got)
	}
}
