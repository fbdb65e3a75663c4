package drift

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// reach checks that the firefighter roles can connect to no database but the
// application database: anywhere else they could leave code for the master to run
// (schema public grants CREATE to PUBLIC before PostgreSQL 15 and on clusters upgraded
// from it) or objects that no expiry removes.
func (v *verifier) reach(ctx context.Context) error {
	r := v.roles
	var problems []string
	for _, role := range []string{r.FirefighterRO, r.FirefighterRW} {
		if !v.exists(role) {
			problems = append(problems, v.missing(role)...)
			continue
		}
		dbs, err := collect[struct{ Name string }](ctx, v.tx, `
			SELECT d.datname::text FROM pg_catalog.pg_database d
			WHERE d.datallowconn AND d.datname <> pg_catalog.current_database()
			  AND pg_catalog.has_database_privilege($1, d.oid, 'CONNECT')
			ORDER BY 1`, role)
		if err != nil {
			return err
		}
		for _, d := range dbs {
			problems = append(problems, fmt.Sprintf(
				"%s can connect to database %s: its owner must REVOKE CONNECT ON DATABASE %s FROM PUBLIC (bootstrap.sql does where the master can act as the owner) and grant CONNECT by name to the roles that need it",
				role, schemaName(d.Name), schemaName(d.Name)))
		}
	}
	v.add(secChecklist, fmt.Sprintf("firefighter roles connect to %s only", v.names.DBName), problems,
		fmt.Sprintf("neither %s nor %s may connect to any other database of the cluster", r.FirefighterRO, r.FirefighterRW))
	return nil
}

// owned checks that a firefighter role owns nothing in any database while no grant of
// it is live: whatever it created (a large object, a table where schema public grants
// CREATE) outlives the grant and the sweep removes it. live is the role's live grants,
// -1 when the ledger could not be read.
func (v *verifier) owned(ctx context.Context, role string, live int32) error {
	name := "objects owned by " + role + ": none without a live grant"
	if !v.exists(role) {
		v.add(secFirefight, name, v.missing(role), "")
		return nil
	}
	rows, err := collect[struct {
		DB, Catalog string
		N           int64
	}](ctx, v.tx, `
		SELECT COALESCE(db.datname::text, '(shared)'), d.classid::pg_catalog.regclass::text, pg_catalog.count(*)
		FROM pg_catalog.pg_shdepend d
		LEFT JOIN pg_catalog.pg_database db ON db.oid = d.dbid
		WHERE d.deptype = 'o' AND d.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass
		  AND d.refobjid = (SELECT a.oid FROM pg_catalog.pg_roles a WHERE a.rolname = $1)
		GROUP BY 1, 2 ORDER BY 1, 2`, role)
	if err != nil {
		return err
	}
	var found []string
	for _, o := range rows {
		found = append(found, fmt.Sprintf("%d %s in database %s", o.N, catalogKind(o.Catalog), schemaName(o.DB)))
	}
	switch {
	case len(found) == 0:
		v.add(secFirefight, name, nil, role+" owns no object in any database")
	case live > 0:
		v.add(secFirefight, name, nil, fmt.Sprintf("%s owns %s, covered by %d live grant(s): expiry and the sweep remove it",
			role, strings.Join(found, ", "), live))
	default:
		why := "no live grant"
		if live < 0 {
			why = "the grant ledger could not be read"
		}
		v.add(secFirefight, name, []string{fmt.Sprintf(
			"%s owns %s with %s: SELECT * FROM db_admin.sweep_expired_firefighters() removes what it owns in %s; elsewhere its database's owner must drop it",
			role, strings.Join(found, ", "), why, v.names.DBName)}, "")
	}
	return nil
}

// catalogKind names the kind of object a pg_shdepend row of catalog describes.
func catalogKind(catalog string) string {
	switch strings.TrimPrefix(catalog, "pg_catalog.") {
	case "pg_largeobject", "pg_largeobject_metadata":
		return "large object(s)"
	case "pg_class":
		return "table(s), view(s) or sequence(s)"
	case "pg_proc":
		return "function(s)"
	case "pg_type":
		return "type(s)"
	case "pg_namespace":
		return "schema(s)"
	case "pg_operator":
		return "operator(s)"
	}
	return "object(s) of " + catalog
}

// searchPath checks that no schema on the search path of the connected role (the
// master) or of the admin can be written by anyone else: their search_path settings
// for this database or all databases, the database's own, plus "$user" and public, the
// default. A function another role planted there would run with their privileges in
// every session that resolves a name through it (the scripts and the db_admin
// functions pin search_path; a DBA's own session does not). The owner role counts as
// trusted: it owns the database and is pg_database_owner here.
func (v *verifier) searchPath(ctx context.Context) error {
	r := v.roles
	who := []string{v.user}
	if r.Admin != v.user {
		who = append(who, r.Admin)
	}
	trusted := []string{v.user, r.Admin, r.Owner, "pg_database_owner"}
	var problems, checked []string
	seen := map[string]bool{}
	for _, role := range who {
		settings, err := collect[struct{ Path string }](ctx, v.tx, `
			SELECT pg_catalog.substr(c, pg_catalog.length('search_path=') + 1)
			FROM pg_catalog.pg_db_role_setting s, pg_catalog.unnest(s.setconfig) c
			WHERE c LIKE 'search\_path=%'
			  AND s.setdatabase IN (0, (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()))
			  AND (s.setrole = 0 OR s.setrole = (SELECT a.oid FROM pg_catalog.pg_roles a WHERE a.rolname = $1))
			ORDER BY s.setrole DESC, s.setdatabase DESC`, role)
		if err != nil {
			return err
		}
		paths := []string{`"$user", public`}
		for _, s := range settings {
			paths = append(paths, s.Path)
		}
		for _, p := range paths {
			for _, nsp := range splitSearchPath(p) {
				if nsp == "$user" {
					nsp = role
				}
				if nsp == "pg_catalog" || strings.HasPrefix(nsp, "pg_temp") || seen[nsp] {
					continue
				}
				seen[nsp] = true
				writers, err := collect[struct {
					Role  string
					Super bool
				}](ctx, v.tx, `
					SELECT pg_catalog.pg_get_userbyid(n.nspowner)::text, COALESCE(o.rolsuper, false)
					FROM pg_catalog.pg_namespace n LEFT JOIN pg_catalog.pg_roles o ON o.oid = n.nspowner
					WHERE n.nspname = $1
					UNION
					SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END,
					       COALESCE(g.rolsuper, false)
					FROM pg_catalog.pg_namespace n,
					     pg_catalog.aclexplode(COALESCE(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) a
					LEFT JOIN pg_catalog.pg_roles g ON g.oid = a.grantee
					WHERE n.nspname = $1 AND a.privilege_type = 'CREATE'
					ORDER BY 1`, nsp)
				if err != nil {
					return err
				}
				if len(writers) == 0 {
					continue // no such schema here
				}
				checked = append(checked, schemaName(nsp))
				for _, w := range writers {
					if w.Super || slices.Contains(trusted, w.Role) {
						continue
					}
					problems = append(problems, fmt.Sprintf(
						"%s can create objects in schema %s, which is on the search path of %s: a function it plants there runs as %s in any session that resolves a name through it (REVOKE CREATE ON SCHEMA %s FROM %s, as the schema's owner)",
						w.Role, schemaName(nsp), role, role, schemaName(nsp), w.Role))
				}
			}
		}
	}
	pass := fmt.Sprintf("no schema on the search path of %s is writable by others", strings.Join(who, " or "))
	if len(checked) > 0 {
		pass += fmt.Sprintf(" (%s: only %s, superusers or the owner can create there)", strings.Join(checked, ", "), strings.Join(who, ", "))
	}
	v.add(secChecklist, "search path of "+strings.Join(who, " and ")+": no schema others can write", problems, pass)
	return nil
}

// splitSearchPath splits a search_path value into schema names, unquoting quoted ones
// and folding the others to lower case, as the server does.
func splitSearchPath(p string) []string {
	var out []string
	var cur strings.Builder
	quoted, inQuote := false, false
	flush := func() {
		s := cur.String()
		if !quoted {
			s = strings.ToLower(s)
		}
		if s != "" || quoted {
			out = append(out, s)
		}
		cur.Reset()
		quoted = false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case inQuote && c == '"' && i+1 < len(p) && p[i+1] == '"':
			cur.WriteByte('"')
			i++
		case c == '"':
			inQuote, quoted = !inQuote, true
		case !inQuote && c == ',':
			flush()
		case !inQuote && (c == ' ' || c == '\t' || c == '\n'):
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return out
}

// passwordCommands checks Aurora's restricted password management: with
// rds.restrict_password_commands off any role, a firefighter included, changes its own
// password (ALTER ROLE CURRENT_USER PASSWORD ...), and the secret's holders are locked
// out while the working password is in no secret. Standard PostgreSQL has no such
// setting, and the reason says what it cannot prevent.
func (v *verifier) passwordCommands(ctx context.Context) error {
	var aurora bool
	var setting *string
	if err := v.tx.QueryRow(ctx, `SELECT pg_catalog.to_regrole('rds_password') IS NOT NULL,
		pg_catalog.current_setting('rds.restrict_password_commands', true)`).Scan(&aurora, &setting); err != nil {
		return err
	}
	const name = "only rds_password members change passwords (rds.restrict_password_commands)"
	if !aurora {
		v.add(secFirefight, name, nil,
			"standard PostgreSQL (no rds_password role): nothing stops a firefighter from changing its own password while its grant is live; expiry still takes it back (see sql/README.md)")
		return nil
	}
	value := "not set"
	if setting != nil {
		value = *setting
	}
	if setting != nil && slices.Contains([]string{"on", "1", "true", "yes"}, strings.ToLower(*setting)) {
		v.add(secFirefight, name, nil, "rds.restrict_password_commands is "+value+": a firefighter cannot change its own password")
		return nil
	}
	v.add(secFirefight, name, []string{fmt.Sprintf(
		"rds.restrict_password_commands is %s: any firefighter can change its own password and lock its colleagues out; set it to 1 in the cluster parameter group and reboot the writer",
		value)}, "")
	return nil
}
