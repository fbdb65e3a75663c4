package sql

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
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
	// Approver is the approve function's login: it records decisions and nothing else.
	Approver string
	// Activity is the activity job's login (008_activity.sql); it is not one of the
	// seven, and All leaves it out.
	Activity string
}

// Roles derives the role names from the prefix (the default when empty) exactly as
// bootstrap.sql does.
func (n Names) Roles() Roles {
	p := n.WithDefaults().Prefix
	return Roles{
		Admin: p + "_admin", Owner: p + "_owner", Migrator: p + "_migrator", App: p + "_app",
		FirefighterRO: p + "_firefighter_ro", FirefighterRW: p + "_firefighter_rw", Broker: p + "_password_broker",
		Approver: p + "_password_approver", Activity: p + "_activity_monitor",
	}
}

// All returns the role names in the order bootstrap.sql creates them.
func (r Roles) All() []string {
	return []string{r.Admin, r.Owner, r.Migrator, r.App, r.FirefighterRO, r.FirefighterRW, r.Broker, r.Approver}
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
	"db_admin.reserve_firefighter_grant(uuid, name, integer, text, text, text, uuid)",
	"db_admin.issue_firefighter_password(uuid, name, text, integer, text, text, text, uuid)",
	"db_admin.expire_firefighter_password(name)",
	"db_admin.terminate_firefighter_sessions(name)",
	"db_admin.sweep_expired_firefighters()",
	"db_admin.firefighter_status()",
	"db_admin.live_firefighter_grants()",
	"db_admin.lock_firefighter_role(name)",
	"db_admin.current_firefighter_grant(name)",
	"db_admin.submit_firefighter_request(uuid, name, text, integer, text, text, text, text, text)",
	"db_admin.attach_firefighter_task_token(uuid, text, text)",
	"db_admin.expire_firefighter_request(uuid)",
	"db_admin.firefighter_request_status(uuid)",
	"db_admin.submit_firefighter_extension(uuid, name, text, integer, text, text, text, text, text, text)",
	"db_admin.extend_firefighter_grant(name, text, integer, text, text, uuid)",
	"db_admin.claim_firefighter_notice(uuid, text)",
	"db_admin.claim_firefighter_expiry_warnings(integer)",
}

// approverFunctions are the db_admin functions the approver's login may execute, as
// 007_db_admin.sql grants them: it records decisions and reads requests, nothing else.
var approverFunctions = []string{
	"db_admin.decide_firefighter_request(uuid, text, text, text, text, text, text)",
	"db_admin.pending_firefighter_requests()",
	"db_admin.firefighter_request_status(uuid)",
	"db_admin.firefighter_status()",
	"db_admin.live_firefighter_grants()",
}

// activityFunctions are the db_admin functions 008_activity.sql grants the activity
// job's login: reading the log's checkpoint and policy, recording logins, planning and
// enforcing within the database's floor, nothing else.
var activityFunctions = []string{
	"db_admin.activity_now()",
	"db_admin.activity_clock_shift()",
	"db_admin.activity_policy()",
	"db_admin.activity_checkpoint(text)",
	"db_admin.activity_commit_page(text, bigint, bigint, text[], integer, integer, jsonb)",
	"db_admin.activity_record_logins(text, text[], text[], timestamp with time zone[], text[], boolean[])",
	"db_admin.activity_log_proof()",
	"db_admin.activity_plan(integer, integer, text[])",
	"db_admin.activity_enforce(name, text, integer, integer, text[])",
	"db_admin.activity_unlock(name)",
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

// BrokerFunctions returns the signatures of the db_admin functions the broker's login
// may execute, as "db_admin.name(argument types)".
func BrokerFunctions() []string { return slices.Clone(brokerFunctions) }

// ApproverFunctions returns the signatures of the db_admin functions the approver's
// login may execute.
func ApproverFunctions() []string { return slices.Clone(approverFunctions) }

// ActivityFunctions returns the signatures of the db_admin functions the activity
// job's login may execute.
func ActivityFunctions() []string { return slices.Clone(activityFunctions) }
