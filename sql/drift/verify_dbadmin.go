package drift

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

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

	fns, err := v.functionsIn(ctx, "db_admin", v.roles.Broker)
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

// dbLogin is a function login of the model, the db_admin functions the scripts grant
// it and the script that grants them.
type dbLogin struct {
	name string
	fns  []string
	file string
}

// login returns the dbLogin of name, whose grants name it by the psql variable v.
func login(name, v string) dbLogin {
	fns, file := granted(v)
	return dbLogin{name: name, fns: fns, file: file}
}

// broker checks that the broker's login, the approver's and the activity job's can do
// nothing but execute their db_admin functions (DESIGN.md: Broker login powers, Two people for rw).
func (v *verifier) broker(ctx context.Context) error {
	for _, l := range []dbLogin{login(v.roles.Broker, "broker_role"), login(v.roles.Approver, "approver_role"), login(v.roles.Activity, "activity_role")} {
		if !v.exists(l.name) {
			for _, name := range []string{brokerSchemasCheck, brokerExecuteCheck, brokerTablesCheck, brokerGrantsCheck} {
				v.add(secFirefight, l.name+name, v.missing(l.name), "")
			}
			continue
		}
		for _, step := range []func(context.Context, dbLogin) error{v.brokerSchemas, v.brokerExecute, v.brokerTables, v.brokerGrants} {
			if err := step(ctx, l); err != nil {
				return err
			}
		}
	}
	return nil
}

// brokerSchemas: USAGE on db_admin and nothing else, by name or through PUBLIC, on any
// schema but the system ones and public (the schema public check covers that one).
func (v *verifier) brokerSchemas(ctx context.Context, l dbLogin) error {
	b := l.name
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

// brokerExecute: EXECUTE on exactly the db_admin functions the scripts grant the login.
func (v *verifier) brokerExecute(ctx context.Context, l dbLogin) error {
	b := l.name
	fns, err := v.functionsIn(ctx, "db_admin", b)
	if err != nil {
		return err
	}
	var problems []string
	seen := map[string]bool{}
	for _, f := range fns {
		seen[f.Name] = true
		want, has := slices.Contains(l.fns, f.Name), f.LoginX
		switch {
		case has && !want:
			problems = append(problems, fmt.Sprintf("%s can EXECUTE %s, which is not one of its functions", b, f.Name))
		case !has && want:
			problems = append(problems, fmt.Sprintf("%s cannot EXECUTE %s", b, f.Name))
		}
	}
	for _, f := range l.fns {
		if !seen[f] {
			problems = append(problems, f+" does not exist")
		}
	}
	v.add(secFirefight, b+brokerExecuteCheck, problems,
		fmt.Sprintf("of the %d functions in schema db_admin, %s can EXECUTE exactly the %d that %s grants it",
			len(fns), b, len(l.fns), l.file))
	return nil
}

// brokerTables: no privilege on any table, view or sequence outside the system schemas,
// by name, through PUBLIC or through a membership.
func (v *verifier) brokerTables(ctx context.Context, l dbLogin) error {
	b := l.name
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
func (v *verifier) brokerGrants(ctx context.Context, l dbLogin) error {
	b := l.name
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
		ORDER BY 2 DESC, 3, 4`, b, l.fns)
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
		live := int32(-1)
		if i >= 0 && problem == "" {
			live = states[i].LiveGrants
		}
		if err := v.owned(ctx, role, live); err != nil {
			return err
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
