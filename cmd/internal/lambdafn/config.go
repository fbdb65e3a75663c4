package lambdafn

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

// Config is everything a function reads from its environment (FFB_* variables plus
// the AWS SDK's own: AWS_REGION, AWS_ENDPOINT_URL, credentials).
type Config struct {
	DB            broker.DBConfig
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
	// ApprovalRequired lists the role kinds that need a second person (default rw).
	ApprovalRequired map[broker.Role]bool
}

// LoadConfig reads the configuration. An invalid value fails with one message that
// names the variable.
func LoadConfig(getenv func(string) string) (Config, error) {
	db, err := broker.DBConfigFromEnv(getenv)
	if err != nil {
		return Config{}, err
	}
	c := Config{
		DB:              db,
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
		ApprovalRequired: map[broker.Role]bool{broker.RoleRO: false, broker.RoleRW: true},
	}
	if c.Target.Port == 0 {
		c.Target.Port = broker.DefaultDBPort
	}
	if p := getenv("FFB_TARGET_PORT"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return Config{}, fmt.Errorf("FFB_TARGET_PORT: must be 1-65535")
		}
		c.Target.Port = n
	}
	if p := getenv("FFB_INCIDENT_PATTERN"); p != "" {
		re, err := broker.CompileIncidentPattern(p)
		if err != nil {
			return Config{}, fmt.Errorf("FFB_INCIDENT_PATTERN: %v", err)
		}
		c.IncidentPattern = re
	}
	if a := getenv("FFB_APPROVAL_ROLES"); a != "" {
		c.ApprovalRequired = map[broker.Role]bool{broker.RoleRO: false, broker.RoleRW: false}
		for _, k := range strings.Split(a, ",") {
			k = strings.TrimSpace(k)
			if k == "none" {
				continue
			}
			if !broker.Role(k).Valid() {
				return Config{}, fmt.Errorf("FFB_APPROVAL_ROLES: %q is not ro, rw or none", k)
			}
			c.ApprovalRequired[broker.Role(k)] = true
		}
		if !c.ApprovalRequired[broker.RoleRW] {
			return Config{}, fmt.Errorf("FFB_APPROVAL_ROLES: rw must need approval")
		}
	}
	if err := c.policy().Check(); err != nil {
		return Config{}, fmt.Errorf("FFB_ROLE_PREFIX: %v", err)
	}
	return c, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func (c Config) policy() broker.Policy {
	p := broker.DefaultPolicy(c.RolePrefix)
	if c.IncidentPattern != nil {
		p.IncidentPattern = c.IncidentPattern
	}
	for k, v := range c.ApprovalRequired {
		p.ApprovalRequired[k] = v
	}
	return p
}

// Deps are a function's dependencies, built once in the Lambda init phase.
type Deps struct {
	Config  Config
	AWS     aws.Config
	Broker  *broker.Broker
	Store   *broker.PGStore
	Secrets *broker.SecretsStore
	Audit   audit.Sink
	SFN     *sfn.Client

	getenv func(string) string
	stdout io.Writer
}

// Build creates the clients and the broker from cfg. stdout receives the audit
// records (Lambda sends it to CloudWatch Logs); with FFB_AUDIT_LOG_GROUP set they also
// go to that group, and a record counts as written only when both sinks took it.
func Build(ctx context.Context, cfg Config, stdout io.Writer) (*Deps, error) {
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return BuildWith(cfg, awsCfg, stdout)
}

// WithEnv sets where the functions that read more of the environment than Config
// (the activity job) read it from; Build's callers pass os.Getenv.
func (d *Deps) WithEnv(getenv func(string) string) *Deps {
	d.getenv = getenv
	return d
}

// BuildWith is Build with a given AWS configuration.
func BuildWith(cfg Config, awsCfg aws.Config, stdout io.Writer) (*Deps, error) {
	conn, err := broker.NewConnector(cfg.DB, awsCfg)
	if err != nil {
		return nil, err
	}
	store := broker.NewPGStore(conn)
	tags := map[string]string{}
	if cfg.ClusterID != "" {
		tags["ffbroker:cluster"] = cfg.ClusterID
	}
	secrets := broker.NewSecretsStore(secretsmanager.NewFromConfig(awsCfg), cfg.SecretPrefix, tags).WithKMSKey(cfg.SecretKMSKeyID)
	var sink audit.Sink = audit.NewJSONSink(stdout)
	if cfg.AuditLogGroup != "" {
		stream := or(os.Getenv("AWS_LAMBDA_LOG_STREAM_NAME"), fmt.Sprintf("ffbroker-%d", os.Getpid()))
		stream = strings.NewReplacer("[", "", "]", "", "$", "").Replace(stream)
		cw := audit.NewCloudWatchSink(cloudwatchlogs.NewFromConfig(awsCfg), cfg.AuditLogGroup, stream, audit.CloudWatchOptions{})
		sink = audit.Multi(sink, cw)
	}
	b, err := broker.New(broker.Config{Policy: cfg.policy(), DB: store, Secrets: secrets, Audit: sink, Target: cfg.Target})
	if err != nil {
		return nil, err
	}
	return &Deps{Config: cfg, AWS: awsCfg, Broker: b, Store: store, Secrets: secrets, Audit: sink, SFN: sfn.NewFromConfig(awsCfg),
		getenv: os.Getenv, stdout: stdout}, nil
}
