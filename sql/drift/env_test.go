package drift_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ffbroker/ffbroker/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// env is one bootstrapped role model of the shared cluster (see pgtest.Env).
type env struct{ *pgtest.Env }

// newEnv bootstraps a role model named after prefix.
func newEnv(t *testing.T, prefix string) *env {
	t.Helper()
	return &env{pgtest.NewEnv(t, cluster, prefix)}
}

func randomPassword(t *testing.T) string { t.Helper(); return pgtest.RandomPassword(t) }

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

func mustExec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func itoa(i int) string { return fmt.Sprint(i) }
