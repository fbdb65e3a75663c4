package lambdafn

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	awsrds "github.com/aws/aws-sdk-go-v2/service/rds"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/activity"
	"github.com/ffbroker/ffbroker/broker/awsretry"
	"github.com/ffbroker/ffbroker/broker/postgres"
	"github.com/ffbroker/ffbroker/broker/rds"
	"github.com/ffbroker/ffbroker/broker/secretsmanager"
	"github.com/ffbroker/ffbroker/cmd/internal/config"
	"github.com/ffbroker/ffbroker/identity"
)

// Config is everything a function reads from its environment (config.Load).
type Config = config.Lambda

// Function is one of the four Lambda functions; it says what a function builds.
type Function = config.Function

// The functions of template.yaml.
const (
	// FunctionIssue serves POST and GET /access, GET /requests/{id} and the
	// workflow's wait, issue and timeout steps, as the broker's database login.
	FunctionIssue = config.FunctionIssue
	// FunctionExpire serves the sweep, the workflow's expire step and DELETE
	// /access/{role}, as the broker's database login.
	FunctionExpire = config.FunctionExpire
	// FunctionApprove serves GET /approvals and POST /approvals/{id}, as the
	// approver's database login only: it cannot issue.
	FunctionApprove = config.FunctionApprove
	// FunctionActivity runs the connection-log scan as the activity login.
	FunctionActivity = config.FunctionActivity
)

// instances is the lister of the cluster's instances that cfg names, nil for one instance.
func instances(c Config, awsCfg aws.Config) postgres.InstanceLister {
	switch {
	case c.Instances == "rds":
		return rds.New(awsrds.NewFromConfig(awsCfg), c.ClusterID)
	case len(c.StaticInstances) > 0:
		return c.StaticInstances
	}
	return nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Deps are a function's dependencies, built once in the Lambda init phase.
type Deps struct {
	Function Function
	Config   Config
	AWS      aws.Config
	// Broker serves the issue, expire and approve functions; nil in the activity
	// function, which has Activity instead.
	Broker *broker.Broker
	// Activity is the activity job (activity function only), with its own login.
	Activity *activity.Job
	// Store is the broker's login (issue and expire functions only).
	Store *postgres.Store
	// Approvals is the approver's login (approve function only).
	Approvals *postgres.ApprovalStore
	Secrets   *secretsmanager.Store
	Audit     audit.Sink
	SFN       *sfn.Client
	// Verifier checks the identity proof of every API call.
	Verifier *identity.Verifier
}

// Build creates the clients and the broker of fn from cfg, and for the activity
// function the activity job of cfg.Activity. stdout receives the audit
// records (Lambda sends it to CloudWatch Logs); with FFB_AUDIT_LOG_GROUP set they also
// go to that group, and a record counts as written only when both sinks took it.
func Build(ctx context.Context, fn Function, cfg Config, stdout io.Writer) (*Deps, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return BuildWith(fn, cfg, awsCfg, stdout)
}

// Close closes the database connections the dependencies opened.
func (d *Deps) Close(ctx context.Context) {
	if d.Store != nil {
		d.Store.Close(ctx)
	}
	if d.Approvals != nil {
		d.Approvals.Close(ctx)
	}
}

// BuildWith is Build with a given AWS configuration. The approve function gets the
// approvals ledger through its own login and no Secrets Manager; the others get the
// broker's login and Secrets Manager, never the approvals ledger.
//
// Every AWS client is built with the one retry policy (awsretry), whatever
// retryer awsCfg had.
func BuildWith(fn Function, cfg Config, awsCfg aws.Config, stdout io.Writer) (*Deps, error) {
	awsCfg = awsretry.Apply(awsCfg)
	d := &Deps{Function: fn, Config: cfg, AWS: awsCfg}
	d.Audit = auditSink(cfg, awsCfg, stdout)
	if fn == FunctionActivity {
		// The activity job logs in as its own role and has its own variables; a
		// mistake in them fails the cold start, not every scheduled run.
		if cfg.ActivityErr != nil {
			return nil, fmt.Errorf("activity: %w", cfg.ActivityErr)
		}
		job, err := activity.NewJobWith(cfg.Activity, awsCfg, stdout)
		if err != nil {
			return nil, fmt.Errorf("activity: %w", err)
		}
		d.Activity = job
		return d, nil
	}
	conn, err := postgres.NewConnector(cfg.DB, awsCfg)
	if err != nil {
		return nil, err
	}
	bc := broker.Config{Policy: cfg.Policy(), Target: cfg.Target}
	if fn == FunctionApprove {
		d.Approvals = postgres.NewApprovalStore(conn)
		bc.Approvals = d.Approvals
	} else {
		d.Store = postgres.NewStore(conn)
		tags := map[string]string{}
		if cfg.ClusterID != "" {
			tags["ffbroker:cluster"] = cfg.ClusterID
		}
		d.Secrets = secretsmanager.New(sm.NewFromConfig(awsCfg), cfg.SecretPrefix, tags).WithKMSKey(cfg.SecretKMSKeyID).
			WithFunctionRoles(cfg.FunctionRoleARNs...)
		bc.DB, bc.Secrets = d.Store, d.Secrets
	}
	if cfg.StateMachineARN != "" && (fn == FunctionIssue || fn == FunctionApprove) {
		d.SFN = sfn.NewFromConfig(awsCfg)
		bc.Workflow = NewWorkflow(d.SFN, cfg.StateMachineARN)
	}
	if cfg.NotifyTopicARN != "" {
		bc.Notifier = NewNotifier(sns.NewFromConfig(awsCfg), cfg.NotifyTopicARN)
	}
	if fn == FunctionExpire {
		bc.ExpiryWarning = cfg.ExpiryWarning
		if list := instances(cfg, awsCfg); list != nil {
			bc.Instances = postgres.NewInstances(list, conn)
		}
	}
	bc.LifetimeCap = cfg.LifetimeCap
	d.Verifier = identity.NewVerifier(awsCfg, cfg.ServerID, cfg.TrustedSessionRoles)
	proofAge := KeptProofMaxAge
	if fn == FunctionApprove {
		proofAge = DecideProofMaxAge
	}
	bc.Proofs = NewLedgerProofs(d.Authenticator(), proofAge)
	bc.Audit = d.Audit
	if d.Broker, err = broker.New(bc); err != nil {
		return nil, err
	}
	return d, nil
}

// auditSink is where a function's audit records go: stdout (Lambda sends it to
// CloudWatch Logs) and, with FFB_AUDIT_LOG_GROUP, that group too.
func auditSink(cfg Config, awsCfg aws.Config, stdout io.Writer) audit.Sink {
	var sink audit.Sink = audit.NewJSONSink(stdout)
	if cfg.AuditLogGroup == "" {
		return sink
	}
	stream := or(cfg.LogStream, fmt.Sprintf("ffbroker-%d", os.Getpid()))
	stream = strings.NewReplacer("[", "", "]", "", "$", "").Replace(stream)
	return audit.Multi(sink, audit.NewCloudWatchSink(cloudwatchlogs.NewFromConfig(awsCfg), cfg.AuditLogGroup, stream, audit.CloudWatchOptions{}))
}

// Authenticator is how this function's API routes find who is calling.
func (d *Deps) Authenticator() Authenticator {
	return Authenticator{Verifier: d.Verifier, Approvers: d.Config.Approvers, Requesters: d.Config.Requesters, Accounts: d.Config.Accounts}
}
