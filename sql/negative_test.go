package sqlscripts_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// The role model's negative tests, as real password logins, plus the migration pattern.
func TestRoleLimits(t *testing.T) {
	e := newEnv(t, "neg")
	ctx := context.Background()
	schema := ident(e.AppSchema)

	// Section 8: the migrator creates tables through SET ROLE owner.
	mig := e.Login(t, e.Migrator)
	mustExec(t, mig, `SET ROLE `+ident(e.Owner))
	mustExec(t, mig, fmt.Sprintf(`CREATE TABLE %s.orders (
		id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		order_no text NOT NULL UNIQUE,
		status text NOT NULL DEFAULT 'created')`, schema))
	mustExec(t, mig, fmt.Sprintf(`INSERT INTO %s.orders (order_no) VALUES ('ORD-1001'), ('ORD-1002')`, schema))
	mustExec(t, mig, `RESET ROLE`)

	var owner string
	if err := e.Super(t).QueryRow(ctx, `SELECT tableowner FROM pg_tables WHERE schemaname = $1 AND tablename = 'orders'`, e.AppSchema).Scan(&owner); err != nil {
		t.Fatal(err)
	}
	if owner != e.Owner {
		t.Errorf("owner of a table the migrator created after SET ROLE owner = %s; want %s", owner, e.Owner)
	}

	ro, rw := randomPassword(t)+"-ro", randomPassword(t)+"-rw"
	e.Issue(t, e.FirefighterRO, ro, 1)
	e.Issue(t, e.FirefighterRW, rw, 1)
	app := e.Login(t, e.App)
	ffro := e.LoginWith(t, e.FirefighterRO, ro)
	ffrw := e.LoginWith(t, e.FirefighterRW, rw)
	broker := e.Login(t, e.Broker)

	const denied = "42501" // insufficient_privilege
	tests := []struct {
		name  string
		conn  func() (string, error)
		state string // "" = must succeed
	}{
		{"app can INSERT (default privileges)", func() (string, error) {
			return exec(app, fmt.Sprintf(`INSERT INTO %s.orders (order_no) VALUES ('ORD-APP')`, schema))
		}, ""},
		{"app can UPDATE", func() (string, error) {
			return exec(app, fmt.Sprintf(`UPDATE %s.orders SET status = 'paid' WHERE order_no = 'ORD-APP'`, schema))
		}, ""},
		{"app cannot CREATE TABLE", func() (string, error) {
			return exec(app, fmt.Sprintf(`CREATE TABLE %s.should_fail (id bigint)`, schema))
		}, denied},
		{"app cannot DELETE", func() (string, error) {
			return exec(app, fmt.Sprintf(`DELETE FROM %s.orders WHERE id = 1`, schema))
		}, denied},
		{"app cannot TRUNCATE", func() (string, error) { return exec(app, fmt.Sprintf(`TRUNCATE %s.orders`, schema)) }, denied},
		{"ro can SELECT (default privileges)", func() (string, error) {
			return exec(ffro, fmt.Sprintf(`SELECT count(*) FROM %s.orders`, schema))
		}, ""},
		{"ro cannot UPDATE", func() (string, error) {
			return exec(ffro, fmt.Sprintf(`UPDATE %s.orders SET status = 'cancelled' WHERE id = 1`, schema))
		}, denied},
		{"ro cannot INSERT", func() (string, error) {
			return exec(ffro, fmt.Sprintf(`INSERT INTO %s.orders (order_no) VALUES ('X')`, schema))
		}, denied},
		{"ro cannot DELETE", func() (string, error) { return exec(ffro, fmt.Sprintf(`DELETE FROM %s.orders`, schema)) }, denied},
		{"rw can UPDATE in a transaction", func() (string, error) {
			return exec(ffrw, fmt.Sprintf(`UPDATE %s.orders SET status = 'cancelled' WHERE order_no = 'ORD-1001' AND status = 'created'`, schema))
		}, ""},
		{"rw can DELETE", func() (string, error) {
			return exec(ffrw, fmt.Sprintf(`DELETE FROM %s.orders WHERE order_no = 'ORD-1002'`, schema))
		}, ""},
		{"rw cannot DROP", func() (string, error) { return exec(ffrw, fmt.Sprintf(`DROP TABLE %s.orders`, schema)) }, denied},
		{"rw cannot TRUNCATE", func() (string, error) { return exec(ffrw, fmt.Sprintf(`TRUNCATE %s.orders`, schema)) }, denied},
		{"rw cannot CREATE TABLE", func() (string, error) {
			return exec(ffrw, fmt.Sprintf(`CREATE TABLE %s.t (id int)`, schema))
		}, denied},
		{"rw cannot CREATE INDEX", func() (string, error) {
			return exec(ffrw, fmt.Sprintf(`CREATE INDEX ON %s.orders (status)`, schema))
		}, denied},
		{"rw cannot ALTER TABLE", func() (string, error) {
			return exec(ffrw, fmt.Sprintf(`ALTER TABLE %s.orders ADD COLUMN x int`, schema))
		}, denied},
		{"rw cannot CREATE SCHEMA", func() (string, error) { return exec(ffrw, `CREATE SCHEMA rw_schema`) }, denied},
		{"rw cannot SET ROLE owner", func() (string, error) { return exec(ffrw, `SET ROLE `+ident(e.Owner)) }, denied},
		{"ro cannot read the ledger", func() (string, error) { return exec(ffro, `SELECT * FROM db_admin.firefighter_grant`) }, denied},
		{"broker cannot ALTER ROLE directly", func() (string, error) {
			return exec(broker, fmt.Sprintf(`ALTER ROLE %s PASSWORD 'x' VALID UNTIL 'infinity'`, ident(e.FirefighterRW)))
		}, denied},
		{"broker cannot ALTER its own connection limit", func() (string, error) {
			return exec(broker, fmt.Sprintf(`ALTER ROLE %s CONNECTION LIMIT 100`, ident(e.Broker)))
		}, denied},
		{"broker cannot CREATE ROLE", func() (string, error) { return exec(broker, `CREATE ROLE broker_made`) }, denied},
		{"broker cannot read app tables", func() (string, error) {
			return exec(broker, fmt.Sprintf(`SELECT * FROM %s.orders`, schema))
		}, denied},
		{"broker cannot write app tables", func() (string, error) {
			return exec(broker, fmt.Sprintf(`INSERT INTO %s.orders (order_no) VALUES ('B')`, schema))
		}, denied},
		{"broker cannot read the ledger", func() (string, error) { return exec(broker, `SELECT * FROM db_admin.firefighter_grant`) }, denied},
		{"broker cannot change the allowlist", func() (string, error) {
			return exec(broker, `INSERT INTO db_admin.firefighter_role VALUES ('postgres', 'ro')`)
		}, denied},
		{"broker cannot CREATE in db_admin", func() (string, error) { return exec(broker, `CREATE TABLE db_admin.t (id int)`) }, denied},
		{"broker cannot CREATE in the app schema", func() (string, error) {
			return exec(broker, fmt.Sprintf(`CREATE TABLE %s.t (id int)`, schema))
		}, denied},
		{"broker cannot CREATE SCHEMA", func() (string, error) { return exec(broker, `CREATE SCHEMA broker_schema`) }, denied},
		{"broker cannot CREATE TEMP TABLE", func() (string, error) { return exec(broker, `CREATE TEMP TABLE t (id int)`) }, denied},
		{"broker cannot execute internal functions", func() (string, error) {
			return exec(broker, `SELECT db_admin.firefighter_role_checked($1)`, e.FirefighterRO)
		}, denied},
		{"broker cannot take the lock function", func() (string, error) {
			return exec(broker, `SELECT db_admin.firefighter_lock($1)`, e.FirefighterRO)
		}, denied},
		{"broker cannot SET ROLE to a firefighter", func() (string, error) { return exec(broker, `SET ROLE `+ident(e.FirefighterRW)) }, denied},
		{"broker cannot terminate other backends directly", func() (string, error) {
			var pid int
			if err := app.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
				return "", err
			}
			var ok bool
			err := broker.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ok)
			return pgtest.SQLState(err), err
		}, denied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.conn()
			if got != tc.state || (tc.state == "" && err != nil) {
				t.Errorf("SQLSTATE = %q (%v); want %q", got, err, tc.state)
			}
		})
	}

	// Schema public: refused from 15 on; before 15 the bootstrap cannot revoke PUBLIC's
	// CREATE there (TestPublicSchemaHardening asserts its NOTICE).
	got, err := exec(broker, `CREATE TABLE public.broker_table (id int)`)
	if cluster.Major >= 15 && got != denied {
		t.Errorf("broker CREATE TABLE in public on PostgreSQL %d: SQLSTATE %q (%v); want %s", cluster.Major, got, err, denied)
	}
}
