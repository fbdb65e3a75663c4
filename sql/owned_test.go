package sqlscripts_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// leaveObjects makes what an ro holder can leave behind in the application database:
// a large object always, and a function where schema public grants it CREATE
// (PostgreSQL 13 and 14). It returns how many objects it made.
func leaveObjects(t *testing.T, e *env, password string) int {
	t.Helper()
	ro := e.LoginWith(t, e.FirefighterRO, password)
	mustExec(t, ro, `SELECT pg_catalog.lo_from_bytea(0, 'left behind')`)
	n := 1
	var create bool
	if err := ro.QueryRow(context.Background(), `SELECT pg_catalog.has_schema_privilege('public', 'CREATE')`).Scan(&create); err != nil {
		t.Fatal(err)
	}
	if create {
		mustExec(t, ro, `CREATE FUNCTION public.left_behind() RETURNS int LANGUAGE sql AS 'SELECT 1'`)
		n++
	}
	if got := owned(t, e); got != itoa(n) {
		t.Fatalf("%s owns %s objects; want %d before the expiry", e.FirefighterRO, got, n)
	}
	ro.Close(context.Background())
	return n
}

// owned returns how many objects the ro role owns in the application database, and
// how many large objects, as "objects" and "objects|large objects".
func owned(t *testing.T, e *env) string {
	t.Helper()
	s := e.Super(t)
	rows := queryStrings(t, s, `SELECT count(*) FROM pg_shdepend d
		WHERE d.deptype = 'o' AND d.refobjid = $1::regrole
		  AND d.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`, e.FirefighterRO)
	return rows[0]
}

func largeObjects(t *testing.T, e *env) string {
	t.Helper()
	return queryStrings(t, e.Super(t), `SELECT count(*) FROM pg_largeobject_metadata WHERE lomowner = $1::regrole`, e.FirefighterRO)[0]
}

// The red team's hole 4: objects an ro holder creates outlive the grant. The broker's
// expiry removes them (large objects included) and the role keeps its privileges.
func TestExpiryRemovesWhatAFirefighterOwns(t *testing.T) {
	e := newEnv(t, "ownexp")
	pw := randomPassword(t)
	e.Issue(t, e.FirefighterRO, pw, 1)
	leaveObjects(t, e, pw)
	mustExec(t, e.Login(t, e.Broker), `SELECT db_admin.expire_firefighter_password($1)`, e.FirefighterRO)
	if got := largeObjects(t, e); got != "0" {
		t.Errorf("after the expiry %s owns %s large objects; want 0", e.FirefighterRO, got)
	}
	if got := owned(t, e); got != "0" {
		t.Errorf("after the expiry %s owns %s objects; want 0", e.FirefighterRO, got)
	}
	// Not DROP OWNED BY: the role keeps what the role model grants it.
	got := queryStrings(t, e.Super(t), `SELECT has_database_privilege($1, current_database(), 'CONNECT'),
		has_schema_privilege($1, $2, 'USAGE')`, e.FirefighterRO, e.AppSchema)
	if got[0] != "true|true" {
		t.Errorf("after the expiry %s has CONNECT|USAGE %s; want true|true", e.FirefighterRO, got[0])
	}
}

// The sweep removes them too once no grant is live, and says so with a row.
func TestSweepRemovesWhatAFirefighterOwns(t *testing.T) {
	e := newEnv(t, "ownswp")
	pw := randomPassword(t)
	e.Issue(t, e.FirefighterRO, pw, 1)
	leaveObjects(t, e, pw)
	e.PastAllGrants(t, e.FirefighterRO)
	b := e.Login(t, e.Broker)
	rows := queryStrings(t, b, `SELECT role FROM db_admin.sweep_expired_firefighters()`)
	if !strings.Contains(strings.Join(rows, ","), e.FirefighterRO) {
		t.Errorf("sweep returned %q; want a row for %s", rows, e.FirefighterRO)
	}
	if got := largeObjects(t, e); got != "0" {
		t.Errorf("after the sweep %s owns %s large objects; want 0", e.FirefighterRO, got)
	}
	if got := owned(t, e); got != "0" {
		t.Errorf("after the sweep %s owns %s objects; want 0", e.FirefighterRO, got)
	}
	// Only a large object left (nothing else to take back): the sweep still removes it.
	s := e.Super(t)
	mustExec(t, s, `SET ROLE `+ident(e.FirefighterRO))
	mustExec(t, s, `SELECT pg_catalog.lo_from_bytea(0, 'again')`)
	mustExec(t, s, `RESET ROLE`)
	queryStrings(t, b, `SELECT role FROM db_admin.sweep_expired_firefighters()`)
	if got := largeObjects(t, e); got != "0" {
		t.Errorf("after a second sweep %s owns %s large objects; want 0", e.FirefighterRO, got)
	}
	if rows := queryStrings(t, b, `SELECT role FROM db_admin.sweep_expired_firefighters()`); len(rows) != 0 {
		t.Errorf("a sweep with nothing to take back returned %q; want no row", rows)
	}
}

// On Aurora the bootstrap requires rds.restrict_password_commands: without it any
// firefighter changes its own password and locks its colleagues out.
func TestBootstrapRequiresRestrictedPasswordCommandsOnAurora(t *testing.T) {
	ctx := context.Background()
	if err := cluster.SetServerSetting(ctx, "rds.restrict_password_commands", "off"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.SetServerSetting(ctx, "rds.restrict_password_commands", "on"); err != nil {
			t.Error(err)
		}
	})
	out, err := cluster.Bootstrap(ctx, pgtest.Vars{Prefix: "rpc", DBName: "rpc-db", Flavor: "aurora"})
	if err == nil || !strings.Contains(out, "ffbroker: flavor aurora needs rds.restrict_password_commands = 1") {
		t.Errorf("bootstrap with rds.restrict_password_commands off = %v\n%s; want the preflight's refusal", err, out)
	}
	if got := queryStrings(t, superPostgres(t), `SELECT count(*) FROM pg_roles WHERE rolname LIKE 'rpc\_%'`); got[0] != "0" {
		t.Errorf("the refused bootstrap created %s roles; want none", got[0])
	}
	if out, err := cluster.Bootstrap(ctx, pgtest.Vars{Prefix: "rpcpg", DBName: "rpcpg-db", Flavor: "postgres"}); err != nil {
		t.Errorf("flavor postgres needs no rds.restrict_password_commands: %v\n%s", err, out)
	}
}

// superPostgres connects to postgres as the bootstrap superuser.
func superPostgres(t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := cluster.ConnectSuper(context.Background(), "postgres")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}
