package broker

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/ffbroker/ffbroker/audit"
)

// A grant's whole lifetime, extensions included, is capped from its issue.
const (
	// DefaultLifetimeCap is the cap unless configured (FFB_LIFETIME_CAP_HOURS).
	DefaultLifetimeCap = 4 * time.Hour
	// MaxLifetimeCap is the highest cap there is: the database refuses to extend a
	// grant beyond it whatever the broker passes.
	MaxLifetimeCap = 12 * time.Hour
)

// ExtendInput asks for more time on the caller's live grant of a role for an
// incident (POST /access/{role}/extend).
type ExtendInput struct {
	// Role is the path's role: "ro", "rw" or the full role name.
	Role string
	// Body is the request as the caller sent it: {"incident_id":"...","hours":1|2,
	// "reason":"..."}, decoded strictly by Extend (see DecodeExtendRequest).
	Body []byte
	// Path is the request path the caller's identity proof is bound to; the request
	// ledger keeps it with the proof for an extension that needs approval.
	Path   string
	Caller Caller
	// RequestID is the API or Lambda request id, for the audit trail.
	RequestID string
	Source    audit.Source
}

// ExtendOutput is the answer to Extend: the extended grant when no approval is
// needed, else the pending extension request.
type ExtendOutput struct {
	Grant   *IssueOutput   `json:"grant,omitempty"`
	Pending *PendingAnswer `json:"pending,omitempty"`
}

// Extend gives the caller's live grant of a role for an incident more time: its
// expiry becomes now + hours (1 or 2, by the database clock, so never more than 2
// hours from now), and an extension never shortens a grant (conflict). The password
// is not rotated: the same secret version keeps working for every holder, the role's
// VALID UNTIL follows, and the secret's expiry tags say the new expiry. Only the
// requester of the live grant (by principal key) may extend it (forbidden; not_found
// when the incident has no live grant of the role). A role that needs approval files
// an extension request that goes through the same approval workflow as a request for
// access; its issue step extends the grant (see IssueApproved). No extension takes a
// grant past its issue plus the lifetime cap (Config.LifetimeCap): one that would is
// clipped to the cap, and a grant already ending at its cap is refused with
// CodeLifetimeExceeded (ask again: a new grant, a new password).
func (b *Broker) Extend(ctx context.Context, in ExtendInput) (ExtendOutput, error) {
	rec := audit.Record{RequestID: in.RequestID, Requester: in.Caller.ARN, RequesterKey: in.Caller.Key, Source: in.Source}
	body, err := DecodeExtendRequest(in.Body)
	if err != nil {
		return ExtendOutput{}, b.reject(ctx, rec, err)
	}
	rec.IncidentID = body.IncidentID
	body.Role = in.Role
	v, err := b.validate(ctx, body)
	if err == nil {
		err = reviewAsk(in.Caller, v)
	}
	if err != nil {
		return ExtendOutput{}, b.reject(ctx, rec, err)
	}
	rec.TargetRole = v.RoleName
	if b.cfg.DB == nil {
		return ExtendOutput{}, b.reject(ctx, rec, Errorf(CodeInternal, "this function does not extend grants"))
	}
	grant, err := b.extendableGrant(ctx, v, in.Caller)
	if err != nil {
		return ExtendOutput{}, b.reject(ctx, rec, err)
	}
	rec.GrantID = grant.ID
	if !v.NeedsApproval {
		ereq := ExtendRequest{Role: v.RoleName, IncidentID: v.IncidentID, Hours: v.Hours,
			Requester: in.Caller.ARN, RequesterKey: in.Caller.Key, LifetimeCap: b.cfg.LifetimeCap}
		out, err := b.extend(ctx, ereq, rec)
		if err != nil {
			return ExtendOutput{}, err
		}
		return ExtendOutput{Grant: &out}, nil
	}
	if b.cfg.Workflow == nil {
		return ExtendOutput{}, b.reject(ctx, rec, &Error{Code: CodeInternal, Message: "no approval workflow configured",
			Err: errors.New("broker: Extend of a role that needs approval without a Workflow")})
	}
	id, err := b.newID()
	if err != nil {
		return ExtendOutput{}, err
	}
	sub, err := b.cfg.DB.SubmitExtension(ctx, NewAccessRequest{ID: id, Role: v.RoleName, IncidentID: v.IncidentID, Hours: v.Hours,
		Reason: v.Reason, Requester: in.Caller.ARN, RequesterKey: in.Caller.Key, Proof: in.Caller.Proof, Body: in.Caller.Body,
		Path: in.Path})
	if err != nil {
		return ExtendOutput{}, b.reject(ctx, rec, err)
	}
	rec.AccessRequestID = sub.ID
	arn, err := b.cfg.Workflow.Start(ctx, sub.ID)
	if err != nil {
		return ExtendOutput{}, b.failed(ctx, rec, audit.EventAccessRequested, err)
	}
	rec.Event, rec.Outcome, rec.ExpiresAt = audit.EventAccessRequested, audit.OutcomePending, grant.ExpiresAt
	rec.Message = "extension waiting for a second person's approval"
	if sub.Reused {
		rec.Message = "extension already pending for this grant"
	}
	b.writeBestEffort(ctx, rec)
	return ExtendOutput{Pending: &PendingAnswer{RequestID: sub.ID, ExecutionARN: arn, Status: "pending_approval",
		DecideBy: sub.DecideBy, Reused: sub.Reused}}, nil
}

// extendableGrant finds the live grant of v's role for v's incident and checks that
// the caller requested it. The database checks the same again under the role's lock.
func (b *Broker) extendableGrant(ctx context.Context, v ValidRequest, c Caller) (Grant, error) {
	grants, err := b.cfg.DB.LiveGrants(ctx)
	if err != nil {
		return Grant{}, err
	}
	var found *Grant
	for i, g := range grants {
		if g.Role == v.RoleName && g.IncidentID == v.IncidentID && (found == nil || g.ExpiresAt.After(found.ExpiresAt)) {
			found = &grants[i]
		}
	}
	if err := reviewExtend(c, v.RoleName, found); err != nil {
		return Grant{}, err
	}
	if end, capped := b.lifetimeEnd(*found); capped && !found.ExpiresAt.Before(end) {
		return Grant{}, lifetimeExceeded(v.Kind, v.IncidentID, b.cfg.LifetimeCap, end)
	}
	return *found, nil
}

// lifetimeEnd is when g's lifetime cap ends it for good; capped is false without a
// configured cap.
func (b *Broker) lifetimeEnd(g Grant) (end time.Time, capped bool) {
	if b.cfg.LifetimeCap <= 0 || g.IssuedAt.IsZero() {
		return time.Time{}, false
	}
	return g.IssuedAt.Add(b.cfg.LifetimeCap), true
}

// lifetimeExceeded is the refusal of an extension past the cap.
func lifetimeExceeded(kind Role, incident string, lifetime time.Duration, end time.Time) *Error {
	return Errorf(CodeLifetimeExceeded, "the grant has reached its %d-hour lifetime cap (it ends at %s) and cannot be extended: ask again for a new password (ffbroker issue --role %s --incident %s)",
		int(lifetime/time.Hour), end.UTC().Format(time.RFC3339), kind, incident)
}

// extend carries out an extension the database allows: intent record, the database
// change (the point where the grant ends later), the secret's expiry tags, the
// extended record. rec names the caller, role and incident.
func (b *Broker) extend(ctx context.Context, ereq ExtendRequest, rec audit.Record) (IssueOutput, error) {
	intent := rec
	intent.Event, intent.Outcome, intent.Message = audit.EventAccessExtending, audit.OutcomePending, "extending a live grant"
	if err := b.cfg.Audit.Write(ctx, intent); err != nil {
		return IssueOutput{}, &Error{Code: CodeUnavailable, Op: "audit intent",
			Message: "the audit record could not be written; nothing was extended", Err: err}
	}
	ext, err := b.cfg.DB.ExtendGrant(ctx, ereq)
	if err != nil {
		fail := rec
		fail.Event, fail.Outcome, fail.ErrorCode, fail.Message = audit.EventAccessExtended, audit.OutcomeFailure, string(ErrorCode(err)), "extension refused or failed"
		b.writeBestEffort(ctx, fail)
		return IssueOutput{}, err
	}
	rec.GrantID, rec.ExpiresAt, rec.PreviousExpiresAt = ext.GrantID, ext.ExpiresAt, ext.PreviousExpiresAt
	if rec.Approver == "" {
		rec.Approver = ext.Approver
	}
	cur, ref, err := b.cfg.Secrets.Current(ctx, ereq.Role)
	switch {
	case err != nil:
		b.cfg.Logger.WarnContext(ctx, "extended grant's secret not read; its expiry tags are not updated", "role", ereq.Role, "grant_id", ext.GrantID, "error", err)
	case cur.GrantID != "" && ext.ValidUntil.After(cur.ExpiresAt):
		// The role's password, which may be another live grant's, now works
		// longer than its version says.
		b.tagValidity(ctx, ereq.Role)
	}
	if err := b.publishReaders(ctx, ereq.Role); err != nil { // each reader's end moved
		b.cfg.Logger.WarnContext(ctx, "the secret's policy still ends the grant's reading at its old expiry", "role", ereq.Role, "error", err)
	}
	rec.SecretARN, rec.SecretVersion = ref.ARN, ref.VersionID
	done := rec
	done.Event, done.Outcome, done.Message = audit.EventAccessExtended, audit.OutcomeSuccess, "live grant extended; password not rotated"
	if ext.Reused {
		done.Message = "extension already carried out; returned again"
	}
	b.writeBestEffort(ctx, done)
	prev := ext.PreviousExpiresAt
	return IssueOutput{GrantID: ext.GrantID, Role: ereq.Role, SecretARN: ref.ARN, SecretVersion: ref.VersionID,
		ExpiresAt: ext.ExpiresAt, Reused: true, Extended: true, PreviousExpiresAt: &prev}, nil
}

// extendApproved is the issue step of an approved extension request: the database
// checks the approval (another person, through the approver's login) and extends the
// grant the request names; the password is not rotated.
func (b *Broker) extendApproved(ctx context.Context, req AccessRequest, rec audit.Record) (IssueOutput, error) {
	v, err := b.cfg.Policy.Validate(Request{Role: req.Role, IncidentID: req.IncidentID, Hours: req.Hours, Reason: req.Reason})
	if err != nil {
		return IssueOutput{}, b.reject(ctx, rec, err)
	}
	rec.GrantID = req.ExtendsGrant
	out, err := b.extend(ctx, ExtendRequest{Role: v.RoleName, IncidentID: v.IncidentID, Hours: v.Hours,
		Requester: req.Requester, RequesterKey: req.RequesterKey, RequestID: req.ID, LifetimeCap: b.cfg.LifetimeCap}, rec)
	if err == nil {
		b.notifyOnce(ctx, rec, Notification{Kind: NotifyExtended, Request: req, Grant: &out})
	}
	return out, err
}

// requestPath is the path a kept requester proof is bound to, and the role the path
// names ("" for POST /access).
func requestPath(req AccessRequest) (path, role string, ok bool) {
	if req.Kind != KindExtend {
		return "/access", "", true
	}
	seg, found := strings.CutPrefix(req.RequestPath, "/access/")
	seg, found2 := strings.CutSuffix(seg, "/extend")
	if !found || !found2 || seg == "" || strings.Contains(seg, "/") {
		return "", "", false
	}
	role, err := url.PathUnescape(seg)
	return req.RequestPath, role, err == nil
}
