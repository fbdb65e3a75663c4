package lambdafn_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/broker"
)

// errorCode is the code of an API error answer, "" for any other answer.
func errorCode(answer map[string]any) any {
	e, _ := answer["error"].(map[string]any)
	return e["code"]
}

// errorMessage is the message of an API error answer: the refusal's own reason, so a
// test tells it from another 403.
func errorMessage(answer map[string]any) string {
	e, _ := answer["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

// requestRows counts the request ledger's rows for incident.
func (f *flow) requestRows(t *testing.T, incident string) string {
	t.Helper()
	return f.superQuery(t, `SELECT count(*)::text FROM db_admin.firefighter_request WHERE incident_id = $1`, incident)[0]
}

// lastRejection is the error code of the last request.rejected record since n records.
func (f *flow) lastRejection(t *testing.T, n int) any {
	t.Helper()
	var code any
	for _, r := range f.audit.Records(t)[n:] {
		if r["event"] == "request.rejected" {
			code = r["error_code"]
		}
	}
	return code
}

// accessEvent is POST /access for role, incident and a reason.
func accessEvent(t *testing.T, role, incident string) json.RawMessage {
	t.Helper()
	body, _ := json.Marshal(broker.Request{Role: role, IncidentID: incident, Hours: 1, Reason: "cancel stuck order"})
	return withBody(t, readEvent(t, "issue-api-rw.json"), string(body))
}

// Bob, an approver, signs the read-write request as a session of BuildServer (a role
// on no list, which needs no permission for the proof) and sends it straight to the
// issue function, to approve it later as himself: the key of a role session is not a
// person, so the request is refused and nothing is filed.
func TestApproverCannotAskForReadWriteAsARoleSession(t *testing.T) {
	f := newFlow(t, "req_bare", 3600)
	build := f.assumeRole(t, "bob", "BuildServer", "ci-4711")
	n := len(f.audit.Records(t))
	status, answer := f.call(t, build, accessEvent(t, "rw", "INC-BARE"))
	if status != 403 || errorCode(answer) != "forbidden" || !strings.Contains(errorMessage(answer), "requesters' list") {
		t.Fatalf("POST /access rw as assumed-role/BuildServer/ci-4711 = %d %v; want 403 forbidden", status, answer)
	}
	if got := f.lastRejection(t, n); got != "forbidden" {
		t.Errorf("audit: last request.rejected code = %v; want forbidden", got)
	}
	if rows := f.requestRows(t, "INC-BARE"); rows != "0" {
		t.Errorf("the request ledger has %s rows for INC-BARE; want none", rows)
	}
	// A listed role's session (Engineer is on FFB_REQUESTERS) may not ask for rw either.
	eng := f.assumeRole(t, "alice", "Engineer", "alice")
	if status, answer := f.call(t, eng, accessEvent(t, "rw", "INC-ENG")); status != 403 || errorCode(answer) != "forbidden" ||
		!strings.Contains(errorMessage(answer), "requesters' list") {
		t.Errorf("POST /access rw as assumed-role/Engineer/alice (role on FFB_REQUESTERS) = %d %v; want 403 forbidden", status, answer)
	}
	if rows := f.requestRows(t, "INC-ENG"); rows != "0" {
		t.Errorf("the request ledger has %s rows for INC-ENG; want none", rows)
	}
}

// A bare role session asks for read-only only when FFB_REQUESTERS names its role.
func TestRoleSessionAsksReadOnlyOnlyWhenListed(t *testing.T) {
	f := newFlow(t, "req_ro", 3600)
	eng := f.assumeRole(t, "alice", "Engineer", "alice")
	if status, answer := f.call(t, eng, accessEvent(t, "ro", "INC-ROENG")); status != 201 {
		t.Errorf("POST /access ro as a session of Engineer (on FFB_REQUESTERS) = %d %v; want 201", status, answer)
	}
	build := f.assumeRole(t, "bob", "BuildServer", "ci-4711")
	n := len(f.audit.Records(t))
	if status, answer := f.call(t, build, accessEvent(t, "ro", "INC-ROBLD")); status != 403 || errorCode(answer) != "forbidden" {
		t.Errorf("POST /access ro as a session of BuildServer (on no list) = %d %v; want 403 forbidden", status, answer)
	}
	if got := f.lastRejection(t, n); got != "forbidden" {
		t.Errorf("audit: last request.rejected code = %v; want forbidden", got)
	}
	if f.superQuery(t, `SELECT count(*)::text FROM db_admin.firefighter_grant WHERE incident_id = 'INC-ROBLD'`)[0] != "0" {
		t.Error("a grant exists for BuildServer's refused ro request")
	}
}

// With no FFB_REQUESTERS nobody asks for read-write (fail closed); read-only stays open
// to IAM users and trusted sessions, never to a bare role session.
func TestNoRequestersListRefusesReadWrite(t *testing.T) {
	f := newFlowWith(t, "req_none", 3600, map[string]string{"FFB_REQUESTERS": ""})
	if status, answer := f.call(t, "alice", accessEvent(t, "rw", "INC-NONE")); status != 403 || errorCode(answer) != "forbidden" {
		t.Errorf("POST /access rw by alice with FFB_REQUESTERS empty = %d %v; want 403 forbidden", status, answer)
	}
	if rows := f.requestRows(t, "INC-NONE"); rows != "0" {
		t.Errorf("the request ledger has %s rows for INC-NONE; want none", rows)
	}
	if status, answer := f.call(t, "alice", accessEvent(t, "ro", "INC-NONE")); status != 201 {
		t.Errorf("POST /access ro by alice (an IAM user) with FFB_REQUESTERS empty = %d %v; want 201", status, answer)
	}
	eng := f.assumeRole(t, "alice", "Engineer", "alice")
	if status, answer := f.call(t, eng, accessEvent(t, "ro", "INC-NONE2")); status != 403 || errorCode(answer) != "forbidden" {
		t.Errorf("POST /access ro as a role session with FFB_REQUESTERS empty = %d %v; want 403 forbidden", status, answer)
	}
}

// A session of a role on FFB_APPROVERS is not a person: it neither lists nor decides
// requests (role Engineer is on the tests' approvers' list).
func TestRoleSessionCannotApprove(t *testing.T) {
	f := newFlow(t, "req_roleappr", 3600)
	id, arn := f.submit(t, "alice", "INC-RAPR")
	f.await(t, arn)
	eng := f.assumeRole(t, "bob", "Engineer", "bob")
	n := len(f.audit.Records(t))
	if status, answer := f.decide(t, eng, id, "approve"); status != 403 || errorCode(answer) != "forbidden" {
		t.Errorf("a session of Engineer (on FFB_APPROVERS) approves = %d %v; want 403 forbidden", status, answer)
	}
	if got := f.lastRejection(t, n); got != "forbidden" {
		t.Errorf("audit: last request.rejected code = %v; want forbidden", got)
	}
	if st := f.requestState(t, id); st != broker.StatePending {
		t.Errorf("request %s is %s after a role session's approval; want pending", id, st)
	}
}
