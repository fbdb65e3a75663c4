package broker

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// Dialer opens a new connection to the database as the broker's login.
type Dialer interface {
	Connect(ctx context.Context) (*pgx.Conn, error)
}

// PGStore calls the db_admin functions of sql/ over one connection, kept open between
// calls (one per warm Lambda) and reopened when it breaks.
type PGStore struct {
	dialer Dialer
	mu     sync.Mutex
	conn   *pgx.Conn
}

// NewPGStore returns a store that connects through d when it first needs to.
func NewPGStore(d Dialer) *PGStore { return &PGStore{dialer: d} }

// GrantRequest is what the database needs to reserve or activate a grant.
type GrantRequest struct {
	GrantID    string
	Role       string
	Hours      int
	IncidentID string
	// Requester and RequesterKey are the verified requester and its principal key.
	Requester    string
	RequesterKey string
	// RequestID is the approved request a role that needs approval is issued
	// against; the database takes the approver from its approval ledger.
	RequestID string
}

// ExtendRequest is what the database needs to extend a live grant: the requester's
// grant of Role for IncidentID gets Hours more from now; RequestID is the approved
// extension request for a role that needs approval.
type ExtendRequest struct {
	Role         string
	IncidentID   string
	Hours        int
	Requester    string
	RequesterKey string
	RequestID    string
}

// Extension is the answer of ExtendGrant.
type Extension struct {
	GrantID           string
	PreviousExpiresAt time.Time
	ExpiresAt         time.Time
	// ValidUntil is the role's VALID UNTIL after the extension.
	ValidUntil time.Time
	// Approver approved the extension (or the grant), if anyone did.
	Approver string
	// Reused reports a retry of an extension already carried out.
	Reused bool
}

// Reservation is the answer of ReserveGrant.
type Reservation struct {
	// GrantID is the reserved grant, or the live grant returned instead.
	GrantID string
	// ExpiresAt was fixed from the database clock.
	ExpiresAt time.Time
	// Active reports a live grant that the caller should reuse instead of issuing.
	Active bool
}

// Activation is the answer of ActivateGrant.
type Activation struct {
	GrantID   string
	ExpiresAt time.Time
	// ValidUntil is the role's VALID UNTIL: the latest expiry of its live grants.
	ValidUntil time.Time
	// Reused reports that the grant was already active (a retry) or that a live grant
	// of the same role and incident was returned: the password was not changed.
	Reused bool
}

// SweepResult is one role the sweep took back.
type SweepResult struct {
	Role               string
	GrantsClosed       int
	SessionsTerminated int
}

// RoleStatus is the state of one firefighter role.
type RoleStatus struct {
	Role string
	// ValidUntil is the role's VALID UNTIL; the epoch means expired.
	ValidUntil time.Time
	// NoExpiry reports a password with no VALID UNTIL (never set by the broker).
	NoExpiry   bool
	LiveGrants int
	Sessions   int
}

// ReserveGrant calls db_admin.reserve_firefighter_grant.
func (s *PGStore) ReserveGrant(ctx context.Context, r GrantRequest) (Reservation, error) {
	var res Reservation
	var state string
	err := s.with(ctx, "reserve grant", func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT grant_id::text, expires_at, state FROM db_admin.reserve_firefighter_grant($1, $2, $3, $4, $5, $6, $7)`,
			r.GrantID, r.Role, r.Hours, nullable(r.IncidentID), r.Requester, nullable(r.RequesterKey), nullable(r.RequestID)).Scan(&res.GrantID, &res.ExpiresAt, &state)
	})
	res.Active = state == "active"
	return res, err
}

// ActivateGrant calls db_admin.issue_firefighter_password with the verifier in a
// transaction that stays open while publish runs: the function takes the role's
// advisory lock, so concurrent issues for one role set the password and publish its
// secret in the same order, and a publish that fails rolls the password back. The
// commit is the point where the grant exists. publish is not called when the grant
// was already active (a retry) or another live grant was returned.
func (s *PGStore) ActivateGrant(ctx context.Context, r GrantRequest, v Verifier, publish func(context.Context) error) (Activation, error) {
	var a Activation
	err := s.with(ctx, "activate grant", func(c *pgx.Conn) error {
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.Background())
		err = tx.QueryRow(ctx, `SELECT grant_id::text, expires_at, valid_until, reused FROM db_admin.issue_firefighter_password($1, $2, $3, $4, $5, $6, $7, $8)`,
			r.GrantID, r.Role, v.Reveal(), r.Hours, nullable(r.IncidentID), r.Requester, nullable(r.RequesterKey), nullable(r.RequestID)).Scan(&a.GrantID, &a.ExpiresAt, &a.ValidUntil, &a.Reused)
		if err != nil {
			return err
		}
		if !a.Reused && publish != nil {
			if err := publish(ctx); err != nil {
				return err
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return &commitError{err: err}
		}
		return nil
	})
	return a, err
}

// commitError reports a commit that failed after publish succeeded: the secret may
// name a password the database does not hold, and the caller must repair it.
type commitError struct{ err error }

func (e *commitError) Error() string { return "commit failed: " + e.err.Error() }
func (e *commitError) Unwrap() error { return e.err }

// RoleState is a role's grants as read under its lock.
type RoleState struct {
	// Live are the role's live grants.
	Live []Grant
	// Current is the grant whose password the role holds (activated last since the
	// role was last expired, possibly ended already); empty when none.
	Current string
}

// WithRoleLock runs fn while a transaction holds role's lock (the one every issue of
// the role holds from its activation to its commit), passing the role's state as read
// under the lock. fn changes the role's secret; no issue activates meanwhile.
func (s *PGStore) WithRoleLock(ctx context.Context, role string, fn func(ctx context.Context, st RoleState) error) error {
	return s.with(ctx, "lock role", func(c *pgx.Conn) error {
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.Background())
		if _, err := tx.Exec(ctx, `SELECT db_admin.lock_firefighter_role($1)`, role); err != nil {
			return err
		}
		grants, err := liveGrants(ctx, tx)
		if err != nil {
			return err
		}
		var st RoleState
		for _, g := range grants {
			if g.Role == role {
				st.Live = append(st.Live, g)
			}
		}
		var current *string
		if err := tx.QueryRow(ctx, `SELECT db_admin.current_firefighter_grant($1)::text`, role).Scan(&current); err != nil {
			return err
		}
		if current != nil {
			st.Current = *current
		}
		if err := fn(ctx, st); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
}

// LiveGrants lists the live grants of both roles.
func (s *PGStore) LiveGrants(ctx context.Context) ([]Grant, error) {
	var out []Grant
	err := s.with(ctx, "list live grants", func(c *pgx.Conn) error {
		var err error
		out, err = liveGrants(ctx, c)
		return err
	})
	return out, err
}

// querier is a connection or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func liveGrants(ctx context.Context, q querier) ([]Grant, error) {
	rows, err := q.Query(ctx, `SELECT grant_id::text, role, coalesce(incident_id, ''), requester, coalesce(approver, ''), issued_at, expires_at, activated_at,
		coalesce(requester_key, ''), coalesce(approver_key, '') FROM db_admin.live_firefighter_grants()`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Grant, error) {
		var g Grant
		err := r.Scan(&g.ID, &g.Role, &g.IncidentID, &g.Requester, &g.Approver, &g.IssuedAt, &g.ExpiresAt, &g.ActivatedAt, &g.RequesterKey, &g.ApproverKey)
		return g, err
	})
}

// Expire calls db_admin.expire_firefighter_password and returns the grants it closed.
func (s *PGStore) Expire(ctx context.Context, role string) (int, error) {
	var n int
	err := s.with(ctx, "expire password", func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT db_admin.expire_firefighter_password($1)`, role).Scan(&n)
	})
	return n, err
}

// Terminate calls db_admin.terminate_firefighter_sessions and returns the sessions it
// ended.
func (s *PGStore) Terminate(ctx context.Context, role string) (int, error) {
	var n int
	err := s.with(ctx, "terminate sessions", func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT db_admin.terminate_firefighter_sessions($1)`, role).Scan(&n)
	})
	return n, err
}

// Sweep calls db_admin.sweep_expired_firefighters.
func (s *PGStore) Sweep(ctx context.Context) ([]SweepResult, error) {
	var out []SweepResult
	err := s.with(ctx, "sweep", func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT role, grants_closed, sessions_terminated FROM db_admin.sweep_expired_firefighters()`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (SweepResult, error) {
			var x SweepResult
			err := r.Scan(&x.Role, &x.GrantsClosed, &x.SessionsTerminated)
			return x, err
		})
		return err
	})
	return out, err
}

// Status calls db_admin.firefighter_status.
func (s *PGStore) Status(ctx context.Context) ([]RoleStatus, error) {
	var out []RoleStatus
	err := s.with(ctx, "status", func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT role, valid_until, live_grants, sessions FROM db_admin.firefighter_status()`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (RoleStatus, error) {
			var x RoleStatus
			var until pgtype.Timestamptz
			err := r.Scan(&x.Role, &until, &x.LiveGrants, &x.Sessions)
			x.NoExpiry = !until.Valid || until.InfinityModifier == pgtype.Infinity
			if !x.NoExpiry {
				x.ValidUntil = until.Time
			}
			return x, err
		})
		return err
	})
	return out, err
}

// Close closes the connection, if one is open.
func (s *PGStore) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close(ctx)
	s.conn = nil
	return err
}

// with runs fn on the store's connection, opening it when needed. A broken connection
// is dropped, and fn is tried once more on a new one when the failure happened before
// anything reached the server.
func (s *PGStore) with(ctx context.Context, op string, fn func(*pgx.Conn) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if s.conn == nil || s.conn.IsClosed() {
			c, err := s.dialer.Connect(ctx)
			if err != nil {
				return withOp(err, op)
			}
			s.conn = c
		}
		err := fn(s.conn)
		if err == nil {
			return nil
		}
		if s.conn.IsClosed() || isConnectionError(err) {
			s.conn.Close(context.Background())
			s.conn = nil
			if attempt == 0 && pgconn.SafeToRetry(err) && ctx.Err() == nil {
				continue
			}
		}
		return dbError(op, err)
	}
}

func withOp(err error, op string) error {
	var e *Error
	if errors.As(err, &e) && e.Op == "" {
		e.Op = op
	}
	return err
}

// isConnectionError reports an error that leaves the connection unusable.
func isConnectionError(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code[:2] == "08" || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.Timeout(err)
}

// sqlStateCodes maps the db_admin functions' refusals and the server's transient
// conditions to the broker's codes, so the database's checks and the broker's own give
// the same answer.
var sqlStateCodes = map[string]Code{
	"FFB01": CodeInvalidRole,
	"FFB02": CodeInvalidPassword,
	"FFB03": CodeInvalidHours,
	"FFB04": CodeInvalidRequest,
	"FFB05": CodeConflict,
	"FFB06": CodeForbidden,
	"FFB07": CodeForbidden,
	"FFB08": CodeConflict,
	"FFB09": CodeConflict,
	"FFB10": CodeNotFound,
	"FFB12": CodeNotFound,
	"FFB13": CodeForbidden,
	"FFB14": CodeConflict,
	"FFB15": CodeConflict,
	"53300": CodeUnavailable, // too_many_connections
	"57014": CodeUnavailable, // statement timeout
	"55P03": CodeUnavailable, // lock_not_available
	"40001": CodeUnavailable, // serialization_failure
	"40P01": CodeUnavailable, // deadlock_detected
	"57P01": CodeUnavailable, // admin_shutdown
	"57P03": CodeUnavailable, // cannot_connect_now
}

// dbError turns a database error into an *Error. The message of a db_admin refusal is
// safe to show (it names no secret); anything else is internal or unavailable, with the
// server's text kept only as the wrapped cause.
func dbError(op string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		return withOp(err, op)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		code, ok := sqlStateCodes[pgErr.Code]
		switch {
		case ok && pgErr.Code[:3] == "FFB":
			return &Error{Code: code, Message: pgErr.Message, Op: op, Err: err}
		case ok:
			return &Error{Code: code, Message: "the database is busy; try again", Op: op, Err: err}
		case pgErr.Code[:2] == "08":
			return &Error{Code: CodeUnavailable, Message: "the database connection failed; try again", Op: op, Err: err}
		}
		return &Error{Code: CodeInternal, Op: op, Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || isConnectionError(err) {
		return &Error{Code: CodeUnavailable, Message: "the database did not answer in time; try again", Op: op, Err: err}
	}
	return &Error{Code: CodeInternal, Op: op, Err: err}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}
