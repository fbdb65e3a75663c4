package sql_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/internal/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// env is one bootstrapped role model with its own prefix and database, so tests that
// change role state do not see each other.
type env struct {
	pgtest.Names
	vars      pgtest.Vars
	output    string
	passwords map[string]string
}

// newEnv bootstraps a role model named after prefix and gives the login roles that a
// DBA would give passwords to (app, migrator, broker) a random one.
func newEnv(t *testing.T, prefix string) *env {
	t.Helper()
	ctx := context.Background()
	v := pgtest.Vars{Prefix: prefix, DBName: strings.ReplaceAll(prefix, "_", "-") + "-db", AppSchema: "app-schema", Flavor: "aurora"}
	out, err := cluster.Bootstrap(ctx, v)
	if err != nil {
		t.Fatalf("bootstrap %s: %v", prefix, err)
	}
	e := &env{Names: v.Names(), vars: v, output: out, passwords: map[string]string{}}
	for _, r := range []string{e.App, e.Migrator, e.Broker, e.Approver} {
		pw := randomPassword(t)
		if err := cluster.SetPassword(ctx, r, pw); err != nil {
			t.Fatalf("set password of %s: %v", r, err)
		}
		e.passwords[r] = pw
	}
	return e
}

func randomPassword(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// login connects as role with the password the env knows for it.
func (e *env) login(t *testing.T, role string) *pgx.Conn {
	t.Helper()
	return e.loginWith(t, role, e.passwords[role])
}

func (e *env) loginWith(t *testing.T, role, password string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := cluster.Connect(ctx, role, password, e.DB)
	if err != nil {
		t.Fatalf("login as %s: %v", role, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// super connects to the env's database as the bootstrap superuser, for what only a
// test (or rdsadmin) does: reading pg_authid, moving a grant back in time.
func (e *env) super(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := cluster.ConnectSuper(context.Background(), e.DB)
	if err != nil {
		t.Fatalf("connect as superuser: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// issue gives a firefighter role a password through the broker's login: the seed's
// function for ro, and for rw (which needs a second person) a request submitted by the
// broker for alice, approved by bob through the approver's login, then issued.
func (e *env) issue(t *testing.T, role, password string, hours int) time.Time {
	t.Helper()
	ctx := context.Background()
	var exp time.Time
	b := e.login(t, e.Broker)
	if role != e.FirefighterRW {
		if err := b.QueryRow(ctx, `SELECT db_admin.set_firefighter_password($1, $2, $3)`, role, password, hours).Scan(&exp); err != nil {
			t.Fatalf("set_firefighter_password(%s, %dh): %v", role, hours, err)
		}
		return exp
	}
	incident := "INC-" + randomPassword(t)[:8]
	req := e.approvedRequest(t, b, role, incident, hours)
	if err := b.QueryRow(ctx, `SELECT expires_at FROM db_admin.issue_firefighter_password(gen_random_uuid(), $1, $2, $3, $4, 'alice', 'key-alice', $5)`,
		role, password, hours, incident, req).Scan(&exp); err != nil {
		t.Fatalf("issue_firefighter_password(%s, %dh, approved request): %v", role, hours, err)
	}
	return exp
}

// submit records a request for role by alice (principal key key-alice) through the
// broker's login b and returns its id.
func (e *env) submit(t *testing.T, b *pgx.Conn, role, incident string, hours int) string {
	t.Helper()
	var id string
	if err := b.QueryRow(context.Background(),
		`SELECT request_id::text FROM db_admin.submit_firefighter_request(gen_random_uuid(), $1, $2, $3, 'fix it', 'alice', 'key-alice')`,
		role, incident, hours).Scan(&id); err != nil {
		t.Fatalf("submit_firefighter_request(%s, %s): %v", role, incident, err)
	}
	return id
}

// approvedRequest submits a request for alice through the broker's login b and
// approves it as bob (key-bob) through the approver's login.
func (e *env) approvedRequest(t *testing.T, b *pgx.Conn, role, incident string, hours int) string {
	t.Helper()
	id := e.submit(t, b, role, incident, hours)
	if _, err := e.login(t, e.Approver).Exec(context.Background(),
		`SELECT db_admin.decide_firefighter_request($1, 'approve', 'bob', 'key-bob', 'ok')`, id); err != nil {
		t.Fatalf("decide_firefighter_request(%s, approve): %v", id, err)
	}
	return id
}

// pastAllGrants moves every grant of role back in time so that none is live.
func (e *env) pastAllGrants(t *testing.T, role string) {
	t.Helper()
	_, err := e.super(t).Exec(context.Background(),
		`UPDATE db_admin.firefighter_grant SET issued_at = issued_at - interval '3 hours', expires_at = expires_at - interval '3 hours' WHERE role = $1`, role)
	if err != nil {
		t.Fatalf("move grants of %s back: %v", role, err)
	}
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// exec runs sql on conn and returns the SQLSTATE of its error ("" when it succeeded).
func exec(conn *pgx.Conn, sql string, args ...any) (string, error) {
	_, err := conn.Exec(context.Background(), sql, args...)
	return sqlState(err), err
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

func mustExec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func queryStrings(t *testing.T, conn *pgx.Conn, sql string, args ...any) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		vals, err := r.Values()
		if err != nil {
			return "", err
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = fmt.Sprint(v)
		}
		return strings.Join(parts, "|"), nil
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func itoa(i int) string { return fmt.Sprint(i) }
