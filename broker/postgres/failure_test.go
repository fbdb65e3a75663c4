package postgres_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/postgres"
	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// failureCase is one likely first-deployment mistake, made for real against a
// throwaway cluster (or, for Aurora's IAM token check, against a server that
// answers as Aurora does), with the code and category its error must carry.
type failureCase struct {
	name     string
	connect  func(t *testing.T) (*postgres.Connector, time.Duration)
	secret   string // what must appear nowhere: the password or the token
	code     broker.Code
	category broker.Category
}

// TestConnectFailureCategories: each failure names its category in the
// caller's message ("... (category tls)") and in its log line, whose cause is
// present and sanitized, and nothing holds the password or the IAM token.
func TestConnectFailureCategories(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tlsCluster := dbconnTLSCluster(t)
	names := pgtest.Vars{}.Model()
	const password = "failure-category-password-0123456789"
	const wrongPassword = "not-the-password-of-this-login-0123456789"
	for _, sql := range []string{
		// A login that may not log in, one that lacks CONNECT on the database,
		// one outside rds_iam and one with no connection slot.
		`CREATE ROLE ffb_cat_nologin NOLOGIN PASSWORD '` + password + `'`,
		`CREATE ROLE ffb_cat_noconnect LOGIN PASSWORD '` + password + `'`,
		`CREATE ROLE ffb_cat_noiam LOGIN PASSWORD '` + password + `'`,
		`CREATE ROLE ffb_cat_nolimit LOGIN CONNECTION LIMIT 0 PASSWORD '` + password + `'`,
	} {
		dbconnSuperExec(t, tlsCluster, sql)
	}
	if err := tlsCluster.SetPassword(ctx, names.Broker, password); err != nil {
		t.Fatal(err)
	}
	// Over verified TLS to the TLS cluster, in password mode.
	passwordMode := func(user, pw, db string) func(t *testing.T) (*postgres.Connector, time.Duration) {
		return func(t *testing.T) (*postgres.Connector, time.Duration) {
			return connector(t, postgres.Config{Host: tlsCluster.Host, Port: tlsCluster.Port, Database: db, User: user,
				Auth: postgres.AuthPassword, Password: broker.NewPassword(pw), CAFile: tlsCluster.CAFile}, nil), 10 * time.Second
		}
	}
	// IAM mode with the project's stand-in for Aurora's token check: a login
	// in rds_iam gets the token as its password, as Aurora would accept it;
	// any other login keeps its password, which Aurora compares the token
	// with.
	var lastToken string
	iamMode := func(host string, port int, caFile, user string) func(t *testing.T) (*postgres.Connector, time.Duration) {
		return func(t *testing.T) (*postgres.Connector, time.Duration) {
			return connector(t, postgres.Config{Host: host, Port: port, Database: names.DB, User: user, Region: dbconnRegion, CAFile: caFile},
				func(real tokenSource) tokenSource {
					return func(ctx context.Context, endpoint, region, u string) (string, error) {
						tok, err := real(ctx, endpoint, region, u)
						if err != nil {
							return "", err
						}
						lastToken = tok
						if host == tlsCluster.Host && port == tlsCluster.Port && inRdsIAM(ctx, t, tlsCluster, u) {
							if err := tlsCluster.SetPassword(ctx, u, tok); err != nil {
								return "", err
							}
						}
						return tok, nil
					}
				}), 10 * time.Second
		}
	}
	aurora := startFakeAuroraIAM(t, tlsCluster)
	silent := startSilentServer(t)
	tests := []failureCase{
		{"iam, the server has no TLS", iamMode(shared.Cluster.Host, shared.Cluster.Port, tlsCluster.CAFile, names.Broker), "",
			broker.CodeDatabaseUnavailable, broker.CategoryTLS},
		{"iam, no CA bundle (system roots)", iamMode(tlsCluster.Host, tlsCluster.Port, "", names.Broker), "",
			broker.CodeDatabaseUnavailable, broker.CategoryCertificate},
		{"iam, the wrong CA bundle", iamMode(tlsCluster.Host, tlsCluster.Port, tlsCluster.WrongCAFile, names.Broker), "",
			broker.CodeDatabaseUnavailable, broker.CategoryCertificate},
		{"iam, login not granted rds_iam", iamMode(tlsCluster.Host, tlsCluster.Port, tlsCluster.CAFile, "ffb_cat_noiam"), "",
			broker.CodeDatabaseUnavailable, broker.CategoryIAMGrant},
		{"iam, token refused (policy, resource id)", iamMode("127.0.0.1", aurora, tlsCluster.CAFile, names.Broker), "",
			broker.CodeDatabaseUnavailable, broker.CategoryIAMToken},
		{"iam, no AWS credentials", func(t *testing.T) (*postgres.Connector, time.Duration) {
			return connector(t, postgres.Config{Host: tlsCluster.Host, Port: tlsCluster.Port, Database: names.DB, User: names.Broker,
				Region: dbconnRegion, CAFile: tlsCluster.CAFile}, func(tokenSource) tokenSource {
				return func(context.Context, string, string, string) (string, error) {
					return "", errors.New("failed to refresh cached credentials, no EC2 IMDS role found")
				}
			}), 10 * time.Second
		}, "", broker.CodeDatabaseUnavailable, broker.CategoryAWSCredentials},
		{"wrong password", passwordMode(names.Broker, wrongPassword, names.DB), wrongPassword,
			broker.CodeDatabaseUnavailable, broker.CategoryPassword},
		{"role without LOGIN", passwordMode("ffb_cat_nologin", password, names.DB), password,
			broker.CodeDatabaseUnavailable, broker.CategoryLogin},
		{"login without CONNECT on the database", passwordMode("ffb_cat_noconnect", password, names.DB), password,
			broker.CodeDatabaseUnavailable, broker.CategoryDatabase},
		{"database that does not exist", passwordMode("ffb_cat_noconnect", password, "no_such_db"), password,
			broker.CodeDatabaseUnavailable, broker.CategoryDatabase},
		{"connection limit", func(t *testing.T) (*postgres.Connector, time.Duration) {
			c, _ := passwordMode("ffb_cat_nolimit", password, names.DB)(t)
			return c, time.Second
		}, password, broker.CodeUnavailable, broker.CategoryConnectionLimit},
		{"closed port", func(t *testing.T) (*postgres.Connector, time.Duration) {
			return connector(t, postgres.Config{Host: "127.0.0.1", Port: closedPort(t), Database: names.DB, User: names.Broker,
				Auth: postgres.AuthPassword, Password: broker.NewPassword(password), CAFile: tlsCluster.CAFile}, nil), 10 * time.Second
		}, password, broker.CodeUnavailable, broker.CategoryNetwork},
		{"nothing answers (security group)", func(t *testing.T) (*postgres.Connector, time.Duration) {
			return connector(t, postgres.Config{Host: "127.0.0.1", Port: silent, Database: names.DB, User: names.Broker,
				Auth: postgres.AuthPassword, Password: broker.NewPassword(password), CAFile: tlsCluster.CAFile,
				ConnectTimeout: 500 * time.Millisecond}, nil), 10 * time.Second
		}, password, broker.CodeUnavailable, broker.CategoryNetwork},
	}
	t.Run("control: the broker logs in over IAM with rds_iam", func(t *testing.T) {
		c, _ := iamMode(tlsCluster.Host, tlsCluster.Port, tlsCluster.CAFile, names.Broker)(t)
		conn, err := c.Connect(ctx)
		if err != nil {
			t.Fatalf("Connect(iam, rds_iam member) error = %v; want nil", err)
		}
		conn.Close(ctx)
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lastToken = ""
			c, timeout := tt.connect(t)
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			conn, err := c.Connect(cctx)
			if err == nil {
				conn.Close(ctx)
				t.Fatalf("Connect error = nil; want code %s, category %s", tt.code, tt.category)
			}
			secrets := []string{tt.secret, lastToken}
			checkFailure(t, err, tt.code, tt.category, secrets...)
		})
	}
}

// checkFailure checks err's code and category, the caller's message and the log
// line, and that none of them holds one of secrets.
func checkFailure(t *testing.T, err error, code broker.Code, category broker.Category, secrets ...string) {
	t.Helper()
	if got := broker.ErrorCode(err); got != code {
		t.Errorf("Connect error code = %s; want %s (error %v)", got, code, err)
	}
	if got := broker.ErrorCategory(err); got != category {
		t.Errorf("Connect error category = %q; want %q (error %v)", got, category, err)
	}
	msg := broker.ErrorMessage(err)
	if want := "(category " + string(category) + ")"; !strings.HasSuffix(msg, want) {
		t.Errorf("ErrorMessage = %q; want it to end with %q", msg, want)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Error("request failed", "error", err)
	var line struct {
		Error struct {
			Code, Category, Message, Cause string
		} `json:"error"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	if line.Error.Code != string(code) || line.Error.Category != string(category) || line.Error.Cause == "" || line.Error.Message == "" {
		t.Errorf("log line %s; want error.code %s, error.category %s, a message and a cause", buf.String(), code, category)
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, text := range []string{msg, buf.String(), err.Error(), fmt.Sprintf("%+v", err)} {
			if strings.Contains(text, s) {
				t.Errorf("%q holds the password or token", text)
			}
		}
	}
	if strings.Contains(buf.String(), "X-Amz-Signature") {
		t.Errorf("log line %s holds an IAM token", buf.String())
	}
}

type tokenSource = func(ctx context.Context, endpoint, region, user string) (string, error)

// connector builds a Connector for cfg; wrap, if not nil, replaces its token
// source (IAM mode) given the real one.
func connector(t *testing.T, cfg postgres.Config, wrap func(tokenSource) tokenSource) *postgres.Connector {
	t.Helper()
	c, err := postgres.NewConnector(cfg, dbconnAWSConfig())
	if err != nil {
		t.Fatalf("NewConnector error = %v", err)
	}
	if wrap != nil {
		c.TokenSource = wrap(c.TokenSource)
	}
	return c
}

// inRdsIAM reports whether user is a member of rds_iam in c.
func inRdsIAM(ctx context.Context, t *testing.T, c *pgtest.Cluster, user string) bool {
	conn, err := c.ConnectSuper(ctx, "postgres")
	if err != nil {
		t.Errorf("ConnectSuper error = %v", err)
		return false
	}
	defer conn.Close(ctx)
	var member bool
	if err := conn.QueryRow(ctx, `SELECT pg_has_role($1, 'rds_iam', 'MEMBER')`, user).Scan(&member); err != nil {
		t.Errorf("rds_iam membership of %s: %v", user, err)
	}
	return member
}

// startFakeAuroraIAM stands in for the one part of Aurora that cannot run here,
// its IAM token check: over TLS with a certificate of c's CA it asks for the
// password in clear (as Aurora does for rds_iam members) and refuses it as
// Aurora refuses a token that the IAM policy does not allow, with SQLSTATE
// 28000 "PAM authentication failed". It returns its port.
func startFakeAuroraIAM(t *testing.T, c *pgtest.Cluster) int {
	t.Helper()
	cert, err := c.IssueServerCert("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go refuseIAMToken(conn, cert)
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

func refuseIAMToken(conn net.Conn, cert tls.Certificate) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var req [8]byte
	if _, err := io.ReadFull(conn, req[:]); err != nil {
		return
	}
	if _, err := conn.Write([]byte{'S'}); err != nil {
		return
	}
	tc := tls.Server(conn, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	var n [4]byte
	if _, err := io.ReadFull(tc, n[:]); err != nil { // startup message
		return
	}
	if _, err := io.CopyN(io.Discard, tc, int64(binary.BigEndian.Uint32(n[:]))-4); err != nil {
		return
	}
	tc.Write([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 3}) // AuthenticationCleartextPassword
	var head [5]byte
	if _, err := io.ReadFull(tc, head[:]); err != nil || head[0] != 'p' {
		return
	}
	if _, err := io.CopyN(io.Discard, tc, int64(binary.BigEndian.Uint32(head[1:]))-4); err != nil {
		return
	}
	var body []byte
	for _, f := range []struct {
		k byte
		v string
	}{{'S', "FATAL"}, {'V', "FATAL"}, {'C', "28000"}, {'M', `PAM authentication failed for user "my_pg_password_broker"`}, {'R', "auth_failed"}} {
		body = append(append(append(body, f.k), f.v...), 0)
	}
	body = append(body, 0)
	msg := binary.BigEndian.AppendUint32([]byte{'E'}, uint32(len(body)+4))
	tc.Write(append(msg, body...))
}

// startSilentServer accepts connections and never answers, as an endpoint
// behind a security group that drops the packets looks to a client whose
// connect timeout has passed. It returns its port.
func startSilentServer(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() { <-done; conn.Close() }()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}
