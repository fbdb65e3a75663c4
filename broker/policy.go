package broker

import (
	"errors"
	"fmt"
	"regexp"
	"unicode"
	"unicode/utf8"
)

// Role is the kind of firefighter access: read-only or read-write.
type Role string

// The two firefighter roles, as a caller names them.
const (
	// RoleRO is <prefix>_firefighter_ro: SELECT only.
	RoleRO Role = "ro"
	// RoleRW is <prefix>_firefighter_rw: DML only, no DDL, no TRUNCATE.
	RoleRW Role = "rw"
)

// Valid reports whether k is RoleRO or RoleRW.
func (k Role) Valid() bool { return k == RoleRO || k == RoleRW }

// Policy defaults and hard limits.
const (
	// DefaultIncidentPattern is the incident ids accepted by default: 3 to 64
	// characters, letters, digits and . _ : -, starting with a letter or digit.
	DefaultIncidentPattern = `^[A-Za-z0-9][A-Za-z0-9._:-]{2,63}$`
	// DefaultMaxReasonLength is the default limit on a reason, in characters.
	DefaultMaxReasonLength = 500
	// HardMaxHours is the longest validity any Policy may allow; the database
	// function enforces it too.
	HardMaxHours = 2
	// HardMaxReasonLength is the largest MaxReasonLength a Policy may set.
	HardMaxReasonLength = 2000
	// MaxIncidentBytes bounds an incident id whatever IncidentPattern says.
	MaxIncidentBytes = 128
)

// Policy decides which access requests are acceptable. Build it with
// DefaultPolicy and adjust fields; Check reports a misconfigured Policy, and
// Validate refuses every request while the Policy is misconfigured.
type Policy struct {
	// RolePrefix is the prefix of the firefighter role names, e.g. "my_pg" for
	// my_pg_firefighter_ro and my_pg_firefighter_rw. Lower-case letters,
	// digits and underscores, starting with a letter, not "pg_".
	RolePrefix string
	// IncidentPattern must match the whole incident id (see
	// CompileIncidentPattern).
	IncidentPattern *regexp.Regexp
	// ApprovalRequired says which roles need a human approval for Validate
	// alone. A role that is missing from the map needs one. A Broker with a
	// database ignores it: the database's role table decides (Broker.NeedsApproval).
	ApprovalRequired map[Role]bool
	// DefaultHours is the validity given when a request asks for 0 hours.
	DefaultHours int
	// MaxHours is the longest validity a request may ask for, from 1 to
	// HardMaxHours.
	MaxHours int
	// MaxReasonLength is the longest reason accepted, in characters, from 1
	// to HardMaxReasonLength.
	MaxReasonLength int
}

// ValidRequest is a Request that a Policy accepted, with defaults applied.
type ValidRequest struct {
	// RoleName is the full PostgreSQL role name, e.g. "my_pg_firefighter_ro".
	RoleName string
	// Kind is the kind of access.
	Kind Role
	// IncidentID is the incident id, as given.
	IncidentID string
	// Hours is the validity, from 1 to the policy's MaxHours.
	Hours int
	// Reason is the reason, as given; it may be empty.
	Reason string
	// NeedsApproval says whether a human must approve before issue.
	NeedsApproval bool
}

// DefaultPolicy returns the default policy for roles named with prefix
// (DefaultRolePrefix when empty): the default incident pattern, approval for
// rw only, 1 hour by default, 2 at most, reasons up to 500 characters.
func DefaultPolicy(prefix string) Policy {
	if prefix == "" {
		prefix = DefaultRolePrefix
	}
	return Policy{
		RolePrefix:       prefix,
		IncidentPattern:  regexp.MustCompile(DefaultIncidentPattern),
		ApprovalRequired: map[Role]bool{RoleRO: false, RoleRW: true},
		DefaultHours:     1,
		MaxHours:         HardMaxHours,
		MaxReasonLength:  DefaultMaxReasonLength,
	}
}

// CompileIncidentPattern compiles expr so that it must match a whole incident
// id, whether or not expr is anchored itself.
func CompileIncidentPattern(expr string) (*regexp.Regexp, error) {
	return regexp.Compile(`^(?:` + expr + `)$`)
}

// Check reports the first field of p that is out of range, naming the field.
func (p Policy) Check() error {
	switch {
	case checkPrefix(p.RolePrefix) != nil:
		return fmt.Errorf("policy: role prefix %q must be 1 to %d lower-case letters, digits or underscores, start with a letter and not make names starting with pg_", p.RolePrefix, maxPrefixLength)
	case p.IncidentPattern == nil:
		return errors.New("policy: incident pattern is not set")
	case p.MaxHours < 1 || p.MaxHours > HardMaxHours:
		return fmt.Errorf("policy: max hours %d must be from 1 to %d", p.MaxHours, HardMaxHours)
	case p.DefaultHours < 1 || p.DefaultHours > p.MaxHours:
		return fmt.Errorf("policy: default hours %d must be from 1 to max hours %d", p.DefaultHours, p.MaxHours)
	case p.MaxReasonLength < 1 || p.MaxReasonLength > HardMaxReasonLength:
		return fmt.Errorf("policy: max reason length %d must be from 1 to %d", p.MaxReasonLength, HardMaxReasonLength)
	}
	return nil
}

// RoleName returns the PostgreSQL role name of kind, e.g.
// "my_pg_firefighter_rw", or "" if kind or the policy's prefix is not valid.
func (p Policy) RoleName(kind Role) string {
	if checkPrefix(p.RolePrefix) != nil {
		return ""
	}
	return Names{Prefix: p.RolePrefix}.Roles().Firefighter(kind)
}

// ParseRole returns the full PostgreSQL role name for s, which must be exactly
// "ro", "rw" or one of the two firefighter role names (case sensitive, no
// surrounding space); anything else is an invalid_role Error.
func (p Policy) ParseRole(s string) (string, error) {
	kind, err := p.parseRole(s)
	if err != nil {
		return "", err
	}
	return p.RoleName(kind), nil
}

// Validate checks r against p and returns it with defaults applied. Its errors
// are *Error with the code of the first field at fault, checked in the order
// role, incident_id, hours, reason; a misconfigured p yields CodeInternal.
func (p Policy) Validate(r Request) (ValidRequest, error) {
	if err := p.Check(); err != nil {
		return ValidRequest{}, &Error{Code: CodeInternal, Op: "validate", Err: err}
	}
	kind, err := p.parseRole(r.Role)
	if err != nil {
		return ValidRequest{}, err
	}
	if err := p.checkIncident(r.IncidentID); err != nil {
		return ValidRequest{}, err
	}
	hours, err := p.hours(r.Hours)
	if err != nil {
		return ValidRequest{}, err
	}
	if err := p.checkReason(r.Reason); err != nil {
		return ValidRequest{}, err
	}
	needsApproval, listed := p.ApprovalRequired[kind]
	return ValidRequest{
		RoleName:      p.RoleName(kind),
		Kind:          kind,
		IncidentID:    r.IncidentID,
		Hours:         hours,
		Reason:        r.Reason,
		NeedsApproval: needsApproval || !listed,
	}, nil
}

func (p Policy) parseRole(s string) (Role, error) {
	if checkPrefix(p.RolePrefix) != nil {
		return "", &Error{Code: CodeInternal, Op: "parse role", Err: errors.New("policy: invalid role prefix")}
	}
	switch s {
	case "":
		return "", Errorf(CodeInvalidRole, "role is required")
	case string(RoleRO), p.RoleName(RoleRO):
		return RoleRO, nil
	case string(RoleRW), p.RoleName(RoleRW):
		return RoleRW, nil
	}
	return "", Errorf(CodeInvalidRole, "role must be %q, %q, %q or %q", RoleRO, RoleRW, p.RoleName(RoleRO), p.RoleName(RoleRW))
}

func (p Policy) checkIncident(id string) error {
	switch {
	case id == "":
		return Errorf(CodeInvalidIncident, "incident_id is required")
	case len(id) > MaxIncidentBytes:
		return Errorf(CodeInvalidIncident, "incident_id is longer than %d bytes", MaxIncidentBytes)
	case !utf8.ValidString(id) || hasUnsafeRune(id):
		return Errorf(CodeInvalidIncident, "incident_id must not contain control characters")
	case !p.IncidentPattern.MatchString(id):
		return Errorf(CodeInvalidIncident, "incident_id must match %s", p.IncidentPattern)
	}
	return nil
}

func (p Policy) hours(h int) (int, error) {
	switch {
	case h == 0:
		return p.DefaultHours, nil
	case h >= 1 && h <= p.MaxHours:
		return h, nil
	}
	return 0, Errorf(CodeInvalidHours, "hours must be from 1 to %d (0 or absent means %d)", p.MaxHours, p.DefaultHours)
}

func (p Policy) checkReason(reason string) error {
	switch {
	case !utf8.ValidString(reason):
		return Errorf(CodeInvalidReason, "reason must be valid utf-8")
	case utf8.RuneCountInString(reason) > p.MaxReasonLength:
		return Errorf(CodeInvalidReason, "reason is longer than %d characters", p.MaxReasonLength)
	case hasUnsafeRune(reason):
		return Errorf(CodeInvalidReason, "reason must not contain control characters")
	}
	return nil
}

// hasUnsafeRune reports whether s holds a character that could forge or hide
// text in a log line or terminal: C0/C1 controls (newline and tab included),
// line and paragraph separators, and bidirectional formatting characters.
func hasUnsafeRune(s string) bool {
	for _, r := range s {
		switch {
		case unicode.IsControl(r),
			r == '\u2028', r == '\u2029',
			r == '\u061c', r == '\u200e', r == '\u200f',
			r >= '\u202a' && r <= '\u202e',
			r >= '\u2066' && r <= '\u2069':
			return true
		}
	}
	return false
}
