package sqlscripts

import (
	"strings"
	"testing"
	"testing/fstest"
)

// A GRANT EXECUTE the parser cannot read is an error, never a grant left off the lists.
func TestFunctionGrantsRefuseAnotherForm(t *testing.T) {
	for _, line := range []string{
		`GRANT EXECUTE ON FUNCTION db_admin.f(name) TO my_pg_password_broker;`,
		`grant execute on function db_admin.f(name) to :"broker_role";`,
		`GRANT EXECUTE ON FUNCTION db_admin.f(name), db_admin.g() TO :"broker_role";`,
		`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA db_admin TO :"broker_role";`,
	} {
		fsys := fstest.MapFS{"009_x.sql": {Data: []byte("SELECT 1;\n  " + line + "\n")}}
		if g, err := functionGrants(fsys); err == nil || !strings.Contains(err.Error(), "sql/009_x.sql:2") {
			t.Errorf("functionGrants(%q) = %v, %v; want an error naming sql/009_x.sql:2", line, g, err)
		}
	}
	fsys := fstest.MapFS{"009_x.sql": {Data: []byte(`GRANT EXECUTE ON FUNCTION db_admin.f(name, text[], timestamp with time zone) TO :"broker_role";` + "\n")}}
	g, err := functionGrants(fsys)
	want := FunctionGrant{Function: "db_admin.f(name, text[], timestamp with time zone)", Login: "broker_role", File: "009_x.sql"}
	if err != nil || len(g) != 1 || g[0] != want {
		t.Errorf("functionGrants = %v, %v; want [%v]", g, err, want)
	}
}

// The built-in scripts grant each function login its functions, each once.
func TestScriptsGrantEachLoginItsFunctions(t *testing.T) {
	g, err := FunctionGrants()
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	seen := map[FunctionGrant]bool{}
	for _, x := range g {
		count[x.Login]++
		k := FunctionGrant{Function: x.Function, Login: x.Login}
		if seen[k] {
			t.Errorf("%s is granted to %s twice", x.Function, x.Login)
		}
		seen[k] = true
	}
	for _, login := range []string{"broker_role", "approver_role", "activity_role"} {
		if count[login] == 0 {
			t.Errorf("no GRANT EXECUTE to :%q in the scripts", login)
		}
	}
	if len(count) != 3 {
		t.Errorf("grants to %v; want broker_role, approver_role and activity_role only", count)
	}
}
