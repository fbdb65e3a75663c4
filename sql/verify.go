package sql

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The defaults of bootstrap.sql's psql variables: the seed's names.
const (
	DefaultPrefix    = "my_pg"
	DefaultDBName    = "my-pg-db"
	DefaultAppSchema = "my-pg-db-schema"
)

// Names are the psql variables bootstrap.sql ran with. Empty fields mean the defaults.
type Names struct {
	// Prefix names the roles: <Prefix>_admin, <Prefix>_owner, ... (see Roles).
	Prefix string
	// DBName is the application database, owned by the owner role.
	DBName string
	// AppSchema is the application schema in DBName, owned by the owner role.
	AppSchema string
}

// WithDefaults returns n with each empty field set to its default.
func (n Names) WithDefaults() Names {
	if n.Prefix == "" {
		n.Prefix = DefaultPrefix
	}
	if n.DBName == "" {
		n.DBName = DefaultDBName
	}
	if n.AppSchema == "" {
		n.AppSchema = DefaultAppSchema
	}
	return n
}

var prefixPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,30}$`)

// Validate refuses the names that bootstrap.sql's preflight refuses; empty fields are
// valid (they mean the defaults).
func (n Names) Validate() error {
	n = n.WithDefaults()
	if !prefixPattern.MatchString(n.Prefix) {
		return fmt.Errorf("prefix must match %s, not %q", prefixPattern, n.Prefix)
	}
	if len(n.DBName) > 63 || len(n.AppSchema) > 63 {
		return errors.New("db_name and app_schema must be 1 to 63 characters")
	}
	return nil
}

// Roles are the names of the seven roles of the role model (seed section 1).
type Roles struct {
	// Admin administers roles and owns db_admin; Owner (NOLOGIN) owns the database,
	// the application schema and its objects; Migrator runs DDL after SET ROLE Owner.
	Admin, Owner, Migrator string
	// App is the application's runtime login.
	App string
	// FirefighterRO and FirefighterRW are the incident logins that get temporary
	// passwords; Broker is the password broker's login.
	FirefighterRO, FirefighterRW, Broker string
}

// Roles derives the role names from the prefix (the default when empty) exactly as
// bootstrap.sql does.
func (n Names) Roles() Roles {
	p := n.WithDefaults().Prefix
	return Roles{
		Admin: p + "_admin", Owner: p + "_owner", Migrator: p + "_migrator", App: p + "_app",
		FirefighterRO: p + "_firefighter_ro", FirefighterRW: p + "_firefighter_rw", Broker: p + "_password_broker",
	}
}

// All returns the seven role names in the order bootstrap.sql creates them.
func (r Roles) All() []string {
	return []string{r.Admin, r.Owner, r.Migrator, r.App, r.FirefighterRO, r.FirefighterRW, r.Broker}
}

// Check is the outcome of one verification of the live database against the role model.
type Check struct {
	// Name says what was checked and names the role or object, e.g.
	// "attributes of my_pg_app".
	Name string
	// Section is the seed section the expectation comes from, e.g. "11 role attributes",
	// "9 temporary firefighter passwords" or "14 checklist".
	Section string
	// Pass is true when the database matches the role model.
	Pass bool
	// Reason says what was found when the check fails, and what was checked when it
	// passes.
	Reason string
}

// String formats c as one line: PASS or FAIL, the section, the name and the reason.
func (c Check) String() string {
	verdict := "FAIL"
	if c.Pass {
		verdict = "PASS"
	}
	return fmt.Sprintf("%s [%s] %s: %s", verdict, c.Section, c.Name, c.Reason)
}

// The seed sections the checks come from.
const (
	secAttributes = "11 role attributes"
	secRoles      = "3 bootstrap roles"
	secDatabase   = "11 database privileges"
	secSchema     = "11 schema privileges"
	secTables     = "11 table privileges"
	secObjects    = "6 existing object grants"
	secFuture     = "7 future object grants"
	secMigration  = "8 migration DDL pattern"
	secDefaults   = "11 default privileges"
	secFirefight  = "9 temporary firefighter passwords"
	secGuardrails = "10 session guardrails"
	secChecklist  = "14 checklist"
)

// brokerFunctions are the db_admin functions 007_db_admin.sql grants EXECUTE on to the
// password broker, as "schema.name(argument types)".
var brokerFunctions = []string{
	"db_admin.set_firefighter_password(name, text, integer)",
	"db_admin.reserve_firefighter_grant(uuid, name, integer, text, text, text)",
	"db_admin.issue_firefighter_password(uuid, name, text, integer, text, text, text)",
	"db_admin.expire_firefighter_password(name)",
	"db_admin.terminate_firefighter_sessions(name)",
	"db_admin.sweep_expired_firefighters()",
	"db_admin.firefighter_status()",
	"db_admin.live_firefighter_grants()",
	"db_admin.lock_firefighter_role(name)",
	"db_admin.current_firefighter_grant(name)",
}

// Verify runs the seed's verification (section 11) and production checklist (section
// 14), and checks the db_admin functions and the password broker's privileges, against
// the live database conn is connected to, which must be n's application database. It
// returns one Check per expectation, passed or failed; the error is for a database
// that could not be read at all.
//
// conn's role needs no superuser: Verify reads only catalogs that every role may read
// (never pg_authid), plus the firefighter grant ledger in db_admin, which belongs to
// the admin. Run it as the master, which inherits the admin's privileges (the
// bootstrap makes it a member of the admin). A role that does not inherit them but may
// SET ROLE to the admin reads the ledger after SET LOCAL ROLE; any other role gets the
// firefighter password checks failed with the reason. Verify works in one read-only
// transaction that it rolls back, so it changes nothing, not even the session's role.
func Verify(ctx context.Context, conn *pgx.Conn, n Names) ([]Check, error) {
	n = n.WithDefaults()
	if err := n.Validate(); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	v := &verifier{tx: tx, names: n, roles: n.Roles()}
	var db string
	if err := tx.QueryRow(ctx, `SELECT pg_catalog.current_database()::text, current_user::text,
		pg_catalog.current_setting('server_version_num')::integer`).Scan(&db, &v.user, &v.version); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	if db != n.DBName {
		return nil, fmt.Errorf("verify: connected to database %q; the role model lives in %q", db, n.DBName)
	}
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"roles", v.loadRoles},
		{"role attributes", v.roleAttributes},
		{"memberships", v.memberships},
		{"role design", v.roleDesign},
		{"database", v.database},
		{"application schema", v.appSchema},
		{"schema public", v.publicSchema},
		{"tables", v.tables},
		{"sequences", v.sequences},
		{"ownership", v.ownership},
		{"application functions", v.appFunctions},
		{"default privileges", v.defaultPrivileges},
		{"db_admin", v.dbAdmin},
		{"password broker", v.broker},
		{"firefighter passwords", v.firefighters},
		{"guardrails", v.guardrails},
	}
	for _, s := range steps {
		if err := s.run(ctx); err != nil {
			return nil, fmt.Errorf("verify %s: %w", s.name, err)
		}
	}
	return v.checks, nil
}

// verifier holds what one Verify has learnt and the checks it has made so far.
type verifier struct {
	tx      pgx.Tx
	names   Names
	roles   Roles
	user    string // the role Verify runs as
	version int    // server_version_num
	attrs   map[string]roleAttrs
	members []membership
	checks  []Check
}

// add records a check: it passes when problems is empty, with passReason as its reason.
func (v *verifier) add(section, name string, problems []string, passReason string) {
	c := Check{Name: name, Section: section, Pass: len(problems) == 0, Reason: passReason}
	if !c.Pass {
		c.Reason = strings.Join(problems, "; ")
	}
	v.checks = append(v.checks, c)
}

func (v *verifier) exists(role string) bool { _, ok := v.attrs[role]; return ok }

// missing returns a problem for each of roles that does not exist.
func (v *verifier) missing(roles ...string) []string {
	var out []string
	for _, r := range roles {
		if !v.exists(r) {
			out = append(out, fmt.Sprintf("role %s does not exist", r))
		}
	}
	return out
}

func collect[T any](ctx context.Context, tx pgx.Tx, sql string, args ...any) ([]T, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[T])
}

// schemaName quotes a schema name the way psql and the reasons show it.
func schemaName(s string) string { return pgx.Identifier{s}.Sanitize() }

// privilegeDiff says how held differs from want, e.g. "DELETE granted (not wanted),
// UPDATE missing"; "" when they hold the same privileges.
func privilegeDiff(held, want []string) string {
	var parts []string
	for _, p := range held {
		if !slices.Contains(want, p) {
			parts = append(parts, p+" granted (not wanted)")
		}
	}
	for _, p := range want {
		if !slices.Contains(held, p) {
			parts = append(parts, p+" missing")
		}
	}
	return strings.Join(parts, ", ")
}

// roleAttrs are the attributes of one role, from pg_roles.
type roleAttrs struct {
	Name                                                          string
	Login, Super, Inherit, CreateRole, CreateDB, Replication, RLS bool
	ConnLimit                                                     int32
}

// membership is one row of pg_auth_members. Before PostgreSQL 16 INHERIT is the
// member's attribute and SET ROLE is always allowed.
type membership struct {
	Role, Member string
	// Automatic is the ADMIN-only grant that PostgreSQL 16+ gives a CREATEROLE role on
	// each role it creates (grantor: the bootstrap superuser, neither INHERIT nor SET).
	Automatic            bool
	Admin, Inherit, SetR bool
}

func (m membership) String() string {
	var opts []string
	if m.Admin {
		opts = append(opts, "ADMIN")
	}
	if m.Inherit {
		opts = append(opts, "INHERIT")
	}
	if m.SetR {
		opts = append(opts, "SET")
	}
	return fmt.Sprintf("%s (%s)", m.Member, strings.Join(opts, ", "))
}

// loadRoles reads the model's roles that exist and every membership that involves one.
func (v *verifier) loadRoles(ctx context.Context) error {
	attrs, err := collect[roleAttrs](ctx, v.tx, `
		SELECT rolname::text, rolcanlogin, rolsuper, rolinherit, rolcreaterole, rolcreatedb,
		       rolreplication, rolbypassrls, rolconnlimit
		FROM pg_catalog.pg_roles WHERE rolname::text = ANY($1::text[])`, v.roles.All())
	if err != nil {
		return err
	}
	v.attrs = map[string]roleAttrs{}
	for _, a := range attrs {
		v.attrs[a.Name] = a
	}
	options := `false, a.admin_option, m.rolinherit, true` // before 16: no automatic grant
	if v.version >= 160000 {
		// 10 is BOOTSTRAP_SUPERUSERID, the grantor PostgreSQL records for the automatic grant.
		options = `a.grantor = 10::oid AND a.admin_option AND NOT a.inherit_option AND NOT a.set_option,
		           a.admin_option, a.inherit_option, a.set_option`
	}
	v.members, err = collect[membership](ctx, v.tx, `
		SELECT r.rolname::text, m.rolname::text, `+options+`
		FROM pg_catalog.pg_auth_members a
		JOIN pg_catalog.pg_roles r ON r.oid = a.roleid
		JOIN pg_catalog.pg_roles m ON m.oid = a.member
		WHERE r.rolname::text = ANY($1::text[]) OR m.rolname::text = ANY($1::text[])
		ORDER BY 1, 2`, v.roles.All())
	return err
}

// roleSpec is what section 3 creates a role with.
type roleSpec struct {
	role                        string
	login, createdb, createrole bool
	connLimit                   int32 // anyLimit: not part of the model
}

const anyLimit = -2

// roleAttributes checks section 3's attributes and connection limits.
func (v *verifier) roleAttributes(context.Context) error {
	r := v.roles
	for _, s := range []roleSpec{
		{r.Admin, true, true, true, anyLimit},
		{r.Owner, false, false, false, anyLimit},
		{r.Migrator, true, false, false, anyLimit},
		{r.App, true, false, false, 100},
		{r.FirefighterRO, true, false, false, 5},
		{r.FirefighterRW, true, false, false, 3},
		{r.Broker, true, false, false, 3},
	} {
		v.roleAttribute(s)
	}
	return nil
}

func (v *verifier) roleAttribute(s roleSpec) {
	name := "attributes of " + s.role
	a, ok := v.attrs[s.role]
	if !ok {
		v.add(secAttributes, name, v.missing(s.role), "")
		return
	}
	var want, problems []string
	flag := func(got, expected bool, yes, no string) {
		w := no
		if expected {
			w = yes
		}
		want = append(want, w)
		if got != expected {
			g := no
			if got {
				g = yes
			}
			problems = append(problems, fmt.Sprintf("%s (want %s)", g, w))
		}
	}
	flag(a.Login, s.login, "LOGIN", "NOLOGIN")
	flag(a.Inherit, true, "INHERIT", "NOINHERIT")
	flag(a.CreateDB, s.createdb, "CREATEDB", "NOCREATEDB")
	flag(a.CreateRole, s.createrole, "CREATEROLE", "NOCREATEROLE")
	flag(a.Super, false, "SUPERUSER", "NOSUPERUSER")
	flag(a.Replication, false, "REPLICATION", "NOREPLICATION")
	flag(a.RLS, false, "BYPASSRLS", "NOBYPASSRLS")
	if s.connLimit != anyLimit {
		want = append(want, fmt.Sprintf("CONNECTION LIMIT %d", s.connLimit))
		if a.ConnLimit != s.connLimit {
			problems = append(problems, fmt.Sprintf("CONNECTION LIMIT %d (want %d)", a.ConnLimit, s.connLimit))
		}
	}
	for i := range problems {
		problems[i] = s.role + ": " + problems[i]
	}
	v.add(secAttributes, name, problems, s.role+": "+strings.Join(want, " "))
}

// membersOf returns the memberships in role.
func (v *verifier) membersOf(role string) []membership {
	var out []membership
	for _, m := range v.members {
		if m.Role == role {
			out = append(out, m)
		}
	}
	return out
}

// find returns member's membership in role, the automatic ADMIN-only grant aside.
func (v *verifier) find(role, member string) (membership, bool) {
	for _, m := range v.members {
		if m.Role == role && m.Member == member && !m.Automatic {
			return m, true
		}
	}
	return membership{}, false
}

// memberships checks the memberships section 3 grants, and that nobody else holds
// the firefighter or broker roles.
func (v *verifier) memberships(context.Context) error {
	r := v.roles

	problems := v.missing(r.Owner, r.Migrator)
	if len(problems) == 0 {
		if m, ok := v.find(r.Owner, r.Migrator); !ok {
			problems = append(problems, fmt.Sprintf("%s is not a member of %s", r.Migrator, r.Owner))
		} else if !m.SetR {
			problems = append(problems, fmt.Sprintf("%s is a member of %s without SET: it cannot SET ROLE for DDL", r.Migrator, r.Owner))
		}
	}
	v.add(secRoles, fmt.Sprintf("%s is a member of %s", r.Migrator, r.Owner), problems,
		fmt.Sprintf("%s may SET ROLE %s for migrations (section 8)", r.Migrator, r.Owner))

	problems = v.missing(r.Admin, r.Owner, r.FirefighterRO, r.FirefighterRW)
	if len(problems) == 0 {
		for _, role := range []string{r.Owner, r.FirefighterRO, r.FirefighterRW} {
			m, ok := v.find(role, r.Admin)
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s is not a member of %s", r.Admin, role))
			case !m.Admin:
				problems = append(problems, fmt.Sprintf("%s holds %s without ADMIN OPTION", r.Admin, role))
			case !m.Inherit:
				problems = append(problems, fmt.Sprintf("%s holds %s without INHERIT", r.Admin, role))
			}
		}
	}
	v.add(secRoles, fmt.Sprintf("%s holds %s, %s and %s", r.Admin, r.Owner, r.FirefighterRO, r.FirefighterRW), problems,
		fmt.Sprintf("%s is an inheriting member WITH ADMIN OPTION of %s, %s and %s", r.Admin, r.Owner, r.FirefighterRO, r.FirefighterRW))

	for _, role := range []string{r.FirefighterRO, r.FirefighterRW, r.Broker} {
		allowed := ""
		if role != r.Broker {
			allowed = r.Admin
		}
		v.onlyMember(role, allowed)
	}

	problems = v.missing(r.FirefighterRO, r.FirefighterRW)
	for _, m := range v.members {
		if m.Member == r.FirefighterRO || m.Member == r.FirefighterRW {
			problems = append(problems, fmt.Sprintf("%s is a member of %s", m.Member, m.Role))
		}
	}
	v.add(secRoles, "firefighter roles are members of no role", problems,
		fmt.Sprintf("%s and %s hold no other role's privileges", r.FirefighterRO, r.FirefighterRW))

	problems = v.missing(r.Broker)
	for _, m := range v.members {
		if m.Member == r.Broker && m.Role != "rds_iam" {
			problems = append(problems, fmt.Sprintf("%s is a member of %s", r.Broker, m.Role))
		}
	}
	v.add(secFirefight, fmt.Sprintf("%s is a member of no role but rds_iam", r.Broker), problems,
		fmt.Sprintf("%s holds no role's privileges (rds_iam, for its IAM login, is the only membership allowed)", r.Broker))
	return nil
}

// onlyMember checks that allowed ("" for nobody) is the only member of role, besides
// the automatic ADMIN-only grant of PostgreSQL 16+, which confers no privileges.
func (v *verifier) onlyMember(role, allowed string) {
	name := "members of " + role
	want := "nobody is a member"
	if allowed != "" {
		name, want = fmt.Sprintf("members of %s: only %s", role, allowed), "no member but "+allowed
	} else {
		name += ": none"
	}
	problems := v.missing(role)
	var ignored []string
	for _, m := range v.membersOf(role) {
		switch {
		case m.Member == allowed && !m.Automatic:
		case m.Automatic:
			ignored = append(ignored, m.Member)
		default:
			problems = append(problems, fmt.Sprintf("%s is a member of %s", m, role))
		}
	}
	pass := want + " of " + role
	if len(ignored) > 0 {
		pass += fmt.Sprintf(" (ignored: the ADMIN-only grant, without INHERIT or SET, that PostgreSQL 16+ gives %s as the role's CREATEROLE creator)",
			strings.Join(ignored, ", "))
	}
	v.add(secRoles, name, problems, pass)
}

// roleDesign is the checklist's role design: no runtime role is, or can become, the
// owner or the admin; no firefighter role can log in with IAM.
func (v *verifier) roleDesign(ctx context.Context) error {
	r := v.roles
	problems := v.missing(r.Owner, r.Admin)
	if len(problems) == 0 {
		for _, role := range []string{r.App, r.FirefighterRO, r.FirefighterRW, r.Broker} {
			if !v.exists(role) {
				problems = append(problems, v.missing(role)...)
				continue
			}
			for _, high := range []string{r.Owner, r.Admin, "rds_superuser", "rds_password"} {
				var member bool
				err := v.tx.QueryRow(ctx, `SELECT CASE WHEN pg_catalog.to_regrole($2) IS NULL THEN false
					ELSE pg_catalog.pg_has_role($1, $2, 'MEMBER') END`,
					role, high).Scan(&member)
				if err != nil {
					return err
				}
				if member {
					problems = append(problems, fmt.Sprintf("%s is a member of %s, directly or through another role", role, high))
				}
			}
		}
	}
	v.add(secChecklist, "app, firefighters and broker are not owner or admin", problems,
		fmt.Sprintf("none of %s, %s, %s, %s is a member of %s, %s, rds_superuser or rds_password, directly or indirectly",
			r.App, r.FirefighterRO, r.FirefighterRW, r.Broker, r.Owner, r.Admin))

	problems = v.missing(r.FirefighterRO, r.FirefighterRW)
	var haveIAM bool
	if err := v.tx.QueryRow(ctx, `SELECT pg_catalog.to_regrole('rds_iam') IS NOT NULL`).Scan(&haveIAM); err != nil {
		return err
	}
	pass := "no rds_iam role on this server (standard PostgreSQL)"
	if haveIAM {
		pass = fmt.Sprintf("neither %s nor %s is a member of rds_iam: their expiry relies on VALID UNTIL, which IAM authentication ignores",
			r.FirefighterRO, r.FirefighterRW)
		for _, role := range []string{r.FirefighterRO, r.FirefighterRW} {
			if !v.exists(role) {
				continue
			}
			var member bool
			if err := v.tx.QueryRow(ctx, `SELECT pg_catalog.pg_has_role($1, 'rds_iam', 'MEMBER')`, role).Scan(&member); err != nil {
				return err
			}
			if member {
				problems = append(problems, fmt.Sprintf("%s is a member of rds_iam: an IAM login ignores VALID UNTIL, so its access would never expire", role))
			}
		}
	}
	v.add(secRoles, "firefighter roles have no rds_iam", problems, pass)
	return nil
}

// grant is one privilege of an ACL.
type grant struct {
	Grantee   string // PUBLIC for the public pseudo-role
	Privilege string
}

// objectPrivilege is one privilege on one object.
type objectPrivilege struct {
	Object    string
	Privilege string
}

// aclGrantee names an aclexplode grantee in SQL.
const aclGrantee = `CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END`

// database checks sections 4 and 11 for the application database.
func (v *verifier) database(ctx context.Context) error {
	r := v.roles
	var owner string
	if err := v.tx.QueryRow(ctx, `SELECT pg_catalog.pg_get_userbyid(datdba)::text FROM pg_catalog.pg_database
		WHERE datname = pg_catalog.current_database()`).Scan(&owner); err != nil {
		return err
	}
	var problems []string
	if owner != r.Owner {
		problems = append(problems, fmt.Sprintf("database %s is owned by %s, not %s", v.names.DBName, owner, r.Owner))
	}
	v.add("4 create database", "owner of database "+v.names.DBName, problems,
		fmt.Sprintf("database %s is owned by %s", v.names.DBName, r.Owner))

	acl, err := collect[grant](ctx, v.tx, `
		SELECT `+aclGrantee+`, a.privilege_type
		FROM pg_catalog.pg_database d,
		     pg_catalog.aclexplode(COALESCE(d.datacl, pg_catalog.acldefault('d', d.datdba))) a
		WHERE d.datname = pg_catalog.current_database() ORDER BY 1, 2`)
	if err != nil {
		return err
	}
	held := map[string][]string{}
	for _, g := range acl {
		held[g.Grantee] = append(held[g.Grantee], g.Privilege)
	}
	problems = nil
	for _, role := range r.All() {
		privs := held[role]
		if !slices.Contains(privs, "CONNECT") {
			problems = append(problems, fmt.Sprintf("%s has no CONNECT grant on database %s", role, v.names.DBName))
		}
		if extra := slices.DeleteFunc(slices.Clone(privs), func(p string) bool { return p == "CONNECT" }); role != r.Owner && len(extra) > 0 {
			problems = append(problems, fmt.Sprintf("%s is granted %s on database %s (want CONNECT only)", role, strings.Join(extra, ", "), v.names.DBName))
		}
	}
	var others []string
	for grantee, privs := range held {
		if grantee != "PUBLIC" && !slices.Contains(r.All(), grantee) {
			others = append(others, fmt.Sprintf("%s (%s)", grantee, strings.Join(privs, ", ")))
		}
	}
	sort.Strings(others)
	pass := fmt.Sprintf("CONNECT is granted by name to each of %s, and nothing else to any of them but the owner", strings.Join(r.All(), ", "))
	if len(others) > 0 {
		pass += "; also granted to " + strings.Join(others, ", ")
	}
	v.add(secDatabase, "CONNECT on database "+v.names.DBName, problems, pass)

	problems = nil
	if privs := held["PUBLIC"]; len(privs) > 0 {
		problems = append(problems, fmt.Sprintf("PUBLIC has %s on database %s", strings.Join(privs, ", "), v.names.DBName))
	}
	v.add(secDatabase, "PUBLIC has nothing on database "+v.names.DBName, problems,
		"the database's ACL grants PUBLIC nothing (REVOKE ALL ... FROM PUBLIC)")

	runtime := []string{r.App, r.FirefighterRO, r.FirefighterRW, r.Broker}
	problems = v.missing(runtime...)
	for _, role := range runtime {
		if !v.exists(role) {
			continue
		}
		var create, temp bool
		if err := v.tx.QueryRow(ctx, `SELECT pg_catalog.has_database_privilege($1, pg_catalog.current_database(), 'CREATE'),
			pg_catalog.has_database_privilege($1, pg_catalog.current_database(), 'TEMPORARY')`, role).Scan(&create, &temp); err != nil {
			return err
		}
		if create {
			problems = append(problems, fmt.Sprintf("%s has CREATE on database %s", role, v.names.DBName))
		}
		if temp {
			problems = append(problems, fmt.Sprintf("%s has TEMPORARY on database %s", role, v.names.DBName))
		}
	}
	v.add(secDatabase, "no CREATE on database "+v.names.DBName+" for app, firefighters, broker", problems,
		fmt.Sprintf("none of %s has CREATE or TEMPORARY on database %s", strings.Join(runtime, ", "), v.names.DBName))
	return nil
}

// schema is what Verify needs to know of a schema; Exists is false when there is none.
type schema struct {
	Exists bool
	Owner  string
	Public []string // what the schema's ACL grants PUBLIC
}

func (v *verifier) schema(ctx context.Context, name string) (schema, error) {
	var s schema
	err := v.tx.QueryRow(ctx, `
		SELECT true, pg_catalog.pg_get_userbyid(n.nspowner)::text,
		       ARRAY(SELECT a.privilege_type FROM pg_catalog.aclexplode(COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
		             WHERE a.grantee = 0 ORDER BY 1)
		FROM pg_catalog.pg_namespace n WHERE n.nspname = $1`, name).Scan(&s.Exists, &s.Owner, &s.Public)
	if errors.Is(err, pgx.ErrNoRows) {
		return schema{}, nil
	}
	return s, err
}

// appSchema checks sections 5 and 11 for the application schema.
func (v *verifier) appSchema(ctx context.Context) error {
	r, name := v.roles, schemaName(v.names.AppSchema)
	s, err := v.schema(ctx, v.names.AppSchema)
	if err != nil {
		return err
	}
	var problems []string
	switch {
	case !s.Exists:
		problems = append(problems, fmt.Sprintf("schema %s does not exist", name))
	case s.Owner != r.Owner:
		problems = append(problems, fmt.Sprintf("schema %s is owned by %s, not %s", name, s.Owner, r.Owner))
	}
	v.add("5 create schema", "owner of schema "+name, problems, fmt.Sprintf("schema %s is owned by %s", name, r.Owner))

	for _, want := range []struct {
		role  string
		usage bool
	}{{r.App, true}, {r.FirefighterRO, true}, {r.FirefighterRW, true}, {r.Broker, false}} {
		check := fmt.Sprintf("schema %s: %s has USAGE, not CREATE", name, want.role)
		pass := fmt.Sprintf("%s has USAGE and no CREATE on schema %s", want.role, name)
		if !want.usage {
			check = fmt.Sprintf("schema %s: %s has neither USAGE nor CREATE", name, want.role)
			pass = fmt.Sprintf("%s has neither USAGE nor CREATE on schema %s: it never touches application tables", want.role, name)
		}
		problems := v.missing(want.role)
		if !s.Exists {
			problems = append(problems, fmt.Sprintf("schema %s does not exist", name))
		}
		if len(problems) == 0 {
			var usage, create bool
			if err := v.tx.QueryRow(ctx, `SELECT pg_catalog.has_schema_privilege($1, $2, 'USAGE'), pg_catalog.has_schema_privilege($1, $2, 'CREATE')`,
				want.role, v.names.AppSchema).Scan(&usage, &create); err != nil {
				return err
			}
			switch {
			case usage && !want.usage:
				problems = append(problems, fmt.Sprintf("%s has USAGE on schema %s", want.role, name))
			case !usage && want.usage:
				problems = append(problems, fmt.Sprintf("%s has no USAGE on schema %s", want.role, name))
			}
			if create {
				problems = append(problems, fmt.Sprintf("%s has CREATE on schema %s", want.role, name))
			}
		}
		v.add(secSchema, check, problems, pass)
	}

	problems = nil
	if len(s.Public) > 0 {
		problems = append(problems, fmt.Sprintf("PUBLIC has %s on schema %s", strings.Join(s.Public, ", "), name))
	}
	v.add(secSchema, fmt.Sprintf("schema %s: PUBLIC has nothing", name), problems,
		fmt.Sprintf("the ACL of schema %s grants PUBLIC nothing", name))
	return nil
}

// publicSchema checks the checklist's "public schema CREATE revoked".
func (v *verifier) publicSchema(ctx context.Context) error {
	r := v.roles
	s, err := v.schema(ctx, "public")
	if err != nil {
		return err
	}
	const name = "schema public: no CREATE for PUBLIC or runtime roles"
	if !s.Exists {
		v.add(secChecklist, name, nil, "there is no schema public in this database")
		return nil
	}
	var problems []string
	switch {
	case !slices.Contains(s.Public, "CREATE"):
	case s.Owner == "pg_database_owner":
		problems = append(problems, fmt.Sprintf(
			"PUBLIC has CREATE on schema public, which is owned by pg_database_owner: the database owner %s must revoke it (SET ROLE %s; REVOKE CREATE ON SCHEMA public FROM PUBLIC, as bootstrap.sql does)",
			r.Owner, r.Owner))
	default:
		problems = append(problems, fmt.Sprintf(
			"PUBLIC has CREATE on schema public, which is owned by %s (before PostgreSQL 15 the bootstrap superuser, rdsadmin on Aurora): its owner must revoke it (REVOKE CREATE ON SCHEMA public FROM PUBLIC, run as %s); the master cannot",
			s.Owner, s.Owner))
	}
	for _, role := range []string{r.App, r.FirefighterRO, r.FirefighterRW, r.Broker} {
		if !v.exists(role) {
			continue
		}
		var create bool
		if err := v.tx.QueryRow(ctx, `SELECT pg_catalog.has_schema_privilege($1, 'public', 'CREATE')`, role).Scan(&create); err != nil {
			return err
		}
		if create && !slices.Contains(s.Public, "CREATE") {
			problems = append(problems, fmt.Sprintf("%s has CREATE on schema public", role))
		}
	}
	v.add(secChecklist, name, problems, fmt.Sprintf(
		"neither PUBLIC nor app, firefighters or broker can CREATE in schema public (owned by %s; PUBLIC has %s)",
		s.Owner, orNothing(s.Public)))
	return nil
}

func orNothing(privs []string) string {
	if len(privs) == 0 {
		return "nothing"
	}
	return strings.Join(privs, ", ")
}

// relation is one table, view or sequence with the privileges one role holds on it.
type relation struct {
	Name       string   // schema-qualified and quoted as needed
	Held       []string // table-level privileges the role holds (effective)
	ColumnOnly []string // privileges the role holds on some column only
}

// tablePrivileges returns the privilege types of tables on this server.
func (v *verifier) tablePrivileges() []string {
	p := []string{"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}
	if v.version >= 170000 {
		p = append(p, "MAINTAIN")
	}
	return p
}

// tableKinds are the relkinds GRANT ... ON ALL TABLES covers: tables, partitioned
// tables, views, materialized views and foreign tables; relationKinds add sequences.
const (
	tableKinds    = `('r', 'p', 'v', 'm', 'f')`
	relationKinds = `('r', 'p', 'v', 'm', 'f', 'S')`
)

// tables checks section 6's privileges on every table and view of the application
// schema, effective ones (through PUBLIC or a membership too) and column-level ones.
func (v *verifier) tables(ctx context.Context) error {
	r := v.roles
	for _, want := range []struct {
		role  string
		privs []string
	}{
		{r.App, []string{"SELECT", "INSERT", "UPDATE"}},
		{r.FirefighterRO, []string{"SELECT"}},
		{r.FirefighterRW, []string{"SELECT", "INSERT", "UPDATE", "DELETE"}},
	} {
		name := fmt.Sprintf("table privileges of %s: exactly %s", want.role, strings.Join(want.privs, ", "))
		if !v.exists(want.role) {
			v.add(secTables, name, v.missing(want.role), "")
			continue
		}
		rels, err := collect[relation](ctx, v.tx, `
			SELECT pg_catalog.format('%I.%I', n.nspname, c.relname),
			       ARRAY(SELECT p FROM unnest($2::text[]) WITH ORDINALITY AS t(p, i)
			             WHERE pg_catalog.has_table_privilege($1, c.oid, p) ORDER BY i),
			       ARRAY(SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) WITH ORDINALITY AS t(p, i)
			             WHERE NOT pg_catalog.has_table_privilege($1, c.oid, p)
			               AND pg_catalog.has_any_column_privilege($1, c.oid, p) ORDER BY i)
			FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $3 AND c.relkind IN `+tableKinds+` ORDER BY 1`,
			want.role, v.tablePrivileges(), v.names.AppSchema)
		if err != nil {
			return err
		}
		v.add(secTables, name, relationProblems(want.role, rels, want.privs),
			relationPass(want.role, want.privs, len(rels), "tables", v.names.AppSchema))
	}

	public, err := collect[objectPrivilege](ctx, v.tx, `
		SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), a.privilege_type
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,
		     pg_catalog.aclexplode(c.relacl) a
		WHERE n.nspname = $1 AND c.relkind IN `+relationKinds+` AND a.grantee = 0
		ORDER BY 1, 2`, v.names.AppSchema)
	if err != nil {
		return err
	}
	var problems []string
	for _, g := range public {
		problems = append(problems, fmt.Sprintf("PUBLIC has %s on %s", g.Privilege, g.Object))
	}
	v.add(secTables, fmt.Sprintf("tables and sequences in %s: PUBLIC has nothing", schemaName(v.names.AppSchema)), problems,
		fmt.Sprintf("no table, view or sequence in schema %s grants PUBLIC anything", schemaName(v.names.AppSchema)))
	return nil
}

func relationProblems(role string, rels []relation, want []string) []string {
	var problems []string
	for _, rel := range rels {
		var parts []string
		if d := privilegeDiff(rel.Held, want); d != "" {
			parts = append(parts, d)
		}
		for _, p := range rel.ColumnOnly {
			parts = append(parts, "column-level "+p+" granted (not wanted)")
		}
		if len(parts) > 0 {
			problems = append(problems, fmt.Sprintf("%s on %s: %s", role, rel.Name, strings.Join(parts, ", ")))
		}
	}
	return problems
}

func relationPass(role string, want []string, n int, kind, nsp string) string {
	if n == 0 {
		return fmt.Sprintf("no %s in schema %s yet: nothing to check", kind, schemaName(nsp))
	}
	return fmt.Sprintf("%s holds exactly %s on each of the %d %s in schema %s", role, strings.Join(want, ", "), n, kind, schemaName(nsp))
}

// sequences checks section 6's privileges on every sequence of the application schema.
func (v *verifier) sequences(ctx context.Context) error {
	r := v.roles
	for _, want := range []struct {
		role  string
		privs []string
	}{
		{r.App, []string{"USAGE", "SELECT"}},
		{r.FirefighterRO, []string{"SELECT"}},
		{r.FirefighterRW, []string{"USAGE", "SELECT"}},
	} {
		name := fmt.Sprintf("sequence privileges of %s: exactly %s", want.role, strings.Join(want.privs, ", "))
		if !v.exists(want.role) {
			v.add(secObjects, name, v.missing(want.role), "")
			continue
		}
		rels, err := collect[relation](ctx, v.tx, `
			SELECT pg_catalog.format('%I.%I', n.nspname, c.relname),
			       ARRAY(SELECT p FROM unnest(ARRAY['USAGE', 'SELECT', 'UPDATE']) WITH ORDINALITY AS t(p, i)
			             WHERE pg_catalog.has_sequence_privilege($1, c.oid, p) ORDER BY i),
			       '{}'::text[]
			FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $2 AND c.relkind = 'S' ORDER BY 1`, want.role, v.names.AppSchema)
		if err != nil {
			return err
		}
		v.add(secObjects, name, relationProblems(want.role, rels, want.privs),
			relationPass(want.role, want.privs, len(rels), "sequences", v.names.AppSchema))
	}
	return nil
}

// owned is one object and its owner.
type owned struct {
	Object, Owner string
}

// ownership checks section 8's pattern: the owner owns every object of the
// application schema, as migrations run their DDL after SET ROLE owner.
func (v *verifier) ownership(ctx context.Context) error {
	r := v.roles
	objs, err := collect[owned](ctx, v.tx, `
		SELECT pg_catalog.pg_describe_object('pg_catalog.pg_class'::regclass, c.oid, 0), pg_catalog.pg_get_userbyid(c.relowner)::text
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S', 'c')
		UNION ALL
		SELECT pg_catalog.pg_describe_object('pg_catalog.pg_proc'::regclass, p.oid, 0), pg_catalog.pg_get_userbyid(p.proowner)::text
		FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = $1
		UNION ALL
		SELECT pg_catalog.pg_describe_object('pg_catalog.pg_type'::regclass, t.oid, 0), pg_catalog.pg_get_userbyid(t.typowner)::text
		FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
		WHERE n.nspname = $1 AND t.typtype IN ('d', 'e', 'r')
		ORDER BY 1`, v.names.AppSchema)
	if err != nil {
		return err
	}
	var problems []string
	for _, o := range objs {
		if o.Owner != r.Owner {
			problems = append(problems, fmt.Sprintf("%s is owned by %s: created without SET ROLE %s, so the default privileges did not apply",
				o.Object, o.Owner, r.Owner))
		}
	}
	v.add(secMigration, fmt.Sprintf("objects in %s are owned by %s", schemaName(v.names.AppSchema), r.Owner), problems,
		fmt.Sprintf("all %d tables, views, sequences, functions and types in schema %s are owned by %s",
			len(objs), schemaName(v.names.AppSchema), r.Owner))
	return nil
}

// function is one function with its owner, its settings and who may execute it.
type function struct {
	Name    string // schema.name(argument types)
	PublicX bool   // PUBLIC may EXECUTE it
	AppX    bool   // the app may EXECUTE it
	Owner   string
	SecDef  bool
	Config  []string
	BrokerX bool // the broker may EXECUTE it
}

// functionsIn lists the functions of schema nsp with what the checks need. A role
// that does not exist has EXECUTE on nothing.
func (v *verifier) functionsIn(ctx context.Context, nsp string) ([]function, error) {
	app, broker := v.roles.App, v.roles.Broker
	return collect[function](ctx, v.tx, `
		SELECT pg_catalog.format('%s.%s(%s)', pg_catalog.quote_ident(n.nspname), pg_catalog.quote_ident(p.proname),
		                         pg_catalog.oidvectortypes(p.proargtypes)),
		       EXISTS (SELECT FROM pg_catalog.aclexplode(COALESCE(p.proacl, pg_catalog.acldefault('f', p.proowner))) a
		               WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'),
		       CASE WHEN $2 THEN pg_catalog.has_function_privilege($3, p.oid, 'EXECUTE') ELSE false END,
		       pg_catalog.pg_get_userbyid(p.proowner)::text, p.prosecdef, p.proconfig,
		       CASE WHEN $4 THEN pg_catalog.has_function_privilege($5, p.oid, 'EXECUTE') ELSE false END
		FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = $1 ORDER BY 1`,
		nsp, v.exists(app), app, v.exists(broker), broker)
}

// appFunctions checks section 6's EXECUTE for the app and section 7's intent that
// PUBLIC cannot execute the owner's functions. The per-schema REVOKE of
// 005_default_privileges.sql cannot take away the built-in default (EXECUTE for
// PUBLIC): only a default without IN SCHEMA, or a REVOKE per function, can.
func (v *verifier) appFunctions(ctx context.Context) error {
	r, name := v.roles, schemaName(v.names.AppSchema)
	fns, err := v.functionsIn(ctx, v.names.AppSchema)
	if err != nil {
		return err
	}
	problems := v.missing(r.App)
	for _, f := range fns {
		if f.PublicX {
			problems = append(problems, fmt.Sprintf(
				"PUBLIC can EXECUTE %s: revoke it (REVOKE EXECUTE ON FUNCTION ... FROM PUBLIC); for new functions run ALTER DEFAULT PRIVILEGES FOR ROLE %s REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC without IN SCHEMA, as a per-schema default cannot remove the built-in one",
				f.Name, r.Owner))
		}
		if v.exists(r.App) && !f.AppX {
			problems = append(problems, fmt.Sprintf("%s cannot EXECUTE %s", r.App, f.Name))
		}
	}
	pass := fmt.Sprintf("no functions in schema %s yet: nothing to check", name)
	if len(fns) > 0 {
		pass = fmt.Sprintf("%s can EXECUTE each of the %d functions in schema %s, PUBLIC none", r.App, len(fns), name)
	}
	v.add(secFuture, fmt.Sprintf("functions in %s: EXECUTE for %s, not PUBLIC", name, r.App), problems, pass)
	return nil
}

// defaultACL is one privilege of a default ACL of the owner; Global when it applies
// in every schema.
type defaultACL struct {
	Global    bool
	ObjType   string
	Grantee   string
	Privilege string
	Grantable bool
}

var defaclTypes = map[string]string{"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES", "n": "SCHEMAS"}

func (d defaultACL) String() string {
	s := fmt.Sprintf("%s ON %s TO %s", d.Privilege, defaclTypes[d.ObjType], d.Grantee)
	if d.Grantable {
		s += " WITH GRANT OPTION"
	}
	if d.Global {
		s += " (in every schema)"
	}
	return s
}

// defaultPrivileges compares the owner's default ACLs with what 005 sets.
func (v *verifier) defaultPrivileges(ctx context.Context) error {
	r, name := v.roles, schemaName(v.names.AppSchema)
	check := fmt.Sprintf("default privileges of %s in %s", r.Owner, name)
	if !v.exists(r.Owner) {
		v.add(secDefaults, check, v.missing(r.Owner), "")
		return nil
	}
	got, err := collect[defaultACL](ctx, v.tx, `
		SELECT d.defaclnamespace = 0, d.defaclobjtype::text, `+aclGrantee+`, a.privilege_type, a.is_grantable
		FROM pg_catalog.pg_default_acl d
		JOIN pg_catalog.pg_roles o ON o.oid = d.defaclrole
		LEFT JOIN pg_catalog.pg_namespace n ON n.oid = d.defaclnamespace,
		     pg_catalog.aclexplode(d.defaclacl) a
		WHERE o.rolname = $1 AND (n.nspname = $2 OR d.defaclnamespace = 0)
		ORDER BY 1, 2, 3, 4`, r.Owner, v.names.AppSchema)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, w := range []struct {
		objType, grantee string
		privs            []string
	}{
		{"r", r.App, []string{"SELECT", "INSERT", "UPDATE"}},
		{"S", r.App, []string{"USAGE", "SELECT"}},
		{"f", r.App, []string{"EXECUTE"}},
		{"r", r.FirefighterRO, []string{"SELECT"}},
		{"S", r.FirefighterRO, []string{"SELECT"}},
		{"r", r.FirefighterRW, []string{"SELECT", "INSERT", "UPDATE", "DELETE"}},
		{"S", r.FirefighterRW, []string{"USAGE", "SELECT"}},
	} {
		for _, p := range w.privs {
			want[defaultACL{ObjType: w.objType, Grantee: w.grantee, Privilege: p}.String()] = true
		}
	}
	var problems []string
	for _, d := range got {
		key := d.String()
		switch {
		case want[key]:
			delete(want, key)
		case d.Global && (d.Grantee == r.Owner ||
			d.Grantee == "PUBLIC" && (d.ObjType == "f" && d.Privilege == "EXECUTE" || d.ObjType == "T" && d.Privilege == "USAGE")):
			// A global default that keeps the owner's own or PUBLIC's built-in
			// privileges grants nothing new.
		default:
			problems = append(problems, "extra: "+key)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(want)) {
		problems = append(problems, "missing: "+key)
	}
	v.add(secDefaults, check, problems, fmt.Sprintf(
		"ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA %s grants exactly what 005_default_privileges.sql does (app SELECT, INSERT, UPDATE / USAGE, SELECT / EXECUTE; ro SELECT / SELECT; rw SELECT, INSERT, UPDATE, DELETE / USAGE, SELECT), and no global default adds to it",
		r.Owner, name))
	return nil
}

// dbAdmin checks section 9's rules for schema db_admin: it and everything in it belong
// to the admin, every function is SECURITY DEFINER with a pinned search_path, and
// PUBLIC can use none of it.
func (v *verifier) dbAdmin(ctx context.Context) error {
	r := v.roles
	s, err := v.schema(ctx, "db_admin")
	if err != nil {
		return err
	}
	var problems []string
	switch {
	case !s.Exists:
		problems = append(problems, "schema db_admin does not exist")
	case s.Owner != r.Admin:
		problems = append(problems, fmt.Sprintf("schema db_admin is owned by %s, not %s", s.Owner, r.Admin))
	}
	if len(s.Public) > 0 {
		problems = append(problems, fmt.Sprintf("PUBLIC has %s on schema db_admin", strings.Join(s.Public, ", ")))
	}
	v.add(secFirefight, "schema db_admin: owned by "+r.Admin+", nothing for PUBLIC", problems,
		fmt.Sprintf("schema db_admin is owned by %s and grants PUBLIC nothing", r.Admin))

	fns, err := v.functionsIn(ctx, "db_admin")
	if err != nil {
		return err
	}
	none := []string{"schema db_admin holds no functions"}
	if !s.Exists {
		none = []string{"schema db_admin does not exist"}
	}
	type property struct {
		name, pass string
		bad        func(function) string
	}
	for _, p := range []property{
		{"db_admin functions are SECURITY DEFINER", "SECURITY DEFINER", func(f function) string {
			if !f.SecDef {
				return f.Name + " is SECURITY INVOKER"
			}
			return ""
		}},
		{"db_admin functions are owned by " + r.Admin, "owned by " + r.Admin, func(f function) string {
			if f.Owner != r.Admin {
				return fmt.Sprintf("%s is owned by %s", f.Name, f.Owner)
			}
			return ""
		}},
		{"db_admin functions pin search_path = pg_catalog, pg_temp", "SET search_path = pg_catalog, pg_temp", func(f function) string {
			sp := "none"
			for _, c := range f.Config {
				if strings.HasPrefix(c, "search_path=") {
					sp = strings.TrimPrefix(c, "search_path=")
				}
			}
			if strings.ReplaceAll(sp, " ", "") != "pg_catalog,pg_temp" {
				return fmt.Sprintf("%s has search_path %s", f.Name, sp)
			}
			return ""
		}},
		{"db_admin functions: no EXECUTE for PUBLIC", "not executable by PUBLIC", func(f function) string {
			if f.PublicX {
				return "PUBLIC can EXECUTE " + f.Name
			}
			return ""
		}},
	} {
		problems := none
		if len(fns) > 0 {
			problems = nil
		}
		for _, f := range fns {
			if msg := p.bad(f); msg != "" {
				problems = append(problems, msg)
			}
		}
		v.add(secFirefight, p.name, problems, fmt.Sprintf("each of the %d functions in schema db_admin is %s", len(fns), p.pass))
	}

	tables, err := collect[owned](ctx, v.tx, `
		SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), pg_catalog.pg_get_userbyid(c.relowner)::text
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'db_admin' AND c.relkind IN `+relationKinds+` ORDER BY 1`)
	if err != nil {
		return err
	}
	public, err := collect[objectPrivilege](ctx, v.tx, `
		SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), a.privilege_type
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace,
		     pg_catalog.aclexplode(c.relacl) a
		WHERE n.nspname = 'db_admin' AND a.grantee = 0 ORDER BY 1, 2`)
	if err != nil {
		return err
	}
	problems = nil
	for _, t := range tables {
		if t.Owner != r.Admin {
			problems = append(problems, fmt.Sprintf("%s is owned by %s", t.Object, t.Owner))
		}
	}
	for _, g := range public {
		problems = append(problems, fmt.Sprintf("PUBLIC has %s on %s", g.Privilege, g.Object))
	}
	v.add(secFirefight, "db_admin tables: owned by "+r.Admin+", nothing for PUBLIC", problems,
		fmt.Sprintf("each of the %d tables and sequences in schema db_admin (the allowlist, the grant ledger, ...) is owned by %s and grants PUBLIC nothing",
			len(tables), r.Admin))
	return nil
}

// The names of the broker's privilege checks, after the broker's name.
const (
	brokerSchemasCheck = ": USAGE on schema db_admin only"
	brokerExecuteCheck = ": EXECUTE on exactly its db_admin functions"
	brokerTablesCheck  = ": no privilege on any table, view or sequence"
	brokerGrantsCheck  = ": no other grant, no ownership"
)

// broker checks that the broker can do nothing but execute its db_admin functions
// (invariant 1 of the design).
func (v *verifier) broker(ctx context.Context) error {
	b := v.roles.Broker
	if !v.exists(b) {
		for _, name := range []string{brokerSchemasCheck, brokerExecuteCheck, brokerTablesCheck, brokerGrantsCheck} {
			v.add(secFirefight, b+name, v.missing(b), "")
		}
		return nil
	}
	for _, step := range []func(context.Context) error{v.brokerSchemas, v.brokerExecute, v.brokerTables, v.brokerGrants} {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// brokerSchemas: USAGE on db_admin and nothing else, by name or through PUBLIC, on any
// schema but the system ones and public (the schema public check covers that one).
func (v *verifier) brokerSchemas(ctx context.Context) error {
	b := v.roles.Broker
	got, err := collect[objectPrivilege](ctx, v.tx, `
		SELECT pg_catalog.quote_ident(n.nspname), p
		FROM pg_catalog.pg_namespace n, unnest(ARRAY['USAGE', 'CREATE']) AS p
		WHERE pg_catalog.has_schema_privilege($1, n.oid, p)
		  AND n.nspname NOT LIKE 'pg\_%' AND n.nspname NOT IN ('information_schema', 'public')
		UNION
		SELECT pg_catalog.quote_ident(n.nspname), a.privilege_type
		FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
		WHERE a.grantee = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1)
		ORDER BY 1, 2`, b)
	if err != nil {
		return err
	}
	var problems []string
	usage := false
	for _, g := range got {
		if g.Object == "db_admin" && g.Privilege == "USAGE" {
			usage = true
			continue
		}
		problems = append(problems, fmt.Sprintf("%s has %s on schema %s", b, g.Privilege, g.Object))
	}
	if !usage {
		problems = append(problems, fmt.Sprintf("%s has no USAGE on schema db_admin", b))
	}
	v.add(secFirefight, b+brokerSchemasCheck, problems,
		fmt.Sprintf("%s has USAGE on schema db_admin and no privilege on any other schema", b))
	return nil
}

// brokerExecute: EXECUTE on exactly the db_admin functions 007 grants it.
func (v *verifier) brokerExecute(ctx context.Context) error {
	b := v.roles.Broker
	fns, err := v.functionsIn(ctx, "db_admin")
	if err != nil {
		return err
	}
	var problems []string
	seen := map[string]bool{}
	for _, f := range fns {
		seen[f.Name] = true
		want := slices.Contains(brokerFunctions, f.Name)
		switch {
		case f.BrokerX && !want:
			problems = append(problems, fmt.Sprintf("%s can EXECUTE %s, which is not one of its functions", b, f.Name))
		case !f.BrokerX && want:
			problems = append(problems, fmt.Sprintf("%s cannot EXECUTE %s", b, f.Name))
		}
	}
	for _, f := range brokerFunctions {
		if !seen[f] {
			problems = append(problems, f+" does not exist")
		}
	}
	v.add(secFirefight, b+brokerExecuteCheck, problems,
		fmt.Sprintf("of the %d functions in schema db_admin, %s can EXECUTE exactly the %d that 007_db_admin.sql grants it",
			len(fns), b, len(brokerFunctions)))
	return nil
}

// brokerTables: no privilege on any table, view or sequence outside the system schemas,
// by name, through PUBLIC or through a membership.
func (v *verifier) brokerTables(ctx context.Context) error {
	b := v.roles.Broker
	rels, err := collect[relation](ctx, v.tx, `
		SELECT name, held, '{}'::text[] FROM (
			SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS name,
			       CASE WHEN c.relkind = 'S' THEN
			         ARRAY(SELECT p FROM unnest(ARRAY['USAGE', 'SELECT', 'UPDATE']) AS p
			               WHERE pg_catalog.has_sequence_privilege($1, c.oid, p))
			       ELSE
			         ARRAY(SELECT p FROM unnest($2::text[]) AS p
			               WHERE CASE WHEN p IN ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES')
			                          THEN pg_catalog.has_any_column_privilege($1, c.oid, p)
			                          ELSE pg_catalog.has_table_privilege($1, c.oid, p) END)
			       END AS held
			FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
			WHERE c.relkind IN `+relationKinds+`
			  AND n.nspname NOT LIKE 'pg\_%' AND n.nspname <> 'information_schema'
		) AS t WHERE pg_catalog.cardinality(held) > 0 ORDER BY 1`, b, v.tablePrivileges())
	if err != nil {
		return err
	}
	var problems []string
	for _, rel := range rels {
		problems = append(problems, fmt.Sprintf("%s has %s on %s", b, strings.Join(rel.Held, ", "), rel.Name))
	}
	v.add(secFirefight, b+brokerTablesCheck, problems,
		fmt.Sprintf("%s has no privilege on any table, view or sequence outside the system catalogs (the db_admin functions reach the ledger for it)", b))
	return nil
}

// dependency is one row of pg_shdepend that names the broker.
type dependency struct {
	DepType  string
	Here     bool   // the object is in this database or shared
	Database string // else the database it is in
	Object   string // described, when Here
	Expected bool   // CONNECT on this database, USAGE on db_admin or one of its functions
}

// brokerGrants reads pg_shdepend, which records every object whose ACL names the broker
// and every object it owns, in this database and in the shared catalogs: anything but
// the database, schema db_admin and its functions is an extra privilege.
func (v *verifier) brokerGrants(ctx context.Context) error {
	b := v.roles.Broker
	deps, err := collect[dependency](ctx, v.tx, `
		SELECT s.deptype::text, s.dbid IN (0, d.oid),
		       COALESCE((SELECT datname::text FROM pg_catalog.pg_database WHERE oid = s.dbid), ''),
		       CASE WHEN s.dbid IN (0, d.oid) THEN pg_catalog.pg_describe_object(s.classid, s.objid, s.objsubid) ELSE '' END,
		       s.deptype = 'a' AND s.objsubid = 0 AND (
		         s.classid = 'pg_catalog.pg_database'::regclass AND s.objid = d.oid
		         OR s.dbid = d.oid AND s.classid = 'pg_catalog.pg_namespace'::regclass
		            AND s.objid = (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'db_admin')
		         OR s.dbid = d.oid AND s.classid = 'pg_catalog.pg_proc'::regclass AND EXISTS (
		            SELECT FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
		            WHERE p.oid = s.objid AND n.nspname = 'db_admin'
		              AND pg_catalog.format('%s.%s(%s)', pg_catalog.quote_ident(n.nspname), pg_catalog.quote_ident(p.proname),
		                                    pg_catalog.oidvectortypes(p.proargtypes)) = ANY($2::text[])))
		FROM pg_catalog.pg_shdepend s, pg_catalog.pg_database d
		WHERE d.datname = pg_catalog.current_database()
		  AND s.refclassid = 'pg_catalog.pg_authid'::regclass
		  AND s.refobjid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1)
		ORDER BY 2 DESC, 3, 4`, b, brokerFunctions)
	if err != nil {
		return err
	}
	kinds := map[string]string{"o": "owns", "a": "is granted privileges on", "r": "is named in", "i": "has initial privileges on", "t": "is named in"}
	var problems []string
	elsewhere := map[string]int{}
	for _, d := range deps {
		switch {
		case d.Expected:
		case !d.Here:
			elsewhere[d.Database]++
		default:
			kind := kinds[d.DepType]
			if kind == "" {
				kind = "depends on"
			}
			problems = append(problems, fmt.Sprintf("%s %s %s", b, kind, d.Object))
		}
	}
	for _, db := range slices.Sorted(maps.Keys(elsewhere)) {
		problems = append(problems, fmt.Sprintf("%s is granted privileges on or owns %d objects in database %s", b, elsewhere[db], db))
	}
	v.add(secFirefight, b+brokerGrantsCheck, problems,
		fmt.Sprintf("%s owns nothing and is named in no ACL but those of database %s, schema db_admin and its db_admin functions",
			b, v.names.DBName))
	return nil
}

// ledgerAccess decides how Verify reads db_admin's tables, which belong to the admin:
// directly when the connected role has the privileges (the master inherits them from
// the admin), else after SET LOCAL ROLE admin when it may, else not at all. It returns
// how, for the reasons, and a problem when the tables cannot be read.
func (v *verifier) ledgerAccess(ctx context.Context) (how, problem string, setRole bool, err error) {
	var exists, direct, canSet bool
	option := "MEMBER"
	if v.version >= 160000 {
		option = "SET"
	}
	err = v.tx.QueryRow(ctx, `
		SELECT count(*) = 2,
		       count(*) = 2 AND bool_and(pg_catalog.has_schema_privilege(n.oid, 'USAGE') AND pg_catalog.has_table_privilege(c.oid, 'SELECT')),
		       CASE WHEN pg_catalog.to_regrole($1) IS NULL THEN false ELSE pg_catalog.pg_has_role($1, $2) END
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'db_admin' AND c.relname IN ('firefighter_role', 'firefighter_grant')`,
		v.roles.Admin, option).Scan(&exists, &direct, &canSet)
	switch {
	case err != nil:
		return "", "", false, err
	case !exists:
		return "", "the tables db_admin.firefighter_role and db_admin.firefighter_grant do not exist", false, nil
	case direct:
		return fmt.Sprintf("read as %s", v.user), "", false, nil
	case canSet:
		return fmt.Sprintf("read as %s after SET LOCAL ROLE %s", v.user, v.roles.Admin), "", true, nil
	}
	return "", fmt.Sprintf("%s can neither read db_admin.firefighter_grant nor SET ROLE %s: run verify as the master, or grant it SELECT on db_admin's tables",
		v.user, v.roles.Admin), false, nil
}

// asAdmin runs read with the privileges ledgerAccess found, and resets the role after.
func (v *verifier) asAdmin(ctx context.Context, setRole bool, read func() error) error {
	if !setRole {
		return read()
	}
	if _, err := v.tx.Exec(ctx, "SET LOCAL ROLE "+pgx.Identifier{v.roles.Admin}.Sanitize()); err != nil {
		return err
	}
	if err := read(); err != nil {
		return err
	}
	_, err := v.tx.Exec(ctx, "RESET ROLE")
	return err
}

// allowed is one row of the allowlist db_admin.firefighter_role.
type allowed struct {
	Role, Kind string
}

// passwordState is one firefighter role's password expiry, live grants and sessions.
type passwordState struct {
	Role        string
	NoExpiry    bool   // VALID UNTIL is NULL: a password, if set, never expires
	Valid       bool   // VALID UNTIL is NULL or in the future
	ValidUntil  string // as text, UTC
	LiveGrants  int32
	LatestEnd   string // end of the latest live grant, UTC
	Outlives    bool   // VALID UNTIL is after the latest live grant's end
	OverCap     bool   // VALID UNTIL is more than 2 hours away
	Sessions    int32
	OpenExpired int32 // grants still open in the ledger although expired
}

// utc renders a timestamptz column in UTC, infinity included.
func utc(col string) string {
	return fmt.Sprintf(`CASE WHEN pg_catalog.isfinite(%[1]s) THEN pg_catalog.to_char(%[1]s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') ELSE %[1]s::text END`, col)
}

// firefighters checks the allowlist, and for each firefighter role that its password is
// expired unless a live grant covers it (the ledger's definition of live: activated,
// not closed, not past its end), and that no session survives without a live grant.
func (v *verifier) firefighters(ctx context.Context) error {
	r := v.roles
	ffs := []string{r.FirefighterRO, r.FirefighterRW}
	how, problem, setRole, err := v.ledgerAccess(ctx)
	if err != nil {
		return err
	}
	var list []allowed
	var states []passwordState
	if problem == "" {
		err = v.asAdmin(ctx, setRole, func() error {
			var err error
			list, err = collect[allowed](ctx, v.tx, `SELECT role::text, kind FROM db_admin.firefighter_role ORDER BY role`)
			if err != nil {
				return err
			}
			states, err = collect[passwordState](ctx, v.tx, `
				WITH live AS (
				  SELECT g.role, count(*)::integer AS n, max(g.expires_at) AS latest
				  FROM db_admin.firefighter_grant g
				  WHERE g.activated_at IS NOT NULL AND g.closed_at IS NULL AND g.expires_at > pg_catalog.clock_timestamp()
				  GROUP BY g.role)
				SELECT a.rolname::text,
				       a.rolvaliduntil IS NULL,
				       COALESCE(a.rolvaliduntil > pg_catalog.clock_timestamp(), true),
				       COALESCE(`+utc("a.rolvaliduntil")+`, 'NULL'),
				       COALESCE(l.n, 0),
				       COALESCE(`+utc("l.latest")+`, ''),
				       COALESCE(a.rolvaliduntil > l.latest, l.latest IS NOT NULL),
				       COALESCE(a.rolvaliduntil > pg_catalog.clock_timestamp() + interval '2 hours', true),
				       (SELECT count(*)::integer FROM pg_catalog.pg_stat_activity s WHERE s.usename = a.rolname),
				       (SELECT count(*)::integer FROM db_admin.firefighter_grant g
				         WHERE g.role = a.rolname AND g.activated_at IS NOT NULL AND g.closed_at IS NULL
				           AND g.expires_at <= pg_catalog.clock_timestamp())
				FROM pg_catalog.pg_roles a LEFT JOIN live l ON l.role = a.rolname
				WHERE a.rolname::text = ANY($1::text[]) ORDER BY 1`, ffs)
			return err
		})
		if err != nil {
			return err
		}
	}

	var problems []string
	if problem != "" {
		problems = []string{problem}
	} else {
		want := []allowed{{r.FirefighterRO, "ro"}, {r.FirefighterRW, "rw"}}
		if !slices.Equal(list, want) {
			problems = append(problems, fmt.Sprintf("db_admin.firefighter_role lists %s; want exactly %s", allowList(list), allowList(want)))
		}
	}
	v.add(secFirefight, "firefighter allowlist db_admin.firefighter_role", problems,
		fmt.Sprintf("the functions may alter exactly %s (ro) and %s (rw); %s", r.FirefighterRO, r.FirefighterRW, how))

	for _, role := range ffs {
		i := slices.IndexFunc(states, func(s passwordState) bool { return s.Role == role })
		switch {
		case !v.exists(role):
			v.add(secFirefight, "password of "+role, v.missing(role), "")
			v.add(secChecklist, "sessions of "+role, v.missing(role), "")
		case problem != "":
			v.add(secFirefight, "password of "+role, []string{problem}, "")
			v.add(secChecklist, "sessions of "+role, []string{problem}, "")
		default:
			v.password(states[i], how)
		}
	}
	return nil
}

func allowList(l []allowed) string {
	parts := make([]string, len(l))
	for i, a := range l {
		parts[i] = a.Role + " (" + a.Kind + ")"
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// password checks one firefighter role's expiry and sessions against its live grants.
func (v *verifier) password(s passwordState, how string) {
	var problems []string
	expire := fmt.Sprintf("SELECT * FROM db_admin.sweep_expired_firefighters(), or db_admin.expire_firefighter_password('%s')", s.Role)
	switch {
	case s.NoExpiry:
		problems = append(problems, fmt.Sprintf(
			"%s has VALID UNTIL NULL: a password, if one is set, never expires (live grants: %d); expire it: %s", s.Role, s.LiveGrants, expire))
	case s.Valid && s.LiveGrants == 0:
		problems = append(problems, fmt.Sprintf(
			"password left valid with no live grant: %s is valid until %s; expire it: %s", s.Role, s.ValidUntil, expire))
	case s.Valid && s.Outlives:
		problems = append(problems, fmt.Sprintf(
			"%s is valid until %s, after its latest live grant ends (%s)", s.Role, s.ValidUntil, s.LatestEnd))
	case s.Valid && s.OverCap:
		problems = append(problems, fmt.Sprintf("%s is valid until %s, more than 2 hours from now", s.Role, s.ValidUntil))
	}
	pass := fmt.Sprintf("%s is expired (VALID UNTIL %s) and has no live grant", s.Role, s.ValidUntil)
	if s.Valid {
		pass = fmt.Sprintf("%s is valid until %s, covered by %d live grant(s) ending at %s at the latest", s.Role, s.ValidUntil, s.LiveGrants, s.LatestEnd)
	} else if s.LiveGrants > 0 {
		pass = fmt.Sprintf("%s is expired (VALID UNTIL %s) although %d grant(s) are live in the ledger", s.Role, s.ValidUntil, s.LiveGrants)
	}
	if s.OpenExpired > 0 {
		pass += fmt.Sprintf("; %d expired grant(s) await the sweep", s.OpenExpired)
	}
	v.add(secFirefight, "password of "+s.Role, problems, pass+"; ledger "+how)

	problems = nil
	if s.Sessions > 0 && s.LiveGrants == 0 {
		problems = append(problems, fmt.Sprintf(
			"%d session(s) of %s are still open with no live grant (expiry does not end them): SELECT db_admin.terminate_firefighter_sessions('%s')",
			s.Sessions, s.Role, s.Role))
	}
	pass = fmt.Sprintf("no session of %s is open", s.Role)
	if s.Sessions > 0 {
		pass = fmt.Sprintf("%d session(s) of %s are open, covered by %d live grant(s)", s.Sessions, s.Role, s.LiveGrants)
	}
	v.add(secChecklist, "sessions of "+s.Role, problems, pass)
}

// roleSetting is the settings of one role in the application database.
type roleSetting struct {
	Role   string
	Config []string
}

// guardrails checks section 10's ALTER ROLE ... IN DATABASE settings.
func (v *verifier) guardrails(ctx context.Context) error {
	r := v.roles
	got, err := collect[roleSetting](ctx, v.tx, `
		SELECT pg_catalog.pg_get_userbyid(s.setrole)::text, s.setconfig
		FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
		WHERE d.datname = pg_catalog.current_database()`)
	if err != nil {
		return err
	}
	config := map[string][]string{}
	for _, s := range got {
		config[s.Role] = s.Config
	}
	for _, want := range []struct {
		role     string
		settings []string
	}{
		{r.FirefighterRO, []string{"statement_timeout=5min", "idle_in_transaction_session_timeout=2min"}},
		{r.FirefighterRW, []string{"statement_timeout=5min", "lock_timeout=5s", "idle_in_transaction_session_timeout=2min"}},
	} {
		problems := v.missing(want.role)
		have := config[want.role]
		for _, s := range want.settings {
			if !slices.Contains(have, s) {
				problems = append(problems, fmt.Sprintf("%s in database %s: %s missing (has %s)", want.role, v.names.DBName, s, settingsList(have)))
			}
		}
		for _, s := range have {
			if !slices.Contains(want.settings, s) {
				problems = append(problems, fmt.Sprintf("%s in database %s: %s not wanted", want.role, v.names.DBName, s))
			}
		}
		v.add(secGuardrails, "session settings of "+want.role, problems,
			fmt.Sprintf("ALTER ROLE %s IN DATABASE %s sets exactly %s", want.role, v.names.DBName, strings.Join(want.settings, ", ")))
	}

	var searchPath string
	if err := v.tx.QueryRow(ctx, `SELECT 'search_path=' || pg_catalog.quote_ident($1) || ', public'`, v.names.AppSchema).Scan(&searchPath); err != nil {
		return err
	}
	for _, role := range []string{r.App, r.Migrator} {
		problems := v.missing(role)
		if v.exists(role) && !slices.Contains(config[role], searchPath) {
			problems = append(problems, fmt.Sprintf("%s in database %s: %s missing (has %s)", role, v.names.DBName, searchPath, settingsList(config[role])))
		}
		v.add(secGuardrails, "search_path of "+role, problems,
			fmt.Sprintf("ALTER ROLE %s IN DATABASE %s sets %s", role, v.names.DBName, searchPath))
	}
	return nil
}

func settingsList(s []string) string {
	if len(s) == 0 {
		return "no settings"
	}
	return strings.Join(s, ", ")
}
