package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/postgres"
	"github.com/ffbroker/ffbroker/cmd/internal/config"
)

const dbconnRegion = "eu-west-1"

func dbconnEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestDBDefaults(t *testing.T) {
	got, err := config.DB(dbconnEnv(map[string]string{
		"FFB_DB_HOST": "db.example.com", "AWS_REGION": dbconnRegion,
	}))
	if err != nil {
		t.Fatalf("config.DB(host, region) error = %v; want nil", err)
	}
	want := postgres.Config{
		Host: "db.example.com", Port: 5432, Database: "my-pg-db", User: "my_pg_password_broker",
		Auth: "iam", SSLMode: "verify-full", Region: dbconnRegion,
		ConnectTimeout: 5 * time.Second, StatementTimeout: 15 * time.Second, ApplicationName: "ffbroker",
	}
	if got.Password.Len() != 0 {
		t.Errorf("config.DB(host, region).Password has %d bytes; want none", got.Password.Len())
	}
	got.Password = broker.Password{}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("config.DB(host, region) = %+v; want %+v", got, want)
	}
}

// TestDBUserFollowsThePrefix: with no FFB_DB_USER the login is the
// broker's of FFB_ROLE_PREFIX's role model, as the approver's and the activity job's are.
func TestDBUserFollowsThePrefix(t *testing.T) {
	got, err := config.DB(dbconnEnv(map[string]string{
		"FFB_DB_HOST": "db.example.com", "AWS_REGION": dbconnRegion, "FFB_ROLE_PREFIX": "team_a",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got.User != "team_a_password_broker" || got.Database != "my-pg-db" {
		t.Errorf("config.DB(FFB_ROLE_PREFIX=team_a) user, database = %q, %q; want team_a_password_broker, my-pg-db", got.User, got.Database)
	}
}

func TestDBPasswordMode(t *testing.T) {
	got, err := config.DB(dbconnEnv(map[string]string{
		"FFB_DB_HOST": "localhost", "FFB_DB_PORT": "6543", "FFB_DB_NAME": "other", "FFB_DB_USER": "me",
		"FFB_DB_AUTH": "password", "FFB_DB_PASSWORD": "pw-for-local-use", "FFB_DB_SSLMODE": "disable",
	}))
	if err != nil {
		t.Fatalf("config.DB(password mode) error = %v; want nil", err)
	}
	if got.Port != 6543 || got.Database != "other" || got.User != "me" || got.Auth != "password" ||
		got.SSLMode != "disable" || got.Password.Reveal() != "pw-for-local-use" {
		t.Errorf("config.DB(password mode) = %+v; want port 6543, db other, user me, password mode, sslmode disable, the password", got)
	}
}

func TestDBErrorsNameTheVariable(t *testing.T) {
	badCA := filepath.Join(t.TempDir(), "not-a-ca.pem")
	if err := os.WriteFile(badCA, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"FFB_DB_HOST": "db.example.com", "AWS_REGION": dbconnRegion}
	tests := []struct {
		name    string
		set     map[string]string
		wantVar string
	}{
		{"no host", map[string]string{"FFB_DB_HOST": ""}, "FFB_DB_HOST"},
		{"host list", map[string]string{"FFB_DB_HOST": "a,b"}, "FFB_DB_HOST"},
		{"port 0", map[string]string{"FFB_DB_PORT": "0"}, "FFB_DB_PORT"},
		{"port 70000", map[string]string{"FFB_DB_PORT": "70000"}, "FFB_DB_PORT"},
		{"port abc", map[string]string{"FFB_DB_PORT": "abc"}, "FFB_DB_PORT"},
		{"port -1", map[string]string{"FFB_DB_PORT": "-1"}, "FFB_DB_PORT"},
		{"auth foo", map[string]string{"FFB_DB_AUTH": "foo"}, "FFB_DB_AUTH"},
		{"iam with sslmode require", map[string]string{"FFB_DB_SSLMODE": "require"}, "FFB_DB_SSLMODE"},
		{"iam with sslmode disable", map[string]string{"FFB_DB_SSLMODE": "disable"}, "FFB_DB_SSLMODE"},
		{"iam with sslmode verify-ca", map[string]string{"FFB_DB_SSLMODE": "verify-ca"}, "FFB_DB_SSLMODE"},
		{"sslmode prefer", map[string]string{"FFB_DB_AUTH": "password", "FFB_DB_PASSWORD": "pw", "FFB_DB_SSLMODE": "prefer"}, "FFB_DB_SSLMODE"},
		{"iam with a password", map[string]string{"FFB_DB_PASSWORD": "pw"}, "FFB_DB_PASSWORD"},
		{"password mode without password", map[string]string{"FFB_DB_AUTH": "password"}, "FFB_DB_PASSWORD"},
		{"iam without region", map[string]string{"AWS_REGION": ""}, "AWS_REGION"},
		{"missing CA file", map[string]string{"FFB_DB_CA_FILE": filepath.Join(t.TempDir(), "absent.pem")}, "FFB_DB_CA_FILE"},
		{"CA file without certificate", map[string]string{"FFB_DB_CA_FILE": badCA}, "FFB_DB_CA_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{}
			for k, v := range base {
				vars[k] = v
			}
			for k, v := range tt.set {
				vars[k] = v
			}
			_, err := config.DB(dbconnEnv(vars))
			if err == nil || !strings.HasPrefix(err.Error(), tt.wantVar+": ") {
				t.Fatalf("config.DB(%v) error = %v; want one starting %q", tt.set, err, tt.wantVar+": ")
			}
			if p := vars["FFB_DB_PASSWORD"]; p != "" && strings.Contains(err.Error(), p) {
				t.Errorf("config.DB(%v) error = %q; holds the password", tt.set, err)
			}
		})
	}
	if _, err := config.DB(dbconnEnv(map[string]string{"FFB_DB_HOST": "h", "AWS_REGION": "r", "FFB_DB_PORT": "70000"})); err == nil ||
		err.Error() != "FFB_DB_PORT: must be 1-65535" {
		t.Errorf("config.DB(port 70000) error = %v; want \"FFB_DB_PORT: must be 1-65535\"", err)
	}
}
