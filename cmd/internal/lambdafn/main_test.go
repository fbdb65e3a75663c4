package lambdafn_test

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/ffbroker/ffbroker/cmd/internal/config"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
	"github.com/ffbroker/ffbroker/identity"
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

// env is a bootstrapped role model with the default names (the sample events use
// them), the functions' dependencies built as in the Lambda init phase (the approve
// function on the approver's own login), a state machine in moto, and moto IAM users
// who stand for people: alice (on call), bob (an approver), mallory (in the account,
// on no list).
type env struct {
	issue, expire, approve, activity *lambdafn.Deps
	audit                            *testenv.Lines
	names                            pgtest.RoleModel
	srv                              *awstest.Server
	people                           map[string]aws.Config
}

// The identity of the deployment and the people of the tests.
const (
	// requesters is FFB_REQUESTERS of the tests: the four people, Identity Center's
	// sessions and role Engineer (whose sessions may ask for read-only only); role
	// BuildServer is on no list.
	requesters = "arn:aws:iam::123456789012:user/alice,arn:aws:iam::123456789012:user/bob,arn:aws:iam::123456789012:user/carol," +
		"arn:aws:iam::123456789012:user/mallory,arn:aws:iam::123456789012:role/AWSReservedSSO_*,arn:aws:iam::123456789012:role/Engineer"
	serverID = "ffbroker-test"
	aliceARN = "arn:aws:iam::123456789012:user/alice"
	bobARN   = "arn:aws:iam::123456789012:user/bob"
)

var (
	envOnce sync.Once
	theEnv  *env
	envErr  error
)

// sharedEnv bootstraps once per package: the events use the default names.
func sharedEnv(t testing.TB) *env {
	t.Helper()
	srv := shared.Moto(t)
	envOnce.Do(func() {
		ctx := context.Background()
		names := pgtest.Vars{Flavor: "aurora"}.Model()
		if _, envErr = shared.Cluster.Bootstrap(ctx, pgtest.Vars{Flavor: "aurora"}); envErr != nil {
			return
		}
		for _, r := range []string{names.Broker, names.Approver, names.Activity} {
			if envErr = shared.Cluster.SetPassword(ctx, r, loginPassword(r)); envErr != nil {
				return
			}
		}
		awsCfg := srv.Config(ctx)
		var sm *sfn.CreateStateMachineOutput
		sm, envErr = sfn.NewFromConfig(awsCfg).CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
			Name:       aws.String("ffbroker-approval-" + names.Broker),
			RoleArn:    aws.String("arn:aws:iam::123456789012:role/ffbroker-approval"),
			Definition: aws.String(`{"StartAt":"Wait","States":{"Wait":{"Type":"Wait","Seconds":600,"End":true}}}`),
		})
		if envErr != nil {
			return
		}
		if _, envErr = cloudwatchlogs.NewFromConfig(awsCfg).CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(activityLogGroup)}); envErr != nil {
			return
		}
		theEnv, envErr = newEnv(srv, names, map[string]string{"FFB_STATE_MACHINE_ARN": aws.ToString(sm.StateMachineArn)})
	})
	if envErr != nil {
		t.Fatal(envErr)
	}
	return theEnv
}

const activityLogGroup = "/aws/rds/cluster/test/postgresql"

// loginPassword is the password the tests give a database login (local password mode).
func loginPassword(role string) string { return "pw-" + role + "-for-handler-tests-0123456789" }

// functionGetenv is the environment the template gives function fn, pointed at the
// test cluster and srv, with overrides.
func functionGetenv(fn lambdafn.Function, names pgtest.RoleModel, overrides map[string]string) func(string) string {
	prefix := names.Names.Prefix
	user := names.Broker
	if fn == lambdafn.FunctionApprove {
		user = names.Approver
	}
	m := map[string]string{
		"FFB_DB_HOST": shared.Cluster.Host, "FFB_DB_PORT": itoa(shared.Cluster.Port), "FFB_DB_NAME": names.DB, "FFB_DB_USER": user,
		"FFB_DB_AUTH": "password", "FFB_DB_PASSWORD": loginPassword(user), "FFB_DB_SSLMODE": "disable",
		"FFB_ROLE_PREFIX": prefix, "FFB_TARGET_SSLMODE": "disable", "AWS_REGION": awstest.Region,
		"FFB_SERVER_ID": serverID, "FFB_ACCOUNTS": awstest.AccountID, "FFB_APPROVERS": bobARN + ",arn:aws:iam::123456789012:user/carol,arn:aws:iam::123456789012:role/Engineer",
		"FFB_REQUESTERS":         requesters,
		"FFB_ACTIVITY_LOG_GROUP": activityLogGroup, "FFB_ACTIVITY_DB_USER": names.Activity,
	}
	if fn == lambdafn.FunctionActivity {
		m["FFB_DB_PASSWORD"] = loginPassword(names.Activity)
	}
	for k, v := range overrides {
		m[k] = v
	}
	return func(k string) string {
		if v, ok := m[k]; ok {
			return v
		}
		if strings.HasPrefix(k, "AWS_") {
			return os.Getenv(k)
		}
		return ""
	}
}

// newEnv builds the four functions' dependencies against srv, and srv's people.
func newEnv(srv *awstest.Server, names pgtest.RoleModel, overrides map[string]string) (*env, error) {
	ctx := context.Background()
	e := &env{audit: &testenv.Lines{}, names: names, srv: srv, people: map[string]aws.Config{}}
	awsCfg := srv.Config(ctx)
	for fn, dst := range map[lambdafn.Function]**lambdafn.Deps{lambdafn.FunctionIssue: &e.issue, lambdafn.FunctionExpire: &e.expire,
		lambdafn.FunctionApprove: &e.approve, lambdafn.FunctionActivity: &e.activity} {
		getenv := functionGetenv(fn, names, overrides)
		cfg, err := config.Load(getenv)
		if err != nil {
			return nil, err
		}
		if err := cfg.Check(fn); err != nil {
			return nil, err
		}
		d, err := lambdafn.BuildWith(fn, cfg, awsCfg, e.audit)
		if err != nil {
			return nil, err
		}
		*dst = d
	}
	for _, name := range []string{"alice", "bob", "carol", "mallory"} {
		cfg, err := person(ctx, srv, name)
		if err != nil {
			return nil, err
		}
		e.people[name] = cfg
	}
	return e, nil
}

// person creates IAM user name in moto with an access key and returns an AWS
// configuration with that key, as the person's own credentials.
func person(ctx context.Context, srv *awstest.Server, name string) (aws.Config, error) {
	c := iam.NewFromConfig(srv.Config(ctx))
	// An SDK retry of a CreateUser that did reach moto answers EntityAlreadyExists.
	var exists *iamtypes.EntityAlreadyExistsException
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil && !errors.As(err, &exists) {
		return aws.Config{}, err
	}
	key, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
	if err != nil {
		return aws.Config{}, err
	}
	cfg := srv.Config(ctx)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey), "")
	return cfg, nil
}

// signed is the sample event file signed by who's identity proof for this deployment.
func (e *env) signed(t testing.TB, who, file string) json.RawMessage {
	t.Helper()
	return e.sign(t, who, readEvent(t, file))
}

// sign puts who's fresh identity proof into an API event.
func (e *env) sign(t testing.TB, who string, raw json.RawMessage) json.RawMessage {
	t.Helper()
	cfg, ok := e.people[who]
	if !ok {
		t.Fatalf("no person %s", who)
	}
	out, err := lambdafn.SignEvent(context.Background(), identity.NewSigner(cfg, serverID), raw)
	if err != nil {
		t.Fatal(err)
	}
	return out
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

// dbState is what a refused event must leave unchanged in the database.
func (e *env) dbState(t *testing.T) string { t.Helper(); return shared.DBState(t, e.names) }

// secretsState is what it must leave unchanged in Secrets Manager.
func (e *env) secretsState(t *testing.T) string {
	t.Helper()
	return testenv.SecretsState(t, secretsmanager.NewFromConfig(e.srv.Config(t.Context())), broker.DefaultSecretPrefix, e.names)
}
