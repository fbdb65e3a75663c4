// Package config reads every FFB_* variable of ffbroker, once, through one getenv
// (Getenv in the binaries, a map in tests), checks it, and hands the other packages
// plain structs: the Lambda functions' Lambda (with postgres.Config and
// activity.JobConfig), the CLI's CLI, local-api's LocalAPI. No other package reads
// the environment; Variables lists the names it reads, as README.md's tables do.
package config

import (
	"os"
	"slices"
)

// Getenv is the process environment, the getenv of the binaries.
func Getenv(name string) string { return os.Getenv(name) }

// Environ is the process environment as KEY=value lines, for the child processes
// (psql, the bootstrap) the CLI starts; it reads no FFB_* variable.
func Environ() []string { return os.Environ() }

// variables are the FFB_* variables this package reads (a test holds it to the
// package's source and to README.md's tables).
var variables = []string{
	"FFB_ACCOUNTS", "FFB_ACTIVITY_APPLY", "FFB_ACTIVITY_DB_USER", "FFB_ACTIVITY_DROP_DAYS", "FFB_ACTIVITY_DROP_GRACE",
	"FFB_ACTIVITY_EXCLUDE", "FFB_ACTIVITY_LOCK_DAYS", "FFB_ACTIVITY_LOG_DELAY", "FFB_ACTIVITY_LOG_GROUP",
	"FFB_ACTIVITY_LOG_OVERLAP", "FFB_ACTIVITY_MAX_LOG_SILENCE", "FFB_API_URL", "FFB_APPROVAL_ROLES",
	"FFB_APPROVERS", "FFB_APPROVER_DB_PASSWORD", "FFB_APPROVER_DB_USER", "FFB_AUDIT_LOG_GROUP", "FFB_AUDIT_QUIET",
	"FFB_AUDIT_STDOUT", "FFB_CA_FILE", "FFB_CLUSTER_ID", "FFB_CONFIG", "FFB_DB_AUTH", "FFB_DB_CA_FILE",
	"FFB_DB_HOST", "FFB_DB_INSTANCES", "FFB_DB_NAME", "FFB_DB_PASSWORD", "FFB_DB_PORT", "FFB_DB_SSLMODE",
	"FFB_DB_USER", "FFB_EXPIRY_WARNING", "FFB_FUNCTION_ROLE_ARNS", "FFB_INCIDENT_PATTERN", "FFB_LIFETIME_CAP_HOURS",
	"FFB_NOTIFY_TOPIC_ARN", "FFB_REQUESTERS", "FFB_ROLE_PREFIX", "FFB_SECRET_KMS_KEY_ID", "FFB_SECRET_PREFIX",
	"FFB_SERVER_ID", "FFB_STATE_MACHINE_ARN", "FFB_TARGET_HOST", "FFB_TARGET_PORT", "FFB_TARGET_SSLMODE",
	"FFB_TRUSTED_SESSION_ROLES", "FFB_WAIT_INTERVAL",
}

// Variables returns the FFB_* variables this package reads, sorted.
func Variables() []string { return slices.Sorted(slices.Values(variables)) }
