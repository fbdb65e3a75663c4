package activity_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/google/uuid"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/activity"
	"github.com/ffbroker/ffbroker/broker/awsretry"
	"github.com/ffbroker/ffbroker/internal/awstest"
)

// faultyLogs wraps the moto client: it counts calls and can end the run's context
// during one call (a Lambda reaching its time limit in the middle of a page).
type faultyLogs struct {
	activity.LogsAPI
	calls     atomic.Int64
	blockCall int64              // the call (1-based) during which the context ends; 0 none
	end       context.CancelFunc // ends the run's context at blockCall
}

func (f *faultyLogs) FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error) {
	n := f.calls.Add(1)
	if n == f.blockCall {
		f.end()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return f.LogsAPI.FilterLogEvents(ctx, in, opts...)
}

// auroraLine renders a line as Aurora writes it.
func auroraLine(at time.Time, user, db string, pid int) string {
	return fmt.Sprintf("%s:10.1.2.3(%d):%s@%s:[%d]:LOG:  connection authorized: user=%s database=%s application_name=app SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)",
		at.UTC().Format("2006-01-02 15:04:05 MST"), 40000+pid, user, db, pid, user, db)
}

// A run stopped midway, by the context's deadline in the middle of a page and then
// by its time budget, resumes from the checkpoint: after the runs every event is
// counted once, every role's last login is right, and every firefighter login has
// exactly one audit record.
func TestResumeAfterDeadline(t *testing.T) {
	e := newEnv(t, "resume")
	ctx := context.Background()
	roles := []string{"resume_a", "resume b", "resume_c"}
	for _, r := range roles {
		e.loginRole(t, r, "pw")
	}
	// A grant that started 50 minutes ago and ends in 10.
	grantID := uuid.NewString()
	s := e.super(t)
	// As a DBA by hand (rw needs an approved request through the broker's login).
	mustExec(t, s, `SELECT * FROM db_admin.firefighter_issue($1, $2, $3, 1, 'INC-7', 'arn:aws:iam::1:user/bob', NULL, NULL, true)`,
		grantID, e.FirefighterRW, strings.Repeat("r2", 20))
	mustExec(t, s, `UPDATE db_admin.firefighter_grant SET issued_at = issued_at - interval '50 minutes',
		activated_at = activated_at - interval '50 minutes', expires_at = expires_at - interval '50 minutes'`)
	var activated time.Time
	if err := s.QueryRow(ctx, `SELECT date_trunc('second', activated_at) FROM db_admin.firefighter_grant WHERE grant_id = $1`, grantID).Scan(&activated); err != nil {
		t.Fatal(err)
	}

	// 42 events, a second apart, two by two at the same millisecond, so that page
	// boundaries fall between events of one timestamp; pages of 4.
	base := activated.Add(-30 * time.Minute)
	var events []logEvent
	want := map[string]time.Time{}
	ffLines := 0
	for i := range 42 {
		at := base.Add(time.Duration(i/2) * time.Second)
		user := roles[i%len(roles)]
		if i%7 == 3 {
			user = e.FirefighterRW
			at = activated.Add(time.Duration(i) * time.Second) // during the grant
			if i == 3 {
				at = activated.Add(-time.Minute) // before it: no live grant
			}
			ffLines++
		}
		events = append(events, logEvent{at: at, msg: auroraLine(at, user, e.DB, 1000+i)})
		if at.After(want[user]) {
			want[user] = at
		}
	}
	sortEvents(events)
	e.put(t, "resume-1", events)

	opts := e.opts()
	opts.PageSize = 4
	opts.Reserve = time.Millisecond
	opts.MaxLogSilence = -1
	opts.LockAfterDays, opts.DropAfterDays = 0, 0

	// Run 1: the run's context ends while the 4th page is being fetched (counted
	// in calls, not in time: a loaded machine must not move the cut).
	dctx, cancel := context.WithDeadline(ctx, time.Now().Add(time.Hour))
	defer cancel()
	rep1, err := e.job(t, &faultyLogs{LogsAPI: e.logs, blockCall: 4, end: cancel}, nil).Run(dctx, opts)
	if broker.ErrorCode(err) != broker.CodeUnavailable || rep1.Logs.Events != 12 || rep1.Logs.CaughtUp || rep1.Policy != nil {
		t.Fatalf("run 1 = %v, %+v; want code unavailable after 3 pages (12 events)", err, rep1.Logs)
	}

	// Run 2: a time budget of 4 pages (the clock advances 10s per page; the
	// deadline is 45s away and 10s are kept in reserve).
	start := time.Now()
	f2 := &faultyLogs{LogsAPI: e.logs}
	now := func() time.Time { return start.Add(time.Duration(f2.calls.Load()) * 10 * time.Second) }
	bctx, cancel2 := context.WithDeadline(ctx, start.Add(45*time.Second))
	defer cancel2()
	opts2 := opts
	opts2.Reserve = 10 * time.Second
	rep2, err := e.job(t, f2, now).Run(bctx, opts2)
	if err != nil || rep2.Logs.CaughtUp || rep2.Logs.Pages != 4 || !strings.Contains(rep2.Logs.Stopped, "time budget") ||
		rep2.Policy == nil || rep2.Policy.Skipped == "" {
		t.Fatalf("run 2 = %v, %+v, policy %+v; want 4 pages, a stop for the time budget and no policy", err, rep2.Logs, rep2.Policy)
	}

	// Run 3: to the end, through throttling that the client's retry policy absorbs:
	// the job sends each page once, the SDK sends it again.
	th := awstest.Throttle(t, shared.Moto(t).Endpoint, 2)
	counted := &faultyLogs{LogsAPI: cloudwatchlogs.NewFromConfig(awsretry.Apply(th.Config(ctx)))}
	rep3, err := e.job(t, counted, nil).Run(ctx, opts)
	if err != nil || !rep3.Logs.CaughtUp {
		t.Fatalf("run 3 = %v, %+v; want it caught up", err, rep3.Logs)
	}
	if calls, trips := counted.calls.Load(), int64(th.Requests()); trips != calls+2 {
		t.Errorf("run 3 made %d FilterLogEvents calls and %d round trips; want the 2 throttled ones retried by the SDK only (%d)", calls, trips, calls+2)
	}

	total := rep1.Logs.Events + rep2.Logs.Events + rep3.Logs.Events
	ck, _, err := e.store.Checkpoint(ctx, e.group)
	if err != nil || total != len(events) || ck.Events != int64(len(events)) || ck.Logins != int64(len(events)) {
		t.Errorf("events recorded: runs %d+%d+%d, checkpoint %d events, %d logins (%v); want %d each, once",
			rep1.Logs.Events, rep2.Logs.Events, rep3.Logs.Events, ck.Events, ck.Logins, err, len(events))
	}
	p := plan(t, e, opts)
	for u, at := range want {
		if got := p[u].LastLogLogin; !got.Equal(at) {
			t.Errorf("last login of %q = %v; want %v", u, got, at)
		}
	}
	seen := map[time.Time]int{}
	matched := 0
	for _, r := range e.audit.Take(t) {
		if r.Event != audit.EventLoginObserved {
			continue
		}
		seen[r.Time]++
		if r.GrantID == grantID && r.IncidentID == "INC-7" && r.Outcome == audit.OutcomeSuccess {
			matched++
		} else if r.GrantID != "" || r.ErrorCode != activity.ErrCodeNoLiveGrant || r.Outcome != audit.OutcomeFailure {
			t.Errorf("unmatched firefighter login record = %+v; want failure, no_live_grant", r)
		}
	}
	if len(seen) != ffLines || matched != ffLines-1 {
		t.Errorf("firefighter login records: %d distinct (%v), %d tied to the grant; want %d, %d", len(seen), seen, matched, ffLines, ffLines-1)
	}
	for at, n := range seen {
		if n != 1 {
			t.Errorf("firefighter login at %v audited %d times; want once", at, n)
		}
	}
}

// Two runs that read the same page: only the first commit counts, the second gets a
// conflict and changes nothing.
func TestCheckpointCompareAndSet(t *testing.T) {
	e := newEnv(t, "cas")
	ctx := context.Background()
	other := activity.NewStore(e.connector(t))
	defer other.Close(ctx)
	page := activity.PageCommit{Source: e.group, ThroughMs: 1000, IDs: []string{"1"}, Events: 1,
		Logins: []activity.Login{{EventID: "1", Role: e.App, Time: time.Now()}}}
	v, err := e.store.CommitPage(ctx, page, nil)
	if err != nil || v != 1 {
		t.Fatalf("first commit = %d, %v; want version 1", v, err)
	}
	if _, err := other.CommitPage(ctx, page, nil); broker.ErrorCode(err) != broker.CodeConflict {
		t.Errorf("second commit at version 0: %v; want code conflict", err)
	}
	page.Version, page.ThroughMs = 1, 999
	if _, err := other.CommitPage(ctx, page, nil); broker.ErrorCode(err) != broker.CodeInvalidRequest {
		t.Errorf("commit moving the checkpoint back: %v; want code invalid_request", err)
	}
	ck, _, _ := e.store.Checkpoint(ctx, e.group)
	if ck.Version != 1 || ck.Events != 1 {
		t.Errorf("checkpoint = %+v; want version 1, 1 event", ck)
	}
}

// sortEvents orders events by time, stable.
func sortEvents(ev []logEvent) {
	for i := 1; i < len(ev); i++ {
		for j := i; j > 0 && ev[j].at.Before(ev[j-1].at); j-- {
			ev[j], ev[j-1] = ev[j-1], ev[j]
		}
	}
}
