package broker_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

// 50 concurrent issues for one role, from several incidents, each caller with its own
// broker and connection as separate Lambdas would have. The broker's login has
// CONNECTION LIMIT 3, so most callers wait and retry for a connection.
func TestConcurrentIssuesOneRole(t *testing.T) {
	f := newFixture(t, "many")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const callers, incidents = 50, 9
	type result struct {
		out broker.IssueOutput
		err error
	}
	results := make([]result, callers)
	// The approved requests first, one after the other (the approvals are not what is
	// measured here), then their issue steps all at once.
	// Three requesters, three incidents each: one person holds at most 3 grants.
	requesters := []string{alice, mallory, "arn:aws:iam::123456789012:user/carol"}
	requests := make([]string, callers)
	for i := range requests {
		who := requesters[(i%incidents)%len(requesters)]
		requests[i] = f.approvedRequest(t, broker.IssueInput{
			Request:   broker.Request{Role: "rw", IncidentID: fmt.Sprintf("INC-C%d", i%incidents), Hours: 1 + i%2},
			Requester: who, RequesterKey: who})
	}
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		d := f.deps(t)
		b := f.broker(t, d)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer d.store.Close(context.Background()) // the Lambda's connection ends with it
			out, err := b.IssueApproved(ctx, broker.IssueApprovedInput{AccessRequestID: requests[i], Source: audit.SourceStepFunctions})
			results[i] = result{out, err}
		}(i)
	}
	wg.Wait()

	grants := map[string]time.Time{}
	for i, r := range results {
		if r.err != nil {
			if !broker.Retryable(r.err) {
				t.Errorf("caller %d: %v; want success or a retryable error", i, r.err)
			}
			continue
		}
		grants[r.out.GrantID] = r.out.ExpiresAt
	}
	if len(grants) == 0 {
		t.Fatal("no caller got a grant")
	}
	var rows int
	var latest time.Time
	if err := f.super(t).QueryRow(ctx, `SELECT count(*), max(expires_at) FROM db_admin.firefighter_grant WHERE role = $1 AND activated_at IS NOT NULL`,
		f.FirefighterRW).Scan(&rows, &latest); err != nil {
		t.Fatal(err)
	}
	if rows != len(grants) {
		t.Errorf("ledger has %d active grants; callers got %d distinct grants", rows, len(grants))
	}
	if rows > incidents {
		t.Errorf("ledger has %d active grants for %d incidents; want at most one per incident", rows, incidents)
	}
	if until := validUntil(t, f, f.FirefighterRW); !until.Equal(latest) {
		t.Errorf("rolvaliduntil = %v; want the latest expiry %v", until, latest)
	}
	v, _, ok := f.current(t, f.FirefighterRW)
	if !ok {
		t.Fatal("no current secret")
	}
	c, err := loginWith(ctx, v)
	if err != nil {
		t.Fatalf("AWSCURRENT after 50 concurrent issues does not log in: %v", err)
	}
	c.Close(ctx)
	t.Logf("%d callers, %d distinct grants", callers, len(grants))
}
