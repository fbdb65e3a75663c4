package sqlscripts_test

import (
	"slices"
	"testing"

	"github.com/ffbroker/ffbroker/sql/drift"
)

// The lists of functions each login may execute, read from the scripts' GRANT lines,
// are exactly what the database granted it after a bootstrap, and nothing reaches a
// login through PUBLIC.
func TestGrantListsMatchTheDatabase(t *testing.T) {
	e := newEnv(t, "grantlist")
	for _, l := range []struct {
		name string
		fns  []string
	}{
		{e.Broker, drift.BrokerFunctions()},
		{e.Approver, drift.ApproverFunctions()},
		{e.Activity, drift.ActivityFunctions()},
	} {
		got := queryStrings(t, e.Super(t), `
			SELECT pg_catalog.format('%s.%s(%s)', n.nspname, p.proname, pg_catalog.oidvectortypes(p.proargtypes))
			FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
			     aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) a
			WHERE n.nspname = 'db_admin' AND a.privilege_type = 'EXECUTE'
			  AND a.grantee IN (0, (SELECT oid FROM pg_roles WHERE rolname = $1))
			ORDER BY 1`, l.name)
		want := slices.Sorted(slices.Values(l.fns))
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("%s: the database grants EXECUTE on\n%q\nthe scripts' GRANT lines say\n%q", l.name, got, want)
		}
	}
}
