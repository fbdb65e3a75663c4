package drift

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/ffbroker/ffbroker/broker"
	sqlscripts "github.com/ffbroker/ffbroker/sql"
	"github.com/jackc/pgx/v5"
)

// Check is the outcome of one verification of the live database against the role model.
type Check struct {
	// Name says what was checked and names the role or object, e.g.
	// "attributes of my_pg_app".
	Name string
	// Section names the part of the role model the expectation comes from, as
	// sql/README.md names it, e.g. "role attributes", "firefighter roles" or
	// "hardening".
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

// The parts of the role model the checks come from (sql/README.md's names).
const (
	secAttributes = "role attributes"
	secRoles      = "roles"
	secDatabase   = "database privileges"
	secSchema     = "schema privileges"
	secTables     = "table privileges"
	secObjects    = "object grants"
	secFuture     = "future object grants"
	secMigration  = "migration pattern"
	secDefaults   = "default privileges"
	secFirefight  = "firefighter roles"
	secGuardrails = "session guardrails"
	secChecklist  = "hardening"
)

// grants are the scripts' GRANT EXECUTE lines, read once from the scripts built into
// this program (sqlscripts.FunctionGrants): the one source of the lists below.
var grants = sync.OnceValue(func() []sqlscripts.FunctionGrant {
	g, err := sqlscripts.FunctionGrants()
	if err != nil {
		panic("drift: " + err.Error()) // the embedded scripts are fixed at build time; a test reads them
	}
	return g
})

// granted returns the functions the scripts grant EXECUTE on to the login named by the
// psql variable login, and the script that grants them.
func granted(login string) (fns []string, file string) {
	for _, g := range grants() {
		if g.Login == login {
			fns, file = append(fns, g.Function), g.File
		}
	}
	return fns, file
}

// BrokerFunctions returns the db_admin functions the scripts grant EXECUTE on to the
// password broker (TO :"broker_role"), as "schema.name(argument types)".
func BrokerFunctions() []string { fns, _ := granted("broker_role"); return fns }

// ApproverFunctions returns the db_admin functions the scripts grant the approver's
// login (TO :"approver_role"): it records decisions and reads requests, nothing else.
func ApproverFunctions() []string { fns, _ := granted("approver_role"); return fns }

// ActivityFunctions returns the db_admin functions the scripts grant the activity job's
// login (TO :"activity_role"): reading the log's checkpoint and policy, recording
// logins, planning and enforcing within the database's floor, nothing else.
func ActivityFunctions() []string { fns, _ := granted("activity_role"); return fns }

// Verify runs the role model's verification queries and hardening checklist, and checks the db_admin functions and the password broker's privileges, against
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
func Verify(ctx context.Context, conn *pgx.Conn, n broker.Names) ([]Check, error) {
	n = n.WithDefaults()
	if err := n.Validate(); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	// Resolve every name in pg_catalog only, never in a schema another role can write
	// (a function planted in public would run with the master's privileges).
	if _, err := tx.Exec(ctx, `SET LOCAL search_path = pg_catalog, pg_temp`); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
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
		{"firefighter reach", v.reach},
		{"search path", v.searchPath},
		{"password commands", v.passwordCommands},
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
	names   broker.Names
	roles   broker.Roles
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
