package activity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

// Audit error codes of the activity job (audit.Record.ErrorCode).
const (
	// ErrCodeNoLiveGrant flags a firefighter login outside any live grant.
	ErrCodeNoLiveGrant = "no_live_grant"
	// ErrCodeLiveSession: the policy left a role with a live session alone.
	ErrCodeLiveSession = "live_session"
	// ErrCodeCannotManage: the admin may not alter the role (PostgreSQL 16+
	// without ADMIN OPTION on it).
	ErrCodeCannotManage = "cannot_manage"
	// ErrCodeHasDependents: a drop found objects or privileges; the role was marked.
	ErrCodeHasDependents = "has_dependents"
	// ErrCodePlanChanged: the verdict changed between the plan and the action.
	ErrCodePlanChanged = "plan_changed"
)

// plan reads the policy's clock, the log proof and the verdicts.
func (j *Job) plan(ctx context.Context, opts Options) (*PolicyReport, []RolePlan, error) {
	pr := &PolicyReport{LockAfterDays: opts.LockAfterDays, DropAfterDays: opts.DropAfterDays}
	now, shift, err := j.store.Clock(ctx)
	if err != nil {
		return pr, nil, err
	}
	pr.Now, pr.ClockShift = now, shift.String()
	proof, ok, err := j.store.LogProof(ctx)
	if err != nil {
		return pr, nil, err
	}
	if ok {
		pr.LogProof = proof
	}
	if dbp, ok, err := j.store.Policy(ctx); err != nil {
		return pr, nil, err
	} else if ok {
		pr.FloorLockDays, pr.FloorDropDays = dbp.LockAfterDays, dbp.DropAfterDays
	}
	plan, err := j.store.Plan(ctx, opts.policy())
	if err == nil {
		pr.DropGrace = opts.DropGrace.String()
		pr.UnmatchedExclude = unmatchedExclude(opts.Exclude, plan)
		for i := range plan {
			holdForGrace(&plan[i], now, opts.DropGrace)
		}
		plan, err = j.checkInstances(ctx, plan)
	}
	if broker.ErrorCode(err) == broker.CodeForbidden {
		// Options looser than the admin's policy: refused, nothing changed.
		r := audit.Record{Event: audit.EventRequestRejected, Outcome: audit.OutcomeRejected, RequestID: opts.RequestID,
			Source: opts.Source, ErrorCode: string(broker.CodeForbidden),
			Message: fmt.Sprintf("activity thresholds lock %d / drop %d days refused: looser than the database's policy (%d / %d)",
				opts.LockAfterDays, opts.DropAfterDays, pr.FloorLockDays, pr.FloorDropDays)}
		if werr := j.writeAudit(ctx, []audit.Record{r}); werr != nil {
			return pr, nil, errors.Join(err, werr)
		}
	}
	return pr, plan, err
}

// holdForGrace turns a drop of a role locked less than grace ago (by the policy's
// clock) into a wait: the database holds a floor of its own (FFB21), and the
// job's setting may only be stricter.
func holdForGrace(p *RolePlan, now time.Time, grace time.Duration) {
	if p.Action != ActionDrop || p.LockedAt.IsZero() || !now.Before(p.LockedAt.Add(grace)) {
		return
	}
	p.Action, p.Intended = ActionLocked, ""
	p.Reason = fmt.Sprintf("locked at %s; dropped no sooner than %s later (the drop grace)",
		p.LockedAt.UTC().Format(time.RFC3339), grace)
}

// unmatchedExclude returns the exclude list's entries that name no login role
// (names are compared exactly: PostgreSQL role names are case-sensitive).
func unmatchedExclude(exclude []string, plan []RolePlan) []string {
	roles := make(map[string]bool, len(plan))
	for _, p := range plan {
		roles[p.Role] = true
	}
	var out []string
	for _, n := range exclude {
		if !roles[n] {
			out = append(out, n)
		}
	}
	return out
}

// runPolicy plans and, unless it is a dry run, carries out the plan, role by role:
// an intent record first (if it cannot be written, nothing more happens), the
// action, its result record. A role that cannot be handled does not stop the others;
// the errors are returned together at the end. Blocked verdicts get one record each.
// Near the deadline (less than opts.Reserve left) the policy stops between roles.
func (j *Job) runPolicy(ctx context.Context, opts Options) (*PolicyReport, error) {
	if opts.LockAfterDays == 0 && opts.DropAfterDays == 0 {
		return &PolicyReport{Skipped: "the policy is off (no lock or drop days)"}, nil
	}
	if j.budget(ctx, opts) <= 0 {
		return &PolicyReport{LockAfterDays: opts.LockAfterDays, DropAfterDays: opts.DropAfterDays,
			Skipped: "time budget: the context's deadline is near"}, nil
	}
	pr, plan, err := j.plan(ctx, opts)
	if err != nil {
		return pr, err
	}
	if opts.MaxLogSilence >= 0 {
		switch {
		case pr.LogProof.IsZero():
			pr.Skipped = "no login of the job's own role in the connection log yet: the log does not prove anybody inactive"
			return pr, nil
		case j.now().Sub(pr.LogProof) > opts.MaxLogSilence:
			pr.Skipped = fmt.Sprintf("the job's own newest login in the connection log is older than %s: the log may not reach the job", opts.MaxLogSilence)
			return pr, nil
		}
	}
	pr.Applied = opts.Apply
	for _, p := range plan {
		pr.Roles = append(pr.Roles, RoleReport{RolePlan: p})
	}
	if !opts.Apply {
		var records []audit.Record
		for _, p := range plan {
			if p.Intended != "" {
				r := roleRecord(opts, p.Role, p.Intended, audit.OutcomeDryRun, "would "+string(p.Intended)+" the inactive role")
				if p.Intended == ActionUnlock {
					r.Message = "would unlock the role: " + p.Reason
				}
				r.ErrorCode = blockCode(p.Action)
				records = append(records, r)
			}
		}
		return pr, j.writeAudit(ctx, records)
	}

	var blocked []audit.Record
	for _, p := range plan {
		if !p.Action.todo() && p.Intended != "" {
			blocked = append(blocked, blockedRecord(opts, p.Role, p.Intended, Result(p.Action)))
		}
	}
	if err := j.writeAudit(ctx, blocked); err != nil {
		return pr, err
	}
	var errs []error
	for i := range pr.Roles {
		rr := &pr.Roles[i]
		if !rr.Action.todo() {
			continue
		}
		if j.budget(ctx, opts) <= 0 {
			pr.Stopped = "time budget: the context's deadline is near; the next run continues"
			break
		}
		intent := roleRecord(opts, rr.Role, rr.Action, audit.OutcomePending, string(rr.Action)+" the inactive role")
		if rr.Action == ActionUnlock {
			intent.Message = "unlock the role: " + rr.Reason
		}
		if err := j.writeAudit(ctx, []audit.Record{intent}); err != nil {
			return pr, errors.Join(append(errs, err)...)
		}
		e, err := j.store.Enforce(ctx, opts.policy(), rr.Role, rr.Action)
		if err != nil {
			rr.Result = ResultFailed
			errs = append(errs, err)
			r := roleRecord(opts, rr.Role, rr.Action, audit.OutcomeFailure, "the database refused the action")
			r.ErrorCode = string(broker.ErrorCode(err))
			if werr := j.writeAudit(ctx, []audit.Record{r}); werr != nil {
				return pr, errors.Join(append(errs, werr)...)
			}
			continue
		}
		rr.Result, rr.ResultReason = e.Result, e.Reason
		if e.PreviousConnectionLimit != nil {
			rr.PreviousConnectionLimit = e.PreviousConnectionLimit
		}
		records := resultRecords(opts, rr.Role, rr.Action, e.Result)
		if e.Result == ResultUnlocked {
			records[0].Message += ": " + e.Reason
		}
		if err := j.writeAudit(ctx, records); err != nil {
			return pr, errors.Join(append(errs, err)...)
		}
	}
	return pr, errors.Join(errs...)
}

// resultRecords are the audit records of one enforced action.
func resultRecords(opts Options, role string, intended Action, res Result) []audit.Record {
	switch res {
	case ResultLocked:
		return []audit.Record{roleRecord(opts, role, intended, audit.OutcomeSuccess, "locked the inactive role: connection limit 0")}
	case ResultDropped:
		return []audit.Record{roleRecord(opts, role, intended, audit.OutcomeSuccess, "dropped the inactive role")}
	case ResultUnlocked:
		return []audit.Record{roleRecord(opts, role, intended, audit.OutcomeSuccess,
			"unlocked the role the job had locked: its connection limit from before the lock is back")}
	case ResultMarked:
		marked := roleRecord(opts, role, ActionMark, audit.OutcomeSuccess, "locked the inactive role and marked it ready to delete")
		if intended != ActionDrop {
			return []audit.Record{marked}
		}
		failed := roleRecord(opts, role, ActionDrop, audit.OutcomeFailure, "objects or privileges depend on the role")
		failed.ErrorCode = ErrCodeHasDependents
		return []audit.Record{failed, marked}
	default:
		return []audit.Record{blockedRecord(opts, role, intended, res)}
	}
}

// blockedRecord records an action the policy wanted and did not take.
func blockedRecord(opts Options, role string, intended Action, res Result) audit.Record {
	switch res {
	case ResultCannotManage:
		r := roleRecord(opts, role, intended, audit.OutcomeFailure, "the admin may not alter the role")
		r.ErrorCode = ErrCodeCannotManage
		return r
	case ResultLiveSession:
		r := roleRecord(opts, role, intended, audit.OutcomeDenied, "the role has a live session")
		r.ErrorCode = ErrCodeLiveSession
		return r
	default:
		r := roleRecord(opts, role, intended, audit.OutcomeDenied, "the policy's verdict changed before the action")
		r.ErrorCode = ErrCodePlanChanged
		return r
	}
}

// blockCode is the audit error code of a blocked verdict, or "".
func blockCode(a Action) string {
	switch a {
	case ActionLiveSession:
		return ErrCodeLiveSession
	case ActionCannotManage:
		return ErrCodeCannotManage
	}
	return ""
}

// roleRecord is the audit record of an action on a role.
func roleRecord(opts Options, role string, a Action, outcome audit.Outcome, message string) audit.Record {
	ev := audit.EventRoleLocked
	switch a {
	case ActionDrop:
		ev = audit.EventRoleDropped
	case ActionMark:
		ev = audit.EventRoleMarked
	case ActionUnlock:
		ev = audit.EventRoleUnlocked
	}
	return audit.Record{Event: ev, Outcome: outcome, RequestID: opts.RequestID, TargetRole: role,
		Source: opts.Source, Message: message}
}

func (j *Job) writeAudit(ctx context.Context, records []audit.Record) error {
	if len(records) == 0 {
		return nil
	}
	now := j.now()
	for i := range records {
		if records[i].Time.IsZero() {
			records[i].Time = now
		}
	}
	if err := audit.WriteAll(ctx, j.audit, records); err != nil {
		return &broker.Error{Code: broker.CodeUnavailable, Message: "cannot write the audit records of the policy",
			Op: "activity: audit", Err: err}
	}
	return nil
}

// UnlockInput names the role to unlock and who asks.
type UnlockInput struct {
	// Role is the role the job locked.
	Role string
	// Source names the entry point in the audit records; empty means cli.
	Source audit.Source
	// RequestID is the request id for the audit records.
	RequestID string
	// Requester is the authenticated caller, for the audit records.
	Requester string
}

// UnlockResult is the answer of Unlock.
type UnlockResult struct {
	// Role is the role unlocked.
	Role string `json:"role"`
	// ConnectionLimit is the limit restored (the one it had before the lock).
	ConnectionLimit int `json:"connection_limit"`
	// At is when, by the Lambda's (or CLI's) clock.
	At time.Time `json:"at"`
}

// Unlock gives a role the job locked its logins back: its connection limit from
// before the lock, and a fresh start of its inactivity count. An intent record is
// written first (if it cannot be, nothing changes), then the result. Errors are
// *broker.Error: CodeInvalidRequest, CodeNotFound (no such role), CodeConflict (the
// job did not lock it), CodeForbidden (the admin may not alter it).
func (j *Job) Unlock(ctx context.Context, in UnlockInput) (UnlockResult, error) {
	if in.Source == "" {
		in.Source = audit.SourceCLI
	}
	if in.Role == "" || len(in.Role) > 63 {
		return UnlockResult{}, broker.Errorf(broker.CodeInvalidRole, "role must be 1-63 bytes")
	}
	rec := audit.Record{Event: audit.EventRoleUnlocked, Outcome: audit.OutcomePending, RequestID: in.RequestID,
		Requester: in.Requester, TargetRole: in.Role, Source: in.Source, Message: "unlock the role"}
	if err := j.writeAudit(ctx, []audit.Record{rec}); err != nil {
		return UnlockResult{}, err
	}
	limit, err := j.store.Unlock(ctx, in.Role)
	rec.Time = time.Time{}
	if err != nil {
		rec.Outcome, rec.ErrorCode, rec.Message = audit.OutcomeFailure, string(broker.ErrorCode(err)), "the role was not unlocked"
		switch broker.ErrorCode(err) {
		case broker.CodeNotFound, broker.CodeConflict, broker.CodeForbidden:
			rec.Outcome = audit.OutcomeDenied
		}
		if werr := j.writeAudit(ctx, []audit.Record{rec}); werr != nil {
			return UnlockResult{}, errors.Join(err, werr)
		}
		return UnlockResult{}, err
	}
	rec.Outcome, rec.Message = audit.OutcomeSuccess, "unlocked the role: its connection limit is restored"
	res := UnlockResult{Role: in.Role, ConnectionLimit: limit, At: j.now()}
	return res, j.writeAudit(ctx, []audit.Record{rec})
}
