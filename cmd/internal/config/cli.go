package config

import (
	"errors"
	"time"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/postgres"
)

// CLI is the ffbroker command's own configuration; empty fields fall back to the
// flags and the configuration file.
type CLI struct {
	// APIURL is the API's base URL (FFB_API_URL).
	APIURL string
	// ConfigFile is the client's configuration file (FFB_CONFIG).
	ConfigFile string
	// ServerID is the deployment's server id (FFB_SERVER_ID).
	ServerID string
	// DBHost is the database of local mode (FFB_DB_HOST); set, a command without
	// an API runs the functions' code in the process.
	DBHost string
	// RolePrefix and SecretPrefix name the roles and their secrets for connect
	// (FFB_ROLE_PREFIX, FFB_SECRET_PREFIX).
	RolePrefix, SecretPrefix string
	// CAFile is the CA bundle connect gives psql (FFB_CA_FILE).
	CAFile string
	// WaitInterval is how often a waiting command polls (FFB_WAIT_INTERVAL, a Go
	// duration); 0 when unset or not a positive duration: the default.
	WaitInterval time.Duration
	// AuditQuiet drops the CLI's audit records (FFB_AUDIT_QUIET=1); AuditStdout
	// sends them to stdout instead of stderr (FFB_AUDIT_STDOUT=1).
	AuditQuiet, AuditStdout bool
}

// ReadCLI reads the CLI's configuration.
func ReadCLI(getenv func(string) string) CLI {
	c := CLI{
		APIURL: getenv("FFB_API_URL"), ConfigFile: getenv("FFB_CONFIG"), ServerID: getenv("FFB_SERVER_ID"),
		DBHost: getenv("FFB_DB_HOST"), RolePrefix: getenv("FFB_ROLE_PREFIX"), SecretPrefix: getenv("FFB_SECRET_PREFIX"),
		CAFile: getenv("FFB_CA_FILE"), AuditQuiet: getenv("FFB_AUDIT_QUIET") == "1", AuditStdout: getenv("FFB_AUDIT_STDOUT") == "1",
	}
	if d, err := time.ParseDuration(getenv("FFB_WAIT_INTERVAL")); err == nil && d > 0 {
		c.WaitInterval = d
	}
	return c
}

// LoadLocal is Load for function fn as local-api runs it from one shell's
// environment: the approve function logs in as its own login,
// FFB_APPROVER_DB_USER (default <prefix>_password_approver) with
// FFB_APPROVER_DB_PASSWORD, as the template gives that function FFB_DB_USER: never
// as the broker.
func LoadLocal(fn Function, getenv func(string) string) (Lambda, error) {
	if fn == FunctionApprove {
		user := getenv("FFB_APPROVER_DB_USER")
		if user == "" {
			user = broker.Names{Prefix: getenv("FFB_ROLE_PREFIX")}.Roles().Approver
		}
		password := getenv("FFB_APPROVER_DB_PASSWORD")
		if getenv("FFB_DB_AUTH") == string(postgres.AuthPassword) && password == "" {
			return Lambda{}, errors.New("FFB_APPROVER_DB_PASSWORD: required with FFB_DB_AUTH=password (the approve function logs in as " + user + ", never as the broker)")
		}
		getenv = loginEnv(getenv, user, password, true)
	}
	return Load(getenv)
}

// LocalAPI is what local-api reads itself: the resources it creates in moto unless
// they are given, and the identity every proof is bound to.
type LocalAPI struct {
	// ServerID (FFB_SERVER_ID; default the stack name) and Accounts (FFB_ACCOUNTS;
	// default moto's account) as the functions read them.
	ServerID, Accounts string
	// StateMachineARN, NotifyTopicARN and AuditLogGroup name existing resources
	// (FFB_STATE_MACHINE_ARN, FFB_NOTIFY_TOPIC_ARN, FFB_AUDIT_LOG_GROUP); empty ones
	// are created.
	StateMachineARN, NotifyTopicARN, AuditLogGroup string
	// EndpointURL is the AWS SDK's AWS_ENDPOINT_URL: moto's address.
	EndpointURL string
}

// ReadLocalAPI reads local-api's own configuration.
func ReadLocalAPI(getenv func(string) string) LocalAPI {
	return LocalAPI{ServerID: getenv("FFB_SERVER_ID"), Accounts: getenv("FFB_ACCOUNTS"),
		StateMachineARN: getenv("FFB_STATE_MACHINE_ARN"), NotifyTopicARN: getenv("FFB_NOTIFY_TOPIC_ARN"),
		AuditLogGroup: getenv("FFB_AUDIT_LOG_GROUP"), EndpointURL: getenv("AWS_ENDPOINT_URL")}
}
