package sqlscripts_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

// The role model's verification queries, as assertions with the exact expected values.
func TestVerificationRoleAttributes(t *testing.T) {
	e := newEnv(t, "verify")
	got := queryStrings(t, e.Super(t), `
		SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolconnlimit,
		       coalesce(rolvaliduntil = 'epoch', false)
		FROM pg_roles WHERE rolname LIKE 'verify\_%' ORDER BY rolname`)
	want := []string{
		"verify_activity_monitor|true|false|false|false|false|false|2|false",
		"verify_admin|true|false|true|true|false|false|-1|false",
		"verify_app|true|false|false|false|false|false|100|false",
		"verify_firefighter_ro|true|false|false|false|false|false|5|true",
		"verify_firefighter_rw|true|false|false|false|false|false|3|true",
		"verify_migrator|true|false|false|false|false|false|-1|false",
		"verify_owner|false|false|false|false|false|false|-1|false",
		"verify_password_approver|true|false|false|false|false|false|2|false",
		"verify_password_broker|true|false|false|false|false|false|3|false",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("role attributes:\n got %q\nwant %q", got, want)
	}
}

func TestVerificationMemberships(t *testing.T) {
	e := newEnv(t, "member")
	got := queryStrings(t, e.Super(t), `
		SELECT r.rolname, m.rolname, a.admin_option
		FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
		WHERE m.rolname LIKE 'member\_%' ORDER BY 1, 2, 3`)
	want := []string{
		"member_firefighter_ro|member_admin|true",
		"member_firefighter_rw|member_admin|true",
		"member_owner|member_admin|true",
		"member_owner|member_migrator|false",
		"rds_iam|member_activity_monitor|false",
		"rds_iam|member_password_approver|false",
		"rds_iam|member_password_broker|false",
		"rds_password|member_admin|false",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("memberships of the model's roles:\n got %q\nwant %q", got, want)
	}
	// Nobody but the admin is a member of a firefighter role, so nobody else inherits
	// or can SET ROLE to one.
	others := queryStrings(t, e.Super(t), `
		SELECT m.rolname FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
		WHERE r.rolname IN ('member_firefighter_ro', 'member_firefighter_rw', 'member_password_broker')
		  AND m.rolname NOT IN ('member_admin', $1)`, "master")
	if len(others) != 0 {
		t.Errorf("members of firefighter/broker roles besides the admin and the master: %q", others)
	}
}

func TestVerificationDatabaseAndSchemaPrivileges(t *testing.T) {
	e := newEnv(t, "priv")
	s := e.Super(t)
	got := queryStrings(t, s, `
		SELECT r, has_database_privilege(r, $1, 'CONNECT'), has_database_privilege(r, $1, 'CREATE'),
		       has_database_privilege(r, $1, 'TEMPORARY')
		FROM unnest($2::text[]) AS r ORDER BY r`, e.DB,
		[]string{e.Admin, e.Owner, e.Migrator, e.App, e.FirefighterRO, e.FirefighterRW, e.Broker, e.Vars.Prefix + "_activity_monitor"})
	want := []string{
		"priv_activity_monitor|true|false|false",
		"priv_admin|true|true|true", // the admin inherits the owner (GRANT owner TO admin)
		"priv_app|true|false|false",
		"priv_firefighter_ro|true|false|false",
		"priv_firefighter_rw|true|false|false",
		"priv_migrator|true|true|true", // through SET ROLE owner (inherited membership)
		"priv_owner|true|true|true",
		"priv_password_broker|true|false|false",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("database privileges:\n got %q\nwant %q", got, want)
	}
	if got := queryStrings(t, s, `SELECT a.privilege_type FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $1 AND a.grantee = 0`, e.DB); len(got) != 0 {
		t.Errorf("database ACL grants PUBLIC %q; want nothing", got)
	}

	got = queryStrings(t, s, `
		SELECT r, has_schema_privilege(r, $1, 'USAGE'), has_schema_privilege(r, $1, 'CREATE'),
		       has_schema_privilege(r, 'db_admin', 'USAGE'), has_schema_privilege(r, 'db_admin', 'CREATE')
		FROM unnest($2::text[]) AS r ORDER BY r`, e.AppSchema,
		[]string{e.App, e.FirefighterRO, e.FirefighterRW, e.Broker, e.Vars.Prefix + "_activity_monitor"})
	want = []string{
		"priv_activity_monitor|false|false|true|false",
		"priv_app|true|false|false|false",
		"priv_firefighter_ro|true|false|false|false",
		"priv_firefighter_rw|true|false|false|false",
		"priv_password_broker|false|false|true|false",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("schema privileges (app schema usage, create; db_admin usage, create):\n got %q\nwant %q", got, want)
	}
}

// Schema public: revoked from PUBLIC from PostgreSQL 15 on; before 15 the Aurora master
// cannot, and the bootstrap says so in a NOTICE instead of pretending.
func TestPublicSchemaHardening(t *testing.T) {
	e := newEnv(t, "pub")
	var create, usage bool
	if err := e.Super(t).QueryRow(context.Background(),
		`SELECT has_schema_privilege($1, 'public', 'CREATE'), has_schema_privilege($1, 'public', 'USAGE')`, e.App).Scan(&create, &usage); err != nil {
		t.Fatal(err)
	}
	notice := strings.Contains(e.Output, "NOTICE:  ffbroker: schema public of database")
	if cluster.Major >= 15 {
		if create || usage || notice {
			t.Errorf("PostgreSQL %d: app CREATE on public = %v, USAGE = %v, notice = %v; want false, false, false", cluster.Major, create, usage, notice)
		}
		return
	}
	if !create || !notice {
		t.Errorf("PostgreSQL %d: app CREATE on public = %v, notice = %v; want true (the master cannot revoke it) and a NOTICE saying so\n%s",
			cluster.Major, create, notice, e.Output)
	}
}

func TestDefaultPrivileges(t *testing.T) {
	e := newEnv(t, "defacl")
	got := queryStrings(t, e.Super(t), `
		SELECT defaclobjtype::text, defaclacl::text FROM pg_default_acl d
		JOIN pg_namespace n ON n.oid = d.defaclnamespace
		WHERE d.defaclrole = $1::regrole AND n.nspname = $2 ORDER BY 1`, e.Owner, e.AppSchema)
	want := []string{
		"S|{defacl_app=rU/defacl_owner,defacl_firefighter_ro=r/defacl_owner,defacl_firefighter_rw=rU/defacl_owner}",
		"f|{defacl_app=X/defacl_owner}",
		"r|{defacl_app=arw/defacl_owner,defacl_firefighter_ro=r/defacl_owner,defacl_firefighter_rw=arwd/defacl_owner}",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("default privileges of the owner in the app schema:\n got %q\nwant %q", got, want)
	}
}

// Session guardrails (section 10), read back as the firefighter roles themselves.
func TestGuardrails(t *testing.T) {
	e := newEnv(t, "guard")
	ro, rw := randomPassword(t)+randomPassword(t), randomPassword(t)+randomPassword(t)
	e.Issue(t, e.FirefighterRO, ro, 1)
	e.Issue(t, e.FirefighterRW, rw, 1)
	tests := []struct {
		role, password, setting, want string
	}{
		{e.FirefighterRO, ro, "statement_timeout", "5min"},
		{e.FirefighterRO, ro, "idle_in_transaction_session_timeout", "2min"},
		{e.FirefighterRW, rw, "statement_timeout", "5min"},
		{e.FirefighterRW, rw, "lock_timeout", "5s"},
		{e.FirefighterRW, rw, "idle_in_transaction_session_timeout", "2min"},
	}
	for _, tc := range tests {
		t.Run(tc.role+"/"+tc.setting, func(t *testing.T) {
			var got string
			if err := e.LoginWith(t, tc.role, tc.password).QueryRow(context.Background(), "SHOW "+tc.setting).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("SHOW %s as %s = %q; want %q", tc.setting, tc.role, got, tc.want)
			}
		})
	}
	var sp string
	if err := e.Login(t, e.App).QueryRow(context.Background(), "SHOW search_path").Scan(&sp); err != nil {
		t.Fatal(err)
	}
	if want := `"app-schema", public`; sp != want {
		t.Errorf("SHOW search_path as app = %q; want %q", sp, want)
	}
}
