package activity_test

import (
	"context"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/activity"
)

// The activity monitor's login can commit a checkpoint; one dated far past the
// database's clock makes every later run read nothing ("caught up": the checkpoint
// is beyond the window's end) while the drop check's "log read past the lock" holds
// for every lock. Logins stop counting, active roles age into a lock and a drop.
// The database must refuse a checkpoint beyond its own clock (FFB04, invalid_request),
// and a run after the attempt still reads a login made now.
func TestCheckpointCannotMoveIntoTheFuture(t *testing.T) {
	e := newEnv(t, "futck")
	ctx := context.Background()
	e.loginRole(t, "futck_person", "owner-pw")
	opts := e.opts()
	opts.MaxLogSilence = -1
	opts.Exclude = loginRoles(t, e)
	opts.LockAfterDays, opts.DropAfterDays = 0, 0
	j := e.job(t, nil, nil)
	e.put(t, "futck-0", []logEvent{receivedEvent(time.Now().Add(-time.Minute), 1)})
	if _, err := j.Run(ctx, opts); err != nil { // a first checkpoint, a minute ago
		t.Fatal(err)
	}
	ck, found, err := e.store.Checkpoint(ctx, e.group)
	if err != nil || !found {
		t.Fatalf("Checkpoint = %+v, %v, %v; want the first run's", ck, found, err)
	}

	future := time.Now().AddDate(100, 0, 0).UnixMilli()
	_, err = e.store.CommitPage(ctx, activity.PageCommit{Source: e.group, Version: ck.Version, ThroughMs: future, IDs: []string{}}, nil)
	if broker.ErrorCode(err) != broker.CodeInvalidRequest || sqlState(err) != "FFB04" {
		t.Errorf("commit of a checkpoint 100 years ahead as the activity monitor: %v; want SQLSTATE FFB04 (invalid_request)", err)
	}

	offset := logSize(t)
	e.loginAs(t, "futck_person", "owner-pw")
	waitLog(t, offset, "user=futck_person database=")
	e.put(t, "futck-1", serverLog(t, offset))
	time.Sleep(5 * time.Millisecond) // past the run's LogDelay
	if _, err := j.Run(ctx, opts); err != nil {
		t.Fatal(err)
	}
	if p := plan(t, e, opts); p["futck_person"].LastLogLogin.IsZero() {
		t.Errorf("futck_person's login made now was not read after the checkpoint attempt (plan %+v)", p["futck_person"])
	}
}
