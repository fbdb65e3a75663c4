package postgres_test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/postgres"
	"github.com/ffbroker/ffbroker/internal/pgtest"
)

const (
	dbconnRegion    = "eu-west-1"
	dbconnAccessKey = "AKIAIOSFODNN7EXAMPLE"
)

// dbconnAWSConfig is an aws.Config with static credentials: signing a token
// needs no AWS endpoint.
func dbconnAWSConfig() aws.Config {
	return aws.Config{
		Region:      dbconnRegion,
		Credentials: credentials.NewStaticCredentialsProvider(dbconnAccessKey, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""),
	}
}

// dbconnTLSCluster starts a cluster with TLS for one test, bootstrapped with
// the aurora flavor, and stops it when the test ends.
func dbconnTLSCluster(t *testing.T) *pgtest.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgtest.New(ctx, pgtest.Options{TLS: true})
	if errors.Is(err, pgtest.ErrNoBinaries) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatalf("pgtest.New(TLS) error = %v", err)
	}
	t.Cleanup(c.Close)
	if out, err := c.Bootstrap(ctx, pgtest.Vars{Flavor: "aurora"}); err != nil {
		t.Fatalf("Bootstrap(aurora) error = %v\n%s", err, out)
	}
	return c
}

// dbconnSuperExec runs sql as the cluster's superuser, as a DBA would out of band.
func dbconnSuperExec(t *testing.T, c *pgtest.Cluster, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := c.ConnectSuper(ctx, "postgres")
	if err != nil {
		t.Fatalf("ConnectSuper error = %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("superuser %q error = %v", sql, err)
	}
}

func TestDBConfigValidateNamesTheField(t *testing.T) {
	ok := postgres.Config{Host: "db.example.com", Database: "d", User: "u", Region: dbconnRegion}
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate(minimal IAM config) = %v; want nil", err)
	}
	tests := []struct {
		name      string
		edit      func(*postgres.Config)
		wantField string
	}{
		{"unix socket host", func(c *postgres.Config) { c.Host = "/tmp" }, "Host"},
		{"port", func(c *postgres.Config) { c.Port = 70000 }, "Port"},
		{"no database", func(c *postgres.Config) { c.Database = "" }, "Database"},
		{"no user", func(c *postgres.Config) { c.User = "" }, "User"},
		{"auth", func(c *postgres.Config) { c.Auth = "kerberos" }, "Auth"},
		{"iam with require", func(c *postgres.Config) { c.SSLMode = postgres.SSLModeRequire }, "SSLMode"},
		{"negative connect timeout", func(c *postgres.Config) { c.ConnectTimeout = -time.Second }, "ConnectTimeout"},
		{"sub-millisecond statement timeout", func(c *postgres.Config) { c.StatementTimeout = time.Microsecond }, "StatementTimeout"},
		{"application name", func(c *postgres.Config) { c.ApplicationName = "a\nb" }, "ApplicationName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.wantField+": ") {
				t.Errorf("Validate() = %v; want an error naming %s", err, tt.wantField)
			}
		})
	}
}

func TestNewConnectorRefusesIAMWithoutVerifyFull(t *testing.T) {
	for _, mode := range []string{postgres.SSLModeDisable, postgres.SSLModeRequire, postgres.SSLModeVerifyCA, "prefer", "allow"} {
		t.Run(mode, func(t *testing.T) {
			// A listener that would see any dial: there must be none.
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			dialed := make(chan struct{}, 1)
			go func() {
				if c, err := l.Accept(); err == nil {
					c.Close()
					dialed <- struct{}{}
				}
			}()
			cfg := postgres.Config{Host: "127.0.0.1", Port: l.Addr().(*net.TCPAddr).Port, Database: "d", User: "u",
				Auth: postgres.AuthIAM, SSLMode: mode, Region: dbconnRegion}
			conn, err := postgres.NewConnector(cfg, dbconnAWSConfig())
			if err == nil || !strings.Contains(err.Error(), "SSLMode") {
				t.Fatalf("NewConnector(iam, sslmode %s) = %v, %v; want an error naming SSLMode", mode, conn, err)
			}
			select {
			case <-dialed:
				t.Errorf("NewConnector(iam, sslmode %s) dialed the server", mode)
			case <-time.After(50 * time.Millisecond):
			}
		})
	}
}

func TestNewConnectorIAMNeedsCredentials(t *testing.T) {
	cfg := postgres.Config{Host: "db.example.com", Database: "d", User: "u"}
	if _, err := postgres.NewConnector(cfg, aws.Config{Region: dbconnRegion}); err == nil {
		t.Errorf("NewConnector(iam, no credentials) error = nil; want one")
	}
	c, err := postgres.NewConnector(cfg, dbconnAWSConfig())
	if err != nil || c.TokenSource == nil {
		t.Errorf("NewConnector(iam, region from aws.Config) = %v, %v; want a connector with a token source", c, err)
	}
}

// closedPort returns a loopback port that nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestIAMTokenIsPresignedConnectURL(t *testing.T) {
	port := closedPort(t)
	cfg := postgres.Config{Host: "127.0.0.1", Port: port, Database: "d", User: "my_pg_password_broker", Region: dbconnRegion}
	c, err := postgres.NewConnector(cfg, dbconnAWSConfig())
	if err != nil {
		t.Fatalf("NewConnector(iam) error = %v", err)
	}
	var tokens []string
	real := c.TokenSource
	c.TokenSource = func(ctx context.Context, endpoint, region, user string) (string, error) {
		tok, err := real(ctx, endpoint, region, user)
		tokens = append(tokens, tok)
		return tok, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = c.Connect(ctx)
	if got := broker.ErrorCode(err); got != broker.CodeUnavailable {
		t.Fatalf("Connect(closed port) error = %v; want code unavailable", err)
	}
	if len(tokens) != 1 {
		t.Fatalf("Connect(closed port) built %d tokens; want 1", len(tokens))
	}
	tok := tokens[0]
	if strings.Contains(err.Error(), tok) || strings.Contains(fmt.Sprintf("%+v", err), "X-Amz-Signature") {
		t.Errorf("Connect(closed port) error = %q; holds the token", err)
	}

	u, err := url.Parse("https://" + tok)
	if err != nil {
		t.Fatalf("token %q is not a URL without its scheme: %v", tok, err)
	}
	if want := "127.0.0.1:" + strconv.Itoa(port); u.Host != want {
		t.Errorf("token host = %q; want %q", u.Host, want)
	}
	q := u.Query()
	for param, want := range map[string]string{
		"Action":          "connect",
		"DBUser":          "my_pg_password_broker",
		"X-Amz-Expires":   "900",
		"X-Amz-Algorithm": "AWS4-HMAC-SHA256",
	} {
		if got := q.Get(param); got != want {
			t.Errorf("token %s = %q; want %q", param, got, want)
		}
	}
	// X-Amz-Credential is AKID/yyyymmdd/region/service/aws4_request.
	cred := strings.Split(q.Get("X-Amz-Credential"), "/")
	if len(cred) != 5 || cred[0] != dbconnAccessKey || cred[2] != dbconnRegion || cred[3] != "rds-db" || cred[4] != "aws4_request" {
		t.Errorf("token X-Amz-Credential = %q; want %s/<date>/%s/rds-db/aws4_request", q.Get("X-Amz-Credential"), dbconnAccessKey, dbconnRegion)
	}
	if len(q.Get("X-Amz-Signature")) != 64 || q.Get("X-Amz-Date") == "" {
		t.Errorf("token = %q; want an X-Amz-Date and a 64-hex-digit X-Amz-Signature", tok)
	}
}

func TestIAMConnectOverVerifiedTLS(t *testing.T) {
	t.Parallel()
	cluster := dbconnTLSCluster(t)
	names := pgtest.Vars{}.Model()
	cfg := postgres.Config{Host: cluster.Host, Port: cluster.Port, Database: names.DB, User: names.Broker,
		Region: dbconnRegion, CAFile: cluster.CAFile}
	c, err := postgres.NewConnector(cfg, dbconnAWSConfig())
	if err != nil {
		t.Fatalf("NewConnector(iam, verify-full, cluster CA) error = %v", err)
	}
	var mu sync.Mutex
	var tokens []string
	real := c.TokenSource
	c.TokenSource = func(ctx context.Context, endpoint, region, user string) (string, error) {
		tok, err := real(ctx, endpoint, region, user)
		if err != nil {
			return "", err
		}
		// Stand-in for Aurora's IAM check, which cannot run here: the login's
		// password becomes the token just built, so the server accepts exactly
		// this token, sent by the broker as its password.
		if err := cluster.SetPassword(ctx, user, tok); err != nil {
			return "", err
		}
		mu.Lock()
		tokens = append(tokens, tok)
		mu.Unlock()
		return tok, nil
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	super, err := cluster.ConnectSuper(ctx, "postgres")
	if err != nil {
		t.Fatalf("ConnectSuper error = %v", err)
	}
	defer super.Close(ctx)

	for i := range 2 {
		if i > 0 {
			// Tokens are signed to the second: wait for the next one so a
			// fresh token differs from the last.
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
		}
		conn, err := c.Connect(ctx)
		if err != nil {
			t.Fatalf("Connect #%d error = %v; want nil", i+1, err)
		}
		var ssl bool
		var version string
		if err := super.QueryRow(ctx, `SELECT ssl, coalesce(version, '') FROM pg_stat_ssl WHERE pid = $1`,
			conn.PgConn().PID()).Scan(&ssl, &version); err != nil {
			t.Fatalf("pg_stat_ssl for the broker's backend: %v", err)
		}
		if !ssl || (version != "TLSv1.2" && version != "TLSv1.3") {
			t.Errorf("Connect #%d: pg_stat_ssl ssl = %v, version %q; want TLS 1.2 or 1.3", i+1, ssl, version)
		}
		for setting, want := range map[string]string{"statement_timeout": "15s", "application_name": "ffbroker"} {
			var got string
			if err := conn.QueryRow(ctx, "SELECT current_setting($1)", setting).Scan(&got); err != nil || got != want {
				t.Errorf("Connect #%d: current_setting(%s) = %q, %v; want %q", i+1, setting, got, err, want)
			}
		}
		var user string
		if err := conn.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil || user != names.Broker {
			t.Errorf("Connect #%d: current_user = %q, %v; want %q", i+1, user, err, names.Broker)
		}
		if p := conn.Config().Password; p != "" {
			t.Errorf("Connect #%d: conn.Config().Password has %d bytes; want it forgotten after login", i+1, len(p))
		}
		conn.Close(ctx)
	}
	if len(tokens) != 2 || tokens[0] == tokens[1] {
		t.Errorf("two Connects built %d tokens (distinct: %v); want 2 distinct", len(tokens), len(tokens) == 2 && tokens[0] != tokens[1])
	}

	// The same server, verified against a CA that did not sign its certificate.
	cfg.CAFile = cluster.WrongCAFile
	wrong, err := postgres.NewConnector(cfg, dbconnAWSConfig())
	if err != nil {
		t.Fatalf("NewConnector(iam, wrong CA) error = %v", err)
	}
	_, err = wrong.Connect(ctx)
	var certErr *tls.CertificateVerificationError
	if broker.ErrorCode(err) != broker.CodeDatabaseUnavailable || broker.ErrorCategory(err) != broker.CategoryCertificate || !errors.As(err, &certErr) {
		t.Errorf("Connect(wrong CA) error = %v; want code database_unavailable, category certificate and a certificate verification error", err)
	}
}

// fakeTLSServer is a server that speaks PostgreSQL up to the TLS handshake and
// records what a client sends after it.
type fakeTLSServer struct {
	port   int
	result chan fakeTLSResult
}

type fakeTLSResult struct {
	sslRequest   bool
	handshakeErr error
	appBytes     []byte
	err          error
}

// startFakeTLSServer accepts one connection, reads the SSLRequest, answers
// answer ('S' or 'N') and, after 'S', does the TLS handshake with cert and
// records every application byte that arrives until the client goes quiet.
func startFakeTLSServer(t *testing.T, cert tls.Certificate, answer byte) *fakeTLSServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	s := &fakeTLSServer{port: l.Addr().(*net.TCPAddr).Port, result: make(chan fakeTLSResult, 1)}
	go func() {
		conn, err := l.Accept()
		if err != nil {
			s.result <- fakeTLSResult{err: err}
			return
		}
		defer conn.Close()
		s.result <- serveFakeTLS(conn, cert, answer)
	}()
	return s
}

func serveFakeTLS(conn net.Conn, cert tls.Certificate, answer byte) fakeTLSResult {
	var r fakeTLSResult
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var req [8]byte
	if _, err := io.ReadFull(conn, req[:]); err != nil {
		r.err = err
		return r
	}
	r.sslRequest = binary.BigEndian.Uint32(req[0:4]) == 8 && binary.BigEndian.Uint32(req[4:8]) == 80877103
	if _, err := conn.Write([]byte{answer}); err != nil {
		r.err = err
		return r
	}
	app := conn
	if answer == 'S' {
		tlsConn := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		if r.handshakeErr = tlsConn.Handshake(); r.handshakeErr != nil {
			return r
		}
		app = tlsConn
	}
	buf := make([]byte, 4096)
	for {
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := app.Read(buf)
		r.appBytes = append(r.appBytes, buf[:n]...)
		if err != nil {
			return r
		}
	}
}

func TestConnectSendsNothingToUnverifiedServer(t *testing.T) {
	t.Parallel()
	cluster := dbconnTLSCluster(t)
	issue := func(hosts ...string) tls.Certificate {
		cert, err := cluster.IssueServerCert(hosts...)
		if err != nil {
			t.Fatalf("IssueServerCert(%v) error = %v", hosts, err)
		}
		return cert
	}
	const password = "local-password-never-sent-0123456789"
	tests := []struct {
		name       string
		auth       string
		caFile     string
		cert       tls.Certificate
		answer     byte
		wantVerify bool // the client accepts the server: the positive control
	}{
		{"iam, certificate from another CA", postgres.AuthIAM, cluster.WrongCAFile, issue("localhost", "127.0.0.1"), 'S', false},
		{"iam, certificate for another host", postgres.AuthIAM, cluster.CAFile, issue("other.example"), 'S', false},
		{"iam, server refuses TLS", postgres.AuthIAM, cluster.CAFile, issue("127.0.0.1"), 'N', false},
		{"password verify-full, certificate for another host", postgres.AuthPassword, cluster.CAFile, issue("other.example"), 'S', false},
		{"iam, verified server (control)", postgres.AuthIAM, cluster.CAFile, issue("127.0.0.1"), 'S', true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startFakeTLSServer(t, tt.cert, tt.answer)
			cfg := postgres.Config{Host: "127.0.0.1", Port: srv.port, Database: "d", User: "my_pg_password_broker",
				Auth: tt.auth, CAFile: tt.caFile, Region: dbconnRegion}
			secret := password
			if tt.auth == postgres.AuthPassword {
				cfg.Password = broker.NewPassword(password)
			}
			c, err := postgres.NewConnector(cfg, dbconnAWSConfig())
			if err != nil {
				t.Fatalf("NewConnector error = %v", err)
			}
			if tt.auth == postgres.AuthIAM {
				secret = ""
				real := c.TokenSource
				c.TokenSource = func(ctx context.Context, endpoint, region, user string) (string, error) {
					tok, err := real(ctx, endpoint, region, user)
					secret = tok
					return tok, err
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := c.Connect(ctx)
			if err == nil {
				conn.Close(ctx)
				t.Fatalf("Connect(fake server) error = nil; want one")
			}
			var r fakeTLSResult
			select {
			case r = <-srv.result:
			case <-time.After(5 * time.Second):
				t.Fatal("fake server saw no connection")
			}
			if r.err != nil || !r.sslRequest {
				t.Fatalf("fake server: SSLRequest seen = %v, error %v; want the SSLRequest first", r.sslRequest, r.err)
			}
			if secret == "" {
				t.Fatal("no token was built")
			}
			if strings.Contains(fmt.Sprintf("%v %+v", err, err), secret) {
				t.Errorf("Connect error = %q; holds the secret", err)
			}
			if tt.wantVerify {
				if r.handshakeErr != nil || !strings.Contains(string(r.appBytes), "my_pg_password_broker") {
					t.Errorf("control: handshake error %v, %d bytes after it; want a handshake and the startup message", r.handshakeErr, len(r.appBytes))
				}
				return
			}
			wantCat := broker.CategoryCertificate
			if tt.answer == 'N' {
				wantCat = broker.CategoryTLS
			}
			if broker.ErrorCode(err) != broker.CodeDatabaseUnavailable || broker.ErrorCategory(err) != wantCat {
				t.Errorf("Connect(unverified server) error = %v; want code database_unavailable, category %s", err, wantCat)
			}
			if tt.answer == 'S' {
				var certErr *tls.CertificateVerificationError
				if r.handshakeErr == nil || !errors.As(err, &certErr) {
					t.Errorf("handshake: server side error %v, client error %v; want both to fail on verification", r.handshakeErr, err)
				}
			}
			if len(r.appBytes) != 0 {
				t.Errorf("unverified server received %d bytes after the SSLRequest answer (%q); want none", len(r.appBytes), r.appBytes)
			}
		})
	}
}

func TestConnectRetriesOnTooManyConnections(t *testing.T) {
	t.Parallel()
	cluster := dbconnTLSCluster(t)
	names := pgtest.Vars{}.Model()
	const password = "broker-password-for-the-retry-test-42"
	ctx := context.Background()
	if err := cluster.SetPassword(ctx, names.Broker, password); err != nil {
		t.Fatalf("SetPassword(broker) error = %v", err)
	}
	dbconnSuperExec(t, cluster, fmt.Sprintf(`ALTER ROLE %s CONNECTION LIMIT 1`, names.Broker))
	cfg := postgres.Config{Host: cluster.Host, Port: cluster.Port, Database: names.DB, User: names.Broker,
		Auth: postgres.AuthPassword, Password: broker.NewPassword(password), CAFile: cluster.CAFile}
	c, err := postgres.NewConnector(cfg, aws.Config{})
	if err != nil {
		t.Fatalf("NewConnector(password, verify-full) error = %v", err)
	}
	refusals := func() int {
		log, _ := cluster.Log()
		return strings.Count(log, "too many connections for role")
	}

	t.Run("slot freed before the deadline", func(t *testing.T) {
		held, err := holdSlot(ctx, cluster, names.Broker, password, names.DB)
		if err != nil {
			t.Fatalf("holding the broker's one connection: %v", err)
		}
		before := refusals()
		type outcome struct {
			err     error
			elapsed time.Duration
		}
		done := make(chan outcome, 1)
		go func() {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			start := time.Now()
			conn, err := c.Connect(cctx)
			if err == nil {
				conn.Close(ctx)
			}
			done <- outcome{err, time.Since(start)}
		}()
		// Free the slot once the server has refused the connector at least once
		// (counted in the server's log, not in time).
		for i := 0; refusals() == before && i < 3000; i++ {
			time.Sleep(10 * time.Millisecond)
		}
		held.Close(ctx)
		got := <-done
		if got.err != nil {
			t.Fatalf("Connect with the slot freed after a refusal error = %v; want nil", got.err)
		}
		if n := refusals() - before; n < 1 {
			t.Errorf("Connect succeeded after %v and %d refusals; want it to have retried past the hold", got.elapsed, n)
		}
	})

	t.Run("slot held past the deadline", func(t *testing.T) {
		held, err := holdSlot(ctx, cluster, names.Broker, password, names.DB)
		if err != nil {
			t.Fatalf("holding the broker's one connection: %v", err)
		}
		defer held.Close(ctx)
		before := refusals()
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		start := time.Now()
		conn, err := c.Connect(cctx)
		elapsed := time.Since(start)
		if err == nil {
			conn.Close(ctx)
			t.Fatal("Connect with the slot held error = nil; want unavailable")
		}
		if broker.ErrorCode(err) != broker.CodeUnavailable || !broker.Retryable(err) || broker.ErrorCategory(err) != broker.CategoryConnectionLimit {
			t.Errorf("Connect with the slot held error = %v; want code unavailable, retryable, category connection_limit", err)
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "53300" {
			t.Errorf("Connect with the slot held error = %v; want it to wrap SQLSTATE 53300", err)
		}
		for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err), broker.ErrorMessage(err)} {
			if strings.Contains(text, password) {
				t.Errorf("Connect error text %q holds the password", text)
			}
		}
		// Work, not time: several attempts before giving up, not one refusal.
		if n := refusals() - before; n < 3 {
			t.Errorf("Connect gave up after %v and %d refusals; want several attempts before the 2s deadline", elapsed, n)
		}
	})
}

// holdSlot logs in, waiting while the role's only connection slot is still taken by a
// backend that an earlier subtest closed and that is still exiting.
func holdSlot(ctx context.Context, c *pgtest.Cluster, user, password, db string) (*pgx.Conn, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := c.Connect(ctx, user, password, db)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "53300" || time.Now().After(deadline) {
			return conn, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
