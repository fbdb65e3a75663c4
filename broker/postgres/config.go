package postgres

import (
	"crypto/x509"
	"os"
	"strings"
	"time"

	"github.com/ffbroker/ffbroker/broker"
)

// Authentication modes of Config.Auth.
const (
	// AuthIAM logs in with a fresh RDS IAM auth token per connection, over
	// TLS verify-full only.
	AuthIAM = "iam"
	// AuthPassword logs in with Config.Password, for local use.
	AuthPassword = "password"
)

// TLS modes of Config.SSLMode, with libpq's names and meanings.
const (
	// SSLModeDisable means no TLS (password mode only).
	SSLModeDisable = "disable"
	// SSLModeRequire means TLS without certificate verification, or like
	// verify-ca when a CAFile is given, as in libpq (password mode only).
	SSLModeRequire = "require"
	// SSLModeVerifyCA means TLS with the server certificate verified against
	// the CAs but not against the host name (password mode only).
	SSLModeVerifyCA = "verify-ca"
	// SSLModeVerifyFull means TLS with the server certificate verified
	// against the CAs and the host name; the default and the only mode IAM
	// authentication accepts.
	SSLModeVerifyFull = "verify-full"
)

// Defaults of Config.
const (
	// DefaultPort is the port used when none is configured.
	DefaultPort = 5432
	// DefaultConnectTimeout limits one connection attempt: dial, TLS and
	// authentication.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultStatementTimeout is the session's statement_timeout.
	DefaultStatementTimeout = 15 * time.Second
	// DefaultApplicationName is the session's application_name.
	DefaultApplicationName = "ffbroker"
)

// Config says how the broker reaches PostgreSQL. Zero values of the optional
// fields stand for their defaults; Validate reports a misconfigured Config.
type Config struct {
	// Host is the server's DNS name or IP address (the cluster endpoint).
	Host string
	// Port is the server's TCP port; 0 means DefaultPort.
	Port int
	// Database is the database to connect to.
	Database string
	// User is the login role.
	User string
	// Auth is AuthIAM or AuthPassword; empty means AuthIAM.
	Auth string
	// Password is the login's password, in password mode only.
	Password broker.Password
	// SSLMode is one of the SSLMode constants; empty means verify-full. IAM
	// mode accepts verify-full only.
	SSLMode string
	// CAFile is a PEM file of the CAs that may sign the server certificate
	// (for RDS, the region's or the global bundle); empty means the system
	// roots.
	CAFile string
	// Region is the AWS region the IAM auth token is signed for (IAM mode);
	// NewConnector falls back to the aws.Config's region when it is empty.
	Region string
	// ConnectTimeout limits one connection attempt; 0 means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// StatementTimeout is sent as the session's statement_timeout (whole
	// milliseconds); 0 means DefaultStatementTimeout.
	StatementTimeout time.Duration
	// ApplicationName is sent as the session's application_name; empty means
	// DefaultApplicationName.
	ApplicationName string
}

// FieldError is a configuration error that names the offending Config field.
type FieldError struct {
	// Field is the Config field's name, e.g. "Port".
	Field string
	// Msg says what is wrong with it.
	Msg string
}

func (e *FieldError) Error() string { return "db config: " + e.Field + ": " + e.Msg }

// Validate reports the first misconfigured field of c, naming it, or nil.
func (c Config) Validate() error {
	if err := c.withDefaults().check(); err != nil {
		return err
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Auth == "" {
		c.Auth = AuthIAM
	}
	if c.SSLMode == "" {
		c.SSLMode = SSLModeVerifyFull
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.StatementTimeout == 0 {
		c.StatementTimeout = DefaultStatementTimeout
	}
	if c.ApplicationName == "" {
		c.ApplicationName = DefaultApplicationName
	}
	return c
}

// check validates a Config whose defaults are filled in.
func (c Config) check() *FieldError {
	bad := func(field, msg string) *FieldError { return &FieldError{Field: field, Msg: msg} }
	switch {
	case c.Host == "":
		return bad("Host", "required")
	case strings.HasPrefix(c.Host, "/") || strings.ContainsAny(c.Host, ", \t\r\n'\\"):
		return bad("Host", "must be one DNS name or IP address")
	case c.Port < 1 || c.Port > 65535:
		return bad("Port", "must be 1-65535")
	case c.Database == "":
		return bad("Database", "required")
	case c.User == "":
		return bad("User", "required")
	case c.Auth != AuthIAM && c.Auth != AuthPassword:
		return bad("Auth", "must be iam or password")
	case c.Auth == AuthPassword && c.Password.Len() == 0:
		return bad("Password", "required for password authentication")
	case c.Auth == AuthIAM && c.Password.Len() != 0:
		return bad("Password", "not allowed with IAM authentication")
	}
	switch c.SSLMode {
	case SSLModeDisable, SSLModeRequire, SSLModeVerifyCA, SSLModeVerifyFull:
	default:
		return bad("SSLMode", "must be verify-full, verify-ca, require or disable")
	}
	switch {
	case c.Auth == AuthIAM && c.SSLMode != SSLModeVerifyFull:
		return bad("SSLMode", "must be verify-full for IAM authentication")
	case c.Auth == AuthIAM && c.Region == "":
		return bad("Region", "required for IAM authentication")
	case c.ConnectTimeout < 0:
		return bad("ConnectTimeout", "must be positive")
	case c.StatementTimeout < time.Millisecond:
		return bad("StatementTimeout", "must be at least 1ms")
	case len(c.ApplicationName) > 63 || !printableASCII(c.ApplicationName):
		return bad("ApplicationName", "must be at most 63 printable ASCII characters")
	}
	return nil
}

// Ready is c with its defaults filled in, validated, and its CA file loaded (unless
// TLS is off): what a caller that reads its settings from outside checks at start.
// Its error is a *FieldError.
func (c Config) Ready() (Config, error) {
	c = c.withDefaults()
	if err := c.check(); err != nil {
		return Config{}, err
	}
	if c.SSLMode != SSLModeDisable {
		if _, err := loadRootCAs(c.CAFile); err != nil {
			return Config{}, err
		}
	}
	return c, nil
}

// loadRootCAs returns the CAs in the PEM file path, or the system roots when
// path is empty.
func loadRootCAs(path string) (*x509.CertPool, *FieldError) {
	if path == "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			return nil, &FieldError{Field: "CAFile", Msg: "empty and no system roots: " + err.Error()}
		}
		return pool, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, &FieldError{Field: "CAFile", Msg: "cannot read: " + err.Error()}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, &FieldError{Field: "CAFile", Msg: "holds no PEM certificate"}
	}
	return pool, nil
}

// printableASCII reports whether s holds only printable ASCII characters.
func printableASCII(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r > 0x7e }) < 0
}
