package sqlscripts_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// extendRow is one answer of db_admin.extend_firefighter_grant.
type extendRow struct {
	grant             string
	previous, expires time.Time
	validUntil        time.Time
	approver          *string
	reused            bool
}

func extendGrant(ctx context.Context, c *pgx.Conn, role, incident string, hours int, key string, request any) (extendRow, error) {
	var r extendRow
	err := c.QueryRow(ctx, `SELECT grant_id::text, previous_expires_at, expires_at, valid_until, approver, reused
		FROM db_admin.extend_firefighter_grant($1, $2, $3, 'alice', $4, $5)`, role, incident, hours, key, request).
		Scan(&r.grant, &r.previous, &r.expires, &r.validUntil, &r.approver, &r.reused)
	return r, err
}

// issueFor issues role for incident to alice (key-alice) through the broker's login:
// directly for ro, through an approved request for rw. It returns the grant id.
func (e *env) issueFor(t *testing.T, b *pgx.Conn, role, incident, password string, hours int) string {
	t.Helper()
	var req any
	if role == e.FirefighterRW {
		req = e.ApprovedRequest(t, b, role, incident, hours)
	}
	var id string
	if err := b.QueryRow(context.Background(), `SELECT grant_id::text FROM db_admin.issue_firefighter_password(gen_random_uuid(), $1, $2, $3, $4, 'alice', 'key-alice', $5)`,
		role, password, hours, incident, req).Scan(&id); err != nil {
		t.Fatalf("issue_firefighter_password(%s, %s): %v", role, incident, err)
	}
	return id
}

// An ro grant is extended by the broker's login alone: the expiry moves to the
// database clock plus the hours asked for (so never beyond 2 hours from now), the role's
// VALID UNTIL follows, the password keeps working, and every refusal changes nothing.
func TestExtendReadOnly(t *testing.T) {
	e := newEnv(t, "extro")
	ctx := context.Background()
	b := e.Login(t, e.Broker)
	pw := randomPassword(t) + "-extend-ro"
	grant := e.issueFor(t, b, e.FirefighterRO, "INC-E1", pw, 1)
	open := e.LoginWith(t, e.FirefighterRO, pw)

	got, err := extendGrant(ctx, b, e.FirefighterRO, "INC-E1", 2, "key-alice", nil)
	if err != nil {
		t.Fatalf("extend_firefighter_grant(ro, INC-E1, 2h): %v", err)
	}
	if got.grant != grant || got.reused || !got.expires.After(got.previous) || !got.validUntil.Equal(got.expires) {
		t.Errorf("extend(ro, 2h) = %+v; want grant %s, a later expiry, VALID UNTIL = expiry", got, grant)
	}
	var capped, roleUntil bool
	if err := e.Super(t).QueryRow(ctx, `SELECT e.new_expires_at = e.extended_at + interval '2 hours',
			(SELECT rolvaliduntil FROM pg_roles WHERE rolname = $2) = e.new_expires_at
		FROM db_admin.firefighter_extension e WHERE e.grant_id = $1`, grant, e.FirefighterRO).Scan(&capped, &roleUntil); err != nil {
		t.Fatalf("read the extension ledger: %v", err)
	}
	if !capped || !roleUntil {
		t.Errorf("extension: new expiry = extended_at + 2h is %v, role VALID UNTIL = new expiry is %v; want both", capped, roleUntil)
	}
	if err := open.Ping(ctx); err != nil {
		t.Errorf("the session opened before the extension: %v; want it alive", err)
	}
	e.LoginWith(t, e.FirefighterRO, pw) // the same password logs in: nothing rotated

	before := queryStrings(t, e.Super(t), `SELECT grant_id::text || '|' || expires_at::text FROM db_admin.firefighter_grant ORDER BY 1`)
	for _, tc := range []struct {
		name, role, incident, key string
		hours                     int
		state                     string
	}{
		{"shorter than the grant (1h after 2h)", e.FirefighterRO, "INC-E1", "key-alice", 1, "FFB14"},
		{"0 hours", e.FirefighterRO, "INC-E1", "key-alice", 0, "FFB03"},
		{"3 hours", e.FirefighterRO, "INC-E1", "key-alice", 3, "FFB03"},
		{"another person's grant", e.FirefighterRO, "INC-E1", "key-mallory", 2, "FFB13"},
		{"no grant for the incident", e.FirefighterRO, "INC-NONE", "key-alice", 2, "FFB12"},
		{"injection in the incident id", e.FirefighterRO, "INC-1'; DROP ROLE x; --", "key-alice", 2, "FFB04"},
		{"a role outside the allowlist", "postgres", "INC-E1", "key-alice", 2, "FFB01"},
		{"rw without a request", e.FirefighterRW, "INC-E1", "key-alice", 2, "FFB07"},
	} {
		if _, err := extendGrant(ctx, b, tc.role, tc.incident, tc.hours, tc.key, nil); pgtest.SQLState(err) != tc.state {
			t.Errorf("extend(%s): %v; want %s", tc.name, err, tc.state)
		}
	}
	if after := queryStrings(t, e.Super(t), `SELECT grant_id::text || '|' || expires_at::text FROM db_admin.firefighter_grant ORDER BY 1`); !slices.Equal(before, after) {
		t.Errorf("grants after the refused extensions = %q; want them unchanged %q", after, before)
	}
	if st := e.psqlState(t, e.Approver, fmt.Sprintf(`SELECT * FROM db_admin.extend_firefighter_grant(%s, 'INC-E1', 2, 'alice', 'key-alice')`, lit(e.FirefighterRO))); st != "42501" {
		t.Errorf("approver login calling extend_firefighter_grant: SQLSTATE %q; want 42501", st)
	}
}

// The broker's login alone can never extend rw: only an extension request of that
// grant, approved by another principal key through the approver's login, does, once.
func TestExtendReadWriteNeedsApproval(t *testing.T) {
	e := newEnv(t, "extrw")
	ctx := context.Background()
	b := e.Login(t, e.Broker)
	pw := randomPassword(t) + "-extend-rw"
	// One approver connection for the whole test: the login has few connection slots.
	a := e.Login(t, e.Approver)
	approved := func(hours int) string {
		id := e.Submit(t, b, e.FirefighterRW, "INC-W1", hours)
		mustExec(t, a, `SELECT db_admin.decide_firefighter_request($1, 'approve', 'bob', 'key-bob', 'ok')`, id)
		return id
	}
	var grant string
	if err := b.QueryRow(ctx, `SELECT grant_id::text FROM db_admin.issue_firefighter_password(gen_random_uuid(), $1, $2, 1, 'INC-W1', 'alice', 'key-alice', $3)`,
		e.FirefighterRW, pw, approved(1)).Scan(&grant); err != nil {
		t.Fatalf("issue rw on an approved request: %v", err)
	}
	const path = "/access/rw/extend"
	submit := func(key string) (string, error) {
		var id string
		err := b.QueryRow(ctx, `SELECT request_id::text FROM db_admin.submit_firefighter_extension(gen_random_uuid(), $1, 'INC-W1', 2, 'more', 'alice', $2, 'proof-' || gen_random_uuid(), '{}', $3)`,
			e.FirefighterRW, key, path).Scan(&id)
		return id, err
	}
	if _, err := submit("key-mallory"); pgtest.SQLState(err) != "FFB13" {
		t.Errorf("submit an extension of alice's grant as mallory: %v; want FFB13", err)
	}
	req, err := submit("key-alice")
	if err != nil {
		t.Fatalf("submit_firefighter_extension: %v", err)
	}
	if again, err := submit("key-alice"); err != nil || again != req {
		t.Errorf("second submit of the same extension = %s, %v; want the pending %s", again, err, req)
	}
	issueReq := approved(2)

	tests := []struct {
		name, login, stmt, state string
	}{
		{"broker: extend rw on a pending request", e.Broker, extendStmt(e.FirefighterRW, lit(req)), "FFB07"},
		{"broker: extend rw with an approved issue request", e.Broker, extendStmt(e.FirefighterRW, lit(issueReq)), "FFB05"},
		{"broker: extend rw on an unknown request", e.Broker, extendStmt(e.FirefighterRW, "'00000000-0000-4000-8000-00000000dead'"), "FFB10"},
		{"broker: approve the extension", e.Broker,
			fmt.Sprintf(`SELECT * FROM db_admin.decide_firefighter_request(%s, 'approve', 'bob', 'key-bob')`, lit(req)), "42501"},
		{"broker: write the extension ledger", e.Broker,
			fmt.Sprintf(`UPDATE db_admin.firefighter_grant SET expires_at = expires_at + interval '1 hour' WHERE grant_id = %s`, lit(grant)), "42501"},
		{"approver: self-approval of the extension", e.Approver,
			fmt.Sprintf(`SELECT * FROM db_admin.decide_firefighter_request(%s, 'approve', 'alice-2', 'key-alice')`, lit(req)), "FFB06"},
		{"approver: submit an extension", e.Approver,
			fmt.Sprintf(`SELECT * FROM db_admin.submit_firefighter_extension(gen_random_uuid(), %s, 'INC-W1', 2, '', 'alice', 'key-alice', NULL, NULL, '/access/rw/extend')`, lit(e.FirefighterRW)), "42501"},
		{"approver: extend", e.Approver, extendStmt(e.FirefighterRW, lit(req)), "42501"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.psqlState(t, tc.login, tc.stmt); got != tc.state {
				t.Errorf("as %s: %s\nSQLSTATE = %q; want %s", tc.login, tc.stmt, got, tc.state)
			}
		})
	}

	mustExec(t, a, `SELECT db_admin.decide_firefighter_request($1, 'approve', 'bob', 'key-bob', 'ok')`, req)
	if _, err := b.Exec(ctx, `SELECT * FROM db_admin.issue_firefighter_password(gen_random_uuid(), $1, $2, 2, 'INC-W1', 'alice', 'key-alice', $3)`,
		e.FirefighterRW, randomPassword(t)+"-rotate", req); pgtest.SQLState(err) != "FFB05" {
		t.Errorf("issue a new rw password on an approved extension request: %v; want FFB05", err)
	}
	got, err := extendGrant(ctx, b, e.FirefighterRW, "INC-W1", 2, "key-alice", req)
	if err != nil {
		t.Fatalf("extend rw on the approved extension: %v", err)
	}
	if got.grant != grant || got.reused || got.approver == nil || *got.approver != "bob" || !got.expires.After(got.previous) {
		t.Errorf("extend(rw, approved) = %+v; want grant %s extended, approver bob", got, grant)
	}
	again, err := extendGrant(ctx, b, e.FirefighterRW, "INC-W1", 2, "key-alice", req)
	if err != nil || !again.reused || !again.expires.Equal(got.expires) {
		t.Errorf("second extend on the same request = %+v, %v; want the same expiry, reused", again, err)
	}
	state := queryStrings(t, e.Super(t), `SELECT r.state || '|' || r.kind || '|' || r.grant_id::text || '|' || (SELECT count(*) FROM db_admin.firefighter_extension x WHERE x.grant_id = r.extends_grant)
		FROM db_admin.firefighter_request r WHERE r.request_id = $1`, req)
	if want := []string{"issued|extend|" + grant + "|1"}; !slices.Equal(state, want) {
		t.Errorf("extension request = %q; want %q (one extension)", state, want)
	}
	e.LoginWith(t, e.FirefighterRW, pw) // not rotated
}

func extendStmt(role, request string) string {
	return fmt.Sprintf(`SELECT * FROM db_admin.extend_firefighter_grant(%s, 'INC-W1', 2, 'alice', 'key-alice', %s)`, lit(role), request)
}
