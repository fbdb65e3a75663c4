package pgtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// StandbyOptions configure a hot standby.
type StandbyOptions struct {
	// CertHosts are the names (or IP addresses) the standby's own server
	// certificate carries, signed by the primary's CA; the primary needs
	// Options.TLS. Empty keeps the primary's certificate (or no TLS).
	CertHosts []string
}

// Standby is a hot standby streaming from a Cluster, as an Aurora reader serves
// the writer's roles and data: a second throwaway server made from a base backup
// of the primary's data directory (pg_basebackup when one of the server's major
// exists, else a low-level backup through SQL), with hot_standby on and its own
// replication slot.
type Standby struct {
	// Host and Port are the TCP address every password login uses.
	Host string
	Port int
	// LogPath is the standby's server log.
	LogPath string

	primary *Cluster
	dir     string
	dataDir string
	slot    string
}

// NewStandby makes a hot standby of c and waits until it has replayed everything c
// had written when it was called. The bootstrap superuser sets up the replication
// it needs (a pg_hba line for itself over the socket, a physical slot): it is the
// harness's, never the product's.
func (c *Cluster) NewStandby(ctx context.Context, opts StandbyOptions) (*Standby, error) {
	s := &Standby{primary: c, Host: c.Host, slot: fmt.Sprintf("pgtest_standby_%d", time.Now().UnixNano())}
	if err := c.allowReplication(ctx); err != nil {
		return nil, err
	}
	var err error
	if s.dir, err = os.MkdirTemp("", "ffbroker-standby-"); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	if err := c.chown(s.dir); err != nil {
		s.removeFiles()
		return nil, err
	}
	s.dataDir = filepath.Join(s.dir, "data")
	s.LogPath = filepath.Join(s.dir, "postgres.log")
	if err := s.baseBackup(ctx); err != nil {
		s.dropSlot()
		s.removeFiles()
		return nil, err
	}
	if err := s.configure(opts); err != nil {
		s.dropSlot()
		s.removeFiles()
		return nil, err
	}
	if err := s.start(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.CatchUp(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// allowReplication lets the bootstrap superuser open replication connections over
// the unix socket (once per cluster).
func (c *Cluster) allowReplication(ctx context.Context) error {
	hba := filepath.Join(c.dataDir, "pg_hba.conf")
	b, err := os.ReadFile(hba)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	line := "local replication " + superUser + " trust"
	if strings.Contains(string(b), line) {
		return nil
	}
	if err := appendFile(hba, line+"\n"); err != nil {
		return err
	}
	conn, err := c.ConnectSuper(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `SELECT pg_reload_conf()`)
	return err
}

// baseBackup fills s.dataDir with a base backup of the primary that keeps its WAL
// in s.slot.
func (s *Standby) baseBackup(ctx context.Context) error {
	c := s.primary
	if bin, ok := c.basebackupBinary(); ok {
		cmd := exec.CommandContext(ctx, bin, "-D", s.dataDir, "-h", c.dir, "-p", strconv.Itoa(c.Port), "-U", superUser,
			"-X", "stream", "-C", "-S", s.slot, "--checkpoint=fast", "--no-sync")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true}
		cmd.Dir = s.dir
		cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("pgtest: pg_basebackup: %w\n%s", err, out)
		}
		return nil
	}
	return s.lowLevelBackup(ctx)
}

// basebackupBinary is the pg_basebackup beside the server binaries, else the one
// on PATH when it is of the server's major.
func (c *Cluster) basebackupBinary() (string, bool) {
	if p := filepath.Join(c.BinDir, "pg_basebackup"); fileExists(p) {
		return p, true
	}
	p, err := exec.LookPath("pg_basebackup")
	if err != nil {
		return "", false
	}
	out, err := exec.Command(p, "--version").Output()
	if m := versionRE.FindSubmatch(out); err == nil && m != nil && string(m[1]) == strconv.Itoa(c.Major) {
		return p, true
	}
	return "", false
}

// lowLevelBackup copies the data directory between pg_backup_start and
// pg_backup_stop (pg_start_backup/pg_stop_backup before 15), non-exclusive, and
// writes the backup label the server returns.
func (s *Standby) lowLevelBackup(ctx context.Context) error {
	c := s.primary
	conn, err := c.ConnectSuper(ctx, "postgres")
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_create_physical_replication_slot($1, true)`, s.slot); err != nil {
		return fmt.Errorf("pgtest: create slot: %w", err)
	}
	start, stop := `SELECT pg_backup_start('pgtest', true)`, `SELECT labelfile, spcmapfile FROM pg_backup_stop(false)`
	if c.Major < 15 {
		start, stop = `SELECT pg_start_backup('pgtest', true, false)`, `SELECT labelfile, spcmapfile FROM pg_stop_backup(false, false)`
	}
	if _, err := conn.Exec(ctx, start); err != nil {
		return fmt.Errorf("pgtest: start backup: %w", err)
	}
	copyErr := copyDataDir(c.dataDir, s.dataDir)
	var label, spcmap string
	if err := conn.QueryRow(ctx, stop).Scan(&label, &spcmap); err != nil {
		return fmt.Errorf("pgtest: stop backup: %w", err)
	}
	if copyErr != nil {
		return copyErr
	}
	if err := os.WriteFile(filepath.Join(s.dataDir, "backup_label"), []byte(label), 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if spcmap != "" {
		if err := os.WriteFile(filepath.Join(s.dataDir, "tablespace_map"), []byte(spcmap), 0o600); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
	}
	return s.chownTree()
}

// copyDataDir copies a running server's data directory as a base backup does:
// without WAL, the server's pid and options files, or the contents of the runtime
// directories; a file removed meanwhile is skipped (WAL replay restores it).
func copyDataDir(from, to string) error {
	emptied := map[string]bool{"pg_wal": true, "pg_replslot": true, "pg_dynshmem": true, "pg_notify": true,
		"pg_serial": true, "pg_snapshots": true, "pg_stat_tmp": true, "pg_subtrans": true}
	return filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("pgtest: copy data directory: %w", err)
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			if err := os.MkdirAll(dst, 0o700); err != nil {
				return fmt.Errorf("pgtest: %w", err)
			}
			if emptied[rel] {
				if rel == "pg_wal" {
					return os.MkdirAll(filepath.Join(dst, "archive_status"), 0o700)
				}
				return filepath.SkipDir
			}
			return nil
		}
		switch rel {
		case "postmaster.pid", "postmaster.opts", "backup_label", "tablespace_map":
			return nil
		}
		if strings.HasPrefix(d.Name(), "pgsql_tmp") {
			return nil
		}
		return copyFile(path, dst)
	})
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("pgtest: %w", err)
	}
	return out.Close()
}

func (s *Standby) chownTree() error {
	if s.primary.cred == nil {
		return nil
	}
	return filepath.WalkDir(s.dataDir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return s.primary.chown(path)
	})
}

// configure makes the copy a hot standby of the primary: standby.signal, the
// primary's socket and the slot, and its own certificate when asked.
func (s *Standby) configure(opts StandbyOptions) error {
	c := s.primary
	conf := fmt.Sprintf("\n# pgtest standby\nprimary_conninfo = %s\nprimary_slot_name = %s\nhot_standby = on\n",
		quoteLiteral(fmt.Sprintf("host=%s port=%d user=%s application_name=pgtest_standby", c.dir, c.Port, superUser)),
		quoteLiteral(s.slot))
	files := map[string][]byte{"standby.signal": nil}
	if len(opts.CertHosts) > 0 {
		if c.ca == nil {
			return errors.New("pgtest: a standby certificate needs a primary started with Options.TLS")
		}
		certPEM, keyPEM, err := c.ca.issue(opts.CertHosts...)
		if err != nil {
			return err
		}
		files["server.crt"], files["server.key"] = certPEM, keyPEM
		conf += fmt.Sprintf("ssl_cert_file = %s\nssl_key_file = %s\n",
			quoteLiteral(filepath.Join(s.dataDir, "server.crt")), quoteLiteral(filepath.Join(s.dataDir, "server.key")))
	}
	for name, data := range files {
		p := filepath.Join(s.dataDir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			return fmt.Errorf("pgtest: %w", err)
		}
		if err := c.chown(p); err != nil {
			return err
		}
	}
	return appendFile(filepath.Join(s.dataDir, "postgresql.auto.conf"), conf)
}

func (s *Standby) start(ctx context.Context) error {
	c := s.primary
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return err
		}
		s.Port = port
		opts := fmt.Sprintf("-p %d -c listen_addresses=%s -c unix_socket_directories=%s", port, strings.Join(c.listen, ","), s.dir)
		cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "pg_ctl"), "-D", s.dataDir, "-l", s.LogPath, "-o", opts, "-w", "-t", "60", "start")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true}
		cmd.Dir = s.dir
		cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		log, _ := os.ReadFile(s.LogPath)
		lastErr = fmt.Errorf("pgtest: standby pg_ctl start: %w\n%s\n%s", err, out, log)
		if !strings.Contains(string(log), "could not bind") && !strings.Contains(string(log), "could not create listen socket") {
			return lastErr
		}
	}
	return lastErr
}

// CatchUp waits until the standby has replayed everything the primary wrote before
// the call: a role's password set on the primary then logs in on the standby.
func (s *Standby) CatchUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	p, err := s.primary.ConnectSuper(ctx, "postgres")
	if err != nil {
		return err
	}
	defer p.Close(ctx)
	// A transaction that writes WAL (a temporary table's catalog rows), committed
	// synchronously, flushes all WAL before it: the primary commits asynchronously
	// and sends only what it flushed.
	var lsn string
	if _, err := p.Exec(ctx, `SET synchronous_commit = on`); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if _, err := p.Exec(ctx, `CREATE TEMPORARY TABLE pgtest_flush ()`); err != nil {
		return fmt.Errorf("pgtest: flush the primary's wal: %w", err)
	}
	if err := p.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn()::text`).Scan(&lsn); err != nil {
		return fmt.Errorf("pgtest: primary wal position: %w", err)
	}
	sb, err := s.ConnectSuper(ctx, "postgres")
	if err != nil {
		return err
	}
	defer sb.Close(ctx)
	for {
		var done bool
		if err := sb.QueryRow(ctx, `SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)`, lsn).Scan(&done); err != nil {
			return fmt.Errorf("pgtest: standby replay position: %w", err)
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pgtest: standby did not replay up to %s: %w", lsn, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// ConnString is a password login to the standby over TCP.
func (s *Standby) ConnString(user, password, db string) string {
	return fmt.Sprintf("host=%s port=%d user=%s password=%s dbname=%s sslmode=disable connect_timeout=10",
		s.Host, s.Port, quoteDSN(user), quoteDSN(password), quoteDSN(db))
}

// Connect logs in to the standby over TCP with a password.
func (s *Standby) Connect(ctx context.Context, user, password, db string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, s.ConnString(user, password, db))
}

// ConnectSuper logs in to the standby as the bootstrap superuser over its socket.
func (s *Standby) ConnectSuper(ctx context.Context, db string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", s.dir, s.Port, superUser, quoteDSN(db)))
}

// Close stops the standby, drops its slot on the primary and removes its files.
func (s *Standby) Close() {
	if s.dataDir != "" {
		cmd := exec.Command(filepath.Join(s.primary.BinDir, "pg_ctl"), "-D", s.dataDir, "-m", "immediate", "-w", "stop")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.primary.cred}
		_ = cmd.Run()
	}
	s.dropSlot()
	s.removeFiles()
}

func (s *Standby) dropSlot() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := s.primary.ConnectSuper(ctx, "postgres")
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`, s.slot)
}

func (s *Standby) removeFiles() {
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}
