package lambdafn_test

import (
	"github.com/ffbroker/ffbroker/cmd/internal/config"
	"strings"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
)

// FFB_LIFETIME_CAP_HOURS and FFB_DB_INSTANCES are validated at cold start, naming
// the variable.
func TestLifetimeCapAndInstancesConfig(t *testing.T) {
	tests := []struct {
		name, variable, value string
		wantErr               bool
		check                 func(lambdafn.Config) bool
	}{
		{"cap default", "FFB_LIFETIME_CAP_HOURS", "", false, func(c lambdafn.Config) bool { return c.LifetimeCap == 4*time.Hour }},
		{"cap 12", "FFB_LIFETIME_CAP_HOURS", "12", false, func(c lambdafn.Config) bool { return c.LifetimeCap == 12*time.Hour }},
		{"cap 2", "FFB_LIFETIME_CAP_HOURS", "2", false, func(c lambdafn.Config) bool { return c.LifetimeCap == 2*time.Hour }},
		{"cap 13", "FFB_LIFETIME_CAP_HOURS", "13", true, nil},
		{"cap 1", "FFB_LIFETIME_CAP_HOURS", "1", true, nil},
		{"cap as a duration", "FFB_LIFETIME_CAP_HOURS", "4h", true, nil},
		{"instances none", "FFB_DB_INSTANCES", "", false, func(c lambdafn.Config) bool { return c.Instances == "" }},
		{"instances rds", "FFB_DB_INSTANCES", "rds", false, func(c lambdafn.Config) bool { return c.Instances == "rds" }},
		{"instances listed", "FFB_DB_INSTANCES", "r1.example:5433, r2.example", false, func(c lambdafn.Config) bool {
			return len(c.StaticInstances) == 2 && c.StaticInstances[0].Port == 5433 && c.StaticInstances[1].Port == 5432 && c.StaticInstances[1].Host == "r2.example"
		}},
		{"instances with a bad port", "FFB_DB_INSTANCES", "r1.example:99999", true, nil},
		{"instances with a path", "FFB_DB_INSTANCES", "/tmp/socket", true, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"FFB_DB_HOST": "db.example", "FFB_DB_USER": "my_pg_password_broker", "AWS_REGION": "us-east-1",
				"FFB_CLUSTER_ID": "my-pg", tc.variable: tc.value}
			cfg, err := config.Load(func(k string) string { return env[k] })
			switch {
			case tc.wantErr && (err == nil || !strings.Contains(err.Error(), tc.variable)):
				t.Errorf("config.Load(%s=%q) error = %v; want one naming %s", tc.variable, tc.value, err, tc.variable)
			case !tc.wantErr && err != nil:
				t.Errorf("config.Load(%s=%q) error = %v", tc.variable, tc.value, err)
			case !tc.wantErr && !tc.check(cfg):
				t.Errorf("config.Load(%s=%q) = %+v; not what it says", tc.variable, tc.value, cfg)
			}
		})
	}
	env := map[string]string{"FFB_DB_HOST": "db.example", "AWS_REGION": "us-east-1", "FFB_DB_INSTANCES": "rds"}
	if _, err := config.Load(func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "FFB_CLUSTER_ID") {
		t.Errorf("config.Load(FFB_DB_INSTANCES=rds without FFB_CLUSTER_ID) error = %v; want one naming FFB_CLUSTER_ID", err)
	}
}
