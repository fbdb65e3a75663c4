package sqlscripts_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

// snapshot is everything the bootstrap decides, read from the catalogs.
func snapshot(t *testing.T, e *env) map[string][]string {
	t.Helper()
	s := e.Super(t)
	like := e.Vars.Prefix + `\_%`
	queries := map[string]string{
		"roles": `SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolinherit, rolconnlimit, rolvaliduntil, rolpassword IS NULL
			FROM pg_authid WHERE rolname LIKE $1 ORDER BY 1`,
		"members": `SELECT roleid::regrole::text, member::regrole::text, admin_option FROM pg_auth_members
			WHERE roleid::regrole::text LIKE $1 OR member::regrole::text LIKE $1 ORDER BY 1, 2, 3`,
		"settings": `SELECT setrole::regrole::text, array_to_string(setconfig, ',') FROM pg_db_role_setting s
			WHERE setrole::regrole::text LIKE $1 ORDER BY 1, 2`,
		"database": `SELECT datname, datdba::regrole::text, datconnlimit, datacl::text FROM pg_database
			WHERE datname = current_database() AND $1 <> ''`,
		"schemas": `SELECT nspname, nspowner::regrole::text, nspacl::text FROM pg_namespace
			WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema' AND $1 <> '' ORDER BY 1`,
		"default_acl": `SELECT defaclrole::regrole::text, defaclnamespace::regnamespace::text, defaclobjtype::text, defaclacl::text
			FROM pg_default_acl WHERE $1 <> '' ORDER BY 1, 2, 3`,
		"functions": `SELECT p.oid::regprocedure::text, p.proowner::regrole::text, p.prosecdef, array_to_string(p.proconfig, ','),
			p.proacl::text, md5(p.prosrc) FROM pg_proc p WHERE p.pronamespace = 'db_admin'::regnamespace AND $1 <> '' ORDER BY 1`,
		"tables": `SELECT c.oid::regclass::text, c.relowner::regrole::text, c.relacl::text FROM pg_class c
			WHERE c.relnamespace = 'db_admin'::regnamespace AND $1 <> '' ORDER BY 1`,
		"allowlist": `SELECT role, kind FROM db_admin.firefighter_role WHERE $1 <> '' ORDER BY 1`,
	}
	out := map[string][]string{}
	for name, q := range queries {
		out[name] = queryStrings(t, s, q, like)
	}
	return out
}

// A second run of the bootstrap succeeds and changes nothing: not the catalogs, and
// not a password or a live grant set since the first run.
func TestBootstrapIdempotent(t *testing.T) {
	e := newEnv(t, "idemp")
	password := randomPassword(t)
	e.Issue(t, e.FirefighterRO, password, 1)
	before := snapshot(t, e)
	for name, rows := range before {
		if len(rows) == 0 {
			t.Errorf("snapshot %s is empty; the comparison would prove nothing", name)
		}
	}
	out, err := cluster.Bootstrap(context.Background(), e.Vars)
	if err != nil {
		t.Fatalf("second bootstrap: %v", err)
	}
	if strings.Contains(out, "ERROR") || strings.Contains(out, "WARNING") {
		t.Errorf("second bootstrap printed an error or warning:\n%s", out)
	}
	after := snapshot(t, e)
	for name := range before {
		if !reflect.DeepEqual(before[name], after[name]) {
			t.Errorf("%s changed on the second run:\nbefore %q\n after %q", name, before[name], after[name])
		}
	}
	e.LoginWith(t, e.FirefighterRO, password) // the live grant survived the re-run
}

func TestBootstrapRefusesBadVariables(t *testing.T) {
	tests := []struct {
		name, flag string
	}{
		{"unknown flavor", "flavor=oracle"},
		{"prefix with a quote", "prefix=x'y"},
		{"prefix with upper case", "prefix=Bad"},
	}
	dir := "../sql/bootstrap.sql"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := cluster.RunPsql(context.Background(), "master", "master-password-for-tests-only",
				"-X", "-v", "ON_ERROR_STOP=1", "-h", cluster.Host, "-p", itoa(cluster.Port), "-U", "master", "-d", "postgres",
				"-v", tc.flag, "-f", dir)
			if err == nil {
				t.Errorf("bootstrap with %s succeeded; want a refusal\n%s", tc.flag, out)
			}
		})
	}
}

// A fresh bootstrap and a re-run print no NOTICE but the bootstrap's own (prefixed
// "ffbroker:", which a DBA must read): none of the "already exists, skipping" or "does
// not exist, skipping" that the idempotent statements would print.
func TestBootstrapPrintsNoSkippingNotice(t *testing.T) {
	e := newEnv(t, "quiet")
	again, err := cluster.Bootstrap(context.Background(), e.Vars)
	if err != nil {
		t.Fatalf("second bootstrap: %v", err)
	}
	for run, out := range map[string]string{"fresh bootstrap": e.Output, "re-run": again} {
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "skipping") ||
				(strings.Contains(line, "NOTICE:") && !strings.Contains(line, "NOTICE:  ffbroker: ")) {
				t.Errorf("%s printed %q", run, line)
			}
		}
	}
}
