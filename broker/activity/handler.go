package activity

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awsrds "github.com/aws/aws-sdk-go-v2/service/rds"
	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/awsretry"
	"github.com/ffbroker/ffbroker/broker/postgres"
	"github.com/ffbroker/ffbroker/broker/rds"
)

// AuditStream is the log stream of the audit log group the job writes to.
const AuditStream = "activity"

// Handler runs the job for one EventBridge schedule event, with the Options the Job
// was built with, source schedule and the Lambda's request id (the event's id
// outside Lambda). The event's detail is not read: what a run does is the
// function's configuration, not the event's.
func (j *Job) Handler(ctx context.Context, ev events.CloudWatchEvent) (Report, error) {
	opts := j.opts
	opts.Source = audit.SourceSchedule
	opts.RequestID = ev.ID
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		opts.RequestID = lc.AwsRequestID
	}
	return j.Run(ctx, opts)
}

// NewFromEnv builds the Job that the activity Lambda function (and the CLI) run,
// from the environment read through getenv: the Options of OptionsFromEnv; the
// database settings of postgres.ConfigFromEnv, except that the login is
// FFB_ACTIVITY_DB_USER (default <FFB_ROLE_PREFIX>_activity_monitor, prefix my_pg),
// never the broker's FFB_DB_USER; the AWS SDK's own configuration; and audit
// records as JSON lines on stdout plus, when FFB_AUDIT_LOG_GROUP is set, that log
// group (stream AuditStream). Every configuration error names its variable.
func NewFromEnv(ctx context.Context, getenv func(string) string, stdout io.Writer) (*Job, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	return NewFromEnvWith(getenv, awsCfg, stdout)
}

// NewFromEnvWith is NewFromEnv with a given AWS configuration (the one the function's
// other clients were built with); its clients use the one retry policy (awsretry).
func NewFromEnvWith(getenv func(string) string, awsCfg aws.Config, stdout io.Writer) (*Job, error) {
	awsCfg = awsretry.Apply(awsCfg)
	opts, err := OptionsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	dbCfg, err := activityDBConfig(getenv)
	if err != nil {
		return nil, err
	}
	return newFromEnv(opts, dbCfg, getenv, awsCfg, stdout)
}

func newFromEnv(opts Options, dbCfg postgres.Config, getenv func(string) string, awsCfg aws.Config, stdout io.Writer) (*Job, error) {
	conn, err := postgres.NewConnector(dbCfg, awsCfg)
	if err != nil {
		return nil, err
	}
	logs := cloudwatchlogs.NewFromConfig(awsCfg)
	sinks := []audit.Sink{audit.NewJSONSink(stdout)}
	if g := getenv("FFB_AUDIT_LOG_GROUP"); g != "" {
		sinks = append(sinks, audit.NewCloudWatchSink(logs, g, AuditStream, audit.CloudWatchOptions{}))
	}
	cfg := Config{Store: NewStore(conn), Logs: logs, Audit: audit.Multi(sinks...), Options: opts}
	list, err := rds.FromSetting(getenv("FFB_DB_INSTANCES"), getenv("FFB_CLUSTER_ID"), dbCfg.Port, awsrds.NewFromConfig(awsCfg))
	if err != nil {
		return nil, fmt.Errorf("FFB_DB_INSTANCES: %w", err)
	}
	if list != nil {
		cfg.Sessions = postgres.NewInstances(list, conn)
	}
	return New(cfg)
}

// activityDBConfig is the database configuration of FFB_DB_* with the activity role
// (FFB_ACTIVITY_DB_USER, default <prefix>_activity_monitor) as the login.
func activityDBConfig(getenv func(string) string) (postgres.Config, error) {
	user := getenv("FFB_ACTIVITY_DB_USER")
	if user == "" {
		user = broker.Names{Prefix: getenv("FFB_ROLE_PREFIX")}.Roles().Activity
	}
	cfg, err := postgres.ConfigFromEnv(func(k string) string {
		if k == "FFB_DB_USER" {
			return user
		}
		return getenv(k)
	})
	cfg.ApplicationName = "ffbroker-activity"
	return cfg, err
}
