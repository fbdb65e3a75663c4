package activity_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/activity"
)

const day = 24 * time.Hour

// policyCase is one role of the policy table: how it is made, how long it has been
// inactive, and what a dry run and an apply must say and do.
type policyCase struct {
	name     string
	role     string
	inactive time.Duration
	// setup makes the role (default: created by the admin, as the job can manage).
	setup func(t *testing.T, e *env, role string)
	// want is the plan's verdict; intended what a blocked verdict would do.
	want, intended activity.Action
	// result is what apply does; "" when nothing is done.
	result activity.Result
	// audit lists the (event, outcome, error code) records apply writes for the role.
	audit [][3]string
}

// byAdmin creates a login role as the admin (SET ROLE from the master): the admin
// then holds ADMIN OPTION on it from PostgreSQL 16 on, as roles the job must manage
// should be made.
func byAdmin(extra string) func(t *testing.T, e *env, role string) {
	return func(t *testing.T, e *env, role string) {
		m := e.master(t)
		mustExec(t, m, `SET ROLE `+ident(e.Admin))
		mustExec(t, m, fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD %s %s`, ident(role), literal("pw-"+role), extra))
		mustExec(t, m, `RESET ROLE`)
		mustExec(t, e.super(t), fmt.Sprintf(`GRANT CONNECT ON DATABASE %s TO %s`, ident(e.DB), ident(role)))
	}
}

// The policy table: inactive for N-1, N, M-1 and M days, owning objects, holding a
// privilege, with a live session, excluded, out of the admin's reach; dry run, then
// apply, then apply again; unlock; then time moves on and a locked role is dropped.
func TestPolicyTable(t *testing.T) {
	e := newEnv(t, "pol")
	ctx := context.Background()
	const N, M = 10, 20
	s := e.super(t)
	mustExec(t, s, `CREATE TABLE "app-schema".kept (id int)`)

	pending, success := string(audit.OutcomePending), string(audit.OutcomeSuccess)
	locked, marked := string(audit.EventRoleLocked), string(audit.EventRoleMarked)
	pg16 := shared.Cluster.Major >= 16
	cases := []policyCase{
		{name: "N-1 days: nothing", role: "pt_n_minus_1", inactive: (N-1)*day + 23*time.Hour, want: activity.ActionActive},
		{name: "N days: lock", role: "pt_n", inactive: N * day, want: activity.ActionLock, result: activity.ResultLocked,
			audit: [][3]string{{locked, pending}, {locked, success}}},
		{name: "N days, connection limit 7: lock (unlock restores 7)", role: "pt_limit7", inactive: N * day,
			setup: byAdmin("CONNECTION LIMIT 7"), want: activity.ActionLock, result: activity.ResultLocked,
			audit: [][3]string{{locked, pending}, {locked, success}}},
		{name: "M-1 days: lock", role: "pt_m_minus_1", inactive: (M - 1) * day, want: activity.ActionLock, result: activity.ResultLocked,
			audit: [][3]string{{locked, pending}, {locked, success}}},
		{name: "M days, owns nothing: locked first (the drop waits for the grace)", role: "pt_m", inactive: M * day,
			want: activity.ActionLock, result: activity.ResultLocked,
			audit: [][3]string{{locked, pending}, {locked, success}}},
		{name: "M days, owns a table: mark", role: "pt_owner", inactive: M * day,
			setup: func(t *testing.T, e *env, role string) {
				byAdmin("")(t, e, role)
				mustExec(t, e.super(t), `CREATE TABLE "app-schema".owned (id int)`)
				mustExec(t, e.super(t), `ALTER TABLE "app-schema".owned OWNER TO `+ident(role))
			}, want: activity.ActionMark, result: activity.ResultMarked,
			audit: [][3]string{{marked, pending}, {marked, success}}},
		{name: "M days, holds a privilege: mark", role: "pt_grantee", inactive: M * day,
			setup: func(t *testing.T, e *env, role string) {
				byAdmin("")(t, e, role)
				mustExec(t, e.super(t), `GRANT SELECT ON "app-schema".kept TO `+ident(role))
			}, want: activity.ActionMark, result: activity.ResultMarked,
			audit: [][3]string{{marked, pending}, {marked, success}}},
		{name: "N days with a live session: left alone", role: "pt_live", inactive: N * day,
			want: activity.ActionLiveSession, intended: activity.ActionLock,
			audit: [][3]string{{locked, string(audit.OutcomeDenied), activity.ErrCodeLiveSession}}},
		{name: "excluded by the options", role: "pt_excluded", inactive: M * day, want: activity.ActionExcluded},
		{name: "rds_superuser member", role: "pt_rds_su", inactive: M * day,
			setup: func(t *testing.T, e *env, role string) {
				byAdmin("")(t, e, role)
				mustExec(t, e.super(t), `GRANT rds_superuser TO `+ident(role))
			}, want: activity.ActionExcluded},
		{name: "CREATEROLE: an administrator", role: "pt_creator", inactive: M * day,
			setup: func(t *testing.T, e *env, role string) {
				mustExec(t, e.super(t), `CREATE ROLE `+ident(role)+` LOGIN CREATEROLE`)
			}, want: activity.ActionExcluded},
	}
	// Made by the master, not the admin: from PostgreSQL 16 on the admin has no ADMIN
	// OPTION on it, so the job reports it and carries on; before 16 it is locked
	// (and dropped a grace period later).
	masterMade := policyCase{name: "made by the master", role: "pt_master_made", inactive: M * day,
		setup: func(t *testing.T, e *env, role string) {
			mustExec(t, e.master(t), fmt.Sprintf(`CREATE ROLE %s LOGIN`, ident(role)))
		}}
	if pg16 {
		masterMade.want, masterMade.intended = activity.ActionCannotManage, activity.ActionLock
		masterMade.audit = [][3]string{{locked, string(audit.OutcomeFailure), activity.ErrCodeCannotManage}}
	} else {
		masterMade.want, masterMade.result = activity.ActionLock, activity.ResultLocked
		masterMade.audit = [][3]string{{locked, pending}, {locked, success}}
	}
	cases = append(cases, masterMade)

	// Everything that exists already belongs to other tests: leave it alone.
	opts := e.opts()
	opts.LockAfterDays, opts.DropAfterDays, opts.MaxLogSilence = N, M, -1
	opts.Exclude = append(loginRoles(t, e), "pt_excluded")

	// Each role is first seen by the job with the clock moved back by its
	// inactivity: "now" then is its last login. Longest first.
	slices.SortStableFunc(cases, func(a, b policyCase) int { return int(b.inactive - a.inactive) })
	for _, c := range cases {
		t.Cleanup(func() { dropRole(e, c.role) })
		if c.setup == nil {
			byAdmin("")(t, e, c.role)
		} else {
			c.setup(t, e, c.role)
		}
		e.shiftClock(t, -c.inactive)
		if _, err := e.job(t, nil, nil).Report(ctx, opts); err != nil {
			t.Fatal(err)
		}
	}
	e.shiftClock(t, 0)
	live, err := shared.Cluster.Connect(ctx, "pt_live", "pw-pt_live", e.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close(ctx)

	j := e.job(t, nil, nil)
	before := roleState(t, e)
	dry, err := j.Run(ctx, opts)
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	dryRecords := byRole(e.audit.Take(t))
	if after := roleState(t, e); !maps(before, after) {
		t.Errorf("a dry run changed roles:\nbefore %v\n after %v", before, after)
	}
	for _, c := range cases {
		t.Run("dry run/"+c.name, func(t *testing.T) {
			r, ok := dry.Policy.Role(c.role)
			if !ok {
				t.Fatalf("the plan has no %s", c.role)
			}
			if r.Action != c.want || (c.intended != "" && r.Intended != c.intended) || r.Result != "" {
				t.Errorf("dry run of %s: %s (intends %q, result %q, %s), inactive %.2f days; want %s (intends %q)",
					c.role, r.Action, r.Intended, r.Result, r.Reason, r.InactiveDays, c.want, c.intended)
			}
			var want [][3]string
			if len(c.audit) > 0 {
				want = [][3]string{{c.audit[0][0], string(audit.OutcomeDryRun), c.audit[len(c.audit)-1][2]}}
			}
			if got := dryRecords[c.role]; !slices.Equal(got, want) {
				t.Errorf("dry run audit of %s = %q; want %q", c.role, got, want)
			}
		})
	}

	applied, err := j.Apply(ctx, opts)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	applyRecords := byRole(e.audit.Take(t))
	state := roleState(t, e)
	for _, c := range cases {
		t.Run("apply/"+c.name, func(t *testing.T) {
			r, _ := applied.Policy.Role(c.role)
			if r.Action != c.want || r.Result != c.result {
				t.Errorf("apply to %s: %s -> %q (%s); want %s -> %q", c.role, r.Action, r.Result, r.ResultReason, c.want, c.result)
			}
			if got := applyRecords[c.role]; !slices.Equal(got, c.audit) {
				t.Errorf("apply audit of %s = %q; want %q", c.role, got, c.audit)
			}
			st, exists := state[c.role]
			switch c.result {
			case activity.ResultDropped:
				if exists {
					t.Errorf("%s still exists (%s) after a drop", c.role, st)
				}
			case activity.ResultLocked, activity.ResultMarked:
				if st.limit != 0 {
					t.Errorf("%s connection limit = %d after %s; want 0", c.role, st.limit, c.result)
				}
			default:
				if !exists || st != before[c.role] {
					t.Errorf("%s = %v after apply; want it untouched (%v)", c.role, st, before[c.role])
				}
			}
		})
	}
	if r, _ := applied.Policy.Role("pt_owner"); r.Status != "active" || r.Reason == "" {
		t.Errorf("plan of pol_owner = %+v; want the reason it cannot be dropped", r)
	}

	// A second apply changes nothing and records only what is still blocked.
	again, err := j.Apply(ctx, opts)
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	for _, r := range again.Policy.Roles {
		if r.Result != "" && r.Result != activity.ResultLiveSession && r.Result != activity.ResultCannotManage {
			t.Errorf("second apply did %s to %s; want nothing", r.Result, r.Role)
		}
	}
	for role, recs := range byRole(e.audit.Take(t)) {
		if role != "pt_live" && role != "pt_master_made" {
			t.Errorf("second apply wrote %q for %s; want nothing", recs, role)
		}
	}
	if r, _ := again.Policy.Role("pt_owner"); r.Action != activity.ActionReadyToDelete {
		t.Errorf("pt_owner after the mark = %s; want ready_to_delete", r.Action)
	}

	// Unlock restores the previous connection limit and restarts the count.
	u, err := j.Unlock(ctx, activity.UnlockInput{Role: "pt_limit7", RequestID: "req-unlock", Requester: "dba"})
	if err != nil || u.ConnectionLimit != 7 {
		t.Fatalf("Unlock(pol_limit7) = %+v, %v; want connection limit 7", u, err)
	}
	if st := roleState(t, e)["pt_limit7"]; st.limit != 7 {
		t.Errorf("pt_limit7 connection limit after unlock = %d; want 7", st.limit)
	}
	if got := byRole(e.audit.Take(t))["pt_limit7"]; !slices.Equal(got, [][3]string{
		{string(audit.EventRoleUnlocked), pending}, {string(audit.EventRoleUnlocked), success}}) {
		t.Errorf("unlock audit = %q; want pending, success", got)
	}
	if p := plan(t, e, opts)["pt_limit7"]; p.Action != activity.ActionActive || p.InactiveDays > 0.01 {
		t.Errorf("pt_limit7 after unlock = %s, %.3f days inactive; want active from now", p.Action, p.InactiveDays)
	}
	for _, tc := range []struct {
		role string
		code broker.Code
	}{{"pt_n_minus_1", broker.CodeConflict}, {"pt_nobody", broker.CodeNotFound}, {"pt_owner'; DROP ROLE pol_n; --", broker.CodeNotFound}} {
		if _, err := j.Unlock(ctx, activity.UnlockInput{Role: tc.role}); broker.ErrorCode(err) != tc.code {
			t.Errorf("Unlock(%q) error = %v; want code %s", tc.role, err, tc.code)
		}
	}
	e.audit.Take(t)

	// Time moves on by one day, and the log is read past the locks: the roles
	// locked at M-1 and M days are dropped, the grace period after their lock.
	e.put(t, "pol-1", []logEvent{receivedEvent(time.Now(), 1)})
	time.Sleep(10 * time.Millisecond) // the run's window (now minus 1 ms) takes the event in
	e.shiftClock(t, day+time.Minute)
	later, err := j.Apply(ctx, opts)
	if err != nil {
		t.Fatalf("apply a day later: %v", err)
	}
	gone := []string{"pt_m_minus_1", "pt_m"}
	if !pg16 {
		gone = append(gone, "pt_master_made")
	}
	for _, role := range gone {
		if r, _ := later.Policy.Role(role); r.Action != activity.ActionDrop || r.Result != activity.ResultDropped {
			t.Errorf("%s a day later = %s -> %s (%s); want drop -> dropped", role, r.Action, r.Result, r.Reason)
		}
		if _, exists := roleState(t, e)[role]; exists {
			t.Errorf("%s still exists", role)
		}
	}
	if r, _ := later.Policy.Role("pt_n"); r.Action != activity.ActionLocked || r.Result != "" {
		t.Errorf("pt_n a day later = %s -> %s; want it still locked, nothing done", r.Action, r.Result)
	}
}

// roleInfo is what the policy may change about a role.
type roleInfo struct {
	limit int
	login bool
}

func (r roleInfo) String() string { return fmt.Sprintf("limit %d login %v", r.limit, r.login) }

func roleState(t testing.TB, e *env) map[string]roleInfo {
	t.Helper()
	rows, err := e.super(t).Query(context.Background(), `SELECT rolname::text, rolconnlimit, rolcanlogin FROM pg_roles`)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]roleInfo{}
	defer rows.Close()
	for rows.Next() {
		var name string
		var r roleInfo
		if err := rows.Scan(&name, &r.limit, &r.login); err != nil {
			t.Fatal(err)
		}
		m[name] = r
	}
	return m
}

func maps(a, b map[string]roleInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// byRole groups audit records by target role as (event, outcome, error code).
func byRole(recs []audit.Record) map[string][][3]string {
	m := map[string][][3]string{}
	for _, r := range recs {
		m[r.TargetRole] = append(m[r.TargetRole], [3]string{string(r.Event), string(r.Outcome), r.ErrorCode})
	}
	return m
}
