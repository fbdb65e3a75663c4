package broker_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

const alice = "arn:aws:iam::123456789012:user/alice"
const bob = "arn:aws:iam::123456789012:user/bob"

// mallory is in the account but has no part in any grant.
const mallory = "arn:aws:iam::123456789012:user/mallory"

func TestIssueROAndRW(t *testing.T) {
	f := newFixture(t, "issue")
	b := f.broker(t, f.deps(t))
	ctx := context.Background()
	setup := f.super(t)
	if _, err := setup.Exec(ctx, `SET ROLE issue_owner; CREATE TABLE "my-pg-db-schema".orders (id int PRIMARY KEY, status text);
		INSERT INTO "my-pg-db-schema".orders VALUES (1, 'created'), (2, 'created')`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kind, approver string
		allowed        []string
		denied         []string
	}{
		{"ro", "", []string{`SELECT count(*) FROM "my-pg-db-schema".orders`},
			[]string{`UPDATE "my-pg-db-schema".orders SET status = 'x'`, `DELETE FROM "my-pg-db-schema".orders`, `CREATE TABLE "my-pg-db-schema".t (i int)`}},
		{"rw", bob, []string{`UPDATE "my-pg-db-schema".orders SET status = 'cancelled' WHERE id = 1`, `DELETE FROM "my-pg-db-schema".orders WHERE id = 2`},
			[]string{`TRUNCATE "my-pg-db-schema".orders`, `DROP TABLE "my-pg-db-schema".orders`, `CREATE TABLE "my-pg-db-schema".t (i int)`}},
	}
	for _, tc := range tests {
		t.Run(tc.kind, func(t *testing.T) {
			before := len(f.audit.Records(t))
			out, err := f.issue(t, b, broker.IssueInput{
				Request:   broker.Request{Role: tc.kind, IncidentID: "INC-1234", Hours: 1, Reason: "checkout errors"},
				Requester: alice, RequesterKey: alice, RequestID: "req-" + tc.kind, Source: audit.SourceAPI,
			})
			if err != nil {
				t.Fatalf("Issue(%s, 1h) error = %v", tc.kind, err)
			}
			role := "issue_firefighter_" + tc.kind
			v, version, ok := f.current(t, role)
			if !ok || version != out.GrantID || v.GrantID != out.GrantID || v.Status != broker.SecretActive {
				t.Fatalf("AWSCURRENT of %s = (%s, version %s, grant %s); want the grant %s, active", role, v, version, v.GrantID, out.GrantID)
			}
			if v.Engine != "postgres" || v.Username != role || v.IncidentID != "INC-1234" || v.Password.Len() != broker.DefaultPasswordLength {
				t.Errorf("secret value = %s (password length %d); want engine postgres, user %s, incident INC-1234, 40 characters", v, v.Password.Len(), role)
			}
			if until := validUntil(t, f, role); !until.Equal(v.ExpiresAt) || !out.ExpiresAt.Equal(until) {
				t.Errorf("expiry: secret %v, answer %v, rolvaliduntil %v; want all equal", v.ExpiresAt, out.ExpiresAt, until)
			}
			conn, err := loginWith(ctx, v)
			if err != nil {
				t.Fatalf("login with the stored secret as %s: %v", role, err)
			}
			defer conn.Close(ctx)
			for _, q := range tc.allowed {
				if _, err := conn.Exec(ctx, q); err != nil {
					t.Errorf("as %s, %s: %v; want success", role, q, err)
				}
			}
			for _, q := range tc.denied {
				if _, err := conn.Exec(ctx, q); err == nil {
					t.Errorf("as %s, %s succeeded; want refused", role, q)
				}
			}

			recs := f.audit.Records(t)[before:]
			if len(recs) != 2 || recs[0]["event"] != "password.issuing" || recs[1]["event"] != "password.issued" {
				t.Fatalf("audit events = %v; want password.issuing then password.issued", events(recs))
			}
			want := map[string]string{"schema": "ffbroker.audit/v1", "outcome": "success", "request_id": "req-" + tc.kind,
				"incident_id": "INC-1234", "requester": alice, "target_role": role, "grant_id": out.GrantID,
				"secret_arn": out.SecretARN, "secret_version": out.GrantID, "source": "api",
				"expires_at": v.ExpiresAt.UTC().Format(time.RFC3339Nano)}
			if tc.approver != "" {
				want["approver"] = tc.approver
			}
			for k, w := range want {
				if got := fmt.Sprint(recs[1][k]); got != w {
					t.Errorf("password.issued %s = %q; want %q", k, got, w)
				}
			}
			if _, ok := recs[1]["time"]; !ok {
				t.Error("password.issued has no time")
			}
			if recs[0]["outcome"] != "pending" {
				t.Errorf("password.issuing outcome = %v; want pending", recs[0]["outcome"])
			}
			if strings.Contains(f.audit.String(), v.Password.Reveal()) || strings.Contains(f.audit.String(), "SCRAM-SHA-256") {
				t.Error("the audit output contains the password or a verifier")
			}
		})
	}
}

func events(recs []map[string]any) []any {
	var out []any
	for _, r := range recs {
		out = append(out, r["event"])
	}
	return out
}

func TestIssueRepeatReturnsLiveGrant(t *testing.T) {
	f := newFixture(t, "repeat")
	b := f.broker(t, f.deps(t))
	ctx := context.Background()
	in := broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-7"}, Requester: alice, RequesterKey: alice, Source: audit.SourceCLI}
	first, err := b.Issue(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	v1, _, _ := f.current(t, f.FirefighterRO)
	in.Request.Hours = 2
	again, err := b.Issue(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	v2, version, _ := f.current(t, f.FirefighterRO)
	if again.GrantID != first.GrantID || !again.Reused || version != first.GrantID || v2.Password.Reveal() != v1.Password.Reveal() {
		t.Errorf("repeat for INC-7 = (grant %s, reused %v, current %s); want grant %s reused and the password unchanged",
			again.GrantID, again.Reused, version, first.GrantID)
	}
	other, err := b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-8"}, Requester: alice, RequesterKey: alice, Source: audit.SourceCLI})
	if err != nil || other.Reused || other.GrantID == first.GrantID {
		t.Errorf("another incident = (%+v, %v); want a new grant", other, err)
	}
}
