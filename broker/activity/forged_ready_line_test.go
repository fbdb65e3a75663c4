package activity_test

import (
	"context"
	"testing"
)

// A "connection ready" line that any login can write (RAISE LOG from a DO block,
// plpgsql being usable by PUBLIC) must not make the other sessions of its stream
// count as refused on a server that writes no ready line itself (13 to 17): that
// would record no login of anybody on the instance, and roles in daily use would
// be locked and dropped. The job no longer learns from the log whether a server
// writes ready lines; a session nothing refused opened. (Red team 4, high.)
func TestForgedReadyLineHidesNoLogin(t *testing.T) {
	e := newEnv(t, "rt4_ready")
	ctx := context.Background()
	for _, r := range []string{"rt4_victim", "rt4_control", "rt4_mallory"} {
		e.loginRole(t, r, "pw-"+r)
	}
	opts := e.reportOpts(t)

	// Stream 1: the victim logs in, then mallory writes her line from her own session.
	offset := logSize(t)
	e.loginAs(t, "rt4_victim", "pw-rt4_victim")
	c, err := shared.Cluster.Connect(ctx, "rt4_mallory", "pw-rt4_mallory", e.DB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `DO $$ BEGIN RAISE LOG 'connection ready: setup total=1.000 ms, fork=0.100 ms, authentication=0.500 ms'; END $$`); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	waitLog(t, offset, "LOG:  connection ready: setup total=1.000 ms")
	forged := serverLog(t, offset)

	// Stream 2, the control: a login of another role with nothing forged after it.
	offset = logSize(t)
	e.loginAs(t, "rt4_control", "pw-rt4_control")
	waitLog(t, offset, "user=rt4_control database=")
	control := serverLog(t, offset)

	e.put(t, "rt4-instance-1", forged)
	e.put(t, "rt4-instance-2", control)
	rep, err := e.job(t, nil, nil).Run(ctx, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	p := plan(t, e, opts)
	if p["rt4_control"].LastLogLogin.IsZero() {
		t.Fatalf("the control login was not recorded (%+v): the test proves nothing", rep.Logs)
	}
	if got := p["rt4_victim"].LastLogLogin; got.IsZero() {
		t.Errorf("rt4_victim logged in, but the run recorded no login (last log login %v, attempt %v; run %+v): "+
			"a RAISE LOG 'connection ready: ...' of another login made every session of the stream count as refused",
			got, p["rt4_victim"].LastAttempt, rep.Logs)
	}
}
