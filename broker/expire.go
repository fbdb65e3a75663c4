package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ffbroker/ffbroker/audit"
)

// RevokeInput asks to take a role back now, during or after an incident.
type RevokeInput struct {
	// Role is "ro", "rw" or the full role name.
	Role string
	// IncidentID must name a live grant of the role.
	IncidentID string
	// Caller is the verified caller: the requester or approver of a live grant on the
	// role, or an approver.
	Caller    Caller
	RequestID string
	Source    audit.Source
}

// Expiry reports what taking one role back did.
type Expiry struct {
	Role               string `json:"role"`
	GrantsClosed       int    `json:"grants_closed"`
	SessionsTerminated int    `json:"sessions_terminated"`
	SecretARN          string `json:"secret_arn,omitempty"`
	SecretVersion      string `json:"secret_version,omitempty"`
}

// RevokeOutput is the answer to a revoke. A revoke ends every grant of the shared
// role, not only the incident's: AllGrantsEnded says so explicitly.
type RevokeOutput struct {
	Expiry
	IncidentID     string `json:"incident_id"`
	AllGrantsEnded bool   `json:"all_grants_ended"`
}

// SweepOutput is the answer to a sweep.
type SweepOutput struct {
	// Expired lists the roles taken back by this run.
	Expired []Expiry `json:"expired"`
	// Repaired lists what the run fixed after an issue that stopped half-way.
	Repaired []string `json:"repaired"`
	// Warned lists the grants whose requesters this run warned of their expiry.
	Warned []string `json:"warned"`
}

// Revoke takes the role back now: its password expires, every grant of the role is
// closed, every session is terminated (on every instance of the cluster, with
// Instances), and the secret becomes a tombstone. Only the
// requester or approver of a live grant on the role (by principal key), or an
// approver, may revoke; anyone else gets forbidden. With no live grant of the role
// there is nothing to revoke: not_found. Taking access away is never
// blocked by the audit trail: a failed audit write is logged and the revoke goes on.
func (b *Broker) Revoke(ctx context.Context, in RevokeInput) (RevokeOutput, error) {
	rec := audit.Record{RequestID: in.RequestID, Requester: in.Caller.ARN, RequesterKey: in.Caller.Key, IncidentID: in.IncidentID, Source: in.Source}
	role, err := b.cfg.Policy.ParseRole(in.Role)
	if err != nil {
		return RevokeOutput{}, b.reject(ctx, rec, err)
	}
	rec.TargetRole = role
	if err := b.cfg.Policy.checkIncident(in.IncidentID); err != nil {
		return RevokeOutput{}, b.reject(ctx, rec, err)
	}
	if err := checkCaller(in.Caller); err != nil {
		return RevokeOutput{}, b.reject(ctx, rec, err)
	}
	grants, err := b.cfg.DB.LiveGrants(ctx)
	if err != nil {
		return RevokeOutput{}, err
	}
	live, found, party := false, false, in.Caller.CanApprove
	for _, g := range grants {
		if g.Role != role {
			continue
		}
		live = true
		found = found || g.IncidentID == in.IncidentID
		party = party || g.RequesterKey == in.Caller.Key || g.ApproverKey == in.Caller.Key
	}
	switch {
	case !live: // nothing to revoke (a second revoke), as GET /access shows everyone
		return RevokeOutput{}, b.reject(ctx, rec, Errorf(CodeNotFound, "no live grant of %s: nothing to revoke", role))
	case !party:
		return RevokeOutput{}, b.reject(ctx, rec, Errorf(CodeForbidden, "only the requester or approver of a live grant on %s, or an approver, may revoke it", role))
	case !found:
		return RevokeOutput{}, b.reject(ctx, rec, Errorf(CodeNotFound, "no live grant of %s for this incident", role))
	}
	intent := rec
	intent.Event, intent.Outcome, intent.Message = audit.EventPasswordExpired, audit.OutcomePending, "revoking: every grant of the role ends"
	b.writeBestEffort(ctx, intent)

	closed, err := b.cfg.DB.Expire(ctx, role)
	if err != nil {
		return RevokeOutput{}, b.failed(ctx, rec, audit.EventPasswordExpired, err)
	}
	terminated, err := b.cfg.DB.Terminate(ctx, role)
	if err != nil {
		return RevokeOutput{}, b.failed(ctx, rec, audit.EventSessionsTerminated, err)
	}
	others, instErr := b.terminateEverywhere(ctx, role)
	exp := Expiry{Role: role, GrantsClosed: closed, SessionsTerminated: terminated + others}
	if err := b.takeBack(ctx, rec, exp, "revoked: every grant of the role ended"); err != nil {
		return RevokeOutput{}, err
	}
	rec.TargetRole = role
	if _, err := b.reconcile(ctx, rec, role, &exp); err != nil {
		return RevokeOutput{}, b.failed(ctx, rec, audit.EventPasswordExpired, err)
	}
	if instErr != nil {
		// The password is gone and the secret a tombstone; the sweep retries the instances.
		return RevokeOutput{}, b.failed(ctx, rec, audit.EventSessionsTerminated, instErr)
	}
	return RevokeOutput{Expiry: exp, IncidentID: in.IncidentID, AllGrantsEnded: true}, nil
}

// Sweep guarantees expiry when everything else failed. It asks the database to expire
// every firefighter role with no live grant left, terminates their sessions (on every
// instance of the cluster, with Instances, every run), replaces
// their secrets with tombstones, and repairs what an issue that stopped half-way left:
// a live grant whose version is not AWSCURRENT is promoted, a pending version without a
// live grant loses its AWSPENDING label, and a secret still holding a password while
// its role has no live grant becomes a tombstone. It is safe to run from several places
// at once and to repeat: a second run finds nothing to do.
func (b *Broker) Sweep(ctx context.Context, requestID string, source audit.Source) (SweepOutput, error) {
	out := SweepOutput{Expired: []Expiry{}, Repaired: []string{}, Warned: []string{}}
	rec := audit.Record{RequestID: requestID, Source: source}
	rows, err := b.cfg.DB.Sweep(ctx)
	if err != nil {
		return out, err
	}
	swept := make(map[string]SweepResult, len(rows))
	for _, r := range rows {
		swept[r.Role] = r
	}
	var errs []error
	for _, role := range []string{b.cfg.Policy.RoleName(RoleRO), b.cfg.Policy.RoleName(RoleRW)} {
		var exp *Expiry
		others, err := b.terminateEverywhere(ctx, role)
		if err != nil {
			r := rec
			r.TargetRole = role
			errs = append(errs, b.failed(ctx, r, audit.EventSessionsTerminated, err))
		}
		if r, ok := swept[role]; ok && r.Failure != "" {
			// The database could not take this role back; the other role's take-back stands.
			f := rec
			f.TargetRole = role
			errs = append(errs, b.failed(ctx, f, audit.EventPasswordExpired,
				Errorf(CodeUnavailable, "the database could not take %s back (%s); the next sweep tries again", role, r.Failure)))
		} else if ok || others > 0 {
			exp = &Expiry{Role: role, GrantsClosed: r.GrantsClosed, SessionsTerminated: r.SessionsTerminated + others}
			if err := b.takeBack(ctx, rec, *exp, "expired: no live grant left"); err != nil {
				errs = append(errs, err)
				exp = nil // its secret is still reconciled below
			}
		}
		r := rec
		r.TargetRole = role
		repaired, err := b.reconcile(ctx, r, role, exp)
		out.Repaired = append(out.Repaired, repaired...)
		if err != nil {
			if exp != nil {
				err = b.failed(ctx, r, audit.EventPasswordExpired, err)
			}
			errs = append(errs, err)
			continue
		}
		if exp != nil {
			out.Expired = append(out.Expired, *exp)
		}
	}
	out.Warned = b.warnExpiring(ctx, rec)
	return out, errors.Join(errs...)
}

// takeBack finishes an expiry the database already did (the password expired, the
// grants closed, the sessions terminated, as exp counts): it checks that no session
// is left and writes the records. The role's secret is reconcile's.
func (b *Broker) takeBack(ctx context.Context, rec audit.Record, exp Expiry, message string) error {
	rec.TargetRole = exp.Role
	if err := b.checkNoSessions(ctx, exp.Role); err != nil {
		return b.failed(ctx, rec, audit.EventSessionsTerminated, err)
	}
	done := rec
	done.Event, done.Outcome, done.GrantsClosed, done.Message = audit.EventPasswordExpired, audit.OutcomeSuccess, audit.Count(exp.GrantsClosed), message
	b.writeBestEffort(ctx, done)
	term := rec
	term.Event, term.Outcome, term.SessionsTerminated, term.Message = audit.EventSessionsTerminated, audit.OutcomeSuccess, audit.Count(exp.SessionsTerminated), "sessions of the role terminated"
	b.writeBestEffort(ctx, term)
	return nil
}

// checkNoSessions proves the termination: no session of role is left.
func (b *Broker) checkNoSessions(ctx context.Context, role string) error {
	st, err := b.cfg.DB.Status(ctx)
	if err != nil {
		return err
	}
	for _, s := range st {
		if s.Role == role && s.Sessions > 0 {
			return Errorf(CodeUnavailable, "%d sessions of %s survived termination; the next sweep tries again", s.Sessions, role)
		}
	}
	return nil
}

// reconcile makes role's secret agree with the grant ledger, once per role and pass,
// under the role's lock (so no issue activates and publishes meanwhile) and with one
// read of the secret: a live grant whose version is not AWSCURRENT is promoted, a
// role with no live grant gets its tombstone (needsTombstone decides), and a pending
// version without a live grant loses its AWSPENDING label, and the secret's resource
// policy lets only the live grants' requesters read. exp is the expiry this
// pass did to the role (revoke, sweep), or nil; its tombstone is then part of the
// expiry and is recorded in exp, otherwise it is a repair. It returns what it
// repaired.
func (b *Broker) reconcile(ctx context.Context, rec audit.Record, role string, exp *Expiry) ([]string, error) {
	var done []string
	err := b.cfg.DB.WithRoleLock(ctx, role, func(ctx context.Context, st RoleState) error {
		note := func(grantID, what string) {
			done = append(done, fmt.Sprintf("%s: %s", role, what))
			r := rec
			r.Event, r.Outcome, r.GrantID, r.Message = audit.EventGrantRepaired, audit.OutcomeSuccess, grantID, what
			b.writeBestEffort(ctx, r)
		}
		cur, ref, err := b.cfg.Secrets.Current(ctx, role)
		if err != nil && ErrorCode(err) != CodeNotFound {
			return err
		}
		found := err == nil
		switch {
		case len(st.Live) > 0 && st.Current != "" && ref.VersionID != st.Current:
			// The role holds the password of the grant activated last; that version logs in.
			if _, err := b.promoteVersion(ctx, role, st.Current); err != nil {
				return err
			}
			note(st.Current, "the secret version of the role's current password made AWSCURRENT")
		case b.needsTombstone(role, st, cur, found, exp != nil):
			tomb, err := b.tombstone(ctx, role)
			if err != nil {
				return err
			}
			if exp == nil {
				note(cur.GrantID, "secret of a role with no live grant replaced by a tombstone")
			}
			ref = tomb
		}
		if exp != nil && len(st.Live) == 0 {
			exp.SecretARN, exp.SecretVersion = ref.ARN, ref.VersionID
		}
		if err := b.discardOrphans(ctx, role, st, ref.VersionID, note); err != nil {
			return err
		}
		return b.syncReaders(ctx, role, st) // an ended grant's requester reads no more
	})
	return done, err
}

// needsTombstone is the one decision that a role's secret must become its tombstone:
// no grant of the role is live and the current value is not already exactly that
// tombstone. A role without a current value gets one only when this pass expired it
// (a role that never had a secret is left alone by a repair).
func (b *Broker) needsTombstone(role string, st RoleState, cur SecretValue, found, expired bool) bool {
	if len(st.Live) > 0 {
		return false
	}
	if !found {
		return expired
	}
	want, err := b.connection(role).Tombstone().SecretString()
	have, err2 := cur.SecretString()
	return err != nil || err2 != nil || want != have
}

// discardOrphans removes AWSPENDING from the versions of role that no live grant
// owns and that are neither AWSCURRENT (current) nor the role's password.
func (b *Broker) discardOrphans(ctx context.Context, role string, st RoleState, current string, note func(grantID, what string)) error {
	pending, err := b.cfg.Secrets.PendingVersions(ctx, role)
	if err != nil {
		return err
	}
	isLive := map[string]bool{}
	for _, g := range st.Live {
		isLive[g.ID] = true
	}
	for _, id := range pending {
		if isLive[id] || id == current || id == st.Current {
			continue
		}
		if err := b.cfg.Secrets.DiscardPending(ctx, role, id); err != nil {
			return err
		}
		note(id, "pending version without a live grant lost its AWSPENDING label")
	}
	return nil
}

func (b *Broker) tombstone(ctx context.Context, role string) (SecretRef, error) {
	return b.cfg.Secrets.PutTombstone(ctx, role, b.connection(role).Tombstone())
}

// failed records a failed step and returns err.
func (b *Broker) failed(ctx context.Context, rec audit.Record, event audit.Event, err error) error {
	rec.Event, rec.Outcome, rec.ErrorCode, rec.Message = event, audit.OutcomeFailure, string(ErrorCode(err)), "step failed"
	b.writeBestEffort(ctx, rec)
	return err
}

// StatusOutput is the state of both firefighter roles and their live grants.
type StatusOutput struct {
	Roles []RoleStatusView `json:"roles"`
}

// RoleStatusView is one role in a status answer.
type RoleStatusView struct {
	Role       string      `json:"role"`
	Valid      bool        `json:"valid"`
	ValidUntil *time.Time  `json:"valid_until,omitempty"`
	Sessions   int         `json:"sessions"`
	Grants     []GrantView `json:"grants"`
}

// GrantView is a live grant in a status answer.
type GrantView struct {
	GrantID    string    `json:"grant_id"`
	IncidentID string    `json:"incident_id,omitempty"`
	Requester  string    `json:"requester"`
	Approver   string    `json:"approver,omitempty"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// Status reports both roles: whether a password is valid now, until when, the live
// grants and the open sessions.
func (b *Broker) Status(ctx context.Context) (StatusOutput, error) {
	st, err := b.cfg.DB.Status(ctx)
	if err != nil {
		return StatusOutput{}, err
	}
	grants, err := b.cfg.DB.LiveGrants(ctx)
	if err != nil {
		return StatusOutput{}, err
	}
	out := StatusOutput{Roles: []RoleStatusView{}}
	for _, s := range st {
		v := RoleStatusView{Role: s.Role, Sessions: s.Sessions, Grants: []GrantView{}}
		if s.NoExpiry {
			v.Valid = true
		} else if s.ValidUntil.After(time.Unix(0, 0)) {
			until := s.ValidUntil
			v.ValidUntil, v.Valid = &until, until.After(time.Now())
		}
		for _, g := range grants {
			if g.Role == s.Role {
				v.Grants = append(v.Grants, GrantView{GrantID: g.ID, IncidentID: g.IncidentID, Requester: g.Requester, Approver: g.Approver, ExpiresAt: g.ExpiresAt})
			}
		}
		out.Roles = append(out.Roles, v)
	}
	return out, nil
}
