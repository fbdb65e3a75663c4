package activity_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/activity"
)

// receivedEvent is a server-written "connection received" line at at: an event
// that moves the checkpoint and names no role.
func receivedEvent(at time.Time, pid int) logEvent {
	return logEvent{at: at, msg: fmt.Sprintf("%s:10.9.9.9(%d):[unknown]@[unknown]:[%d]:LOG:  connection received: host=10.9.9.9 port=%d",
		at.UTC().Format("2006-01-02 15:04:05 MST"), 50000+pid, pid, 50000+pid)}
}

// sqlState is the SQLSTATE of a database error, or "".
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// limitOf returns a role's connection limit and whether it exists (pg_roles).
func limitOf(t *testing.T, e *env, role string) (int, bool) {
	t.Helper()
	st, ok := roleState(t, e)[role]
	return st.limit, ok
}

// inactiveRoles creates each role as the admin (with extra) and lets the job see
// it first with the clock moved back by its inactivity; the clock is then back at 0.
func inactiveRoles(t *testing.T, e *env, opts activity.Options, extra string, roles map[string]time.Duration) {
	t.Helper()
	for role, idle := range roles {
		t.Cleanup(func() { dropRole(e, role) })
		byAdmin(extra)(t, e, role)
		e.shiftClock(t, -idle)
		if _, err := e.job(t, nil, nil).Report(context.Background(), opts); err != nil {
			t.Fatal(err)
		}
	}
	e.shiftClock(t, 0)
}

// graceOpts are a policy run's options: lock after 10 days, drop after 20,
// everything that exists already excluded, the log-silence check off.
func graceOpts(t *testing.T, e *env) activity.Options {
	opts := e.opts()
	opts.MaxLogSilence = -1
	opts.Exclude = loginRoles(t, e)
	return opts
}

// The README's way to lift a lock by hand, ALTER ROLE ... CONNECTION LIMIT -1,
// restarts the role's inactivity count as `activity unlock` does: the next run
// does not lock it again, and a run lock-days later still finds it active.
func TestHandLiftedLockRestartsTheCount(t *testing.T) {
	e := newEnv(t, "handlift")
	ctx := context.Background()
	opts := graceOpts(t, e)
	inactiveRoles(t, e, opts, "", map[string]time.Duration{"hl_owner": 10 * day})
	j := e.job(t, nil, nil)
	if _, err := j.Apply(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if l, _ := limitOf(t, e, "hl_owner"); l != 0 {
		t.Fatalf("hl_owner connection limit after the lock = %d; want 0", l)
	}
	m := e.master(t)
	mustExec(t, m, `SET ROLE `+ident(e.Admin))
	mustExec(t, m, `ALTER ROLE hl_owner CONNECTION LIMIT -1`)

	rep, err := j.Apply(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := rep.Policy.Role("hl_owner")
	if l, ok := limitOf(t, e, "hl_owner"); !ok || l != -1 || r.Action != activity.ActionActive || r.InactiveDays > 0.01 {
		t.Errorf("after the hand unlock: limit %d (exists %v), verdict %s, %.3f days inactive; want -1, active from now",
			l, ok, r.Action, r.InactiveDays)
	}
	e.shiftClock(t, 9*day)
	rep, err = j.Apply(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := limitOf(t, e, "hl_owner"); l != -1 {
		t.Errorf("hl_owner connection limit 9 days after the hand unlock = %d; want -1 (the count restarted)", l)
	}
	if r, _ := rep.Policy.Role("hl_owner"); r.Action != activity.ActionActive {
		t.Errorf("hl_owner 9 days after the hand unlock = %s; want active", r.Action)
	}
}

// An owner logs in a moment before a run whose window (now minus LogDelay) ends
// before the login: the run locks the role due for a lock and the role due for a
// drop (locked, not dropped: a drop waits for the grace). The next run reads the
// login, dated before the lock, and undoes both locks: the connection limit they
// had is back, and role.unlocked says why.
func TestLoginBeforeTheLockUndoesIt(t *testing.T) {
	e := newEnv(t, "undo")
	ctx := context.Background()
	opts := graceOpts(t, e)
	const pw = "pw-"
	inactiveRoles(t, e, opts, "CONNECTION LIMIT 5", map[string]time.Duration{"undo_n": 10 * day, "undo_m": 20 * day})

	offset := logSize(t)
	e.loginAs(t, "undo_n", pw+"undo_n")
	e.loginAs(t, "undo_m", pw+"undo_m")
	waitLog(t, offset, "user=undo_m database=")
	events := serverLog(t, offset)
	e.put(t, "undo-1", events)
	loginAt := events[0].at

	// The first run's window ends 10 s before the logins.
	first := opts
	first.LogDelay = time.Since(loginAt) + 10*time.Second
	rep, err := e.job(t, nil, nil).Apply(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"undo_n", "undo_m"} {
		if r, _ := rep.Policy.Role(role); r.Result != activity.ResultLocked {
			t.Fatalf("first run: %s -> %s %s; want locked (the login is not read yet)", role, r.Action, r.Result)
		}
		if l, ok := limitOf(t, e, role); !ok || l != 0 {
			t.Fatalf("%s after the first run: limit %d, exists %v; want locked (0), not dropped", role, l, ok)
		}
	}
	e.audit.Take(t)

	rep, err = e.job(t, nil, nil).Apply(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	recs := byRole(e.audit.Take(t))
	for _, role := range []string{"undo_n", "undo_m"} {
		if r, _ := rep.Policy.Role(role); r.Action != activity.ActionUnlock || r.Result != activity.ResultUnlocked {
			t.Errorf("second run: %s -> %s %s; want unlock -> unlocked", role, r.Action, r.Result)
		}
		if l, ok := limitOf(t, e, role); !ok || l != 5 {
			t.Errorf("%s after the second run: limit %d, exists %v; want its own limit 5 back", role, l, ok)
		}
		want := [][3]string{{string(audit.EventRoleUnlocked), string(audit.OutcomePending)},
			{string(audit.EventRoleUnlocked), string(audit.OutcomeSuccess)}}
		if got := recs[role]; !slices.Equal(got, want) {
			t.Errorf("audit of %s = %q; want %q", role, got, want)
		}
	}
	// The roles are active from their login on.
	p := plan(t, e, opts)
	for _, role := range []string{"undo_n", "undo_m"} {
		if r := p[role]; r.Action != activity.ActionActive || r.Status != "active" || r.InactiveDays > 1 {
			t.Errorf("%s after the unlock: %s (%s), %.2f days inactive; want active since its login", role, r.Action, r.Status, r.InactiveDays)
		}
	}
}

// A role due for a drop is locked first, and dropped only when the job locked it
// a grace period earlier (the database's floor, a day, and the job's own setting
// when stricter) and the log was read past the lock. The database refuses
// (FFB21) a drop asked for directly of a role the job did not lock, or locked
// too recently.
func TestDropWaitsForTheGraceAndTheLog(t *testing.T) {
	e := newEnv(t, "grace")
	ctx := context.Background()
	opts := graceOpts(t, e)
	inactiveRoles(t, e, opts, "", map[string]time.Duration{"grace_m": 20 * day, "grace_direct": 20 * day})
	opts.Exclude = append(opts.Exclude, "grace_direct")
	e.put(t, "grace-1", []logEvent{receivedEvent(time.Now().Add(-time.Minute), 1)})
	j := e.job(t, nil, nil)

	// The activity monitor's own login asks the database for a drop of an
	// unlocked role: refused, nothing changed.
	act, err := shared.Cluster.Connect(ctx, e.Activity, e.activityPassword, e.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer act.Close(ctx)
	enforce := func(role string) error {
		_, err := act.Exec(ctx, `SELECT * FROM db_admin.activity_enforce($1, 'drop', 10, 20, '{}')`, role)
		return err
	}
	if err := enforce("grace_direct"); sqlState(err) != "FFB21" {
		t.Errorf("drop of a role the job never locked: %v; want SQLSTATE FFB21", err)
	}
	if l, ok := limitOf(t, e, "grace_direct"); !ok || l != -1 {
		t.Errorf("grace_direct after the refused drop: limit %d, exists %v; want -1, there", l, ok)
	}

	if _, err := j.Apply(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if l, ok := limitOf(t, e, "grace_m"); !ok || l != 0 {
		t.Fatalf("grace_m after the first run: limit %d, exists %v; want locked", l, ok)
	}
	if err := enforce("grace_m"); sqlState(err) != "FFB21" {
		t.Errorf("drop of a role locked a moment ago: %v; want SQLSTATE FFB21", err)
	}
	if _, err := e.store.Enforce(ctx, activity.Policy{LockAfterDays: 10, DropAfterDays: 20}, "grace_m", activity.ActionDrop); broker.ErrorCode(err) != broker.CodeConflict {
		t.Errorf("Store.Enforce(drop) of a role locked a moment ago: %v; want code conflict", err)
	}

	step := func(shift time.Duration, grace time.Duration, want activity.Action, reason string) {
		t.Helper()
		e.shiftClock(t, shift)
		o := opts
		o.DropGrace = grace
		rep, err := j.Apply(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := rep.Policy.Role("grace_m")
		l, exists := limitOf(t, e, "grace_m")
		if r.Action != want || !strings.Contains(r.Reason, reason) {
			t.Errorf("%s after the lock (grace %s): %s (%s); want %s (%q)", shift, grace, r.Action, r.Reason, want, reason)
		}
		if want != activity.ActionDrop && (!exists || l != 0) {
			t.Errorf("%s after the lock: limit %d, exists %v; want it locked, there", shift, l, exists)
		}
		if want == activity.ActionDrop && exists {
			t.Errorf("%s after the lock: grace_m still exists", shift)
		}
	}
	step(12*time.Hour, 0, activity.ActionLocked, "less than the drop grace")
	// The grace has passed, but no event after the lock was read yet.
	step(day+time.Minute, 0, activity.ActionLocked, "not read past the lock")
	e.put(t, "grace-1", []logEvent{receivedEvent(time.Now(), 2)})
	time.Sleep(10 * time.Millisecond) // the run's window (now minus 1 ms) takes the event in
	// The job's own grace may be stricter than the database's.
	step(day+time.Minute, 2*day, activity.ActionLocked, "the drop grace")
	step(day+time.Minute, 0, activity.ActionDrop, "")
}

// CloudWatch Logs may ingest an event after a run has read past its time: the next
// run reads the last LogOverlap again, takes the login it had missed and counts
// nothing twice.
func TestLateIngestedLoginIsRead(t *testing.T) {
	e := newEnv(t, "late")
	ctx := context.Background()
	const role, pw = "late_login", "pw-late-login-0123456789"
	e.loginRole(t, role, pw)
	opts := e.reportOpts(t)
	plan(t, e, opts)

	offset := logSize(t)
	e.loginAs(t, role, pw)
	waitLog(t, offset, "user="+role+" database=")
	login := serverLog(t, offset)
	loginAt := login[0].at

	e.put(t, "late-1", []logEvent{receivedEvent(loginAt.Add(-time.Minute), 1), receivedEvent(time.Now(), 2)})
	time.Sleep(10 * time.Millisecond) // the run's window (now minus 1 ms) takes the event in
	j := e.job(t, nil, nil)
	if _, err := j.Run(ctx, opts); err != nil {
		t.Fatal(err)
	}
	ck, _, err := e.store.Checkpoint(ctx, e.group)
	if err != nil || ck.ThroughMs <= loginAt.UnixMilli() {
		t.Fatalf("checkpoint %d (%v); want past the login at %d", ck.ThroughMs, err, loginAt.UnixMilli())
	}

	// The login's lines arrive now, dated before the checkpoint.
	e.put(t, "late-2", login)
	rep, err := j.Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Logs.Late == 0 || rep.Logs.Late != rep.Logs.Events || rep.Logs.Opened != 1 {
		t.Errorf("second run: %+v; want only late events read, and one login", rep.Logs)
	}
	if got := plan(t, e, opts)[role].LastLogLogin; !got.Equal(loginAt) {
		t.Errorf("last login of %s = %v; want the late login at %v", role, got, loginAt)
	}
	rep, err = j.Run(ctx, opts)
	if err != nil || rep.Logs.Events != 0 || rep.Logs.Opened != 0 || rep.Logs.Skipped == 0 {
		t.Errorf("third run: %+v, %v; want the overlap read again and nothing new", rep.Logs, err)
	}
}

// The exclude list names roles exactly (PostgreSQL role names are
// case-sensitive): a JSON array lists a name with a comma, and an entry that
// names no login role is reported, not silently ignored.
func TestExcludeListNamesRolesExactly(t *testing.T) {
	e := newEnv(t, "exclude")
	ctx := context.Background()
	opts := graceOpts(t, e)
	inactiveRoles(t, e, opts, "", map[string]time.Duration{"ex,comma": 10 * day, "Ex_Case": 10 * day})
	exclude, err := activity.ParseExclude(`["ex,comma", "ex_case", "ex_nobody"]`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ex,comma", "ex_case", "ex_nobody"}; !slices.Equal(exclude, want) {
		t.Fatalf("exclude list = %q; want %q", exclude, want)
	}
	opts.Exclude = append(opts.Exclude, exclude...)
	rep, err := e.job(t, nil, nil).Apply(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := rep.Policy.Role("ex,comma"); r.Action != activity.ActionExcluded {
		t.Errorf("ex,comma = %s; want excluded", r.Action)
	}
	if l, _ := limitOf(t, e, "ex,comma"); l != -1 {
		t.Errorf("ex,comma connection limit = %d; want -1", l)
	}
	if r, _ := rep.Policy.Role("Ex_Case"); r.Result != activity.ResultLocked {
		t.Errorf("Ex_Case = %s -> %s; want locked (ex_case is another name)", r.Action, r.Result)
	}
	if got, want := rep.Policy.UnmatchedExclude, []string{"ex_case", "ex_nobody"}; !slices.Equal(got, want) {
		t.Errorf("unmatched exclude entries = %q; want %q", got, want)
	}
	for _, bad := range []string{`["ex", 1]`, `["` + strings.Repeat("x", 64) + `"]`, `[""]`, `["a"`} {
		if _, err := activity.ParseExclude(bad); err == nil {
			t.Errorf("ParseExclude(%s) = nil error; want it refused", bad)
		}
	}
}

// Role a, connected to a database named b@db, writes with RAISE LOG a second
// authorized line, "user=a@b database=db": its prefix a@b@db:[pid] reads either
// way. A session is authorized once: the line is no login of role a@b, and the
// session's own first line (user=a) stays its only login.
func TestForgedAuthorizedLineInsideASessionIsNoLogin(t *testing.T) {
	e := newEnv(t, "atsign")
	ctx := context.Background()
	const attacker, victim, db, pw = "at_a", "at_a@at_b", "at_b@db", "pw-at-a-0123456789"
	e.loginRole(t, attacker, pw)
	e.loginRole(t, victim, "pw-victim-0123456789")
	s := e.super(t)
	mustExec(t, s, `CREATE DATABASE `+ident(db))
	t.Cleanup(func() {
		c, err := shared.Cluster.ConnectSuper(context.Background(), e.DB)
		if err == nil {
			c.Exec(context.Background(), `DROP DATABASE IF EXISTS `+ident(db)+` WITH (FORCE)`)
			c.Close(context.Background())
		}
	})
	mustExec(t, s, `GRANT CONNECT ON DATABASE `+ident(db)+` TO `+ident(attacker))
	opts := e.reportOpts(t)
	plan(t, e, opts)

	offset := logSize(t)
	c, err := shared.Cluster.Connect(ctx, attacker, pw, db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `DO $$BEGIN RAISE LOG 'connection authorized: user=at_a@at_b database=db'; END$$`); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	forged := ":" + attacker + "@" + db + ":[" + fmt.Sprint(c.PgConn().PID()) + "]:LOG:  connection authorized: user=at_a@at_b database=db"
	waitLog(t, offset, forged)
	events := serverLog(t, offset)
	e.put(t, "atsign-1", events)

	rep, err := e.job(t, nil, nil).Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	p := plan(t, e, opts)
	if got := p[victim].LastLogLogin; !got.IsZero() {
		t.Errorf("a login of %s was recorded at %v from a line its prefix splits both ways; want none", victim, got)
	}
	if p[attacker].LastLogLogin.IsZero() {
		t.Errorf("no login of %s, whose session's first line names it", attacker)
	}
	if rep.Logs.Reauthorized != 1 {
		t.Errorf("run %+v; want the forged line counted as reauthorized", rep.Logs)
	}
}
