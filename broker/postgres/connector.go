package postgres

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Backoff between attempts refused for lack of a connection slot.
const (
	connectRetryBase = 50 * time.Millisecond
	connectRetryCap  = time.Second
)

// Connector opens connections to PostgreSQL as one login (the broker's, the
// approver's or the activity job's), one at a time, each with a configuration built afresh: in IAM mode with a new auth
// token, which is never logged nor put in an error.
//
// The returned connections do not keep the password or token: their Config
// has an empty Password once they are logged in. A Connector is safe for
// concurrent use once built; set TokenSource, if at all, before the first
// Connect.
type Connector struct {
	// TokenSource returns the RDS IAM auth token for user at endpoint
	// ("host:port") in region; Connect calls it once per connection attempt
	// in IAM mode. NewConnector sets it to auth.BuildAuthToken with the
	// aws.Config's credentials; tests replace it.
	TokenSource func(ctx context.Context, endpoint, region, user string) (string, error)
	// Resolve, when set, resolves the host name to addresses instead of the
	// system resolver; the TLS server name stays the host name. Tests map the
	// instance endpoints that moto's RDS invents to a local standby with it.
	Resolve func(ctx context.Context, host string) ([]string, error)

	cfg   Config
	roots *x509.CertPool
}

// NewConnector checks cfg (filling in its defaults, and its Region from
// awsCfg when empty), loads its CA file and returns a Connector. awsCfg's
// credentials sign the IAM auth tokens; password mode does not use awsCfg.
func NewConnector(cfg Config, awsCfg aws.Config) (*Connector, error) {
	cfg = cfg.withDefaults()
	if cfg.Region == "" && cfg.Auth == AuthIAM {
		cfg.Region = awsCfg.Region
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	c := &Connector{cfg: cfg}
	if cfg.SSLMode != SSLModeDisable {
		roots, err := loadRootCAs(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		c.roots = roots
	}
	if cfg.Auth == AuthIAM {
		creds := awsCfg.Credentials
		if creds == nil {
			return nil, errors.New("db config: IAM authentication needs AWS credentials")
		}
		c.TokenSource = func(ctx context.Context, endpoint, region, user string) (string, error) {
			return auth.BuildAuthToken(ctx, endpoint, region, user, creds)
		}
	}
	return c, nil
}

// ForInstance returns a Connector like c to one instance's own endpoint: the same
// login, CA bundle, token source and resolver; in IAM mode the token is signed for
// that endpoint and TLS verify-full checks the instance's name.
func (c *Connector) ForInstance(host string, port int) (*Connector, error) {
	cfg := c.cfg
	cfg.Host, cfg.Port = host, port
	if err := cfg.check(); err != nil {
		return nil, &broker.Error{Code: broker.CodeInternal, Message: "invalid instance endpoint", Err: err}
	}
	return &Connector{TokenSource: c.TokenSource, Resolve: c.Resolve, cfg: cfg, roots: c.roots}, nil
}

// Connect opens a connection. When the server refuses it for lack of a
// connection slot (SQLSTATE 53300, the login's CONNECTION LIMIT) or because it
// is starting up (57P03), Connect tries again after a full-jitter exponential
// backoff (50ms doubling up to 1s) for as long as ctx's deadline allows
// (without one, for the ConnectTimeout), then returns a *broker.Error with
// CodeUnavailable and CategoryConnectionLimit. Every other failure has the
// Category of its likely cause: CodeUnavailable for what a retry may fix
// (network, server), CodeDatabaseUnavailable for what it will not (tls,
// certificate, password, iam_token, iam_grant, login, database,
// aws_credentials), CodeInternal for the rest. No error holds the password or
// the token.
func (c *Connector) Connect(ctx context.Context) (*pgx.Conn, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(c.cfg.ConnectTimeout)
	}
	var refused error // the last refusal, which says more than a timeout after it
	for attempt := 0; ; attempt++ {
		conn, err := c.connectOnce(ctx)
		if err == nil {
			return conn, nil
		}
		if !slotRefused(err) {
			if refused != nil && ctx.Err() != nil {
				return nil, refused
			}
			return nil, err
		}
		refused = err
		wait := fullJitter(attempt)
		if time.Until(deadline) <= wait {
			return nil, err
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, err
		case <-timer.C:
		}
	}
}

// fullJitter returns a random wait from 0 to min(cap, base*2^attempt).
func fullJitter(attempt int) time.Duration {
	ceiling := connectRetryCap
	if attempt < 10 {
		ceiling = min(connectRetryCap, connectRetryBase<<attempt)
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// connectOnce makes one connection attempt with a fresh configuration.
func (c *Connector) connectOnce(ctx context.Context) (*pgx.Conn, error) {
	cc, err := c.connConfig()
	if err != nil {
		return nil, err
	}
	if c.cfg.Auth == AuthIAM {
		// Defence in depth: whatever built the configuration, a token goes
		// nowhere but to a verified server.
		if err := requireVerifyFull(cc); err != nil {
			return nil, err
		}
		token, err := c.token(ctx)
		if err != nil {
			return nil, err
		}
		cc.Password = token
	} else {
		cc.Password = c.cfg.Password.Reveal()
	}
	secret := cc.Password
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, connectFailure(ctx, err, secret, c.cfg.Auth == AuthIAM)
	}
	return conn, nil
}

func (c *Connector) token(ctx context.Context) (string, error) {
	if c.TokenSource == nil {
		return "", &broker.Error{Code: broker.CodeInternal, Message: "no IAM token source"}
	}
	endpoint := net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.cfg.Port))
	token, err := c.TokenSource(ctx, endpoint, c.cfg.Region, c.cfg.User)
	if err != nil {
		code, cat := broker.CodeDatabaseUnavailable, broker.CategoryAWSCredentials
		if ctx.Err() != nil {
			code, cat = broker.CodeUnavailable, broker.CategoryNetwork
		}
		// The token source fails on credentials, before any token exists.
		return "", &broker.Error{Code: code, Category: cat, Message: "cannot build the IAM auth token: check the function's AWS credentials",
			Err: &connectCause{text: err.Error(), ctxErr: ctx.Err()}}
	}
	if token == "" {
		return "", &broker.Error{Code: broker.CodeInternal, Message: "empty IAM auth token"}
	}
	return token, nil
}

// connConfig builds a configuration from c.cfg alone: the connection string
// pins every setting the environment (PGHOST, PGSSLMODE, ...) could otherwise
// change, and the fields are then set explicitly. It holds no password yet.
func (c *Connector) connConfig() (*pgx.ConnConfig, error) {
	cfg := c.cfg
	dsn := strings.Join([]string{
		"host=" + dsnQuote(cfg.Host),
		"port=" + strconv.Itoa(cfg.Port),
		"dbname=" + dsnQuote(cfg.Database),
		"user=" + dsnQuote(cfg.User),
		"sslmode=disable", "sslrootcert=''", "sslcertmode=disable", "passfile=''",
		"target_session_attrs=any", "channel_binding=prefer", "require_auth=''",
	}, " ")
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, &broker.Error{Code: broker.CodeInternal, Message: "invalid database connection settings",
			Err: &connectCause{text: err.Error()}}
	}
	cc.Host, cc.Port = cfg.Host, uint16(cfg.Port)
	cc.Database, cc.User = cfg.Database, cfg.User
	cc.Password = ""
	cc.TLSConfig = c.tlsConfig()
	cc.Fallbacks = nil
	cc.SSLNegotiation = ""
	cc.SSLCertMode = "disable"
	cc.ConnectTimeout = cfg.ConnectTimeout
	cc.KerberosSrvName, cc.KerberosSpn = "", ""
	cc.OAuthTokenProvider = nil
	cc.ValidateConnect = nil
	if c.Resolve != nil {
		cc.LookupFunc = c.Resolve
	}
	cc.RuntimeParams = map[string]string{
		"application_name":  cfg.ApplicationName,
		"statement_timeout": strconv.FormatInt(cfg.StatementTimeout.Milliseconds(), 10),
	}
	// Refuse what would expose the secret more than it must: md5 in password
	// mode, and anything but the cleartext exchange RDS IAM uses (inside TLS)
	// or SCRAM in IAM mode.
	if cfg.Auth == AuthIAM {
		cc.RequireAuth = "password,scram-sha-256"
	} else {
		cc.RequireAuth = "scram-sha-256"
	}
	forgetPassword(&cc.Config)
	return cc, nil
}

// forgetPassword makes a connection built from config drop its password once
// it is logged in, so that Conn.Config() never hands it out. pgx copies the
// configuration it is given; AfterNetConnect sees the copy in use.
func forgetPassword(config *pgconn.Config) {
	var inUse *pgconn.Config
	config.AfterNetConnect = func(_ context.Context, c *pgconn.Config, conn net.Conn) (net.Conn, error) {
		inUse = c
		return conn, nil
	}
	config.AfterConnect = func(context.Context, *pgconn.PgConn) error {
		if inUse != nil {
			inUse.Password = ""
		}
		return nil
	}
}

// tlsConfig returns the TLS configuration for c.cfg.SSLMode (nil for disable).
func (c *Connector) tlsConfig() *tls.Config {
	cfg := c.cfg
	switch {
	case cfg.SSLMode == SSLModeDisable:
		return nil
	case cfg.SSLMode == SSLModeRequire && cfg.CAFile == "":
		return &tls.Config{ServerName: cfg.Host, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
	case cfg.SSLMode == SSLModeRequire || cfg.SSLMode == SSLModeVerifyCA:
		roots := c.roots
		return &tls.Config{
			ServerName: cfg.Host,
			// Go verifies the host name with the chain; verify-ca checks the
			// chain alone, in VerifyConnection.
			InsecureSkipVerify: true,
			MinVersion:         tls.VersionTLS12,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return errors.New("server sent no certificate")
				}
				opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
				for _, cert := range cs.PeerCertificates[1:] {
					opts.Intermediates.AddCert(cert)
				}
				_, err := cs.PeerCertificates[0].Verify(opts)
				return err
			},
		}
	default:
		return &tls.Config{ServerName: cfg.Host, RootCAs: c.roots, MinVersion: tls.VersionTLS12}
	}
}

// requireVerifyFull refuses a configuration that could send an IAM token to a
// server whose certificate and name were not verified, or without TLS.
func requireVerifyFull(cc *pgx.ConnConfig) error {
	t := cc.TLSConfig
	var why string
	switch {
	case t == nil:
		why = "tls is off"
	case t.InsecureSkipVerify:
		why = "certificate verification is off"
	case t.ServerName == "":
		why = "no server name to verify"
	case len(cc.Fallbacks) > 0:
		why = "fallback configurations"
	default:
		return nil
	}
	return &broker.Error{Code: broker.CodeInternal, Message: "IAM authentication needs TLS verify-full",
		Err: errors.New("refusing to connect: " + why)}
}

// connectFailure turns an error of pgx.ConnectConfig into an *broker.Error with a
// Category that names the likely first-deployment mistake (see the Category
// constants); iam says whether the secret was an IAM auth token. The cause is
// rebuilt from safe parts only: pgx's own error carries the whole
// configuration, password included, so it is never kept.
func connectFailure(ctx context.Context, err error, secret string, iam bool) *broker.Error {
	cause := &connectCause{text: redact(err.Error(), secret), ctxErr: ctx.Err()}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		cause.pgErr = &pgconn.PgError{
			Severity: pgErr.Severity, SeverityUnlocalized: pgErr.SeverityUnlocalized, Code: pgErr.Code,
			Message: redact(pgErr.Message, secret), Detail: redact(pgErr.Detail, secret),
			Hint: redact(pgErr.Hint, secret), Routine: pgErr.Routine,
		}
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		cause.certErr = certErr
	}
	e := &broker.Error{Code: broker.CodeInternal, Message: "cannot connect to the database", Err: cause}
	if cause.pgErr != nil {
		serverRefusal(e, cause.pgErr, iam)
		return e
	}
	var netErr net.Error
	var dnsErr *net.DNSError
	var alert tls.AlertError
	var record tls.RecordHeaderError
	unavailable := func(cat broker.Category, msg string) {
		e.Code, e.Category, e.Message = broker.CodeUnavailable, cat, msg
	}
	denied := func(cat broker.Category, msg string) {
		e.Code, e.Category, e.Message = broker.CodeDatabaseUnavailable, cat, msg
	}
	switch {
	case certErr != nil || badCertificate(err):
		denied(broker.CategoryCertificate, "the database server certificate failed verification: check the CA bundle (FFB_DB_CA_FILE) and that the endpoint is a name the certificate holds")
	case strings.Contains(err.Error(), "server refused TLS connection"):
		denied(broker.CategoryTLS, "the database refused the TLS handshake: the server has ssl off, and verify-full needs TLS")
	case errors.As(err, &alert), errors.As(err, &record):
		denied(broker.CategoryTLS, "the TLS handshake with the database failed")
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		unavailable(broker.CategoryNetwork, "the database host name does not resolve: check the endpoint")
	case errors.Is(err, syscall.ECONNREFUSED):
		unavailable(broker.CategoryNetwork, "the database endpoint refused the connection: check the endpoint and the port")
	case cause.ctxErr != nil, errors.As(err, &netErr) && netErr.Timeout():
		unavailable(broker.CategoryNetwork, "the database did not answer in time: check the security groups, the subnets' routes, the endpoint and the port")
	case netErr != nil, errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		unavailable(broker.CategoryNetwork, "the database is unreachable")
	}
	return e
}

// badCertificate reports whether err is a failed verification of the server's
// certificate that crypto/tls did not wrap (verify-ca's own check).
func badCertificate(err error) bool {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid)
}

// serverRefusal sets e's code, category and message for a connection the
// server refused with pgErr. iam says whether the broker sent an IAM auth
// token: Aurora checks it (PAM) for members of rds_iam only, and compares it
// with the role's password otherwise.
func serverRefusal(e *broker.Error, pgErr *pgconn.PgError, iam bool) {
	denied := func(cat broker.Category, msg string) {
		e.Code, e.Category, e.Message = broker.CodeDatabaseUnavailable, cat, msg
	}
	pam := pgErr.Routine == "auth_failed" || strings.Contains(pgErr.Message, "PAM authentication failed")
	switch code := pgErr.Code; {
	case code == tooManyConnections:
		e.Code, e.Category, e.Message = broker.CodeUnavailable, broker.CategoryConnectionLimit, "the database refused a new connection, retry later"
	case busy(code) || connectionLost(code):
		e.Code, e.Category, e.Message = broker.CodeUnavailable, broker.CategoryServer, "the database is unavailable"
	case code == "28P01" && iam:
		denied(broker.CategoryIAMGrant, "the database checked the IAM auth token as a password: grant rds_iam to the login (and check that it exists)")
	case code == "28P01":
		denied(broker.CategoryPassword, "the database refused the login's password")
	case code == "28000" && iam && pam:
		denied(broker.CategoryIAMToken, "the database refused the IAM auth token: check rds-db:connect in the function's IAM policy, the cluster resource id and the region")
	case code == "28000" && pam:
		denied(broker.CategoryPassword, "the database refused the login's password")
	case code == "28000" && pgErr.Routine == "ClientAuthentication":
		denied(broker.CategoryLogin, "the database has no host rule that admits this login from this address")
	case code == "28000":
		denied(broker.CategoryLogin, "the database login may not log in: check that the role exists and has LOGIN")
	case code == "3D000", code == "42501":
		denied(broker.CategoryDatabase, "the login may not connect to the database: check the database name and the login's CONNECT privilege")
	}
}

// connectCause is the logged cause of a connection failure: pgx's text with
// the secret redacted, and only those wrapped errors that hold no secret (the
// server's error, a certificate verification error, the context's error).
type connectCause struct {
	text    string
	pgErr   *pgconn.PgError
	certErr *tls.CertificateVerificationError
	ctxErr  error
}

func (e *connectCause) Error() string { return e.text }

// Unwrap returns the safe wrapped errors, for errors.Is and errors.As.
func (e *connectCause) Unwrap() []error {
	var errs []error
	if e.pgErr != nil {
		errs = append(errs, e.pgErr)
	}
	if e.certErr != nil {
		errs = append(errs, e.certErr)
	}
	if e.ctxErr != nil {
		errs = append(errs, e.ctxErr)
	}
	return errs
}

// redact replaces every occurrence of secret in s.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, broker.Redacted)
}

// dsnQuote quotes a value for a keyword/value connection string.
func dsnQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
