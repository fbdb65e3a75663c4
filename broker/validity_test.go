package broker_test

import (
	"context"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/internal/secretstest"
)

// A later, shorter grant (INC-SHORT, 1 hour) activated while a longer one (INC-LONG,
// 2 hours) lives gives the role its password, valid until the longer grant's end,
// and AWSCURRENT rightly stays on INC-SHORT's version. That version's own expiry is
// the short grant's, so the secret's tags must say the password works until the
// role's VALID UNTIL: without them, ffbroker connect refused INC-LONG's holder once
// INC-SHORT had ended, and asking again returned the same version. (Red team 4.)
func TestCurrentSecretSaysTheRolesValidity(t *testing.T) {
	f := newFixture(t, "rt4_outlive")
	ctx := context.Background()
	d := f.deps(t)
	b := f.broker(t, d)
	long, err := b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-LONG", Hours: 2}, Requester: alice, RequesterKey: alice, Source: audit.SourceAPI})
	if err != nil {
		t.Fatal(err)
	}
	short, err := b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-SHORT", Hours: 1}, Requester: bob, RequesterKey: bob, Source: audit.SourceAPI})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Sweep(ctx, "sweep", audit.SourceSchedule); err != nil {
		t.Fatal(err)
	}
	v, version, ok := f.current(t, f.FirefighterRO)
	if !ok || version != short.GrantID {
		t.Fatalf("AWSCURRENT = %s (%v); want the short grant's version %s, the role's password", version, ok, short.GrantID)
	}
	// The password the secret holds works until the longer grant's end.
	var until string
	if err := f.super(t).QueryRow(ctx, `SELECT rolvaliduntil::text FROM pg_roles WHERE rolname = $1`, f.FirefighterRO).Scan(&until); err != nil {
		t.Fatal(err)
	}
	tags := f.tags(t, f.FirefighterRO)
	if eff := broker.EffectiveExpiry(v, tags); eff.Before(long.ExpiresAt) {
		t.Errorf("AWSCURRENT (grant %s) says the password stops at %v, the short grant's end; the database accepts it until %s "+
			"and INC-LONG's grant lives until %v: ffbroker connect refuses INC-LONG's holder once INC-SHORT has ended",
			short.GrantID, eff, until, long.ExpiresAt)
	}
}

// tags returns the tags of role's secret.
func (f *fixture) tags(t *testing.T, role string) map[string]string {
	t.Helper()
	desc, err := f.sm.DescribeSecret(context.Background(), &sm.DescribeSecretInput{SecretId: aws.String(broker.SecretName(f.secretPrefix, role))})
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{}
	for _, tg := range desc.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	return tags
}

// holdFirst holds the next call of the operation call through spy until release
// is closed; started is closed when it arrives. Later calls pass.
func holdFirst(spy *secretstest.Spy, call string) (started, release chan struct{}) {
	var once sync.Once
	started, release = make(chan struct{}), make(chan struct{})
	spy.SetFault(call, func(string, string) error {
		first := false
		once.Do(func() { first = true; close(started) })
		if first {
			<-release
		}
		return nil
	})
	return started, release
}
