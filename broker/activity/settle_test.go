package activity_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/broker/activity"
)

// settleLine renders a line of backend pid from client port, as Aurora writes it.
func settleLine(at time.Time, port, pid int, user, db, level, msg string) string {
	return fmt.Sprintf("%s:10.1.2.3(%d):%s@%s:[%d]:%s:  %s", at.UTC().Format("2006-01-02 15:04:05 MST"), port, user, db, pid, level, msg)
}

// Sessions are settled across page boundaries, past the window's end and across
// runs: a refusal on the next page, a refusal after the window's end (read ahead,
// not recorded), a refusal that the next run reads (the session waits in the
// checkpoint), a FATAL of another client that claims the same pid (no effect), and
// a session nobody refuses (a login).
func TestSettleAcrossPagesAndRuns(t *testing.T) {
	e := newEnv(t, "settle")
	ctx := context.Background()
	for _, r := range []string{"settle_a", "settle_b", "settle_c", "settle_d", "settle_e"} {
		e.loginRole(t, r, "pw")
	}
	if _, err := e.store.Plan(ctx, activity.Policy{LockAfterDays: 10, DropAfterDays: 20}); err != nil { // track them
		t.Fatal(err)
	}
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	auth := func(at time.Time, port, pid int, u string) logEvent {
		return logEvent{at, settleLine(at, port, pid, u, e.DB, "LOG", "connection authorized: user="+u+" database="+e.DB)}
	}
	refuse := func(at time.Time, port, pid int, u string) logEvent {
		return logEvent{at, settleLine(at, port, pid, u, e.DB, "FATAL", `too many connections for role "`+u+`"`)}
	}
	other := func(at time.Time, i int) logEvent {
		return logEvent{at, settleLine(at, 1, 9000+i, "[unknown]", "[unknown]", "LOG", fmt.Sprintf("connection received: host=10.1.2.3 port=%d", i))}
	}
	events := []logEvent{
		other(base, 1), other(base, 2), other(base, 3),
		auth(base, 40001, 101, "settle_a"), // the last event of page 1 (pages of 4)
		refuse(base, 40001, 101, "settle_a"),
		auth(base.Add(time.Second), 40004, 104, "settle_d"),
		refuse(base.Add(time.Second), 49999, 104, "settle_d"), // another client's FATAL claiming pid 104
		auth(base.Add(2*time.Second), 40005, 105, "settle_e"),
	}
	e.put(t, "settle-1", events)
	opts := e.opts()
	opts.PageSize, opts.LockAfterDays, opts.DropAfterDays = 4, 0, 0
	opts.LogDelay = time.Since(base.Add(3 * time.Second)) // the window ends 3 s after base
	rep, err := e.job(t, nil, nil).Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Logs.Attempts != 1 || rep.Logs.Opened != 2 {
		t.Errorf("first run: %+v; want settle_a refused, settle_d and settle_e opened", rep.Logs)
	}

	// Past the window's end: b is refused after it, and c waits for the next run.
	later := base.Add(4 * time.Second)
	e.put(t, "settle-1", []logEvent{
		auth(later, 40002, 102, "settle_b"), refuse(later.Add(time.Second), 40002, 102, "settle_b"),
		auth(later.Add(2*time.Second), 40003, 103, "settle_c"),
	})
	opts.LogDelay = time.Since(later.Add(500 * time.Millisecond)) // b's authorized line is in, its FATAL is not
	rep, err = e.job(t, nil, nil).Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Logs.Attempts != 1 || rep.Logs.Lookahead == 0 {
		t.Errorf("second run: %+v; want settle_b refused by a line read past the window's end", rep.Logs)
	}
	// settle_c is authorized at the window's end of a third run with nothing after it yet.
	opts.LogDelay = time.Since(later.Add(2*time.Second + 500*time.Millisecond))
	rep, err = e.job(t, nil, nil).Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	ck, _, err := e.store.Checkpoint(ctx, e.group)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing followed c within the settle window at the read's end: c opened.
	if rep.Logs.Opened != 1 || len(sessions(ck.Pending)) != 0 {
		t.Errorf("third run: %+v, pending %+v; want settle_c opened, nothing pending", rep.Logs, ck.Pending)
	}
	p := plan(t, e, opts)
	for role, wantLogin := range map[string]bool{"settle_a": false, "settle_b": false, "settle_c": true, "settle_d": true, "settle_e": true} {
		r := p[role]
		if got := !r.LastLogLogin.IsZero(); got != wantLogin {
			t.Errorf("%s: login %v (at %v, attempt %v); want login %v", role, got, r.LastLogLogin, r.LastAttempt, wantLogin)
		}
		if !wantLogin && r.LastAttempt.IsZero() {
			t.Errorf("%s: no attempt recorded", role)
		}
	}
}

// A run stopped by its time budget keeps the sessions it could not settle in the
// checkpoint; the next run settles them with the lines that follow.
func TestPendingSessionsSurviveARunStop(t *testing.T) {
	e := newEnv(t, "pend")
	ctx := context.Background()
	e.loginRole(t, "pend_a", "pw")
	if _, err := e.store.Plan(ctx, activity.Policy{LockAfterDays: 10, DropAfterDays: 20}); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	var events []logEvent
	for i := range 3 {
		events = append(events, logEvent{base, settleLine(base, 1, 9000+i, "[unknown]", "[unknown]", "LOG", "connection received: host=10.1.2.3 port=1")})
	}
	events = append(events,
		logEvent{base, settleLine(base, 40001, 101, "pend_a", e.DB, "LOG", "connection authorized: user=pend_a database="+e.DB)},
		logEvent{base.Add(time.Second), settleLine(base.Add(time.Second), 40001, 101, "pend_a", e.DB, "FATAL", `role "pend_a" is not permitted to log in`)})
	e.put(t, "pend-1", events)
	opts := e.opts()
	opts.PageSize, opts.LockAfterDays, opts.DropAfterDays = 4, 0, 0
	opts.Reserve = 10 * time.Second
	start := time.Now()
	f := &faultyLogs{LogsAPI: e.logs}
	now := func() time.Time { return start.Add(time.Duration(f.calls.Load()) * 10 * time.Second) }
	dctx, cancel := context.WithDeadline(ctx, start.Add(15*time.Second)) // one page, then the budget is gone
	defer cancel()
	rep, err := e.job(t, f, now).Run(dctx, opts)
	if err != nil || rep.Logs.CaughtUp {
		t.Fatalf("first run = %v, %+v; want a stop after one page", err, rep.Logs)
	}
	ck, _, err := e.store.Checkpoint(ctx, e.group)
	if ps := sessions(ck.Pending); err != nil || len(ps) != 1 || ps[0].Login.Role != "pend_a" {
		t.Fatalf("checkpoint pending = %+v (%v); want pend_a's session", ck.Pending, err)
	}
	rep, err = e.job(t, nil, nil).Run(ctx, opts)
	if err != nil || rep.Logs.Attempts != 1 {
		t.Fatalf("second run = %v, %+v; want pend_a's session refused", err, rep.Logs)
	}
	if r := plan(t, e, opts)["pend_a"]; !r.LastLogLogin.IsZero() || r.LastAttempt.IsZero() {
		t.Errorf("pend_a: login %v, attempt %v; want an attempt only", r.LastLogLogin, r.LastAttempt)
	}
}

// sessions are the pending sessions of a checkpoint, without the received lines
// that wait for their authorized line.
func sessions(ps []activity.PendingSession) []activity.PendingSession {
	var out []activity.PendingSession
	for _, s := range ps {
		if !s.Received {
			out = append(out, s)
		}
	}
	return out
}
