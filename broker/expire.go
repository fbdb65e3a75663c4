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

// Expiry reports what taking one role back, or ending some of its grants, did.
type Expiry struct {
	Role               string `json:"role"`
	GrantsClosed       int    `json:"grants_closed"`
	SessionsTerminated int    `json:"sessions_terminated"`
	SecretARN          string `json:"secret_arn,omitempty"`
	SecretVersion      string `json:"secret_version,omitempty"`
	// EndedGrants are the grants this step ended (a revoke's, and any whose expiry
	// had passed).
	EndedGrants []string `json:"ended_grants,omitempty"`
	// PasswordRotated reports that live grants of the role were left: they keep access
	// with a new password (SecretVersion), and every session of the role was
	// terminated all the same (a shared role's sessions cannot be told apart).
	PasswordRotated bool `json:"password_rotated,omitempty"`
}

// RevokeOutput is the answer to a revoke. A revoke ends the caller's grants of the
// role for the incident (see Revoke); AllGrantsEnded reports that none of the role's
// grants is left live, so the role was expired.
type RevokeOutput struct {
	Expiry
	IncidentID     string `json:"incident_id"`
	AllGrantsEnded bool   `json:"all_grants_ended"`
}

// SweepOutput is the answer to a sweep.
type SweepOutput struct {
	// Expired lists the roles taken back by this run.
	Expired []Expiry `json:"expired"`
	// Ended lists the grants this run ended whose role had other live grants left
	// (those keep access with a new password).
	Ended []string `json:"ended"`
	// Repaired lists what the run fixed after an issue that stopped half-way.
	Repaired []string `json:"repaired"`
	// Warned lists the grants whose requesters this run warned of their expiry.
	Warned []string `json:"warned"`
}

// Revoke ends, now, the live grants of the role for the incident that the caller may
// end: the caller's own (as requester or as approver of the grant, by principal key),
// or, for a caller on the approvers' list, every grant of the role for that incident,
// whoever holds it. Grants of other incidents are never ended by a revoke. A caller
// who is no party to a live grant on the role, and no approver, gets forbidden; one
// who may end none of the incident's grants too. With no live grant of the role at all there
// is nothing to revoke: not_found. When no live grant of the role is
// left, the role is taken back (password expired, secret a tombstone); when others
// are left, they keep access with a new password (see endGrants), except on rw, where
// the database ends every live grant instead (no password without a second person:
// db_admin.end_firefighter_grants). Either way every
// session of the role is terminated. Taking access away is never blocked by the
// audit trail: a failed audit write is logged and the revoke goes on.
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
	mine, err := reviewRevoke(in.Caller, role, in.IncidentID, grants)
	if err != nil {
		return RevokeOutput{}, b.reject(ctx, rec, err)
	}
	intent := rec
	intent.Event, intent.Outcome, intent.Message = audit.EventPasswordExpired, audit.OutcomePending, "revoking the caller's grants of the role for the incident"
	b.writeBestEffort(ctx, intent)

	exp, left, err := b.endGrants(ctx, rec, role, mine, in.Caller.ARN)
	if err != nil {
		return RevokeOutput{}, err
	}
	return RevokeOutput{Expiry: exp, IncidentID: in.IncidentID, AllGrantsEnded: exp.GrantsClosed > 0 && left == 0}, nil
}

// endGrants ends grants of role: those ids names (a revoke's, already authorised) and
// those whose expiry passed. In one transaction under the role's lock, in the order an
// issue follows: when live grants are left, a new password is written as an
// AWSPENDING version named by a new id, the database closes the grants and sets the
// password (the ended holders' password stops working), the version becomes AWSCURRENT,
// then the commit; when none is left, the role is expired. Then every session of the
// role is terminated (a shared role's sessions cannot be told apart: the holders left
// reconnect with the new password), each ended grant is recorded (grant.ended) and its
// requester told, and the secret's readers follow the live grants. revokedBy is the
// revoking caller, empty for an expiry. It returns what it did and how many live
// grants are left.
func (b *Broker) endGrants(ctx context.Context, rec audit.Record, role string, ids []string, revokedBy string) (Expiry, int, error) {
	rec.TargetRole = role
	exp := Expiry{Role: role}
	var pending string
	var published SecretRef
	// A role that needs approval is never given a password by the broker's login alone:
	// the database ends every live grant of it instead of rotating (and ignores a
	// password it is given). rw always needs approval; taking access away never waits on
	// reading the role table: when the read fails, a rotation is prepared and the
	// database decides.
	needs := role == b.cfg.Policy.RoleName(RoleRW)
	if !needs {
		n, err := b.NeedsApproval(ctx, role)
		if err != nil {
			b.cfg.Logger.WarnContext(ctx, "the role table could not be read: the database decides whether the role's grants left keep access", "role", role, "error", err)
		}
		needs = n && err == nil
	}
	readersSet, inStep := false, false
	defer func() {
		// A return before reconcile (a failed termination or check, a rollback)
		// still leaves the policy naming exactly the live grants' requesters.
		if readersSet && !inStep {
			if err := b.publishReaders(context.WithoutCancel(ctx), role); err != nil {
				b.cfg.Logger.ErrorContext(ctx, "the secret's readers may be stale until the next sweep", "role", role, "error", err)
			}
		}
	}()
	rotate := func(ctx context.Context, st RoleState) (Rotation, error) {
		ending := map[string]bool{}
		for _, g := range st.Ended {
			ending[g.ID] = true
		}
		for _, id := range ids {
			ending[id] = true
		}
		var left []Grant
		var until time.Time
		for _, g := range st.Live {
			if !ending[g.ID] {
				left = append(left, g)
				if g.ExpiresAt.After(until) {
					until = g.ExpiresAt
				}
			}
		}
		if len(left) == len(st.Live) && len(st.Ended) == 0 {
			return Rotation{Skip: true}, nil
		}
		if needs {
			left = nil // the database ends every live grant of a role that needs approval
		}
		// The ended holders are denied before a new password exists; no rotation
		// without that.
		readersSet = true
		if err := b.setReaders(ctx, role, left); err != nil {
			return Rotation{}, &Error{Code: CodeUnavailable, Op: "end grants", Message: "the secret's readers could not be rewritten; nothing ended; retry", Err: err}
		}
		if len(left) == 0 {
			// The role is expired; rw, which the broker's login alone may not give a
			// password, has every grant ended by the database instead.
			return Rotation{}, nil
		}
		holder := left[0] // the password's version names the grant activated last
		for _, g := range left[1:] {
			if g.ActivatedAt.After(holder.ActivatedAt) {
				holder = g
			}
		}
		version, err := b.grantID("")
		if err != nil {
			return Rotation{}, err
		}
		password, err := GeneratePassword(b.cfg.Rand, DefaultPasswordLength)
		if err != nil {
			return Rotation{}, &Error{Code: CodeInternal, Op: "generate password", Err: err}
		}
		value := b.connection(role)
		value.Password, value.ExpiresAt, value.Status = password, until, SecretActive
		value.GrantID, value.IncidentID = holder.ID, holder.IncidentID
		_, stored, err := b.cfg.Secrets.PutPending(ctx, role, version, value)
		if err != nil {
			return Rotation{}, err
		}
		pending = version
		verifier, err := GenerateVerifier(b.cfg.Rand, stored.Password)
		if err != nil {
			return Rotation{}, &Error{Code: CodeInternal, Op: "scram verifier", Err: err}
		}
		return Rotation{VersionID: version, Verifier: verifier}, nil
	}
	publish := func(ctx context.Context, r Rotation) error {
		var err error
		published, err = b.promoteVersion(ctx, role, r.VersionID)
		return err
	}
	end, err := b.cfg.DB.EndGrants(ctx, role, ids, rotate, publish)
	var commitErr *CommitUncertainError
	switch {
	case errors.As(err, &commitErr):
		b.repairCurrent(ctx, role)
		return exp, 0, b.failed(ctx, rec, audit.EventPasswordExpired, &Error{Code: CodeUnavailable, Op: "end grants", Message: "the database did not commit; retry", Err: err})
	case err != nil:
		if pending != "" {
			b.repairCurrent(ctx, role) // AWSCURRENT may name the version the database did not take
			b.discardBestEffort(ctx, GrantRequest{Role: role, GrantID: pending})
		}
		return exp, 0, b.failed(ctx, rec, audit.EventPasswordExpired, err)
	case pending != "" && end.Rotated.VersionID == "":
		b.discardBestEffort(ctx, GrantRequest{Role: role, GrantID: pending}) // the role was expired instead
	}
	if len(end.Ended) == 0 {
		return exp, end.LiveLeft, nil // ended meanwhile by another call
	}
	exp.GrantsClosed = len(end.Ended)
	for _, g := range end.Ended {
		exp.EndedGrants = append(exp.EndedGrants, g.ID)
	}
	terminated, err := b.cfg.DB.Terminate(ctx, role)
	if err != nil {
		return exp, end.LiveLeft, b.failed(ctx, rec, audit.EventSessionsTerminated, err)
	}
	others, instErr := b.terminateEverywhere(ctx, role, end.LiveLeft > 0)
	terminated += others
	exp.SessionsTerminated = terminated
	for _, g := range end.Ended {
		r := rec
		r.Event, r.Outcome, r.GrantID, r.IncidentID = audit.EventGrantEnded, audit.OutcomeSuccess, g.ID, g.IncidentID
		r.Requester, r.RequesterKey, r.Approver, r.ApproverKey, r.ExpiresAt = g.Requester, g.RequesterKey, g.Approver, g.ApproverKey, g.ExpiresAt
		r.AccessRequestID, r.Message = g.RequestID, "grant ended: "+g.Reason
		b.writeBestEffort(ctx, r)
	}
	var tookBack *Expiry
	if end.LiveLeft == 0 {
		if err := b.takeBack(ctx, rec, exp, "grants ended: no live grant of the role left"); err != nil {
			return exp, 0, err
		}
		tookBack = &exp
	} else {
		exp.PasswordRotated, exp.SecretARN, exp.SecretVersion = true, published.ARN, published.VersionID
		if err := b.checkNoSessions(ctx, role); err != nil {
			return exp, end.LiveLeft, b.failed(ctx, rec, audit.EventSessionsTerminated, err)
		}
		rot := rec
		rot.Event, rot.Outcome, rot.GrantsClosed = audit.EventPasswordRotated, audit.OutcomeSuccess, audit.Count(exp.GrantsClosed)
		rot.SecretARN, rot.SecretVersion = published.ARN, published.VersionID
		rot.Message = "grants ended; the role's password rotated for the live grants left"
		b.writeBestEffort(ctx, rot)
		term := rec
		term.Event, term.Outcome, term.SessionsTerminated = audit.EventSessionsTerminated, audit.OutcomeSuccess, audit.Count(terminated)
		term.Message = "every session of the role terminated: a shared role's sessions cannot be told apart"
		b.writeBestEffort(ctx, term)
	}
	for _, g := range end.Ended {
		n := Notification{Kind: NotifyExpired, EndedBy: revokedBy,
			Request: AccessRequest{ID: g.RequestID, Role: role, IncidentID: g.IncidentID, Requester: g.Requester, RequesterKey: g.RequesterKey},
			Grant:   &IssueOutput{GrantID: g.ID, Role: role, ExpiresAt: g.ExpiresAt}}
		if g.Reason == "revoked" {
			n.Kind = NotifyRevoked
		}
		r := rec
		r.GrantID, r.IncidentID = g.ID, g.IncidentID
		if g.RequesterKey != "" {
			b.notify(ctx, r, n)
		}
	}
	if _, err := b.reconcile(ctx, rec, role, tookBack); err != nil {
		return exp, end.LiveLeft, b.failed(ctx, rec, audit.EventPasswordExpired, err)
	}
	inStep = true
	if instErr != nil {
		// The grants ended and the password is gone or rotated; the sweep retries the instances.
		return exp, end.LiveLeft, b.failed(ctx, rec, audit.EventSessionsTerminated, instErr)
	}
	return exp, end.LiveLeft, nil
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
	out := SweepOutput{Expired: []Expiry{}, Ended: []string{}, Repaired: []string{}, Warned: []string{}}
	rec := audit.Record{RequestID: requestID, Source: source}
	var errs []error
	reconciled := map[string]bool{}
	for _, role := range []string{b.cfg.Policy.RoleName(RoleRO), b.cfg.Policy.RoleName(RoleRW)} {
		// Grants whose expiry passed: each named and told; when the role has other
		// live grants, those keep access with a new password.
		exp, left, err := b.endGrants(ctx, rec, role, nil, "")
		switch {
		case err != nil:
			errs = append(errs, err)
		case exp.GrantsClosed > 0 && left == 0:
			out.Expired = append(out.Expired, exp)
		case exp.GrantsClosed > 0:
			out.Ended = append(out.Ended, exp.EndedGrants...)
		}
		reconciled[role] = err == nil && exp.GrantsClosed > 0
	}
	rows, err := b.cfg.DB.Sweep(ctx)
	if err != nil {
		return out, errors.Join(append(errs, err)...)
	}
	swept := make(map[string]SweepResult, len(rows))
	for _, r := range rows {
		swept[r.Role] = r
	}
	for _, role := range []string{b.cfg.Policy.RoleName(RoleRO), b.cfg.Policy.RoleName(RoleRW)} {
		var exp *Expiry
		others, err := b.terminateEverywhere(ctx, role, false)
		if err != nil {
			r := rec
			r.TargetRole = role
			errs = append(errs, b.failed(ctx, r, audit.EventSessionsTerminated, err))
		}
		sr, ok := swept[role]
		if !ok && others == 0 && reconciled[role] {
			continue // endGrants reconciled it in this pass
		}
		if ok && sr.Failure != "" {
			// The database could not take this role back; the other role's take-back stands.
			f := rec
			f.TargetRole = role
			errs = append(errs, b.failed(ctx, f, audit.EventPasswordExpired,
				Errorf(CodeUnavailable, "the database could not take %s back (%s); the next sweep tries again", role, sr.Failure)))
		} else if ok || others > 0 {
			exp = &Expiry{Role: role, GrantsClosed: sr.GrantsClosed, SessionsTerminated: sr.SessionsTerminated + others}
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
		case len(st.Live) > 0 && st.CurrentVersion != "" && ref.VersionID != st.CurrentVersion:
			// The role holds the password of the grant activated last (or the one it
			// was rotated to since); that version logs in.
			if _, err := b.promoteVersion(ctx, role, st.CurrentVersion); err != nil {
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
		if isLive[id] || id == current || id == st.Current || id == st.CurrentVersion {
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
