package sqlscripts_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// env is one bootstrapped role model of the shared cluster (see pgtest.Env).
type env struct{ *pgtest.Env }

// newEnv bootstraps a role model named after prefix.
func newEnv(t *testing.T, prefix string) *env {
	t.Helper()
	return &env{pgtest.NewEnv(t, cluster, prefix)}
}

func randomPassword(t *testing.T) string { t.Helper(); return pgtest.RandomPassword(t) }

// exec runs sql on conn and returns the SQLSTATE of its error ("" when it succeeded).
func exec(conn *pgx.Conn, sql string, args ...any) (string, error) {
	_, err := conn.Exec(context.Background(), sql, args...)
	return pgtest.SQLState(err), err
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

func mustExec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func queryStrings(t *testing.T, conn *pgx.Conn, sql string, args ...any) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		vals, err := r.Values()
		if err != nil {
			return "", err
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = fmt.Sprint(v)
		}
		return strings.Join(parts, "|"), nil
	})
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func itoa(i int) string { return fmt.Sprint(i) }
