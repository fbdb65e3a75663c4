package audit

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fullRecord returns a record with every field set, times in a non-UTC zone.
func fullRecord(at time.Time) Record {
	cet := time.FixedZone("CET", 3600)
	return Record{
		Time:               at.In(cet),
		Event:              EventPasswordExpired,
		Outcome:            OutcomeSuccess,
		RequestID:          "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
		IncidentID:         "INC-1234",
		Requester:          "arn:aws:sts::123456789012:assumed-role/oncall/alice",
		Approver:           "arn:aws:sts::123456789012:assumed-role/oncall/bob",
		TargetRole:         "my_pg_firefighter_rw",
		ExpiresAt:          at.Add(2 * time.Hour).In(cet),
		GrantID:            "5f0c3a8e-1d2b-4c5d-8e9f-0a1b2c3d4e5f",
		SecretARN:          "arn:aws:secretsmanager:us-east-1:123456789012:secret:firefighter/my-pg/my_pg_firefighter_rw-AbCdEf",
		SecretVersion:      "5f0c3a8e-1d2b-4c5d-8e9f-0a1b2c3d4e5f",
		Source:             SourceSchedule,
		ErrorCode:          "none",
		Message:            "password expired <after> grant end & sessions ended",
		GrantsClosed:       Count(1),
		SessionsTerminated: Count(0),
	}
}

// designFields are the record's field names (DESIGN.md, the audit record), plus message and the counts.
var designFields = []string{
	"schema", "time", "event", "outcome", "request_id", "incident_id", "requester",
	"approver", "target_role", "expires_at", "grant_id", "secret_arn", "secret_version",
	"source", "error_code", "message", "grants_closed", "sessions_terminated",
}

func TestRecordMarshalJSON(t *testing.T) {
	at := time.Date(2026, 11, 21, 18, 30, 0, 123456789, time.UTC)
	tests := []struct {
		name     string
		record   Record
		wantKeys []string
		want     map[string]any
	}{
		{
			name:     "every field",
			record:   fullRecord(at),
			wantKeys: designFields,
			want: map[string]any{
				"schema":              Schema,
				"time":                "2026-11-21T18:30:00.123456789Z",
				"expires_at":          "2026-11-21T20:30:00.123456789Z",
				"message":             "password expired <after> grant end & sessions ended",
				"grants_closed":       1.0,
				"sessions_terminated": 0.0,
			},
		},
		{
			name:     "required fields only",
			record:   Record{Time: at, Event: EventRequestRejected, Outcome: OutcomeRejected, Source: SourceAPI},
			wantKeys: []string{"schema", "time", "event", "outcome", "source"},
			want:     map[string]any{"schema": Schema, "event": "request.rejected", "outcome": "rejected", "source": "api"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.record)
			if err != nil {
				t.Fatalf("json.Marshal(Record) error = %v", err)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("json.Unmarshal(%s) error = %v", b, err)
			}
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range got {
					if !yield(k) {
						return
					}
				}
			})
			if want := slices.Sorted(slices.Values(tt.wantKeys)); !slices.Equal(keys, want) {
				t.Errorf("json.Marshal(Record) keys = %v; want %v", keys, want)
			}
			for k, want := range tt.want {
				if got[k] != want {
					t.Errorf("json.Marshal(Record)[%q] = %v; want %v", k, got[k], want)
				}
			}
		})
	}
}

func TestRecordRoundTrip(t *testing.T) {
	r := fullRecord(time.Date(2026, 11, 21, 18, 30, 0, 1, time.UTC))
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("json.Marshal(Record) error = %v", err)
	}
	var got Record
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("json.Unmarshal(%s) error = %v", b, err)
	}
	want := r.normalized()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Record after JSON round trip = %+v; want %+v", got, want)
	}
}

// TestRecordFields pins the record's fields: a new field is a change of the audit
// format and must be reviewed here, and no field may be a map, a slice or an
// interface, which could carry a password or a verifier.
func TestRecordFields(t *testing.T) {
	want := []string{
		"Schema string schema", "Time time.Time time", "Event audit.Event event",
		"Outcome audit.Outcome outcome", "RequestID string request_id,omitempty",
		"AccessRequestID string access_request_id,omitempty",
		"IncidentID string incident_id,omitempty", "Requester string requester,omitempty",
		"Approver string approver,omitempty", "RequesterKey string requester_key,omitempty",
		"ApproverKey string approver_key,omitempty", "TargetRole string target_role,omitempty",
		"ExpiresAt time.Time expires_at,omitzero", "PreviousExpiresAt time.Time previous_expires_at,omitzero", "GrantID string grant_id,omitempty",
		"SecretARN string secret_arn,omitempty", "SecretVersion string secret_version,omitempty",
		"Source audit.Source source", "ErrorCode string error_code,omitempty",
		"Message string message,omitempty", "GrantsClosed *int grants_closed,omitempty",
		"SessionsTerminated *int sessions_terminated,omitempty",
	}
	typ := reflect.TypeFor[Record]()
	var got []string
	for f := range typ.Fields() {
		got = append(got, f.Name+" "+f.Type.String()+" "+f.Tag.Get("json"))
		switch f.Type.Kind() {
		case reflect.Map, reflect.Slice, reflect.Interface:
			t.Errorf("Record.%s is a %s; want no free-form field", f.Name, f.Type.Kind())
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("Record fields =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRecordValidate(t *testing.T) {
	valid := Record{Event: EventAccessRequested, Outcome: OutcomeSuccess, Source: SourceAPI}
	tests := []struct {
		name    string
		edit    func(*Record)
		wantErr string // "" means valid
	}{
		{name: "valid", edit: func(*Record) {}},
		{name: "schema set", edit: func(r *Record) { r.Schema = Schema }},
		{name: "other schema", edit: func(r *Record) { r.Schema = "ffbroker.audit/v0" }, wantErr: "schema"},
		{name: "no event", edit: func(r *Record) { r.Event = "" }, wantErr: "no event"},
		{name: "no outcome", edit: func(r *Record) { r.Outcome = "" }, wantErr: "no outcome"},
		{name: "no source", edit: func(r *Record) { r.Source = "" }, wantErr: "no source"},
		{name: "unknown source", edit: func(r *Record) { r.Source = "lambda" }, wantErr: `source "lambda"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid
			tt.edit(&r)
			err := r.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() error = %v; want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() error = %v; want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestMessageTruncated(t *testing.T) {
	tests := []struct {
		name, message string
	}{
		{name: "ascii", message: strings.Repeat("a", 2*MaxMessageBytes)},
		{name: "multibyte", message: strings.Repeat("é", MaxMessageBytes)},
		{name: "fits", message: strings.Repeat("a", MaxMessageBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Record{Message: tt.message}.normalized().Message
			if len(got) > MaxMessageBytes || !utf8.ValidString(got) {
				t.Errorf("normalized Message = %d bytes, valid UTF-8 %t; want at most %d bytes, valid", len(got), utf8.ValidString(got), MaxMessageBytes)
			}
			if len(tt.message) > MaxMessageBytes && !strings.HasSuffix(got, "…") {
				t.Errorf("normalized Message ends in %q; want …", got[len(got)-5:])
			}
			if len(tt.message) <= MaxMessageBytes && got != tt.message {
				t.Errorf("normalized Message = %q; want it unchanged", got)
			}
		})
	}
}
