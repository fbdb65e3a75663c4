package lambdafn_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/broker"
)

// elapse moves the flow's grants and extensions back by d, as if d had passed on the
// database clock.
func (f *flow) elapse(t *testing.T, d time.Duration) {
	t.Helper()
	iv := d.String()
	f.superQuery(t, `WITH g AS (UPDATE db_admin.firefighter_grant SET issued_at = issued_at - $1::interval,
		expires_at = expires_at - $1::interval, extended_at = extended_at - $1::interval RETURNING grant_id::text) SELECT * FROM g`, iv)
	f.superQuery(t, `WITH e AS (UPDATE db_admin.firefighter_extension SET extended_at = extended_at - $1::interval,
		old_expires_at = old_expires_at - $1::interval, new_expires_at = new_expires_at - $1::interval RETURNING grant_id::text) SELECT * FROM e`, iv)
}

// With FFB_LIFETIME_CAP_HOURS=4, extensions take an ro grant up to 4 hours from its
// issue and no further: the next is refused with 409 lifetime_exceeded, the expiring
// notice says the cap is reached, and asking again after the grant ended gives a new
// grant with a new password.
func TestExtendStopsAtTheLifetimeCap(t *testing.T) {
	ctx := context.Background()
	f := newFlowWith(t, "life_cap", 3600, map[string]string{"FFB_LIFETIME_CAP_HOURS": "4", "FFB_EXPIRY_WARNING": "2h"})
	alice := f.mailbox(t, "alice", `{"recipient":["`+aliceARN+`"]}`)
	ask := withBody(t, readEvent(t, "issue-api-ro.json"), `{"role":"ro","incident_id":"INC-CAP","hours":2,"reason":"look"}`)
	status, first := f.call(t, "alice", ask)
	if status != 201 {
		t.Fatalf("POST /access ro = %d %v; want 201", status, first)
	}
	issuedAt := time.Now()
	old, _, err := f.issue.Secrets.Current(ctx, f.names.FirefighterRO)
	if err != nil {
		t.Fatal(err)
	}
	extend := extendEvent(t, "ro", `{"incident_id":"INC-CAP","hours":2}`)

	f.elapse(t, 90*time.Minute)
	issuedAt = issuedAt.Add(-90 * time.Minute)
	if status, body := f.call(t, "alice", extend); status != 200 {
		t.Fatalf("extend at 1h30 of the 4-hour cap = %d %v; want 200", status, body)
	}
	f.elapse(t, time.Hour)
	issuedAt = issuedAt.Add(-time.Hour)
	status, body := f.call(t, "alice", extend)
	if status != 200 {
		t.Fatalf("extend at 2h30 of the 4-hour cap = %d %v; want 200", status, body)
	}
	if got, want := expiry(t, body), issuedAt.Add(4*time.Hour); got.Sub(want) > time.Minute || want.Sub(got) > time.Minute {
		t.Errorf("extend(2h) at 2h30 ends at %v; want the cap, about %v", got, want)
	}
	f.elapse(t, time.Hour)
	status, body = f.call(t, "alice", extend)
	e, _ := body["error"].(map[string]any)
	if status != 409 || e["code"] != string(broker.CodeLifetimeExceeded) || !strings.Contains(fmt.Sprint(e["message"]), "ask again for a new password") {
		t.Errorf("extend at 3h30 of the 4-hour cap = %d %v; want 409 lifetime_exceeded saying to ask again for a new password", status, body)
	}

	if s := f.sweep(t); len(s.Warned) != 1 {
		t.Errorf("sweep warned %v; want the grant ending at its cap", s.Warned)
	}
	got := alice.expect(t, "the sweep 30 minutes before the cap", broker.NotifyExpiring)
	if len(got) == 1 {
		if c := got[0].chat.Content; !strings.Contains(c.Description, "Lifetime cap: `reached") || !strings.Contains(c.Title, "lifetime cap") ||
			len(c.NextSteps) != 1 || !strings.HasPrefix(c.NextSteps[0], "ffbroker issue --role ro --incident INC-CAP") {
			t.Errorf("expiring at the cap = %+v; want the cap reached and the command to ask again", c)
		}
	}

	f.elapse(t, time.Hour)
	if s := f.sweep(t); len(s.Expired) != 1 {
		t.Fatalf("sweep after the cap expired %+v; want ro", s.Expired)
	}
	status, again := f.call(t, "alice", ask)
	if status != 201 || again["grant_id"] == first["grant_id"] {
		t.Fatalf("POST /access ro again after the cap = %d %v; want 201 with a new grant (not %v)", status, again, first["grant_id"])
	}
	cur, _, err := f.issue.Secrets.Current(ctx, f.names.FirefighterRO)
	if err != nil || cur.Password.Len() < 32 || cur.Password.Reveal() == old.Password.Reveal() {
		t.Errorf("password after asking again: %v; want a new one", err)
	}
}
