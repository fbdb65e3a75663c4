package lambdafn_test

import (
	"strings"
	"testing"
	"time"

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
			cfg, err := lambdafn.LoadConfig(func(k string) string { return env[k] })
			switch {
			case tc.wantErr && (err == nil || !strings.Contains(err.Error(), "FFB_EXPIRY_WARNING")):
				t.Errorf("LoadConfig(FFB_EXPIRY_WARNING=%q) error = %v; want one naming FFB_EXPIRY_WARNING", tc.value, err)
			case !tc.wantErr && err != nil:
				t.Errorf("LoadConfig(FFB_EXPIRY_WARNING=%q) error = %v", tc.value, err)
			case !tc.wantErr && cfg.ExpiryWarning != tc.want:
				t.Errorf("LoadConfig(FFB_EXPIRY_WARNING=%q).ExpiryWarning = %v; want %v", tc.value, cfg.ExpiryWarning, tc.want)
			}
		})
	}
}
