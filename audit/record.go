package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Schema identifies the version of the record format; every record carries it.
const Schema = "ffbroker.audit/v1"

// MaxMessageBytes bounds Message; longer text is cut at a rune boundary and ends in "…".
const MaxMessageBytes = 512

// Event names what happened. Names are "subject.verb" and are part of the record
// format: never rename one.
type Event string

// Events.
const (
	// EventAccessRequested records a request for a firefighter role.
	EventAccessRequested Event = "access.requested"
	// EventAccessApproved records a human approval of a request.
	EventAccessApproved Event = "access.approved"
	// EventAccessDenied records a human denial of a request, or a policy refusal.
	EventAccessDenied Event = "access.denied"
	// EventPasswordIssuing is the intent record, written before the database change.
	EventPasswordIssuing Event = "password.issuing"
	// EventPasswordIssued records a password set in the database and stored as a secret.
	EventPasswordIssued Event = "password.issued"
	// EventPasswordExpired records a password expired by the sweep, a grant's end or a revoke.
	EventPasswordExpired Event = "password.expired"
	// EventSessionsTerminated records the sessions of a role ended after expiry.
	EventSessionsTerminated Event = "sessions.terminated"
	// EventRequestRejected records bad input that changed nothing.
	EventRequestRejected Event = "request.rejected"
	// EventLoginObserved records a login seen in the PostgreSQL connection log.
	EventLoginObserved Event = "login.observed"
	// EventRoleLocked records an inactive role given CONNECTION LIMIT 0.
	EventRoleLocked Event = "role.locked"
	// EventRoleUnlocked records a locked role given its logins back.
	EventRoleUnlocked Event = "role.unlocked"
	// EventRoleDropped records an inactive role that owned nothing and was dropped.
	EventRoleDropped Event = "role.dropped"
	// EventRoleMarked records an inactive role that owns objects, marked ready to delete.
	EventRoleMarked Event = "role.marked"
	// EventAccessExtending is the intent record of an extension of a live grant,
	// written before the database change.
	EventAccessExtending Event = "access.extending"
	// EventAccessExtended records a live grant given more time (password not rotated),
	// with the old expiry (previous_expires_at) and the new one (expires_at).
	EventAccessExtended Event = "access.extended"
	// EventGrantRepaired records a grant whose secret the sweep brought in line with the ledger.
	EventGrantRepaired Event = "grant.repaired"
	// EventGrantEnded records one grant that a revoke or its expiry ended: the grant,
	// its incident, requester and approver, and why (message). One record per grant.
	EventGrantEnded Event = "grant.ended"
	// EventPasswordRotated records a shared role's password replaced because some of
	// its grants ended while others stay live: those keep access with the new version.
	EventPasswordRotated Event = "password.rotated"
	// EventNotificationFailed records a notification that was not published; what
	// caused it took effect all the same.
	EventNotificationFailed Event = "notification.failed"
)

// Outcome says how the event ended.
type Outcome string

// Outcomes.
const (
	// OutcomePending marks an intent record, written before the change it announces.
	OutcomePending Outcome = "pending"
	// OutcomeSuccess means the change happened.
	OutcomeSuccess Outcome = "success"
	// OutcomeFailure means the change was attempted and failed.
	OutcomeFailure Outcome = "failure"
	// OutcomeDenied means an approver or the policy refused the change.
	OutcomeDenied Outcome = "denied"
	// OutcomeRejected means the input was invalid and nothing was attempted.
	OutcomeRejected Outcome = "rejected"
	// OutcomeDryRun means the change would have happened but dry-run was on.
	OutcomeDryRun Outcome = "dry_run"
	// OutcomeWarning means something beside the change failed (a notification) and
	// the change stands.
	OutcomeWarning Outcome = "warning"
)

// Source names the entry point that caused the event.
type Source string

// Sources.
const (
	// SourceAPI is the API Gateway REST API.
	SourceAPI Source = "api"
	// SourceStepFunctions is the approval and expiry state machine.
	SourceStepFunctions Source = "stepfunctions"
	// SourceSchedule is an EventBridge schedule (the sweep, the activity scan).
	SourceSchedule Source = "schedule"
	// SourceCLI is the operator CLI, ffbroker invoke and ffbroker connect.
	SourceCLI Source = "cli"
)

// Record is one audit record. Its fields are the whole format: a record holds
// identifiers, codes, times and counts, and no map or free-form payload, so there is
// no place for a password or a verifier. Message is the one free-text field; fill it
// with fixed wording, never with input, secrets or an error's text (use ErrorCode).
//
// Sinks stamp Schema and, when it is zero, Time; times are written in UTC.
type Record struct {
	// Schema is the format version; empty means Schema and is filled in when written.
	Schema string `json:"schema"`
	// Time is when the event happened; zero means "now" at the sink.
	Time time.Time `json:"time"`
	// Event names what happened.
	Event Event `json:"event"`
	// Outcome says how it ended.
	Outcome Outcome `json:"outcome"`
	// RequestID is the Lambda or API Gateway request id that caused the event.
	RequestID string `json:"request_id,omitempty"`
	// AccessRequestID is the request ledger's id of a request that needs approval.
	AccessRequestID string `json:"access_request_id,omitempty"`
	// IncidentID is the incident the access is for, e.g. "INC-1234".
	IncidentID string `json:"incident_id,omitempty"`
	// Requester is the authenticated caller (an IAM principal ARN), never a name
	// taken from a request body.
	Requester string `json:"requester,omitempty"`
	// Approver is the authenticated IAM principal that approved or denied.
	Approver string `json:"approver,omitempty"`
	// RequesterKey and ApproverKey are the principal keys the two-person rule compared.
	RequesterKey string `json:"requester_key,omitempty"`
	ApproverKey  string `json:"approver_key,omitempty"`
	// TargetRole is the PostgreSQL role concerned.
	TargetRole string `json:"target_role,omitempty"`
	// ExpiresAt is when the grant's password stops working.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// PreviousExpiresAt is a grant's expiry before an extension.
	PreviousExpiresAt time.Time `json:"previous_expires_at,omitzero"`
	// GrantID is the ledger id of the grant; also the secret's ClientRequestToken.
	GrantID string `json:"grant_id,omitempty"`
	// SecretARN is the Secrets Manager secret that holds (or held) the password.
	SecretARN string `json:"secret_arn,omitempty"`
	// SecretVersion is the secret's version id for this grant.
	SecretVersion string `json:"secret_version,omitempty"`
	// Source names the entry point.
	Source Source `json:"source"`
	// ErrorCode is the stable error code when Outcome is not success (e.g. "invalid_hours").
	ErrorCode string `json:"error_code,omitempty"`
	// Message is a short fixed human text; at most MaxMessageBytes are written.
	Message string `json:"message,omitempty"`
	// GrantsClosed counts the ledger grants an expiry closed; nil leaves it out.
	GrantsClosed *int `json:"grants_closed,omitempty"`
	// SessionsTerminated counts the sessions a termination ended; nil leaves it out.
	SessionsTerminated *int `json:"sessions_terminated,omitempty"`
}

// Count returns a pointer to n, for GrantsClosed and SessionsTerminated.
func Count(n int) *int { return &n }

// Validate reports whether r is fit to be written: it names an event, an outcome
// and one of the four sources.
func (r Record) Validate() error {
	var errs []error
	if r.Event == "" {
		errs = append(errs, errors.New("audit: record has no event"))
	}
	if r.Outcome == "" {
		errs = append(errs, errors.New("audit: record has no outcome"))
	}
	switch r.Source {
	case SourceAPI, SourceStepFunctions, SourceSchedule, SourceCLI:
	case "":
		errs = append(errs, errors.New("audit: record has no source"))
	default:
		errs = append(errs, fmt.Errorf("audit: record source %q is not api, stepfunctions, schedule or cli", r.Source))
	}
	if r.Schema != "" && r.Schema != Schema {
		errs = append(errs, fmt.Errorf("audit: record schema %q is not %q", r.Schema, Schema))
	}
	return errors.Join(errs...)
}

// MarshalJSON writes r as one compact JSON object with Schema filled in, times in
// UTC and Message cut to MaxMessageBytes. It does not fill a zero Time: sinks do.
// The sinks write <, > and & as they are; json.Marshal(r) escapes them as usual.
func (r Record) MarshalJSON() ([]byte, error) {
	type plain Record // no methods: no recursion
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(plain(r.normalized())); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// normalized returns r in its written form (see MarshalJSON).
func (r Record) normalized() Record {
	if r.Schema == "" {
		r.Schema = Schema
	}
	r.Time = r.Time.UTC()
	if !r.ExpiresAt.IsZero() {
		r.ExpiresAt = r.ExpiresAt.UTC()
	}
	if !r.PreviousExpiresAt.IsZero() {
		r.PreviousExpiresAt = r.PreviousExpiresAt.UTC()
	}
	r.Message = truncate(r.Message, MaxMessageBytes)
	return r
}

// stamp prepares r for a sink: a zero Time becomes now; then r must be valid.
func stamp(r Record, now func() time.Time) (Record, error) {
	if r.Time.IsZero() {
		if now == nil {
			now = time.Now
		}
		r.Time = now()
	}
	r = r.normalized()
	if err := r.Validate(); err != nil {
		return Record{}, err
	}
	return r, nil
}

// encode stamps r and returns its JSON line without the newline.
func encode(r Record, now func() time.Time) (Record, []byte, error) {
	r, err := stamp(r, now)
	if err != nil {
		return Record{}, nil, err
	}
	b, err := r.MarshalJSON() // not json.Marshal, which would escape <, > and &
	if err != nil {
		return Record{}, nil, fmt.Errorf("audit: encode %s record: %w", r.Event, err)
	}
	return r, b, nil
}

// truncate cuts s to at most max bytes at a rune boundary, marking the cut with "…".
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	cut := max - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}
