package config

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/activity"
	"github.com/ffbroker/ffbroker/broker/postgres"
)

// ActivityOptions reads the activity job's options:
// FFB_ACTIVITY_LOG_GROUP (required), FFB_ACTIVITY_LOCK_DAYS (default 90),
// FFB_ACTIVITY_DROP_DAYS (default 180; 0 turns either off), FFB_ACTIVITY_APPLY
// (true or false, default false: dry run), FFB_ACTIVITY_EXCLUDE (comma-separated
// role names, or a JSON array of names for names that hold a comma or spaces at
// either end), FFB_ACTIVITY_LOG_DELAY, FFB_ACTIVITY_MAX_LOG_SILENCE,
// FFB_ACTIVITY_DROP_GRACE (default 24h) and FFB_ACTIVITY_LOG_OVERLAP (default
// 30m) (Go durations). Every error names its variable.
func ActivityOptions(getenv func(string) string) (activity.Options, error) {
	o := activity.Options{
		LogGroup:      getenv("FFB_ACTIVITY_LOG_GROUP"),
		LockAfterDays: activity.DefaultLockAfterDays,
		DropAfterDays: activity.DefaultDropAfterDays,
		Source:        audit.SourceSchedule,
	}
	if o.LogGroup == "" {
		return activity.Options{}, fmt.Errorf("FFB_ACTIVITY_LOG_GROUP: required (the cluster's log group, /aws/rds/cluster/<id>/postgresql)")
	}
	for _, v := range []struct {
		name string
		dst  *int
	}{{"FFB_ACTIVITY_LOCK_DAYS", &o.LockAfterDays}, {"FFB_ACTIVITY_DROP_DAYS", &o.DropAfterDays}} {
		if s := getenv(v.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > 36500 {
				return activity.Options{}, fmt.Errorf("%s: must be a number of days from 0 (never) to 36500", v.name)
			}
			*v.dst = n
		}
	}
	if o.LockAfterDays > 0 && o.DropAfterDays > 0 && o.DropAfterDays <= o.LockAfterDays {
		return activity.Options{}, fmt.Errorf("FFB_ACTIVITY_DROP_DAYS: must be more than FFB_ACTIVITY_LOCK_DAYS")
	}
	if s := getenv("FFB_ACTIVITY_APPLY"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return activity.Options{}, fmt.Errorf("FFB_ACTIVITY_APPLY: must be true or false")
		}
		o.Apply = b
	}
	ex, err := activity.ParseExclude(getenv("FFB_ACTIVITY_EXCLUDE"))
	if err != nil {
		return activity.Options{}, fmt.Errorf("FFB_ACTIVITY_EXCLUDE: %w", err)
	}
	o.Exclude = ex
	for _, v := range []struct {
		name string
		dst  *time.Duration
	}{{"FFB_ACTIVITY_LOG_DELAY", &o.LogDelay}, {"FFB_ACTIVITY_MAX_LOG_SILENCE", &o.MaxLogSilence},
		{"FFB_ACTIVITY_DROP_GRACE", &o.DropGrace}, {"FFB_ACTIVITY_LOG_OVERLAP", &o.LogOverlap}} {
		if s := getenv(v.name); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d <= 0 {
				return activity.Options{}, fmt.Errorf("%s: must be a positive duration such as 10m or 72h", v.name)
			}
			*v.dst = d
		}
	}
	if err := o.Validate(); err != nil {
		return activity.Options{}, err
	}
	return o, nil
}

// ActivityJob reads the activity job's configuration: the options of
// ActivityOptions; the database settings of DB, except that the login is
// FFB_ACTIVITY_DB_USER (default <FFB_ROLE_PREFIX>_activity_monitor, prefix my_pg),
// never the broker's FFB_DB_USER; FFB_AUDIT_LOG_GROUP; FFB_DB_INSTANCES and
// FFB_CLUSTER_ID. Every error names its variable.
func ActivityJob(getenv func(string) string) (activity.JobConfig, error) {
	opts, err := ActivityOptions(getenv)
	if err != nil {
		return activity.JobConfig{}, err
	}
	db, err := activityDB(getenv)
	if err != nil {
		return activity.JobConfig{}, err
	}
	return activity.JobConfig{Options: opts, DB: db, AuditLogGroup: getenv("FFB_AUDIT_LOG_GROUP"),
		Instances: getenv("FFB_DB_INSTANCES"), ClusterID: getenv("FFB_CLUSTER_ID")}, nil
}

// activityDB is the database configuration of FFB_DB_* with the activity role
// (FFB_ACTIVITY_DB_USER, default <prefix>_activity_monitor) as the login.
func activityDB(getenv func(string) string) (postgres.Config, error) {
	user := getenv("FFB_ACTIVITY_DB_USER")
	if user == "" {
		user = broker.Names{Prefix: getenv("FFB_ROLE_PREFIX")}.Roles().Activity
	}
	cfg, err := DB(loginEnv(getenv, user, "", false))
	cfg.ApplicationName = "ffbroker-activity"
	return cfg, err
}
