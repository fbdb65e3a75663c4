package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/internal/testenv"
)

// clientEnv is the whole environment of a person's client: their own AWS keys,
// moto as AWS, a home of their own for the configuration file. No FFB_DB_*, no
// FFB_* at all but the wait interval.
func clientEnv(t *testing.T, f *fixture, keyID, secret string) env {
	e := baseEnv(t).with("AWS_ACCESS_KEY_ID", keyID, "AWS_SECRET_ACCESS_KEY", secret, "AWS_ENDPOINT_URL", f.srv.Endpoint,
		"FFB_WAIT_INTERVAL", "100ms", "PATH", os.Getenv("PATH"))
	for k := range e {
		if strings.HasPrefix(k, "FFB_DB_") {
			t.Fatalf("a client's environment holds %s", k)
		}
	}
	return e
}

// configured runs ffbroker configure for a's deployment in e's home.
func configured(t *testing.T, a *localAPI, e env) env {
	t.Helper()
	code, out, errOut := clientRun(t, e, "configure", "--api", a.base+"/prod", "--server-id", a.server,
		"--role-prefix", a.f.prefix, "--secret-prefix", "firefighter/"+a.f.prefix)
	if code != exitOK || !strings.Contains(out, "saved ") {
		t.Fatalf("configure = %d %q %q", code, out, errOut)
	}
	return e
}

// jsonOut runs a command with --json, expects exit 0 and decodes stdout into v.
func jsonOut(t *testing.T, e env, v any, args ...string) {
	t.Helper()
	code, out, errOut := clientRun(t, e, append(args, "--json")...)
	if code != exitOK {
		t.Fatalf("ffbroker %s = %d\nstdout %s\nstderr %s", strings.Join(args, " "), code, out, errOut)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("ffbroker %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// wantFail runs a command that must fail with exit code and error code.
func wantFail(t *testing.T, e env, exit int, code string, args ...string) string {
	t.Helper()
	got, out, errOut := clientRun(t, e, append(args, "--json")...)
	var ans struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal([]byte(errOut), &ans)
	if got != exit || ans.Error.Code != code || out != "" {
		t.Errorf("ffbroker %s = %d, error %q\nstdout %q\nstderr %q\nwant exit %d, code %s, nothing on stdout",
			strings.Join(args, " "), got, ans.Error.Code, out, errOut, exit, code)
	}
	return ans.Error.Message
}

// TestClientThroughLocalAPI runs every client command as an on-call engineer and an
// approver would: through local-api over HTTP, with moto IAM users' credentials and
// nothing else.
func TestClientThroughLocalAPI(t *testing.T) {
	f := setup(t, "cflow")
	t.Setenv("FFB_APPROVERS", f.users["alice"].ARN+","+f.users["bob"].ARN)
	t.Setenv("FFB_APPROVER_DB_PASSWORD", approverPassword)
	a := startLocalAPI(t, f, nil)
	alice := configured(t, a, clientEnv(t, f, f.users["alice"].KeyID, f.users["alice"].Secret))
	bob := configured(t, a, clientEnv(t, f, f.users["bob"].KeyID, f.users["bob"].Secret))

	t.Run("read-only", func(t *testing.T) {
		code, out, errOut := clientRun(t, alice, "issue", "--role", "ro", "--incident", "INC-601", "--reason", "read the orders")
		if code != exitOK || !strings.Contains(out, "access issued: cflow_firefighter_ro") || !strings.Contains(errOut, "ffbroker: via the API at http://127.0.0.1:") {
			t.Fatalf("issue ro = %d\nstdout %s\nstderr %s", code, out, errOut)
		}
		var g broker.IssueOutput
		jsonOut(t, alice, &g, "issue", "--role", "ro", "--incident", "INC-601")
		if !g.Reused || g.Role != "cflow_firefighter_ro" || g.GrantID == "" {
			t.Errorf("issue ro again --json = %+v; want the live grant, reused", g)
		}
		var st broker.StatusOutput
		jsonOut(t, bob, &st, "status")
		if len(st.Roles) != 2 || st.Roles[0].Role != "cflow_firefighter_ro" || !st.Roles[0].Valid || len(st.Roles[0].Grants) != 1 {
			t.Errorf("status --json = %+v; want ro valid with one grant", st)
		}
	})

	t.Run("connect with a private passfile", func(t *testing.T) {
		code, out, errOut := clientRun(t, alice, "connect", "--role", "ro", "--", "-X", "-A", "-t", "-c", "SELECT current_user")
		if code != exitOK || strings.TrimSpace(out) != "cflow_firefighter_ro" {
			t.Fatalf("connect ro with psql = %d %q %q", code, out, errOut)
		}
		code, out, errOut = clientRun(t, alice, "connect", "--role", "ro", "--psql", "/bin/sh", "--", "-c",
			`echo "$PGPASSFILE"; stat -c %a "$PGPASSFILE" "$(dirname "$PGPASSFILE")"; env`)
		lines := strings.Split(out, "\n")
		if code != exitOK || len(lines) < 3 {
			t.Fatalf("connect with a shell = %d %q %q", code, out, errOut)
		}
		if lines[1] != "600" || lines[2] != "700" {
			t.Errorf("passfile mode %s, its directory %s; want 600 and 700", lines[1], lines[2])
		}
		if strings.Contains(out, "PGPASSWORD") {
			t.Errorf("psql's environment holds PGPASSWORD:\n%s", out)
		}
		if _, err := os.Stat(lines[0]); !os.IsNotExist(err) {
			t.Errorf("the passfile %s is still there after psql exited (%v)", lines[0], err)
		}
		code, _, _ = clientRun(t, alice, "connect", "--role", "ro", "--psql", "/bin/sh", "--", "-c", `echo "$PGPASSFILE" > `+t.TempDir()+`/p; exit 3`)
		if code != exitFailed {
			t.Errorf("connect whose psql fails = %d; want 1", code)
		}
	})

	t.Run("bad input", func(t *testing.T) {
		wantFail(t, alice, exitFailed, "invalid_role", "issue", "--role", "admin", "--incident", "INC-602")
		wantFail(t, alice, exitFailed, "invalid_hours", "issue", "--role", "ro", "--incident", "INC-602", "--hours", "3")
		wantFail(t, alice, exitFailed, "invalid_incident", "issue", "--role", "ro", "--incident", "INC'; DROP ROLE x; --")
		wantFail(t, alice, exitFailed, "invalid_request", "request", "not-a-uuid")
		wantFail(t, alice, exitUsage, "usage", "deny", "3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b")
		wantFail(t, alice, exitFailed, "not_found", "revoke", "--role", "ro", "--incident", "INC-404")
	})

	t.Run("credentials", func(t *testing.T) {
		// The SDK reads the process's own environment too: empty it for this case.
		t.Setenv("AWS_ACCESS_KEY_ID", "")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "")
		none := alice.with("AWS_ACCESS_KEY_ID", "", "AWS_SECRET_ACCESS_KEY", "")
		wantFail(t, none, exitConfig, "configuration", "status")
		// A key AWS no longer knows (deleted, as an expired one): STS does not vouch for
		// its owner, so the API refuses the proof.
		ic := iam.NewFromConfig(f.srv.Config(context.Background()))
		if _, err := ic.CreateUser(context.Background(), &iam.CreateUserInput{UserName: aws.String("cflow-carol")}); err != nil {
			t.Fatal(err)
		}
		k, err := ic.CreateAccessKey(context.Background(), &iam.CreateAccessKeyInput{UserName: aws.String("cflow-carol")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ic.DeleteAccessKey(context.Background(), &iam.DeleteAccessKeyInput{UserName: aws.String("cflow-carol"),
			AccessKeyId: k.AccessKey.AccessKeyId}); err != nil {
			t.Fatal(err)
		}
		carol := configured(t, a, clientEnv(t, f, aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)))
		if msg := wantFail(t, carol, exitFailed, "unauthenticated", "issue", "--role", "ro", "--incident", "INC-603"); !strings.Contains(msg, "refresh them") {
			t.Errorf("the refusal of a dead key says %q; want a hint to refresh the credentials", msg)
		}
	})

	t.Run("read-write through a second person", func(t *testing.T) {
		type result struct {
			code        int
			out, errOut string
		}
		done := make(chan result, 1)
		go func() {
			var r result
			var out, errb testenv.Lines
			r.code = run(context.Background(), []string{"issue", "--role", "rw", "--incident", "INC-604", "--reason", "cancel ORD-1", "--wait"},
				&cli{stdout: &out, stderr: &errb, stdin: strings.NewReader(""), getenv: alice.get})
			r.out, r.errOut = out.String(), errb.String()
			done <- r
		}()
		var pending broker.PendingOutput
		eventually(t, "bob sees alice's request", func() bool {
			jsonOut(t, bob, &pending, "requests")
			return len(pending.Requests) == 1
		})
		req := pending.Requests[0]
		if req.IncidentID != "INC-604" || req.Requester != f.users["alice"].ARN || req.Reason != "cancel ORD-1" || req.Kind != broker.KindIssue {
			t.Errorf("bob's pending list = %+v; want alice's rw request for INC-604", req)
		}
		var mine broker.PendingOutput
		jsonOut(t, alice, &mine, "approvals")
		if len(mine.Requests) != 0 {
			t.Errorf("alice's own list = %+v; her own request must not show", mine)
		}
		eventually(t, "the wait step ran", func() bool { return f.request(t, req.ID).taskToken })
		wantFail(t, alice, exitFailed, "forbidden", "approve", req.ID, "--yes", "--comment", "mine")
		code, out, errOut := clientRun(t, bob, "approve", req.ID, "--yes", "--comment", "checked INC-604")
		if code != exitOK || !strings.Contains(out, "approve: request "+req.ID+" is approved") {
			t.Fatalf("bob approves = %d %q %q", code, out, errOut)
		}
		r := <-done
		if r.code != exitOK || !strings.Contains(r.out, "access issued: cflow_firefighter_rw for incident INC-604") ||
			!strings.Contains(r.errOut, "pending: waiting for a second person") {
			t.Errorf("alice's issue --wait = %d\nstdout %s\nstderr %s", r.code, r.out, r.errOut)
		}
		code, out, errOut = clientRun(t, alice, "connect", "--role", "rw", "--", "-X", "-A", "-t", "-c", "SELECT current_user")
		if code != exitOK || strings.TrimSpace(out) != "cflow_firefighter_rw" {
			t.Errorf("connect rw = %d %q %q", code, out, errOut)
		}
	})

	t.Run("denied while waiting", func(t *testing.T) {
		var p broker.PendingAnswer
		jsonOut(t, alice, &p, "issue", "--role", "rw", "--incident", "INC-605", "--reason", "drop a row", "--wait=false")
		eventually(t, "the wait step ran", func() bool { return f.request(t, p.RequestID).taskToken })
		code, out, errOut := clientRun(t, bob, "deny", p.RequestID, "--comment", "read-only is enough")
		if code != exitOK || !strings.Contains(out, "is denied") {
			t.Fatalf("bob denies = %d %q %q", code, out, errOut)
		}
		msg := wantFail(t, alice, exitFailed, "no_access", "request", p.RequestID, "--wait")
		if !strings.Contains(msg, "read-only is enough") {
			t.Errorf("the followed request's failure says %q; want the approver's comment", msg)
		}
	})

	t.Run("extend", func(t *testing.T) {
		var g broker.IssueOutput
		jsonOut(t, alice, &g, "extend", "--role", "ro", "--incident", "INC-601", "--hours", "2", "--reason", "still bisecting")
		if !g.Extended || g.PreviousExpiresAt == nil || !g.ExpiresAt.After(*g.PreviousExpiresAt) ||
			time.Until(g.ExpiresAt) > 2*time.Hour+time.Minute {
			t.Errorf("extend ro 2h = %+v; want extended, later, at most 2 hours from now", g)
		}
		wantFail(t, alice, exitFailed, "invalid_hours", "extend", "--role", "ro", "--incident", "INC-601", "--hours", "3")
		wantFail(t, alice, exitFailed, "conflict", "extend", "--role", "ro", "--incident", "INC-601", "--hours", "1")
		wantFail(t, bob, exitFailed, "forbidden", "extend", "--role", "ro", "--incident", "INC-601")
		wantFail(t, alice, exitFailed, "not_found", "extend", "--role", "ro", "--incident", "INC-699")
		code, out, errOut := clientRun(t, alice, "connect", "--role", "ro", "--", "-X", "-A", "-t", "-c", "SELECT 1")
		if code != exitOK || strings.TrimSpace(out) != "1" {
			t.Errorf("connect after the extension = %d %q %q; the password must still work", code, out, errOut)
		}

		var p broker.PendingAnswer
		jsonOut(t, alice, &p, "extend", "--role", "rw", "--incident", "INC-604", "--hours", "2", "--wait=false")
		eventually(t, "the wait step ran", func() bool { return f.request(t, p.RequestID).taskToken })
		wantFail(t, alice, exitFailed, "forbidden", "approve", p.RequestID, "--yes")
		if code, out, errOut := clientRun(t, bob, "approve", p.RequestID, "--yes", "--comment", "ok"); code != exitOK {
			t.Fatalf("bob approves the extension = %d %q %q", code, out, errOut)
		}
		code, out, errOut = clientRun(t, alice, "request", p.RequestID, "--wait")
		if code != exitOK || !strings.Contains(out, "access extended: cflow_firefighter_rw for incident INC-604") {
			t.Errorf("request --wait of the extension = %d %q %q", code, out, errOut)
		}
	})

	t.Run("revoke", func(t *testing.T) {
		var r broker.RevokeOutput
		jsonOut(t, alice, &r, "revoke", "--role", "ro", "--incident", "INC-601")
		if r.Role != "cflow_firefighter_ro" || r.GrantsClosed != 1 {
			t.Errorf("revoke --json = %+v; want the ro grant closed", r)
		}
		code, _, errOut := clientRun(t, alice, "connect", "--role", "ro")
		if code != exitFailed || !strings.Contains(errOut, "expired or was revoked") {
			t.Errorf("connect after revoke = %d %q", code, errOut)
		}
	})

	t.Run("the API down", func(t *testing.T) {
		if err := a.stop(); err != nil {
			t.Fatal(err)
		}
		wantFail(t, alice, exitRetry, "unavailable", "status")
	})
}
