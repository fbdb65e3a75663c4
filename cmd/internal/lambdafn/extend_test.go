package lambdafn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
)

// extendEvent is POST /access/{role}/extend with body, as API Gateway sends it (from
// the rw issue sample event), not yet signed.
func extendEvent(t *testing.T, role, body string) json.RawMessage {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(readEvent(t, "issue-api-rw.json"), &ev); err != nil {
		t.Fatal(err)
	}
	ev["resource"], ev["path"], ev["body"] = "/access/{role}/extend", "/access/"+role+"/extend", body
	ev["pathParameters"] = map[string]string{"role": role}
	rc := ev["requestContext"].(map[string]any)
	rc["resourcePath"], rc["path"] = "/access/{role}/extend", "/prod/access/"+role+"/extend"
	out, _ := json.Marshal(ev)
	return out
}

// call runs one API event through the issue function as who and returns the answer.
func (f *flow) call(t *testing.T, who string, raw json.RawMessage) (int, map[string]any) {
	t.Helper()
	out, err := lambdafn.NewIssueHandler(f.issue).Handle(context.Background(), f.sign(t, who, raw))
	if err != nil {
		t.Fatal(err)
	}
	return apiAnswer(t, out)
}

// expiry reads an answer's expires_at.
func expiry(t *testing.T, answer map[string]any) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, fmt.Sprint(answer["expires_at"]))
	if err != nil {
		t.Fatalf("answer %v has no expires_at: %v", answer, err)
	}
	return at
}

// POST /access/{role}/extend through the issue function with real identity proofs:
// ro is extended at once without rotation; rw files an extension request that goes
// through the real approval workflow in moto, where the requester's own approval is
// refused and another person's extends the same grant.
func TestExtendRoute(t *testing.T) {
	t.Run("ro", testExtendReadOnly)
	t.Run("rw", testExtendReadWrite)
}

func testExtendReadOnly(t *testing.T) {
	f := newFlow(t, "ext_ro", 3600)
	status, ro := f.call(t, "alice", withBody(t, readEvent(t, "issue-api-ro.json"), `{"role":"ro","incident_id":"INC-EXT","hours":1,"reason":"look"}`))
	if status != 201 {
		t.Fatalf("POST /access ro = %d %v; want 201", status, ro)
	}
	before := f.dbState(t)
	for _, tc := range []struct {
		name, who, role, body string
		status                int
		code                  string
	}{
		{"another person", "mallory", "ro", `{"incident_id":"INC-EXT","hours":1}`, 403, "forbidden"},
		{"no grant for the incident", "alice", "ro", `{"incident_id":"INC-NONE","hours":1}`, 404, "not_found"},
		{"3 hours", "alice", "ro", `{"incident_id":"INC-EXT","hours":3}`, 422, "invalid_hours"},
		{"hours as a string", "alice", "ro", `{"incident_id":"INC-EXT","hours":"2"}`, 422, "invalid_hours"},
		{"a role in the body", "alice", "ro", `{"role":"rw","incident_id":"INC-EXT"}`, 400, "invalid_request"},
		{"bad json", "alice", "ro", `{"incident_id":`, 400, "invalid_json"},
		{"injection in the incident id", "alice", "ro", `{"incident_id":"INC-1'; DROP ROLE x; --"}`, 422, "invalid_incident"},
		{"unknown role", "alice", "admin", `{"incident_id":"INC-EXT"}`, 422, "invalid_role"},
	} {
		status, body := f.call(t, tc.who, extendEvent(t, tc.role, tc.body))
		if errBody, _ := body["error"].(map[string]any); status != tc.status || errBody["code"] != tc.code {
			t.Errorf("extend %s = %d %v; want %d %s", tc.name, status, body, tc.status, tc.code)
		}
	}
	if after := f.dbState(t); after != before {
		t.Errorf("database after the refused extensions = %s; want %s", after, before)
	}
	status, ext := f.call(t, "alice", extendEvent(t, "ro", `{"incident_id":"INC-EXT","hours":2,"reason":"still investigating"}`))
	if status != 200 || ext["extended"] != true || ext["grant_id"] != ro["grant_id"] || ext["secret_version"] != ro["secret_version"] ||
		!expiry(t, ext).After(expiry(t, ro)) {
		t.Fatalf("extend ro = %d %v; want 200, extended, the same grant and secret version, a later expiry than %v", status, ext, ro["expires_at"])
	}
	status, short := f.call(t, "alice", extendEvent(t, "ro", `{"incident_id":"INC-EXT","hours":1}`))
	if errBody, _ := short["error"].(map[string]any); status != 409 || errBody["code"] != "conflict" {
		t.Errorf("extend ro by 1h after 2h = %d %v; want 409 conflict (never shortened)", status, short)
	}
	var extended map[string]any
	for _, r := range f.audit.Records(t) {
		if r["event"] == "access.extended" && r["outcome"] == "success" {
			extended = r
		}
	}
	if extended["requester"] != aliceARN || extended["previous_expires_at"] == nil || extended["incident_id"] != "INC-EXT" {
		t.Errorf("access.extended record = %v; want alice, INC-EXT, the old expiry", extended)
	}

}

// liveRWGrant gives alice a live rw grant for incident as the ledger records one issued
// through an approval by bob. It is written by the superuser because moto 5.2 answers
// 500 to a StartExecution after an execution ran a Lambda step: the extension's must
// be the flow's first execution.
func (f *flow) liveRWGrant(t *testing.T, incident string) broker.IssueOutput {
	t.Helper()
	ctx := context.Background()
	c, err := shared.Cluster.ConnectSuper(ctx, f.names.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var g broker.IssueOutput
	if err := c.QueryRow(ctx, `INSERT INTO db_admin.firefighter_grant (grant_id, role, incident_id, requester, requester_key, approver, approver_key,
			issued_at, expires_at, activated_at)
		VALUES (gen_random_uuid(), $1, $2, $3, $3, $4, $4, clock_timestamp(), clock_timestamp() + interval '1 hour', clock_timestamp())
		RETURNING grant_id::text, role, expires_at`, f.names.FirefighterRW, incident, aliceARN, bobARN).Scan(&g.GrantID, &g.Role, &g.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	return g
}

func testExtendReadWrite(t *testing.T) {
	f := newFlow(t, "ext_rw", 3600)
	grant := f.liveRWGrant(t, "INC-EXTW")
	if status, body := f.call(t, "mallory", extendEvent(t, "rw", `{"incident_id":"INC-EXTW","hours":2}`)); status != 403 {
		t.Errorf("mallory extends alice's rw grant = %d %v; want 403", status, body)
	}
	status, pending := f.call(t, "alice", extendEvent(t, "rw", `{"incident_id":"INC-EXTW","hours":2,"reason":"still investigating"}`))
	if status != 202 || pending["status"] != "pending_approval" || pending["request_id"] == nil {
		t.Fatalf("extend rw = %d %v; want 202 pending_approval", status, pending)
	}
	extID, extARN := fmt.Sprint(pending["request_id"]), fmt.Sprint(pending["execution_arn"])
	f.await(t, extARN)
	if status, body := f.decide(t, "alice", extID, "approve"); status != 403 {
		t.Errorf("alice approves her own extension = %d %v; want 403", status, body)
	}
	if status, body := f.decide(t, "bob", extID, "approve"); status != 200 || body["workflow_resumed"] != true {
		t.Fatalf("bob approves the extension = %d %v; want 200, workflow resumed", status, body)
	}
	out, err := lambdafn.NewIssueHandler(f.issue).Handle(context.Background(), f.scheduled(t, extARN, "issue"))
	if err != nil {
		t.Fatalf("issue step of the approved extension: %v", err)
	}
	got := out.(broker.IssueOutput)
	if !got.Extended || got.GrantID != grant.GrantID || !got.ExpiresAt.After(grant.ExpiresAt) {
		t.Errorf("issue step of the extension = %+v; want grant %s extended, later than %v", got, grant.GrantID, grant.ExpiresAt)
	}
	var extended map[string]any
	for _, r := range f.audit.Records(t) {
		if r["event"] == "access.extended" && r["outcome"] == "success" {
			extended = r
		}
	}
	if extended["requester"] != aliceARN || extended["approver"] != bobARN || extended["access_request_id"] != extID {
		t.Errorf("access.extended record = %v; want requester alice, approver bob, request %s", extended, extID)
	}
	if n := f.rwGrants(t); n != 1 {
		t.Errorf("rw grants after the extension = %d; want 1 (extended, not a new grant)", n)
	}
}
