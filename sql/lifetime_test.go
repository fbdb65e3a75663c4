package sqlscripts_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// extendCapped calls db_admin.extend_firefighter_grant for alice with a lifetime cap.
func extendCapped(ctx context.Context, c *pgx.Conn, role, incident string, hours int, capHours any) (extendRow, error) {
	var r extendRow
	err := c.QueryRow(ctx, `SELECT grant_id::text, previous_expires_at, expires_at, valid_until, approver, reused
		FROM db_admin.extend_firefighter_grant($1, $2, $3, 'alice', 'key-alice', NULL, $4)`, role, incident, hours, capHours).
		Scan(&r.grant, &r.previous, &r.expires, &r.validUntil, &r.approver, &r.reused)
	return r, err
}

// elapse moves grant's times (and its extensions') back by d, as if d had passed on
// the database clock.
func (e *env) elapse(t *testing.T, grant string, d time.Duration) {
	t.Helper()
	s := e.Super(t)
	iv := d.String()
	mustExec(t, s, `UPDATE db_admin.firefighter_grant SET issued_at = issued_at - $2::interval, expires_at = expires_at - $2::interval,
		extended_at = extended_at - $2::interval WHERE grant_id = $1`, grant, iv)
	mustExec(t, s, `UPDATE db_admin.firefighter_extension SET extended_at = extended_at - $2::interval,
		old_expires_at = old_expires_at - $2::interval, new_expires_at = new_expires_at - $2::interval WHERE grant_id = $1`, grant, iv)
}

// Extensions take a grant up to its issue plus the lifetime cap and no further: the
// last one is clipped to the cap, the next refused with FFB16, and nothing changes.
func TestExtendStopsAtTheLifetimeCap(t *testing.T) {
	e := newEnv(t, "extcap")
	ctx := context.Background()
	b := e.Login(t, e.Broker)
	grant := e.issueFor(t, b, e.FirefighterRO, "INC-L1", randomPassword(t)+"-lifetime", 2)
	var issued time.Time
	if err := e.Super(t).QueryRow(ctx, `SELECT issued_at FROM db_admin.firefighter_grant WHERE grant_id = $1`, grant).Scan(&issued); err != nil {
		t.Fatal(err)
	}

	e.elapse(t, grant, 90*time.Minute)
	if _, err := extendCapped(ctx, b, e.FirefighterRO, "INC-L1", 2, 4); err != nil {
		t.Fatalf("extend(2h) at 1h30 of a 4-hour cap: %v", err)
	}
	e.elapse(t, grant, time.Hour)
	got, err := extendCapped(ctx, b, e.FirefighterRO, "INC-L1", 2, 4)
	if err != nil {
		t.Fatalf("extend(2h) at 2h30 of a 4-hour cap: %v", err)
	}
	issued = issued.Add(-150 * time.Minute)
	if !got.expires.Equal(issued.Add(4 * time.Hour)) {
		t.Errorf("extend(2h) at 2h30 of a 4-hour cap ends at %v; want the cap, issue + 4h = %v", got.expires, issued.Add(4*time.Hour))
	}
	e.elapse(t, grant, time.Hour)
	issued = issued.Add(-time.Hour)
	before := queryStrings(t, e.Super(t), `SELECT grant_id::text || '|' || expires_at::text FROM db_admin.firefighter_grant ORDER BY 1`)
	for _, tc := range []struct {
		name  string
		hours int
		cap   any
		state string
	}{
		{"2h at the 4-hour cap", 2, 4, "FFB16"},
		{"1h at the 4-hour cap", 1, 4, "FFB16"},
		{"a cap below 2 hours", 2, 1, "FFB04"},
	} {
		if _, err := extendCapped(ctx, b, e.FirefighterRO, "INC-L1", tc.hours, tc.cap); pgtest.SQLState(err) != tc.state {
			t.Errorf("extend(%s): %v; want SQLSTATE %s", tc.name, err, tc.state)
		}
	}
	if after := queryStrings(t, e.Super(t), `SELECT grant_id::text || '|' || expires_at::text FROM db_admin.firefighter_grant ORDER BY 1`); len(after) != len(before) || after[0] != before[0] {
		t.Errorf("grants after the refused extensions = %q; want them unchanged %q", after, before)
	}
}

// Whatever cap the caller passes (none, or more than 12 hours), no extension takes a
// grant beyond 12 hours from its issue; the ledger refuses such a row too.
func TestExtendNeverPassesTwelveHours(t *testing.T) {
	e := newEnv(t, "extceil")
	ctx := context.Background()
	b := e.Login(t, e.Broker)
	grant := e.issueFor(t, b, e.FirefighterRO, "INC-L2", randomPassword(t)+"-ceiling", 1)
	// Eleven hours into its life, extended an hour ago, ending in an hour.
	mustExec(t, e.Super(t), `UPDATE db_admin.firefighter_grant SET issued_at = now() - interval '11 hours',
		extended_at = now() - interval '1 hour', expires_at = now() + interval '1 hour' WHERE grant_id = $1`, grant)
	for _, capHours := range []any{nil, 12, 100} {
		if _, err := extendCapped(ctx, b, e.FirefighterRO, "INC-L2", 2, capHours); pgtest.SQLState(err) != "FFB16" {
			t.Errorf("extend(2h, cap %v) at 11h of a grant ending at 12h: %v; want SQLSTATE FFB16", capHours, err)
		}
	}
	_, err := e.Super(t).Exec(ctx, `UPDATE db_admin.firefighter_grant SET expires_at = issued_at + interval '12 hours 1 minute',
		extended_at = issued_at + interval '11 hours' WHERE grant_id = $1`, grant)
	if got := pgtest.SQLState(err); got != "23514" {
		t.Errorf("a grant row beyond 12 hours from its issue: %v (SQLSTATE %q); want 23514 check_violation", err, got)
	}
}
