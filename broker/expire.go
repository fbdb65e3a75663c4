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
// closed, every session is terminated, and the secret becomes a tombstone. Only the
// requester or approver of a live grant on the role (by principal key), or an
// approver, may revoke; anyone else gets forbidden. Taking access away is never
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
	found, party := false, in.Caller.CanApprove
	for _, g := range grants {
		if g.Role != role {
			continue
		}
		found = found || g.IncidentID == in.IncidentID
		party = party || g.RequesterKey == in.Caller.Key || g.ApproverKey == in.Caller.Key
	}
	switch {
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
	exp, err := b.takeBack(ctx, rec, role, closed, "revoked: every grant of the role ended")
	if err != nil {
		return RevokeOutput{}, err
	}
	return RevokeOutput{Expiry: exp, IncidentID: in.IncidentID, AllGrantsEnded: true}, nil
}

// Sweep guarantees expiry when everything else failed. It asks the database to expire
// every firefighter role with no live grant left, terminates their sessions, replaces
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
	var errs []error
	for _, r := range rows {
		exp, err := b.takeBack(ctx, rec, r.Role, r.GrantsClosed, "expired: no live grant left", r.SessionsTerminated)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out.Expired = append(out.Expired, exp)
	}
	repaired, err := b.repair(ctx, rec)
	out.Repaired = append(out.Repaired, repaired...)
	if err != nil {
		errs = append(errs, err)
	}
	out.Warned = b.warnExpiring(ctx, rec)
	return out, errors.Join(errs...)
}

// takeBack finishes an expiry the database already did: it terminates the role's
// sessions (unless the count is given), checks that none is left, tombstones the
// secret and writes the records.
func (b *Broker) takeBack(ctx context.Context, rec audit.Record, role string, closed int, message string, terminated ...int) (Expiry, error) {
	rec.TargetRole = role
	exp := Expiry{Role: role, GrantsClosed: closed}
	if len(terminated) > 0 {
		exp.SessionsTerminated = terminated[0]
	} else {
		n, err := b.cfg.DB.Terminate(ctx, role)
		if err != nil {
			return exp, b.failed(ctx, rec, audit.EventSessionsTerminated, err)
		}
		exp.SessionsTerminated = n
	}
	if err := b.checkNoSessions(ctx, role); err != nil {
		return exp, b.failed(ctx, rec, audit.EventSessionsTerminated, err)
	}
	done := rec
	done.Event, done.Outcome, done.GrantsClosed, done.Message = audit.EventPasswordExpired, audit.OutcomeSuccess, audit.Count(closed), message
	b.writeBestEffort(ctx, done)
	term := rec
	term.Event, term.Outcome, term.SessionsTerminated, term.Message = audit.EventSessionsTerminated, audit.OutcomeSuccess, audit.Count(exp.SessionsTerminated), "sessions of the role terminated"
	b.writeBestEffort(ctx, term)

	// Under the role's lock: an issue that activated since the expiry keeps its secret.
	err := b.cfg.DB.WithRoleLock(ctx, role, func(ctx context.Context, st RoleState) error {
		if len(st.Live) > 0 {
			return nil
		}
		ref, err := b.tombstone(ctx, role)
		exp.SecretARN, exp.SecretVersion = ref.ARN, ref.VersionID
		return err
	})
	if err != nil {
		return exp, b.failed(ctx, rec, audit.EventPasswordExpired, err)
	}
	return exp, nil
}

func (b *Broker) tombstone(ctx context.Context, role string) (SecretRef, error) {
	return b.cfg.Secrets.PutTombstone(ctx, role, b.connection(role).Tombstone())
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

// repair fixes what an issue that stopped half-way left in Secrets Manager. Each role
// is repaired under its lock, so no issue activates and publishes meanwhile.
func (b *Broker) repair(ctx context.Context, rec audit.Record) ([]string, error) {
	var done []string
	var errs []error
	for _, role := range []string{b.cfg.Policy.RoleName(RoleRO), b.cfg.Policy.RoleName(RoleRW)} {
		err := b.cfg.DB.WithRoleLock(ctx, role, func(ctx context.Context, st RoleState) error {
			what, err := b.repairRole(ctx, rec, role, st)
			done = append(done, what...)
			return err
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	return done, errors.Join(errs...)
}

func (b *Broker) repairRole(ctx context.Context, rec audit.Record, role string, st RoleState) ([]string, error) {
	var done []string
	note := func(grantID, what string) {
		done = append(done, fmt.Sprintf("%s: %s", role, what))
		r := rec
		r.Event, r.Outcome, r.TargetRole, r.GrantID, r.Message = audit.EventGrantRepaired, audit.OutcomeSuccess, role, grantID, what
		b.writeBestEffort(ctx, r)
	}
	cur, ref, err := b.cfg.Secrets.Current(ctx, role)
	if err != nil && ErrorCode(err) != CodeNotFound {
		return done, err
	}
	isLive := map[string]bool{}
	for _, g := range st.Live {
		isLive[g.ID] = true
	}
	switch {
	case len(st.Live) > 0 && st.Current != "" && ref.VersionID != st.Current:
		// The role holds the password of the grant activated last; that version logs in.
		if _, err := b.promoteVersion(ctx, role, st.Current); err != nil {
			return done, err
		}
		note(st.Current, "the secret version of the role's current password made AWSCURRENT")
	case len(st.Live) == 0 && err == nil && cur.Status != SecretExpired:
		if _, err := b.tombstone(ctx, role); err != nil {
			return done, err
		}
		note(cur.GrantID, "secret of a role with no live grant replaced by a tombstone")
	}
	pending, err := b.cfg.Secrets.PendingVersions(ctx, role)
	if err != nil {
		return done, err
	}
	for _, id := range pending {
		if isLive[id] || id == ref.VersionID || id == st.Current {
			continue
		}
		if err := b.cfg.Secrets.DiscardPending(ctx, role, id); err != nil {
			return done, err
		}
		note(id, "pending version without a live grant lost its AWSPENDING label")
	}
	return done, nil
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
