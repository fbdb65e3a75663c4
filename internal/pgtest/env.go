package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Env is one bootstrapped role model with its own prefix and database, so tests that
// change role state do not see each other, and a password for each login a DBA would
// give one (app, migrator, broker, approver). The tests of sql/ and of the drift
// checker share it.
type Env struct {
	RoleModel
	// Cluster is the cluster the role model lives in.
	Cluster *Cluster
	// Vars are the psql variables the bootstrap ran with.
	Vars Vars
	// Output is psql's output of the bootstrap, NOTICEs included.
	Output string
	// Passwords holds the password of each login that has one.
	Passwords map[string]string
}

// NewEnv bootstraps a role model named after prefix in c (database <prefix>-db with
// underscores as dashes, schema app-schema, flavor aurora) and gives the app,
// migrator, broker and approver logins a random password each.
func NewEnv(t testing.TB, c *Cluster, prefix string) *Env {
	t.Helper()
	ctx := context.Background()
	v := Vars{Prefix: prefix, DBName: strings.ReplaceAll(prefix, "_", "-") + "-db", AppSchema: "app-schema", Flavor: "aurora"}
	out, err := c.Bootstrap(ctx, v)
	if err != nil {
		t.Fatalf("bootstrap %s: %v", prefix, err)
	}
	e := &Env{RoleModel: v.Model(), Cluster: c, Vars: v, Output: out, Passwords: map[string]string{}}
	for _, r := range []string{e.App, e.Migrator, e.Broker, e.Approver} {
		pw := RandomPassword(t)
		if err := c.SetPassword(ctx, r, pw); err != nil {
			t.Fatalf("set password of %s: %v", r, err)
		}
		e.Passwords[r] = pw
	}
	return e
}

// RandomPassword returns 48 random hex digits.
func RandomPassword(t testing.TB) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// Login connects to the env's database as role with the password the env knows for
// it; the test's cleanup closes the connection.
func (e *Env) Login(t testing.TB, role string) *pgx.Conn {
	t.Helper()
	return e.LoginWith(t, role, e.Passwords[role])
}

// LoginWith connects to the env's database as role with password.
func (e *Env) LoginWith(t testing.TB, role, password string) *pgx.Conn {
	t.Helper()
	conn, err := e.Cluster.Connect(context.Background(), role, password, e.DB)
	if err != nil {
		t.Fatalf("login as %s: %v", role, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Super connects to the env's database as the bootstrap superuser, for what only a
// test (or rdsadmin) does: reading pg_authid, moving a grant back in time.
func (e *Env) Super(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := e.Cluster.ConnectSuper(context.Background(), e.DB)
	if err != nil {
		t.Fatalf("connect as superuser: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Issue gives a firefighter role a password through the broker's login: the manual
// function for ro, and for rw (which needs a second person) a request submitted by the
// broker for alice, approved by bob through the approver's login, then issued. It
// returns the grant's expiry.
func (e *Env) Issue(t testing.TB, role, password string, hours int) time.Time {
	t.Helper()
	ctx := context.Background()
	var exp time.Time
	b := e.Login(t, e.Broker)
	if role != e.FirefighterRW {
		if err := b.QueryRow(ctx, `SELECT db_admin.set_firefighter_password($1, $2, $3)`, role, password, hours).Scan(&exp); err != nil {
			t.Fatalf("set_firefighter_password(%s, %dh): %v", role, hours, err)
		}
		return exp
	}
	incident := "INC-" + RandomPassword(t)[:8]
	req := e.ApprovedRequest(t, b, role, incident, hours)
	if err := b.QueryRow(ctx, `SELECT expires_at FROM db_admin.issue_firefighter_password(gen_random_uuid(), $1, $2, $3, $4, 'alice', 'key-alice', $5)`,
		role, password, hours, incident, req).Scan(&exp); err != nil {
		t.Fatalf("issue_firefighter_password(%s, %dh, approved request): %v", role, hours, err)
	}
	return exp
}

// Submit records a request for role by alice (principal key key-alice) through the
// broker's login b and returns its id. Its requester proof is a unique stand-in: the
// database only requires one (the functions check it with STS).
func (e *Env) Submit(t testing.TB, b *pgx.Conn, role, incident string, hours int) string {
	t.Helper()
	var id string
	if err := b.QueryRow(context.Background(),
		`SELECT request_id::text FROM db_admin.submit_firefighter_request(gen_random_uuid(), $1, $2, $3, 'fix it', 'alice', 'key-alice',
		   'proof-' || gen_random_uuid(), '{}')`,
		role, incident, hours).Scan(&id); err != nil {
		t.Fatalf("submit_firefighter_request(%s, %s): %v", role, incident, err)
	}
	return id
}

// ApprovedRequest submits a request for alice through the broker's login b and
// approves it as bob (key-bob) through the approver's login.
func (e *Env) ApprovedRequest(t testing.TB, b *pgx.Conn, role, incident string, hours int) string {
	t.Helper()
	id := e.Submit(t, b, role, incident, hours)
	if _, err := e.Login(t, e.Approver).Exec(context.Background(),
		`SELECT db_admin.decide_firefighter_request($1, 'approve', 'bob', 'key-bob', 'ok')`, id); err != nil {
		t.Fatalf("decide_firefighter_request(%s, approve): %v", id, err)
	}
	return id
}

// PastAllGrants moves every grant of role back in time so that none is live.
func (e *Env) PastAllGrants(t testing.TB, role string) {
	t.Helper()
	_, err := e.Super(t).Exec(context.Background(),
		`UPDATE db_admin.firefighter_grant SET issued_at = issued_at - interval '3 hours', expires_at = expires_at - interval '3 hours' WHERE role = $1`, role)
	if err != nil {
		t.Fatalf("move grants of %s back: %v", role, err)
	}
}

// SQLState is the SQLSTATE of err's PostgreSQL error, "" when it holds none.
func SQLState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}
