package broker_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
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
	desc, err := f.sm.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String(broker.SecretName(f.secretPrefix, f.FirefighterRO))})
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{}
	for _, tg := range desc.Tags {
		tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if eff := broker.EffectiveExpiry(v, tags); eff.Before(long.ExpiresAt) {
		t.Errorf("AWSCURRENT (grant %s) says the password stops at %v, the short grant's end; the database accepts it until %s "+
			"and INC-LONG's grant lives until %v: ffbroker connect refuses INC-LONG's holder once INC-SHORT has ended",
			short.GrantID, eff, until, long.ExpiresAt)
	}
}
