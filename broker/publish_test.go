package broker_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/internal/secretstest"
)

// TestPromotionHalfDone: Current secret works (DESIGN.md) holds when a promotion fails half-way while
// another grant of the role is live. Each case issues ro for INC-1, then for INC-2
// with one Secrets Manager call failing inside the publish step; afterwards every
// live grant's holders must still log in with AWSCURRENT.
func TestPromotionHalfDone(t *testing.T) {
	for _, tc := range []struct {
		name, prefix string
		// arm makes the second issue's publish fail once.
		arm func(spy *secretstest.Spy)
		// issued is whether the second issue succeeds.
		issued bool
	}{
		{
			// AWSCURRENT moved, then dropping AWSPENDING failed: the promotion took
			// effect and the issue completes.
			name: "AWSPENDING not dropped", prefix: "halfpend",
			arm: func(spy *secretstest.Spy) {
				var n atomic.Int32
				spy.SetFault("UpdateSecretVersionStage", func(call, s string) error {
					if n.Add(1) == 2 {
						return secretstest.ServerFault(call, s)
					}
					return nil
				})
			},
			issued: true,
		},
		{
			// AWSCURRENT moved but its answer was lost: the issue fails, the database
			// rolls back, and AWSCURRENT must go back to INC-1's version.
			name: "answer of the move lost", prefix: "halflost",
			arm: func(spy *secretstest.Spy) { spy.SetLostAnswers("UpdateSecretVersionStage", 1) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f, d, spy, b := spiedBroker(t, tc.prefix)
			issue := func(incident string) (broker.IssueOutput, error) { return issueRO(ctx, b, incident) }
			first, err := issue("INC-1")
			if err != nil {
				t.Fatal(err)
			}
			tc.arm(spy)
			second, err := issue("INC-2")
			spy.SetFault("UpdateSecretVersionStage", nil)
			spy.SetLostAnswers("UpdateSecretVersionStage", 0)
			if tc.issued && err != nil {
				t.Fatalf("second issue: %v; want it issued (the promotion took effect)", err)
			}
			if !tc.issued && broker.ErrorCode(err) != broker.CodeUnavailable {
				t.Fatalf("second issue = %+v, %v; want unavailable", second, err)
			}
			grants, err := d.store.LiveGrants(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := first.GrantID
			if tc.issued {
				want = second.GrantID
			}
			if n := map[bool]int{true: 2, false: 1}[tc.issued]; len(grants) != n {
				t.Fatalf("live grants = %d; want %d", len(grants), n)
			}
			v, version, _ := f.current(t, f.FirefighterRO)
			c, err := loginWith(ctx, v)
			if err != nil {
				t.Fatalf("AWSCURRENT (version %s, grant %s) does not log in while %d grant(s) are live: %v", version, v.GrantID, len(grants), err)
			}
			c.Close(ctx)
			if v.GrantID != want {
				t.Errorf("AWSCURRENT holds grant %s; want %s", v.GrantID, want)
			}
		})
	}
}

// TestPromotionLostWithoutLiveGrant: when the role has no live grant and the answer
// of the move to AWSCURRENT is lost, the issue fails and AWSCURRENT must not keep
// naming the password the database just took back: it becomes the tombstone.
func TestPromotionLostWithoutLiveGrant(t *testing.T) {
	ctx := context.Background()
	f, d, spy, b := spiedBroker(t, "lostnone")
	issue := func(incident string) (broker.IssueOutput, error) { return issueRO(ctx, b, incident) }
	if _, err := issue("INC-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Revoke(ctx, broker.RevokeInput{Role: "ro", IncidentID: "INC-1", Caller: broker.Caller{ARN: alice, Key: alice}, Source: audit.SourceAPI}); err != nil {
		t.Fatal(err)
	}
	spy.SetLostAnswers("UpdateSecretVersionStage", 1)
	out, err := issue("INC-2")
	spy.SetLostAnswers("UpdateSecretVersionStage", 0)
	if broker.ErrorCode(err) != broker.CodeUnavailable {
		t.Fatalf("issue with the move's answer lost = %+v, %v; want unavailable", out, err)
	}
	if grants, err := d.store.LiveGrants(ctx); err != nil || len(grants) != 0 {
		t.Fatalf("live grants = %v (%v); want none", grants, err)
	}
	v, version, ok := f.current(t, f.FirefighterRO)
	if !ok || !v.IsTombstone() {
		t.Errorf("AWSCURRENT (version %s, grant %q, status %q) after the failed issue; want the tombstone", version, v.GrantID, v.Status)
	}
}
