package activity_test

import (
	"context"
	"net"
	"slices"
	"testing"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/activity"
	"github.com/ffbroker/ffbroker/broker/postgres"
	"github.com/ffbroker/ffbroker/broker/rds"
	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// A role due for a lock whose only session is on a reader (a hot standby streaming
// from the cluster, listed as the cluster's second instance) is left alone: the
// plan says live_session, its connection limit stays, and the audit trail says why.
func TestReaderSessionKeepsTheRoleUnlocked(t *testing.T) {
	e := newEnv(t, "actinst")
	ctx := context.Background()
	opts := e.opts()
	opts.LockAfterDays, opts.DropAfterDays, opts.MaxLogSilence = 10, 20, -1
	opts.Exclude = loginRoles(t, e)
	role := "ai_on_reader"
	byAdmin("CONNECTION LIMIT 4")(t, e, role)
	t.Cleanup(func() { dropRole(e, role) })
	e.shiftClock(t, -11*day)
	if _, err := e.job(t, nil, nil).Report(ctx, opts); err != nil {
		t.Fatal(err)
	}
	e.shiftClock(t, 0)

	sb, err := shared.Cluster.NewStandby(ctx, pgtest.StandbyOptions{})
	if err != nil {
		t.Fatalf("NewStandby: %v", err)
	}
	t.Cleanup(sb.Close)
	reader, err := sb.Connect(ctx, role, "pw-"+role, e.DB)
	if err != nil {
		t.Fatalf("login on the reader as %s: %v", role, err)
	}
	defer reader.Close(ctx)

	instances := rds.Static{{ID: "writer", Host: shared.Cluster.Host, Port: shared.Cluster.Port}, {ID: "reader", Host: sb.Host, Port: sb.Port}}
	j, err := activity.New(activity.Config{Store: e.store, Logs: e.logs, Audit: audit.NewJSONSink(e.audit),
		Sessions: postgres.NewInstances(instances, e.connector(t))})
	if err != nil {
		t.Fatal(err)
	}
	e.audit.Take(t)
	rep, err := j.Apply(ctx, opts)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	r, ok := rep.Policy.Role(role)
	if !ok || r.Action != activity.ActionLiveSession || r.Intended != activity.ActionLock {
		t.Errorf("apply to %s (session on the reader only) = %+v; want live_session, intended lock", role, r)
	}
	if st := roleState(t, e)[role]; st.limit != 4 {
		t.Errorf("%s connection limit after apply = %d; want 4, untouched", role, st.limit)
	}
	want := [][3]string{{string(audit.EventRoleLocked), string(audit.OutcomeDenied), activity.ErrCodeLiveSession}}
	if got := byRole(e.audit.Take(t))[role]; !slices.Equal(got, want) {
		t.Errorf("apply audit of %s = %q; want %q", role, got, want)
	}

	// An instance that cannot be checked: the job acts on nobody.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().(*net.TCPAddr).Port
	l.Close()
	down := rds.Static{{ID: "gone", Host: shared.Cluster.Host, Port: closed}}
	j, err = activity.New(activity.Config{Store: e.store, Logs: e.logs, Audit: audit.NewJSONSink(e.audit),
		Sessions: postgres.NewInstances(down, e.connector(t))})
	if err != nil {
		t.Fatal(err)
	}
	reader.Close(ctx)
	if _, err := j.Apply(ctx, opts); broker.ErrorCode(err) != broker.CodeUnavailable {
		t.Errorf("apply with an instance down: %v; want code unavailable", err)
	}
	if st := roleState(t, e)[role]; st.limit != 4 {
		t.Errorf("%s connection limit after an apply that could not check every instance = %d; want 4", role, st.limit)
	}
}
