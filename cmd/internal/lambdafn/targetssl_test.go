package lambdafn_test

import (
	"github.com/ffbroker/ffbroker/cmd/internal/config"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
)

// FFB_TARGET_SSLMODE is the sslmode every issued secret tells the firefighters' psql
// (ffbroker connect sets PGSSLMODE from it). A deployed (IAM) function refuses to
// start with one that does not verify the server's name (verify-ca included: the
// RDS CA signs every instance of every account), or with a typo, naming the
// variable; local password mode keeps disable. (Red teams 4 and 5.)
func TestTargetSSLModeCheckedAtColdStart(t *testing.T) {
	base := map[string]string{"FFB_DB_HOST": "db.example", "FFB_DB_USER": "my_pg_password_broker", "AWS_REGION": "us-east-1"}
	load := func(extra map[string]string) (lambdafn.Config, error) {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return config.Load(func(k string) string { return env[k] })
	}
	// The control: the documented values start.
	for _, mode := range []string{"", "verify-full"} {
		cfg, err := load(map[string]string{"FFB_TARGET_SSLMODE": mode})
		if err != nil || cfg.Target.SSLMode != "verify-full" {
			t.Fatalf("config.Load(FFB_TARGET_SSLMODE=%q) = %q, %v; want verify-full", mode, cfg.Target.SSLMode, err)
		}
	}
	if _, err := load(map[string]string{"FFB_DB_AUTH": "password", "FFB_DB_PASSWORD": "pw", "FFB_DB_SSLMODE": "disable", "FFB_TARGET_SSLMODE": "disable"}); err != nil {
		t.Fatalf("local password mode with FFB_TARGET_SSLMODE=disable: %v; want it accepted", err)
	}
	for _, mode := range []string{"disable", "allow", "prefer", "require", "verify-ca", "verify_full", "VERIFY-FULL", "verify-full "} {
		cfg, err := load(map[string]string{"FFB_TARGET_SSLMODE": mode})
		if err == nil || !strings.Contains(err.Error(), "FFB_TARGET_SSLMODE") {
			t.Errorf("IAM deployment with FFB_TARGET_SSLMODE=%q: config.Load error %v (secrets would say sslmode %q); want an error naming FFB_TARGET_SSLMODE",
				mode, err, cfg.Target.SSLMode)
		}
	}
}
