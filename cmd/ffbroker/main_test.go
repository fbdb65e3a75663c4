package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/internal/pgtest"
	"github.com/ffbroker/ffbroker/internal/testenv"
)

// One PostgreSQL cluster and one moto_server for the package.
var shared testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, pgtest.Options{}, &shared))
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// ffb runs the CLI in-process and returns its exit code, stdout and stderr.
func ffb(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return ffbIn(t, "", args...)
}

// ffbIn is ffb with stdin.
func ffbIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &cli{stdout: &out, stderr: &errb, stdin: strings.NewReader(stdin), getenv: os.Getenv})
	return code, out.String(), errb.String()
}

// TestCommands runs commands that change nothing (help, refusals, reads, failures to
// reach a part): each row stands alone, in any order. The grant's life is
// TestGrantLifecycle.
func TestCommands(t *testing.T) {
	f := setup(t, "cli")
	noCredentials := map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
	bobApprover := map[string]string{"AWS_ACCESS_KEY_ID": f.users["bob"].KeyID, "AWS_SECRET_ACCESS_KEY": f.users["bob"].Secret,
		"FFB_DB_USER": f.names.Approver, "FFB_DB_PASSWORD": approverPassword}
	const unknownRequest = "3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b"
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stdout string // must contain; "" must be empty
		stderr string // must contain; "" must be empty
	}{
		{"help", []string{"--help"}, nil, exitOK, "commands:", ""},
		{"no command", nil, nil, exitUsage, "commands:", ""},
		{"unknown command", []string{"grant"}, nil, exitUsage, "", `unknown command "grant"`},
		{"issue help has an example", []string{"issue", "--help"}, nil, exitOK, "example: ffbroker issue", ""},
		{"issue without incident", []string{"issue", "--role", "ro"}, nil, exitFailed, "", "(invalid_incident)"},
		{"issue unknown role", []string{"issue", "--role", "admin", "--incident", "INC-9"}, nil, exitFailed, "", "(invalid_role)"},
		{"issue bad flag", []string{"issue", "--rol", "ro"}, nil, exitUsage, "", "flag provided but not defined"},
		{"issue with bad configuration", []string{"issue", "--role", "ro", "--incident", "INC-9"}, map[string]string{"FFB_DB_PORT": "abc"}, exitConfig, "", "FFB_DB_PORT"},
		{"issue without AWS credentials", []string{"issue", "--role", "ro", "--incident", "INC-9"}, noCredentials, exitFailed, "", "get-caller-identity"},
		{"status with bad configuration", []string{"status"}, map[string]string{"FFB_APPROVERS": "arn:aws:iam::bad"}, exitConfig, "", "FFB_APPROVERS"},
		{"connect unknown role", []string{"connect", "--role", "admin"}, nil, exitUsage, "", "role must be"},
		{"connect without AWS credentials", []string{"connect", "--role", "ro"}, noCredentials, exitFailed, "", "read secret firefighter/cli/cli_firefighter_ro"},
		{"database down", []string{"status"}, map[string]string{"FFB_DB_PORT": itoa(closedPort(t))}, exitRetry, "", "(category network) (unavailable)"},
		{"approve help", []string{"approve", "--help"}, nil, exitOK, "example: ffbroker approve", ""},
		{"approve without request id", []string{"approve"}, bobApprover, exitUsage, "", "the request id is required"},
		{"approve a token instead", []string{"approve", "--token", "x"}, bobApprover, exitUsage, "", "flag provided but not defined: -token"},
		{"approve bad request id", []string{"approve", "INC-1", "--yes"}, bobApprover, exitFailed, "", "request_id must be a lower-case UUID (invalid_request)"},
		{"approve has no deny flag", []string{"approve", unknownRequest, "--yes", "--deny"}, bobApprover, exitUsage, "", "flag provided but not defined: -deny"},
		{"deny without a comment", []string{"deny", unknownRequest}, bobApprover, exitUsage, "", "deny needs --comment"},
		{"approve long comment", []string{"approve", unknownRequest, "--yes", "--comment", strings.Repeat("x", 501)}, bobApprover, exitFailed, "", "(invalid_reason)"},
		{"approve unknown request", []string{"approve", unknownRequest, "--yes"}, bobApprover, exitFailed, "", "(not_found)"},
		{"approve without a workflow", []string{"approve", unknownRequest, "--yes"}, map[string]string{"FFB_DB_USER": f.names.Approver,
			"FFB_DB_PASSWORD": approverPassword, "FFB_STATE_MACHINE_ARN": ""}, exitConfig, "", "FFB_STATE_MACHINE_ARN"},
		{"issue rw without a workflow", []string{"issue", "--role", "rw", "--incident", "INC-2"}, map[string]string{"FFB_STATE_MACHINE_ARN": ""},
			exitConfig, "", "FFB_STATE_MACHINE_ARN"},
		{"approve without AWS credentials", []string{"approve", unknownRequest, "--yes"}, map[string]string{"FFB_DB_USER": f.names.Approver,
			"FFB_DB_PASSWORD": approverPassword, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, exitFailed, "", "get-caller-identity"},
		{"wrong database password", []string{"status"}, map[string]string{"FFB_DB_PASSWORD": "not-the-broker-password-0123456789"}, exitFailed, "",
			"the database refused the login's password (category password) (database_unavailable)"},
		{"verify-full to a server without TLS", []string{"status", "--json"}, map[string]string{"FFB_DB_SSLMODE": "verify-full"}, exitFailed, "",
			`{"error":{"code":"database_unavailable","message":"the database refused the TLS handshake: the server has ssl off, and verify-full needs TLS (category tls)"}}`},
		{"invoke status event", []string{"invoke", "issue", "--event", "../../events/status-api.json"}, nil, exitOK, `"statusCode": 200`, ""},
		{"invoke without FFB_SERVER_ID", []string{"invoke", "issue", "--event", "../../events/status-api.json"}, map[string]string{"FFB_SERVER_ID": ""}, exitConfig, "", "FFB_SERVER_ID"},
		{"invoke without AWS credentials", []string{"invoke", "issue", "--event", "../../events/status-api.json"}, noCredentials, exitFailed, "", "sign the identity proof with your AWS credentials"},
		{"invoke wrong shape", []string{"invoke", "expire", "--event", "../../events/invalid/wrong-shape.json"}, nil, exitFailed, "", `"errorType":"InvalidInputError"`},
		{"invoke unknown function", []string{"invoke", "nope", "--event", "x"}, nil, exitUsage, "", "unknown function"},
		{"invoke missing event file", []string{"invoke", "issue", "--event", "no-such-file.json"}, nil, exitUsage, "", "read the event"},
		{"revoke bad role", []string{"revoke", "--role", "admin", "--incident", "INC-1"}, nil, exitFailed, "", "(invalid_role)"},
		{"revoke without AWS credentials", []string{"revoke", "--role", "ro", "--incident", "INC-1"}, noCredentials, exitFailed, "", "get-caller-identity"},
		{"sweep bad flag", []string{"sweep", "--now"}, nil, exitUsage, "", "flag provided but not defined"},
		{"issue json error", []string{"issue", "--json", "--role", "ro", "--incident", "bad incident"}, nil, exitFailed, "", `"code":"invalid_incident"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			checkRun(t, tc.args, tc.code, tc.stdout, tc.stderr)
		})
	}
}

// checkRun runs the CLI and checks its exit code and output: stdout and stderr must
// hold wantOut and wantErr, and an empty want means that stream must stay empty
// (but for the local-mode notice on stderr). Neither stream may hold a password or
// a verifier.
func checkRun(t *testing.T, args []string, wantCode int, wantOut, wantErr string) string {
	t.Helper()
	code, out, errOut := ffb(t, args...)
	notes := strings.TrimPrefix(errOut, localNotice+shared.Cluster.Host+"\n")
	if code != wantCode || !holds(out, wantOut) || !holds(notes, wantErr) {
		t.Errorf("ffbroker %s = exit %d\nstdout: %s\nstderr: %s\nwant exit %d, stdout %s, stderr %s",
			strings.Join(args, " "), code, out, errOut, wantCode, describe(wantOut), describe(wantErr))
	}
	if strings.Contains(out+errOut, "PGPASSWORD") || strings.Contains(out+errOut, "SCRAM-SHA-256") {
		t.Errorf("ffbroker %s: output holds a password or a verifier", strings.Join(args, " "))
	}
	return out
}

// localNotice starts the line with which a command run in local mode says so.
const localNotice = "ffbroker: local mode: the functions' code runs in this process against FFB_DB_HOST "

// holds reports whether got contains want, or is empty when want is.
func holds(got, want string) bool {
	if want == "" {
		return got == ""
	}
	return strings.Contains(got, want)
}

func describe(want string) string {
	if want == "" {
		return "empty"
	}
	return "with " + strconv.Quote(want)
}

// TestGrantLifecycle is one grant's life through the CLI, in order: issue, issue
// again, status, a revoke of another incident, connect, a revoke by someone with no
// part, revoke with a session open, connect after the revoke, sweep.
func TestGrantLifecycle(t *testing.T) {
	f := setup(t, "life")
	ro := f.names.FirefighterRO
	issue := []string{"issue", "--role", "ro", "--incident", "INC-1", "--reason", "latency"}
	checkRun(t, issue, exitOK, "access issued: "+ro, "")
	checkRun(t, issue[:5], exitOK, "already live for this incident", "")
	checkRun(t, []string{"status"}, exitOK, "requester "+f.users["alice"].ARN, "")
	checkRun(t, []string{"revoke", "--role", "ro", "--incident", "INC-404"}, exitFailed, "", "(not_found)")
	checkRun(t, []string{"status", "--json"}, exitOK, `"role": "`+ro+`"`, "")
	checkRun(t, []string{"connect", "--role", "ro", "--psql", "psql", "--", "-X", "-A", "-t", "-c", "SELECT current_user"}, exitOK, ro+"\n", "connecting as "+ro)

	revoke := []string{"revoke", "--role", "ro", "--incident", "INC-1"}
	t.Run("revoke by someone with no part", func(t *testing.T) {
		t.Setenv("AWS_ACCESS_KEY_ID", f.users["bob"].KeyID)
		t.Setenv("AWS_SECRET_ACCESS_KEY", f.users["bob"].Secret)
		t.Setenv("FFB_APPROVERS", "")
		checkRun(t, revoke, exitFailed, "", "(forbidden)")
	})
	session := openSession(t, ro, f.names.DB)
	defer session.close()
	checkRun(t, revoke, exitOK, "1 session(s) terminated", "")
	checkRun(t, revoke, exitFailed, "", "nothing to revoke (not_found)") // the same revoke again
	checkRun(t, []string{"connect", "--role", "ro"}, exitFailed, "", "expired or was revoked")
	checkRun(t, []string{"sweep"}, exitOK, "nothing to do", "")
	checkRun(t, []string{"sweep", "--json"}, exitOK, `"expired": []`, "")
}

func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p
}

type sessionHolder struct{ close func() }

// openSession logs in as role with the current secret's password, read the way
// connect reads it.
func openSession(t *testing.T, role, db string) *sessionHolder {
	t.Helper()
	code, out, errOut := ffb(t, "connect", "--role", "ro", "--psql", "/bin/sh", "--", "-c", `cat "$PGPASSFILE"`)
	if code != exitOK {
		t.Fatalf("read the secret: %s", errOut)
	}
	fields := strings.Split(strings.TrimSpace(out), ":")
	pw := fields[len(fields)-1]
	c, err := shared.Cluster.Connect(context.Background(), role, pw, db)
	if err != nil {
		t.Fatal(err)
	}
	return &sessionHolder{close: func() { c.Close(context.Background()) }}
}

func TestBootstrapAndVerify(t *testing.T) {
	t.Setenv("PGPASSWORD", pgtest.MasterPassword)
	t.Setenv("PGSSLMODE", "disable")
	host, port := shared.Cluster.Host, itoa(shared.Cluster.Port)
	code, out, errOut := ffb(t, "bootstrap", "--host", host, "--port", port, "--user", pgtest.MasterUser, "--prefix", "boot", "--db-name", "boot-db", "--print")
	if code != exitOK || !strings.Contains(out, "-f sql/bootstrap.sql") || !strings.Contains(out, "prefix=boot") {
		t.Errorf("bootstrap --print = %d %q %q; want the psql command", code, out, errOut)
	}
	for i := 0; i < 2; i++ { // idempotent: a second run succeeds too
		code, out, errOut = ffb(t, "bootstrap", "--host", host, "--port", port, "--user", pgtest.MasterUser, "--prefix", "boot", "--db-name", "boot-db")
		if code != exitOK || !strings.Contains(out, "ffbroker bootstrap complete") {
			t.Fatalf("bootstrap run %d = %d\n%s\n%s", i+1, code, out, errOut)
		}
	}
	dsn := "host=" + host + " port=" + port + " user=" + pgtest.MasterUser + " dbname=boot-db sslmode=disable"
	code, out, errOut = ffb(t, "verify", "--dsn", dsn, "--prefix", "boot", "--db-name", "boot-db")
	wantCode := exitOK
	if shared.Cluster.Major < 15 {
		wantCode = exitFailed // the master cannot revoke CREATE on public before 15: a real finding
	}
	if code != wantCode || !strings.Contains(out, "PASS") {
		t.Errorf("verify on a clean bootstrap = exit %d (want %d)\n%s\n%s", code, wantCode, out, errOut)
	}
	// Drift: DELETE granted to the app.
	c, err := shared.Cluster.ConnectSuper(context.Background(), "boot-db")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), `SET ROLE boot_owner; CREATE TABLE "my-pg-db-schema".t (id int); GRANT DELETE ON "my-pg-db-schema".t TO boot_app`); err != nil {
		t.Fatal(err)
	}
	code, out, _ = ffb(t, "verify", "--dsn", dsn, "--prefix", "boot", "--db-name", "boot-db")
	if code != exitFailed || !strings.Contains(out, "FAIL") || !strings.Contains(out, "boot_app") {
		t.Errorf("verify after granting DELETE to the app = exit %d\n%s; want a FAIL naming boot_app", code, out)
	}
}

func TestActivityCommand(t *testing.T) {
	setup(t, "act")
	if err := shared.Cluster.SetPassword(context.Background(), "act_activity_monitor", brokerPassword); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FFB_ACTIVITY_LOG_GROUP", "/aws/rds/cluster/act/postgresql")
	code, out, errOut := ffb(t, "activity", "report")
	if code != exitOK || !(strings.Contains(out, "policy:") || strings.Contains(out, "dry run")) {
		t.Errorf("activity report = %d\n%s\n%s", code, out, errOut)
	}
	code, _, errOut = ffb(t, "activity", "unlock", "--role", "act_app")
	if code != exitFailed {
		t.Errorf("unlock of a role the job never locked = exit %d (%s); want 1", code, errOut)
	}
	if code, _, _ := ffb(t, "activity", "frobnicate"); code != exitUsage {
		t.Errorf("unknown subcommand exit = %d; want 2", code)
	}
}
