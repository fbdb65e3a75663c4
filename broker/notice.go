package broker

import (
	"context"
	"time"

	"github.com/ffbroker/ffbroker/audit"
)

// Notification is a message for the approvers or the requester.
type Notification struct {
	// Kind is one of the Notify* constants.
	Kind    string
	Request AccessRequest
	// Grant is set when the request was issued, for an approaching expiry, and for
	// a grant that ended.
	Grant *IssueOutput
	// LifetimeEnds is when the grant's lifetime cap ends it for good, whatever is
	// extended (expiring notices, with a cap configured; else zero).
	LifetimeEnds time.Time
	// EndedBy is the verified caller whose revoke ended the grant (NotifyRevoked).
	EndedBy string
}

// Notification kinds. NotifyApprovalNeeded goes to the approvers; every other kind
// goes to the request's (or the grant's) requester.
const (
	NotifyApprovalNeeded = "approval_needed"
	NotifyApproved       = "approved"
	NotifyDenied         = "denied"
	NotifyTimedOut       = "timed_out"
	NotifyIssued         = "issued"
	// NotifyExpiring warns the requester of a live grant that it ends soon.
	NotifyExpiring = "expiring"
	// NotifyExtended tells the requester that a live grant's expiry moved later.
	NotifyExtended = "extended"
	// NotifyRevoked tells the requester that a revoke ended their grant (theirs, or
	// an approver's revoke of the incident's grants).
	NotifyRevoked = "revoked"
	// NotifyExpired tells the requester that their grant reached its expiry and ended.
	NotifyExpired = "expired"
)

// DefaultExpiryWarning is how long before a grant's end its requester is warned.
const DefaultExpiryWarning = 15 * time.Minute

// Notifier tells people what happened (SNS: chat and e-mail). A failed notification
// never changes an outcome: it is logged and audited as a warning.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// notify publishes n. A failure is logged and audited as a warning (rec gives the
// record its context); it never fails the operation that caused the notification.
func (b *Broker) notify(ctx context.Context, rec audit.Record, n Notification) bool {
	if b.cfg.Notifier == nil {
		return false
	}
	err := b.cfg.Notifier.Notify(ctx, n)
	if err == nil {
		return true
	}
	b.cfg.Logger.WarnContext(ctx, "notification not sent", "kind", n.Kind, "request_id", n.Request.ID, "error", err)
	rec.Event, rec.Outcome, rec.ErrorCode = audit.EventNotificationFailed, audit.OutcomeWarning, string(ErrorCode(err))
	rec.Message = "notification " + n.Kind + " not published"
	if n.Request.ID != "" {
		rec.AccessRequestID = n.Request.ID
	}
	b.writeBestEffort(ctx, rec)
	return false
}

// notifyOnce publishes n unless the notice was claimed before (a retried workflow
// step, a concurrent call): the database claim makes each notice go out once.
func (b *Broker) notifyOnce(ctx context.Context, rec audit.Record, n Notification) {
	if b.cfg.Notifier == nil || b.cfg.DB == nil {
		return
	}
	first, err := b.cfg.DB.ClaimNotice(ctx, n.Request.ID, n.Kind)
	if err != nil {
		b.cfg.Logger.WarnContext(ctx, "notification not claimed", "kind", n.Kind, "request_id", n.Request.ID, "error", err)
		rec.Event, rec.Outcome, rec.ErrorCode = audit.EventNotificationFailed, audit.OutcomeWarning, string(ErrorCode(err))
		rec.AccessRequestID, rec.Message = n.Request.ID, "notification "+n.Kind+" not claimed"
		b.writeBestEffort(ctx, rec)
		return
	}
	if first {
		b.notify(ctx, rec, n)
	}
}

// warnExpiring warns the requesters of the live grants that end within the
// configured window, once per grant and expiry, and returns the grants warned.
func (b *Broker) warnExpiring(ctx context.Context, rec audit.Record) []string {
	warned := []string{}
	if b.cfg.Notifier == nil || b.cfg.ExpiryWarning <= 0 {
		return warned
	}
	grants, err := b.cfg.DB.ClaimExpiryWarnings(ctx, b.cfg.ExpiryWarning)
	if err != nil {
		// The next sweep, a minute later, claims them.
		b.cfg.Logger.WarnContext(ctx, "expiry warnings not claimed", "error", err)
		return warned
	}
	issued := b.issueTimes(ctx, grants)
	for _, g := range grants {
		r := rec
		r.GrantID, r.TargetRole, r.IncidentID, r.Requester, r.RequesterKey, r.ExpiresAt = g.ID, g.Role, g.IncidentID, g.Requester, g.RequesterKey, g.ExpiresAt
		n := Notification{Kind: NotifyExpiring,
			Request: AccessRequest{ID: g.RequestID, Role: g.Role, IncidentID: g.IncidentID, Requester: g.Requester, RequesterKey: g.RequesterKey},
			Grant:   &IssueOutput{GrantID: g.ID, Role: g.Role, ExpiresAt: g.ExpiresAt}}
		g.IssuedAt = issued[g.ID]
		if end, capped := b.lifetimeEnd(g); capped {
			n.LifetimeEnds = end
		}
		if b.notify(ctx, r, n) {
			warned = append(warned, g.ID)
		}
	}
	return warned
}

// issueTimes are the issue times of grants (from the live grants), for their
// lifetime caps; none without a cap, or when they cannot be read (the notice then
// leaves the cap out).
func (b *Broker) issueTimes(ctx context.Context, grants []Grant) map[string]time.Time {
	out := map[string]time.Time{}
	if b.cfg.LifetimeCap <= 0 || len(grants) == 0 {
		return out
	}
	live, err := b.cfg.DB.LiveGrants(ctx)
	if err != nil {
		b.cfg.Logger.WarnContext(ctx, "live grants not read; expiry warnings leave the lifetime cap out", "error", err)
		return out
	}
	for _, g := range live {
		out[g.ID] = g.IssuedAt
	}
	return out
}
