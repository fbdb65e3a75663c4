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

// JobConfig is what the activity Lambda function (and the CLI) build their Job from.
type JobConfig struct {
	// Options are the job's settings.
	Options Options
	// DB is the activity login's database configuration (never the broker's login).
	DB postgres.Config
	// AuditLogGroup, when set, also receives the audit records (stream AuditStream).
	AuditLogGroup string
	// Instances and ClusterID say where the cluster's instances are (rds.FromSetting).
	Instances, ClusterID string
}

// NewJob builds the Job of cfg with the AWS SDK's own configuration; audit records
// go as JSON lines to stdout plus, when cfg.AuditLogGroup is set, that log group.
func NewJob(ctx context.Context, cfg JobConfig, stdout io.Writer) (*Job, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	return NewJobWith(cfg, awsCfg, stdout)
}

// NewJobWith is NewJob with a given AWS configuration (the one the function's
// other clients were built with); its clients use the one retry policy (awsretry).
func NewJobWith(jc JobConfig, awsCfg aws.Config, stdout io.Writer) (*Job, error) {
	awsCfg = awsretry.Apply(awsCfg)
	conn, err := postgres.NewConnector(jc.DB, awsCfg)
	if err != nil {
		return nil, err
	}
	logs := cloudwatchlogs.NewFromConfig(awsCfg)
	sinks := []audit.Sink{audit.NewJSONSink(stdout)}
	if jc.AuditLogGroup != "" {
		sinks = append(sinks, audit.NewCloudWatchSink(logs, jc.AuditLogGroup, AuditStream, audit.CloudWatchOptions{}))
	}
	cfg := Config{Store: NewStore(conn), Logs: logs, Audit: audit.Multi(sinks...), Options: jc.Options}
	list, err := rds.FromSetting(jc.Instances, jc.ClusterID, jc.DB.Port, awsrds.NewFromConfig(awsCfg))
	if err != nil {
		return nil, fmt.Errorf("FFB_DB_INSTANCES: %w", err)
	}
	if list != nil {
		cfg.Sessions = postgres.NewInstances(list, conn)
	}
	return New(cfg)
}
