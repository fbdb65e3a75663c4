package broker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/internal/secretstest"
)

// allPasswords reads every version of the role's secret and returns the passwords.
func allPasswords(t *testing.T, f *fixture, role string) []string {
	t.Helper()
	ctx := context.Background()
	id := aws.String(broker.SecretName(f.secretPrefix, role))
	list, err := f.sm.ListSecretVersionIds(ctx, &secretsmanager.ListSecretVersionIdsInput{SecretId: id, IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, v := range list.Versions {
		got, err := f.sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: id, VersionId: v.VersionId})
		if err != nil {
			t.Fatal(err)
		}
		sv, err := broker.ParseSecretValue(aws.ToString(got.SecretString))
		if err != nil {
			t.Fatal(err)
		}
		if p := sv.Password.Reveal(); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Invariant 3: the plaintext never reaches the database server, a log, an audit
// record, an error or an answer. The server logs every statement with its parameters
// in full, so a plaintext sent to it would be in its log.
func TestPlaintextNeverLeavesTheBroker(t *testing.T) {
	ctx := context.Background()
	f, _, sm, b := spiedBroker(t, "plain")

	var surfaces []string
	record := func(out broker.IssueOutput, err error) {
		j, _ := json.Marshal(out)
		surfaces = append(surfaces, string(j), fmt.Sprintf("%v %+v %#v", out, out, out))
		if err != nil {
			surfaces = append(surfaces, err.Error(), fmt.Sprintf("%+v %#v", err, err), broker.ErrorMessage(err))
		}
	}
	record(b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-P1"}, Requester: alice, RequesterKey: alice, Source: audit.SourceAPI}))
	record(f.issue(t, b, broker.IssueInput{Request: broker.Request{Role: "rw", IncidentID: "INC-P1", Hours: 2}, Requester: alice, RequesterKey: alice, Source: audit.SourceAPI}))
	sm.SetFault("UpdateSecretVersionStage", secretstest.ServerFault) // the password is set, the promotion fails: an error path
	record(b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-P2"}, Requester: alice, RequesterKey: alice, Source: audit.SourceAPI}))
	sm.SetFault("UpdateSecretVersionStage", nil)

	passwords := append(allPasswords(t, f, f.FirefighterRO), allPasswords(t, f, f.FirefighterRW)...)
	if len(passwords) < 3 {
		t.Fatalf("found %d passwords in the secrets; want at least 3", len(passwords))
	}
	log, err := shared.Cluster.Log()
	if err != nil {
		t.Fatal(err)
	}
	// The log does record the broker's calls with their parameters (the verifier), so
	// the search below would find a plaintext had one been sent.
	if !strings.Contains(log, "db_admin.issue_firefighter_password") || !strings.Contains(log, "SCRAM-SHA-256$4096:") {
		t.Fatal("the server log lacks the broker's statements and parameters; the test would prove nothing")
	}
	places := map[string]string{"server log": log, "audit output": f.audit.String(), "answers and errors": strings.Join(surfaces, "\n")}
	for _, p := range passwords {
		for name, text := range places {
			if strings.Contains(text, p) {
				t.Errorf("a plaintext password appears in the %s", name)
			}
		}
	}
	if strings.Contains(f.audit.String(), "SCRAM-SHA-256") {
		t.Error("a verifier appears in the audit output")
	}
}

// The control for the test above: the manual form does send plaintext, and the
// same search finds it in the server log.
func TestPlaintextSearchFindsManualPassword(t *testing.T) {
	f := newFixture(t, "ctrl")
	ctx := context.Background()
	c, err := shared.Cluster.Connect(ctx, f.Broker, f.brokerPassword, f.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	manual := "manual-plaintext-" + strings.Repeat("z", 20)
	if _, err := c.Exec(ctx, `SELECT db_admin.set_firefighter_password($1, $2, 1)`, f.FirefighterRO, manual); err != nil {
		t.Fatal(err)
	}
	log, err := shared.Cluster.Log()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log, manual) {
		t.Error("a plaintext sent to the server is not in its log; the plaintext search cannot detect a leak")
	}
}
