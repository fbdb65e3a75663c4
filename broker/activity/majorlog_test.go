package activity_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/activity"
	"github.com/ffbroker/ffbroker/broker/postgres"
	"github.com/ffbroker/ffbroker/internal/pgtest"
	"github.com/ffbroker/ffbroker/internal/testenv"
)

// majorCluster is a cluster of the package's major (FFB_PG_BIN under make
// test-matrix) that accepts what a real Aurora cluster sees: TCP over IPv4 and
// IPv6, the Unix socket, TLS, and replication, all with scram-sha-256.
func majorCluster(t *testing.T) *pgtest.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgtest.New(ctx, pgtest.Options{TLS: true, ExtraListen: []string{"::1"}, HBA: []string{
		"local all all scram-sha-256",
		"host replication all 127.0.0.1/32 scram-sha-256",
		"host replication all ::1/128 scram-sha-256",
		"host all all ::1/128 scram-sha-256",
	}})
	if err != nil {
		t.Fatalf("start a cluster: %v", err)
	}
	t.Cleanup(c.Close)
	if c.Major >= 18 {
		// PostgreSQL 18's option list, with "connection ready" (setup_durations).
		s, err := c.ConnectSuper(ctx, "postgres")
		if err != nil {
			t.Fatal(err)
		}
		mustExec(t, s, `ALTER SYSTEM SET log_connections = 'receipt,authentication,authorization,setup_durations'`)
		mustExec(t, s, `SELECT pg_reload_conf()`)
		s.Close(ctx)
	}
	return c
}

// session is what the test knows about one connection attempt.
type session struct {
	role   string
	opened bool // the session opened (else the server refused it after authorizing it)
	from   time.Time
	until  time.Time
}

// majorEnv holds the cluster, the bootstrapped model and the log collected.
type majorEnv struct {
	c        *pgtest.Cluster
	names    pgtest.RoleModel
	db       string
	sessions []session
}

// dial opens one session with a libpq-style connection string and closes it; it
// records what the test expects the log to say.
func (m *majorEnv) dial(t *testing.T, role, connString string, opened bool) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgconn.ParseConfig(connString)
	if err != nil {
		t.Fatalf("%s: %v", connString, err)
	}
	from := time.Now()
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	until := time.Now()
	switch {
	case opened && err != nil:
		t.Fatalf("session of %q (%s) failed: %v", role, redact(connString), err)
	case !opened && err == nil:
		conn.Close(ctx)
		t.Fatalf("session of %q (%s) opened; want it refused", role, redact(connString))
	case err == nil:
		conn.Close(ctx)
	}
	m.sessions = append(m.sessions, session{role: role, opened: opened, from: from, until: until})
}

func redact(s string) string {
	if i := strings.Index(s, "password="); i >= 0 {
		return s[:i] + "password=***"
	}
	return s
}

// dsn builds a connection string; host is 127.0.0.1, ::1 or the socket directory.
func (m *majorEnv) dsn(host, user, password, db, extra string) string {
	return fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s connect_timeout=10 %s",
		quoteDSN(host), m.c.Port, quoteDSN(user), quoteDSN(password), quoteDSN(db), extra)
}

func quoteDSN(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// Real server logs of this major (the test starts the cluster): sessions over
// IPv4, IPv6, the socket and TLS, physical and logical replication, roles with odd
// names, sessions refused after their authorized line (connection limit 0,
// NOLOGIN, a missing database, no CONNECT, no REPLICATION), and the spoof attempts
// (a statement, an identifier, the database name of a failed login, an
// application name, host names in %r). The log goes into moto's CloudWatch Logs
// and through the job; then every role's last login is what the test knows
// happened, the refused sessions are attempts, and nobody else logged in.
func TestRealServerLogsOfThisMajor(t *testing.T) {
	ctx := context.Background()
	srv := shared.Moto(t)
	m := &majorEnv{c: majorCluster(t)}
	t.Logf("PostgreSQL %d from %s", m.c.Major, m.c.BinDir)
	v := pgtest.Vars{Prefix: "maj", DBName: "maj-db", AppSchema: "app-schema", Flavor: "aurora"}
	if out, err := m.c.Bootstrap(ctx, v); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, out)
	}
	m.names, m.db = v.Model(), v.Names().DBName
	activityRole, activityPw := "maj_activity_monitor", "maj-activity-password-0123456789"
	super, err := m.c.ConnectSuper(ctx, m.db)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)
	mustExec(t, super, `ALTER ROLE `+ident(activityRole)+` PASSWORD `+literal(activityPw))
	mustExec(t, super, `SELECT db_admin.activity_set_policy(1, 2)`)

	const pw = "major-log-password-0123456789"
	create := func(name, attrs string) {
		mustExec(t, super, fmt.Sprintf(`CREATE ROLE %s LOGIN %s PASSWORD %s`, ident(name), attrs, literal(pw)))
		mustExec(t, super, fmt.Sprintf(`GRANT CONNECT ON DATABASE %s TO %s`, ident(m.db), ident(name)))
	}
	odd := []string{"maj o'brien", `maj "dq"`, "maj a=b", "maj@at", "maj:[1]:LOG:  x", "maj\nnl", "maj ユーザー",
		"maj user=maj_victim database=" + m.db, "maj'); DROP ROLE maj_victim; --", "maj:[2]:FATAL:  role \""}
	plain := []string{"maj_v4", "maj_v6", "maj_sock", "maj_tls", "maj_tls6", "maj_mallory", "maj_host"}
	refused := []string{"maj_limited", "maj_nologin", "maj_nodb", "maj_noconnect", "maj_norepl"}
	for _, r := range append(append(slices.Clone(plain), odd...), append(refused, "maj_victim")...) {
		create(r, "")
	}
	create("maj_repl", "REPLICATION")
	mustExec(t, super, `ALTER ROLE maj_limited CONNECTION LIMIT 0`)
	mustExec(t, super, `CREATE DATABASE "maj-closed"`)
	mustExec(t, super, `REVOKE CONNECT ON DATABASE "maj-closed" FROM PUBLIC`)
	mustExec(t, super, `ALTER ROLE maj_mallory SET log_statement = 'all'`)

	// The job's store, logged in once so that its own login is in the log.
	conn, err := postgres.NewConnector(postgres.Config{Host: m.c.Host, Port: m.c.Port, Database: m.db, User: activityRole,
		Auth: postgres.AuthPassword, Password: broker.NewPassword(activityPw), SSLMode: postgres.SSLModeDisable}, aws.Config{})
	if err != nil {
		t.Fatal(err)
	}
	store := activity.NewStore(conn)
	defer store.Close(ctx)
	fi, err := os.Stat(m.c.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	offset := int(fi.Size())
	// Tracked before they lose their logins: the NOLOGIN role's refused sessions
	// then show as its attempts.
	if _, err := store.Plan(ctx, activity.Policy{LockAfterDays: 1, DropAfterDays: 2}); err != nil {
		t.Fatal(err)
	}
	mustExec(t, super, `ALTER ROLE maj_nologin NOLOGIN`)

	v4, v6, sock := "127.0.0.1", "::1", m.c.SocketDir
	noTLS, tls := "sslmode=disable", "sslmode=require"
	m.dial(t, "maj_v4", m.dsn(v4, "maj_v4", pw, m.db, noTLS), true)
	m.dial(t, "maj_v6", m.dsn(v6, "maj_v6", pw, m.db, noTLS), true)
	m.dial(t, "maj_sock", m.dsn(sock, "maj_sock", pw, m.db, noTLS), true)
	m.dial(t, "maj_tls", m.dsn(v4, "maj_tls", pw, m.db, tls+" application_name=psql"), true)
	m.dial(t, "maj_tls6", m.dsn(v6, "maj_tls6", pw, m.db, tls), true)
	m.dial(t, "maj_repl", m.dsn(v4, "maj_repl", pw, m.db, noTLS+" replication=true"), true)
	m.dial(t, "maj_repl", m.dsn(v6, "maj_repl", pw, m.db, tls+" replication=database application_name=sub"), true)
	for i, r := range odd {
		m.dial(t, r, m.dsn([]string{v4, v6, sock}[i%3], r, pw, m.db, []string{noTLS, tls}[i%2]), true)
	}
	// Refused after the authorized line.
	m.dial(t, "maj_limited", m.dsn(v4, "maj_limited", pw, m.db, noTLS), false)
	m.dial(t, "maj_limited", m.dsn(v6, "maj_limited", pw, m.db, tls), false)
	m.dial(t, "maj_nologin", m.dsn(sock, "maj_nologin", pw, m.db, noTLS), false)
	m.dial(t, "maj_nodb", m.dsn(v4, "maj_nodb", pw, "maj-no-such-db", noTLS), false)
	m.dial(t, "maj_noconnect", m.dsn(v6, "maj_noconnect", pw, "maj-closed", noTLS), false)
	m.dial(t, "maj_norepl", m.dsn(v4, "maj_norepl", pw, m.db, noTLS+" replication=database"), false)

	// Spoofs. A login that writes connection lines into its statements and errors.
	victims := []string{"maj_victim", m.names.FirefighterRO}
	mal, err := pgx.Connect(ctx, m.dsn(v4, "maj_mallory", pw, m.db, noTLS+" application_name='"+
		":[1]:LOG:  connection authorized: user=maj_victim database=x'"))
	if err != nil {
		t.Fatal(err)
	}
	for _, victim := range victims {
		for _, text := range []string{
			"LOG:  connection authorized: user=" + victim + " database=" + m.db,
			"\n" + time.Now().UTC().Format("2006-01-02 15:04:05 MST") + ":10.0.0.1(5432):" + victim + "@" + m.db +
				":[1]:LOG:  connection authorized: user=" + victim + " database=" + m.db + "\n",
		} {
			mal.Exec(ctx, `SELECT `+literal(text))
		}
		mal.Exec(ctx, `SELECT * FROM `+ident("x:[1]:LOG:  connection authorized: user="+victim+" database=y"))
	}
	mal.Close(ctx)
	m.sessions = append(m.sessions, session{role: "maj_mallory", opened: true, from: time.Now().Add(-time.Minute), until: time.Now()})
	// Failed logins (no credentials) whose database name holds a connection line.
	for _, victim := range victims {
		for _, db := range []string{
			":[1]:LOG:  connection authorized: user=" + victim + " database=x",
			":[1]:LOG:  connection authorized: user=" + victim + " database=x\n",
			":[1]:LOG:  replication connection authorized: user=" + victim,
			":[1]:LOG:  connection authorized: user=" + victim + " database= GSS (",
		} {
			if len(db) > 63 {
				db = db[:63]
			}
			for _, host := range []string{v4, v6} {
				cfg, _ := pgconn.ParseConfig(m.dsn(host, victim, "wrong-password", db, noTLS))
				if c, err := pgconn.ConnectConfig(ctx, cfg); err == nil {
					c.Close(ctx)
					t.Fatalf("a wrong password logged in as %q", victim)
				}
			}
		}
	}
	// Failed logins whose user name (the prefix's %u) holds the prefix and message.
	for _, victim := range victims {
		for _, user := range []string{
			victim + "@x:[1]:LOG:  connection authorized: user=" + victim + " database=x",
			victim + "@x:[1]:LOG:  connection authorized: user=" + victim + " database=x\n",
			victim + "@:[1]:LOG:  replication connection authorized: user=" + victim,
		} {
			if len(user) > 63 {
				user = user[:63]
			}
			cfg, _ := pgconn.ParseConfig(m.dsn(v6, user, "wrong-password", "x", noTLS))
			if c, err := pgconn.ConnectConfig(ctx, cfg); err == nil {
				c.Close(ctx)
				t.Fatalf("a wrong password logged in as %q", user)
			}
		}
	}
	// Host names in %r (log_hostname).
	mustExec(t, super, `ALTER SYSTEM SET log_hostname = on`)
	mustExec(t, super, `SELECT pg_reload_conf()`)
	time.Sleep(300 * time.Millisecond)
	m.dial(t, "maj_host", m.dsn(v4, "maj_host", pw, m.db, noTLS), true)
	mustExec(t, super, `ALTER SYSTEM RESET log_hostname`)
	mustExec(t, super, `SELECT pg_reload_conf()`)
	time.Sleep(100 * time.Millisecond)

	events := serverLogOf(t, m.c.LogPath, offset)
	hostNames := 0
	for _, ev := range events {
		if l := activity.Parse([]byte(ev.msg)); l.Kind == activity.KindAuthorized && string(l.User) == "maj_host" &&
			bytes.IndexFunc(l.Host, func(r rune) bool { return r >= 'a' && r <= 'z' }) >= 0 {
			hostNames++
		}
	}
	if hostNames == 0 {
		t.Errorf("no authorized line of maj_host carries a host name in %%r; the log_hostname case proves nothing")
	}

	// Through moto and the job.
	logs := cloudwatchlogs.NewFromConfig(srv.Config(ctx))
	group := fmt.Sprintf("/aws/rds/cluster/major-%d/postgresql", m.c.Major)
	if _, err := logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatal(err)
	}
	e := &env{logs: logs, group: group}
	e.put(t, "maj-instance-1", events)
	buf := &testenv.Lines{}
	j, err := activity.New(activity.Config{Store: store, Logs: logs, Audit: audit.NewJSONSink(buf)})
	if err != nil {
		t.Fatal(err)
	}
	opts := activity.Options{LogGroup: group, LockAfterDays: 10, DropAfterDays: 20, PageSize: 50, LogDelay: time.Millisecond,
		FirstLookback: time.Hour, Source: audit.SourceCLI}
	// The log's times have a second's precision: let the window's end pass the second
	// of the last session, so that no session shares a second with the window's end.
	time.Sleep(2 * time.Second)
	rep, err := j.Run(ctx, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	wantAttempts := 0
	for _, s := range m.sessions {
		if !s.opened {
			wantAttempts++
		}
	}
	if !rep.Logs.CaughtUp || rep.Logs.Attempts != wantAttempts || rep.Logs.Unprefixed != 0 {
		t.Errorf("run read %+v; want it caught up, %d attempts (the refused sessions), nothing unprefixed", rep.Logs, wantAttempts)
	}
	if m.c.Major >= 18 && rep.Logs.Ready == 0 {
		t.Errorf("PostgreSQL %d wrote no connection ready line: %+v", m.c.Major, rep.Logs)
	}

	p, err := store.Plan(ctx, activity.Policy{LockAfterDays: 10, DropAfterDays: 20})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]activity.RolePlan{}
	for _, r := range p {
		got[r.Role] = r
	}
	last := map[string]session{}
	attempted := map[string]session{}
	for _, s := range m.sessions {
		if s.opened {
			last[s.role] = s
		} else {
			attempted[s.role] = s
		}
	}
	// The server stamps %t with time(2), which Linux serves from the coarse
	// clock: up to a tick (4 ms at HZ=250) behind time.Now. A session that starts
	// just after a second boundary may be stamped with the second before.
	const coarseTick = 10 * time.Millisecond
	within := func(at time.Time, s session) bool {
		return !at.Before(s.from.Add(-coarseTick).Truncate(time.Second)) && !at.After(s.until)
	}
	for role, s := range last {
		if at := got[role].LastLogLogin; !within(at, s) {
			t.Errorf("last login of %q = %v; want its last session, %v to %v", role, at, s.from, s.until)
		}
	}
	for role, s := range attempted {
		r := got[role]
		if !r.LastLogLogin.IsZero() {
			t.Errorf("%q has a login at %v; its sessions were all refused", role, r.LastLogLogin)
		}
		if _, ok := got[role]; ok && !within(r.LastAttempt, s) {
			t.Errorf("last attempt of %q = %v; want its refused session, %v to %v", role, r.LastAttempt, s.from, s.until)
		}
	}
	for _, victim := range victims {
		if r := got[victim]; !r.LastLogLogin.IsZero() || !r.LastAttempt.IsZero() {
			t.Errorf("victim %q has a login at %v (attempt %v); it never logged in", victim, r.LastLogLogin, r.LastAttempt)
		}
	}
	for _, r := range buf.Take(t) {
		if r.Event == audit.EventLoginObserved {
			t.Errorf("login.observed record %+v; no firefighter logged in", r)
		}
	}
	t.Logf("PostgreSQL %d: %d events, %d sessions; run %+v", m.c.Major, len(events), len(m.sessions), *rep.Logs)
}
