package activity_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// A victim's real login stays a login when someone on the victim's client host
// reuses its port within SettleWindow of its authorized line and, as the victim's
// user with database name "<db>:[<victim pid>]:FATAL:  role \"x" (pids are in
// pg_stat_activity for every login) and a wrong password, makes the server write
// a line whose text from %r starts with the victim's key and reads as a refusal
// after it. The new connection's "connection received" line from the same
// host(port) settles the victim's session as opened first: its socket was gone,
// and a refusal is written before the server closes one. (Red team 6.)
func TestPortReuseCannotRefuseAClosedSession(t *testing.T) {
	e := newEnv(t, "rt6_port")
	ctx := context.Background()
	const victim, pw = "rt6_victim", "pw-rt6-victim-0123456789"
	e.loginRole(t, victim, pw)
	opts := e.reportOpts(t)
	plan(t, e, opts)

	reuse := func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}
	connect := func(user, password, db string, port int) (*pgx.Conn, error) {
		cfg, err := pgx.ParseConfig(shared.Cluster.ConnString(user, password, db))
		if err != nil {
			t.Fatal(err)
		}
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(cfg.Host), Port: port}, Control: reuse, Timeout: 10 * time.Second}
		cfg.DialFunc = d.DialContext
		return pgx.ConnectConfig(ctx, cfg)
	}

	offset := logSize(t)
	// The victim: a short real session (a scripted psql -c).
	vc, err := connect(victim, pw, e.DB, 0)
	if err != nil {
		t.Fatalf("victim login: %v", err)
	}
	_, portText, _ := net.SplitHostPort(vc.PgConn().Conn().LocalAddr().String())
	port, _ := strconv.Atoi(portText)
	vpid := vc.PgConn().PID()
	if err := vc.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The attacker on the same host: the freed port, 1.1 s later (TIME_WAIT reuse
	// needs a later second), well within SettleWindow.
	var ac *pgx.Conn
	spoofDB := e.DB + ":[" + strconv.Itoa(int(vpid)) + `]:FATAL:  role "x`
	for i := 0; i < 30; i++ {
		time.Sleep(100 * time.Millisecond)
		ac, err = connect(victim, "wrong-password", spoofDB, port)
		if err == nil {
			ac.Close(ctx)
			t.Fatal("the attacker logged in with a wrong password")
		}
		var pe *pgconn.PgError
		if errors.As(err, &pe) {
			break // the server answered: the port was taken again
		}
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("could not connect from the victim's freed port %d again: %v", port, err)
	}
	waitLog(t, offset, "password authentication failed")
	e.put(t, "rt6-instance-1", serverLog(t, offset))
	rep, err := e.job(t, nil, nil).Run(ctx, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	p := plan(t, e, opts)
	if p[victim].LastLogLogin.IsZero() || !p[victim].LastAttempt.IsZero() {
		t.Errorf("the victim's real session (port %d, pid %d) was recorded as login %v, attempt %v: an attacker on the victim's host who reused the port made it a refusal (run %+v)",
			port, vpid, p[victim].LastLogLogin, p[victim].LastAttempt, rep.Logs)
	}
}

// A "connection received" line that a login writes itself (RAISE LOG from another
// session, naming the host and port of a session it wants to keep) does not settle
// that session: only a received line as the server writes it, before
// authentication ([unknown]@[unknown]) and for the client of its own %r, means the
// address was free again. Otherwise the holder of a locked role's password could
// flood such lines while retrying from a port it chose, and a line landing between
// a refused session's authorized line and its FATAL would make the attempt a login.
func TestForgedReceivedLineCannotOpenARefusedSession(t *testing.T) {
	e := newEnv(t, "rt7_recv")
	ctx := context.Background()
	const locked = "rt7_locked"
	e.loginRole(t, locked, "pw-rt7-locked-0123456789")
	opts := e.reportOpts(t)
	plan(t, e, opts) // tracked before it was locked
	at := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	ts := at.Format("2006-01-02 15:04:05 MST")
	e.put(t, "rt7-instance-1", []logEvent{
		{at, ts + ":10.1.2.3(40001):[unknown]@[unknown]:[500]:LOG:  connection received: host=10.1.2.3 port=40001"},
		{at, ts + ":10.1.2.3(40001):" + locked + "@" + e.DB + ":[500]:LOG:  connection authorized: user=" + locked + " database=" + e.DB},
		// Written by mallory's own session (her %r, her names), between the two.
		{at, ts + ":10.1.2.3(40002):" + locked + "@" + e.DB + ":[501]:LOG:  connection received: host=10.1.2.3 port=40001"},
		{at, ts + ":10.1.2.3(40001):" + locked + "@" + e.DB + ":[500]:FATAL:  too many connections for role \"" + locked + "\""},
	})
	rep, err := e.job(t, nil, nil).Run(ctx, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	p := plan(t, e, opts)
	if !p[locked].LastLogLogin.IsZero() || p[locked].LastAttempt.IsZero() {
		t.Errorf("%s was refused, but the run recorded login %v, attempt %v (run %+v): a received line a login wrote settled it as opened",
			locked, p[locked].LastLogLogin, p[locked].LastAttempt, rep.Logs)
	}
}
