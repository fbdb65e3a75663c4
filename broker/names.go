package broker

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// DefaultRolePrefix is the default role prefix of the role model (bootstrap.sql's
// default for its prefix variable).
const DefaultRolePrefix = "my_pg"

// The defaults of bootstrap.sql's db_name and app_schema variables.
const (
	defaultDBName    = "my-pg-db"
	defaultAppSchema = "my-pg-db-schema"
)

// maxNameLength is the longest db_name or app_schema the bootstrap accepts, in
// characters: PostgreSQL's identifier limit.
const maxNameLength = 63

// maxPrefixLength is the bootstrap's limit on the prefix (000_preflight.sql:
// ^[a-z][a-z0-9_]{0,30}$), which keeps the longest derived name,
// <prefix>_activity_monitor, within PostgreSQL's 63-byte identifier limit.
const maxPrefixLength = 31

// prefixPattern is 000_preflight.sql's pattern for the prefix.
var prefixPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,30}$`)

// Names are the three psql variables a role model was bootstrapped with (prefix,
// db_name, app_schema); every role name of the model derives from them (see Roles).
// Empty fields mean the defaults (see DefaultNames).
type Names struct {
	// Prefix names the roles: <Prefix>_admin, <Prefix>_owner, ... (see Roles).
	Prefix string
	// DBName is the application database, owned by the owner role.
	DBName string
	// AppSchema is the application schema in DBName, owned by the owner role.
	AppSchema string
}

// DefaultNames returns the default names: prefix my_pg, database my-pg-db, schema
// my-pg-db-schema, the defaults of bootstrap.sql.
func DefaultNames() Names {
	return Names{Prefix: DefaultRolePrefix, DBName: defaultDBName, AppSchema: defaultAppSchema}
}

// WithDefaults returns n with each empty field set to its default.
func (n Names) WithDefaults() Names {
	d := DefaultNames()
	if n.Prefix == "" {
		n.Prefix = d.Prefix
	}
	if n.DBName == "" {
		n.DBName = d.DBName
	}
	if n.AppSchema == "" {
		n.AppSchema = d.AppSchema
	}
	return n
}

// Validate refuses the names that a bootstrap with them would refuse: a prefix that
// does not match 000_preflight.sql's pattern or that makes reserved pg_ role names, a
// database or schema name longer than 63 characters. Empty fields are valid (they
// mean the defaults).
func (n Names) Validate() error {
	n = n.WithDefaults()
	if err := checkPrefix(n.Prefix); err != nil {
		return err
	}
	if utf8.RuneCountInString(n.DBName) > maxNameLength || utf8.RuneCountInString(n.AppSchema) > maxNameLength {
		return fmt.Errorf("db_name and app_schema must be 1 to %d characters", maxNameLength)
	}
	return nil
}

// checkPrefix refuses a prefix the bootstrap refuses: one that does not match the
// preflight's pattern, or one whose role names would start with pg_, which
// PostgreSQL reserves (CREATE ROLE would fail).
func checkPrefix(prefix string) error {
	if !prefixPattern.MatchString(prefix) {
		return fmt.Errorf("prefix must match %s, not %q", prefixPattern, prefix)
	}
	if strings.HasPrefix(prefix+"_", "pg_") {
		return errors.New("prefix must not make role names starting with pg_ (PostgreSQL reserves them)")
	}
	return nil
}

// Roles are the names of the roles of one role model (sql/README.md, plus the
// function logins of sql/007_*.sql and sql/008_*.sql).
type Roles struct {
	// Admin administers roles and owns db_admin; Owner (NOLOGIN) owns the database,
	// the application schema and its objects; Migrator runs DDL after SET ROLE Owner.
	Admin, Owner, Migrator string
	// App is the application's runtime login.
	App string
	// FirefighterRO and FirefighterRW are the incident logins that get temporary
	// passwords; Broker is the password broker's login.
	FirefighterRO, FirefighterRW, Broker string
	// Approver is the approve function's login: it records decisions and nothing else.
	Approver string
	// Activity is the activity job's login (sql/008_*.sql); it is not one of the
	// bootstrap's eight, and All leaves it out.
	Activity string
}

// Roles derives the role names from the prefix (the default when empty) exactly as
// bootstrap.sql does.
func (n Names) Roles() Roles {
	p := n.WithDefaults().Prefix
	return Roles{
		Admin: p + "_admin", Owner: p + "_owner", Migrator: p + "_migrator", App: p + "_app",
		FirefighterRO: p + "_firefighter_ro", FirefighterRW: p + "_firefighter_rw",
		Broker: p + "_password_broker", Approver: p + "_password_approver", Activity: p + "_activity_monitor",
	}
}

// All returns the names of the roles bootstrap.sql creates, in the order it creates
// them.
func (r Roles) All() []string {
	return []string{r.Admin, r.Owner, r.Migrator, r.App, r.FirefighterRO, r.FirefighterRW, r.Broker, r.Approver}
}

// Firefighter returns the name of the firefighter role of kind, or "" when kind is
// not valid.
func (r Roles) Firefighter(kind Role) string {
	switch kind {
	case RoleRO:
		return r.FirefighterRO
	case RoleRW:
		return r.FirefighterRW
	}
	return ""
}
