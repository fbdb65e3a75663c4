package postgres

import (
	"time"

	"context"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// SubmitRequest calls db_admin.submit_firefighter_request.
func (s *Store) SubmitRequest(ctx context.Context, r broker.NewAccessRequest) (broker.Submitted, error) {
	var out broker.Submitted
	err := s.sess.Do(ctx, "submit request", func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT request_id::text, state, created_at, decide_by, reused
			FROM db_admin.submit_firefighter_request($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			r.ID, r.Role, r.IncidentID, r.Hours, r.Reason, r.Requester, r.RequesterKey, nullable(r.Proof), nullableBytes(r.Body)).
			Scan(&out.ID, &out.State, &out.CreatedAt, &out.DecideBy, &out.Reused)
	})
	return out, err
}

// SubmitExtension calls db_admin.submit_firefighter_extension.
func (s *Store) SubmitExtension(ctx context.Context, r broker.NewAccessRequest) (broker.Submitted, error) {
	var out broker.Submitted
	err := s.sess.Do(ctx, "submit extension", func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT request_id::text, state, created_at, decide_by, reused, grant_id::text
			FROM db_admin.submit_firefighter_extension($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			r.ID, r.Role, r.IncidentID, r.Hours, r.Reason, r.Requester, r.RequesterKey, nullable(r.Proof), nullableBytes(r.Body), r.Path).
			Scan(&out.ID, &out.State, &out.CreatedAt, &out.DecideBy, &out.Reused, &out.GrantID)
	})
	return out, err
}

// ExtendGrant calls db_admin.extend_firefighter_grant.
func (s *Store) ExtendGrant(ctx context.Context, r broker.ExtendRequest) (broker.Extension, error) {
	var out broker.Extension
	err := s.sess.Do(ctx, "extend grant", func(c *pgx.Conn) error {
		var approver *string
		err := c.QueryRow(ctx, `SELECT grant_id::text, previous_expires_at, expires_at, valid_until, approver, reused
			FROM db_admin.extend_firefighter_grant($1, $2, $3, $4, $5, $6, $7)`,
			r.Role, r.IncidentID, r.Hours, r.Requester, r.RequesterKey, nullable(r.RequestID), lifetimeHours(r.LifetimeCap)).
			Scan(&out.GrantID, &out.PreviousExpiresAt, &out.ExpiresAt, &out.ValidUntil, &approver, &out.Reused)
		if approver != nil {
			out.Approver = *approver
		}
		return err
	})
	return out, err
}

// lifetimeHours is the cap in whole hours for the database, NULL (its own 12-hour
// ceiling) when none is set.
func lifetimeHours(d time.Duration) any {
	if d <= 0 {
		return nil
	}
	return int(d / time.Hour)
}

// AttachTaskToken calls db_admin.attach_firefighter_task_token.
func (s *Store) AttachTaskToken(ctx context.Context, requestID string, token broker.Token, executionARN string) (broker.AccessRequest, error) {
	var r broker.AccessRequest
	err := s.sess.Do(ctx, "attach task token", func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT request_id::text, role, incident_id, hours, reason, requester, created_at, decide_by, state
			FROM db_admin.attach_firefighter_task_token($1, $2, $3)`, requestID, string(token), executionARN).
			Scan(&r.ID, &r.Role, &r.IncidentID, &r.Hours, &r.Reason, &r.Requester, &r.CreatedAt, &r.DecideBy, &r.State)
	})
	return r, err
}

// ExpireRequest calls db_admin.expire_firefighter_request and returns the request's
// state afterwards.
func (s *Store) ExpireRequest(ctx context.Context, requestID string) (string, error) {
	var state string
	err := s.sess.Do(ctx, "expire request", func(c *pgx.Conn) error {
		return c.QueryRow(ctx, `SELECT db_admin.expire_firefighter_request($1)`, requestID).Scan(&state)
	})
	return state, err
}

// broker.AccessRequest calls db_admin.firefighter_request_status.
func (s *Store) AccessRequest(ctx context.Context, requestID string) (broker.AccessRequest, error) {
	return readRequest(ctx, s.sess, requestID)
}

// readRequest reads request id through sess.
func readRequest(ctx context.Context, sess *Session, id string) (broker.AccessRequest, error) {
	var r broker.AccessRequest
	err := sess.Do(ctx, "read request", func(c *pgx.Conn) error {
		var err error
		r, err = accessRequest(ctx, c, id)
		return err
	})
	return r, err
}

const requestColumns = `request_id::text, role, incident_id, hours, reason, requester, requester_key, state, created_at, decide_by,
	coalesce(grant_id::text, ''), coalesce(decision, ''), coalesce(approver, ''), coalesce(approver_key, ''), coalesce(comment, ''), decided_at,
	coalesce(requester_proof, ''), coalesce(request_body, ''), coalesce(approver_proof, ''), coalesce(decision_body, ''),
	coalesce(kind, 'issue'), coalesce(extends_grant::text, ''), coalesce(request_path, '')`

func accessRequest(ctx context.Context, c *pgx.Conn, id string) (broker.AccessRequest, error) {
	rows, err := c.Query(ctx, `SELECT `+requestColumns+` FROM db_admin.firefighter_request_status($1)`, id)
	if err != nil {
		return broker.AccessRequest{}, err
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanAccessRequest)
	if err == pgx.ErrNoRows {
		return broker.AccessRequest{}, broker.Errorf(broker.CodeNotFound, "no request %s", id)
	}
	return r, err
}

func scanAccessRequest(row pgx.CollectableRow) (broker.AccessRequest, error) {
	var r broker.AccessRequest
	var decided pgtype.Timestamptz
	var reqBody, decBody string
	err := row.Scan(&r.ID, &r.Role, &r.IncidentID, &r.Hours, &r.Reason, &r.Requester, &r.RequesterKey, &r.State,
		&r.CreatedAt, &r.DecideBy, &r.GrantID, &r.Decision, &r.Approver, &r.ApproverKey, &r.Comment, &decided,
		&r.RequesterProof, &reqBody, &r.ApproverProof, &decBody, &r.Kind, &r.ExtendsGrant, &r.RequestPath)
	if decided.Valid {
		r.DecidedAt = decided.Time
	}
	r.RequestBody, r.DecisionBody = []byte(reqBody), []byte(decBody)
	return r, err
}

// ApprovalStore calls the approver login's db_admin functions: it records decisions
// and reads requests, over one connection kept open between calls.
type ApprovalStore struct {
	sess *Session
}

// NewApprovalStore returns a store that logs in through d (the approver's login).
func NewApprovalStore(d Dialer) *ApprovalStore {
	return &ApprovalStore{sess: NewSession(d, BrokerFunctions)}
}

// Decide calls db_admin.decide_firefighter_request.
func (s *ApprovalStore) Decide(ctx context.Context, d broker.Decision) (broker.Decided, error) {
	var out broker.Decided
	err := s.sess.Do(ctx, "decide request", func(c *pgx.Conn) error {
		var token, execARN *string
		var decidedAt pgtype.Timestamptz
		r := &out.Request
		err := c.QueryRow(ctx, `SELECT request_id::text, state, role, incident_id, hours, reason, requester, decided_at, task_token, execution_arn, retried
			FROM db_admin.decide_firefighter_request($1, $2, $3, $4, $5, $6, $7)`, d.RequestID, d.Decision, d.Approver, d.ApproverKey, d.Comment,
			nullable(d.Proof), nullableBytes(d.Body)).
			Scan(&r.ID, &r.State, &r.Role, &r.IncidentID, &r.Hours, &r.Reason, &r.Requester, &decidedAt, &token, &execARN, &out.Retried)
		if token != nil {
			out.TaskToken = broker.Token(*token)
		}
		r.Decision, r.Approver, r.Comment, r.DecidedAt = d.Decision, d.Approver, d.Comment, decidedAt.Time
		return err
	})
	return out, err
}

// Pending calls db_admin.pending_firefighter_requests.
func (s *ApprovalStore) Pending(ctx context.Context) ([]broker.AccessRequest, error) {
	var out []broker.AccessRequest
	err := s.sess.Do(ctx, "list pending requests", func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, `SELECT request_id::text, role, incident_id, hours, reason, requester, requester_key, 'pending', created_at, decide_by,
			'', '', '', '', '', NULL::timestamptz, '', '', '', '', kind, coalesce(extends_grant::text, ''), ''
			FROM db_admin.pending_firefighter_requests()`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanAccessRequest)
		return err
	})
	return out, err
}

// broker.AccessRequest calls db_admin.firefighter_request_status.
func (s *ApprovalStore) AccessRequest(ctx context.Context, id string) (broker.AccessRequest, error) {
	return readRequest(ctx, s.sess, id)
}

// Close closes the connection, if one is open.
func (s *ApprovalStore) Close(ctx context.Context) error { return s.sess.Close(ctx) }

func nullableBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}
