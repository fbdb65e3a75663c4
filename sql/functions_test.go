package sqlscripts_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// verifierFor lets PostgreSQL itself hash password for a scratch role and returns the
// SCRAM-SHA-256 verifier it stored: a verifier that is right by construction.
func verifierFor(t *testing.T, e *env, password string) string {
	t.Helper()
	s := e.Super(t)
	scratch := e.Vars.Prefix + "_scratch"
	mustExec(t, s, `DROP ROLE IF EXISTS `+ident(scratch))
	mustExec(t, s, fmt.Sprintf(`CREATE ROLE %s PASSWORD '%s'`, ident(scratch), password))
	var v string
	if err := s.QueryRow(context.Background(), `SELECT rolpassword FROM pg_authid WHERE rolname = $1`, scratch).Scan(&v); err != nil {
		t.Fatal(err)
	}
	mustExec(t, s, `DROP ROLE `+ident(scratch))
	if !strings.HasPrefix(v, "SCRAM-SHA-256$") {
		t.Fatalf("stored verifier = %q; want a SCRAM-SHA-256 verifier", v)
	}
	return v
}

func TestSetFirefighterPasswordRefuses(t *testing.T) {
	e := newEnv(t, "refuse")
	broker := e.Login(t, e.Broker)
	good := strings.Repeat("a1", 20)
	valid := verifierFor(t, e, "some-password-for-shape")
	tests := []struct {
		name     string
		role     any
		password any
		hours    any
		state    string
	}{
		{"admin role", e.Admin, good, 1, "FFB01"},
		{"owner role", e.Owner, good, 1, "FFB01"},
		{"app role", e.App, good, 1, "FFB01"},
		{"migrator role", e.Migrator, good, 1, "FFB01"},
		{"broker itself", e.Broker, good, 1, "FFB01"},
		{"postgres", "postgres", good, 1, "FFB01"},
		{"master", "master", good, 1, "FFB01"},
		{"rdsadmin", "rdsadmin", good, 1, "FFB01"},
		{"upper case", strings.ToUpper(e.FirefighterRO), good, 1, "FFB01"},
		{"mixed case", "Refuse_firefighter_ro", good, 1, "FFB01"},
		{"leading space", " " + e.FirefighterRO, good, 1, "FFB01"},
		{"trailing space", e.FirefighterRO + " ", good, 1, "FFB01"},
		{"quoted", `"` + e.FirefighterRO + `"`, good, 1, "FFB01"},
		{"single quote injection", e.FirefighterRO + `'; ALTER ROLE master SUPERUSER; --`, good, 1, "FFB01"},
		{"prefix only", "refuse_firefighter", good, 1, "FFB01"},
		{"longer name", e.FirefighterRO + "x", good, 1, "FFB01"},
		{"63+ characters truncated to nothing useful", strings.Repeat("r", 80), good, 1, "FFB01"},
		{"empty role", "", good, 1, "FFB01"},
		{"NULL role", nil, good, 1, "FFB01"},
		{"NULL password", e.FirefighterRO, nil, 1, "FFB02"},
		{"empty password", e.FirefighterRO, "", 1, "FFB02"},
		{"31 characters", e.FirefighterRO, strings.Repeat("x", 31), 1, "FFB02"},
		{"md5 hash", e.FirefighterRO, "md5" + strings.Repeat("0123456789abcdef", 2), 1, "FFB02"},
		{"verifier with bad base64", e.FirefighterRO, strings.Replace(valid, "$4096:", "$4096:!!", 1), 1, "FFB02"},
		{"verifier without server key", e.FirefighterRO, valid[:strings.LastIndex(valid, ":")], 1, "FFB02"},
		{"verifier with zero iterations", e.FirefighterRO, strings.Replace(valid, "$4096:", "$0:", 1), 1, "FFB02"},
		{"verifier with short stored key", e.FirefighterRO, strings.Replace(valid, "$", "$A", 2)[:len(valid)-10], 1, "FFB02"},
		{"verifier prefix only", e.FirefighterRO, "SCRAM-SHA-256$" + strings.Repeat("x", 40), 1, "FFB02"},
		{"hours NULL", e.FirefighterRO, good, nil, "FFB03"},
		{"hours 0", e.FirefighterRO, good, 0, "FFB03"},
		{"hours 3", e.FirefighterRO, good, 3, "FFB03"},
		{"hours -1", e.FirefighterRO, good, -1, "FFB03"},
		{"hours 24", e.FirefighterRO, good, 24, "FFB03"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := exec(broker, `SELECT db_admin.set_firefighter_password($1, $2, $3)`, tc.role, tc.password, tc.hours)
			if got != tc.state {
				t.Errorf("set_firefighter_password(%v, ..., %v) SQLSTATE = %q (%v); want %s", tc.role, tc.hours, got, err, tc.state)
			}
		})
	}
	var grants int
	if err := e.Super(t).QueryRow(context.Background(), `SELECT count(*) FROM db_admin.firefighter_grant`).Scan(&grants); err != nil {
		t.Fatal(err)
	}
	if grants != 0 {
		t.Errorf("ledger rows after refused calls = %d; want 0", grants)
	}
	var until time.Time
	if err := e.Super(t).QueryRow(context.Background(), `SELECT max(rolvaliduntil) FROM pg_roles WHERE rolname IN ($1, $2)`, e.FirefighterRO, e.FirefighterRW).Scan(&until); err != nil {
		t.Fatal(err)
	}
	if !until.Equal(time.Unix(0, 0)) {
		t.Errorf("firefighter valid until after refused calls = %v; want the epoch", until)
	}
}

func TestIssueWithVerifierLogsInAndHoldsLimits(t *testing.T) {
	e := newEnv(t, "verif")
	ctx := context.Background()
	password := randomPassword(t) // 48 characters
	v := verifierFor(t, e, password)

	var exp time.Time
	if err := e.Login(t, e.Broker).QueryRow(ctx, `SELECT db_admin.set_firefighter_password($1, $2, 2)`, e.FirefighterRO, v).Scan(&exp); err != nil {
		t.Fatalf("set_firefighter_password(ro, verifier, 2): %v", err)
	}
	var until, now time.Time
	var stored string
	if err := e.Super(t).QueryRow(ctx, `SELECT rolvaliduntil, a.rolpassword, clock_timestamp() FROM pg_authid a WHERE rolname = $1`, e.FirefighterRO).Scan(&until, &stored, &now); err != nil {
		t.Fatal(err)
	}
	if !until.Equal(exp) {
		t.Errorf("rolvaliduntil = %v; want the returned expiry %v", until, exp)
	}
	if d := exp.Sub(now); d <= 119*time.Minute || d > 2*time.Hour {
		t.Errorf("expiry - database clock = %v; want just under 2h", d)
	}
	if stored != v {
		t.Errorf("stored password is not the verifier sent")
	}

	// The role's connection limit (5) holds: five logins work, the sixth is refused.
	for i := 0; i < 5; i++ {
		e.LoginWith(t, e.FirefighterRO, password)
	}
	c, err := cluster.Connect(ctx, e.FirefighterRO, password, e.DB)
	if err == nil {
		c.Close(ctx)
		t.Fatal("sixth login as firefighter_ro succeeded; want too many connections")
	}
	if got := pgtest.SQLState(err); got != "53300" {
		t.Errorf("sixth login SQLSTATE = %q (%v); want 53300", got, err)
	}
	if _, err := cluster.Connect(ctx, e.FirefighterRO, password+"x", e.DB); err == nil {
		t.Error("login with a wrong password succeeded")
	}
}

func TestPastExpiryRefusedAtLogin(t *testing.T) {
	e := newEnv(t, "past")
	password := randomPassword(t)
	e.Issue(t, e.FirefighterRW, password, 1)
	e.LoginWith(t, e.FirefighterRW, password) // works now
	mustExec(t, e.Super(t), fmt.Sprintf(`ALTER ROLE %s VALID UNTIL '2000-01-01'`, ident(e.FirefighterRW)))
	if c, err := cluster.Connect(context.Background(), e.FirefighterRW, password, e.DB); err == nil {
		c.Close(context.Background())
		t.Fatal("login with a password past its VALID UNTIL succeeded")
	} else if got := pgtest.SQLState(err); got != "28P01" {
		t.Errorf("login past expiry SQLSTATE = %q (%v); want 28P01", got, err)
	}
}

func TestExpireAndTerminate(t *testing.T) {
	e := newEnv(t, "expire")
	ctx := context.Background()
	password := randomPassword(t)
	e.Issue(t, e.FirefighterRW, password, 2)
	sessions := make([]*pgx.Conn, 3)
	for i := range sessions {
		sessions[i] = e.LoginWith(t, e.FirefighterRW, password)
	}
	broker := e.Login(t, e.Broker)

	var closed, terminated int
	if err := broker.QueryRow(ctx, `SELECT db_admin.expire_firefighter_password($1)`, e.FirefighterRW).Scan(&closed); err != nil {
		t.Fatal(err)
	}
	if closed != 1 {
		t.Errorf("expire_firefighter_password closed %d grants; want 1", closed)
	}
	if c, err := cluster.Connect(ctx, e.FirefighterRW, password, e.DB); err == nil {
		c.Close(ctx)
		t.Error("login after expire succeeded")
	}
	// Expiry alone leaves the sessions running.
	if _, err := sessions[0].Exec(ctx, `SELECT 1`); err != nil {
		t.Fatalf("session after expire, before terminate: %v", err)
	}
	if err := broker.QueryRow(ctx, `SELECT db_admin.terminate_firefighter_sessions($1)`, e.FirefighterRW).Scan(&terminated); err != nil {
		t.Fatal(err)
	}
	if terminated != 3 {
		t.Errorf("terminate_firefighter_sessions = %d; want 3", terminated)
	}
	for i, s := range sessions {
		if _, err := s.Exec(ctx, `SELECT 1`); err == nil {
			t.Errorf("session %d still answers after terminate", i)
		}
	}
	var left int
	if err := e.Super(t).QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE usename = $1`, e.FirefighterRW).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("sessions left = %d; want 0", left)
	}
	var reason string
	if err := e.Super(t).QueryRow(ctx, `SELECT closed_reason FROM db_admin.firefighter_grant WHERE role = $1`, e.FirefighterRW).Scan(&reason); err != nil {
		t.Fatal(err)
	}
	if reason != "revoked" {
		t.Errorf("closed_reason of a live grant expired early = %q; want revoked", reason)
	}
	if got, _ := exec(broker, `SELECT db_admin.terminate_firefighter_sessions($1)`, e.App); got != "FFB01" {
		t.Errorf("terminate_firefighter_sessions(app) SQLSTATE = %q; want FFB01", got)
	}
	if got, _ := exec(broker, `SELECT db_admin.expire_firefighter_password($1)`, e.Admin); got != "FFB01" {
		t.Errorf("expire_firefighter_password(admin) SQLSTATE = %q; want FFB01", got)
	}
}

func TestOverlappingGrantsAndSweep(t *testing.T) {
	e := newEnv(t, "sweep")
	ctx := context.Background()
	broker := e.Login(t, e.Broker)
	issue := func(incident string, hours int) (id string, exp, until time.Time, reused bool) {
		t.Helper()
		err := broker.QueryRow(ctx, `SELECT grant_id::text, expires_at, valid_until, reused
			FROM db_admin.issue_firefighter_password(gen_random_uuid(), $1, $2, $3, $4, 'arn:aws:iam::1:user/alice')`,
			e.FirefighterRO, randomPassword(t), hours, incident).Scan(&id, &exp, &until, &reused)
		if err != nil {
			t.Fatalf("issue(%s, %dh): %v", incident, hours, err)
		}
		return
	}
	_, exp2h, _, _ := issue("INC-1", 2)
	id1h, exp1h, until, _ := issue("INC-2", 1)
	if !until.Equal(exp2h) || !exp1h.Before(exp2h) {
		t.Errorf("valid until after a 2h then a 1h grant = %v; want the later expiry %v", until, exp2h)
	}
	again, _, _, reused := issue("INC-2", 2)
	if again != id1h || !reused {
		t.Errorf("repeat for INC-2 while live = (%s, reused %v); want (%s, true)", again, reused, id1h)
	}

	rows := queryStrings(t, broker, `SELECT * FROM db_admin.sweep_expired_firefighters()`)
	if len(rows) != 0 {
		t.Errorf("sweep with live grants = %q; want nothing", rows)
	}
	password := randomPassword(t)
	var p2 time.Time
	if err := broker.QueryRow(ctx, `SELECT expires_at FROM db_admin.issue_firefighter_password(gen_random_uuid(), $1, $2, 1, 'INC-3', 'bob')`, e.FirefighterRO, password).Scan(&p2); err != nil {
		t.Fatal(err)
	}
	session := e.LoginWith(t, e.FirefighterRO, password)

	// Time passes: every grant of ro ends. The sweep expires ro, closes its three grants
	// and ends its session; rw, never issued and already at the epoch, is left alone.
	e.PastAllGrants(t, e.FirefighterRO)
	rows = queryStrings(t, broker, `SELECT * FROM db_admin.sweep_expired_firefighters()`)
	if want := []string{e.FirefighterRO + "|3|1|<nil>"}; strings.Join(rows, ",") != strings.Join(want, ",") {
		t.Errorf("sweep after every grant ended = %q; want %q", rows, want)
	}
	if _, err := session.Exec(ctx, `SELECT 1`); err == nil {
		t.Error("session survived the sweep")
	}
	if rows := queryStrings(t, broker, `SELECT * FROM db_admin.sweep_expired_firefighters()`); len(rows) != 0 {
		t.Errorf("second sweep = %q; want nothing", rows)
	}
	status := queryStrings(t, broker, `SELECT role, valid_until = 'epoch', live_grants, sessions FROM db_admin.firefighter_status()`)
	want := []string{e.FirefighterRO + "|true|0|0", e.FirefighterRW + "|true|0|0"}
	if strings.Join(status, ",") != strings.Join(want, ",") {
		t.Errorf("status after sweep = %q; want %q", status, want)
	}

	// A password set by hand with no expiry is taken back by the next sweep too.
	mustExec(t, e.Super(t), fmt.Sprintf(`ALTER ROLE %s PASSWORD 'left-behind-by-hand-xxxxxxxxxxxxxxx' VALID UNTIL 'infinity'`, ident(e.FirefighterRW)))
	rows = queryStrings(t, broker, `SELECT * FROM db_admin.sweep_expired_firefighters()`)
	if want := []string{e.FirefighterRW + "|0|0|<nil>"}; strings.Join(rows, ",") != strings.Join(want, ",") {
		t.Errorf("sweep after a manual password = %q; want %q", rows, want)
	}
}

func TestIssueIdempotentAndChecked(t *testing.T) {
	e := newEnv(t, "idem")
	ctx := context.Background()
	broker := e.Login(t, e.Broker)
	const id = "7d1e3a52-0f5e-4d43-9bd6-5b0b8d0c1e01"
	call := func(role, incident, requester string, approver any) (string, error) {
		var reused bool
		err := broker.QueryRow(ctx, `SELECT reused FROM db_admin.issue_firefighter_password($1, $2, $3, 1, $4, $5, $6)`,
			id, role, randomPassword(t), incident, requester, approver).Scan(&reused)
		// approver is now the requester's principal key: the approver comes from the ledger.
		return fmt.Sprint(reused), err
	}
	if got, err := call(e.FirefighterRO, "INC-9", "alice", "key-alice"); err != nil || got != "false" {
		t.Fatalf("first issue: reused=%s err=%v; want false, nil", got, err)
	}
	if got, err := call(e.FirefighterRO, "INC-9", "alice", "key-alice"); err != nil || got != "true" {
		t.Errorf("retry with the same grant id: reused=%s err=%v; want true, nil", got, err)
	}
	tests := []struct {
		name, role, incident, requester string
		approver                        any
		state                           string
	}{
		{"same grant id, other incident", e.FirefighterRO, "INC-10", "alice", nil, "FFB05"},
		{"same grant id, other role, no approval", e.FirefighterRW, "INC-9", "alice", nil, "FFB07"},
		{"malformed incident", e.FirefighterRO, "INC 9; DROP", "alice", nil, "FFB04"},
		{"empty requester", e.FirefighterRO, "INC-9", "", nil, "FFB04"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := call(tc.role, tc.incident, tc.requester, tc.approver)
			if got := pgtest.SQLState(err); got != tc.state {
				t.Errorf("SQLSTATE = %q (%v); want %s", got, err, tc.state)
			}
		})
	}
}

// Concurrent calls for one role are serialised by the advisory lock: none fails with
// "tuple concurrently updated", the ledger has one row per call, and the role is valid
// until the latest expiry.
func TestConcurrentIssuesSerialised(t *testing.T) {
	e := newEnv(t, "conc")
	ctx := context.Background()
	const workers, each = 3, 8 // the broker's CONNECTION LIMIT is 3
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		conn := e.Login(t, e.Broker)
		wg.Add(1)
		go func(w int, conn *pgx.Conn) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				_, err := conn.Exec(ctx, `SELECT db_admin.issue_firefighter_password(gen_random_uuid(), $1, $2, $3, $4, 'alice')`,
					e.FirefighterRO, strings.Repeat("p", 32)+fmt.Sprint(w, i), 1+i%2, fmt.Sprintf("INC-%d-%d", w, i))
				if err != nil {
					errs <- err
				}
			}
		}(w, conn)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent issue: %v", err)
	}
	var n int
	var latest, until time.Time
	if err := e.Super(t).QueryRow(ctx, `SELECT count(*), max(expires_at), (SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1)
		FROM db_admin.firefighter_grant WHERE role = $1`, e.FirefighterRO).Scan(&n, &latest, &until); err != nil {
		t.Fatal(err)
	}
	if n != workers*each || !until.Equal(latest) {
		t.Errorf("ledger rows = %d, valid until = %v; want %d and the latest expiry %v", n, until, workers*each, latest)
	}
}

// The broker's two steps: reserve fixes the expiry from the database clock without
// touching the role; issue activates the reservation with that expiry.
func TestReserveThenActivate(t *testing.T) {
	e := newEnv(t, "reserve")
	ctx := context.Background()
	broker := e.Login(t, e.Broker)
	reserve := func(id, incident string) (exp time.Time, state string, err error) {
		err = broker.QueryRow(ctx, `SELECT expires_at, state FROM db_admin.reserve_firefighter_grant($1, $2, 2, $3, 'alice', 'bob')`,
			id, e.FirefighterRO, incident).Scan(&exp, &state)
		return
	}
	activate := func(id, incident, password string) (exp, until time.Time, reused bool, err error) {
		err = broker.QueryRow(ctx, `SELECT expires_at, valid_until, reused FROM db_admin.issue_firefighter_password($1, $2, $3, 2, $4, 'alice', 'bob')`,
			id, e.FirefighterRO, password, incident).Scan(&exp, &until, &reused)
		return
	}
	const id1 = "00000000-0000-4000-8000-000000000001"
	exp, state, err := reserve(id1, "INC-R1")
	if err != nil || state != "reserved" {
		t.Fatalf("reserve = (%s, %v); want reserved", state, err)
	}
	if exp2, state2, err := reserve(id1, "INC-R1"); err != nil || state2 != "reserved" || !exp2.Equal(exp) {
		t.Errorf("reserve retry = (%v, %s, %v); want the same expiry %v, reserved", exp2, state2, err, exp)
	}
	if rows := queryStrings(t, broker, `SELECT role, live_grants FROM db_admin.firefighter_status() WHERE live_grants > 0`); len(rows) != 0 {
		t.Errorf("live grants after a reservation = %q; want none", rows)
	}
	if rows := queryStrings(t, broker, `SELECT * FROM db_admin.sweep_expired_firefighters()`); len(rows) != 0 {
		t.Errorf("sweep during a reservation = %q; want nothing (nothing to take back, reservation in flight)", rows)
	}
	password := randomPassword(t)
	got, until, reused, err := activate(id1, "INC-R1", password)
	if err != nil || reused || !got.Equal(exp) || !until.Equal(exp) {
		t.Fatalf("activate = (%v, %v, reused %v, %v); want the reserved expiry %v twice, not reused", got, until, reused, err, exp)
	}
	e.LoginWith(t, e.FirefighterRO, password)
	if _, _, reused, err := activate(id1, "INC-R1", randomPassword(t)); err != nil || !reused {
		t.Errorf("activate retry = (reused %v, %v); want reused", reused, err)
	}
	e.LoginWith(t, e.FirefighterRO, password) // the retry did not rotate

	// A revoke closes a reservation in flight; activating it afterwards is refused.
	const id2 = "00000000-0000-4000-8000-000000000002"
	if _, _, err := reserve(id2, "INC-R2"); err != nil {
		t.Fatal(err)
	}
	var closed int
	if err := broker.QueryRow(ctx, `SELECT db_admin.expire_firefighter_password($1)`, e.FirefighterRO).Scan(&closed); err != nil {
		t.Fatal(err)
	}
	if closed != 1 {
		t.Errorf("expire closed %d active grants; want 1 (the reservation is not counted)", closed)
	}
	if _, _, _, err := activate(id2, "INC-R2", randomPassword(t)); pgtest.SQLState(err) != "FFB05" {
		t.Errorf("activate after revoke: %v; want FFB05", err)
	}
	reasons := queryStrings(t, e.Super(t), `SELECT grant_id::text, closed_reason FROM db_admin.firefighter_grant ORDER BY 1`)
	if want := []string{id1 + "|revoked", id2 + "|abandoned"}; strings.Join(reasons, ",") != strings.Join(want, ",") {
		t.Errorf("closed reasons = %q; want %q", reasons, want)
	}

	// A reservation never activated is closed as abandoned once its expiry passed.
	const id3 = "00000000-0000-4000-8000-000000000003"
	if _, _, err := reserve(id3, "INC-R3"); err != nil {
		t.Fatal(err)
	}
	e.PastAllGrants(t, e.FirefighterRO)
	queryStrings(t, broker, `SELECT * FROM db_admin.sweep_expired_firefighters()`)
	var reason string
	if err := e.Super(t).QueryRow(ctx, `SELECT closed_reason FROM db_admin.firefighter_grant WHERE grant_id = $1`, id3).Scan(&reason); err != nil {
		t.Fatal(err)
	}
	if reason != "abandoned" {
		t.Errorf("stale reservation closed as %q; want abandoned", reason)
	}
}
