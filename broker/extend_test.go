package broker_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

// An ro extension keeps the password: an open session and a new login with the secret
// both work, the secret version is the same, VALID UNTIL and the secret's expiry tags
// move to the new expiry, and the extension is audited. Bad input changes nothing and
// leaves a request.rejected record.
func TestExtendRO(t *testing.T) {
	f := newFixture(t, "extend")
	d := f.deps(t)
	b := f.broker(t, d)
	ctx := context.Background()
	issued, err := f.issue(t, b, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: "INC-X1", Hours: 1},
		Requester: alice, RequesterKey: alice, RequestID: "req-issue", Source: audit.SourceAPI})
	if err != nil {
		t.Fatal(err)
	}
	v, version, _ := f.current(t, f.FirefighterRO)
	open, err := loginWith(ctx, v)
	if err != nil {
		t.Fatalf("login with the issued secret: %v", err)
	}
	defer open.Close(ctx)

	extend := func(who, role, body string) (broker.ExtendOutput, error) {
		return b.Extend(ctx, broker.ExtendInput{Role: role, Body: []byte(body), Path: "/access/" + role + "/extend",
			Caller: onCall(who), RequestID: "req-extend", Source: audit.SourceAPI})
	}
	before, secrets := f.dbState(t), f.secretsState(t)
	for _, tc := range []struct {
		name, who, role, body string
		code                  broker.Code
	}{
		{"hours 0 as null", alice, "ro", `{"incident_id":"INC-X1","hours":null}`, broker.CodeInvalidHours},
		{"hours 3", alice, "ro", `{"incident_id":"INC-X1","hours":3}`, broker.CodeInvalidHours},
		{"bad json", alice, "ro", `{"incident_id":"INC-X1"`, broker.CodeInvalidJSON},
		{"unknown field", alice, "ro", `{"incident_id":"INC-X1","grant_id":"x"}`, broker.CodeInvalidRequest},
		{"injection in the incident id", alice, "ro", `{"incident_id":"INC-X1' OR '1'='1"}`, broker.CodeInvalidIncident},
		{"wrong requester", mallory, "ro", `{"incident_id":"INC-X1","hours":1}`, broker.CodeForbidden},
		{"no grant for the incident", alice, "ro", `{"incident_id":"INC-X2","hours":1}`, broker.CodeNotFound},
		{"no caller", "", "ro", `{"incident_id":"INC-X1","hours":1}`, broker.CodeUnauthenticated},
		{"a role outside the two", alice, "admin", `{"incident_id":"INC-X1","hours":1}`, broker.CodeInvalidRole},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(f.audit.Records(t))
			if _, err := extend(tc.who, tc.role, tc.body); broker.ErrorCode(err) != tc.code {
				t.Errorf("Extend(%s) error = %v; want code %s", tc.name, err, tc.code)
			}
			recs := f.audit.Records(t)[n:]
			if len(recs) != 1 || recs[0]["event"] != "request.rejected" || recs[0]["error_code"] != string(tc.code) {
				t.Errorf("Extend(%s) audit records = %v; want one request.rejected with %s", tc.name, recs, tc.code)
			}
		})
	}
	if got := f.dbState(t); got != before {
		t.Errorf("database after refused extensions = %s; want %s", got, before)
	}
	if got := f.secretsState(t); got != secrets {
		t.Errorf("secrets after refused extensions = %s; want %s", got, secrets)
	}

	out, err := extend(alice, "ro", `{"incident_id":"INC-X1","hours":2,"reason":"still investigating"}`)
	if err != nil || out.Grant == nil {
		t.Fatalf("Extend(ro, 2h) = %+v, %v", out, err)
	}
	g := out.Grant
	if !g.Extended || g.GrantID != issued.GrantID || g.SecretVersion != version || !g.ExpiresAt.After(issued.ExpiresAt) ||
		g.PreviousExpiresAt == nil || !g.PreviousExpiresAt.Equal(issued.ExpiresAt) {
		t.Errorf("Extend(ro, 2h) grant = %+v; want grant %s extended from %v, secret version %s", g, issued.GrantID, issued.ExpiresAt, version)
	}
	if until := validUntil(t, f, f.FirefighterRO); !until.Equal(g.ExpiresAt) {
		t.Errorf("VALID UNTIL after the extension = %v; want %v", until, g.ExpiresAt)
	}
	now, nowVersion, _ := f.current(t, f.FirefighterRO)
	tags, err := d.sstore.Tags(ctx, f.FirefighterRO)
	if err != nil {
		t.Fatal(err)
	}
	if nowVersion != version || !broker.EffectiveExpiry(now, tags).Equal(g.ExpiresAt) {
		t.Errorf("secret after the extension: version %s, effective expiry %v (tags %v); want version %s, expiry %v",
			nowVersion, broker.EffectiveExpiry(now, tags), tags, version, g.ExpiresAt)
	}
	if err := open.Ping(ctx); err != nil {
		t.Errorf("session opened before the extension: %v; want it alive", err)
	}
	again, err := loginWith(ctx, now)
	if err != nil {
		t.Errorf("new login with the secret after the extension: %v", err)
	} else {
		again.Close(ctx)
	}
	var rec map[string]any
	for _, r := range f.audit.Records(t) {
		if r["event"] == "access.extended" {
			rec = r
		}
	}
	raw, _ := json.Marshal(rec)
	if rec["outcome"] != "success" || rec["requester"] != alice || rec["incident_id"] != "INC-X1" || rec["previous_expires_at"] == nil ||
		rec["grant_id"] != issued.GrantID {
		t.Errorf("access.extended record = %s; want success for alice, INC-X1, grant %s, previous_expires_at", raw, issued.GrantID)
	}
	if _, err := extend(alice, "ro", `{"incident_id":"INC-X1","hours":1}`); broker.ErrorCode(err) != broker.CodeConflict {
		t.Errorf("Extend(ro, 1h) after 2h error = %v; want conflict (never shortened)", err)
	}
}
