package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/ffbroker/ffbroker/cmd/internal/config"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/ffbroker/ffbroker/broker"
)

func runConnect(ctx context.Context, c *cli, args []string) error {
	var extra []string
	for i, a := range args {
		if a == "--" {
			args, extra = args[:i], args[i+1:]
			break
		}
	}
	fs := c.flags("connect")
	kind := fs.String("role", "", "ro or rw")
	psql := fs.String("psql", "psql", "the psql to run")
	caFile := fs.String("ca-file", "", "PEM bundle of the CA that signed the server's certificate (default FFB_CA_FILE, then PGSSLROOTCERT)")
	if err := parse(fs, args); err != nil {
		return err
	}
	for _, a := range extra {
		if a == "--" {
			// After a second --, connect's own connection string would reach psql as
			// a plain argument and no longer be the one psql connects with.
			return &usageError{msg: "connect: psql's arguments (after --) may not hold another --"}
		}
	}
	saved, err := c.savedConfig()
	if err != nil {
		return err
	}
	prefix := or(c.env().RolePrefix, or(saved.RolePrefix, broker.DefaultRolePrefix))
	role, err := broker.DefaultPolicy(prefix).ParseRole(*kind)
	if err != nil {
		return &usageError{msg: broker.ErrorMessage(err)}
	}
	awsCfg, err := c.awsConfig(ctx, or(c.g.region, saved.Region))
	if err != nil {
		return err
	}
	name := broker.SecretName(or(c.env().SecretPrefix, saved.SecretPrefix), role)
	sm := secretsmanager.NewFromConfig(awsCfg)
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(name), VersionStage: aws.String("AWSCURRENT")})
	if err != nil {
		return fmt.Errorf("read secret %s with your credentials: %w", name, err)
	}
	v, err := broker.ParseSecretValue(aws.ToString(out.SecretString))
	if err != nil {
		return err
	}
	if v.Status == broker.SecretExpired || v.Password.Len() == 0 {
		return fmt.Errorf("the %s password has expired or was revoked; ask for access again: ffbroker issue --role %s --incident ID", role, *kind)
	}
	// An extended grant keeps its password and secret version; the secret's tags
	// carry the new expiry (DescribeSecret, allowed by the on-call policy).
	expires := v.ExpiresAt
	if d, err := sm.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)}); err == nil {
		tags := map[string]string{}
		for _, t := range d.Tags {
			tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
		}
		expires = broker.EffectiveExpiry(v, tags)
	}
	if !expires.IsZero() && time.Now().After(expires) {
		return fmt.Errorf("the %s password expired at %s; ask for access again", role, expires.Local().Format(time.RFC3339))
	}
	sslMode := or(v.SSLMode, "verify-full")
	if isAuroraHost(v.Host) {
		sslMode = "verify-full" // an RDS endpoint always presents a certificate to verify
	}
	ca, err := c.caBundle(*caFile, sslMode)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ffbroker-connect-")
	if err != nil {
		return err
	}
	// The passfile goes when psql does, also when psql fails or the command is
	// interrupted (the context ends psql first).
	defer os.RemoveAll(dir)
	passfile := filepath.Join(dir, "pgpass")
	line := strings.Join([]string{passEscape(v.Host), strconv.Itoa(v.Port), passEscape(v.DBName), passEscape(v.Username),
		passEscape(v.Password.Reveal())}, ":") + "\n"
	if err := os.WriteFile(passfile, []byte(line), 0o600); err != nil {
		return err
	}
	// psql's environment is an allowlist: no PG* variable and no service file of
	// the caller's can name another server or weaken TLS, and the password is in
	// the passfile only (never on the command line nor in the environment, which
	// psql's children inherit).
	env := append(psqlEnv(config.Environ(), dir), "PGPASSFILE="+passfile) // also for a --psql wrapper
	ci := connInfo{{"host", v.Host}, {"port", strconv.Itoa(v.Port)}, {"dbname", v.DBName}, {"user", v.Username},
		{"passfile", passfile}, {"sslmode", sslMode}}
	if ca != "" {
		ci = append(ci, connParam{"sslrootcert", ca})
	}
	ci = append(ci, connParam{"gssencmode", "disable"})
	// A server that cannot prove it knows the verifier must not get the password:
	// SCRAM only, bound to the TLS channel when there is one.
	checks := probeLibpq(ctx, *psql, env, dir)
	if checks.ChannelBinding && sslMode != "disable" {
		ci = append(ci, connParam{"channel_binding", "require"})
	}
	if checks.RequireAuth {
		ci = append(ci, connParam{"require_auth", "scram-sha-256"})
	}
	ci = append(ci, connParam{"application_name", "ffbroker-connect " + v.IncidentID})
	conninfo := ci.String()
	// The connection string comes last: psql takes the last -d, and its values
	// win over -h, -p and -U.
	cmd := exec.CommandContext(ctx, *psql, append(append([]string(nil), extra...), "-d", conninfo)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.stdin, c.stdout, c.stderr
	cmd.Env = env
	if !c.json {
		fmt.Fprintf(c.stderr, "connecting as %s (incident %s, until %s)\npsql -d %s\n", v.Username, v.IncidentID,
			expires.Local().Format(time.RFC3339), conninfo)
		verified := sslMode == "verify-full" || sslMode == "verify-ca"
		if !checks.RequireAuth && (sslMode == "disable" || !checks.ChannelBinding && !verified) {
			fmt.Fprintf(c.stderr, "ffbroker: warning: this psql's libpq cannot refuse a server that asks for the password in clear "+
				"(require_auth needs libpq 16); with sslmode %s nothing proves the server is the cluster\n", sslMode)
		}
	}
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("psql exited with %d", ee.ExitCode())
		}
		return fmt.Errorf("run psql: %w", err)
	}
	return nil
}

// caBundle is the CA file psql verifies the server with: --ca-file, FFB_CA_FILE or
// PGSSLROOTCERT (absolute, readable). Without one, a mode that verifies the server
// takes psql's default ~/.postgresql/root.crt; if that is missing too, say where to
// get the bundle rather than let psql fail later.
func (c *cli) caBundle(flagValue, sslMode string) (string, error) {
	p := or(flagValue, or(c.env().CAFile, c.getenv("PGSSLROOTCERT")))
	verifies := sslMode == "verify-full" || sslMode == "verify-ca"
	if p == "" {
		if !verifies {
			return "", nil
		}
		if home := c.getenv("HOME"); home != "" {
			if p := filepath.Join(home, ".postgresql", "root.crt"); fileExists(p) {
				return p, nil // libpq's default, named so that the printed line shows it
			}
		}
		return "", &configError{err: fmt.Errorf("sslmode %s needs the CA bundle that signed the database's certificate: "+
			"pass --ca-file PEM or set FFB_CA_FILE (Aurora: https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem)", sslMode)}
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", &configError{err: err}
	}
	b, err := os.ReadFile(abs)
	if err != nil {
		return "", &configError{err: fmt.Errorf("the CA bundle: %w", err)}
	}
	if !strings.Contains(string(b), "-----BEGIN CERTIFICATE-----") {
		return "", &configError{err: fmt.Errorf("the CA bundle %s holds no PEM certificate", abs)}
	}
	return abs, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// passEscape escapes a passfile field: backslash and colon are escaped with a
// backslash (PostgreSQL's "The Password File").
func passEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(s)
}
