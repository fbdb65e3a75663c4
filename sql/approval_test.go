package sqlscripts_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/internal/pgtest"
	"github.com/ffbroker/ffbroker/sql/drift"
)

// psqlState runs one statement with psql as login, as an attacker holding that login's
// credentials would, and returns the SQLSTATE it failed with ("" when it succeeded).
func (e *env) psqlState(t *testing.T, login, stmt string) string {
	t.Helper()
	var out string
	var err error
	// A backend of the previous psql may still hold one of the login's few connection
	// slots while it exits: wait for it.
	for range 100 {
		out, err = cluster.RunPsql(context.Background(), login, e.Passwords[login],
			"-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=sqlstate", "-h", cluster.Host, "-p", strconv.Itoa(cluster.Port),
			"-U", login, "-d", e.DB, "-c", stmt)
		if err == nil || !strings.Contains(out, "too many connections") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err == nil {
		return ""
	}
	m := regexp.MustCompile(`ERROR:\s+([0-9A-Z]{5})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("psql as %s: %v", login, err)
	}
	return m[1]
}

// Every db_admin function, called by each function login with psql: the login can
// execute exactly the functions the scripts grant it and is refused every other
// one, internal helpers included.
func TestLoginsExecuteOnlyTheirFunctions(t *testing.T) {
	e := newEnv(t, "fnacl")
	fns := queryStrings(t, e.Super(t), `
		SELECT pg_catalog.format('%s.%s(%s)', n.nspname, p.proname, pg_catalog.oidvectortypes(p.proargtypes)) || '|' ||
		       pg_catalog.format('db_admin.%I(%s)', p.proname,
		         coalesce((SELECT string_agg('NULL::' || pg_catalog.format_type(a, NULL), ', ' ORDER BY i)
		                   FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS x(a, i)), ''))
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = 'db_admin' AND p.proname NOT LIKE 'activity\_%' ORDER BY 1`)
	if len(fns) < 20 {
		t.Fatalf("db_admin has %d functions; want the ledger's functions too", len(fns))
	}
	for _, login := range []struct {
		name    string
		granted []string
	}{
		{e.Broker, drift.BrokerFunctions()},
		{e.Approver, drift.ApproverFunctions()},
	} {
		for _, row := range fns {
			sig, call, _ := strings.Cut(row, "|")
			t.Run(login.name+" "+sig, func(t *testing.T) {
				state := e.psqlState(t, login.name, "SELECT "+call)
				switch granted := slices.Contains(login.granted, sig); {
				case granted && state == "42501":
					t.Errorf("%s: %s refused (42501); want it allowed", login.name, sig)
				case !granted && state != "42501":
					t.Errorf("%s: %s gave SQLSTATE %q; want 42501 (permission denied)", login.name, sig, state)
				}
			})
		}
	}
}

// The two-person rule as the database enforces it, tried with psql as each login: the
// broker's login cannot produce read-write access without an approval recorded by the
// approver's login, and the approver's login cannot issue anything.
func TestTwoPersonRuleInDatabase(t *testing.T) {
	e := newEnv(t, "twop")
	ctx := context.Background()
	b := e.Login(t, e.Broker)
	pw := randomPassword(t) + "-rw-plaintext"
	pending := e.Submit(t, b, e.FirefighterRW, "INC-P1", 1)
	denied := e.Submit(t, b, e.FirefighterRW, "INC-D1", 1)
	mustExec(t, e.Login(t, e.Approver), `SELECT db_admin.decide_firefighter_request($1, 'deny', 'bob', 'key-bob', 'no')`, denied)
	late := e.Submit(t, b, e.FirefighterRW, "INC-L1", 1)
	mustExec(t, e.Super(t), `UPDATE db_admin.firefighter_request SET created_at = created_at - interval '2 hours', decide_by = decide_by - interval '2 hours' WHERE request_id = $1`, late)
	issue := func(req, incident string, hours int) string {
		return fmt.Sprintf(`SELECT * FROM db_admin.issue_firefighter_password(gen_random_uuid(), %s, %s, %d, %s, 'alice', 'key-alice', %s)`,
			lit(e.FirefighterRW), lit(pw), hours, lit(incident), req)
	}

	tests := []struct {
		name, login, stmt, state string
	}{
		{"broker: the manual function for rw", e.Broker,
			fmt.Sprintf(`SELECT db_admin.set_firefighter_password(%s, %s, 1)`, lit(e.FirefighterRW), lit(pw)), "FFB07"},
		{"broker: issue rw without a request", e.Broker, issue("NULL", "INC-N1", 1), "FFB07"},
		{"broker: reserve rw without a request", e.Broker,
			fmt.Sprintf(`SELECT * FROM db_admin.reserve_firefighter_grant(gen_random_uuid(), %s, 1, 'INC-N1', 'alice', 'key-alice', NULL)`, lit(e.FirefighterRW)), "FFB07"},
		{"broker: issue rw on a pending request", e.Broker, issue(lit(pending), "INC-P1", 1), "FFB07"},
		{"broker: issue rw on a denied request", e.Broker, issue(lit(denied), "INC-D1", 1), "FFB07"},
		{"broker: issue rw on an unknown request", e.Broker, issue("'00000000-0000-4000-8000-00000000dead'", "INC-P1", 1), "FFB10"},
		{"broker: approve a request", e.Broker,
			fmt.Sprintf(`SELECT * FROM db_admin.decide_firefighter_request(%s, 'approve', 'bob', 'key-bob')`, lit(pending)), "42501"},
		{"broker: write the approval ledger", e.Broker,
			fmt.Sprintf(`INSERT INTO db_admin.firefighter_approval VALUES (%s, 'approve', 'bob', 'key-bob', '', now(), 'x')`, lit(pending)), "42501"},
		{"broker: change the role allowlist", e.Broker, `UPDATE db_admin.firefighter_role SET needs_approval = false`, "42501"},
		{"approver: read the roles' approval", e.Approver, `SELECT * FROM db_admin.firefighter_roles()`, "42501"},
		{"broker: ALTER ROLE rw directly", e.Broker,
			fmt.Sprintf(`ALTER ROLE %s PASSWORD %s`, ident(e.FirefighterRW), lit(pw)), "42501"},
		{"approver: approve its own request (same key)", e.Approver,
			fmt.Sprintf(`SELECT * FROM db_admin.decide_firefighter_request(%s, 'approve', 'alice-2', 'key-alice')`, lit(pending)), "FFB06"},
		{"approver: decide an unknown request", e.Approver,
			`SELECT * FROM db_admin.decide_firefighter_request('00000000-0000-4000-8000-00000000dead', 'approve', 'bob', 'key-bob')`, "FFB10"},
		{"approver: overturn a denial", e.Approver,
			fmt.Sprintf(`SELECT * FROM db_admin.decide_firefighter_request(%s, 'approve', 'carol', 'key-carol')`, lit(denied)), "FFB08"},
		{"approver: approve after the window closed", e.Approver,
			fmt.Sprintf(`SELECT * FROM db_admin.decide_firefighter_request(%s, 'approve', 'bob', 'key-bob')`, lit(late)), "FFB09"},
		{"approver: a decision other than approve or deny", e.Approver,
			fmt.Sprintf(`SELECT * FROM db_admin.decide_firefighter_request(%s, 'maybe', 'bob', 'key-bob')`, lit(pending)), "FFB04"},
		{"approver: issue a password", e.Approver, issue(lit(pending), "INC-P1", 1), "42501"},
		{"approver: the manual function", e.Approver,
			fmt.Sprintf(`SELECT db_admin.set_firefighter_password(%s, %s, 1)`, lit(e.FirefighterRO), lit(pw)), "42501"},
		{"approver: submit a request", e.Approver,
			fmt.Sprintf(`SELECT * FROM db_admin.submit_firefighter_request(gen_random_uuid(), %s, 'INC-A1', 1, '', 'bob', 'key-bob')`, lit(e.FirefighterRW)), "42501"},
		{"approver: read the task tokens", e.Approver, `SELECT task_token FROM db_admin.firefighter_request`, "42501"},
		{"approver: ALTER ROLE rw directly", e.Approver,
			fmt.Sprintf(`ALTER ROLE %s PASSWORD %s`, ident(e.FirefighterRW), lit(pw)), "42501"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := e.psqlState(t, tc.login, tc.stmt); got != tc.state {
				t.Errorf("as %s: %s\nSQLSTATE = %q; want %s", tc.login, tc.stmt, got, tc.state)
			}
		})
	}
	var live int
	if err := e.Super(t).QueryRow(ctx, `SELECT count(*) FROM db_admin.firefighter_grant WHERE role = $1`, e.FirefighterRW).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if live != 0 {
		t.Errorf("rw grants after the refused attempts = %d; want 0", live)
	}
	if c, err := cluster.Connect(ctx, e.FirefighterRW, pw, e.DB); err == nil {
		c.Close(ctx)
		t.Error("the rw login works with the attacker's password; want it refused")
	}
}

// An approved request yields exactly one grant, for the request's own role, incident,
// validity and requester, and only within an hour of the approval.
func TestApprovedRequestIsConsumedOnce(t *testing.T) {
	e := newEnv(t, "consume")
	ctx := context.Background()
	b := e.Login(t, e.Broker)
	req := e.ApprovedRequest(t, b, e.FirefighterRW, "INC-C1", 1)
	issue := func(grant, incident string, hours int, key string) (string, bool, error) {
		var id string
		var reused bool
		err := b.QueryRow(ctx, `SELECT grant_id::text, reused FROM db_admin.issue_firefighter_password($1, $2, $3, $4, $5, 'alice', $6, $7)`,
			grant, e.FirefighterRW, randomPassword(t)+"-consume", hours, incident, key, req).Scan(&id, &reused)
		return id, reused, err
	}
	const g1, g2 = "00000000-0000-4000-8000-0000000000c1", "00000000-0000-4000-8000-0000000000c2"
	for _, tc := range []struct {
		name, incident, key string
		hours               int
	}{
		{"another incident", "INC-C2", "key-alice", 1},
		{"other hours", "INC-C1", "key-alice", 2},
		{"another requester", "INC-C1", "key-mallory", 1},
	} {
		if _, _, err := issue(g1, tc.incident, tc.hours, tc.key); pgtest.SQLState(err) != "FFB05" {
			t.Errorf("issue on the approved request with %s: %v; want FFB05", tc.name, err)
		}
	}
	if id, reused, err := issue(g1, "INC-C1", 1, "key-alice"); err != nil || reused || id != g1 {
		t.Fatalf("issue on the approved request = (%s, reused %v, %v); want %s, a new password", id, reused, err, g1)
	}
	if id, reused, err := issue(g2, "INC-C1", 1, "key-alice"); err != nil || !reused || id != g1 {
		t.Errorf("second issue on the same request = (%s, reused %v, %v); want grant %s reused, no new password", id, reused, err, g1)
	}
	got := queryStrings(t, e.Super(t), `SELECT r.state, r.grant_id::text, g.approver, g.approver_key, g.requester_key
		FROM db_admin.firefighter_request r JOIN db_admin.firefighter_grant g ON g.grant_id = r.grant_id WHERE r.request_id = $1`, req)
	if want := []string{"issued|" + g1 + "|bob|key-bob|key-alice"}; !slices.Equal(got, want) {
		t.Errorf("request and grant = %q; want %q (the approver from the approval ledger)", got, want)
	}
	e.PastAllGrants(t, e.FirefighterRW)
	if _, _, err := issue(g2, "INC-C1", 1, "key-alice"); pgtest.SQLState(err) != "FFB05" {
		t.Errorf("issue on a request whose grant ended: %v; want FFB05", err)
	}

	stale := e.ApprovedRequest(t, b, e.FirefighterRW, "INC-C3", 1)
	mustExec(t, e.Super(t), `UPDATE db_admin.firefighter_approval SET decided_at = decided_at - interval '2 hours' WHERE request_id = $1`, stale)
	if _, err := b.Exec(ctx, `SELECT db_admin.issue_firefighter_password(gen_random_uuid(), $1, $2, 1, 'INC-C3', 'alice', 'key-alice', $3)`,
		e.FirefighterRW, randomPassword(t)+"-stale", stale); pgtest.SQLState(err) != "FFB07" {
		t.Errorf("issue on an approval two hours old: %v; want FFB07", err)
	}
}

// A DBA may still use the manual function by hand for rw: the master is a member of the
// admin.
// The broker reads which roles need a second person from the role table, as the DBA
// set it: rw always, ro only once the DBA says so.
func TestBrokerReadsWhichRolesNeedApproval(t *testing.T) {
	e := newEnv(t, "needs")
	b := e.Login(t, e.Broker)
	roles := func() string {
		return strings.Join(queryStrings(t, b, `SELECT role, kind, needs_approval FROM db_admin.firefighter_roles()`), ",")
	}
	if got, want := roles(), e.FirefighterRO+"|ro|false,"+e.FirefighterRW+"|rw|true"; got != want {
		t.Errorf("firefighter_roles() = %q; want %q", got, want)
	}
	mustExec(t, e.Super(t), `UPDATE db_admin.firefighter_role SET needs_approval = true WHERE kind = 'ro'`)
	if got, want := roles(), e.FirefighterRO+"|ro|true,"+e.FirefighterRW+"|rw|true"; got != want {
		t.Errorf("firefighter_roles() after the DBA's change = %q; want %q", got, want)
	}
}

func TestManualFunctionForRWByTheDBA(t *testing.T) {
	e := newEnv(t, "bydba")
	pw := randomPassword(t) + "-by-hand"
	out, err := cluster.RunPsql(context.Background(), pgtest.MasterUser, pgtest.MasterPassword,
		"-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", cluster.Host, "-p", strconv.Itoa(cluster.Port), "-U", pgtest.MasterUser, "-d", e.DB,
		"-c", fmt.Sprintf(`SELECT db_admin.set_firefighter_password(%s, %s, 1)`, lit(e.FirefighterRW), lit(pw)))
	if err != nil {
		t.Fatalf("set_firefighter_password(rw) as the master: %v\n%s", err, out)
	}
	e.LoginWith(t, e.FirefighterRW, pw)
}

// The same person asking again while a request is pending gets it back; the approval
// window comes from the admin's setting, not from the caller.
func TestSubmitRequest(t *testing.T) {
	e := newEnv(t, "submit")
	ctx := context.Background()
	b := e.Login(t, e.Broker)
	first := e.Submit(t, b, e.FirefighterRW, "INC-S1", 1)
	if again := e.Submit(t, b, e.FirefighterRW, "INC-S1", 1); again != first {
		t.Errorf("second submit for the same incident by the same person = %s; want the pending %s", again, first)
	}
	var window float64
	if err := e.Super(t).QueryRow(ctx, `SELECT extract(epoch FROM decide_by - created_at) FROM db_admin.firefighter_request WHERE request_id = $1`, first).Scan(&window); err != nil {
		t.Fatal(err)
	}
	if window != 3600 {
		t.Errorf("approval window = %vs; want 3600 (the default approval_timeout)", window)
	}
	if st := e.psqlState(t, e.Broker, `UPDATE db_admin.firefighter_setting SET value = 86400`); st != "42501" {
		t.Errorf("broker changing the approval window: SQLSTATE %q; want 42501", st)
	}
	const token = "AQCEAAAAKgAAAAMAAAAAAAAAAT"
	exec := "arn:aws:states:us-east-1:123456789012:execution:ffbroker-approval:ffb-" + first
	attach := func(tok string) error {
		_, err := b.Exec(ctx, `SELECT * FROM db_admin.attach_firefighter_task_token($1, $2, $3)`, first, tok, exec)
		return err
	}
	if err := attach(token); err != nil {
		t.Fatalf("attach task token: %v", err)
	}
	if err := attach(token + "-retry"); err != nil {
		t.Errorf("attach a new token of the same execution (a retry of the wait): %v", err)
	}
	exec = "arn:aws:states:us-east-1:123456789012:execution:ffbroker-approval:forged-" + first
	if err := attach(token + "-forged"); pgtest.SQLState(err) != "FFB05" {
		t.Errorf("attach a token of another execution: %v; want FFB05", err)
	}
}

func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
