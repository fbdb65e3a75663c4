package drift_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/internal/pgtest"
	sqlscripts "github.com/ffbroker/ffbroker/sql"
	"github.com/ffbroker/ffbroker/sql/drift"
	"github.com/jackc/pgx/v5"
)

// master connects to e's database as the Aurora-like master, as `ffbroker verify` does.
func (e *env) master(t *testing.T) *pgx.Conn {
	t.Helper()
	return e.LoginWith(t, pgtest.MasterUser, pgtest.MasterPassword)
}

// verify runs Verify on conn and checks that it left the session as it found it.
func (e *env) verify(t *testing.T, conn *pgx.Conn) []drift.Check {
	t.Helper()
	ctx := context.Background()
	var before string
	if err := conn.QueryRow(ctx, `SELECT current_user`).Scan(&before); err != nil {
		t.Fatal(err)
	}
	checks, err := drift.Verify(ctx, conn, e.Names)
	if err != nil {
		t.Fatalf("Verify(%s) error = %v", e.DB, err)
	}
	var after string
	if err := conn.QueryRow(ctx, `SELECT current_user`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != before || conn.PgConn().TxStatus() != 'I' {
		t.Errorf("after Verify: current_user = %s, transaction status %c; want %s, idle", after, conn.PgConn().TxStatus(), before)
	}
	return checks
}

// asRole runs statements on the master's connection after SET ROLE role.
func (e *env) asRole(t *testing.T, role string, statements ...string) {
	t.Helper()
	m := e.master(t)
	mustExec(t, m, `SET ROLE `+ident(role))
	for _, s := range statements {
		mustExec(t, m, s)
	}
	mustExec(t, m, `RESET ROLE`)
}

// migrate creates application objects as section 8 says: the migrator logs in and
// runs its DDL after SET ROLE owner, so the default privileges apply.
func (e *env) migrate(t *testing.T, statements ...string) {
	t.Helper()
	m := e.Login(t, e.Migrator)
	mustExec(t, m, `SET ROLE `+ident(e.Owner))
	for _, s := range statements {
		mustExec(t, m, s)
	}
}

// orders is the migration pattern's example table, a view and a sequence of their own.
func (e *env) orders(t *testing.T) {
	t.Helper()
	s := ident(e.AppSchema)
	e.migrate(t,
		`CREATE TABLE `+s+`.orders (
			id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
			order_no text NOT NULL UNIQUE,
			status text NOT NULL DEFAULT 'created')`,
		`CREATE VIEW `+s+`.open_orders AS SELECT id, order_no FROM `+s+`.orders WHERE status = 'created'`,
		`CREATE SEQUENCE `+s+`.invoice_no`)
}

func failed(checks []drift.Check) []drift.Check {
	var out []drift.Check
	for _, c := range checks {
		if !c.Pass {
			out = append(out, c)
		}
	}
	return out
}

const publicSchemaCheck = "schema public: no CREATE for PUBLIC or runtime roles"

// expectedOnClean says whether c may fail on a clean bootstrap: before PostgreSQL 15
// the master cannot revoke PUBLIC's CREATE on schema public, a real finding.
func expectedOnClean(c drift.Check) bool {
	if cluster.Major >= 15 {
		return false
	}
	if c.Name == publicSchemaCheck {
		return strings.Contains(c.Reason, "PUBLIC has CREATE on schema public") && strings.Contains(c.Reason, "its owner must revoke it")
	}
	// The same finding, seen from the master's and the admin's search path.
	return strings.HasPrefix(c.Name, "search path of ") &&
		strings.Count(c.Reason, `PUBLIC can create objects in schema "public"`) == len(strings.Split(c.Reason, "; "))
}

func TestVerifyCleanBootstrap(t *testing.T) {
	e := newEnv(t, "vclean")
	e.orders(t)
	checks := e.verify(t, e.master(t))
	if len(checks) < 25 {
		t.Errorf("Verify returned %d checks; want at least 25", len(checks))
	}
	names := map[string]bool{}
	for _, c := range checks {
		if names[c.Name] {
			t.Errorf("two checks are named %q", c.Name)
		}
		names[c.Name] = true
		if c.Section == "" || c.Reason == "" {
			t.Errorf("check %q has section %q, reason %q; want both", c.Name, c.Section, c.Reason)
		}
		if !c.Pass && !expectedOnClean(c) {
			t.Errorf("on a clean bootstrap: %s", c)
		}
	}
	if cluster.Major < 15 && !names[publicSchemaCheck] {
		t.Errorf("PostgreSQL %d: no check %q", cluster.Major, publicSchemaCheck)
	}
	for _, c := range checks {
		if c.Name == publicSchemaCheck && c.Pass == (cluster.Major < 15) {
			t.Errorf("PostgreSQL %d: %s; want it to fail only before 15", cluster.Major, c)
		}
		if testing.Verbose() {
			t.Log(c)
		}
	}
}

// A live grant is no drift: the role may be valid until the grant ends.
func TestVerifyLiveGrant(t *testing.T) {
	e := newEnv(t, "vlive")
	e.Issue(t, e.FirefighterRO, randomPassword(t)+randomPassword(t), 1)
	checks := e.verify(t, e.master(t))
	for _, c := range failed(checks) {
		if !expectedOnClean(c) {
			t.Errorf("with a live grant: %s", c)
		}
	}
	for _, c := range checks {
		if c.Name == "password of "+e.FirefighterRO && !strings.Contains(c.Reason, "covered by 1 live grant") {
			t.Errorf("%s; want the reason to name the live grant", c)
		}
	}
}

// Each drift is made in its own role model and must be caught by a failing check whose
// name and reason name the object.
func TestVerifyDetectsDrift(t *testing.T) {
	tests := []struct {
		name string
		// drift changes e and returns the name of the check that must fail (a part of
		// it) and what its reason must contain.
		drift func(t *testing.T, e *env) (check string, reason []string)
	}{
		{"DELETE granted to the app", func(t *testing.T, e *env) (string, []string) {
			e.orders(t)
			e.asRole(t, e.Owner, `GRANT DELETE ON `+ident(e.AppSchema)+`.orders TO `+ident(e.App))
			return "table privileges of " + e.App, []string{`"app-schema".orders`, "DELETE granted"}
		}},
		{"TRUNCATE granted to firefighter rw", func(t *testing.T, e *env) (string, []string) {
			e.orders(t)
			e.asRole(t, e.Owner, `GRANT TRUNCATE ON `+ident(e.AppSchema)+`.orders TO `+ident(e.FirefighterRW))
			return "table privileges of " + e.FirefighterRW, []string{`"app-schema".orders`, "TRUNCATE granted"}
		}},
		{"UPDATE on a column granted to firefighter ro", func(t *testing.T, e *env) (string, []string) {
			e.orders(t)
			e.asRole(t, e.Owner, `GRANT UPDATE (status) ON `+ident(e.AppSchema)+`.orders TO `+ident(e.FirefighterRO))
			return "table privileges of " + e.FirefighterRO, []string{`"app-schema".orders`, "column-level UPDATE"}
		}},
		{"CREATE on schema public for PUBLIC", func(t *testing.T, e *env) (string, []string) {
			if cluster.Major >= 15 { // before 15 the bootstrap could not revoke it in the first place
				e.asRole(t, e.Owner, `GRANT CREATE ON SCHEMA public TO PUBLIC`)
			}
			if cluster.Major >= 15 {
				return publicSchemaCheck, []string{"PUBLIC has CREATE on schema public", "the database owner " + e.Owner + " must revoke it"}
			}
			return publicSchemaCheck, []string{"PUBLIC has CREATE on schema public", "its owner must revoke it"}
		}},
		{"firefighter password left valid with no live grant", func(t *testing.T, e *env) (string, []string) {
			mustExec(t, e.Super(t), `ALTER ROLE `+ident(e.FirefighterRO)+` PASSWORD '`+randomPassword(t)+`' VALID UNTIL 'infinity'`)
			return "password of " + e.FirefighterRO, []string{"password left valid with no live grant", e.FirefighterRO, "infinity"}
		}},
		{"grant ended and the sweep did not run", func(t *testing.T, e *env) (string, []string) {
			e.Issue(t, e.FirefighterRW, randomPassword(t)+randomPassword(t), 1)
			e.PastAllGrants(t, e.FirefighterRW)
			return "password of " + e.FirefighterRW, []string{"password left valid with no live grant", e.FirefighterRW}
		}},
		{"firefighter password without expiry", func(t *testing.T, e *env) (string, []string) {
			mustExec(t, e.Super(t), `ALTER ROLE `+ident(e.FirefighterRW)+` VALID UNTIL 'infinity'`)
			mustExec(t, e.Super(t), `UPDATE pg_authid SET rolvaliduntil = NULL WHERE rolname = $1`, e.FirefighterRW)
			return "password of " + e.FirefighterRW, []string{"VALID UNTIL NULL", e.FirefighterRW}
		}},
		{"firefighter session survives the expiry", func(t *testing.T, e *env) (string, []string) {
			pw := randomPassword(t) + randomPassword(t)
			e.Issue(t, e.FirefighterRO, pw, 1)
			e.LoginWith(t, e.FirefighterRO, pw)
			mustExec(t, e.Login(t, e.Broker), `SELECT db_admin.expire_firefighter_password($1)`, e.FirefighterRO)
			return "sessions of " + e.FirefighterRO, []string{"1 session(s) of " + e.FirefighterRO, "no live grant"}
		}},
		{"broker given SELECT on an app table", func(t *testing.T, e *env) (string, []string) {
			e.orders(t)
			e.asRole(t, e.Owner, `GRANT SELECT ON `+ident(e.AppSchema)+`.orders TO `+ident(e.Broker))
			return e.Broker + ": no privilege on any table", []string{`"app-schema".orders`, "SELECT"}
		}},
		{"broker given EXECUTE on a function outside db_admin", func(t *testing.T, e *env) (string, []string) {
			e.migrate(t, `CREATE FUNCTION `+ident(e.AppSchema)+`.order_count() RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint'`,
				`REVOKE ALL ON FUNCTION `+ident(e.AppSchema)+`.order_count() FROM PUBLIC`,
				`GRANT EXECUTE ON FUNCTION `+ident(e.AppSchema)+`.order_count() TO `+ident(e.Broker))
			return e.Broker + ": no other grant", []string{"is granted privileges on function", "order_count()"}
		}},
		{"broker given EXECUTE on an internal db_admin function", func(t *testing.T, e *env) (string, []string) {
			e.asRole(t, e.Admin, `GRANT EXECUTE ON FUNCTION db_admin.firefighter_role_checked(name) TO `+ident(e.Broker))
			return e.Broker + ": EXECUTE on exactly its db_admin functions", []string{"db_admin.firefighter_role_checked(name)", "not one of its functions"}
		}},
		{"activity login given EXECUTE on a broker function", func(t *testing.T, e *env) (string, []string) {
			e.asRole(t, e.Admin, `GRANT EXECUTE ON FUNCTION db_admin.expire_firefighter_password(name) TO `+ident(e.Activity))
			return e.Activity + ": EXECUTE on exactly its db_admin functions", []string{"db_admin.expire_firefighter_password(name)", "not one of its functions"}
		}},
		{"activity login given SELECT on the grant ledger", func(t *testing.T, e *env) (string, []string) {
			e.asRole(t, e.Admin, `GRANT SELECT ON db_admin.firefighter_grant TO `+ident(e.Activity))
			return e.Activity + ": no privilege on any table", []string{"firefighter_grant"}
		}},
		{"broker made a member of the app role", func(t *testing.T, e *env) (string, []string) {
			mustExec(t, e.master(t), `GRANT `+ident(e.App)+` TO `+ident(e.Broker))
			return e.Broker + " is a member of no role", []string{e.Broker + " is a member of " + e.App}
		}},
		{"app made a member of firefighter ro", func(t *testing.T, e *env) (string, []string) {
			mustExec(t, e.master(t), `GRANT `+ident(e.FirefighterRO)+` TO `+ident(e.App))
			return "members of " + e.FirefighterRO, []string{e.App, "is a member of " + e.FirefighterRO}
		}},
		{"broker given CREATEDB", func(t *testing.T, e *env) (string, []string) {
			mustExec(t, e.master(t), `ALTER ROLE `+ident(e.Broker)+` CREATEDB`)
			return "attributes of " + e.Broker, []string{"CREATEDB (want NOCREATEDB)"}
		}},
		{"db_admin function search_path altered", func(t *testing.T, e *env) (string, []string) {
			e.asRole(t, e.Admin, `ALTER FUNCTION db_admin.firefighter_status() SET search_path = public, pg_catalog`)
			return "db_admin functions pin search_path", []string{"db_admin.firefighter_status()", "search_path public, pg_catalog"}
		}},
		{"db_admin function executable by PUBLIC", func(t *testing.T, e *env) (string, []string) {
			e.asRole(t, e.Admin, `GRANT EXECUTE ON FUNCTION db_admin.expire_firefighter_password(name) TO PUBLIC`)
			return "db_admin functions: no EXECUTE for PUBLIC", []string{"PUBLIC can EXECUTE db_admin.expire_firefighter_password(name)"}
		}},
		{"allowlist names the app role", func(t *testing.T, e *env) (string, []string) {
			mustExec(t, e.Super(t), `UPDATE db_admin.firefighter_role SET role = $1 WHERE kind = 'rw'`, e.App)
			return "firefighter allowlist", []string{e.App + " (rw)"}
		}},
		{"migration ran without SET ROLE owner", func(t *testing.T, e *env) (string, []string) {
			mustExec(t, e.Login(t, e.Migrator), `CREATE TABLE `+ident(e.AppSchema)+`.audit_log (id bigint)`)
			return "objects in", []string{"audit_log", "owned by " + e.Migrator}
		}},
		{"function made executable by PUBLIC", func(t *testing.T, e *env) (string, []string) {
			// 005's global default keeps PUBLIC off new functions; a migration granting it is drift.
			e.migrate(t, `CREATE FUNCTION `+ident(e.AppSchema)+`.order_total() RETURNS numeric LANGUAGE sql AS 'SELECT 0::numeric';
				GRANT EXECUTE ON FUNCTION `+ident(e.AppSchema)+`.order_total() TO PUBLIC`)
			return "functions in", []string{`PUBLIC can EXECUTE "app-schema".order_total()`}
		}},
		{"app given CREATE on the app schema", func(t *testing.T, e *env) (string, []string) {
			e.asRole(t, e.Owner, `GRANT CREATE ON SCHEMA `+ident(e.AppSchema)+` TO `+ident(e.App))
			return e.App + " has USAGE, not CREATE", []string{e.App + ` has CREATE on schema "app-schema"`}
		}},
		{"firefighter given rds_iam", func(t *testing.T, e *env) (string, []string) {
			mustExec(t, e.master(t), `GRANT rds_iam TO `+ident(e.FirefighterRW))
			return "firefighter roles have no rds_iam", []string{e.FirefighterRW + " is a member of rds_iam"}
		}},
		{"guardrail reset", func(t *testing.T, e *env) (string, []string) {
			mustExec(t, e.master(t), `ALTER ROLE `+ident(e.FirefighterRW)+` IN DATABASE `+ident(e.DB)+` RESET lock_timeout`)
			return "session settings of " + e.FirefighterRW, []string{"lock_timeout=5s missing"}
		}},
		{"app connection limit changed", func(t *testing.T, e *env) (string, []string) {
			mustExec(t, e.master(t), `ALTER ROLE `+ident(e.App)+` CONNECTION LIMIT 0`)
			return "attributes of " + e.App, []string{"CONNECTION LIMIT 0 (want 100)"}
		}},
		{"PUBLIC given TEMPORARY on the database", func(t *testing.T, e *env) (string, []string) {
			e.asRole(t, e.Owner, `GRANT TEMPORARY ON DATABASE `+ident(e.DB)+` TO PUBLIC`)
			return "PUBLIC has nothing on database", []string{"PUBLIC has TEMPORARY on database " + e.DB}
		}},
		{"firefighter ro given CONNECT on template1", func(t *testing.T, e *env) (string, []string) {
			mustExec(t, e.Super(t), `GRANT CONNECT ON DATABASE template1 TO `+ident(e.FirefighterRO))
			return "firefighter roles connect to " + e.DB + " only", []string{e.FirefighterRO + ` can connect to database "template1"`}
		}},
		{"large object left by firefighter ro", func(t *testing.T, e *env) (string, []string) {
			s := e.Super(t)
			mustExec(t, s, `SET ROLE `+ident(e.FirefighterRO))
			mustExec(t, s, `SELECT pg_catalog.lo_from_bytea(0, 'left behind')`)
			return "objects owned by " + e.FirefighterRO, []string{"1 large object(s) in database " + ident(e.DB), "no live grant"}
		}},
		{"admin's search_path names a schema the app can write", func(t *testing.T, e *env) (string, []string) {
			e.asRole(t, e.Owner, `CREATE SCHEMA scratch`, `GRANT USAGE, CREATE ON SCHEMA scratch TO `+ident(e.App))
			mustExec(t, e.master(t), `ALTER ROLE `+ident(e.Admin)+` IN DATABASE `+ident(e.DB)+` SET search_path = scratch, pg_catalog`)
			return "search path of ", []string{e.App + ` can create objects in schema "scratch", which is on the search path of ` + e.Admin}
		}},
		{"schema named like the master writable by PUBLIC", func(t *testing.T, e *env) (string, []string) {
			e.asRole(t, e.Owner, `CREATE SCHEMA `+ident(pgtest.MasterUser), `GRANT CREATE ON SCHEMA `+ident(pgtest.MasterUser)+` TO PUBLIC`)
			return "search path of ", []string{"PUBLIC can create objects in schema " + ident(pgtest.MasterUser) + ", which is on the search path of " + pgtest.MasterUser}
		}},
		{"default privileges give the app DELETE", func(t *testing.T, e *env) (string, []string) {
			mustExec(t, e.master(t), `ALTER DEFAULT PRIVILEGES FOR ROLE `+ident(e.Owner)+` IN SCHEMA `+ident(e.AppSchema)+
				` GRANT DELETE ON TABLES TO `+ident(e.App))
			return "default privileges of " + e.Owner, []string{"extra: DELETE ON TABLES TO " + e.App}
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, "vdrift"+itoa(i))
			check, reason := tc.drift(t, e)
			checks := e.verify(t, e.master(t))
			caught := false
			for _, c := range failed(checks) {
				if !strings.Contains(c.Name, check) {
					continue
				}
				missing := false
				for _, r := range reason {
					missing = missing || !strings.Contains(c.Reason, r)
				}
				if !missing {
					caught = true
					t.Logf("caught by %s", c)
				}
			}
			if !caught {
				t.Errorf("drift %q: no failing check named like %q with a reason containing %q; failing checks:", tc.name, check, reason)
				for _, c := range failed(checks) {
					t.Errorf("  %s", c)
				}
			}
		})
	}
}

// The remedy the functions check gives for 005's per-schema REVOKE EXECUTE, which
// cannot remove PUBLIC's built-in EXECUTE: a default without IN SCHEMA. Verify accepts
// it, and the owner's new functions are then not executable by PUBLIC.
func TestVerifyAcceptsGlobalFunctionDefault(t *testing.T) {
	e := newEnv(t, "vfndef")
	e.asRole(t, e.Owner, `ALTER DEFAULT PRIVILEGES FOR ROLE `+ident(e.Owner)+` REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC`)
	e.migrate(t, `CREATE FUNCTION `+ident(e.AppSchema)+`.order_total() RETURNS numeric LANGUAGE sql AS 'SELECT 0::numeric'`)
	for _, c := range failed(e.verify(t, e.master(t))) {
		if !expectedOnClean(c) {
			t.Errorf("with a global REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC: %s", c)
		}
	}
}

// A role that does not inherit the admin's privileges but may SET ROLE to it reads the
// ledger after SET LOCAL ROLE, and Verify leaves its session's role alone.
func TestVerifyAsNoInheritMemberOfAdmin(t *testing.T) {
	e := newEnv(t, "vaudit")
	pw := randomPassword(t)
	auditor := "vaudit_auditor"
	m := e.master(t)
	mustExec(t, m, `CREATE ROLE `+ident(auditor)+` LOGIN NOINHERIT PASSWORD '`+pw+`'`)
	mustExec(t, m, `GRANT `+ident(e.Admin)+` TO `+ident(auditor))
	e.asRole(t, e.Owner, `GRANT CONNECT ON DATABASE `+ident(e.DB)+` TO `+ident(auditor))
	checks := e.verify(t, e.LoginWith(t, auditor, pw))
	for _, c := range checks {
		if !c.Pass && !expectedOnClean(c) {
			t.Errorf("as a NOINHERIT member of the admin: %s", c)
		}
		if c.Name == "password of "+e.FirefighterRO && !strings.Contains(c.Reason, "after SET LOCAL ROLE "+e.Admin) {
			t.Errorf("%s; want the reason to say the ledger was read after SET LOCAL ROLE", c)
		}
	}
}

// A role with no claim on the admin reads every catalog check, and gets the ledger
// checks failed with the reason, not an error.
func TestVerifyWithoutLedgerAccess(t *testing.T) {
	e := newEnv(t, "vnoledger")
	pw := randomPassword(t)
	reader := "vnoledger_reader"
	mustExec(t, e.master(t), `CREATE ROLE `+ident(reader)+` LOGIN PASSWORD '`+pw+`'`)
	e.asRole(t, e.Owner, `GRANT CONNECT ON DATABASE `+ident(e.DB)+` TO `+ident(reader))
	checks := e.verify(t, e.LoginWith(t, reader, pw))
	ledger := map[string]bool{
		"firefighter allowlist db_admin.firefighter_role": true,
		"password of " + e.FirefighterRO:                  true, "password of " + e.FirefighterRW: true,
		"sessions of " + e.FirefighterRO: true, "sessions of " + e.FirefighterRW: true,
	}
	for _, c := range checks {
		switch {
		case ledger[c.Name]:
			if c.Pass || !strings.Contains(c.Reason, reader+" can neither read db_admin.firefighter_grant") {
				t.Errorf("as %s: %s; want a failure saying the ledger cannot be read", reader, c)
			}
		case !c.Pass && !expectedOnClean(c):
			t.Errorf("as %s, a plain role: %s", reader, c)
		}
	}
}

func TestVerifyRefusesAnotherDatabase(t *testing.T) {
	e := newEnv(t, "vwrongdb")
	conn, err := cluster.Connect(context.Background(), pgtest.MasterUser, pgtest.MasterPassword, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := drift.Verify(context.Background(), conn, e.Names); err == nil || !strings.Contains(err.Error(), e.DB) {
		t.Errorf("Verify connected to postgres error = %v; want one naming %s", err, e.DB)
	}
	if _, err := drift.Verify(context.Background(), conn, broker.Names{Prefix: "Bad-Prefix"}); err == nil {
		t.Error("Verify with prefix Bad-Prefix error = nil; want a refusal")
	}
}

// The embedded scripts are complete: bootstrap.sql runs from a copy of them in a
// temporary directory, as `ffbroker bootstrap` runs it, and the result verifies with
// Names{}. It is the one test of this package that uses the default names.
func TestScriptsBootstrapFromCopy(t *testing.T) {
	scripts := sqlscripts.Scripts()
	b, err := fs.ReadFile(scripts, "bootstrap.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^\\ir (\S+)`).FindAllStringSubmatch(string(b), -1) {
		if _, err := fs.Stat(scripts, m[1]); err != nil {
			t.Errorf("bootstrap.sql includes %s, which Scripts() lacks: %v", m[1], err)
		}
	}
	if _, err := fs.Stat(scripts, "README.md"); err != nil {
		t.Errorf("Scripts() lacks README.md: %v", err)
	}

	dir := filepath.Join(t.TempDir(), "sql")
	if err := os.CopyFS(dir, scripts); err != nil {
		t.Fatal(err)
	}
	if out, err := cluster.RunPsql(context.Background(), pgtest.MasterUser, pgtest.MasterPassword,
		"-X", "-v", "ON_ERROR_STOP=1", "-h", cluster.Host, "-p", itoa(cluster.Port), "-U", pgtest.MasterUser, "-d", "postgres",
		"-f", filepath.Join(dir, "bootstrap.sql")); err != nil {
		t.Fatalf("bootstrap from the embedded scripts: %v\n%s", err, out)
	}
	conn, err := cluster.Connect(context.Background(), pgtest.MasterUser, pgtest.MasterPassword, broker.DefaultNames().DBName)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	checks, err := drift.Verify(context.Background(), conn, broker.Names{})
	if err != nil {
		t.Fatalf("Verify(Names{}) error = %v", err)
	}
	for _, c := range checks {
		if !c.Pass && !expectedOnClean(c) {
			t.Errorf("after a bootstrap from the embedded scripts: %s", c)
		}
		if strings.HasPrefix(c.Name, "attributes of ") && !strings.Contains(c.Name, "my_pg_") {
			t.Errorf("Verify(Names{}) checked %q; want the default prefix my_pg", c.Name)
		}
	}
}

// On Aurora (rds_password exists) verify requires rds.restrict_password_commands on:
// without it a firefighter changes its own password.
func TestVerifyRequiresRestrictedPasswordCommands(t *testing.T) {
	e := newEnv(t, "vrpc")
	ctx := context.Background()
	const name = "only rds_password members change passwords (rds.restrict_password_commands)"
	find := func() drift.Check {
		for _, c := range e.verify(t, e.master(t)) {
			if c.Name == name {
				return c
			}
		}
		t.Fatalf("no check %q", name)
		return drift.Check{}
	}
	if c := find(); !c.Pass {
		t.Errorf("with the setting on: %s", c)
	}
	if err := cluster.SetServerSetting(ctx, "rds.restrict_password_commands", "off"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.SetServerSetting(ctx, "rds.restrict_password_commands", "on"); err != nil {
			t.Error(err)
		}
	})
	if c := find(); c.Pass || !strings.Contains(c.Reason, "rds.restrict_password_commands is off") {
		t.Errorf("with the setting off: %s; want it failed, naming the setting", c)
	}
}
