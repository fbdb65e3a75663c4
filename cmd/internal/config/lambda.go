package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/activity"
	"github.com/ffbroker/ffbroker/broker/postgres"
	"github.com/ffbroker/ffbroker/broker/rds"
	"github.com/ffbroker/ffbroker/identity"
)

// Lambda is everything a function reads from its environment (FFB_* variables plus
// the AWS SDK's own: AWS_REGION, AWS_ENDPOINT_URL, credentials).
type Lambda struct {
	DB postgres.Config
	// LogStream is the function's CloudWatch Logs stream (AWS_LAMBDA_LOG_STREAM_NAME,
	// set by Lambda), which names the audit log group's stream; empty off Lambda.
	LogStream string
	// Activity is the activity job's configuration (ActivityJob), read with the rest;
	// ActivityErr is its error, which fails only the activity function's cold start.
	Activity      activity.JobConfig
	ActivityErr   error
	RolePrefix    string
	SecretPrefix  string
	AuditLogGroup string
	// SecretKMSKeyID is the customer managed KMS key new secrets are created with
	// (FFB_SECRET_KMS_KEY_ID); empty means the account's aws/secretsmanager key.
	SecretKMSKeyID  string
	ClusterID       string
	StateMachineARN string
	IncidentPattern *regexp.Regexp
	// Target is what the secret tells a firefighter to connect to; by default the
	// broker's own host and port.
	Target broker.Target
	// ServerID is this deployment's name (the stack name): every identity proof must
	// be bound to it (FFB_SERVER_ID).
	ServerID string
	// Approvers are the IAM principals who may approve (FFB_APPROVERS, comma-separated
	// ARN patterns); none means nothing can be approved.
	Approvers identity.Patterns
	// Requesters are the on-call people who may ask for access (FFB_REQUESTERS, ARN
	// patterns as FFB_APPROVERS); none means nobody can ask for a role that needs
	// approval, and only IAM users and trusted sessions for the others.
	Requesters identity.Patterns
	// TrustedSessionRoles are the roles, besides IAM Identity Center's, whose session
	// names AWS enforces (FFB_TRUSTED_SESSION_ROLES).
	TrustedSessionRoles []string
	// NotifyTopicARN is the SNS topic for approvers' and requesters' notifications
	// (FFB_NOTIFY_TOPIC_ARN); empty sends none.
	NotifyTopicARN string
	// ExpiryWarning is how long before a grant ends the sweep warns its requester
	// (FFB_EXPIRY_WARNING, a Go duration of whole seconds from 1m to 2h, default 15m;
	// 0 or off warns nobody).
	ExpiryWarning time.Duration
	// Accounts are the AWS accounts whose principals may call (FFB_ACCOUNTS,
	// comma-separated; the template sets the stack's own account).
	Accounts []string
	// FunctionRoleARNs are the IAM roles of the functions that manage the secrets
	// (FFB_FUNCTION_ROLE_ARNS, comma-separated role ARNs: the issue and expire
	// functions'). The secrets' resource policy lets only them and the live grants'
	// requesters read, and only them change the secrets; none writes no policy, which
	// only a local run may do.
	FunctionRoleARNs []string
	// LifetimeCap is the longest a grant lives from its issue, extensions included
	// (FFB_LIFETIME_CAP_HOURS, whole hours from 2 to 12, default 4).
	LifetimeCap time.Duration
	// Instances says where the expire function and the activity job find every
	// instance of the cluster (FFB_DB_INSTANCES): "rds" asks the RDS API for the
	// members of FFB_CLUSTER_ID, a list of host[:port] names them; empty means the
	// database is one instance.
	Instances string
	// StaticInstances is Instances parsed when it is a list.
	StaticInstances rds.Static
}

// Function is one of the four Lambda functions; it says what a function builds.
type Function string

// The functions of template.yaml.
const (
	// FunctionIssue serves POST and GET /access, GET /requests/{id} and the
	// workflow's wait, issue and timeout steps, as the broker's database login.
	FunctionIssue Function = "issue"
	// FunctionExpire serves the sweep, the workflow's expire step and DELETE
	// /access/{role}, as the broker's database login.
	FunctionExpire Function = "expire"
	// FunctionApprove serves GET /approvals and POST /approvals/{id}, as the
	// approver's database login only: it cannot issue.
	FunctionApprove Function = "approve"
	// FunctionActivity runs the connection-log scan as the activity login.
	FunctionActivity Function = "activity"
)

// Load reads a Lambda function's configuration. An invalid value fails with one message that
// names the variable.
func Load(getenv func(string) string) (Lambda, error) {
	db, err := DB(getenv)
	if err != nil {
		return Lambda{}, err
	}
	c := Lambda{
		DB:              db,
		LogStream:       getenv("AWS_LAMBDA_LOG_STREAM_NAME"),
		RolePrefix:      or(getenv("FFB_ROLE_PREFIX"), broker.DefaultRolePrefix),
		SecretPrefix:    or(getenv("FFB_SECRET_PREFIX"), broker.DefaultSecretPrefix),
		AuditLogGroup:   getenv("FFB_AUDIT_LOG_GROUP"),
		SecretKMSKeyID:  getenv("FFB_SECRET_KMS_KEY_ID"),
		ClusterID:       getenv("FFB_CLUSTER_ID"),
		StateMachineARN: getenv("FFB_STATE_MACHINE_ARN"),
		Target: broker.Target{
			Host: or(getenv("FFB_TARGET_HOST"), db.Host), Port: db.Port, DBName: db.Database,
			SSLMode: or(getenv("FFB_TARGET_SSLMODE"), "verify-full"),
		},
	}
	if c.Target.Port == 0 {
		c.Target.Port = postgres.DefaultPort
	}
	if err := checkTargetSSLMode(c.Target.SSLMode, db.Auth); err != nil {
		return Lambda{}, fmt.Errorf("FFB_TARGET_SSLMODE: %v", err)
	}
	if p := getenv("FFB_TARGET_PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Lambda{}, fmt.Errorf("FFB_TARGET_PORT: must be 1-65535")
		}
		c.Target.Port = n
	}
	if p := getenv("FFB_INCIDENT_PATTERN"); p != "" {
		re, err := broker.CompileIncidentPattern(p)
		if err != nil {
			return Lambda{}, fmt.Errorf("FFB_INCIDENT_PATTERN: %v", err)
		}
		c.IncidentPattern = re
	}
	if getenv("FFB_APPROVAL_ROLES") != "" {
		// Which roles need a second person is the database's role table now: a
		// setting that no longer takes effect must not look as if it did.
		return Lambda{}, fmt.Errorf("FFB_APPROVAL_ROLES: no longer read; which roles need approval is db_admin.firefighter_role.needs_approval (rw always): remove the variable")
	}
	if err := c.Policy().Check(); err != nil {
		return Lambda{}, fmt.Errorf("FFB_ROLE_PREFIX: %v", err)
	}
	c.ServerID = getenv("FFB_SERVER_ID")
	if v := getenv("FFB_ACCOUNTS"); v != "" {
		for _, a := range strings.Split(v, ",") {
			a = strings.TrimSpace(a)
			if len(a) != 12 || strings.Trim(a, "0123456789") != "" {
				return Lambda{}, fmt.Errorf("FFB_ACCOUNTS: %q is not a 12-digit AWS account id", a)
			}
			c.Accounts = append(c.Accounts, a)
		}
	}
	c.NotifyTopicARN = getenv("FFB_NOTIFY_TOPIC_ARN")
	if c.ExpiryWarning, err = expiryWarning(getenv("FFB_EXPIRY_WARNING")); err != nil {
		return Lambda{}, fmt.Errorf("FFB_EXPIRY_WARNING: %v", err)
	}
	if c.LifetimeCap, err = lifetimeCap(getenv("FFB_LIFETIME_CAP_HOURS")); err != nil {
		return Lambda{}, fmt.Errorf("FFB_LIFETIME_CAP_HOURS: %v", err)
	}
	switch c.Instances = strings.TrimSpace(getenv("FFB_DB_INSTANCES")); {
	case c.Instances == "rds" && c.ClusterID == "":
		return Lambda{}, fmt.Errorf("FFB_DB_INSTANCES: rds needs FFB_CLUSTER_ID, the cluster whose instances the RDS API lists")
	case c.Instances != "" && c.Instances != "rds":
		if c.StaticInstances, err = rds.ParseStatic(c.Instances, db.Port); err != nil {
			return Lambda{}, fmt.Errorf("FFB_DB_INSTANCES: %v (want rds or host[:port],...)", err)
		}
	}
	if c.Approvers, err = identity.ParsePatterns(getenv("FFB_APPROVERS")); err != nil {
		return Lambda{}, fmt.Errorf("FFB_APPROVERS: %v", err)
	}
	if v := getenv("FFB_FUNCTION_ROLE_ARNS"); v != "" {
		for _, a := range strings.Split(v, ",") {
			a = strings.TrimSpace(a)
			if !functionRoleARN.MatchString(a) {
				return Lambda{}, fmt.Errorf("FFB_FUNCTION_ROLE_ARNS: %q is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", a)
			}
			c.FunctionRoleARNs = append(c.FunctionRoleARNs, a)
		}
	}
	if c.Requesters, err = identity.ParsePatterns(getenv("FFB_REQUESTERS")); err != nil {
		return Lambda{}, fmt.Errorf("FFB_REQUESTERS: %v", err)
	}
	if v := getenv("FFB_TRUSTED_SESSION_ROLES"); v != "" {
		for _, r := range strings.Split(v, ",") {
			c.TrustedSessionRoles = append(c.TrustedSessionRoles, strings.TrimSpace(r))
		}
		if err := identity.CheckTrustedSessionRoles(c.TrustedSessionRoles); err != nil {
			return Lambda{}, fmt.Errorf("FFB_TRUSTED_SESSION_ROLES: %v", err)
		}
	}
	c.Activity, c.ActivityErr = ActivityJob(getenv)
	return c, nil
}

// checkTargetSSLMode refuses an sslmode that the secrets must not tell psql: one
// libpq does not know, and, where the functions log in with IAM (a deployment), one
// that does not verify the server's name: the firefighters' sessions carry
// production data and a password valid for hours, and the RDS CA signs every
// instance of every account (verify-ca would take any of them). The broker's own
// IAM login is held to verify-full the same way.
func checkTargetSSLMode(mode, auth string) error {
	switch mode {
	case "verify-full":
		return nil
	case "verify-ca", "disable", "allow", "prefer", "require":
		if auth == postgres.AuthIAM {
			return fmt.Errorf("%q does not verify the server's name; a deployment needs verify-full", mode)
		}
		return nil
	}
	return fmt.Errorf("%q is not an sslmode: verify-full, or with password logins also verify-ca, require, prefer, allow, disable", mode)
}

// Check reports what fn needs and cfg lacks, naming the variable.
func (c Lambda) Check(fn Function) error {
	switch {
	case fn != FunctionActivity && c.ServerID == "":
		return fmt.Errorf("FFB_SERVER_ID: required (the deployment's name, e.g. the stack name, that identity proofs are bound to)")
	case fn != FunctionActivity && len(c.Accounts) == 0:
		return fmt.Errorf("FFB_ACCOUNTS: required (the AWS accounts whose principals may call, e.g. the stack's own)")
	case fn == FunctionIssue && c.StateMachineARN == "":
		return fmt.Errorf("FFB_STATE_MACHINE_ARN: required (the approval workflow)")
	case fn == FunctionApprove && c.StateMachineARN == "":
		return fmt.Errorf("FFB_STATE_MACHINE_ARN: required (the approval workflow)")
	case (fn == FunctionIssue || fn == FunctionExpire) && c.DB.Auth == postgres.AuthIAM && len(c.FunctionRoleARNs) == 0:
		return fmt.Errorf("FFB_FUNCTION_ROLE_ARNS: required in a deployment (the issue and expire functions' role ARNs, which the secrets' resource policy names)")
	}
	return nil
}

// functionRoleARN matches an IAM role ARN, path included.
var functionRoleARN = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/([\x21-\x7e]*/)?[A-Za-z0-9+=,.@_-]{1,64}$`)

// expiryWarning parses FFB_EXPIRY_WARNING.
func expiryWarning(v string) (time.Duration, error) {
	switch v {
	case "":
		return broker.DefaultExpiryWarning, nil
	case "0", "off":
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return 0, fmt.Errorf("%q is not a duration such as 15m", v)
	case d < time.Minute || d > 2*time.Hour || d%time.Second != 0:
		return 0, fmt.Errorf("%q must be whole seconds from 1m to 2h, or 0 to warn nobody", v)
	}
	return d, nil
}

// lifetimeCap parses FFB_LIFETIME_CAP_HOURS.
func lifetimeCap(v string) (time.Duration, error) {
	if v == "" {
		return broker.DefaultLifetimeCap, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 2 || time.Duration(n)*time.Hour > broker.MaxLifetimeCap {
		return 0, fmt.Errorf("%q must be whole hours from 2 to %d", v, int(broker.MaxLifetimeCap/time.Hour))
	}
	return time.Duration(n) * time.Hour, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Policy is the broker policy of c: the role model of RolePrefix and IncidentPattern.
func (c Lambda) Policy() broker.Policy {
	p := broker.DefaultPolicy(c.RolePrefix)
	if c.IncidentPattern != nil {
		p.IncidentPattern = c.IncidentPattern
	}
	return p
}
