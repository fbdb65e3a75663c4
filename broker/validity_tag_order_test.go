package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

// A validity tag decided before a later issue cannot land after it: tagValidity
// reads the role's grants and AWSCURRENT and writes the tag under the role's
// lock. Two issues of the role while a longer grant lives: INC-B's TagResource is
// held up (a slow or retried call, a Lambda paused); INC-C then waits for the
// role's lock (seen in pg_locks) instead of tagging first and being overwritten
// by INC-B's tag, which named INC-B's version while AWSCURRENT was INC-C's, so
// connect refused INC-LONG's holder once INC-C ended. (Red team 5.)
func TestLateValidityTagCannotNameAnOldVersion(t *testing.T) {
	ctx := context.Background()
	f, _, spy, b := spiedBroker(t, "rt5_tagrace")
	issue := func(incident, who string, hours int) broker.IssueOutput {
		out, err := b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: incident, Hours: hours},
			Requester: who, RequesterKey: who, Source: audit.SourceAPI})
		if err != nil {
			t.Errorf("issue %s: %v", incident, err)
		}
		return out
	}
	long := issue("INC-LONG", alice, 2)

	// The first TagResource (INC-B's) waits until INC-C has been issued or is
	// waiting for the role's lock.
	started, release := holdFirst(spy, "TagResource")
	var bOut broker.IssueOutput
	bDone := make(chan struct{})
	go func() { defer close(bDone); bOut = issue("INC-B", bob, 1) }()
	select {
	case <-started:
	case <-bDone:
		t.Fatalf("INC-B was issued (%+v) without tagging its version: the test proves nothing", bOut)
	}
	const carol = "arn:aws:iam::123456789012:user/carol"
	var cOut broker.IssueOutput
	cDone := make(chan struct{})
	// Another function instance: its own database connection (one store holds one).
	b2 := f.broker(t, f.deps(t))
	go func() {
		defer close(cDone)
		var err error
		cOut, err = b2.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-C", Hours: 1},
			Requester: carol, RequesterKey: carol, Source: audit.SourceAPI})
		if err != nil {
			t.Errorf("issue INC-C: %v", err)
		}
	}()
	super := f.super(t)
	for waiting := false; !waiting; {
		select {
		case <-cDone: // issued while INC-B's tag was still to come
			waiting = true
		default:
			if err := super.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)`).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(release)
	<-bDone
	<-cDone
	if t.Failed() {
		t.FailNow()
	}

	v, version, ok := f.current(t, f.FirefighterRO)
	if !ok || version != cOut.GrantID {
		t.Fatalf("AWSCURRENT = %s (%v); want INC-C's version %s (INC-B %s): the test proves nothing", version, ok, cOut.GrantID, bOut.GrantID)
	}
	tags := f.tags(t, f.FirefighterRO)
	if eff := broker.EffectiveExpiry(v, tags); !eff.Equal(long.ExpiresAt) {
		t.Errorf("AWSCURRENT (INC-C, %s) says the password stops at %v; the role is valid until INC-LONG's end %v. "+
			"The tags name %s", cOut.GrantID, eff, long.ExpiresAt, tags[broker.SecretGrantTag])
	}
}

// An extension's validity tag cannot land on the next grant's version: the role is
// revoked and issued again (INC-C, 1 h) while the extension of INC-A is between its
// commit and its tag. Tagging under the role's lock, with the grants read there,
// leaves INC-C's version saying its own end, not the revoked INC-A's extended one
// (connect would have handed out a password the database refuses). (Red team 5.)
func TestExtensionTagCannotOutliveTheRole(t *testing.T) {
	ctx := context.Background()
	f, _, spy, b := spiedBroker(t, "rt5_exttag")
	if _, err := b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-A", Hours: 1},
		Requester: alice, RequesterKey: alice, Source: audit.SourceAPI}); err != nil {
		t.Fatal(err)
	}
	// The extension's read of AWSCURRENT (the first GetSecretValue from now on)
	// waits until the role was revoked and issued again.
	started, release := holdFirst(spy, "GetSecretValue")
	var extErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, extErr = b.Extend(ctx, broker.ExtendInput{Role: "ro", Body: []byte(`{"incident_id":"INC-A","hours":2}`), Path: "/access/ro/extend",
			Caller: onCall(alice), RequestID: "req-extend", Source: audit.SourceAPI})
	}()
	select {
	case <-started:
	case <-done:
		t.Fatalf("the extension ended (%v) without reading the secret: the test proves nothing", extErr)
	}
	if _, err := b.Revoke(ctx, broker.RevokeInput{Role: "ro", IncidentID: "INC-A", Caller: broker.Caller{ARN: alice, Key: alice}, Source: audit.SourceAPI}); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	c, err := b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-C", Hours: 1},
		Requester: bob, RequesterKey: bob, Source: audit.SourceAPI})
	if err != nil {
		t.Fatalf("issue INC-C: %v", err)
	}
	close(release)
	<-done
	if extErr != nil {
		t.Fatalf("the extension failed (%v): the test proves nothing", extErr)
	}

	v, version, ok := f.current(t, f.FirefighterRO)
	if !ok || version != c.GrantID {
		t.Fatalf("AWSCURRENT = %s (%v); want INC-C's version %s", version, ok, c.GrantID)
	}
	var until time.Time
	if err := f.super(t).QueryRow(ctx, `SELECT rolvaliduntil FROM pg_roles WHERE rolname = $1`, f.FirefighterRO).Scan(&until); err != nil {
		t.Fatal(err)
	}
	tags := f.tags(t, f.FirefighterRO)
	if eff := broker.EffectiveExpiry(v, tags); eff.After(until) {
		t.Errorf("AWSCURRENT (INC-C, %s) says the password works until %v; the database's VALID UNTIL is %v (INC-C's end %v): "+
			"the revoked INC-A's extension tagged the next grant's version", c.GrantID, eff, until, v.ExpiresAt)
	}
}
