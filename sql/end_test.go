package sqlscripts_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// end_firefighter_grants as the broker's login calls it: it ends the grants named and
// those whose expiry passed, and either rotates the role's password for the grants
// left (recording the secret version that holds it) or, with none left, expires the
// role. Without a new password while grants are left it refuses (FFB04) and changes
// nothing.
func TestEndSomeGrantsRotatesThePassword(t *testing.T) {
	e := newEnv(t, "endsome")
	ctx := context.Background()
	b := e.Login(t, e.Broker)
	issue := func(incident, requester, password string, hours int) string {
		t.Helper()
		var id string
		if err := b.QueryRow(ctx, `SELECT grant_id::text FROM db_admin.issue_firefighter_password(gen_random_uuid(), $1, $2, $3, $4, $5, $5)`,
			e.FirefighterRO, password, hours, incident, requester).Scan(&id); err != nil {
			t.Fatalf("issue(%s): %v", incident, err)
		}
		return id
	}
	current := func() (grant, version string) {
		t.Helper()
		if err := b.QueryRow(ctx, `SELECT coalesce(db_admin.current_firefighter_grant($1)::text, ''), coalesce(db_admin.current_firefighter_version($1)::text, '')`,
			e.FirefighterRO).Scan(&grant, &version); err != nil {
			t.Fatal(err)
		}
		return
	}
	login := func(password string) string {
		t.Helper()
		c, err := e.Cluster.Connect(ctx, e.FirefighterRO, password, e.DB)
		if err == nil {
			c.Close(ctx)
		}
		return pgtest.SQLState(err)
	}
	end := func(ids []string, password, version any) ([]string, string) {
		t.Helper()
		rows, err := b.Query(ctx, `SELECT grant_id::text || '|' || incident_id || '|' || requester || '|' || closed_reason || '|' || live_left
			FROM db_admin.end_firefighter_grants($1, $2::uuid[], $3, $4)`, e.FirefighterRO, ids, password, version)
		if err != nil {
			return nil, pgtest.SQLState(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			return nil, pgtest.SQLState(err)
		}
		return out, ""
	}

	alicePW, carolPW := randomPassword(t), randomPassword(t)
	alice := issue("INC-A", "alice", alicePW, 2)
	carol := issue("INC-C", "carol", carolPW, 1)
	if g, v := current(); g != carol || v != carol {
		t.Fatalf("current = (%s, %s); want carol's grant and version %s", g, v, carol)
	}

	state := func() string {
		t.Helper()
		return strings.Join(queryStrings(t, e.Super(t), `SELECT grant_id::text || coalesce(closed_at::text, '-') || coalesce(password_version::text, '-')
			FROM db_admin.firefighter_grant UNION ALL SELECT rolpassword || rolvaliduntil::text FROM pg_authid WHERE rolname = $1 ORDER BY 1`, e.FirefighterRO), ",")
	}
	before := state()
	if _, state := end([]string{carol}, nil, nil); state != "FFB04" {
		t.Errorf("end carol's grant without a new password: SQLSTATE %q; want FFB04", state)
	}
	if after := state(); after != before {
		t.Errorf("a refused end changed the database:\nbefore %s\nafter  %s", before, after)
	}
	if _, state := end([]string{carol}, "short", "5a0e1c8e-0000-4000-8000-000000000001"); state != "FFB02" {
		t.Errorf("end with a short password: SQLSTATE %q; want FFB02", state)
	}

	newPW := randomPassword(t)
	const version = "5a0e1c8e-0000-4000-8000-000000000002"
	rows, code := end([]string{carol}, newPW, version)
	if want := []string{carol + "|INC-C|carol|revoked|1"}; code != "" || strings.Join(rows, ",") != strings.Join(want, ",") {
		t.Fatalf("end carol's grant = %q (SQLSTATE %q); want %q", rows, code, want)
	}
	if g, v := current(); g != alice || v != version {
		t.Errorf("current after the rotation = (%s, %s); want alice's grant %s with version %s", g, v, alice, version)
	}
	if s := login(carolPW); s != "28P01" {
		t.Errorf("login with carol's password: SQLSTATE %q; want 28P01", s)
	}
	if s := login(newPW); s != "" {
		t.Errorf("login with the rotated password: SQLSTATE %q; want success", s)
	}
	var untilOK bool
	if err := e.Super(t).QueryRow(ctx, `SELECT r.rolvaliduntil = g.expires_at FROM pg_roles r, db_admin.firefighter_grant g
		WHERE r.rolname = $1 AND g.grant_id = $2`, e.FirefighterRO, alice).Scan(&untilOK); err != nil || !untilOK {
		t.Errorf("VALID UNTIL after the rotation is not alice's expiry (%v)", err)
	}
	if rows, state := end([]string{carol}, randomPassword(t), "5a0e1c8e-0000-4000-8000-000000000003"); state != "" || len(rows) != 0 {
		t.Errorf("ending carol's grant again = %q (SQLSTATE %q); want nothing", rows, state)
	}
	if s := login(newPW); s != "" {
		t.Errorf("after a second end with nothing to end, the rotated password: SQLSTATE %q; want it unchanged", s)
	}

	// alice's grant reaches its expiry: with none left, the role is expired.
	mustExec(t, e.Super(t), `UPDATE db_admin.firefighter_grant SET issued_at = issued_at - interval '3 hours',
		expires_at = expires_at - interval '3 hours' WHERE grant_id = $1`, alice)
	var ended []string
	if err := b.QueryRow(ctx, `SELECT array_agg(grant_id::text) FROM db_admin.ended_firefighter_grants($1)`, e.FirefighterRO).Scan(&ended); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ended, ",") != alice {
		t.Errorf("ended_firefighter_grants = %v; want alice's %s", ended, alice)
	}
	rows, code = end(nil, nil, nil)
	if want := []string{alice + "|INC-A|alice|expired|0"}; code != "" || strings.Join(rows, ",") != strings.Join(want, ",") {
		t.Fatalf("end with alice's grant expired = %q (SQLSTATE %q); want %q", rows, code, want)
	}
	var until time.Time
	if err := e.Super(t).QueryRow(ctx, `SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1`, e.FirefighterRO).Scan(&until); err != nil || !until.Equal(time.Unix(0, 0)) {
		t.Errorf("VALID UNTIL with no grant left = %v (%v); want the epoch", until, err)
	}
	if s := login(newPW); s != "28P01" {
		t.Errorf("login with the rotated password after the role expired: SQLSTATE %q; want 28P01", s)
	}
	if g, v := current(); g != "" || v != "" {
		t.Errorf("current with no grant = (%q, %q); want none", g, v)
	}
	if _, state := end(nil, nil, nil); state != "" {
		t.Errorf("end with nothing to end: SQLSTATE %q; want no error", state)
	}
	if s, _ := exec(b, `SELECT * FROM db_admin.end_firefighter_grants($1, NULL)`, e.Admin); s != "FFB01" {
		t.Errorf("end_firefighter_grants(admin): SQLSTATE %q; want FFB01", s)
	}
}

// The broker's login alone never sets a password of a role that needs approval: ending
// one of two live rw grants ends both and expires the role, whatever password it passed.
func TestEndOneReadWriteGrantEndsAll(t *testing.T) {
	e := newEnv(t, "endrw")
	ctx := context.Background()
	b := e.Login(t, e.Broker)
	first := e.issueFor(t, b, e.FirefighterRW, "INC-W1", randomPassword(t), 1)
	second := e.issueFor(t, b, e.FirefighterRW, "INC-W2", randomPassword(t), 2)
	chosen := randomPassword(t)
	rows := queryStrings(t, b, `SELECT grant_id::text || '|' || closed_reason || '|' || live_left
		FROM db_admin.end_firefighter_grants($1, ARRAY[$2::uuid], $3, gen_random_uuid())`, e.FirefighterRW, first, chosen)
	want := []string{first + "|revoked|0", second + "|revoked|0"}
	if strings.Join(rows, ",") != strings.Join(want, ",") {
		t.Errorf("end one of two live rw grants = %q; want both ended %q", rows, want)
	}
	c, err := e.Cluster.Connect(ctx, e.FirefighterRW, chosen, e.DB)
	if err == nil {
		c.Close(ctx)
	}
	if s := pgtest.SQLState(err); s != "28P01" {
		t.Errorf("login as rw with the password the broker's login passed: SQLSTATE %q (%v); want 28P01", s, err)
	}
}

// An rw grant that expired while another is live is left for the sweep to end with the
// last one: the broker's login cannot rotate rw's password through it either.
func TestOverlappedReadWriteExpiryEndsWithTheLast(t *testing.T) {
	e := newEnv(t, "endrwx")
	b := e.Login(t, e.Broker)
	first := e.issueFor(t, b, e.FirefighterRW, "INC-W1", randomPassword(t), 1)
	second := e.issueFor(t, b, e.FirefighterRW, "INC-W2", randomPassword(t), 2)
	mustExec(t, e.Super(t), `UPDATE db_admin.firefighter_grant SET issued_at = issued_at - interval '3 hours',
		expires_at = expires_at - interval '3 hours' WHERE grant_id = $1`, first)
	if rows := queryStrings(t, b, `SELECT grant_id::text FROM db_admin.end_firefighter_grants($1, NULL, $2, gen_random_uuid())`, e.FirefighterRW, randomPassword(t)); len(rows) != 0 {
		t.Errorf("end with only an overlapped rw expiry = %q; want nothing", rows)
	}
	rows := queryStrings(t, b, `SELECT grant_id::text || '|' || closed_reason || '|' || live_left
		FROM db_admin.end_firefighter_grants($1, ARRAY[$2::uuid])`, e.FirefighterRW, second)
	if want := []string{first + "|expired|0", second + "|revoked|0"}; strings.Join(rows, ",") != strings.Join(want, ",") {
		t.Errorf("end the last live rw grant = %q; want %q", rows, want)
	}
}
