package pgtest_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// A standby made from the cluster is in recovery, has what the primary had, and
// replays what the primary writes later.
func TestStandbyReplaysThePrimary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgtest.New(ctx, pgtest.Options{})
	if errors.Is(err, pgtest.ErrNoBinaries) && os.Getenv("CI") != "true" {
		t.Skipf("!!! SKIPPED loudly: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p, err := c.ConnectSuper(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	if _, err := p.Exec(ctx, `CREATE ROLE before_backup LOGIN PASSWORD 'before-backup-password'`); err != nil {
		t.Fatal(err)
	}
	s, err := c.NewStandby(ctx, pgtest.StandbyOptions{})
	if err != nil {
		t.Fatalf("NewStandby: %v", err)
	}
	defer s.Close()
	if _, err := p.Exec(ctx, `CREATE ROLE after_backup LOGIN PASSWORD 'after-backup-password'`); err != nil {
		t.Fatal(err)
	}
	if err := s.CatchUp(ctx); err != nil {
		t.Fatalf("CatchUp: %v", err)
	}
	sb, err := s.ConnectSuper(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(ctx)
	var recovery bool
	var roles int
	if err := sb.QueryRow(ctx, `SELECT pg_is_in_recovery(), (SELECT count(*) FROM pg_roles WHERE rolname IN ('before_backup', 'after_backup'))`).Scan(&recovery, &roles); err != nil {
		t.Fatal(err)
	}
	if !recovery || roles != 2 {
		t.Errorf("standby: in recovery %v, roles of the primary %d; want true, 2", recovery, roles)
	}
	conn, err := s.Connect(ctx, "after_backup", "after-backup-password", "postgres")
	if err != nil {
		t.Fatalf("password login on the standby as a role created after the backup: %v", err)
	}
	conn.Close(ctx)
}
