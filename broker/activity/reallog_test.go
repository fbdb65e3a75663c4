package activity_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker/activity"
)

// Real log lines: several roles log in to the test cluster (log_connections on,
// Aurora's prefix), their lines go from the server log into moto's CloudWatch Logs
// at their own timestamps, and the job reads them: last logins match the log, the
// firefighter login is tied to its grant, the checkpoint advances, and a second run
// reads nothing new.
func TestRealLogLines(t *testing.T) {
	e := newEnv(t, "real")
	ctx := context.Background()
	offset := logSize(t)

	// The job's own login comes first: it is the proof that the log reaches the job.
	if _, _, err := e.store.Checkpoint(ctx, e.group); err != nil {
		t.Fatal(err)
	}
	users := []string{"real_alice", "real_bob", "real carol"}
	for _, u := range users {
		e.loginRole(t, u, "pw-"+u)
	}
	e.loginAs(t, "real_alice", "pw-real_alice")
	e.loginAs(t, "real_bob", "pw-real_bob")
	e.loginAs(t, "real_alice", "pw-real_alice")
	e.loginAs(t, "real carol", "pw-real carol")

	// A firefighter logs in during a grant issued through the broker's function.
	brokerPw := "broker-real-password-0123456789"
	if err := shared.Cluster.SetPassword(ctx, e.Broker, brokerPw); err != nil {
		t.Fatal(err)
	}
	b, err := shared.Cluster.Connect(ctx, e.Broker, brokerPw, e.DB)
	if err != nil {
		t.Fatal(err)
	}
	grantID := uuid.NewString()
	ffPassword := strings.Repeat("f1", 20)
	if _, err := b.Exec(ctx, `SELECT * FROM db_admin.issue_firefighter_password($1, $2, $3, 1, 'INC-42', 'arn:aws:iam::1:user/alice', NULL)`,
		grantID, e.FirefighterRO, ffPassword); err != nil {
		t.Fatal(err)
	}
	b.Close(ctx)
	e.loginAs(t, e.FirefighterRO, ffPassword)
	waitLog(t, offset, "user="+e.FirefighterRO+" database=")

	events := serverLog(t, offset)
	// Expected: the newest login of each role, from the log's own lines.
	want := map[string]time.Time{}
	authorized := 0
	for _, ev := range events {
		l := activity.Parse([]byte(ev.msg))
		if l.Kind == activity.KindAuthorized {
			authorized++
			if u := string(l.User); l.Time.After(want[u]) {
				want[u] = l.Time
			}
		}
	}
	for _, u := range append(users, e.Activity, e.FirefighterRO, e.Broker) {
		if want[u].IsZero() {
			t.Fatalf("the server log has no login of %q:\n%v", u, events)
		}
	}
	e.put(t, "real-instance-1", events)

	opts := e.opts()
	opts.Exclude = loginRoles(t, e) // dry run anyway; keeps other tests' roles out of the audit
	j := e.job(t, nil, nil)
	rep, err := j.Run(ctx, opts)
	if err != nil {
		t.Fatalf("Run: %v\n%+v", err, rep.Logs)
	}
	if !rep.Logs.CaughtUp || rep.Logs.Events != len(events) || rep.Logs.Authorized != authorized || rep.Logs.Pages < 2 {
		t.Errorf("first run read %+v; want all %d events (%d authorized) in several pages", rep.Logs, len(events), authorized)
	}
	if rep.Policy == nil || rep.Policy.Skipped != "" || !rep.DryRun {
		t.Errorf("first run policy = %+v; want a dry run that ran (the job's own login is in the log)", rep.Policy)
	}

	p := plan(t, e, opts)
	for u, at := range want {
		r, ok := p[u]
		if !ok {
			continue // a role of another test, dropped since
		}
		if !r.LastLogLogin.Equal(at) {
			t.Errorf("last login in the log of %q = %v; want %v", u, r.LastLogLogin, at)
		}
	}

	recs := e.audit.Take(t)
	var logins []audit.Record
	for _, r := range recs {
		if r.Event == audit.EventLoginObserved {
			logins = append(logins, r)
		}
	}
	if len(logins) != 1 {
		t.Fatalf("login.observed records = %+v; want one, the firefighter's", logins)
	}
	if r := logins[0]; r.GrantID != grantID || r.IncidentID != "INC-42" || r.Requester != "arn:aws:iam::1:user/alice" ||
		r.TargetRole != e.FirefighterRO || r.Outcome != audit.OutcomeSuccess || !r.Time.Equal(want[e.FirefighterRO]) {
		t.Errorf("firefighter login record = %+v; want grant %s, INC-42, alice, success at %v", r, grantID, want[e.FirefighterRO])
	}

	ck, ok, err := e.store.Checkpoint(ctx, e.group)
	if err != nil || !ok {
		t.Fatalf("checkpoint: %v, %v", ok, err)
	}
	if last := events[len(events)-1].at.UnixMilli(); ck.ThroughMs != last || ck.Events != int64(len(events)) {
		t.Errorf("checkpoint = through %d, %d events; want through %d (the last event), %d events", ck.ThroughMs, ck.Events, last, len(events))
	}

	rep2, err := j.Run(ctx, opts)
	if err != nil {
		t.Fatalf("second Run: %v", err)
	}
	ck2, _, _ := e.store.Checkpoint(ctx, e.group)
	if rep2.Logs.Events != 0 || rep2.Logs.Skipped == 0 || ck2.Version != ck.Version || ck2.Events != ck.Events {
		t.Errorf("second run read %+v, checkpoint %+v; want nothing new and the checkpoint unchanged (%+v)", rep2.Logs, ck2, ck)
	}
	if recs := e.audit.Take(t); len(recs) != 0 {
		t.Errorf("second run wrote audit records %+v; want none", recs)
	}
}

// Without a login of the job's own role in the log, nobody is proved inactive: the
// policy is skipped, even with everybody past the drop days.
func TestPolicyNeedsLogProof(t *testing.T) {
	e := newEnv(t, "proof")
	ctx := context.Background()
	e.loginRole(t, "proof_idle", "pw")
	opts := e.opts()
	opts.Apply = true
	opts.Exclude = slicesDelete(loginRoles(t, e), "proof_idle")
	e.shiftClock(t, 400*24*time.Hour)
	rep, err := e.job(t, nil, nil).Run(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Policy == nil || !strings.Contains(rep.Policy.Skipped, "no login of the job's own role") || rep.Policy.Applied {
		t.Fatalf("policy = %+v; want it skipped for lack of proof", rep.Policy)
	}
	var limit int
	if err := e.super(t).QueryRow(ctx, `SELECT rolconnlimit FROM pg_roles WHERE rolname = 'proof_idle'`).Scan(&limit); err != nil || limit != -1 {
		t.Errorf("proof_idle connection limit = %d (%v); want -1, untouched", limit, err)
	}
}

func slicesDelete(s []string, v string) []string {
	out := s[:0]
	for _, x := range s {
		if x != v {
			out = append(out, x)
		}
	}
	return out
}
