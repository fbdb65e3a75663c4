package sqlscripts_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/broker/postgres"
	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// An ro holder keeps a transaction open that writes to the large objects it made;
// each lo_unlink of the sweep then waits out firefighter_drop_owned's lock_timeout.
// With enough of them the sweep's statement outlives the broker's statement_timeout
// (57014, which WHEN OTHERS does not catch), the whole sweep rolls back, and the
// holder's session, past its grant's end, is never terminated; every later sweep
// fails the same way, for every role (the sweep is one statement), and so does a
// revoke (expire_firefighter_password drops before the sessions end). What must
// hold: the sweep takes the role back (its row, no session left) whatever the role
// owns or locks.
func TestFirefighterLocksCannotStopTheSweep(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, "swphold")
	pw := randomPassword(t)
	e.Issue(t, e.FirefighterRO, pw, 1)

	ro := e.LoginWith(t, e.FirefighterRO, pw)
	const n = 40 // 40 x 500 ms of lock_timeout > the broker's 15 s statement_timeout
	mustExec(t, ro, `SELECT pg_catalog.lo_from_bytea(0, 'x') FROM pg_catalog.generate_series(1, $1)`, n)
	mustExec(t, ro, `BEGIN`)
	mustExec(t, ro, `SELECT pg_catalog.lo_put(m.oid, 0, '\x79'::bytea) FROM pg_catalog.pg_largeobject_metadata m
		WHERE m.lomowner = current_user::regrole`)

	e.PastAllGrants(t, e.FirefighterRO)
	b := e.Login(t, e.Broker)
	mustExec(t, b, fmt.Sprintf(`SET statement_timeout = %d`, postgres.DefaultStatementTimeout.Milliseconds()))
	rows, err := b.Query(ctx, `SELECT role FROM db_admin.sweep_expired_firefighters()`)
	var got []string
	if err == nil {
		for rows.Next() {
			var r string
			if err = rows.Scan(&r); err != nil {
				break
			}
			got = append(got, r)
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		t.Errorf("sweep with %s's large objects locked by its own session: %v (SQLSTATE %s); want the role taken back", e.FirefighterRO, err, pgtest.SQLState(err))
	} else if !strings.Contains(strings.Join(got, ","), e.FirefighterRO) {
		t.Errorf("sweep returned %q; want a row for %s", got, e.FirefighterRO)
	}
	// A revoke (expire_firefighter_password, then terminate) stops the same way.
	if state, err := exec(b, `SELECT db_admin.expire_firefighter_password($1)`, e.FirefighterRO); err != nil {
		t.Errorf("revoke of %s with its large objects locked: %v (SQLSTATE %s); want the role taken back", e.FirefighterRO, err, state)
	} else {
		mustExec(t, b, `SELECT db_admin.terminate_firefighter_sessions($1)`, e.FirefighterRO)
	}
	if left := queryStrings(t, e.Super(t), `SELECT count(*) FROM pg_stat_activity WHERE usename = $1`, e.FirefighterRO); left[0] != "0" {
		t.Errorf("%s sessions of %s survive the sweep past its grant's end; want 0", left[0], e.FirefighterRO)
	}
	// The sessions ended first, their locks with them: the objects went too.
	if got := largeObjects(t, e); got != "0" {
		t.Errorf("after the sweep %s owns %s large objects; want 0", e.FirefighterRO, got)
	}
}

// One call removes a bounded number of objects, so that a role that owns many cannot
// make the sweep outlive its statement timeout: the rest waits, and later runs finish.
func TestManyObjectsAreRemovedOverSeveralSweeps(t *testing.T) {
	e := newEnv(t, "swpmany")
	pw := randomPassword(t)
	e.Issue(t, e.FirefighterRO, pw, 1)
	const n = 150 // more than one call's 100 tries
	mustExec(t, e.LoginWith(t, e.FirefighterRO, pw), `SELECT pg_catalog.lo_from_bytea(0, 'x') FROM pg_catalog.generate_series(1, $1)`, n)
	e.PastAllGrants(t, e.FirefighterRO)
	b := e.Login(t, e.Broker)
	rows := queryStrings(t, b, `SELECT role, failure FROM db_admin.sweep_expired_firefighters()`)
	if want := e.FirefighterRO + "|<nil>"; strings.Join(rows, ",") != want {
		t.Errorf("first sweep = %q; want %q", rows, want)
	}
	left, _ := strconv.Atoi(largeObjects(t, e))
	if left < n-100 || left >= n {
		t.Errorf("after one sweep %s owns %d of its %d large objects; want from %d to %d", e.FirefighterRO, left, n, n-100, n-1)
	}
	for range 5 {
		queryStrings(t, b, `SELECT role FROM db_admin.sweep_expired_firefighters()`)
	}
	if got := largeObjects(t, e); got != "0" {
		t.Errorf("after more sweeps %s owns %s large objects; want 0", e.FirefighterRO, got)
	}
}

// Each role is taken back in its own subtransaction: ro, made CREATEDB behind the
// broker's back, is refused (FFB01, in its row's failure) and rw is taken back all
// the same.
func TestOneRoleCannotStopTheOtherRolesTakeBack(t *testing.T) {
	e := newEnv(t, "swpsplit")
	e.Issue(t, e.FirefighterRO, randomPassword(t), 1)
	e.Issue(t, e.FirefighterRW, randomPassword(t), 1)
	e.PastAllGrants(t, e.FirefighterRO)
	e.PastAllGrants(t, e.FirefighterRW)
	mustExec(t, e.Super(t), `ALTER ROLE `+ident(e.FirefighterRO)+` CREATEDB`)
	rows := queryStrings(t, e.Login(t, e.Broker), `SELECT role, grants_closed, left(coalesce(failure, '-'), 5) FROM db_admin.sweep_expired_firefighters()`)
	want := []string{e.FirefighterRO + "|0|FFB01", e.FirefighterRW + "|1|-"}
	if strings.Join(rows, ",") != strings.Join(want, ",") {
		t.Errorf("sweep with %s refused = %q; want %q", e.FirefighterRO, rows, want)
	}
	got := queryStrings(t, e.Super(t), `SELECT rolname, rolvaliduntil = 'epoch' FROM pg_roles WHERE rolname IN ($1, $2) ORDER BY 1`, e.FirefighterRO, e.FirefighterRW)
	if want := []string{e.FirefighterRO + "|false", e.FirefighterRW + "|true"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("expired at the epoch after the sweep = %q; want %q", got, want)
	}
}
