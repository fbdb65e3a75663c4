package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// connInfo is a libpq connection string built key by key, in order.
type connInfo []connParam

// connParam is one key = value of a connection string.
type connParam struct{ key, value string }

// String is the connection string as libpq parses it: a value that is empty or
// holds a space, a quote or a backslash is single-quoted, with \ and ' escaped.
func (ci connInfo) String() string {
	parts := make([]string, 0, len(ci))
	for _, p := range ci {
		v := p.value
		if v == "" || strings.ContainsAny(v, " \t\n\r\f\v'\\") {
			v = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
		}
		parts = append(parts, p.key+"="+v)
	}
	return strings.Join(parts, " ")
}

// psqlEnvAllowed are the variables of the caller's environment that reach psql:
// what a terminal session needs, none that libpq reads. Everything else, every
// PG* variable above all, is dropped.
var psqlEnvAllowed = map[string]bool{
	"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "SHELL": true, "TMPDIR": true, "TZ": true,
	"TERM": true, "TERMINFO": true, "COLORTERM": true, "COLUMNS": true, "LINES": true, "LANG": true, "LANGUAGE": true,
	"PAGER": true, "PSQL_PAGER": true, "PSQL_WATCH_PAGER": true, "LESS": true, "MORE": true,
	"EDITOR": true, "VISUAL": true, "PSQL_EDITOR": true, "PSQL_EDITOR_LINENUMBER_ARG": true, "PSQL_HISTORY": true,
}

// psqlEnv is psql's environment: the allowed part of environ, then libpq's and
// psql's configuration files pointed at dir, which holds none, so that no
// service file (pg_service.conf, ~/.pg_service.conf) and no psqlrc (which can
// \connect elsewhere) is read.
func psqlEnv(environ []string, dir string) []string {
	env := make([]string, 0, len(environ)+3)
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if psqlEnvAllowed[k] || strings.HasPrefix(k, "LC_") {
			env = append(env, kv)
		}
	}
	return append(env, "PGSYSCONFDIR="+dir, "PGSERVICEFILE="+filepath.Join(dir, "pg_service.conf"), "PSQLRC="+os.DevNull)
}

// libpqAuthChecks are the checks of the server's authentication request that the
// libpq of a psql knows.
type libpqAuthChecks struct {
	// RequireAuth is require_auth (libpq 16+): refuse any method but the one named.
	RequireAuth bool
	// ChannelBinding is channel_binding (libpq 13+): with require, only SCRAM bound
	// to the TLS channel; a cleartext or MD5 request is refused before an answer.
	ChannelBinding bool
}

// probeLibpq asks psql's own libpq which checks it knows: psql's version is not its
// libpq's. A connection string with an invalid value for the option fails while
// libpq parses it, before any connection, with "invalid <option> value" when libpq
// knows the option and "invalid connection option" when it does not.
func probeLibpq(ctx context.Context, psql string, env []string, dir string) libpqAuthChecks {
	knows := func(option string) bool {
		ci := connInfo{{"host", dir}, {"port", "1"}, {option, "ffbroker-probe"}}
		cmd := exec.CommandContext(ctx, psql, "-X", "-w", "-d", ci.String(), "-c", "")
		cmd.Env = append(append([]string(nil), env...), "LC_ALL=C", "LANGUAGE=")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		_ = cmd.Run() // it fails by design; only its message tells
		return bytes.Contains(out.Bytes(), []byte("invalid "+option+" value"))
	}
	var c libpqAuthChecks
	c.RequireAuth = knows("require_auth")
	c.ChannelBinding = c.RequireAuth || knows("channel_binding")
	return c
}

// isAuroraHost reports whether host is an RDS endpoint, whose server presents a
// certificate of the RDS CA: connect then always verifies it.
func isAuroraHost(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	return strings.HasSuffix(h, ".rds.amazonaws.com") || strings.HasSuffix(h, ".rds.amazonaws.com.cn")
}
