package broker_test

import (
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/broker"
)

// decodeAndValidate runs a body through both steps the API edge runs.
func decodeAndValidate(p broker.Policy, body string) (broker.ValidRequest, error) {
	r, err := broker.DecodeRequest([]byte(body))
	if err != nil {
		return broker.ValidRequest{}, err
	}
	return p.Validate(r)
}

// padTo pads a JSON object with spaces before its closing brace to n bytes.
func padTo(n int, object string) string {
	return object[:len(object)-1] + strings.Repeat(" ", n-len(object)) + "}"
}

func TestDecodeAndValidateRejects(t *testing.T) {
	p := broker.DefaultPolicy("")
	tests := []struct {
		name string
		body string
		want broker.Code
		// leak, when set, must not appear in the user-facing message.
		leak string
	}{
		// role
		{"role sql injection", `{"role":"ro'; DROP ROLE x;--","incident_id":"INC-1234"}`, broker.CodeInvalidRole, "DROP ROLE"},
		{"role with trailing quote", `{"role":"my_pg_firefighter_ro\"","incident_id":"INC-1234"}`, broker.CodeInvalidRole, ""},
		{"role upper case", `{"role":"MY_PG_FIREFIGHTER_RO","incident_id":"INC-1234"}`, broker.CodeInvalidRole, "MY_PG"},
		{"role short upper case", `{"role":"RO","incident_id":"INC-1234"}`, broker.CodeInvalidRole, ""},
		{"role leading space", `{"role":" ro","incident_id":"INC-1234"}`, broker.CodeInvalidRole, ""},
		{"role trailing space", `{"role":"rw ","incident_id":"INC-1234"}`, broker.CodeInvalidRole, ""},
		{"role trailing newline", `{"role":"my_pg_firefighter_rw\n","incident_id":"INC-1234"}`, broker.CodeInvalidRole, ""},
		{"role admin", `{"role":"my_pg_admin","incident_id":"INC-1234"}`, broker.CodeInvalidRole, "my_pg_admin"},
		{"role postgres", `{"role":"postgres","incident_id":"INC-1234"}`, broker.CodeInvalidRole, "postgres"},
		{"role rdsadmin", `{"role":"rdsadmin","incident_id":"INC-1234"}`, broker.CodeInvalidRole, "rdsadmin"},
		{"role broker", `{"role":"my_pg_password_broker","incident_id":"INC-1234"}`, broker.CodeInvalidRole, "broker"},
		{"role other prefix", `{"role":"other_firefighter_ro","incident_id":"INC-1234"}`, broker.CodeInvalidRole, "other_"},
		{"role quoted identifier", `{"role":"\"my_pg_firefighter_ro\"","incident_id":"INC-1234"}`, broker.CodeInvalidRole, ""},
		{"role NUL", `{"role":"ro\u0000","incident_id":"INC-1234"}`, broker.CodeInvalidRole, ""},
		{"role overlong", `{"role":"` + strings.Repeat("r", 2000) + `","incident_id":"INC-1234"}`, broker.CodeInvalidRole, "rrrr"},
		{"role both", `{"role":"ro,rw","incident_id":"INC-1234"}`, broker.CodeInvalidRole, ""},
		{"role missing", `{"incident_id":"INC-1234"}`, broker.CodeInvalidRole, ""},
		{"role empty", `{"role":"","incident_id":"INC-1234"}`, broker.CodeInvalidRole, ""},
		{"role number", `{"role":1,"incident_id":"INC-1234"}`, broker.CodeInvalidRole, ""},
		{"role null", `{"role":null,"incident_id":"INC-1234"}`, broker.CodeInvalidRole, ""},
		{"role array", `{"role":["ro"],"incident_id":"INC-1234"}`, broker.CodeInvalidRole, ""},
		{"role object", `{"role":{"name":"ro"},"incident_id":"INC-1234"}`, broker.CodeInvalidRole, ""},
		// incident_id
		{"incident missing", `{"role":"ro"}`, broker.CodeInvalidIncident, ""},
		{"incident empty", `{"role":"ro","incident_id":""}`, broker.CodeInvalidIncident, ""},
		{"incident with space", `{"role":"ro","incident_id":"INC 1234"}`, broker.CodeInvalidIncident, "INC 1234"},
		{"incident with newline", `{"role":"ro","incident_id":"INC-1234\nforged audit line"}`, broker.CodeInvalidIncident, "forged"},
		{"incident with trailing newline", `{"role":"ro","incident_id":"INC-1234\n"}`, broker.CodeInvalidIncident, ""},
		{"incident with quotes", `{"role":"ro","incident_id":"INC-'1234'"}`, broker.CodeInvalidIncident, "'1234'"},
		{"incident sql injection", `{"role":"ro","incident_id":"INC-1'); DROP TABLE x;--"}`, broker.CodeInvalidIncident, "DROP TABLE"},
		{"incident unicode letters", `{"role":"ro","incident_id":"ИНЦ-1234"}`, broker.CodeInvalidIncident, "ИНЦ"},
		{"incident fullwidth digits", `{"role":"ro","incident_id":"INC-１２３４"}`, broker.CodeInvalidIncident, "１２３４"},
		{"incident bidi override", `{"role":"ro","incident_id":"INC-\u202e4321"}`, broker.CodeInvalidIncident, ""},
		{"incident too short", `{"role":"ro","incident_id":"IN"}`, broker.CodeInvalidIncident, ""},
		{"incident too long", `{"role":"ro","incident_id":"` + strings.Repeat("A", 65) + `"}`, broker.CodeInvalidIncident, "AAAA"},
		{"incident starts with dash", `{"role":"ro","incident_id":"-INC-1234"}`, broker.CodeInvalidIncident, ""},
		{"incident number", `{"role":"ro","incident_id":1234}`, broker.CodeInvalidIncident, "1234"},
		{"incident null", `{"role":"ro","incident_id":null}`, broker.CodeInvalidIncident, ""},
		// hours
		{"hours 3", `{"role":"ro","incident_id":"INC-1234","hours":3}`, broker.CodeInvalidHours, ""},
		{"hours -1", `{"role":"ro","incident_id":"INC-1234","hours":-1}`, broker.CodeInvalidHours, ""},
		{"hours 24", `{"role":"rw","incident_id":"INC-1234","hours":24}`, broker.CodeInvalidHours, ""},
		{"hours string", `{"role":"ro","incident_id":"INC-1234","hours":"2"}`, broker.CodeInvalidHours, ""},
		{"hours fraction", `{"role":"ro","incident_id":"INC-1234","hours":2.5}`, broker.CodeInvalidHours, ""},
		{"hours 1.0", `{"role":"ro","incident_id":"INC-1234","hours":1.0}`, broker.CodeInvalidHours, ""},
		{"hours exponent", `{"role":"ro","incident_id":"INC-1234","hours":1e2}`, broker.CodeInvalidHours, ""},
		{"hours 1e0", `{"role":"ro","incident_id":"INC-1234","hours":1e0}`, broker.CodeInvalidHours, ""},
		{"hours null", `{"role":"ro","incident_id":"INC-1234","hours":null}`, broker.CodeInvalidHours, ""},
		{"hours true", `{"role":"ro","incident_id":"INC-1234","hours":true}`, broker.CodeInvalidHours, ""},
		{"hours overflow", `{"role":"ro","incident_id":"INC-1234","hours":99999999999999999999999}`, broker.CodeInvalidHours, "9999"},
		{"hours max int", `{"role":"ro","incident_id":"INC-1234","hours":9223372036854775807}`, broker.CodeInvalidHours, ""},
		// reason
		{"reason with newline", `{"role":"ro","incident_id":"INC-1234","reason":"a\nb"}`, broker.CodeInvalidReason, ""},
		{"reason with escape sequence", `{"role":"ro","incident_id":"INC-1234","reason":"\u001b[2Jcleared"}`, broker.CodeInvalidReason, "cleared"},
		{"reason with bidi isolate", `{"role":"ro","incident_id":"INC-1234","reason":"ok\u2066evil"}`, broker.CodeInvalidReason, "evil"},
		{"reason with line separator", `{"role":"ro","incident_id":"INC-1234","reason":"a\u2028b"}`, broker.CodeInvalidReason, ""},
		{"reason too long", `{"role":"ro","incident_id":"INC-1234","reason":"` + strings.Repeat("x", 501) + `"}`, broker.CodeInvalidReason, "xxxx"},
		{"reason number", `{"role":"ro","incident_id":"INC-1234","reason":5}`, broker.CodeInvalidReason, ""},
		{"reason null", `{"role":"ro","incident_id":"INC-1234","reason":null}`, broker.CodeInvalidReason, ""},
		// shape of the request
		{"unknown field", `{"role":"ro","incident_id":"INC-1234","superuser":true}`, broker.CodeInvalidRequest, "superuser"},
		{"requester in body", `{"role":"ro","incident_id":"INC-1234","requester":"alice"}`, broker.CodeInvalidRequest, "alice"},
		{"field name case differs", `{"Role":"ro","incident_id":"INC-1234"}`, broker.CodeInvalidRequest, ""},
		{"duplicate field", `{"role":"ro","incident_id":"INC-1234","role":"rw"}`, broker.CodeInvalidRequest, ""},
		{"empty body", ``, broker.CodeInvalidRequest, ""},
		{"whitespace body", " \n\t ", broker.CodeInvalidRequest, ""},
		{"array", `[]`, broker.CodeInvalidRequest, ""},
		{"array of object", `[{"role":"ro","incident_id":"INC-1234"}]`, broker.CodeInvalidRequest, ""},
		{"null", `null`, broker.CodeInvalidRequest, ""},
		{"string", `"ro"`, broker.CodeInvalidRequest, ""},
		{"number", `42`, broker.CodeInvalidRequest, ""},
		{"trailing garbage", `{"role":"ro","incident_id":"INC-1234"}xyz`, broker.CodeInvalidRequest, "xyz"},
		{"second object", `{"role":"ro","incident_id":"INC-1234"}{"role":"rw"}`, broker.CodeInvalidRequest, ""},
		{"trailing comma", `{"role":"ro","incident_id":"INC-1234",}`, broker.CodeInvalidJSON, ""},
		{"truncated", `{"role":"ro","incident_id":`, broker.CodeInvalidJSON, ""},
		{"unquoted key", `{role:"ro"}`, broker.CodeInvalidJSON, ""},
		{"single quotes", `{'role':'ro'}`, broker.CodeInvalidJSON, ""},
		{"bad literal", `nul`, broker.CodeInvalidJSON, ""},
		{"invalid utf-8", "{\"role\":\"ro\",\"incident_id\":\"INC-1234\",\"reason\":\"\xff\xfe\"}", broker.CodeInvalidJSON, ""},
		{"oversize body", padTo(broker.MaxBodyBytes+1, `{"role":"ro","incident_id":"INC-1234"}`), broker.CodeBodyTooLarge, ""},
		{"oversize garbage", strings.Repeat("A", 1<<20), broker.CodeBodyTooLarge, "AAAA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeAndValidate(p, tt.body)
			if got := broker.ErrorCode(err); got != tt.want {
				t.Fatalf("DecodeRequest+Validate(%.80q) error = %v, code %q; want code %q", tt.body, err, got, tt.want)
			}
			msg := broker.ErrorMessage(err)
			if msg == "" || msg == "internal error" {
				t.Errorf("ErrorMessage(%v) = %q; want a specific message", err, msg)
			}
			if tt.leak != "" && strings.Contains(msg, tt.leak) {
				t.Errorf("ErrorMessage(%v) = %q; echoes input %q", err, msg, tt.leak)
			}
			if strings.Contains(msg, tt.body) && len(tt.body) > 4 {
				t.Errorf("ErrorMessage(%v) = %q; echoes the body", err, msg)
			}
		})
	}
}

func TestDecodeAndValidateAccepts(t *testing.T) {
	p := broker.DefaultPolicy("")
	tests := []struct {
		name string
		body string
		want broker.ValidRequest
	}{
		{
			"ro without hours gets the default",
			`{"role":"ro","incident_id":"INC-1234"}`,
			broker.ValidRequest{RoleName: "my_pg_firefighter_ro", Kind: broker.RoleRO, IncidentID: "INC-1234", Hours: 1},
		},
		{
			"hours 0 means the default",
			`{"role":"ro","incident_id":"INC-1234","hours":0}`,
			broker.ValidRequest{RoleName: "my_pg_firefighter_ro", Kind: broker.RoleRO, IncidentID: "INC-1234", Hours: 1},
		},
		{
			"rw for 2 hours needs approval",
			`{"role":"rw","incident_id":"INC-1234","hours":2,"reason":"fix order ORD-1001"}`,
			broker.ValidRequest{RoleName: "my_pg_firefighter_rw", Kind: broker.RoleRW, IncidentID: "INC-1234", Hours: 2, Reason: "fix order ORD-1001", NeedsApproval: true},
		},
		{
			"full role name",
			`{"role":"my_pg_firefighter_rw","incident_id":"INC-1234","hours":1}`,
			broker.ValidRequest{RoleName: "my_pg_firefighter_rw", Kind: broker.RoleRW, IncidentID: "INC-1234", Hours: 1, NeedsApproval: true},
		},
		{
			"shortest incident id, other punctuation",
			`{"role":"ro","incident_id":"a.b"}`,
			broker.ValidRequest{RoleName: "my_pg_firefighter_ro", Kind: broker.RoleRO, IncidentID: "a.b", Hours: 1},
		},
		{
			"longest incident id",
			`{"role":"ro","incident_id":"` + strings.Repeat("7", 64) + `"}`,
			broker.ValidRequest{RoleName: "my_pg_firefighter_ro", Kind: broker.RoleRO, IncidentID: strings.Repeat("7", 64), Hours: 1},
		},
		{
			"jira style incident with colon",
			`{"role":"ro","incident_id":"OPS:INC_42-b"}`,
			broker.ValidRequest{RoleName: "my_pg_firefighter_ro", Kind: broker.RoleRO, IncidentID: "OPS:INC_42-b", Hours: 1},
		},
		{
			"reason at the limit in multibyte characters",
			`{"role":"ro","incident_id":"INC-1234","reason":"` + strings.Repeat("é", 500) + `"}`,
			broker.ValidRequest{RoleName: "my_pg_firefighter_ro", Kind: broker.RoleRO, IncidentID: "INC-1234", Hours: 1, Reason: strings.Repeat("é", 500)},
		},
		{
			"unicode reason with quotes",
			`{"role":"ro","incident_id":"INC-1234","reason":"Bestellung \"ORD-1\" hängt ✓ 🔥"}`,
			broker.ValidRequest{RoleName: "my_pg_firefighter_ro", Kind: broker.RoleRO, IncidentID: "INC-1234", Hours: 1, Reason: `Bestellung "ORD-1" hängt ✓ 🔥`},
		},
		{
			"escaped member name and surrounding whitespace",
			" \n{ \"\\u0072ole\" : \"ro\" , \"incident_id\" : \"INC-1234\" }\n ",
			broker.ValidRequest{RoleName: "my_pg_firefighter_ro", Kind: broker.RoleRO, IncidentID: "INC-1234", Hours: 1},
		},
		{
			"body of exactly MaxBodyBytes",
			padTo(broker.MaxBodyBytes, `{"role":"ro","incident_id":"INC-1234"}`),
			broker.ValidRequest{RoleName: "my_pg_firefighter_ro", Kind: broker.RoleRO, IncidentID: "INC-1234", Hours: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeAndValidate(p, tt.body)
			if err != nil {
				t.Fatalf("DecodeRequest+Validate(%.80q) error = %v; want nil", tt.body, err)
			}
			if got != tt.want {
				t.Errorf("DecodeRequest+Validate(%.80q) = %+v; want %+v", tt.body, got, tt.want)
			}
		})
	}
}

func TestDecodeRequestFields(t *testing.T) {
	body := `{"role":"rw","incident_id":"INC-9","hours":2,"reason":"r"}`
	got, err := broker.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatalf("DecodeRequest(%s) error = %v", body, err)
	}
	want := broker.Request{Role: "rw", IncidentID: "INC-9", Hours: 2, Reason: "r"}
	if got != want {
		t.Errorf("DecodeRequest(%s) = %+v; want %+v", body, got, want)
	}
}

func TestDecodeRequestErrorsAreBrokerErrors(t *testing.T) {
	for _, body := range []string{"", "{", "[]", `{"x":1}`, `{"hours":"1"}`} {
		_, err := broker.DecodeRequest([]byte(body))
		if _, ok := err.(*broker.Error); !ok {
			t.Errorf("DecodeRequest(%q) error = %T; want *broker.Error", body, err)
		}
	}
}
