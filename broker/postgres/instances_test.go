package postgres_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/postgres"
	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// A connection to one instance of the cluster verifies that instance's own name (as
// Aurora's instance certificates carry it), and in IAM mode the token is signed for
// that instance's endpoint. The instance is a hot standby with a certificate for an
// RDS-style instance name that the connector's resolver maps to it.
func TestInstanceConnectionVerifiesTheInstanceName(t *testing.T) {
	cluster := dbconnTLSCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const user, password = "my_pg_password_broker", "broker-instance-password-0123456789"
	if err := cluster.SetPassword(ctx, user, password); err != nil {
		t.Fatal(err)
	}
	const named, unnamed = "ffb-r1.aaaaaaaaaa.us-east-1.rds.amazonaws.com", "ffb-r2.aaaaaaaaaa.us-east-1.rds.amazonaws.com"
	sb, err := cluster.NewStandby(ctx, pgtest.StandbyOptions{CertHosts: []string{named}})
	if err != nil {
		t.Fatalf("NewStandby: %v", err)
	}
	t.Cleanup(sb.Close)
	resolve := func(_ context.Context, host string) ([]string, error) {
		if host == named || host == unnamed {
			return []string{net.JoinHostPort(sb.Host, strconv.Itoa(sb.Port))}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	writer := func(t *testing.T, auth string) *postgres.Connector {
		cfg := postgres.Config{Host: cluster.Host, Port: cluster.Port, Database: "my-pg-db", User: user, Auth: auth,
			SSLMode: postgres.SSLModeVerifyFull, CAFile: cluster.CAFile, Region: dbconnRegion}
		if auth == postgres.AuthPassword {
			cfg.Password = broker.NewPassword(password)
		}
		c, err := postgres.NewConnector(cfg, dbconnAWSConfig())
		if err != nil {
			t.Fatal(err)
		}
		c.Resolve = resolve
		return c
	}

	t.Run("its own name", func(t *testing.T) {
		c, err := writer(t, postgres.AuthPassword).ForInstance(named, sb.Port)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := c.Connect(ctx)
		if err != nil {
			t.Fatalf("Connect(%s) error = %v", named, err)
		}
		defer conn.Close(ctx)
		var standby bool
		var n int
		if err := conn.QueryRow(ctx, `SELECT pg_is_in_recovery(), db_admin.terminate_firefighter_sessions('my_pg_firefighter_ro')`).Scan(&standby, &n); err != nil || !standby {
			t.Errorf("on the instance: in recovery %v, terminate_firefighter_sessions = %d, %v; want a standby where it runs", standby, n, err)
		}
	})
	t.Run("a name its certificate lacks", func(t *testing.T) {
		c, err := writer(t, postgres.AuthPassword).ForInstance(unnamed, sb.Port)
		if err != nil {
			t.Fatal(err)
		}
		if conn, err := c.Connect(ctx); broker.ErrorCategory(err) != broker.CategoryCertificate {
			if conn != nil {
				conn.Close(ctx)
			}
			t.Errorf("Connect(%s, certificate for %s only) error = %v; want category certificate", unnamed, named, err)
		}
	})
	t.Run("iam token for the instance", func(t *testing.T) {
		c, err := writer(t, postgres.AuthIAM).ForInstance(named, sb.Port)
		if err != nil {
			t.Fatal(err)
		}
		var endpoint string
		real := c.TokenSource
		c.TokenSource = func(ctx context.Context, ep, region, u string) (string, error) {
			endpoint = ep
			return real(ctx, ep, region, u)
		}
		// The standby checks the token as a password (no IAM here): refused after a
		// verified handshake, never a certificate failure.
		_, err = c.Connect(ctx)
		if want := net.JoinHostPort(named, strconv.Itoa(sb.Port)); endpoint != want {
			t.Errorf("token signed for %q; want the instance's endpoint %q", endpoint, want)
		}
		if got := broker.ErrorCategory(err); got != broker.CategoryIAMGrant {
			t.Errorf("Connect(iam, %s) error = %v; want category iam_grant (TLS verified, token refused as a password)", named, err)
		}
	})
}
