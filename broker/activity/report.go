package activity

import "time"

// Action is the policy's verdict on one role.
type Action string

// Verdicts.
const (
	// ActionActive: the role logged in recently enough; nothing to do.
	ActionActive Action = "active"
	// ActionExcluded: the role is never touched (RolePlan.Reason says why).
	ActionExcluded Action = "excluded"
	// ActionLocked: the job locked the role before; it waits for the drop.
	ActionLocked Action = "locked"
	// ActionReadyToDelete: the job marked the role before; a DBA decides.
	ActionReadyToDelete Action = "ready_to_delete"
	// ActionLock: lock the role (CONNECTION LIMIT 0).
	ActionLock Action = "lock"
	// ActionDrop: drop the role, which owns nothing and holds no privilege.
	ActionDrop Action = "drop"
	// ActionMark: lock the role if needed and mark it ready to delete; it owns
	// objects or holds privileges (RolePlan.Reason says which).
	ActionMark Action = "mark"
	// ActionUnlock: give back the logins of a role the job locked, whose login
	// dated before the lock was read from the log since (the lock was wrong).
	ActionUnlock Action = "unlock"
	// ActionLiveSession: the policy would act (RolePlan.Intended) but the role
	// has a live session, so it is left alone.
	ActionLiveSession Action = "live_session"
	// ActionCannotManage: the policy would act but the admin may not alter the
	// role (PostgreSQL 16+: no ADMIN OPTION on it), so it is left alone.
	ActionCannotManage Action = "cannot_manage"
)

// todo reports a verdict that changes the role.
func (a Action) todo() bool {
	return a == ActionLock || a == ActionDrop || a == ActionMark || a == ActionUnlock
}

// Result is what enforcing one action did.
type Result string

// Results.
const (
	// ResultLocked: the role was given CONNECTION LIMIT 0.
	ResultLocked Result = "locked"
	// ResultDropped: the role was dropped.
	ResultDropped Result = "dropped"
	// ResultMarked: the role was locked (if it was not) and marked ready to delete.
	ResultMarked Result = "marked"
	// ResultUnlocked: the role's connection limit from before the lock is back.
	ResultUnlocked Result = "unlocked"
	// ResultLiveSession: nothing done, the role has a live session.
	ResultLiveSession Result = "live_session"
	// ResultCannotManage: nothing done, the admin may not alter the role.
	ResultCannotManage Result = "cannot_manage"
	// ResultPlanChanged: nothing done, the policy's verdict changed since the plan
	// (a login was recorded, the role changed or is gone).
	ResultPlanChanged Result = "plan_changed"
	// ResultFailed: the database call failed; see the run's error.
	ResultFailed Result = "failed"
)

// Report is the outcome of one run, safe to return from the Lambda function and to
// log: role names, counts and times, no secret.
type Report struct {
	// RequestID is the run's request id.
	RequestID string `json:"request_id,omitempty"`
	// DryRun reports a run that changed no role.
	DryRun bool `json:"dry_run"`
	// StartedAt is when the run started (the Lambda's clock).
	StartedAt time.Time `json:"started_at"`
	// FinishedAt is when it ended.
	FinishedAt time.Time `json:"finished_at"`
	// Logs is the log reading; nil for a report without reading.
	Logs *LogReport `json:"logs,omitempty"`
	// Policy is the policy's part; nil when the run stopped before it.
	Policy *PolicyReport `json:"policy,omitempty"`
}

// LogReport counts what a run read.
type LogReport struct {
	// Group is the log group.
	Group string `json:"group"`
	// From is the start of the time range read: the checkpoint's time.
	From time.Time `json:"from"`
	// Until is the end of the range: the run's start less Options.LogDelay.
	Until time.Time `json:"until"`
	// Checkpoint is the checkpoint's time after the run.
	Checkpoint time.Time `json:"checkpoint"`
	// Pages counts FilterLogEvents calls that returned.
	Pages int `json:"pages"`
	// Events counts the new events recorded.
	Events int `json:"events"`
	// Skipped counts events a previous run had recorded (the overlap read again)
	// and events with an id the database cannot take.
	Skipped int `json:"skipped"`
	// Late counts the new events dated before the checkpoint: CloudWatch Logs
	// ingested them after a run had passed their time.
	Late int `json:"late"`
	// Reauthorized counts authorized lines, whose prefix splits more than one
	// way, that no server-written received line of their backend opened: a
	// second authorized line of a session already authorized (RAISE LOG), never
	// a login.
	Reauthorized int `json:"reauthorized"`
	// Received counts the new "connection received" lines.
	Received int `json:"received"`
	// Authorized counts the new "connection authorized" lines; each is a login
	// (Opened) or an attempt (Attempts) once its session's fate is known.
	Authorized int `json:"authorized"`
	// Opened counts the sessions settled as opened: logins recorded.
	Opened int `json:"opened"`
	// Attempts counts the sessions settled as refused (a FATAL of the same
	// backend followed their authorized line) or, where the server writes
	// "connection ready", never ready: recorded as attempts, not logins.
	Attempts int `json:"attempts"`
	// Ready counts PostgreSQL 18's "connection ready" lines.
	Ready int `json:"ready"`
	// Refused counts the FATAL lines that refuse a session after its
	// authorization (whether or not its authorized line was read).
	Refused int `json:"refused"`
	// Unprefixed counts authorized lines without Aurora's log_line_prefix: no
	// login is counted from them (their user cannot be checked).
	Unprefixed int `json:"unprefixed"`
	// Lookahead counts the events read past the window's end to settle the
	// sessions authorized just before it; they are read again by the next run.
	Lookahead int `json:"lookahead"`
	// Replication counts the replication logins among Authorized.
	Replication int `json:"replication"`
	// Authenticated counts "connection authenticated" lines.
	Authenticated int `json:"authenticated"`
	// Ambiguous counts authorized lines whose user could not be read for certain;
	// they are not recorded.
	Ambiguous int `json:"ambiguous"`
	// Other counts the lines that are not connection lines.
	Other int `json:"other"`
	// Invalid counts authorized lines (of Authorized) whose user no role can have:
	// over 63 bytes, a NUL, invalid UTF-8. They are not recorded.
	Invalid int `json:"invalid"`
	// FirefighterLogins counts the firefighter logins audited.
	FirefighterLogins int `json:"firefighter_logins"`
	// Unmatched counts the firefighter logins outside any live grant.
	Unmatched int `json:"unmatched"`
	// CaughtUp reports that the run read to Until.
	CaughtUp bool `json:"caught_up"`
	// Stopped says why a run that did not catch up stopped.
	Stopped string `json:"stopped,omitempty"`
}

// PolicyReport is the policy's part of a run.
type PolicyReport struct {
	// LockAfterDays is the policy's lock threshold; 0 never.
	LockAfterDays int `json:"lock_after_days"`
	// DropAfterDays is the policy's drop threshold; 0 never.
	DropAfterDays int `json:"drop_after_days"`
	// FloorLockDays and FloorDropDays are the admin's policy in the database
	// (db_admin.activity_policy), below which the thresholds are refused.
	FloorLockDays int `json:"floor_lock_days,omitempty"`
	FloorDropDays int `json:"floor_drop_days,omitempty"`
	// DropGrace is the least time between the job's lock of a role and its drop
	// (Options.DropGrace; the database holds its own floor, activity_set_drop_grace).
	DropGrace string `json:"drop_grace,omitempty"`
	// UnmatchedExclude lists the entries of the exclude list that name no role
	// (a typo protects nobody).
	UnmatchedExclude []string `json:"unmatched_exclude,omitempty"`
	// Applied reports that actions were carried out (not a dry run).
	Applied bool `json:"applied"`
	// Skipped says why the policy did not run (then Roles is empty).
	Skipped string `json:"skipped,omitempty"`
	// Stopped says why an apply stopped before the end of the plan (the roles
	// without a Result were not handled; the next run takes them up).
	Stopped string `json:"stopped,omitempty"`
	// Now is the policy's clock, db_admin.activity_now().
	Now time.Time `json:"now,omitzero"`
	// ClockShift is the clock's shift from the database clock: "0s" in
	// production; anything else is a drill or a test.
	ClockShift string `json:"clock_shift,omitempty"`
	// LogProof is the job's own newest login seen in the log.
	LogProof time.Time `json:"log_proof,omitzero"`
	// Roles are the verdicts, sorted by role name, with what was done.
	Roles []RoleReport `json:"roles,omitempty"`
}

// RoleReport is one role's verdict and, when it was carried out, its result.
type RoleReport struct {
	RolePlan
	// Result is what enforcing did; empty in a dry run or when there was nothing to do.
	Result Result `json:"result,omitempty"`
	// ResultReason is the database's explanation of the result.
	ResultReason string `json:"result_reason,omitempty"`
}

// Count returns how many roles have the verdict a.
func (p *PolicyReport) Count(a Action) int {
	n := 0
	for _, r := range p.Roles {
		if r.Action == a {
			n++
		}
	}
	return n
}

// Role returns the report of one role, or false.
func (p *PolicyReport) Role(name string) (RoleReport, bool) {
	for _, r := range p.Roles {
		if r.Role == name {
			return r, true
		}
	}
	return RoleReport{}, false
}
