package activity

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Store calls the db_admin activity functions of sql/008_*.sql, and nothing
// else, over one postgres.Session (one connection kept open between calls and
// reopened when it breaks). Every value travels as a parameter; no SQL text is
// built from log content.
type Store struct {
	sess *postgres.Session
}

// NewStore returns a store that connects through d (a *postgres.Connector with the
// activity monitor's login) when it first needs to.
func NewStore(d postgres.Dialer) *Store {
	return &Store{sess: postgres.NewSession(d, postgres.ActivityFunctions)}
}

// Close closes the connection, if one is open.
func (s *Store) Close(ctx context.Context) error { return s.sess.Close(ctx) }

// Checkpoint is the reader's progress in one log group.
type Checkpoint struct {
	// ThroughMs is the timestamp (Unix milliseconds) up to which every event is done.
	ThroughMs int64
	// IDs are the events at ThroughMs that are done.
	IDs []string
	// Version counts the commits; a commit must name the version it read.
	Version int64
	// Events and Logins count what every run so far has read and recorded.
	Events, Logins int64
	// UpdatedAt is the database time of the last commit.
	UpdatedAt time.Time
	// Pending are the sessions authorized before ThroughMs whose fate (opened or
	// refused) the log after ThroughMs tells.
	Pending []PendingSession
}

// PendingSession is an authorized line whose session may still be refused: the
// job waits for the lines that follow it (SettleWindow).
type PendingSession struct {
	// Stream is the log stream (one per instance).
	Stream string `json:"stream"`
	// Key is the line's Session: "%r:%u@%d:[%p]:" as written.
	Key []byte `json:"key"`
	// PID is the backend's pid.
	PID int `json:"pid"`
	// EventMs is the event's timestamp.
	EventMs int64 `json:"event_ms"`
	// Port is the client's port (%r); empty for a Unix socket.
	Port string `json:"port,omitempty"`
	// Login is what is recorded once the session is settled.
	Login Login `json:"login"`
	// Received marks a server-written "connection received" line whose
	// authorized line has not come yet (Login.Host, Port, PID and EventMs are
	// its address, backend and time; see pageState.authorize).
	Received bool `json:"received,omitempty"`
}

// Login is one login read from the log: a session that opened, or with Refused
// an attempt that the server refused after authorizing it.
type Login struct {
	// EventID is the CloudWatch Logs event id of the authorized line.
	EventID string `json:"event_id"`
	// Role is the user name as logged.
	Role string `json:"role"`
	// Time is when the login happened.
	Time time.Time `json:"time"`
	// Host is the client's address, or empty.
	Host string `json:"host,omitempty"`
	// Refused marks an attempt: the session did not open.
	Refused bool `json:"refused,omitempty"`
}

// FirefighterLogin is a login of a firefighter role and the grant that was live
// then; GrantID is empty when none was.
type FirefighterLogin struct {
	// EventID is the CloudWatch Logs event id.
	EventID string
	// Role is the firefighter role.
	Role string
	// Time is when the login happened.
	Time time.Time
	// Host is the client's address, or empty.
	Host string
	// GrantID, IncidentID, Requester, Approver and ExpiresAt describe the live grant.
	GrantID, IncidentID, Requester, Approver string
	// ExpiresAt is the live grant's expiry.
	ExpiresAt time.Time
}

// PageCommit is one page of the log to record.
type PageCommit struct {
	// Source is the log group.
	Source string
	// Version is the checkpoint version the page was read after (0: none yet).
	Version int64
	// ThroughMs is the checkpoint's timestamp after the page (Unix milliseconds).
	ThroughMs int64
	// IDs are the events at ThroughMs done after the page.
	IDs []string
	// Events counts the page's new events.
	Events int
	// Logins are the logins and attempts settled with the page.
	Logins []Login
	// Pending are the sessions not settled yet, kept in the checkpoint.
	Pending []PendingSession
}

// Policy is the inactivity policy the database applies.
type Policy struct {
	// LockAfterDays locks a role after this many days without a login; 0 never.
	LockAfterDays int
	// DropAfterDays drops (or marks) a role after this many days; 0 never.
	DropAfterDays int
	// Exclude names roles to leave alone, on top of the built-in exclusions.
	Exclude []string
}

// RolePlan is the policy's verdict on one role.
type RolePlan struct {
	// Role is the role's name.
	Role string `json:"role"`
	// Action is the verdict.
	Action Action `json:"action"`
	// Intended is what the policy would do when Action says it is blocked
	// (live_session, cannot_manage), and equals Action for lock, drop and mark.
	Intended Action `json:"intended,omitempty"`
	// LastLogin is the last login (or when the job first saw the role).
	LastLogin time.Time `json:"last_login"`
	// LastLogLogin is the newest login seen in the log; zero if none.
	LastLogLogin time.Time `json:"last_log_login,omitzero"`
	// LastAttempt is the newest session seen in the log that did not open (the
	// server refused it after authorizing it, or the job had locked the role).
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	// InactiveDays is the policy's clock minus LastLogin, in days.
	InactiveDays float64 `json:"inactive_days"`
	// Status is the job's state of the role: active, locked or ready_to_delete.
	Status string `json:"status"`
	// ConnectionLimit is the role's CONNECTION LIMIT now (-1: none).
	ConnectionLimit int `json:"connection_limit"`
	// PreviousConnectionLimit is the limit before the job locked it, when locked.
	PreviousConnectionLimit *int `json:"previous_connection_limit,omitempty"`
	// Reason explains an exclusion, a block or what keeps a role from being dropped.
	Reason string `json:"reason,omitempty"`
	// LockedAt is when the job locked the role (the policy's clock); zero if not.
	LockedAt time.Time `json:"locked_at,omitzero"`
}

// Enforcement is what the database did for one planned action.
type Enforcement struct {
	// Role is the role.
	Role string `json:"role"`
	// Result is what happened.
	Result Result `json:"result"`
	// PreviousConnectionLimit is the limit before the lock (what Unlock restores).
	PreviousConnectionLimit *int `json:"previous_connection_limit,omitempty"`
	// Reason is the database's explanation of a block, a failed drop or a changed plan.
	Reason string `json:"reason,omitempty"`
}

// Checkpoint reads the checkpoint of source; ok is false before its first commit.
func (s *Store) Checkpoint(ctx context.Context, source string) (Checkpoint, bool, error) {
	var c Checkpoint
	found := false
	err := s.with(ctx, "read checkpoint", func(conn *pgx.Conn) error {
		var pending []byte
		err := conn.QueryRow(ctx, `SELECT through_ms, ids_at_through, version, events, logins, updated_at, pending FROM db_admin.activity_checkpoint($1)`,
			source).Scan(&c.ThroughMs, &c.IDs, &c.Version, &c.Events, &c.Logins, &c.UpdatedAt, &pending)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err == nil {
			err = json.Unmarshal(pending, &c.Pending)
		}
		found = err == nil
		return err
	})
	return c, found, err
}

// CommitPage records a page in one transaction: it moves the checkpoint (if it is
// still at p.Version, else a CodeConflict error), records the logins, and hands the
// firefighter logins recorded for the first time to observe (which writes their
// audit records) before it commits. An error from observe rolls everything back.
// It returns the checkpoint's new version.
func (s *Store) CommitPage(ctx context.Context, p PageCommit, observe func(context.Context, []FirefighterLogin) error) (int64, error) {
	ids, roles, hosts := make([]string, len(p.Logins)), make([]string, len(p.Logins)), make([]string, len(p.Logins))
	times, opened := make([]time.Time, len(p.Logins)), make([]bool, len(p.Logins))
	logins := 0
	for i, l := range p.Logins {
		ids[i], roles[i], times[i], hosts[i], opened[i] = l.EventID, l.Role, l.Time, l.Host, !l.Refused
		if !l.Refused {
			logins++
		}
	}
	pending := p.Pending
	if pending == nil {
		pending = []PendingSession{}
	}
	pendingJSON, err := json.Marshal(pending)
	if err != nil {
		return 0, &broker.Error{Code: broker.CodeInternal, Op: "activity: commit page", Err: err}
	}
	pageIDs := p.IDs
	if pageIDs == nil {
		pageIDs = []string{}
	}
	var version int64
	err = s.with(ctx, "commit page", func(conn *pgx.Conn) error {
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, `SELECT db_admin.activity_commit_page($1, $2, $3, $4, $5, $6, $7)`,
				p.Source, p.Version, p.ThroughMs, pageIDs, p.Events, logins, string(pendingJSON)).Scan(&version); err != nil {
				return err
			}
			rows, err := tx.Query(ctx, `SELECT event_id, role::text, login_at, host, grant_id, incident_id, requester, approver, expires_at
				FROM db_admin.activity_record_logins($1, $2, $3, $4, $5, $6)`, p.Source, ids, roles, times, hosts, opened)
			if err != nil {
				return err
			}
			ff, err := pgx.CollectRows(rows, scanFirefighterLogin)
			if err != nil {
				return err
			}
			if len(ff) > 0 && observe != nil {
				if err := observe(ctx, ff); err != nil {
					return postgres.Passthrough(err)
				}
			}
			return nil
		})
	})
	return version, err
}

func scanFirefighterLogin(row pgx.CollectableRow) (FirefighterLogin, error) {
	var f FirefighterLogin
	var host, incident, requester, approver pgtype.Text
	var grant pgtype.UUID
	var expires pgtype.Timestamptz
	if err := row.Scan(&f.EventID, &f.Role, &f.Time, &host, &grant, &incident, &requester, &approver, &expires); err != nil {
		return f, err
	}
	f.Host, f.IncidentID, f.Requester, f.Approver = host.String, incident.String, requester.String, approver.String
	if grant.Valid {
		f.GrantID = grant.String()
	}
	if expires.Valid {
		f.ExpiresAt = expires.Time
	}
	return f, nil
}

// LogProof returns the newest login of the store's own role seen in the log; ok is
// false when there is none yet.
func (s *Store) LogProof(ctx context.Context) (time.Time, bool, error) {
	var t pgtype.Timestamptz
	err := s.with(ctx, "read log proof", func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT db_admin.activity_log_proof()`).Scan(&t)
	})
	return t.Time, t.Valid, err
}

// DBPolicy is the admin's inactivity policy (db_admin.activity_policy): the floor
// of the job's thresholds.
type DBPolicy struct {
	// LockAfterDays and DropAfterDays are the policy's thresholds; 0 never.
	LockAfterDays, DropAfterDays int
	// UpdatedAt is when the admin last set it.
	UpdatedAt time.Time
}

// Policy reads the admin's policy; ok is false when there is none (then every
// plan is refused).
func (s *Store) Policy(ctx context.Context) (DBPolicy, bool, error) {
	var p DBPolicy
	found := false
	err := s.with(ctx, "read policy", func(conn *pgx.Conn) error {
		err := conn.QueryRow(ctx, `SELECT lock_after_days, drop_after_days, updated_at FROM db_admin.activity_policy()`).
			Scan(&p.LockAfterDays, &p.DropAfterDays, &p.UpdatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	return p, found, err
}

// Clock returns the policy's clock (db_admin.activity_now()) and the admin's shift
// of it (zero in production).
func (s *Store) Clock(ctx context.Context) (time.Time, time.Duration, error) {
	var now time.Time
	var shift pgtype.Interval
	err := s.with(ctx, "read clock", func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT db_admin.activity_now(), db_admin.activity_clock_shift()`).Scan(&now, &shift)
	})
	d := time.Duration(shift.Microseconds)*time.Microsecond + time.Duration(shift.Days)*24*time.Hour +
		time.Duration(shift.Months)*30*24*time.Hour
	return now, d, err
}

// Plan returns the policy's verdict on every tracked login role, sorted by name.
// It changes no role (it brings the job's tracking of roles up to date).
func (s *Store) Plan(ctx context.Context, p Policy) ([]RolePlan, error) {
	var plan []RolePlan
	err := s.with(ctx, "plan", func(conn *pgx.Conn) error {
		rows, err := conn.Query(ctx, `SELECT role::text, action, intended, last_login, last_log_login, inactive_days, status,
			connection_limit, previous_conn_limit, reason, last_attempt, locked_at FROM db_admin.activity_plan($1, $2, $3)`,
			p.LockAfterDays, p.DropAfterDays, exclude(p.Exclude))
		if err != nil {
			return err
		}
		plan, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (RolePlan, error) {
			var r RolePlan
			var intended, reason pgtype.Text
			var logLogin, attempt, locked pgtype.Timestamptz
			var prev pgtype.Int4
			err := row.Scan(&r.Role, &r.Action, &intended, &r.LastLogin, &logLogin, &r.InactiveDays, &r.Status,
				&r.ConnectionLimit, &prev, &reason, &attempt, &locked)
			if locked.Valid {
				r.LockedAt = locked.Time
			}
			r.Intended, r.Reason = Action(intended.String), reason.String
			if attempt.Valid {
				r.LastAttempt = attempt.Time
			}
			if logLogin.Valid {
				r.LastLogLogin = logLogin.Time
			}
			if prev.Valid {
				v := int(prev.Int32)
				r.PreviousConnectionLimit = &v
			}
			return r, err
		})
		return err
	})
	return plan, err
}

// Enforce carries out one planned action on one role. The database decides again
// under the role's lock with the same policy and acts only if the verdict is still
// action; a block or a changed plan is a Result, not an error.
func (s *Store) Enforce(ctx context.Context, p Policy, role string, action Action) (Enforcement, error) {
	var e Enforcement
	err := s.with(ctx, "enforce", func(conn *pgx.Conn) error {
		var prev pgtype.Int4
		var reason pgtype.Text
		err := conn.QueryRow(ctx, `SELECT role::text, result, previous_conn_limit, reason FROM db_admin.activity_enforce($1, $2, $3, $4, $5)`,
			role, string(action), p.LockAfterDays, p.DropAfterDays, exclude(p.Exclude)).Scan(&e.Role, &e.Result, &prev, &reason)
		if prev.Valid {
			v := int(prev.Int32)
			e.PreviousConnectionLimit = &v
		}
		e.Reason = reason.String
		return err
	})
	return e, err
}

// Unlock gives a role the job locked its logins back and returns the connection
// limit restored. Errors: CodeNotFound (no such role), CodeConflict (the job did not
// lock it), CodeForbidden (the admin may not alter it).
func (s *Store) Unlock(ctx context.Context, role string) (int, error) {
	var limit int
	err := s.with(ctx, "unlock", func(conn *pgx.Conn) error {
		var name string
		return conn.QueryRow(ctx, `SELECT role::text, connection_limit FROM db_admin.activity_unlock($1)`, role).Scan(&name, &limit)
	})
	return limit, err
}

func exclude(names []string) []string {
	if names == nil {
		return []string{}
	}
	return names
}

// with runs fn on the store's session (see postgres.Session.Do for its retry and
// its errors, all *broker.Error but observe's).
func (s *Store) with(ctx context.Context, op string, fn func(*pgx.Conn) error) error {
	return s.sess.Do(ctx, "activity: "+op, fn)
}
