package broker_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

// benchFixture is shared by the issue benchmark and its floor, so both run against the
// same PostgreSQL and moto in the same run.
var benchFixtures = map[string]*fixture{}

func benchFixture(b *testing.B, prefix string) *fixture {
	if f, ok := benchFixtures[prefix]; ok {
		return f
	}
	f := newFixture(b, prefix)
	benchFixtures[prefix] = f
	return f
}

// BenchmarkIssue measures broker.Issue end to end: audit intent, reservation, pending
// secret version, activation with a SCRAM verifier, promotion, audit result.
func BenchmarkIssue(b *testing.B) {
	f := benchFixture(b, "bench")
	d := f.deps(b)
	d.sink = audit.NewJSONSink(discard{})
	br := f.broker(b, d)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := br.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: fmt.Sprintf("INC-B%d-%d", b.N, i)},
			Requester: alice, RequesterKey: alice, Source: audit.SourceCLI})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssueFloor is the floor Issue is compared with: one bare ALTER ROLE with a
// password and VALID UNTIL, plus one PutSecretValue, on the same servers.
func BenchmarkIssueFloor(b *testing.B) {
	f := benchFixture(b, "bench")
	ctx := context.Background()
	conn, err := shared.Cluster.ConnectSuper(ctx, f.DB)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	name := f.secretPrefix + "/floor"
	if _, err := f.sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("{}")}); err != nil {
		b.Logf("create floor secret: %v", err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := conn.Exec(ctx, fmt.Sprintf(`ALTER ROLE %s PASSWORD 'floor-password-%040d' VALID UNTIL 'infinity'`, f.FirefighterRW, i)); err != nil {
			b.Fatal(err)
		}
		if _, err := f.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name),
			SecretString: aws.String(fmt.Sprintf(`{"password":"floor-password-%040d"}`, i))}); err != nil {
			b.Fatal(err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
