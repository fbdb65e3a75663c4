package main

import (
	"context"
	"fmt"
	"github.com/ffbroker/ffbroker/cmd/internal/config"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ffbroker/ffbroker/broker"
	sqlscripts "github.com/ffbroker/ffbroker/sql"
	"github.com/ffbroker/ffbroker/sql/drift"
	"github.com/jackc/pgx/v5"
)

func runBootstrap(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("bootstrap")
	host := fs.String("host", "", "the cluster endpoint")
	port := fs.Int("port", 5432, "the port")
	user := fs.String("user", "", "the master user")
	prefix := fs.String("prefix", "", "role name prefix (default my_pg)")
	db := fs.String("db-name", "", "application database (default my-pg-db)")
	schema := fs.String("app-schema", "", "application schema (default my-pg-db-schema)")
	flavor := fs.String("flavor", "aurora", "aurora or postgres")
	print := fs.Bool("print", false, "print the psql command instead of running it")
	psql := fs.String("psql", "psql", "the psql to run")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *host == "" || *user == "" {
		return &usageError{msg: "--host and --user are required"}
	}
	dir, err := os.MkdirTemp("", "ffbroker-sql-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := copyScripts(dir); err != nil {
		return err
	}
	argv := []string{"-X", "-v", "ON_ERROR_STOP=1", "-h", *host, "-p", strconv.Itoa(*port), "-U", *user, "-d", "postgres"}
	for _, kv := range [][2]string{{"prefix", *prefix}, {"db_name", *db}, {"app_schema", *schema}, {"flavor", *flavor}} {
		if kv[1] != "" {
			argv = append(argv, "-v", kv[0]+"="+kv[1])
		}
	}
	if *print {
		argv = append(argv, "-f", "sql/bootstrap.sql")
		fmt.Fprintf(c.stdout, "%s %s\n", *psql, quoteArgs(argv))
		return nil
	}
	argv = append(argv, "-f", filepath.Join(dir, "bootstrap.sql"))
	cmd := exec.CommandContext(ctx, *psql, argv...)
	cmd.Env = masterEnv(config.Environ())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.stdin, c.stdout, c.stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("psql: %w", err)
	}
	return nil
}

// pinnedSearchPath is the search_path of every session ffbroker opens as the master:
// names resolve in pg_catalog (and the session's own temporary schema) only, never in
// a schema another role can write, such as public on a cluster upgraded from 14.
const pinnedSearchPath = "pg_catalog, pg_temp"

// masterEnv returns env with PGOPTIONS setting pinnedSearchPath for each session psql
// opens (the scripts set it too, after each \connect).
func masterEnv(env []string) []string {
	opt := "-c search_path=" + strings.ReplaceAll(pinnedSearchPath, " ", "")
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PGOPTIONS="); ok {
			opt = strings.TrimSpace(v + " " + opt)
			continue
		}
		out = append(out, kv)
	}
	return append(out, "PGOPTIONS="+opt)
}

func copyScripts(dir string) error {
	return fs.WalkDir(sqlscripts.Scripts(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sqlscripts.Scripts(), path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, path), b, 0o600)
	})
}

func quoteArgs(args []string) string {
	out := ""
	for i, a := range args {
		if i > 0 {
			out += " "
		}
		if a == "" || strings.ContainsAny(a, " '\"$;&|*") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out += a
	}
	return out
}

func runVerify(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("verify")
	dsn := fs.String("dsn", "", "libpq connection string to the application database, as the master user")
	prefix := fs.String("prefix", "", "role name prefix (default my_pg)")
	db := fs.String("db-name", "", "application database (default my-pg-db)")
	schema := fs.String("app-schema", "", "application schema (default my-pg-db-schema)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := pgx.ParseConfig(*dsn)
	if err != nil {
		return &usageError{msg: "--dsn: " + err.Error()}
	}
	cfg.RuntimeParams["search_path"] = pinnedSearchPath
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	checks, err := drift.Verify(ctx, conn, broker.Names{Prefix: *prefix, DBName: *db, AppSchema: *schema})
	if err != nil {
		return err
	}
	failed := 0
	for _, ch := range checks {
		if !ch.Pass {
			failed++
		}
	}
	err = c.emit(map[string]any{"checks": checks, "failed": failed}, func(w io.Writer) {
		for _, ch := range checks {
			fmt.Fprintln(w, ch.String())
		}
		fmt.Fprintf(w, "\n%d checks, %d failed\n", len(checks), failed)
	})
	if err == nil && failed > 0 {
		return fmt.Errorf("%d of %d checks failed", failed, len(checks))
	}
	return err
}
