package broker_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsrds "github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/jackc/pgx/v5"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/postgres"
	"github.com/ffbroker/ffbroker/broker/rds"
	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// aurora is the package's cluster as the writer of an Aurora cluster in moto's RDS,
// with a hot standby streaming from it as its reader. The broker finds both through
// the RDS API; the endpoints moto invents resolve to them (the connector's resolver,
// the one fake: RDS's DNS).
type aurora struct {
	standby *pgtest.Standby
	lister  *rds.Lister
	addrs   map[string]string
}

func newAurora(t *testing.T, name string) *aurora {
	t.Helper()
	ctx := context.Background()
	sb, err := shared.Cluster.NewStandby(ctx, pgtest.StandbyOptions{})
	if err != nil {
		t.Fatalf("NewStandby: %v", err)
	}
	t.Cleanup(sb.Close)
	api := awsrds.NewFromConfig(shared.Moto(t).Config(ctx))
	if _, err := api.CreateDBCluster(ctx, &awsrds.CreateDBClusterInput{DBClusterIdentifier: aws.String(name), Engine: aws.String("aurora-postgresql"),
		MasterUsername: aws.String("master"), MasterUserPassword: aws.String("master-password-0123456789")}); err != nil {
		t.Fatalf("CreateDBCluster(%s): %v", name, err)
	}
	a := &aurora{standby: sb, lister: rds.New(api, name), addrs: map[string]string{}}
	for _, inst := range []struct {
		id   string
		port int
	}{{name + "-writer", shared.Cluster.Port}, {name + "-reader", sb.Port}} {
		out, err := api.CreateDBInstance(ctx, &awsrds.CreateDBInstanceInput{DBInstanceIdentifier: aws.String(inst.id), DBClusterIdentifier: aws.String(name),
			DBInstanceClass: aws.String("db.r6g.large"), Engine: aws.String("aurora-postgresql")})
		if err != nil {
			t.Fatalf("CreateDBInstance(%s): %v", inst.id, err)
		}
		a.addrs[aws.ToString(out.DBInstance.Endpoint.Address)] = net.JoinHostPort(shared.Cluster.Host, strconv.Itoa(inst.port))
	}
	return a
}

// resolve maps the instance endpoints to the servers; any other name does not exist.
func (a *aurora) resolve(_ context.Context, host string) ([]string, error) {
	if addr, ok := a.addrs[host]; ok {
		return []string{addr}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// broker is f's broker that reaches every instance of a.
func (a *aurora) broker(t *testing.T, f *fixture, d deps) *broker.Broker {
	t.Helper()
	c := f.connector(t)
	c.Resolve = a.resolve
	b, err := broker.New(broker.Config{
		Policy: broker.DefaultPolicy(f.vars.Prefix), DB: d.db, Secrets: d.secrets, Audit: d.sink,
		Target: broker.Target{Host: shared.Cluster.Host, Port: shared.Cluster.Port, DBName: f.DB, SSLMode: "disable"},
		Proofs: newProofs(t), Instances: postgres.NewInstances(a.lister, c),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readerSession issues ro for incident through b and logs in with its secret on the
// standby once it has replayed the password.
func (a *aurora) readerSession(t *testing.T, f *fixture, b *broker.Broker, incident string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	if _, err := issueRO(ctx, b, incident); err != nil {
		t.Fatalf("Issue(ro, %s): %v", incident, err)
	}
	if err := a.standby.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	v, _, _ := f.current(t, f.FirefighterRO)
	conn, err := a.standby.Connect(ctx, v.Username, v.Password.Reveal(), v.DBName)
	if err != nil {
		t.Fatalf("ro login on the reader: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if n := a.readerSessions(t, f.FirefighterRO); n != 1 {
		t.Fatalf("ro sessions on the reader = %d; want 1", n)
	}
	return conn
}

// readerSessions counts role's sessions on the standby.
func (a *aurora) readerSessions(t *testing.T, role string) int {
	t.Helper()
	ctx := context.Background()
	c, err := a.standby.ConnectSuper(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE usename = $1`, role).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// assertEnded checks that the reader's session is gone: none left on the standby,
// and the session's next query fails with admin_shutdown (57P01).
func (a *aurora) assertEnded(t *testing.T, f *fixture, conn *pgx.Conn, after string) {
	t.Helper()
	if n := a.readerSessions(t, f.FirefighterRO); n != 0 {
		t.Errorf("ro sessions on the reader after %s = %d; want 0", after, n)
	}
	_, err := conn.Exec(context.Background(), "SELECT 1")
	if got := pgtest.SQLState(err); got != "57P01" {
		t.Errorf("the reader session's next query after %s: %v (SQLSTATE %q); want 57P01 admin_shutdown", after, err, got)
	}
}

func TestRevokeEndsSessionsOnEveryInstance(t *testing.T) {
	f := newFixture(t, "revinst")
	a := newAurora(t, "ffb-revinst")
	b := a.broker(t, f, f.deps(t))
	reader := a.readerSession(t, f, b, "INC-RI1")

	out, err := b.Revoke(context.Background(), broker.RevokeInput{Role: "ro", IncidentID: "INC-RI1", Caller: broker.Caller{ARN: alice, Key: alice}, Source: audit.SourceAPI})
	if err != nil {
		t.Fatalf("Revoke(ro, INC-RI1) error = %v", err)
	}
	if out.SessionsTerminated != 1 {
		t.Errorf("Revoke = %+v; want 1 session terminated (the reader's)", out)
	}
	a.assertEnded(t, f, reader, "revoke")
}

func TestSweepEndsSessionsOnEveryInstanceAtExpiry(t *testing.T) {
	f := newFixture(t, "swpinst")
	a := newAurora(t, "ffb-swpinst")
	b := a.broker(t, f, f.deps(t))
	reader := a.readerSession(t, f, b, "INC-SI1")
	if _, err := f.super(t).Exec(context.Background(), `UPDATE db_admin.firefighter_grant SET issued_at = issued_at - interval '3 hours',
		expires_at = expires_at - interval '3 hours' WHERE role = $1`, f.FirefighterRO); err != nil {
		t.Fatal(err)
	}

	out, err := b.Sweep(context.Background(), "req-sweep", audit.SourceSchedule)
	if err != nil {
		t.Fatalf("Sweep error = %v", err)
	}
	if len(out.Expired) != 1 || out.Expired[0].Role != f.FirefighterRO || out.Expired[0].SessionsTerminated != 1 {
		t.Errorf("Sweep expired %+v; want ro with 1 session terminated (the reader's)", out.Expired)
	}
	a.assertEnded(t, f, reader, "the sweep")
}

// A reader session that outlived a revoke made without the other instances (the
// writer alone) ends at the next sweep that reaches them, though the writer has
// nothing left to take back.
func TestNextSweepEndsAReaderSessionARevokeLeft(t *testing.T) {
	f := newFixture(t, "leftinst")
	a := newAurora(t, "ffb-leftinst")
	d := f.deps(t)
	writerOnly := f.broker(t, d)
	reader := a.readerSession(t, f, writerOnly, "INC-LI1")
	if _, err := writerOnly.Revoke(context.Background(), broker.RevokeInput{Role: "ro", IncidentID: "INC-LI1", Caller: broker.Caller{ARN: alice, Key: alice}, Source: audit.SourceAPI}); err != nil {
		t.Fatalf("Revoke(ro, INC-LI1) on the writer alone: %v", err)
	}
	if n := a.readerSessions(t, f.FirefighterRO); n != 1 {
		t.Fatalf("ro sessions on the reader after a writer-only revoke = %d; want 1 (what the sweep must end)", n)
	}
	before := len(f.audit.Records(t))

	out, err := a.broker(t, f, d).Sweep(context.Background(), "req-sweep", audit.SourceSchedule)
	if err != nil {
		t.Fatalf("Sweep error = %v", err)
	}
	if len(out.Expired) != 1 || out.Expired[0].SessionsTerminated != 1 {
		t.Errorf("Sweep expired %+v; want ro with the reader's session terminated", out.Expired)
	}
	a.assertEnded(t, f, reader, "the next sweep")
	var terminated []string
	for _, r := range f.audit.Records(t)[before:] {
		if r["event"] == string(audit.EventSessionsTerminated) {
			terminated = append(terminated, fmt.Sprintf("%v %v", r["outcome"], r["sessions_terminated"]))
		}
	}
	if len(terminated) != 1 || terminated[0] != "success 1" {
		t.Errorf("sessions.terminated records = %q; want one success with 1 session", terminated)
	}
}
