package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// MasterUser and MasterPassword are the Aurora-like master login of every cluster.
const (
	MasterUser     = "master"
	MasterPassword = "master-password-for-tests-only"
	superUser      = "postgres"
)

// Options configure a cluster.
type Options struct {
	// BinDir holds initdb, pg_ctl and postgres. Empty means FFB_PG_BIN, else the
	// directory of initdb on PATH.
	BinDir string
	// Settings are extra postgresql.conf settings, e.g. "log_statement": "all".
	Settings map[string]string
	// TLS turns on TLS with a test CA (see Cluster.CAFile); logins over TCP
	// may then use it or not, both with scram-sha-256.
	TLS bool
	// ExtraListen are more addresses to listen on besides 127.0.0.1, e.g. "::1".
	ExtraListen []string
	// HBA are pg_hba.conf lines placed before the default ones (after the
	// bootstrap superuser's), e.g. for IPv6, the socket or replication.
	HBA []string
	// PublicCreate grants CREATE on schema public to PUBLIC in postgres and
	// template1, as a cluster upgraded from PostgreSQL 14 or older still has it
	// (13 and 14 have it anyway); see GrantPublicCreate for other databases.
	PublicCreate bool
}

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	// BinDir is the directory of the server binaries in use.
	BinDir string
	// Major is the server's major version, e.g. 15.
	Major int
	// Host and Port are the TCP address every password login uses.
	Host string
	Port int
	// LogPath is the server log (stderr of postgres).
	LogPath string
	// CAFile is the PEM file of the CA that signed the server certificate
	// (for localhost and 127.0.0.1), with Options.TLS; else empty.
	CAFile string
	// WrongCAFile is the PEM file of another CA that signed nothing, for
	// tests that must see verification fail, with Options.TLS; else empty.
	WrongCAFile string
	// SocketDir is the directory of the server's Unix socket.
	SocketDir string

	dir     string
	dataDir string
	listen  []string
	hba     []string
	cred    *syscall.Credential
	ca      *testCA
}

// ErrNoBinaries reports that no PostgreSQL server binaries could be found.
var ErrNoBinaries = errors.New("pgtest: no PostgreSQL server binaries (set FFB_PG_BIN or put initdb on PATH)")

// New initialises and starts a cluster and creates the Aurora stand-in roles.
func New(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := binDir(opts.BinDir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{BinDir: bin, Host: "127.0.0.1", listen: append([]string{"127.0.0.1"}, opts.ExtraListen...), hba: opts.HBA}
	if c.Major, err = serverMajor(bin); err != nil {
		return nil, err
	}
	if c.cred, err = unprivileged(); err != nil {
		return nil, err
	}
	if c.dir, err = os.MkdirTemp("", "ffbroker-pg-"); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := c.chown(c.dir); err != nil {
		c.removeFiles()
		return nil, err
	}
	c.dataDir = filepath.Join(c.dir, "data")
	c.SocketDir = c.dir
	c.LogPath = filepath.Join(c.dir, "postgres.log")
	settings := opts.Settings
	if opts.TLS {
		if settings, err = c.enableTLS(); err != nil {
			c.removeFiles()
			return nil, err
		}
		for k, v := range opts.Settings {
			settings[k] = v
		}
	}
	if err := c.initdb(ctx, settings, opts.TLS); err != nil {
		c.removeFiles()
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		c.removeFiles()
		return nil, err
	}
	if err := c.createAuroraStandIn(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if opts.PublicCreate {
		for _, db := range []string{"postgres", "template1"} {
			if err := c.GrantPublicCreate(ctx, db); err != nil {
				c.Close()
				return nil, err
			}
		}
	}
	return c, nil
}

// Close stops the server immediately and removes its files.
func (c *Cluster) Close() {
	if c.dataDir != "" {
		cmd := exec.Command(filepath.Join(c.BinDir, "pg_ctl"), "-D", c.dataDir, "-m", "immediate", "-w", "stop")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
		_ = cmd.Run()
	}
	c.removeFiles()
}

func (c *Cluster) removeFiles() {
	if c.dir != "" {
		_ = os.RemoveAll(c.dir)
	}
}

// SuperConnString is the bootstrap superuser's connection string, over the unix socket
// only (the superuser cannot log in over TCP). Tests use it for what a DBA with
// rdsadmin-like rights would do out of band, never for the code under test.
func (c *Cluster) SuperConnString(db string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", c.dir, c.Port, superUser, quoteDSN(db))
}

// ConnString is a password login over TCP.
func (c *Cluster) ConnString(user, password, db string) string {
	return fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable connect_timeout=10",
		c.Host, c.Port, quoteDSN(user), quoteDSN(password), quoteDSN(db))
}

// Connect logs in over TCP with a password.
func (c *Cluster) Connect(ctx context.Context, user, password, db string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, c.ConnString(user, password, db))
}

// ConnectSuper logs in as the bootstrap superuser over the unix socket.
func (c *Cluster) ConnectSuper(ctx context.Context, db string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, c.SuperConnString(db))
}

// Log returns the server log so far.
func (c *Cluster) Log() (string, error) {
	b, err := os.ReadFile(c.LogPath)
	return string(b), err
}

func quoteDSN(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func binDir(explicit string) (string, error) {
	if explicit == "" {
		explicit = os.Getenv("FFB_PG_BIN")
	}
	if explicit == "" {
		p, err := exec.LookPath("initdb")
		if err != nil {
			return "", ErrNoBinaries
		}
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		explicit = filepath.Dir(p)
	}
	abs, err := filepath.Abs(explicit)
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(abs, name)); err != nil {
			return "", fmt.Errorf("%w: %s has no %s", ErrNoBinaries, abs, name)
		}
	}
	return abs, nil
}

var settingNameRE = regexp.MustCompile(`^[a-z_]+(\.[a-z_]+)?$`)

var versionRE = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

func serverMajor(bin string) (int, error) {
	out, err := exec.Command(filepath.Join(bin, "postgres"), "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("pgtest: postgres --version: %w", err)
	}
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgtest: cannot read the version in %q", out)
	}
	return strconv.Atoi(string(m[1]))
}

// unprivileged returns the credential to run the server with: nil when the tests do
// not run as root, else the postgres user's (or nobody's).
func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
	}
	return nil, errors.New("pgtest: running as root and no unprivileged user (postgres, nobody) to run the server")
}

func (c *Cluster) chown(path string) error {
	if c.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true}
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgtest: %s: %w\n%s", name, err, out.String())
	}
	return nil
}

func (c *Cluster) initdb(ctx context.Context, extra map[string]string, tls bool) error {
	if err := c.run(ctx, "initdb", "-D", c.dataDir, "-U", superUser, "-E", "UTF8", "--locale=C",
		"--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync"); err != nil {
		return err
	}
	settings := map[string]string{
		"listen_addresses":        "''",
		"max_connections":         "300",
		"shared_buffers":          "32MB",
		"fsync":                   "off",
		"synchronous_commit":      "off",
		"full_page_writes":        "off",
		"password_encryption":     "'scram-sha-256'",
		"log_connections":         "on",
		"log_line_prefix":         "'%t:%r:%u@%d:[%p]:'",
		"log_timezone":            "'UTC'",
		"timezone":                "'UTC'",
		"logging_collector":       "off",
		"unix_socket_permissions": "0777",
		// Aurora's restricted password management (only rds_password members
		// change passwords), which the bootstrap requires on Aurora. Here it is
		// a placeholder the server does not enforce; Settings may turn it off.
		"rds.restrict_password_commands": "on",
	}
	for k, v := range extra {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var conf strings.Builder
	conf.WriteString("\n# pgtest\n")
	for _, k := range keys {
		fmt.Fprintf(&conf, "%s = %s\n", k, settings[k])
	}
	if err := appendFile(filepath.Join(c.dataDir, "postgresql.conf"), conf.String()); err != nil {
		return err
	}
	// The bootstrap superuser logs in over the unix socket only; every TCP login,
	// the master's included, needs a scram-sha-256 password.
	hba := "local all " + superUser + " trust\n"
	for _, l := range c.hba {
		hba += l + "\n"
	}
	hba += "local all all reject\n" +
		"host all " + superUser + " 0.0.0.0/0 reject\n" +
		"host all " + superUser + " ::/0 reject\n"
	if tls {
		hba += "hostssl all all 127.0.0.1/32 scram-sha-256\n"
	}
	hba += "host all all 127.0.0.1/32 scram-sha-256\n"
	return os.WriteFile(filepath.Join(c.dataDir, "pg_hba.conf"), []byte(hba), 0o600)
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("pgtest: %w", err)
	}
	return f.Close()
}

func (c *Cluster) start(ctx context.Context) error {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		c.Port = port
		opts := fmt.Sprintf("-p %d -c listen_addresses=%s -c unix_socket_directories=%s", port, strings.Join(c.listen, ","), c.dir)
		lastErr = c.run(ctx, "pg_ctl", "-D", c.dataDir, "-l", c.LogPath, "-o", opts, "-w", "-t", "60", "start")
		if lastErr == nil {
			return nil
		}
		if log, _ := c.Log(); !strings.Contains(log, "could not bind") && !strings.Contains(log, "could not create listen socket") {
			return fmt.Errorf("%w\n%s", lastErr, log)
		}
	}
	return lastErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// createAuroraStandIn creates what Aurora has and plain PostgreSQL does not: the rds_*
// roles and a NOSUPERUSER master with CREATEROLE and CREATEDB that is a member of
// rds_superuser and may grant rds_password and rds_iam. As on RDS and Aurora, the
// master owns the postgres and template1 databases (rdsadmin owns template0), while
// schema public in them stays the bootstrap superuser's before PostgreSQL 15.
func (c *Cluster) createAuroraStandIn(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := c.ConnectSuper(ctx, "postgres")
	if err != nil {
		return fmt.Errorf("pgtest: connect as superuser: %w", err)
	}
	defer conn.Close(ctx)
	stmts := []string{
		`CREATE ROLE rds_superuser NOLOGIN`,
		`CREATE ROLE rds_password NOLOGIN`,
		`CREATE ROLE rds_iam NOLOGIN`,
		`CREATE ROLE rdsadmin NOLOGIN`,
		`GRANT pg_signal_backend TO rds_superuser`,
		fmt.Sprintf(`CREATE ROLE %s LOGIN NOSUPERUSER CREATEROLE CREATEDB INHERIT PASSWORD '%s'`, MasterUser, MasterPassword),
		`GRANT rds_superuser TO ` + MasterUser,
		`GRANT rds_password, rds_iam TO ` + MasterUser + ` WITH ADMIN OPTION`,
		`ALTER DATABASE postgres OWNER TO ` + MasterUser,
		`ALTER DATABASE template1 OWNER TO ` + MasterUser,
	}
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("pgtest: %s: %w", s, err)
		}
	}
	return nil
}

// GrantPublicCreate grants CREATE on schema public to PUBLIC in db, as the bootstrap
// superuser: what a cluster upgraded from PostgreSQL 14 or older keeps in every
// database it had.
func (c *Cluster) GrantPublicCreate(ctx context.Context, db string) error {
	conn, err := c.ConnectSuper(ctx, db)
	if err != nil {
		return fmt.Errorf("pgtest: connect to %s as superuser: %w", db, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `GRANT CREATE, USAGE ON SCHEMA public TO PUBLIC`); err != nil {
		return fmt.Errorf("pgtest: grant CREATE on schema public in %s: %w", db, err)
	}
	return nil
}

// SetServerSetting changes a postgresql.conf setting with ALTER SYSTEM and reloads
// the configuration, as a change of the cluster's parameter group would; the
// sessions opened after it see value ("" resets it to the file's value).
func (c *Cluster) SetServerSetting(ctx context.Context, name, value string) error {
	if !settingNameRE.MatchString(name) {
		return fmt.Errorf("pgtest: bad setting name %q", name)
	}
	conn, err := c.ConnectSuper(ctx, "postgres")
	if err != nil {
		return fmt.Errorf("pgtest: connect as superuser: %w", err)
	}
	defer conn.Close(ctx)
	stmt := fmt.Sprintf("ALTER SYSTEM SET %s = %s", name, quoteLiteral(value))
	if value == "" {
		stmt = "ALTER SYSTEM RESET " + name
	}
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("pgtest: %s: %w", stmt, err)
	}
	if _, err := conn.Exec(ctx, `SELECT pg_catalog.pg_reload_conf()`); err != nil {
		return fmt.Errorf("pgtest: reload: %w", err)
	}
	// The postmaster rereads the file asynchronously: wait until a new session sees it.
	for i := 0; i < 200; i++ {
		s, err := c.ConnectSuper(ctx, "postgres")
		if err != nil {
			return fmt.Errorf("pgtest: connect as superuser: %w", err)
		}
		var got string
		err = s.QueryRow(ctx, `SELECT COALESCE(pg_catalog.current_setting($1, true), '')`, name).Scan(&got)
		s.Close(ctx)
		if err != nil {
			return fmt.Errorf("pgtest: read %s: %w", name, err)
		}
		if got == value || value == "" {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("pgtest: %s did not become %q after the reload", name, value)
}
