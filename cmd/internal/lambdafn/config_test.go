package lambdafn_test

import (
	"github.com/ffbroker/ffbroker/cmd/internal/config"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
)

// FFB_EXPIRY_WARNING is validated at cold start like the other FFB_* variables.
func TestExpiryWarningConfig(t *testing.T) {
	tests := []struct {
		value   string
		want    time.Duration
		wantErr bool
	}{
		{"", 15 * time.Minute, false},
		{"15m", 15 * time.Minute, false},
		{"1m", time.Minute, false},
		{"2h", 2 * time.Hour, false},
		{"0", 0, false},
		{"off", 0, false},
		{"59s", 0, true},
		{"2h1s", 0, true},
		{"90.5s", 0, true},
		{"-5m", 0, true},
		{"soon", 0, true},
	}
	for _, tc := range tests {
		t.Run("FFB_EXPIRY_WARNING="+tc.value, func(t *testing.T) {
			env := map[string]string{"FFB_DB_HOST": "db.example", "FFB_DB_USER": "my_pg_password_broker", "AWS_REGION": "us-east-1", "FFB_EXPIRY_WARNING": tc.value}
			cfg, err := config.Load(func(k string) string { return env[k] })
			switch {
			case tc.wantErr && (err == nil || !strings.Contains(err.Error(), "FFB_EXPIRY_WARNING")):
				t.Errorf("config.Load(FFB_EXPIRY_WARNING=%q) error = %v; want one naming FFB_EXPIRY_WARNING", tc.value, err)
			case !tc.wantErr && err != nil:
				t.Errorf("config.Load(FFB_EXPIRY_WARNING=%q) error = %v", tc.value, err)
			case !tc.wantErr && cfg.ExpiryWarning != tc.want:
				t.Errorf("config.Load(FFB_EXPIRY_WARNING=%q).ExpiryWarning = %v; want %v", tc.value, cfg.ExpiryWarning, tc.want)
			}
		})
	}
}

// TestActivityConfigFailsTheColdStart: a misconfigured activity job is refused when
// the function is built (the Lambda init phase), naming the variable, not on every
// scheduled run; a well configured one is built with its own login and nothing of
// the broker's (no broker login, no Secrets Manager, no identity verifier).
func TestActivityConfigFailsTheColdStart(t *testing.T) {
	base := map[string]string{"FFB_DB_HOST": "db.example", "AWS_REGION": "us-east-1",
		"FFB_ACTIVITY_LOG_GROUP": "/aws/rds/cluster/c/postgresql"}
	build := func(t *testing.T, env map[string]string) (*lambdafn.Deps, error) {
		getenv := func(k string) string { return env[k] }
		cfg, err := config.Load(getenv)
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.Check(lambdafn.FunctionActivity); err != nil {
			t.Fatal(err)
		}
		return lambdafn.BuildWith(lambdafn.FunctionActivity, cfg, aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", "")}, io.Discard)
	}
	for _, tc := range []struct{ name, key, value string }{
		{"no log group", "FFB_ACTIVITY_LOG_GROUP", ""},
		{"lock days not a number", "FFB_ACTIVITY_LOCK_DAYS", "ninety"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := maps.Clone(base)
			env[tc.key] = tc.value
			d, err := build(t, env)
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("BuildWith(activity, %s=%q) = %v, %v; want an error naming %s", tc.key, tc.value, d, err, tc.key)
			}
		})
	}
	d, err := build(t, base)
	if err != nil {
		t.Fatalf("BuildWith(activity) error = %v", err)
	}
	if d.Activity == nil || d.Audit == nil || d.Broker != nil || d.Store != nil || d.Secrets != nil || d.Verifier != nil || d.SFN != nil {
		t.Errorf("activity deps = %+v; want the job and an audit sink only", d)
	}
}

// FFB_APPROVAL_ROLES no longer decides anything (the database's role table does): a
// deployment that still sets it fails its cold start, naming it, instead of believing
// a setting that is not read.
func TestApprovalRolesVariableFailsTheColdStart(t *testing.T) {
	env := map[string]string{"FFB_DB_HOST": "db.example", "FFB_DB_USER": "my_pg_password_broker", "AWS_REGION": "us-east-1"}
	if _, err := config.Load(func(k string) string { return env[k] }); err != nil {
		t.Fatalf("LoadConfig without FFB_APPROVAL_ROLES: %v", err)
	}
	env["FFB_APPROVAL_ROLES"] = "ro,rw"
	_, err := config.Load(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "FFB_APPROVAL_ROLES") || !strings.Contains(err.Error(), "needs_approval") {
		t.Errorf("config.Load(FFB_APPROVAL_ROLES=ro,rw) error = %v; want one naming the variable and needs_approval", err)
	}
}
