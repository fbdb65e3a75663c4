package activity_test

import (
	"context"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/broker/activity"
)

// The operators' exclude list (FFB_ACTIVITY_EXCLUDE) lives only in the job's
// configuration: the database takes whatever list its caller passes. The activity
// monitor's login, calling activity_enforce itself with an empty list, locks an
// idle role the configured job leaves alone (and after the grace, drops it),
// whereas it cannot pass thresholds looser than the admin's (FFB11). What should
// hold: the roles the deployment excludes are known to the database (as the
// protected roles are), and a lock of one of them is refused (plan_changed,
// excluded), its connection limit untouched.
func TestExcludedRoleCannotBeLockedByTheActivityLogin(t *testing.T) {
	e := newEnv(t, "exclbk")
	ctx := context.Background()
	opts := graceOpts(t, e)
	opts.Exclude = append(opts.Exclude, "exclbk_batch") // the deployment's list
	inactiveRoles(t, e, opts, "", map[string]time.Duration{"exclbk_batch": 15 * day})
	rep, err := e.job(t, nil, nil).Apply(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := rep.Policy.Role("exclbk_batch"); !ok || r.Action != activity.ActionExcluded {
		t.Fatalf("the configured job's verdict on exclbk_batch = %+v; want excluded", r)
	}

	// The DBA gives the database the deployment's list; the activity login cannot.
	mon, err := e.connector(t).Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer mon.Close(ctx)
	if _, err := mon.Exec(ctx, `SELECT db_admin.activity_set_exclude('{}')`); sqlState(err) != "42501" {
		t.Fatalf("activity_set_exclude as the activity login: %v; want SQLSTATE 42501", err)
	}
	mustExec(t, e.super(t), `SELECT db_admin.activity_set_exclude(ARRAY['exclbk_batch'])`)

	res, err := e.store.Enforce(ctx, activity.Policy{LockAfterDays: 10, DropAfterDays: 20}, "exclbk_batch", activity.ActionLock)
	if err != nil {
		t.Fatalf("Enforce(lock) as the activity login: %v", err)
	}
	if l, _ := limitOf(t, e, "exclbk_batch"); res.Result != activity.ResultPlanChanged || l != -1 {
		t.Errorf("the activity login's lock of the excluded exclbk_batch = %+v, connection limit %d; want plan_changed and -1", res, l)
	}
}
