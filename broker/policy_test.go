package broker_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/broker"
)

func TestDefaultPolicy(t *testing.T) {
	p := broker.DefaultPolicy("")
	if err := p.Check(); err != nil {
		t.Fatalf("DefaultPolicy(\"\").Check() = %v; want nil", err)
	}
	if p.RolePrefix != "my_pg" || p.DefaultHours != 1 || p.MaxHours != 2 || p.MaxReasonLength != 500 {
		t.Errorf("DefaultPolicy(\"\") = %+v; want prefix my_pg, 1 hour by default, 2 at most, 500-character reasons", p)
	}
	if !p.ApprovalRequired[broker.RoleRW] || p.ApprovalRequired[broker.RoleRO] {
		t.Errorf("DefaultPolicy(\"\").ApprovalRequired = %v; want rw only", p.ApprovalRequired)
	}
	if got := broker.DefaultPolicy("acme").RoleName(broker.RoleRW); got != "acme_firefighter_rw" {
		t.Errorf("DefaultPolicy(acme).RoleName(rw) = %q; want acme_firefighter_rw", got)
	}
}

func TestRoleName(t *testing.T) {
	p := broker.DefaultPolicy("my_pg")
	tests := []struct {
		kind broker.Role
		want string
	}{
		{broker.RoleRO, "my_pg_firefighter_ro"},
		{broker.RoleRW, "my_pg_firefighter_rw"},
		{"admin", ""},
		{"", ""},
		{"RO", ""},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			if got := p.RoleName(tt.kind); got != tt.want {
				t.Errorf("RoleName(%q) = %q; want %q", tt.kind, got, tt.want)
			}
		})
	}
}

func TestParseRole(t *testing.T) {
	p := broker.DefaultPolicy("my_pg")
	tests := []struct {
		in       string
		want     string
		wantCode broker.Code
	}{
		{"ro", "my_pg_firefighter_ro", ""},
		{"rw", "my_pg_firefighter_rw", ""},
		{"my_pg_firefighter_ro", "my_pg_firefighter_ro", ""},
		{"my_pg_firefighter_rw", "my_pg_firefighter_rw", ""},
		{"", "", broker.CodeInvalidRole},
		{"RW", "", broker.CodeInvalidRole},
		{"My_Pg_Firefighter_Rw", "", broker.CodeInvalidRole},
		{"ro ", "", broker.CodeInvalidRole},
		{"\tro", "", broker.CodeInvalidRole},
		{"my_pg_firefighter_ro\x00", "", broker.CodeInvalidRole},
		{"my_pg_firefighter_ro;", "", broker.CodeInvalidRole},
		{"my_pg_firefighter", "", broker.CodeInvalidRole},
		{"my_pg_firefighter_", "", broker.CodeInvalidRole},
		{"firefighter_ro", "", broker.CodeInvalidRole},
		{"my_pg_owner", "", broker.CodeInvalidRole},
		{"my_pg_app", "", broker.CodeInvalidRole},
		{"rds_superuser", "", broker.CodeInvalidRole},
		{"pg_read_all_data", "", broker.CodeInvalidRole},
		{"public", "", broker.CodeInvalidRole},
		{"ro' OR '1'='1", "", broker.CodeInvalidRole},
		{`"my_pg_firefighter_rw"`, "", broker.CodeInvalidRole},
		{strings.Repeat("ro", 100), "", broker.CodeInvalidRole},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := p.ParseRole(tt.in)
			if code := broker.ErrorCode(err); code != tt.wantCode || got != tt.want {
				t.Errorf("ParseRole(%q) = %q, code %q; want %q, code %q", tt.in, got, code, tt.want, tt.wantCode)
			}
		})
	}
}

func TestPolicyCheck(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*broker.Policy)
		field  string // a word the error must name; "" for no error
	}{
		{"default", func(*broker.Policy) {}, ""},
		{"other prefix", func(p *broker.Policy) { p.RolePrefix = "acme_prod2" }, ""},
		{"longest prefix", func(p *broker.Policy) { p.RolePrefix = "a" + strings.Repeat("b", 30) }, ""},
		{"max hours 1", func(p *broker.Policy) { p.MaxHours = 1 }, ""},
		{"empty prefix", func(p *broker.Policy) { p.RolePrefix = "" }, "prefix"},
		{"upper-case prefix", func(p *broker.Policy) { p.RolePrefix = "My_pg" }, "prefix"},
		{"prefix with quote", func(p *broker.Policy) { p.RolePrefix = `my"pg` }, "prefix"},
		{"prefix with dash", func(p *broker.Policy) { p.RolePrefix = "my-pg" }, "prefix"},
		{"prefix with space", func(p *broker.Policy) { p.RolePrefix = "my pg" }, "prefix"},
		{"prefix starting with digit", func(p *broker.Policy) { p.RolePrefix = "1pg" }, "prefix"},
		{"prefix starting with underscore", func(p *broker.Policy) { p.RolePrefix = "_pg" }, "prefix"},
		{"reserved pg_ prefix", func(p *broker.Policy) { p.RolePrefix = "pg_my" }, "prefix"},
		{"reserved pg prefix", func(p *broker.Policy) { p.RolePrefix = "pg" }, "prefix"},
		{"prefix too long", func(p *broker.Policy) { p.RolePrefix = "a" + strings.Repeat("b", 48) }, "prefix"},
		{"prefix longer than the bootstrap allows", func(p *broker.Policy) { p.RolePrefix = "a" + strings.Repeat("b", 31) }, "prefix"},
		{"no incident pattern", func(p *broker.Policy) { p.IncidentPattern = nil }, "incident"},
		{"max hours 3", func(p *broker.Policy) { p.MaxHours = 3 }, "max hours"},
		{"max hours 0", func(p *broker.Policy) { p.MaxHours = 0 }, "max hours"},
		{"default hours 0", func(p *broker.Policy) { p.DefaultHours = 0 }, "default hours"},
		{"default hours above max", func(p *broker.Policy) { p.MaxHours, p.DefaultHours = 1, 2 }, "default hours"},
		{"reason length 0", func(p *broker.Policy) { p.MaxReasonLength = 0 }, "reason"},
		{"reason length too big", func(p *broker.Policy) { p.MaxReasonLength = broker.HardMaxReasonLength + 1 }, "reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := broker.DefaultPolicy("")
			tt.modify(&p)
			err := p.Check()
			switch {
			case tt.field == "" && err != nil:
				t.Errorf("Check() = %v; want nil", err)
			case tt.field != "" && err == nil:
				t.Errorf("Check() = nil; want an error naming %s", tt.field)
			case tt.field != "" && !strings.Contains(err.Error(), tt.field):
				t.Errorf("Check() = %v; want an error naming %s", err, tt.field)
			}
			if tt.field == "" {
				return
			}
			// A misconfigured policy refuses every request.
			_, err = p.Validate(broker.Request{Role: "ro", IncidentID: "INC-1234"})
			if code := broker.ErrorCode(err); code != broker.CodeInternal {
				t.Errorf("Validate(ro) with %s error code = %q; want internal", tt.name, code)
			}
			if _, err := p.ParseRole("ro"); tt.field == "prefix" && broker.ErrorCode(err) != broker.CodeInternal {
				t.Errorf("ParseRole(ro) with %s error = %v; want code internal", tt.name, err)
			}
		})
	}
}

func TestValidateWithCustomPolicy(t *testing.T) {
	pattern, err := broker.CompileIncidentPattern(`INC-[0-9]+`)
	if err != nil {
		t.Fatalf("CompileIncidentPattern() error = %v", err)
	}
	p := broker.Policy{
		RolePrefix:       "acme",
		IncidentPattern:  pattern,
		ApprovalRequired: map[broker.Role]bool{broker.RoleRO: true}, // rw missing: fails closed
		DefaultHours:     1,
		MaxHours:         1,
		MaxReasonLength:  10,
	}
	tests := []struct {
		name         string
		req          broker.Request
		wantCode     broker.Code
		wantApproval bool
	}{
		{"ro needs approval when configured", broker.Request{Role: "ro", IncidentID: "INC-7"}, "", true},
		{"rw absent from map needs approval", broker.Request{Role: "acme_firefighter_rw", IncidentID: "INC-7"}, "", true},
		{"default prefix name refused", broker.Request{Role: "my_pg_firefighter_rw", IncidentID: "INC-7"}, broker.CodeInvalidRole, false},
		{"hours above configured max", broker.Request{Role: "ro", IncidentID: "INC-7", Hours: 2}, broker.CodeInvalidHours, false},
		{"unanchored pattern still matches whole id", broker.Request{Role: "ro", IncidentID: "INC-7; rm -rf"}, broker.CodeInvalidIncident, false},
		{"pattern prefix only", broker.Request{Role: "ro", IncidentID: "xINC-7"}, broker.CodeInvalidIncident, false},
		{"reason over configured length", broker.Request{Role: "ro", IncidentID: "INC-7", Reason: "12345678901"}, broker.CodeInvalidReason, false},
		{"invalid utf-8 reason", broker.Request{Role: "ro", IncidentID: "INC-7", Reason: "a\xffb"}, broker.CodeInvalidReason, false},
		{"invalid utf-8 incident", broker.Request{Role: "ro", IncidentID: "INC-7\xff"}, broker.CodeInvalidIncident, false},
		{"tab in reason", broker.Request{Role: "ro", IncidentID: "INC-7", Reason: "a\tb"}, broker.CodeInvalidReason, false},
		{"C1 control in reason", broker.Request{Role: "ro", IncidentID: "INC-7", Reason: "a\u0085b"}, broker.CodeInvalidReason, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Validate(tt.req)
			if code := broker.ErrorCode(err); code != tt.wantCode {
				t.Fatalf("Validate(%+v) error = %v, code %q; want code %q", tt.req, err, code, tt.wantCode)
			}
			if err == nil && got.NeedsApproval != tt.wantApproval {
				t.Errorf("Validate(%+v).NeedsApproval = %v; want %v", tt.req, got.NeedsApproval, tt.wantApproval)
			}
		})
	}
}

func TestValidateIncidentLengthCapIgnoresPattern(t *testing.T) {
	p := broker.DefaultPolicy("")
	p.IncidentPattern = regexp.MustCompile(`^.+$`)
	id := strings.Repeat("A", broker.MaxIncidentBytes+1)
	if _, err := p.Validate(broker.Request{Role: "ro", IncidentID: id}); broker.ErrorCode(err) != broker.CodeInvalidIncident {
		t.Errorf("Validate(ro, %d-byte incident) error = %v; want code invalid_incident", len(id), err)
	}
	if _, err := p.Validate(broker.Request{Role: "ro", IncidentID: "INC\n1"}); broker.ErrorCode(err) != broker.CodeInvalidIncident {
		t.Errorf("Validate(ro, incident with newline) error = %v; want code invalid_incident", err)
	}
}

func TestValidateHours(t *testing.T) {
	p := broker.DefaultPolicy("")
	tests := []struct {
		hours    int
		want     int
		wantCode broker.Code
	}{
		{0, 1, ""},
		{1, 1, ""},
		{2, 2, ""},
		{3, 0, broker.CodeInvalidHours},
		{-1, 0, broker.CodeInvalidHours},
		{-2, 0, broker.CodeInvalidHours},
		{1 << 40, 0, broker.CodeInvalidHours},
	}
	for _, tt := range tests {
		t.Run("", func(t *testing.T) {
			got, err := p.Validate(broker.Request{Role: "ro", IncidentID: "INC-1234", Hours: tt.hours})
			if code := broker.ErrorCode(err); code != tt.wantCode {
				t.Fatalf("Validate(ro, %dh) error code = %q; want %q", tt.hours, code, tt.wantCode)
			}
			if got.Hours != tt.want {
				t.Errorf("Validate(ro, %dh).Hours = %d; want %d", tt.hours, got.Hours, tt.want)
			}
		})
	}
}

func TestRoleValid(t *testing.T) {
	for kind, want := range map[broker.Role]bool{"ro": true, "rw": true, "": false, "RO": false, "admin": false} {
		if got := kind.Valid(); got != want {
			t.Errorf("Role(%q).Valid() = %v; want %v", kind, got, want)
		}
	}
}
