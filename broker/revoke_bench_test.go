package broker_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

var revokeSessions = []int{3, 10, 100, 200}

// revokeSetup issues ro for an incident and opens n sessions with its password.
func revokeSetup(b *testing.B, f *fixture, br *broker.Broker, incident string, n int) []*pgx.Conn {
	ctx := context.Background()
	if _, err := br.Issue(ctx, broker.IssueInput{Request: broker.Request{Role: "ro", IncidentID: incident}, Requester: alice, RequesterKey: alice, Source: audit.SourceCLI}); err != nil {
		b.Fatal(err)
	}
	v, _, _ := f.current(b, f.FirefighterRO)
	conns := make([]*pgx.Conn, n)
	for i := range conns {
		c, err := loginWith(ctx, v)
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = c
	}
	return conns
}

func revokeFixture(b *testing.B) (*fixture, *broker.Broker) {
	f := benchFixture(b, "benchrev")
	if _, err := f.super(b).Exec(context.Background(), fmt.Sprintf(`ALTER ROLE %s CONNECTION LIMIT 250; ALTER DATABASE %q CONNECTION LIMIT -1`, f.FirefighterRO, f.DB)); err != nil {
		b.Fatal(err)
	}
	d := f.deps(b)
	d.sink = audit.NewJSONSink(discard{})
	return f, f.broker(b, d)
}

// BenchmarkRevoke measures broker.Revoke from the call to zero sessions left (it checks
// that none survived), with n live sessions of the role.
func BenchmarkRevoke(b *testing.B) {
	f, br := revokeFixture(b)
	ctx := context.Background()
	for _, n := range revokeSessions {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				incident := fmt.Sprintf("INC-R%d-%d-%d", n, b.N, i)
				conns := revokeSetup(b, f, br, incident, n)
				b.StartTimer()
				out, err := br.Revoke(ctx, broker.RevokeInput{Role: "ro", IncidentID: incident, Caller: broker.Caller{ARN: alice, Key: alice}, Source: audit.SourceCLI})
				b.StopTimer()
				if err != nil || out.SessionsTerminated != n {
					b.Fatalf("Revoke = %+v, %v; want %d sessions terminated", out, err, n)
				}
				for _, c := range conns {
					c.Close(ctx)
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkRevokeFloor is the floor for BenchmarkRevoke: a bare ALTER ROLE ... VALID
// UNTIL plus one pg_terminate_backend query, on the same server and sessions.
func BenchmarkRevokeFloor(b *testing.B) {
	f, br := revokeFixture(b)
	ctx := context.Background()
	super := f.super(b)
	for _, n := range revokeSessions {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				incident := fmt.Sprintf("INC-F%d-%d-%d", n, b.N, i)
				conns := revokeSetup(b, f, br, incident, n)
				b.StartTimer()
				if _, err := super.Exec(ctx, fmt.Sprintf(`ALTER ROLE %s VALID UNTIL 'epoch'`, f.FirefighterRO)); err != nil {
					b.Fatal(err)
				}
				if _, err := super.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, f.FirefighterRO); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if _, err := br.Revoke(ctx, broker.RevokeInput{Role: "ro", IncidentID: incident, Caller: broker.Caller{ARN: alice, Key: alice}, Source: audit.SourceCLI}); err != nil {
					b.Fatal(err)
				}
				for _, c := range conns {
					c.Close(ctx)
				}
				b.StartTimer()
			}
		})
	}
}
