package activity_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// A session refused after its authorized line stays an attempt whatever its
// database name makes the FATAL line read as at first: the name is free text of the
// client's startup packet (it need not exist: the connection limit and NOLOGIN
// checks come first), and one holding ":[1]:LOG:  connection ready: " made the
// refusal read as a ready line of pid 1, which matched no session, so the
// session counted as opened. The holder of a locked role's password could keep it
// alive that way. The job now settles a session by what the line says after the
// session's own prefix (KindAfter). (Red team 5, medium.)
func TestRefusalHiddenByDatabaseName(t *testing.T) {
	e := newEnv(t, "rt5_refused")
	ctx := context.Background()
	const control, pw = "rt5_ctrl", "pw-rt5-locked-0123456789"
	disguises := map[string]string{
		"rt5_ready":    "x:[1]:LOG:  connection ready: y",
		"rt5_received": "x:[1]:LOG:  connection received: host=10.0.0.9 port=5",
		"rt5_authn":    `x:[1]:LOG:  connection authenticated: identity="a" method=md5`,
		"rt5_refused2": `x:[1]:FATAL:  role "z`,
	}
	e.loginRole(t, control, pw)
	for r := range disguises {
		e.loginRole(t, r, pw)
	}
	opts := e.reportOpts(t)
	// Tracked while they can still log in (as the job would have, before it locked them).
	plan(t, e, opts)
	super := e.super(t)
	// Locked as the job locks (connection limit 0), and the control NOLOGIN.
	mustExec(t, super, `ALTER ROLE `+ident(control)+` NOLOGIN`)
	for r := range disguises {
		mustExec(t, super, `ALTER ROLE `+ident(r)+` CONNECTION LIMIT 0`)
	}

	offset := logSize(t)
	try := func(role, db string) {
		if c, err := pgx.Connect(ctx, shared.Cluster.ConnString(role, pw, db)); err == nil {
			c.Close(ctx)
			t.Fatalf("%s logged in although locked", role)
		}
	}
	try(control, e.DB)
	for r, db := range disguises {
		try(r, db)
		waitLog(t, offset, `too many connections for role "`+r+`"`)
	}
	e.put(t, "rt5-instance-1", serverLog(t, offset))
	rep, err := e.job(t, nil, nil).Run(ctx, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	p := plan(t, e, opts)
	if p[control].LastAttempt.IsZero() || !p[control].LastLogLogin.IsZero() {
		t.Fatalf("the control's refused session is not an attempt (%+v; run %+v): the test proves nothing", p[control], rep.Logs)
	}
	for r, db := range disguises {
		if got := p[r].LastLogLogin; !got.IsZero() || p[r].LastAttempt.IsZero() {
			t.Errorf("%s (database name %q) never opened a session (connection limit 0), but the run recorded login %v, attempt %v (run %+v)",
				r, db, got, p[r].LastAttempt, rep.Logs)
		}
	}
}
