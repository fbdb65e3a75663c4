package postgres_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/postgres"
)

// faultyDialer connects as the cluster's superuser through a net.Conn whose
// writes fail while a fault is armed: before any byte leaves (a statement that
// never reached the server) or after the whole message was written.
type faultyDialer struct {
	t        *testing.T
	mu       sync.Mutex
	connects int
	fault    string // "", "before" or "after": the next write fails that way, once
}

func (d *faultyDialer) arm(fault string) { d.mu.Lock(); d.fault = fault; d.mu.Unlock() }

func (d *faultyDialer) take() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.fault
	d.fault = ""
	return f
}

func (d *faultyDialer) Connect(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(shared.Cluster.SuperConnString("postgres"))
	if err != nil {
		d.t.Fatal(err)
	}
	dial := cfg.DialFunc
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &faultyConn{Conn: c, d: d}, nil
	}
	d.mu.Lock()
	d.connects++
	d.mu.Unlock()
	return pgx.ConnectConfig(ctx, cfg)
}

func (d *faultyDialer) count() int { d.mu.Lock(); defer d.mu.Unlock(); return d.connects }

type faultyConn struct {
	net.Conn
	d *faultyDialer
}

func (c *faultyConn) Write(p []byte) (int, error) {
	switch c.d.take() {
	case "before":
		c.Conn.Close()
		return 0, syscall.EPIPE
	case "after":
		n, _ := c.Conn.Write(p)
		c.Conn.Close()
		return n, syscall.ECONNRESET
	}
	return c.Conn.Write(p)
}

func backendPID(t *testing.T, s *postgres.Session) (int, int) {
	t.Helper()
	var pid, calls int
	err := s.Do(context.Background(), "pid", func(c *pgx.Conn) error {
		calls++
		return c.QueryRow(context.Background(), `SELECT pg_backend_pid()`).Scan(&pid)
	})
	if err != nil {
		t.Fatalf("Do(SELECT pg_backend_pid()) error = %v", err)
	}
	return pid, calls
}

// TestSessionRetriesOnceWhatNeverReachedTheServer: a statement whose write failed
// before any byte left is run again on a new connection; one that may have reached
// the server is not, and comes back as CodeUnavailable, and the next call reconnects.
func TestSessionRetriesOnceWhatNeverReachedTheServer(t *testing.T) {
	t.Parallel()
	d := &faultyDialer{t: t}
	s := postgres.NewSession(d, postgres.BrokerFunctions)
	t.Cleanup(func() { s.Close(context.Background()) })
	first, _ := backendPID(t, s)

	d.arm("before")
	second, calls := backendPID(t, s)
	if calls != 2 || second == first || d.count() != 2 {
		t.Errorf("Do after a write that sent nothing: fn called %d times, backend %d -> %d, %d connects; want 2 calls on a new (second) connection",
			calls, first, second, d.count())
	}

	d.arm("after")
	calls = 0
	err := s.Do(context.Background(), "pid", func(c *pgx.Conn) error {
		calls++
		_, err := c.Exec(context.Background(), `SELECT 1`)
		return err
	})
	if calls != 1 || broker.ErrorCode(err) != broker.CodeUnavailable {
		t.Errorf("Do after a write that may have reached the server: fn called %d times, error %v; want 1 call and code unavailable", calls, err)
	}
	third, _ := backendPID(t, s)
	if third == second || d.count() != 3 {
		t.Errorf("Do after a broken connection: backend %d (was %d), %d connects; want a third connection", third, second, d.count())
	}
}

// TestSessionKeepsTheConnection: a refusal the server sent and the caller's own
// errors (Passthrough, *broker.Error) leave the connection open.
func TestSessionKeepsTheConnection(t *testing.T) {
	t.Parallel()
	d := &faultyDialer{t: t}
	s := postgres.NewSession(d, postgres.BrokerFunctions)
	t.Cleanup(func() { s.Close(context.Background()) })
	before, _ := backendPID(t, s)
	callerErr := errors.New("the caller's own failure")
	for _, tt := range []struct {
		name string
		fn   func(c *pgx.Conn) error
		want func(error) bool
	}{
		{"server refusal", func(c *pgx.Conn) error {
			_, err := c.Exec(context.Background(), `DO $$ BEGIN RAISE EXCEPTION 'no' USING ERRCODE = 'FFB05'; END $$`)
			return err
		}, func(err error) bool { return broker.ErrorCode(err) == broker.CodeConflict }},
		{"passthrough", func(*pgx.Conn) error { return postgres.Passthrough(callerErr) },
			func(err error) bool { return err == callerErr }},
		{"broker error", func(*pgx.Conn) error { return broker.Errorf(broker.CodeNotFound, "no such thing") },
			func(err error) bool { return broker.ErrorCode(err) == broker.CodeNotFound }},
	} {
		err := s.Do(context.Background(), tt.name, tt.fn)
		if !tt.want(err) {
			t.Errorf("Do(%s) error = %v; want the refusal's or the caller's error", tt.name, err)
		}
		if after, _ := backendPID(t, s); after != before {
			t.Errorf("Do(%s) moved the session from backend %d to %d; want the same connection", tt.name, before, after)
		}
	}
	if d.count() != 1 {
		t.Errorf("%d connects; want 1", d.count())
	}
}

// TestSessionClassifiesSQLStates: the one table of SQLSTATEs, for each set of
// db_admin functions, raised for real by the server.
func TestSessionClassifiesSQLStates(t *testing.T) {
	t.Parallel()
	d := &faultyDialer{t: t}
	sessions := map[postgres.Functions]*postgres.Session{
		postgres.BrokerFunctions:   postgres.NewSession(d, postgres.BrokerFunctions),
		postgres.ActivityFunctions: postgres.NewSession(d, postgres.ActivityFunctions),
	}
	t.Cleanup(func() {
		for _, s := range sessions {
			s.Close(context.Background())
		}
	})
	const b, a = postgres.BrokerFunctions, postgres.ActivityFunctions
	for _, tt := range []struct {
		fs    postgres.Functions
		state string
		want  broker.Code
	}{
		{b, "FFB01", broker.CodeInvalidRole},
		{b, "FFB02", broker.CodeInvalidPassword},
		{b, "FFB03", broker.CodeInvalidHours},
		{b, "FFB04", broker.CodeInvalidRequest},
		{b, "FFB07", broker.CodeForbidden},
		{b, "FFB08", broker.CodeConflict},
		{b, "FFB10", broker.CodeNotFound},
		{b, "FFB11", broker.CodeInternal},
		{b, "42704", broker.CodeInternal},
		{a, "FFB04", broker.CodeInvalidRequest},
		{a, "FFB07", broker.CodeConflict},
		{a, "FFB08", broker.CodeForbidden},
		{a, "FFB09", broker.CodeConflict},
		{a, "FFB11", broker.CodeForbidden},
		{a, "42704", broker.CodeNotFound},
		{a, "FFB01", broker.CodeInternal},
		// Busy, the same for both sets: all of class 53, timeouts, locks, conflicts.
		{b, "53300", broker.CodeUnavailable},
		{b, "53200", broker.CodeUnavailable},
		{a, "53100", broker.CodeUnavailable},
		{a, "57014", broker.CodeUnavailable},
		{b, "55P03", broker.CodeUnavailable},
		{b, "40001", broker.CodeUnavailable},
		{a, "40P01", broker.CodeUnavailable},
		{b, "XX000", broker.CodeInternal},
	} {
		err := sessions[tt.fs].Do(context.Background(), "raise", func(c *pgx.Conn) error {
			_, err := c.Exec(context.Background(), `DO $$ BEGIN RAISE EXCEPTION 'raised on purpose' USING ERRCODE = '`+tt.state+`'; END $$`)
			return err
		})
		var e *broker.Error
		if !errors.As(err, &e) || e.Code != tt.want {
			t.Errorf("Do(functions %d, RAISE %s) error = %v; want a *broker.Error with code %s", tt.fs, tt.state, err, tt.want)
		}
	}
}
