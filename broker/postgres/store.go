package postgres

import (
	"context"
	"time"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Store is the broker's Database: it calls the db_admin functions of
// sql/007_*.sql as the broker's login, over one Session.
type Store struct {
	sess *Session
}

// NewStore returns a store that connects through d (the broker's login) when it
// first needs to.
func NewStore(d Dialer) *Store { return &Store{sess: NewSession(d, BrokerFunctions)} }

// ReserveGrant calls db_admin.reserve_firefighter_grant.
func (s *Store) ReserveGrant(ctx context.Context, r broker.GrantRequest) (broker.Reservation, error) {
	var res broker.Reservation
	var state string
	err := s.sess.Do(ctx, "reserve grant", func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT grant_id::text, expires_at, state FROM db_admin.reserve_firefighter_grant($1, $2, $3, $4, $5, $6, $7)`,
			r.GrantID, r.Role, r.Hours, nullable(r.IncidentID), r.Requester, nullable(r.RequesterKey), nullable(r.RequestID)).Scan(&res.GrantID, &res.ExpiresAt, &state)
	})
	res.Active = state == "active"
	return res, err
}

// ActivateGrant calls db_admin.issue_firefighter_password with the verifier in a
// transaction that stays open while publish runs: the function takes the role's
// advisory lock, so concurrent issues for one role set the password and publish its
// secret in the same order, and a publish that fails rolls the password back. publish
// gets the role's state as this transaction sees it (the new grant live). The
// commit is the point where the grant exists. publish is not called when the grant
// was already active (a retry) or another live grant was returned.
func (s *Store) ActivateGrant(ctx context.Context, r broker.GrantRequest, v broker.Verifier, publish func(context.Context, broker.RoleState) error) (broker.Activation, error) {
	var a broker.Activation
	err := s.sess.Do(ctx, "activate grant", func(c *pgx.Conn) error {
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
			st, err := roleState(ctx, tx, r.Role)
			if err != nil {
				return err
			}
			if err := publish(ctx, st); err != nil {
				return Passthrough(err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return &broker.CommitUncertainError{Err: err}
		}
		return nil
	})
	return a, err
}

// WithRoleLock runs fn while a transaction holds role's lock (the one every issue of
// the role holds from its activation to its commit), passing the role's state as read
// under the lock. fn changes the role's secret; no issue activates meanwhile.
func (s *Store) WithRoleLock(ctx context.Context, role string, fn func(ctx context.Context, st broker.RoleState) error) error {
	return s.sess.Do(ctx, "lock role", func(c *pgx.Conn) error {
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.Background())
		st, err := lockedState(ctx, tx, role)
		if err != nil {
			return err
		}
		if err := fn(ctx, st); err != nil {
			return Passthrough(err)
		}
		return tx.Commit(ctx)
	})
}

// lockedState takes role's lock in tx and reads the role's state under it.
func lockedState(ctx context.Context, tx pgx.Tx, role string) (broker.RoleState, error) {
	if _, err := tx.Exec(ctx, `SELECT db_admin.lock_firefighter_role($1)`, role); err != nil {
		return broker.RoleState{}, err
	}
	return roleState(ctx, tx, role)
}

// roleState reads role's live grants, current grant and its password's version in
// transaction tx.
func roleState(ctx context.Context, tx pgx.Tx, role string) (broker.RoleState, error) {
	var st broker.RoleState
	grants, err := liveGrants(ctx, tx)
	if err != nil {
		return st, err
	}
	for _, g := range grants {
		if g.Role == role {
			st.Live = append(st.Live, g)
		}
	}
	var current, version *string
	if err := tx.QueryRow(ctx, `SELECT db_admin.current_firefighter_grant($1)::text, db_admin.current_firefighter_version($1)::text`, role).
		Scan(&current, &version); err != nil {
		return st, err
	}
	if current != nil {
		st.Current = *current
	}
	if version != nil {
		st.CurrentVersion = *version
	}
	return st, nil
}

// EndGrants ends, in one transaction that holds role's lock, the live grants of role
// that ids name and those whose expiry passed (db_admin.end_firefighter_grants). It
// reads the role's state under the lock (with the ended grants not yet recorded) and
// asks rotate for the password of the grants left: rotate writes it as a pending
// secret version and returns it, returns the zero Rotation when no grant is left, or
// one with Skip when nothing ends (nothing is changed then). publish runs after the database change and before the commit,
// only when the password was rotated. Sessions are left to Terminate.
func (s *Store) EndGrants(ctx context.Context, role string, ids []string, rotate func(ctx context.Context, st broker.RoleState) (broker.Rotation, error),
	publish func(ctx context.Context, r broker.Rotation) error) (broker.Ending, error) {
	var out broker.Ending
	err := s.sess.Do(ctx, "end grants", func(c *pgx.Conn) error {
		out = broker.Ending{}
		tx, err := c.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.Background())
		st, err := lockedState(ctx, tx, role)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT grant_id::text, coalesce(incident_id, ''), requester, coalesce(requester_key, ''), expires_at
			FROM db_admin.ended_firefighter_grants($1)`, role)
		if err != nil {
			return err
		}
		st.Ended, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (broker.Grant, error) {
			g := broker.Grant{Role: role}
			err := r.Scan(&g.ID, &g.IncidentID, &g.Requester, &g.RequesterKey, &g.ExpiresAt)
			return g, err
		})
		if err != nil {
			return err
		}
		rot, err := rotate(ctx, st)
		if err != nil {
			return Passthrough(err)
		}
		if rot.Skip {
			return nil
		}
		var password, version any
		if rot.VersionID != "" {
			password, version = rot.Verifier.Reveal(), rot.VersionID
		}
		rows, err = tx.Query(ctx, `SELECT grant_id::text, coalesce(incident_id, ''), requester, coalesce(requester_key, ''), coalesce(approver, ''),
			coalesce(approver_key, ''), coalesce(request_id::text, ''), expires_at, closed_reason, live_left
			FROM db_admin.end_firefighter_grants($1, $2, $3, $4)`, role, ids, password, version)
		if err != nil {
			return err
		}
		left := 0
		out.Ended, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (broker.EndedGrant, error) {
			e := broker.EndedGrant{Grant: broker.Grant{Role: role}}
			err := r.Scan(&e.ID, &e.IncidentID, &e.Requester, &e.RequesterKey, &e.Approver, &e.ApproverKey, &e.RequestID, &e.ExpiresAt, &e.Reason, &left)
			return e, err
		})
		if err != nil {
			return err
		}
		out.LiveLeft = left
		if len(out.Ended) > 0 && left > 0 && rot.VersionID != "" {
			if err := publish(ctx, rot); err != nil {
				return Passthrough(err)
			}
			out.Rotated = rot
		}
		if err := tx.Commit(ctx); err != nil {
			if out.Rotated.VersionID != "" {
				return &broker.CommitUncertainError{Err: err}
			}
			return err
		}
		return nil
	})
	return out, err
}

// LiveGrants lists the live grants of both roles.
func (s *Store) LiveGrants(ctx context.Context) ([]broker.Grant, error) {
	var out []broker.Grant
	err := s.sess.Do(ctx, "list live grants", func(c *pgx.Conn) error {
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

func liveGrants(ctx context.Context, q querier) ([]broker.Grant, error) {
	rows, err := q.Query(ctx, `SELECT grant_id::text, role, coalesce(incident_id, ''), requester, coalesce(approver, ''), issued_at, expires_at, activated_at,
		coalesce(requester_key, ''), coalesce(approver_key, '') FROM db_admin.live_firefighter_grants()`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (broker.Grant, error) {
		var g broker.Grant
		err := r.Scan(&g.ID, &g.Role, &g.IncidentID, &g.Requester, &g.Approver, &g.IssuedAt, &g.ExpiresAt, &g.ActivatedAt, &g.RequesterKey, &g.ApproverKey)
		return g, err
	})
}

// Expire calls db_admin.expire_firefighter_password and returns the grants it closed.
func (s *Store) Expire(ctx context.Context, role string) (int, error) {
	var n int
	err := s.sess.Do(ctx, "expire password", func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT db_admin.expire_firefighter_password($1)`, role).Scan(&n)
	})
	return n, err
}

// Terminate calls db_admin.terminate_firefighter_sessions and returns the sessions it
// ended.
func (s *Store) Terminate(ctx context.Context, role string) (int, error) {
	var n int
	err := s.sess.Do(ctx, "terminate sessions", func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT db_admin.terminate_firefighter_sessions($1)`, role).Scan(&n)
	})
	return n, err
}

// Sweep calls db_admin.sweep_expired_firefighters.
func (s *Store) Sweep(ctx context.Context) ([]broker.SweepResult, error) {
	var out []broker.SweepResult
	err := s.sess.Do(ctx, "sweep", func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT role, grants_closed, sessions_terminated, coalesce(failure, '') FROM db_admin.sweep_expired_firefighters()`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (broker.SweepResult, error) {
			var x broker.SweepResult
			err := r.Scan(&x.Role, &x.GrantsClosed, &x.SessionsTerminated, &x.Failure)
			return x, err
		})
		return err
	})
	return out, err
}

// Status calls db_admin.firefighter_status.
func (s *Store) Status(ctx context.Context) ([]broker.RoleStatus, error) {
	var out []broker.RoleStatus
	err := s.sess.Do(ctx, "status", func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT role, valid_until, live_grants, sessions FROM db_admin.firefighter_status()`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (broker.RoleStatus, error) {
			var x broker.RoleStatus
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

// ApprovalRoles calls db_admin.firefighter_roles: each firefighter role's name, kind
// and whether it needs a second person's approval.
func (s *Store) ApprovalRoles(ctx context.Context) ([]broker.RoleApproval, error) {
	var out []broker.RoleApproval
	err := s.sess.Do(ctx, "read the roles' approval", func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT role, kind, needs_approval FROM db_admin.firefighter_roles()`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (broker.RoleApproval, error) {
			var x broker.RoleApproval
			var kind string
			err := r.Scan(&x.Role, &kind, &x.NeedsApproval)
			x.Kind = broker.Role(kind)
			return x, err
		})
		return err
	})
	return out, err
}

// Close closes the connection, if one is open.
func (s *Store) Close(ctx context.Context) error { return s.sess.Close(ctx) }

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ClaimNotice calls db_admin.claim_firefighter_notice: true when this caller is the
// first to claim notice kind of request requestID, and so the one to publish it.
func (s *Store) ClaimNotice(ctx context.Context, requestID, kind string) (bool, error) {
	var first bool
	err := s.sess.Do(ctx, "claim notice", func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT db_admin.claim_firefighter_notice($1, $2)`, requestID, kind).Scan(&first)
	})
	return first, err
}

// ClaimExpiryWarnings calls db_admin.claim_firefighter_expiry_warnings: the live grants
// ending within the window whose requester was not yet warned of their expiry, each
// marked warned and returned to this caller only.
func (s *Store) ClaimExpiryWarnings(ctx context.Context, within time.Duration) ([]broker.Grant, error) {
	var out []broker.Grant
	err := s.sess.Do(ctx, "claim expiry warnings", func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT grant_id::text, role, coalesce(incident_id, ''), requester, requester_key,
			coalesce(request_id::text, ''), expires_at FROM db_admin.claim_firefighter_expiry_warnings($1)`, int(within/time.Second))
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (broker.Grant, error) {
			var g broker.Grant
			err := r.Scan(&g.ID, &g.Role, &g.IncidentID, &g.Requester, &g.RequesterKey, &g.RequestID, &g.ExpiresAt)
			return g, err
		})
		return err
	})
	return out, err
}
