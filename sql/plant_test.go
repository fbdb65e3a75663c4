package sqlscripts_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/internal/pgtest"
	"github.com/ffbroker/ffbroker/sql/drift"
)

// plant creates in schema public of db, as role (the superuser's SET ROLE stands in
// for the role's own session), functions and an operator that would win name
// resolution over pg_catalog's for calls the scripts make, if any name resolved
// through public: public.unnest(text[]) (an exact match beats unnest(anyarray)),
// format, quote_ident(name), pg_has_role(name, text, text),
// has_database_privilege(name, name, text) and = (oid, regrole). Each records its
// call in public.planted_calls and, run by the master, gives rw a password of the
// attacker's choosing and a member.
func plant(t *testing.T, c *pgtest.Cluster, db, role, rw, member string) {
	t.Helper()
	ctx := context.Background()
	conn, err := c.ConnectSuper(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	attack := `ALTER ROLE ` + ident(rw) + ` PASSWORD ''planted-password-planted-password'' VALID UNTIL ''infinity''`
	grant := `CREATE ROLE ` + ident(member) + ` LOGIN IN ROLE ` + ident(rw)
	for _, s := range []string{
		`SET ROLE ` + ident(role),
		`CREATE TABLE public.planted_calls (fn text, by_role text)`,
		`GRANT INSERT ON public.planted_calls TO PUBLIC`,
		`CREATE FUNCTION public.planted_attack(fn text) RETURNS void LANGUAGE plpgsql AS $$
		 BEGIN
		   INSERT INTO public.planted_calls VALUES (fn, current_user);
		   BEGIN EXECUTE '` + attack + `'; EXCEPTION WHEN OTHERS THEN NULL; END;
		   BEGIN EXECUTE '` + grant + `'; EXCEPTION WHEN OTHERS THEN NULL; END;
		 END $$`,
		`CREATE FUNCTION public.unnest(a text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$
		 BEGIN PERFORM public.planted_attack('unnest'); RETURN QUERY SELECT pg_catalog.unnest(a); END $$`,
		`CREATE FUNCTION public.format(f text, a text) RETURNS text LANGUAGE plpgsql AS $$
		 BEGIN PERFORM public.planted_attack('format'); RETURN pg_catalog.format(f, a); END $$`,
		`CREATE FUNCTION public.format(f text, a text, b text) RETURNS text LANGUAGE plpgsql AS $$
		 BEGIN PERFORM public.planted_attack('format'); RETURN pg_catalog.format(f, a, b); END $$`,
		`CREATE FUNCTION public.quote_ident(a name) RETURNS text LANGUAGE plpgsql AS $$
		 BEGIN PERFORM public.planted_attack('quote_ident'); RETURN pg_catalog.quote_ident(a::text); END $$`,
		`CREATE FUNCTION public.pg_has_role(u name, r text, p text) RETURNS boolean LANGUAGE plpgsql AS $$
		 BEGIN PERFORM public.planted_attack('pg_has_role'); RETURN pg_catalog.pg_has_role(u, r::name, p); END $$`,
		`CREATE FUNCTION public.has_database_privilege(u name, d name, p text) RETURNS boolean LANGUAGE plpgsql AS $$
		 BEGIN PERFORM public.planted_attack('has_database_privilege'); RETURN pg_catalog.has_database_privilege(u, d::text, p); END $$`,
		`CREATE FUNCTION public.planted_eq(a oid, b regrole) RETURNS boolean LANGUAGE plpgsql AS $$
		 BEGIN PERFORM public.planted_attack('='); RETURN a OPERATOR(pg_catalog.=) b::oid; END $$`,
		`CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = regrole, FUNCTION = public.planted_eq)`,
	} {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("plant in %s as %s: %s: %v", db, role, s, err)
		}
	}
}

// plantedCalls returns the calls the planted code recorded in db.
func plantedCalls(t *testing.T, c *pgtest.Cluster, db string) []string {
	t.Helper()
	conn, err := c.ConnectSuper(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	mustExec(t, conn, `SET search_path = pg_catalog, pg_temp`)
	return queryStrings(t, conn, `SELECT fn, by_role FROM public.planted_calls ORDER BY 1, 2`)
}

// rwState is what the planted code would change: rw's password and expiry, and who
// is a member of it.
func rwState(t *testing.T, e *env, member string) []string {
	t.Helper()
	s := e.Super(t)
	mustExec(t, s, `SET search_path = pg_catalog, pg_temp`) // the test's own queries must not run the plant
	out := queryStrings(t, s, `SELECT rolpassword IS NULL, rolvaliduntil = 'epoch' FROM pg_authid WHERE rolname = $1`, e.FirefighterRW)
	out = append(out, queryStrings(t, s, `SELECT m.member::regrole::text FROM pg_auth_members m WHERE m.roleid = $1::regrole ORDER BY 1`, e.FirefighterRW)...)
	return append(out, queryStrings(t, s, `SELECT count(*) FROM pg_roles WHERE rolname = $1`, member)...)
}

// The red team's hole 1: on a cluster whose schemas public grant CREATE to PUBLIC (13
// and 14, and every cluster upgraded from them), code the ro firefighter planted in
// public of the postgres database and of the application database never runs when
// the DBA re-runs the bootstrap or runs verify as the master: rw keeps no password and
// gains no member, and no planted function was called.
func TestPlantedPublicFunctionsNeverRunAsTheMaster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgtest.New(ctx, pgtest.Options{PublicCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e := &env{pgtest.NewEnv(t, c, "plant")}
	member := "plant_member"
	// The upgraded cluster: CREATE on public for PUBLIC in the application database too.
	if err := c.GrantPublicCreate(ctx, e.DB); err != nil {
		t.Fatal(err)
	}
	plant(t, c, "postgres", e.FirefighterRO, e.FirefighterRW, member)
	plant(t, c, e.DB, e.FirefighterRO, e.FirefighterRW, member)
	before := rwState(t, e, member)
	if len(before) == 0 || before[0] != "true|true" {
		t.Fatalf("before the re-run rw is %q; want no password, valid until epoch", before)
	}

	if out, err := c.Bootstrap(ctx, e.Vars); err != nil {
		t.Fatalf("re-run of the bootstrap: %v\n%s", err, out)
	}
	conn, err := c.Connect(ctx, pgtest.MasterUser, pgtest.MasterPassword, e.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := drift.Verify(ctx, conn, e.Names); err != nil {
		t.Errorf("Verify: %v", err) // a planted function it called fails its read-only transaction
	}

	for _, db := range []string{"postgres", e.DB} {
		if calls := plantedCalls(t, c, db); len(calls) != 0 {
			t.Errorf("planted code in %s ran: %q", db, calls)
		}
	}
	if after := rwState(t, e, member); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("rw (password null, valid until epoch; members; planted member) = %q after the re-run; want %q", after, before)
	}
}

// The firefighter roles reach the application database only: the bootstrap closed
// postgres and template1 (owned by the master, as on Aurora) to PUBLIC, so a
// firefighter with a live password is refused there with 42501, while the master
// still connects.
func TestFirefightersConnectToTheApplicationDatabaseOnly(t *testing.T) {
	e := newEnv(t, "reach")
	ctx := context.Background()
	ro, rw := randomPassword(t), randomPassword(t)
	e.Issue(t, e.FirefighterRO, ro, 1)
	e.Issue(t, e.FirefighterRW, rw, 1)
	for role, pw := range map[string]string{e.FirefighterRO: ro, e.FirefighterRW: rw} {
		e.LoginWith(t, role, pw) // the application database works
		for _, db := range []string{"postgres", "template1"} {
			conn, err := cluster.Connect(ctx, role, pw, db)
			if err == nil {
				conn.Close(ctx)
			}
			if got := pgtest.SQLState(err); got != "42501" {
				t.Errorf("%s connecting to %s: SQLSTATE %q (%v); want 42501, no CONNECT", role, db, got, err)
			}
		}
	}
	conn, err := cluster.Connect(ctx, pgtest.MasterUser, pgtest.MasterPassword, "postgres")
	if err != nil {
		t.Fatalf("the master connecting to postgres: %v", err)
	}
	conn.Close(ctx)
}

// Where the master cannot act as a database's owner, the bootstrap says that the
// firefighter roles can still connect there.
func TestBootstrapWarnsOfADatabaseItCannotClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := pgtest.New(ctx, pgtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.ConnectSuper(ctx, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Exec(ctx, `CREATE DATABASE "rds-owned"`) // owned by the bootstrap superuser
	s.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.Bootstrap(ctx, pgtest.Vars{Prefix: "warn", DBName: "warn-db", AppSchema: "s", Flavor: "aurora"})
	if err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, out)
	}
	if !strings.Contains(out, `WARNING:  ffbroker: the firefighter roles can still connect to database "rds-owned", owned by postgres`) {
		t.Errorf("bootstrap output has no WARNING about database rds-owned:\n%s", out)
	}
	if !strings.Contains(out, "NOTICE:  ffbroker: PUBLIC may no longer connect to database postgres") {
		t.Errorf("bootstrap output does not say it closed postgres:\n%s", out)
	}
}
