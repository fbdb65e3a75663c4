package sqlscripts_test

import (
	"context"
	"testing"
)

// The notification claims: bad input is refused with its SQLSTATE and changes
// nothing; a notice is claimed once; an expiry warning is claimed once per expiry and
// again after the expiry moved.
func TestNotificationClaims(t *testing.T) {
	e := newEnv(t, "notice")
	ctx := context.Background()
	b := e.Login(t, e.Broker)
	const (
		req   = "6b0e1c7a-2f4d-4a8b-9c3e-5d6f7a8b9c0d"
		grant = "7c1f2d8b-3a5e-4b9c-8d4f-6e7a8b9c0d1e"
		alice = "arn:aws:iam::123456789012:user/alice"
	)
	mustExec(t, b, `SELECT * FROM db_admin.submit_firefighter_request($1, $2, 'INC-9', 1, 'why', $3, $3)`, req, e.FirefighterRW, alice)
	mustExec(t, b, `SELECT * FROM db_admin.issue_firefighter_password($1, $2, $3, 1, 'INC-9', $4, $4)`, grant, e.FirefighterRO, randomPassword(t)+"-ro-notice", alice)
	// A DBA's manual grant has no requester key: nobody to address, never warned.
	e.Issue(t, e.FirefighterRO, randomPassword(t)+"-ro-manual", 1)

	state := func() string {
		var s string
		if err := e.Super(t).QueryRow(ctx, `SELECT (SELECT count(*) FROM db_admin.firefighter_notice)::text || '|' ||
			(SELECT count(*) FROM db_admin.firefighter_grant WHERE expiry_warned_for IS NOT NULL)::text`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := state()
	bad := []struct {
		name, sql string
		args      []any
		want      string
	}{
		{"unknown notice kind", `SELECT db_admin.claim_firefighter_notice($1, 'approved')`, []any{req}, "FFB04"},
		{"no notice kind", `SELECT db_admin.claim_firefighter_notice($1, NULL)`, []any{req}, "FFB04"},
		{"unknown request", `SELECT db_admin.claim_firefighter_notice('00000000-0000-4000-8000-000000000000', 'issued')`, nil, "FFB10"},
		{"no request", `SELECT db_admin.claim_firefighter_notice(NULL, 'issued')`, nil, "FFB10"},
		{"window under a minute", `SELECT * FROM db_admin.claim_firefighter_expiry_warnings(59)`, nil, "FFB04"},
		{"window over two hours", `SELECT * FROM db_admin.claim_firefighter_expiry_warnings(7201)`, nil, "FFB04"},
		{"no window", `SELECT * FROM db_admin.claim_firefighter_expiry_warnings(NULL)`, nil, "FFB04"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := exec(b, tc.sql, tc.args...); got != tc.want {
				t.Errorf("%s = SQLSTATE %q; want %s", tc.sql, got, tc.want)
			}
		})
	}
	if after := state(); after != before {
		t.Errorf("refused claims changed the ledgers: %s -> %s", before, after)
	}

	claim := func(kind string) bool {
		var first bool
		if err := b.QueryRow(ctx, `SELECT db_admin.claim_firefighter_notice($1, $2)`, req, kind).Scan(&first); err != nil {
			t.Fatal(err)
		}
		return first
	}
	if !claim("approval_needed") || claim("approval_needed") || !claim("issued") {
		t.Error("claim_firefighter_notice: want true for a first claim of each kind, false for a second")
	}

	warn := func(seconds int) []string {
		return queryStrings(t, b, `SELECT grant_id::text FROM db_admin.claim_firefighter_expiry_warnings($1)`, seconds)
	}
	if got := warn(60); len(got) != 0 {
		t.Errorf("warnings within a minute of a 1-hour grant = %v; want none", got)
	}
	if got := warn(7200); len(got) != 1 || got[0] != grant {
		t.Errorf("warnings within 2 hours = %v; want [%s] (not the manual grant)", got, grant)
	}
	if got := warn(7200); len(got) != 0 {
		t.Errorf("warnings claimed again = %v; want none", got)
	}
	mustExec(t, e.Super(t), `UPDATE db_admin.firefighter_grant SET expires_at = expires_at + interval '5 minutes' WHERE grant_id = $1`, grant)
	if got := warn(7200); len(got) != 1 || got[0] != grant {
		t.Errorf("warnings after the expiry moved = %v; want [%s] again", got, grant)
	}
}
