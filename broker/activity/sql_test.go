package activity_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/activity"
	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// The activity functions' contract: hardened like the broker's, EXECUTE for the
// activity monitor only and only on its own functions, which is all it can do.
func TestActivityRoleCanOnlyExecuteItsFunctions(t *testing.T) {
	e := newEnv(t, "actsql")
	ctx := context.Background()
	s := e.super(t)
	own := []string{
		"db_admin.activity_checkpoint(text)",
		"db_admin.activity_clock_shift()",
		"db_admin.activity_commit_page(text,bigint,bigint,text[],integer,integer,jsonb)",
		"db_admin.activity_enforce(name,text,integer,integer,text[])",
		"db_admin.activity_log_proof()",
		"db_admin.activity_now()",
		"db_admin.activity_plan(integer,integer,text[])",
		"db_admin.activity_policy()",
		"db_admin.activity_record_logins(text,text[],text[],timestamp with time zone[],text[],boolean[])",
		"db_admin.activity_unlock(name)",
	}
	rows, err := s.Query(ctx, `
		SELECT replace(p.oid::regprocedure::text, ', ', ','), p.proowner::regrole::text, p.prosecdef,
		       coalesce(array_to_string(p.proconfig, ','), ''),
		       has_function_privilege($1, p.oid, 'EXECUTE'), has_function_privilege($2, p.oid, 'EXECUTE'),
		       has_function_privilege('public', p.oid, 'EXECUTE')
		FROM pg_proc p WHERE p.pronamespace = 'db_admin'::regnamespace ORDER BY 1`, e.Activity, e.Broker)
	if err != nil {
		t.Fatal(err)
	}
	var canExecute []string
	for rows.Next() {
		var fn, owner, config string
		var definer, activityX, brokerX, public bool
		if err := rows.Scan(&fn, &owner, &definer, &config, &activityX, &brokerX, &public); err != nil {
			t.Fatal(err)
		}
		if owner != e.Admin || !definer || config != "search_path=pg_catalog, pg_temp" && !strings.HasPrefix(config, "search_path=pg_catalog, pg_temp,") || public {
			t.Errorf("%s: owner %s, security definer %v, config %q, PUBLIC execute %v; want the admin, true, search_path pinned, false",
				fn, owner, definer, config, public)
		}
		if activityX {
			canExecute = append(canExecute, fn)
		}
		if brokerX && strings.Contains(fn, "activity") {
			t.Errorf("the broker can execute %s", fn)
		}
	}
	if !slices.Equal(canExecute, own) {
		t.Errorf("the activity monitor can execute\n%q\nwant exactly\n%q", canExecute, own)
	}

	act, err := shared.Cluster.Connect(ctx, e.Activity, e.activityPassword, e.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer act.Close(ctx)
	const denied = "42501"
	for _, tc := range []struct{ name, sql string }{
		{"read the tracking table", `SELECT * FROM db_admin.role_activity`},
		{"move the clock", `UPDATE db_admin.activity_clock SET shift = interval '1 year'`},
		{"change the protected list", `DELETE FROM db_admin.activity_protected_role`},
		{"move the checkpoint directly", `DELETE FROM db_admin.activity_checkpoint`},
		{"read the grant ledger", `SELECT * FROM db_admin.firefighter_grant`},
		{"run an internal function", `SELECT db_admin.activity_sync()`},
		{"decide for itself", `SELECT * FROM db_admin.activity_decide(1, 2, '{}', NULL)`},
		{"rotate a firefighter password", `SELECT db_admin.set_firefighter_password('x', 'y')`},
		{"ALTER ROLE directly", `ALTER ROLE ` + ident(e.App) + ` CONNECTION LIMIT 0`},
		{"DROP ROLE directly", `DROP ROLE ` + ident(e.App)},
		{"CREATE ROLE", `CREATE ROLE actsql_made`},
		{"CREATE in db_admin", `CREATE TABLE db_admin.t (id int)`},
		{"CREATE TEMP TABLE", `CREATE TEMP TABLE t (id int)`},
		{"SET ROLE admin", `SET ROLE ` + ident(e.Admin)},
	} {
		if _, err := act.Exec(ctx, tc.sql); pgtest.SQLState(err) != denied {
			t.Errorf("activity monitor: %s: %v; want SQLSTATE %s", tc.name, err, denied)
		}
	}

	// The master who ran the bootstrap is protected, and so are the model's roles.
	var protected []string
	rows, _ = s.Query(ctx, `SELECT role::text FROM db_admin.activity_protected_role ORDER BY 1`)
	protected, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{pgtest.MasterUser, "rdsadmin", e.Admin, e.Owner, e.Migrator, e.App, e.Broker, e.FirefighterRO, e.FirefighterRW, e.Activity} {
		if !slices.Contains(protected, r) {
			t.Errorf("protected roles %q lack %s", protected, r)
		}
	}
	p := plan(t, e, activity.Options{LockAfterDays: 1, DropAfterDays: 2})
	for _, r := range []string{pgtest.MasterUser, e.Admin, e.App, e.Broker, e.FirefighterRO, e.Activity, "postgres"} {
		if p[r].Action != activity.ActionExcluded {
			t.Errorf("plan for %s = %s (%s); want excluded", r, p[r].Action, p[r].Reason)
		}
	}
}

// Bad arguments are refused with a clear code and change nothing; a name longer
// than 63 bytes is never truncated into another role's.
func TestActivityFunctionsRefuse(t *testing.T) {
	e := newEnv(t, "actbad")
	ctx := context.Background()
	j := e.job(t, nil, nil)
	for _, tc := range []struct {
		name string
		opts activity.Options
	}{
		{"drop before lock", activity.Options{LockAfterDays: 30, DropAfterDays: 30}},
		{"negative days", activity.Options{LockAfterDays: -1}},
		{"empty exclude name", activity.Options{Exclude: []string{""}}},
		{"bad source", activity.Options{Source: "email"}},
	} {
		if _, err := j.Report(ctx, tc.opts); broker.ErrorCode(err) != broker.CodeInvalidRequest {
			t.Errorf("Report(%s) error = %v; want code invalid_request", tc.name, err)
		}
	}
	if _, err := j.Run(ctx, activity.Options{}); broker.ErrorCode(err) != broker.CodeInvalidRequest {
		t.Errorf("Run without a log group: %v; want code invalid_request", err)
	}
	// The database refuses what the Go checks would let through.
	if _, err := e.store.Plan(ctx, activity.Policy{LockAfterDays: 30, DropAfterDays: 10}); broker.ErrorCode(err) != broker.CodeInvalidRequest {
		t.Errorf("Plan(lock 30, drop 10): %v; want code invalid_request", err)
	}
	if _, err := e.store.Enforce(ctx, activity.Policy{LockAfterDays: 1, DropAfterDays: 2}, e.App, "truncate"); broker.ErrorCode(err) != broker.CodeInvalidRequest {
		t.Errorf("Enforce(app, truncate): %v; want code invalid_request", err)
	}
	if res, err := e.store.Enforce(ctx, activity.Policy{LockAfterDays: 1, DropAfterDays: 2}, e.App, activity.ActionLock); err != nil || res.Result != activity.ResultPlanChanged {
		t.Errorf("Enforce(app, lock) = %+v, %v; want plan_changed: the app is protected", res, err)
	}
	if _, err := e.store.Enforce(ctx, activity.Policy{LockAfterDays: 1, DropAfterDays: 2}, e.App, activity.ActionDrop); sqlState(err) != "FFB21" {
		t.Errorf("Enforce(app, drop): %v; want SQLSTATE FFB21: the job never locked it", err)
	}

	trunc := (e.App + strings.Repeat("_", 63))[:63]
	e.loginRole(t, trunc, "pw")
	page := activity.PageCommit{Source: e.group, ThroughMs: 1, IDs: []string{"1"}, Events: 1, Logins: []activity.Login{
		{EventID: "1", Role: trunc + "-and-more-than-63-bytes", Time: time.Now()},
	}}
	if _, err := e.store.CommitPage(ctx, page, nil); err != nil {
		t.Fatal(err)
	}
	if p := plan(t, e, activity.Options{}); !p[trunc].LastLogLogin.IsZero() {
		t.Errorf("a login of a 90-byte name was recorded for %q, its first 63 bytes", trunc)
	}
}
