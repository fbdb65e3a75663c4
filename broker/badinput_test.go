package broker_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

// Bad input: a typed error, nothing changed in the database or in Secrets Manager, and
// a request.rejected audit record.
func TestIssueRejectsBadInput(t *testing.T) {
	f := newFixture(t, "bad")
	b := f.broker(t, f.deps(t))
	ctx := context.Background()
	tests := []struct {
		name      string
		body      string
		requester string
		_         string
		want      broker.Code
	}{
		{"empty body", ``, alice, "", broker.CodeInvalidRequest},
		{"whitespace body", `   `, alice, "", broker.CodeInvalidRequest},
		{"malformed json", `{"role":"ro",`, alice, "", broker.CodeInvalidJSON},
		{"not json", `role=ro&incident_id=INC-1`, alice, "", broker.CodeInvalidJSON},
		{"array", `[{"role":"ro"}]`, alice, "", broker.CodeInvalidRequest},
		{"null", `null`, alice, "", broker.CodeInvalidRequest},
		{"string", `"ro"`, alice, "", broker.CodeInvalidRequest},
		{"trailing data", `{"role":"ro","incident_id":"INC-1"} {}`, alice, "", broker.CodeInvalidRequest},
		{"unknown field", `{"role":"ro","incident_id":"INC-1","admin":true}`, alice, "", broker.CodeInvalidRequest},
		{"requester in body", `{"role":"ro","incident_id":"INC-1","requester":"bob"}`, alice, "", broker.CodeInvalidRequest},
		{"oversize body", `{"role":"ro","incident_id":"INC-1","reason":"` + strings.Repeat("a", 9000) + `"}`, alice, "", broker.CodeBodyTooLarge},
		{"missing role", `{"incident_id":"INC-1"}`, alice, "", broker.CodeInvalidRole},
		{"unknown role", `{"role":"admin","incident_id":"INC-1"}`, alice, "", broker.CodeInvalidRole},
		{"other role's full name", `{"role":"bad_admin","incident_id":"INC-1"}`, alice, "", broker.CodeInvalidRole},
		{"role upper case", `{"role":"RO","incident_id":"INC-1"}`, alice, "", broker.CodeInvalidRole},
		{"role with space", `{"role":" ro","incident_id":"INC-1"}`, alice, "", broker.CodeInvalidRole},
		{"role injection", `{"role":"ro'; ALTER ROLE bad_app SUPERUSER; --","incident_id":"INC-1"}`, alice, "", broker.CodeInvalidRole},
		{"role quoted identifier", `{"role":"\"bad_firefighter_ro\"","incident_id":"INC-1"}`, alice, "", broker.CodeInvalidRole},
		{"role number", `{"role":1,"incident_id":"INC-1"}`, alice, "", broker.CodeInvalidRole},
		{"missing incident", `{"role":"ro"}`, alice, "", broker.CodeInvalidIncident},
		{"incident too short", `{"role":"ro","incident_id":"I1"}`, alice, "", broker.CodeInvalidIncident},
		{"incident too long", `{"role":"ro","incident_id":"` + strings.Repeat("I", 65) + `"}`, alice, "", broker.CodeInvalidIncident},
		{"incident with space", `{"role":"ro","incident_id":"INC 1"}`, alice, "", broker.CodeInvalidIncident},
		{"incident with newline", `{"role":"ro","incident_id":"INC-1\nforged"}`, alice, "", broker.CodeInvalidIncident},
		{"incident injection", `{"role":"ro","incident_id":"INC-1'); DROP TABLE db_admin.firefighter_grant; --"}`, alice, "", broker.CodeInvalidIncident},
		{"incident unicode", `{"role":"ro","incident_id":"INC-١٢٣"}`, alice, "", broker.CodeInvalidIncident},
		{"incident leading dash", `{"role":"ro","incident_id":"-INC-1"}`, alice, "", broker.CodeInvalidIncident},
		{"hours 0 explicit is default, but 3 is not", `{"role":"ro","incident_id":"INC-1","hours":3}`, alice, "", broker.CodeInvalidHours},
		{"hours -1", `{"role":"ro","incident_id":"INC-1","hours":-1}`, alice, "", broker.CodeInvalidHours},
		{"hours string", `{"role":"ro","incident_id":"INC-1","hours":"2"}`, alice, "", broker.CodeInvalidHours},
		{"hours fraction", `{"role":"ro","incident_id":"INC-1","hours":2.5}`, alice, "", broker.CodeInvalidHours},
		{"hours exponent", `{"role":"ro","incident_id":"INC-1","hours":1e2}`, alice, "", broker.CodeInvalidHours},
		{"hours null", `{"role":"ro","incident_id":"INC-1","hours":null}`, alice, "", broker.CodeInvalidHours},
		{"hours huge", `{"role":"ro","incident_id":"INC-1","hours":99999999999999999999}`, alice, "", broker.CodeInvalidHours},
		{"reason too long", `{"role":"ro","incident_id":"INC-1","reason":"` + strings.Repeat("r", 501) + `"}`, alice, "", broker.CodeInvalidReason},
		{"reason control characters", `{"role":"ro","incident_id":"INC-1","reason":"a\u0000b"}`, alice, "", broker.CodeInvalidReason},
		{"no authenticated caller", `{"role":"ro","incident_id":"INC-1"}`, "", "", broker.CodeUnauthenticated},
		{"rw with no approval workflow", `{"role":"rw","incident_id":"INC-1"}`, alice, "", broker.CodeInternal},
	}
	dbBefore, smBefore := f.dbState(t), f.secretsState(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.audit.Records(t))
			out, err := b.Submit(ctx, broker.SubmitInput{Body: []byte(tc.body), Caller: onCall(tc.requester),
				RequestID: "req-bad", Source: audit.SourceAPI})
			if got := broker.ErrorCode(err); got != tc.want {
				t.Fatalf("Submit(%.60q) error code = %q (%v), answer %+v; want %s", tc.body, got, err, out, tc.want)
			}
			if msg := broker.ErrorMessage(err); msg == "" || tc.want != broker.CodeInternal && msg == "internal error" || strings.Contains(msg, "DROP TABLE") || strings.Contains(msg, "ALTER ROLE") {
				t.Errorf("error message %q is empty or echoes the input", msg)
			}
			recs := f.audit.Records(t)[before:]
			if len(recs) != 1 || recs[0]["event"] != "request.rejected" || recs[0]["error_code"] != string(tc.want) || recs[0]["outcome"] != "rejected" {
				t.Errorf("audit records = %v; want one request.rejected with error_code %s", recs, tc.want)
			}
		})
	}
	if got := f.dbState(t); got != dbBefore {
		t.Errorf("database changed by rejected requests: %s -> %s", dbBefore, got)
	}
	if got := f.secretsState(t); got != smBefore {
		t.Errorf("Secrets Manager changed by rejected requests: %s -> %s", smBefore, got)
	}
}
