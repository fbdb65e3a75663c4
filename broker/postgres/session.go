package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Dialer opens a new connection to the database as one login; *Connector is one.
type Dialer interface {
	Connect(ctx context.Context) (*pgx.Conn, error)
}

// Session holds one connection to the database, opened when first needed, kept
// open between calls (one per warm Lambda) and reopened when it breaks. Its calls
// are serialised. Every store of this module runs its statements through Do, so
// they share one policy for retrying and for classifying errors.
type Session struct {
	dialer Dialer
	fs     Functions
	mu     sync.Mutex
	conn   *pgx.Conn
}

// NewSession returns a session that connects through d and reads the SQLSTATEs of
// the functions fs (see refusal).
func NewSession(d Dialer, fs Functions) *Session { return &Session{dialer: d, fs: fs} }

// Do runs fn on the session's connection, opening one first if needed, and
// returns nil or an *broker.Error (op names the operation in logs).
//
// The policy: a connection that fn's failure may have broken is dropped — any
// failure but an error the server sent on a working connection, a *broker.Error
// that fn made itself, or an error marked by Passthrough — and fn is tried once
// more on a new connection when pgconn.SafeToRetry says the failed statement never
// reached the server. Connect retries refusals for lack of a slot (see
// Connector.Connect). Nothing else is retried here: the SDK's and the caller's own
// retries stay theirs.
//
// Errors: the Connector's *broker.Error; a db_admin refusal with its code and the
// function's message; CodeUnavailable for a busy server (see busy), a lost
// connection or a timeout; CodeInternal for the rest. The server's text stays in
// the wrapped cause only. An error marked by Passthrough comes back as it was.
func (s *Session) Do(ctx context.Context, op string, fn func(*pgx.Conn) error) error {
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
		var pass *passthrough
		passed := errors.As(err, &pass)
		if s.conn.IsClosed() || (!passed && !keepsConnection(err)) {
			_ = s.conn.Close(context.Background())
			s.conn = nil
			if !passed && attempt == 0 && pgconn.SafeToRetry(err) && ctx.Err() == nil {
				continue
			}
		}
		if passed {
			return withOp(pass.err, op)
		}
		return classify(s.fs, op, err)
	}
}

// Close closes the connection, if one is open.
func (s *Session) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close(ctx)
	s.conn = nil
	return err
}

// Passthrough marks err, an error of the caller's own code that a store runs
// inside a transaction (publish, observe, a callback under a lock), for Do to
// return unchanged and to keep the connection for.
func Passthrough(err error) error {
	if err == nil {
		return nil
	}
	return &passthrough{err: err}
}

// passthrough is an error marked by Passthrough.
type passthrough struct{ err error }

// Error returns the marked error's text.
func (e *passthrough) Error() string { return e.err.Error() }

// Unwrap returns the marked error.
func (e *passthrough) Unwrap() error { return e.err }

// keepsConnection reports whether the connection is still usable after err: the
// server sent err and it does not end the session, or err is the store's own
// *broker.Error (a row that is not there).
func keepsConnection(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return !connectionLost(pgErr.Code)
	}
	var e *broker.Error
	return errors.As(err, &e)
}

// brokenConnection reports an error that leaves the connection unusable.
func brokenConnection(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return connectionLost(pgErr.Code)
	}
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || pgconn.Timeout(err)
}

// classify turns an error of a statement of the functions fs into an
// *broker.Error (see Do).
func classify(fs Functions, op string, err error) error {
	var e *broker.Error
	if errors.As(err, &e) {
		return withOp(err, op)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if code, msg, ok := refusal(fs, pgErr); ok {
			return &broker.Error{Code: code, Message: msg, Op: op, Err: err}
		}
		switch {
		case busy(pgErr.Code):
			return &broker.Error{Code: broker.CodeUnavailable, Message: "the database is busy; try again", Op: op, Err: err}
		case connectionLost(pgErr.Code):
			return &broker.Error{Code: broker.CodeUnavailable, Message: "the database connection failed; try again", Op: op, Err: err}
		}
		return &broker.Error{Code: broker.CodeInternal, Op: op, Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || brokenConnection(err) {
		return &broker.Error{Code: broker.CodeUnavailable, Message: "the database did not answer in time; try again", Op: op, Err: err}
	}
	return &broker.Error{Code: broker.CodeInternal, Op: op, Err: err}
}

// withOp names op in err's *broker.Error when it names no operation yet.
func withOp(err error, op string) error {
	var e *broker.Error
	if errors.As(err, &e) && e.Op == "" {
		e.Op = op
	}
	return err
}
