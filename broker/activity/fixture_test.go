package activity_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/jackc/pgx/v5"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker/activity"
	"github.com/ffbroker/ffbroker/broker/postgres"
	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// env is one bootstrapped role model (its own prefix and database), the activity
// monitor's store, a log group of its own in the shared moto, and an audit buffer.
type env struct {
	pgtest.RoleModel
	vars             pgtest.Vars
	activityPassword string
	store            *activity.Store
	logs             *cloudwatchlogs.Client
	group            string
	audit            *testenv.Lines
}

func newEnv(t testing.TB, prefix string) *env {
	t.Helper()
	ctx := context.Background()
	srv := shared.Moto(t)
	v := pgtest.Vars{Prefix: prefix, DBName: strings.ReplaceAll(prefix, "_", "-") + "-db", AppSchema: "app-schema", Flavor: "aurora"}
	e := &env{RoleModel: shared.Bootstrap(t, v), vars: v,
		activityPassword: "activity-" + prefix + "-password-0123456789",
		logs:             cloudwatchlogs.NewFromConfig(srv.Config(ctx)),
		group:            "/aws/rds/cluster/" + prefix + "/postgresql", audit: &testenv.Lines{}}
	if err := shared.Cluster.SetPassword(ctx, e.Activity, e.activityPassword); err != nil {
		t.Fatal(err)
	}
	// The tests move the policy's clock by days: the admin's policy floor is one
	// day to lock and two to drop (the bootstrap's default is 90 and 180).
	mustExec(t, e.super(t), `SELECT db_admin.activity_set_policy(1, 2)`)
	e.store = activity.NewStore(e.connector(t))
	t.Cleanup(func() { e.store.Close(context.Background()) })
	if _, err := e.logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(e.group)}); err != nil {
		t.Fatalf("create log group: %v", err)
	}
	return e
}

// connector logs in as the activity monitor (password mode, local use).
func (e *env) connector(t testing.TB) *postgres.Connector {
	return shared.Connector(t, e.Activity, e.activityPassword, e.DB)
}

// job wires a Job to the env; logs may wrap e.logs.
func (e *env) job(t testing.TB, logs activity.LogsAPI, now func() time.Time) *activity.Job {
	t.Helper()
	if logs == nil {
		logs = e.logs
	}
	j, err := activity.New(activity.Config{Store: e.store, Logs: logs, Audit: audit.NewJSONSink(e.audit), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// opts are the options of a test run: this env's log group, small pages, no delay.
// reportOpts are the options of a run that only reports: it locks and drops
// nobody, and leaves out the logins other tests created.
func (e *env) reportOpts(t *testing.T) activity.Options {
	t.Helper()
	opts := e.opts()
	opts.Exclude = loginRoles(t, e)
	opts.LockAfterDays, opts.DropAfterDays = 0, 0
	return opts
}

func (e *env) opts() activity.Options {
	return activity.Options{LogGroup: e.group, LockAfterDays: 10, DropAfterDays: 20, PageSize: 5,
		LogDelay: time.Millisecond, Source: audit.SourceCLI, RequestID: "req-" + e.vars.Prefix}
}

func (e *env) super(t testing.TB) *pgx.Conn {
	t.Helper()
	c, err := shared.Cluster.ConnectSuper(context.Background(), e.DB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// master connects to the env's database as the Aurora-like master user.
func (e *env) master(t testing.TB) *pgx.Conn {
	t.Helper()
	c, err := shared.Cluster.Connect(context.Background(), pgtest.MasterUser, pgtest.MasterPassword, e.DB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// shiftClock sets the policy's clock shift, as the admin (or a DBA) would.
func (e *env) shiftClock(t testing.TB, d time.Duration) {
	t.Helper()
	mustExec(t, e.super(t), `UPDATE db_admin.activity_clock SET shift = make_interval(secs => $1)`, d.Seconds())
}

// loginRole creates a login role with a password and CONNECT, as superuser.
func (e *env) loginRole(t testing.TB, name, password string) {
	t.Helper()
	s := e.super(t)
	mustExec(t, s, fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD %s`, ident(name), literal(password)))
	mustExec(t, s, fmt.Sprintf(`GRANT CONNECT ON DATABASE %s TO %s`, ident(e.DB), ident(name)))
	t.Cleanup(func() { dropRole(e, name) })
}

// dropRole drops a test role and what it owns in the env's database, if it exists.
func dropRole(e *env, name string) {
	ctx := context.Background()
	c, err := shared.Cluster.ConnectSuper(ctx, e.DB)
	if err != nil {
		return
	}
	defer c.Close(ctx)
	var exists bool
	if c.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)`, name).Scan(&exists); exists {
		c.Exec(ctx, `DROP OWNED BY `+ident(name))
		c.Exec(ctx, `DROP ROLE `+ident(name))
	}
}

// loginAs logs in as role and out again: one "connection authorized" line.
func (e *env) loginAs(t testing.TB, role, password string) {
	t.Helper()
	c, err := shared.Cluster.Connect(context.Background(), role, password, e.DB)
	if err != nil {
		t.Fatalf("login as %q: %v", role, err)
	}
	c.Close(context.Background())
}

// put stores lines in the env's log group, each event at its time, in one stream.
func (e *env) put(t testing.TB, stream string, events []logEvent) {
	t.Helper()
	ctx := context.Background()
	_, err := e.logs.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(e.group), LogStreamName: aws.String(stream)})
	if err != nil && !strings.Contains(err.Error(), "ResourceAlreadyExists") {
		t.Fatal(err)
	}
	for batch := range slices.Chunk(events, 5000) {
		in := &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(e.group), LogStreamName: aws.String(stream)}
		for _, ev := range batch {
			in.LogEvents = append(in.LogEvents, types.InputLogEvent{Message: aws.String(ev.msg), Timestamp: aws.Int64(ev.at.UnixMilli())})
		}
		// No SDK retry: a retried batch that moto had stored would be stored twice.
		if _, err := e.logs.PutLogEvents(ctx, in, func(o *cloudwatchlogs.Options) { o.RetryMaxAttempts = 1 }); err != nil {
			t.Fatalf("put %d log events: %v", len(batch), err)
		}
	}
}

// logEvent is one event to put into CloudWatch Logs.
type logEvent struct {
	at  time.Time
	msg string
}

// entryStart matches the first line of a server log entry (Aurora's %t).
var entryStart = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]+:`)

// serverLog returns the server log's entries after offset, as Aurora publishes them:
// one event per entry, continuation lines included, at the entry's %t.
func serverLog(t testing.TB, offset int) []logEvent {
	t.Helper()
	return serverLogOf(t, shared.Cluster.LogPath, offset)
}

// serverLogOf is serverLog of the server log at path.
func serverLogOf(t testing.TB, path string, offset int) []logEvent {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []logEvent
	sc := bufio.NewScanner(bytes.NewReader(b[offset:]))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !entryStart.MatchString(line) {
			if len(out) > 0 {
				out[len(out)-1].msg += "\n" + line
			}
			continue
		}
		at, err := time.Parse("2006-01-02 15:04:05 MST", line[:23])
		if err != nil {
			t.Fatalf("time of %q: %v", line, err)
		}
		out = append(out, logEvent{at: at, msg: line})
	}
	return out
}

// logSize is the server log's length now, the offset of what comes next.
func logSize(t testing.TB) int {
	t.Helper()
	fi, err := os.Stat(shared.Cluster.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return int(fi.Size())
}

// waitLog waits until the server has written a line containing s after offset
// (the log is written asynchronously by the backend that logs in).
func waitLog(t testing.TB, offset int, s string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		b, _ := os.ReadFile(shared.Cluster.LogPath)
		if len(b) > offset && bytes.Contains(b[offset:], []byte(s)) {
			return
		}
	}
	t.Fatalf("the server log has no %q", s)
}

func mustExec(t testing.TB, c *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := c.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// loginRoles lists every login role of the cluster now: a test that applies the
// policy excludes those it did not create, since roles are cluster-wide.
func loginRoles(t testing.TB, e *env) []string {
	t.Helper()
	rows, err := e.super(t).Query(context.Background(), `SELECT rolname::text FROM pg_roles WHERE rolcanlogin ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// plan returns the plan as a map by role.
func plan(t testing.TB, e *env, o activity.Options) map[string]activity.RolePlan {
	t.Helper()
	p, err := e.store.Plan(context.Background(), activity.Policy{LockAfterDays: o.LockAfterDays, DropAfterDays: o.DropAfterDays, Exclude: o.Exclude})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]activity.RolePlan{}
	for _, r := range p {
		m[r.Role] = r
	}
	return m
}
