package activity_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/activity"
	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// psqlAs runs one statement through psql as a login, as an attacker holding that
// login would, and returns its output and error.
func psqlAs(t *testing.T, user, password, db, sql string) (string, error) {
	t.Helper()
	c := shared.Cluster
	for attempt := 0; ; attempt++ {
		out, err := c.RunPsql(context.Background(), user, password, "-X", "-v", "ON_ERROR_STOP=1", "-h", c.Host,
			"-p", strconv.Itoa(c.Port), "-U", user, "-d", db, "-At", "-c", sql)
		// The login's connection limit: a session that just closed may not have
		// left its slot yet.
		if err == nil || !strings.Contains(out, "too many connections for role") || attempt == 50 {
			return out, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The admin's policy is a floor the activity login cannot go below: as that login,
// with psql, thresholds looser than the policy (the drop after 1 day, a
// lock after 30 days against 90) are refused with FFB11 and drop nobody; the
// policy row and the function that sets it are out of its reach; stricter
// thresholds (more days, or 0: never) are accepted. The job gets a typed error and
// writes a request.rejected record.
func TestPolicyFloorAsTheActivityLogin(t *testing.T) {
	e := newEnv(t, "floor")
	ctx := context.Background()
	mustExec(t, e.super(t), `SELECT db_admin.activity_set_policy(90, 180)`)
	e.loginRole(t, "floor_idle", "pw")
	if _, err := e.store.Plan(ctx, activity.Policy{LockAfterDays: 90, DropAfterDays: 180}); err != nil { // tracks floor_idle
		t.Fatal(err)
	}
	e.shiftClock(t, 5*24*time.Hour)
	e.store.Close(ctx)                      // psql needs the login's slot
	const looser = "looser than the policy" // FFB11's message
	for _, tc := range []struct {
		name, sql string
		out       string // the answer when err is ""
		err       string // what the refusal holds
	}{
		{"drop after 1 day", `SELECT * FROM db_admin.activity_enforce('floor_idle', 'drop', 0, 1)`, "", looser},
		{"lock after 1 day", `SELECT * FROM db_admin.activity_enforce('floor_idle', 'lock', 1, 0)`, "", looser},
		{"plan looser", `SELECT count(*) FROM db_admin.activity_plan(30, 60)`, "", looser},
		{"drop below the floor, lock above", `SELECT count(*) FROM db_admin.activity_plan(100, 150)`, "", looser},
		{"set the policy", `SELECT * FROM db_admin.activity_set_policy(1, 2)`, "", "permission denied"},
		{"change the row", `UPDATE db_admin.activity_policy SET lock_after_days = 1, drop_after_days = 2`, "", "permission denied"},
		{"delete the row", `DELETE FROM db_admin.activity_policy`, "", "permission denied"},
		{"stricter", `SELECT string_agg(p.role || ':' || p.action, ',') FROM db_admin.activity_plan(120, 365) AS p WHERE p.role = 'floor_idle'`, "floor_idle:active", ""},
		{"never", `SELECT string_agg(p.role || ':' || p.action, ',') FROM db_admin.activity_plan(0, 0) AS p WHERE p.role = 'floor_idle'`, "floor_idle:active", ""},
		{"the floor itself", `SELECT lock_after_days || '/' || drop_after_days FROM db_admin.activity_policy()`, "90/180", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := psqlAs(t, e.Activity, e.activityPassword, e.DB, tc.sql)
			out = strings.TrimSpace(out)
			switch {
			case tc.err == "" && (err != nil || out != tc.out):
				t.Errorf("%s = %q (%v); want %q", tc.sql, out, err, tc.out)
			case tc.err != "" && err == nil:
				t.Errorf("%s succeeded (%q); want a refusal with %q", tc.sql, out, tc.err)
			case tc.err != "" && !strings.Contains(out, tc.err):
				t.Errorf("%s: %q; want a refusal with %q", tc.sql, out, tc.err)
			}
		})
	}
	var exists bool
	var lock, drop int
	s := e.super(t)
	if err := s.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = 'floor_idle' AND rolconnlimit = -1)`).Scan(&exists); err != nil || !exists {
		t.Errorf("floor_idle was changed or dropped (%v)", err)
	}
	if err := s.QueryRow(ctx, `SELECT lock_after_days, drop_after_days FROM db_admin.activity_policy`).Scan(&lock, &drop); err != nil || lock != 90 || drop != 180 {
		t.Errorf("policy = %d/%d (%v); want 90/180 untouched", lock, drop, err)
	}

	// The job with looser options: a typed error and a request.rejected record.
	opts := e.opts() // 10 / 20 days
	_, err := e.job(t, nil, nil).Report(ctx, opts)
	if broker.ErrorCode(err) != broker.CodeForbidden {
		t.Fatalf("Report with 10/20 days against 90/180: %v; want %s", err, broker.CodeForbidden)
	}
	recs := e.audit.Take(t)
	if len(recs) != 1 || recs[0].Event != audit.EventRequestRejected || recs[0].Outcome != audit.OutcomeRejected {
		t.Errorf("audit records %+v; want one request.rejected", recs)
	}
}

// The DBA sets the policy with bootstrap variables; a later run without them
// leaves it alone, one with them changes it, and thresholds that make no sense
// fail the bootstrap.
func TestPolicyFromBootstrapVariables(t *testing.T) {
	ctx := context.Background()
	dir, err := pgtest.SQLDir()
	if err != nil {
		t.Fatal(err)
	}
	c := shared.Cluster
	boot := func(vars ...string) (string, error) {
		args := []string{"-X", "-v", "ON_ERROR_STOP=1", "-h", c.Host, "-p", strconv.Itoa(c.Port), "-U", pgtest.MasterUser,
			"-d", "postgres", "-v", "prefix=fvars", "-v", "db_name=fvars-db"}
		for _, v := range vars {
			args = append(args, "-v", v)
		}
		return c.RunPsql(ctx, pgtest.MasterUser, pgtest.MasterPassword, append(args, "-f", filepath.Join(dir, "bootstrap.sql"))...)
	}
	policy := func() string {
		s, err := c.ConnectSuper(ctx, "fvars-db")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(ctx)
		var p string
		if err := s.QueryRow(ctx, `SELECT lock_after_days || '/' || drop_after_days FROM db_admin.activity_policy`).Scan(&p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if out, err := boot("activity_lock_days=100", "activity_drop_days=200"); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, out)
	}
	if p := policy(); p != "100/200" {
		t.Errorf("policy after the first bootstrap = %s; want 100/200", p)
	}
	if out, err := boot(); err != nil || policy() != "100/200" {
		t.Errorf("a run without the variables: %v, policy %s; want 100/200 kept\n%s", err, policy(), out)
	}
	if out, err := boot("activity_lock_days=30", "activity_drop_days=60"); err != nil || policy() != "30/60" {
		t.Errorf("a run with new variables: %v, policy %s; want 30/60\n%s", err, policy(), out)
	}
	for _, bad := range [][]string{{"activity_lock_days=60", "activity_drop_days=30"}, {"activity_lock_days=-1", "activity_drop_days=30"}} {
		if out, err := boot(bad...); err == nil || !strings.Contains(out, "FFB04") && !strings.Contains(out, "must be") {
			t.Errorf("bootstrap with %v: %v; want it refused\n%s", bad, err, out)
		}
		if p := policy(); p != "30/60" {
			t.Errorf("policy after a refused bootstrap = %s; want 30/60", p)
		}
	}
}

// The DBA gives the deployment's exclude list with the bootstrap variable
// activity_exclude (comma-separated, or a JSON array for names with a comma); a
// later run without it keeps the list, one with it replaces it.
func TestExcludeFromBootstrapVariable(t *testing.T) {
	ctx := context.Background()
	dir, err := pgtest.SQLDir()
	if err != nil {
		t.Fatal(err)
	}
	c := shared.Cluster
	boot := func(vars ...string) {
		t.Helper()
		args := []string{"-X", "-v", "ON_ERROR_STOP=1", "-h", c.Host, "-p", strconv.Itoa(c.Port), "-U", pgtest.MasterUser,
			"-d", "postgres", "-v", "prefix=fexcl", "-v", "db_name=fexcl-db"}
		for _, v := range vars {
			args = append(args, "-v", v)
		}
		if out, err := c.RunPsql(ctx, pgtest.MasterUser, pgtest.MasterPassword, append(args, "-f", filepath.Join(dir, "bootstrap.sql"))...); err != nil {
			t.Fatalf("bootstrap %v: %v\n%s", vars, err, out)
		}
	}
	list := func() string {
		t.Helper()
		s, err := c.ConnectSuper(ctx, "fexcl-db")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(ctx)
		var l string
		if err := s.QueryRow(ctx, `SELECT coalesce(string_agg(role, '|' ORDER BY role), '') FROM db_admin.activity_exclude`).Scan(&l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	boot("activity_exclude= batch_a , batch_b,")
	if l := list(); l != "batch_a|batch_b" {
		t.Errorf("exclude list after a bootstrap with it = %q; want batch_a|batch_b", l)
	}
	boot()
	if l := list(); l != "batch_a|batch_b" {
		t.Errorf("exclude list after a run without the variable = %q; want it kept", l)
	}
	boot(`activity_exclude=["a,b", "c"]`)
	if l := list(); l != "a,b|c" {
		t.Errorf("exclude list from a JSON array = %q; want a,b|c", l)
	}
}
