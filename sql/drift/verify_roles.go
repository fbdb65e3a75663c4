package drift

import (
	"context"
	"fmt"
	"strings"
)

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
		FROM pg_catalog.pg_roles WHERE rolname::text = ANY($1::text[])`, append(v.roles.All(), v.roles.Activity))
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
		ORDER BY 1, 2`, append(v.roles.All(), v.roles.Activity))
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
		{r.Approver, true, false, false, anyLimit},
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

	for _, role := range []string{r.FirefighterRO, r.FirefighterRW, r.Broker, r.Approver} {
		allowed := ""
		if role != r.Broker && role != r.Approver {
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

	for _, login := range []string{r.Broker, r.Approver} {
		problems = v.missing(login)
		for _, m := range v.members {
			if m.Member == login && m.Role != "rds_iam" {
				problems = append(problems, fmt.Sprintf("%s is a member of %s", login, m.Role))
			}
		}
		v.add(secFirefight, fmt.Sprintf("%s is a member of no role but rds_iam", login), problems,
			fmt.Sprintf("%s holds no role's privileges (rds_iam, for its IAM login, is the only membership allowed)", login))
	}
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
