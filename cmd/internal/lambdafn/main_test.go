package lambdafn_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
	"github.com/ffbroker/ffbroker/internal/awstest"
	"github.com/ffbroker/ffbroker/internal/pgtest"
	"github.com/ffbroker/ffbroker/internal/testenv"
)

// One PostgreSQL cluster and one moto_server for the package.
var shared testenv.Env

func TestMain(m *testing.M) {
	code := testenv.Run(m, pgtest.Options{}, &shared)
	removeBootstraps()
	os.Exit(code)
}

// auditLines collects the JSON audit output of the handlers.
type auditLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (a *auditLines) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.buf.Write(p)
}

func (a *auditLines) records(t *testing.T) []map[string]any {
	t.Helper()
	a.mu.Lock()
	text := a.buf.String()
	a.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// env is a bootstrapped role model with the seed's names (the sample events use
// them), the functions' dependencies built as in the Lambda init phase, and a state
// machine in moto.
type env struct {
	deps  *lambdafn.Deps
	audit *auditLines
	names pgtest.Names
}

var (
	envOnce sync.Once
	theEnv  *env
	envErr  error
)

// sharedEnv bootstraps once per package: the events use the seed's fixed names.
func sharedEnv(t testing.TB) *env {
	t.Helper()
	srv := shared.Moto(t)
	envOnce.Do(func() { theEnv, envErr = newEnv(srv, pgtest.Vars{Flavor: "aurora"}) })
	if envErr != nil {
		t.Fatal(envErr)
	}
	return theEnv
}

const (
	brokerPassword   = "broker-password-for-handler-tests-0123456789"
	activityLogGroup = "/aws/rds/cluster/test/postgresql"
)

func newEnv(srv *awstest.Server, v pgtest.Vars) (*env, error) {
	ctx := context.Background()
	if _, err := shared.Cluster.Bootstrap(ctx, v); err != nil {
		return nil, err
	}
	names := v.Names()
	if err := shared.Cluster.SetPassword(ctx, names.Broker, brokerPassword); err != nil {
		return nil, err
	}
	awsCfg := srv.Config(ctx)
	sm, err := sfn.NewFromConfig(awsCfg).CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name:       aws.String("ffbroker-approval-" + names.Broker),
		RoleArn:    aws.String("arn:aws:iam::123456789012:role/ffbroker-approval"),
		Definition: aws.String(`{"StartAt":"Wait","States":{"Wait":{"Type":"Wait","Seconds":600,"End":true}}}`),
	})
	if err != nil {
		return nil, err
	}
	getenv := func(k string) string {
		return map[string]string{
			"FFB_DB_HOST": shared.Cluster.Host, "FFB_DB_PORT": itoa(shared.Cluster.Port), "FFB_DB_NAME": names.DB, "FFB_DB_USER": names.Broker,
			"FFB_DB_AUTH": "password", "FFB_DB_PASSWORD": brokerPassword, "FFB_DB_SSLMODE": "disable",
			"FFB_ROLE_PREFIX": strings.TrimSuffix(names.Admin, "_admin"), "FFB_TARGET_SSLMODE": "disable",
			"FFB_STATE_MACHINE_ARN": aws.ToString(sm.StateMachineArn), "AWS_REGION": awstest.Region,
			"FFB_ACTIVITY_LOG_GROUP": activityLogGroup, "FFB_ACTIVITY_DB_USER": strings.TrimSuffix(names.Admin, "_admin") + "_activity_monitor",
		}[k]
	}
	// Local password mode: the activity role logs in with FFB_DB_PASSWORD too.
	if err := shared.Cluster.SetPassword(ctx, strings.TrimSuffix(names.Admin, "_admin")+"_activity_monitor", brokerPassword); err != nil {
		return nil, err
	}
	if _, err := cloudwatchlogs.NewFromConfig(awsCfg).CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(activityLogGroup)}); err != nil {
		return nil, err
	}
	cfg, err := lambdafn.LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	a := &auditLines{}
	d, err := lambdafn.BuildWith(cfg, awsCfg, a)
	if err != nil {
		return nil, err
	}
	d.WithEnv(func(k string) string {
		if strings.HasPrefix(k, "AWS_") {
			return os.Getenv(k)
		}
		return getenv(k)
	})
	return &env{deps: d, audit: a, names: names}, nil
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// readEvent reads a sample event from events/.
func readEvent(t testing.TB, name string) json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("../../../events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dbState is what a refused event must leave unchanged.
func (e *env) dbState(t *testing.T) string {
	t.Helper()
	c, err := shared.Cluster.ConnectSuper(context.Background(), e.names.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var s string
	if err := c.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM db_admin.firefighter_grant)::text || '|' ||
		(SELECT string_agg(rolname || '=' || coalesce(rolvaliduntil::text, 'null') || '/' || coalesce(md5(rolpassword), 'null'), ',' ORDER BY rolname)
		 FROM pg_authid WHERE rolname LIKE '%firefighter%')`).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// secretsState is the current version of each role's secret.
func (e *env) secretsState(t *testing.T) string {
	t.Helper()
	var parts []string
	for _, r := range []string{e.names.FirefighterRO, e.names.FirefighterRW} {
		_, ref, err := e.deps.Secrets.Current(context.Background(), r)
		if err != nil && broker.ErrorCode(err) != broker.CodeNotFound {
			t.Fatal(err)
		}
		parts = append(parts, r+"="+ref.VersionID)
	}
	return strings.Join(parts, ",")
}
