package config_test

import (
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/cmd/internal/config"
)

func TestActivityOptionsNameTheVariable(t *testing.T) {
	base := map[string]string{"FFB_ACTIVITY_LOG_GROUP": "/aws/rds/cluster/c/postgresql"}
	o, err := config.ActivityOptions(func(k string) string { return base[k] })
	if err != nil || o.LockAfterDays != 90 || o.DropAfterDays != 180 || o.Apply || o.LogGroup != base["FFB_ACTIVITY_LOG_GROUP"] {
		t.Errorf("defaults = %+v, %v; want 90/180 days, dry run", o, err)
	}
	for _, tc := range []struct{ name, key, value, want string }{
		{"no log group", "FFB_ACTIVITY_LOG_GROUP", "", "FFB_ACTIVITY_LOG_GROUP"},
		{"lock days not a number", "FFB_ACTIVITY_LOCK_DAYS", "ninety", "FFB_ACTIVITY_LOCK_DAYS"},
		{"drop before lock", "FFB_ACTIVITY_DROP_DAYS", "30", "FFB_ACTIVITY_DROP_DAYS"},
		{"apply not a boolean", "FFB_ACTIVITY_APPLY", "yes please", "FFB_ACTIVITY_APPLY"},
		{"name too long", "FFB_ACTIVITY_EXCLUDE", strings.Repeat("x", 64), "FFB_ACTIVITY_EXCLUDE"},
		{"delay not a duration", "FFB_ACTIVITY_LOG_DELAY", "5", "FFB_ACTIVITY_LOG_DELAY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{tc.key: tc.value}
			for k, v := range base {
				if k != tc.key {
					env[k] = v
				}
			}
			if _, err := config.ActivityOptions(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ActivityOptions(%s=%q) error = %v; want one naming %s", tc.key, tc.value, err, tc.want)
			}
		})
	}
	env := map[string]string{"FFB_ACTIVITY_LOG_GROUP": "g", "FFB_ACTIVITY_APPLY": "true", "FFB_ACTIVITY_EXCLUDE": " a ,b,,",
		"FFB_ACTIVITY_LOCK_DAYS": "0", "FFB_ACTIVITY_DROP_DAYS": "7"}
	o, err = config.ActivityOptions(func(k string) string { return env[k] })
	if err != nil || !o.Apply || strings.Join(o.Exclude, "|") != "a|b" || o.LockAfterDays != 0 || o.DropAfterDays != 7 {
		t.Errorf("ActivityOptions = %+v, %v; want apply, exclude a and b, no lock, drop after 7 days", o, err)
	}
}

// The activity job logs in as its own role, never as the broker's FFB_DB_USER.
func TestActivityJobLogsInAsTheActivityMonitor(t *testing.T) {
	env := map[string]string{"FFB_DB_HOST": "db.example.com", "FFB_DB_USER": "lambda_password_broker", "FFB_DB_AUTH": "password",
		"FFB_DB_PASSWORD": "pw", "FFB_DB_SSLMODE": "disable", "FFB_ROLE_PREFIX": "lambda", "FFB_ACTIVITY_LOG_GROUP": "g",
		"FFB_AUDIT_LOG_GROUP": "audit", "FFB_DB_INSTANCES": "rds", "FFB_CLUSTER_ID": "c"}
	jc, err := config.ActivityJob(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if jc.DB.User != "lambda_activity_monitor" || jc.DB.ApplicationName != "ffbroker-activity" || jc.AuditLogGroup != "audit" ||
		jc.Instances != "rds" || jc.ClusterID != "c" {
		t.Errorf("ActivityJob = %+v; want the login lambda_activity_monitor as ffbroker-activity, audit group, rds instances of c", jc)
	}
	env["FFB_ACTIVITY_DB_USER"] = "watcher"
	if jc, err = config.ActivityJob(func(k string) string { return env[k] }); err != nil || jc.DB.User != "watcher" {
		t.Errorf("ActivityJob(FFB_ACTIVITY_DB_USER=watcher) login = %q, %v; want watcher", jc.DB.User, err)
	}
}
