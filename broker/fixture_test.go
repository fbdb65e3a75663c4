package broker_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/internal/testenv"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/postgres"
	"github.com/ffbroker/ffbroker/broker/secretsmanager"
	"github.com/ffbroker/ffbroker/internal/awstest"
	"github.com/ffbroker/ffbroker/internal/pgtest"
	"github.com/ffbroker/ffbroker/internal/secretstest"
)

// fixture is one bootstrapped role model (its own prefix and database), a Secrets
// Manager prefix of its own in the shared moto, and a broker wired to both.
type fixture struct {
	pgtest.RoleModel
	vars           pgtest.Vars
	brokerPassword string
	// approverPassword is the approver login's: the second person's decisions are
	// recorded through it, never through the broker's.
	approverPassword string
	sm               *sm.Client
	secretPrefix     string
	audit            *testenv.Lines
}

func newFixture(t testing.TB, prefix string) *fixture {
	t.Helper()
	ctx := context.Background()
	srv := shared.Moto(t)
	v := pgtest.Vars{Prefix: prefix, DBName: strings.ReplaceAll(prefix, "_", "-") + "-db", Flavor: "aurora"}
	f := &fixture{RoleModel: shared.Bootstrap(t, v), vars: v, brokerPassword: "broker-" + prefix + "-password-0123456789",
		sm: sm.NewFromConfig(srv.Config(ctx)), secretPrefix: "firefighter/" + prefix, audit: &testenv.Lines{}}
	f.approverPassword = "approver-" + prefix + "-password-0123456789"
	for role, pw := range map[string]string{f.Broker: f.brokerPassword, f.Approver: f.approverPassword} {
		if err := shared.Cluster.SetPassword(ctx, role, pw); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// issue issues in through b the way production does: ro at once; rw (which needs a
// second person) as a request recorded for in's requester through the broker's login,
// approved by bob through the approver's own login, then issued from the ledgers.
func (f *fixture) issue(t testing.TB, b *broker.Broker, in broker.IssueInput) (broker.IssueOutput, error) {
	t.Helper()
	if in.Request.Role != "rw" {
		return b.Issue(context.Background(), in)
	}
	id := f.approvedRequest(t, in)
	return b.IssueApproved(context.Background(), broker.IssueApprovedInput{AccessRequestID: id, RequestID: in.RequestID, Source: in.Source})
}

// approvedRequest records in as a request and approves it as bob; it returns the
// request id.
func (f *fixture) approvedRequest(t testing.TB, in broker.IssueInput) string {
	t.Helper()
	ctx := context.Background()
	hours := in.Request.Hours
	if hours == 0 {
		hours = 1
	}
	// The requester's own proof, as Submit keeps it: the issue step checks it.
	who, ok := strings.CutPrefix(in.Requester, "arn:aws:iam::"+awstest.AccountID+":user/")
	if !ok {
		t.Fatalf("approvedRequest: requester %s is not one of the tests' people", in.Requester)
	}
	reqBody, _ := json.Marshal(broker.Request{Role: "rw", IncidentID: in.Request.IncidentID, Hours: hours, Reason: in.Request.Reason})
	requester := caller(t, who, "POST", "/access", reqBody, time.Now())
	store := postgres.NewStore(f.connector(t))
	defer store.Close(ctx)
	sub, err := store.SubmitRequest(ctx, broker.NewAccessRequest{ID: uuid.NewString(), Role: f.FirefighterRW,
		IncidentID: in.Request.IncidentID, Hours: hours, Reason: in.Request.Reason, Requester: requester.ARN, RequesterKey: requester.Key,
		Proof: requester.Proof, Body: requester.Body})
	if err != nil {
		t.Fatalf("SubmitRequest(rw, %s): %v", in.Request.IncidentID, err)
	}
	body := []byte(`{"decision":"approve"}`)
	approver := caller(t, "bob", "POST", "/approvals/"+sub.ID, body, time.Now())
	approvals := postgres.NewApprovalStore(shared.Connector(t, f.Approver, f.approverPassword, f.DB))
	defer approvals.Close(ctx)
	if _, err := approvals.Decide(ctx, broker.Decision{RequestID: sub.ID, Decision: "approve", Approver: approver.ARN, ApproverKey: approver.Key,
		Proof: approver.Proof, Body: body}); err != nil {
		t.Fatalf("Decide(%s, approve) as bob: %v", sub.ID, err)
	}
	return sub.ID
}

// connector logs in as the broker (password mode, local use).
func (f *fixture) connector(t testing.TB) *postgres.Connector {
	return shared.Connector(t, f.Broker, f.brokerPassword, f.DB)
}

// deps are the parts of one broker, each replaceable by a test.
type deps struct {
	db      broker.Database
	secrets broker.Secrets
	sink    audit.Sink
	store   *postgres.Store
	sstore  *secretsmanager.Store
}

func (f *fixture) deps(t testing.TB) deps {
	t.Helper()
	store := postgres.NewStore(f.connector(t))
	t.Cleanup(func() { store.Close(context.Background()) })
	ss := secretsmanager.New(f.sm, f.secretPrefix, map[string]string{"ffbroker:cluster": "test"})
	return deps{db: store, secrets: ss, sink: audit.NewJSONSink(f.audit), store: store, sstore: ss}
}

// spy puts a secretstest.Spy between d's secrets store and moto_server and returns it.
func (d *deps) spy(f *fixture) *secretstest.Spy {
	spy := secretstest.NewSpy(f.sm)
	d.sstore = secretsmanager.New(spy, f.secretPrefix, nil)
	d.secrets = d.sstore
	return spy
}

// spiedBroker is a fixture named prefix whose broker reaches Secrets Manager
// through a Spy.
func spiedBroker(t *testing.T, prefix string) (*fixture, deps, *secretstest.Spy, *broker.Broker) {
	t.Helper()
	f := newFixture(t, prefix)
	d := f.deps(t)
	spy := d.spy(f)
	return f, d, spy, f.broker(t, d)
}

// issueRO issues ro to alice for incident.
func issueRO(ctx context.Context, b *broker.Broker, incident string) (broker.IssueOutput, error) {
	return b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: incident},
		Requester: alice, RequesterKey: alice, Source: audit.SourceAPI})
}

// serverFaultIf is secretstest.ServerFault when on, else no fault.
func serverFaultIf(on bool) secretstest.Fault {
	if on {
		return secretstest.ServerFault
	}
	return nil
}

func (f *fixture) broker(t testing.TB, d deps) *broker.Broker {
	t.Helper()
	b, err := broker.New(broker.Config{
		Policy: broker.DefaultPolicy(f.vars.Prefix), DB: d.db, Secrets: d.secrets, Audit: d.sink,
		Target: broker.Target{Host: shared.Cluster.Host, Port: shared.Cluster.Port, DBName: f.DB, SSLMode: "disable"},
		Proofs: newProofs(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// current reads the role's AWSCURRENT secret as a firefighter's tools would.
func (f *fixture) current(t testing.TB, role string) (broker.SecretValue, string, bool) {
	t.Helper()
	out, err := f.sm.GetSecretValue(context.Background(), &sm.GetSecretValueInput{
		SecretId: aws.String(broker.SecretName(f.secretPrefix, role)), VersionStage: aws.String("AWSCURRENT")})
	if err != nil {
		return broker.SecretValue{}, "", false
	}
	v, err := broker.ParseSecretValue(aws.ToString(out.SecretString))
	if err != nil {
		t.Fatal(err)
	}
	return v, aws.ToString(out.VersionId), true
}

// loginWith logs in with a secret's own connection details.
func loginWith(ctx context.Context, v broker.SecretValue) (*pgx.Conn, error) {
	return shared.Cluster.Connect(ctx, v.Username, v.Password.Reveal(), v.DBName)
}

func (f *fixture) super(t testing.TB) *pgx.Conn {
	t.Helper()
	c, err := shared.Cluster.ConnectSuper(context.Background(), f.DB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// dbState is what a refused request must leave unchanged in the database.
func (f *fixture) dbState(t testing.TB) string { t.Helper(); return shared.DBState(t, f.RoleModel) }

// secretsState is what it must leave unchanged in Secrets Manager.
func (f *fixture) secretsState(t testing.TB) string {
	t.Helper()
	return testenv.SecretsState(t, f.sm, f.secretPrefix, f.RoleModel)
}

func validUntil(t testing.TB, f *fixture, role string) time.Time {
	t.Helper()
	var until time.Time
	if err := f.super(t).QueryRow(context.Background(), `SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1`, role).Scan(&until); err != nil {
		t.Fatal(err)
	}
	return until
}
