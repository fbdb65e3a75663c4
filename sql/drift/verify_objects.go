package drift

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

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
	LoginX  bool // the login functionsIn was asked about may EXECUTE it
}

// functionsIn lists the functions of schema nsp with what the checks need, and whether
// login may execute each. A role that does not exist has EXECUTE on nothing.
func (v *verifier) functionsIn(ctx context.Context, nsp, login string) ([]function, error) {
	app, broker := v.roles.App, login
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
	fns, err := v.functionsIn(ctx, v.names.AppSchema, v.roles.Broker)
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

// defaclType is the GRANT keyword of a pg_default_acl object type.
func defaclType(objType string) string {
	switch objType {
	case "r":
		return "TABLES"
	case "S":
		return "SEQUENCES"
	case "f":
		return "FUNCTIONS"
	case "T":
		return "TYPES"
	case "n":
		return "SCHEMAS"
	}
	return objType
}

func (d defaultACL) String() string {
	s := fmt.Sprintf("%s ON %s TO %s", d.Privilege, defaclType(d.ObjType), d.Grantee)
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
