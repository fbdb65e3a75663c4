package broker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/postgres"
)

// failingSink refuses every record while on.
type failingSink struct {
	audit.Sink
	mu sync.Mutex
	on bool
}

func (s *failingSink) set(on bool) { s.mu.Lock(); s.on = on; s.mu.Unlock() }

func (s *failingSink) Write(ctx context.Context, r audit.Record) error {
	s.mu.Lock()
	on := s.on
	s.mu.Unlock()
	if on {
		return errors.New("audit sink down")
	}
	return s.Sink.Write(ctx, r)
}

// revokingDB revokes the role (a real expire through another connection) just before
// the activation, so the database refuses it.
type revokingDB struct {
	broker.Database
	other *postgres.Store
	on    bool
}

func (d *revokingDB) ActivateGrant(ctx context.Context, r broker.GrantRequest, v broker.Verifier, publish func(context.Context, broker.RoleState) error) (broker.Activation, error) {
	if d.on {
		if _, err := d.other.Expire(ctx, r.Role); err != nil {
			return broker.Activation{}, err
		}
	}
	return d.Database.ActivateGrant(ctx, r, v, publish)
}

// consistent checks Current secret works (DESIGN.md) for role: while the role has a live grant, AWSCURRENT
// logs in; without one, AWSCURRENT is still the version it was before (old state intact).
func consistent(t *testing.T, f *fixture, store *postgres.Store, role, versionBefore string) {
	t.Helper()
	ctx := context.Background()
	grants, err := store.LiveGrants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	live := 0
	for _, g := range grants {
		if g.Role == role {
			live++
		}
	}
	v, version, ok := f.current(t, role)
	if live == 0 {
		if version != versionBefore {
			t.Errorf("no live grant, but AWSCURRENT moved from %q to %q", versionBefore, version)
		}
		return
	}
	if !ok {
		t.Fatalf("%d live grants and no current secret", live)
	}
	c, err := loginWith(ctx, v)
	if err != nil {
		var latest broker.Grant
		for _, g := range grants {
			if g.Role == role && !g.ActivatedAt.Before(latest.ActivatedAt) {
				latest = g
			}
		}
		t.Errorf("%d live grants and AWSCURRENT (%s, %s) does not log in: %v; the grant activated last is %s (%v)",
			live, version, v, err, latest.ID, latest.ActivatedAt)
		return
	}
	c.Close(ctx)
}

func TestIssueFailureOrdering(t *testing.T) {
	f := newFixture(t, "fault")
	ctx := context.Background()
	d := f.deps(t)
	sm := d.spy(f)
	sink := &failingSink{Sink: d.sink}
	d.sink = sink
	other := f.deps(t).store
	rdb := &revokingDB{Database: d.db, other: other}
	d.db = rdb
	b := f.broker(t, d)

	// A working grant first, so "old state intact" means something.
	if _, err := b.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-0"}, Requester: alice, RequesterKey: alice, Source: audit.SourceAPI}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		inject func(on bool)
		want   broker.Code
	}{
		{"audit intent fails", sink.set, broker.CodeUnavailable},
		{"describe fails", func(on bool) { sm.SetFault("DescribeSecret", serverFaultIf(on)) }, broker.CodeUnavailable},
		{"put pending fails", func(on bool) { sm.SetFault("PutSecretValue", serverFaultIf(on)) }, broker.CodeUnavailable},
		{"database refuses", func(on bool) { rdb.on = on }, broker.CodeConflict},
		{"promote fails", func(on bool) { sm.SetFault("UpdateSecretVersionStage", serverFaultIf(on)) }, broker.CodeUnavailable},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, before, _ := f.current(t, f.FirefighterRO)
			grantID := fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)
			in := broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: fmt.Sprintf("INC-F%d", i)},
				Requester: alice, RequesterKey: fmt.Sprintf("%s-%d", alice, i), GrantID: grantID, Source: audit.SourceAPI} // one person holds 3 grants
			tc.inject(true)
			_, err := b.Issue(ctx, in)
			tc.inject(false)
			if got := broker.ErrorCode(err); got != tc.want {
				t.Fatalf("Issue with %s: error code %q (%v); want %s", tc.name, got, err, tc.want)
			}
			consistent(t, f, other, f.FirefighterRO, before)

			// The same request again, with the fault gone, ends consistent and current.
			out, err := b.Issue(ctx, in)
			if tc.want == broker.CodeConflict {
				if broker.ErrorCode(err) != broker.CodeConflict {
					t.Errorf("retry of a revoked reservation: %v; want conflict", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("retry after %s: %v", tc.name, err)
			}
			if _, version, _ := f.current(t, f.FirefighterRO); version != out.GrantID || out.GrantID != grantID {
				t.Errorf("after the retry AWSCURRENT = %s, answer grant %s; want %s", version, out.GrantID, grantID)
			}
			consistent(t, f, other, f.FirefighterRO, "")
		})
	}
	for _, line := range strings.Split(f.audit.String(), "\n") {
		if strings.Contains(line, "SCRAM-SHA-256") {
			t.Errorf("audit line holds a verifier: %s", line)
		}
	}
}
