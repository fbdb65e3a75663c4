-- Taking a firefighter password back and reading the grants: remove what a role owns,
-- expire, terminate sessions, sweep, status, the role's lock, the current grant and
-- secret version, end some grants of a shared role (rotate), the live grants.

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)
-- CREATE ... IF NOT EXISTS and DROP ... IF EXISTS print no NOTICE; WARNINGs still print.
SET client_min_messages = warning;

SET ROLE :"admin_role";

-- Removes what a firefighter role owns in this database: large objects (any role may
-- create them), and where schema public still grants CREATE to PUBLIC, tables,
-- functions and the like. It drops what DROP OWNED BY would drop, one object at a
-- time, and nothing else: DROP OWNED BY would also revoke the privileges granted to
-- the role (CONNECT, USAGE, SELECT), which the role model keeps. It never waits: an
-- object locked by a session (lock_timeout 10 ms, 55P03), or that another object
-- depends on, stays; so do the objects beyond the first 100 tries or 1 second of one
-- call. What stays gets a WARNING and waits for the next sweep; `ffbroker verify`
-- reports it. Callers expire the password and end the sessions first (their locks go
-- with them), so nothing a firefighter owns or locks can hold a take-back. A statement
-- timeout (57014) is not caught. Returns how many objects it removed; 0 on a hot
-- standby. Internal: expire and sweep call it when no grant is live.
CREATE OR REPLACE FUNCTION db_admin.firefighter_drop_owned(p_role name)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '10ms'
AS $fn$
DECLARE
  c_max_tries CONSTANT integer := 100;
  v_role name;
  v_done integer := 0;
  v_tries integer := 0;
  v_before integer;
  v_left text;
  v_more boolean := false;
  v_stop timestamptz;
  o record;
BEGIN
  v_role := db_admin.firefighter_role_checked(p_role);
  IF pg_catalog.pg_is_in_recovery() THEN
    RETURN 0;
  END IF;
  v_stop := pg_catalog.clock_timestamp() + interval '1 second';
  <<passes>>
  FOR v_pass IN 1..5 LOOP
    v_before := v_done;
    v_left := NULL;
    FOR o IN
      SELECT d.classid, d.objid, i.type, i.identity
      FROM pg_catalog.pg_shdepend d
      CROSS JOIN LATERAL pg_catalog.pg_identify_object(d.classid, d.objid, d.objsubid) i
      WHERE d.deptype = 'o' AND d.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass
        AND d.refobjid = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = v_role)
        AND d.dbid = (SELECT db.oid FROM pg_catalog.pg_database db WHERE db.datname = pg_catalog.current_database())
      ORDER BY d.classid, d.objid DESC
    LOOP
      IF v_tries >= c_max_tries OR pg_catalog.clock_timestamp() > v_stop THEN
        v_more := true;
        EXIT passes;
      END IF;
      v_tries := v_tries + 1;
      BEGIN
        IF o.type = 'large object' THEN
          PERFORM pg_catalog.lo_unlink(o.objid);
        ELSE
          EXECUTE pg_catalog.format('DROP %s %s', pg_catalog.upper(o.type), o.identity);
        END IF;
        v_done := v_done + 1;
      EXCEPTION WHEN OTHERS THEN -- never query_canceled: a statement timeout still stops the caller
        v_left := pg_catalog.concat_ws('; ', v_left, pg_catalog.format('%s %s: %s', o.type, o.identity, SQLERRM));
      END;
    END LOOP;
    EXIT WHEN v_left IS NULL OR v_done = v_before;
  END LOOP;
  IF v_more THEN
    RAISE WARNING 'ffbroker: % owns more objects than one call removes (% removed); the next sweep goes on',
      pg_catalog.quote_ident(v_role), v_done;
  END IF;
  IF v_left IS NOT NULL THEN
    RAISE WARNING 'ffbroker: % still owns objects in this database (the next sweep tries again): %',
      pg_catalog.quote_ident(v_role), pg_catalog.left(v_left, 2000);
  END IF;
  RETURN v_done;
END
$fn$;

-- Expires the role's password now and closes every open grant and reservation of the
-- role (a revoke). Returns the number of active grants closed. Existing sessions
-- survive: see terminate_firefighter_sessions. What the role owns goes last and
-- without waiting (firefighter_drop_owned): what a live session still locks is left
-- for the sweep, which ends the sessions first.
CREATE OR REPLACE FUNCTION db_admin.expire_firefighter_password(p_role name)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_role name;
  v_now timestamptz;
  v_closed integer;
BEGIN
  v_role := db_admin.firefighter_role_checked(p_role);
  PERFORM db_admin.firefighter_lock(v_role);
  v_now := pg_catalog.clock_timestamp();
  EXECUTE pg_catalog.format('ALTER ROLE %I PASSWORD NULL VALID UNTIL %L', v_role, 'epoch');
  WITH closed AS (
    UPDATE db_admin.firefighter_grant g
    SET closed_at = v_now,
        closed_reason = CASE WHEN g.activated_at IS NULL THEN 'abandoned'
                             WHEN g.expires_at > v_now THEN 'revoked' ELSE 'expired' END
    WHERE g.role = v_role AND g.closed_at IS NULL
    RETURNING g.activated_at)
  SELECT pg_catalog.count(*) FILTER (WHERE activated_at IS NOT NULL)::integer INTO v_closed FROM closed;
  -- No grant is live now: what the role created goes too (large objects included).
  PERFORM db_admin.firefighter_drop_owned(v_role);
  RETURN v_closed;
END
$fn$;

-- Terminates every session of the role and waits (up to 10 s) until they are gone.
-- Returns the number of sessions signalled.
CREATE OR REPLACE FUNCTION db_admin.terminate_firefighter_sessions(p_role name)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_role name;
  v_count integer;
  v_deadline timestamptz;
BEGIN
  v_role := db_admin.firefighter_role_checked(p_role);
  SELECT pg_catalog.count(*) FILTER (WHERE pg_catalog.pg_terminate_backend(a.pid))::integer INTO v_count
  FROM pg_catalog.pg_stat_activity a
  WHERE a.usename = v_role AND a.pid <> pg_catalog.pg_backend_pid();

  v_deadline := pg_catalog.clock_timestamp() + interval '10 seconds';
  LOOP
    PERFORM pg_catalog.pg_stat_clear_snapshot();
    EXIT WHEN NOT EXISTS (
      SELECT FROM pg_catalog.pg_stat_activity a
      WHERE a.usename = v_role AND a.pid <> pg_catalog.pg_backend_pid());
    EXIT WHEN pg_catalog.clock_timestamp() > v_deadline;
    PERFORM pg_catalog.pg_sleep(0.005);
  END LOOP;
  RETURN v_count;
END
$fn$;

-- The sweep's first form had no failure column.
DO $d$ BEGIN
  IF EXISTS (SELECT FROM pg_catalog.pg_proc p
             WHERE p.oid = pg_catalog.to_regprocedure('db_admin.sweep_expired_firefighters()')
               AND NOT ('failure' = ANY (p.proargnames))) THEN
    DROP FUNCTION db_admin.sweep_expired_firefighters();
  END IF;
END $d$;

-- For each firefighter role with no live grant left and anything still to take back
-- (a password not expired at the epoch, an active grant not yet closed, a session):
-- expire the password, close its grants and terminate its sessions, in that order,
-- then remove what it owns (firefighter_drop_owned, which never waits; an object left
-- alone is removed by a later run, and a run that removes one returns a row).
-- Reservations whose expiry passed without activation are closed as abandoned; a
-- reservation still in flight is left to its issue. Each role is taken back in its own
-- subtransaction: a role that fails (its row's failure says SQLSTATE and message, the
-- rest of the row is 0) leaves the other's take-back whole. A second run finds
-- nothing to do and returns no row.
CREATE OR REPLACE FUNCTION db_admin.sweep_expired_firefighters()
RETURNS TABLE (role name, grants_closed integer, sessions_terminated integer, failure text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_role name;
  v_now timestamptz;
  v_take boolean;
  v_closed integer;
  v_terminated integer;
  v_dropped integer;
  v_state text;
  v_message text;
BEGIN
  FOR v_role IN SELECT f.role FROM db_admin.firefighter_role f ORDER BY f.role LOOP
    v_take := false;
    v_closed := 0;
    v_terminated := 0;
    v_dropped := 0;
    BEGIN
      PERFORM db_admin.firefighter_lock(v_role);
      v_now := pg_catalog.clock_timestamp();
      UPDATE db_admin.firefighter_grant g SET closed_at = v_now, closed_reason = 'abandoned'
      WHERE g.role = v_role AND g.activated_at IS NULL AND g.closed_at IS NULL AND g.expires_at <= v_now;
      CONTINUE WHEN EXISTS (
        SELECT FROM db_admin.firefighter_grant g
        WHERE g.role = v_role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL AND g.expires_at > v_now);
      PERFORM pg_catalog.pg_stat_clear_snapshot();
      v_take := EXISTS (SELECT FROM pg_catalog.pg_roles r
                        WHERE r.rolname = v_role AND r.rolvaliduntil IS DISTINCT FROM 'epoch'::timestamptz)
        OR EXISTS (SELECT FROM db_admin.firefighter_grant g
                   WHERE g.role = v_role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL)
        OR EXISTS (SELECT FROM pg_catalog.pg_stat_activity a
                   WHERE a.usename = v_role AND a.pid <> pg_catalog.pg_backend_pid());
      IF v_take THEN
        EXECUTE pg_catalog.format('ALTER ROLE %I PASSWORD NULL VALID UNTIL %L', v_role, 'epoch');
        UPDATE db_admin.firefighter_grant g SET closed_at = v_now, closed_reason = 'expired'
        WHERE g.role = v_role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL;
        GET DIAGNOSTICS v_closed = ROW_COUNT;
        v_terminated := db_admin.terminate_firefighter_sessions(v_role);
      END IF;
      -- No grant is live and no session is left: what the role owns here goes.
      v_dropped := db_admin.firefighter_drop_owned(v_role);
    EXCEPTION WHEN OTHERS THEN -- never query_canceled: a statement timeout stops the whole run
      GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
      RAISE WARNING 'ffbroker: % could not be taken back (%: %); the other roles were, the next sweep tries again',
        pg_catalog.quote_ident(v_role), v_state, v_message;
      role := v_role;
      grants_closed := 0;
      sessions_terminated := 0;
      failure := v_state || ': ' || v_message;
      RETURN NEXT;
      CONTINUE;
    END;
    CONTINUE WHEN NOT (v_take OR v_dropped > 0);
    role := v_role;
    grants_closed := v_closed;
    sessions_terminated := v_terminated;
    failure := NULL;
    RETURN NEXT;
  END LOOP;
END
$fn$;

-- Read-only status of both firefighter roles.
CREATE OR REPLACE FUNCTION db_admin.firefighter_status()
RETURNS TABLE (role name, valid_until timestamptz, live_grants integer, sessions integer)
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT f.role,
         r.rolvaliduntil,
         (SELECT pg_catalog.count(*)::integer FROM db_admin.firefighter_grant g
           WHERE g.role = f.role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL
             AND g.expires_at > pg_catalog.clock_timestamp()),
         (SELECT pg_catalog.count(*)::integer FROM pg_catalog.pg_stat_activity a WHERE a.usename = f.role)
  FROM db_admin.firefighter_role f
  JOIN pg_catalog.pg_roles r ON r.rolname = f.role
  ORDER BY f.role;
$fn$;

-- Read-only: the firefighter roles and whether each needs a second person's approval.
-- The broker reads it on every request (the one source of "needs approval").
CREATE OR REPLACE FUNCTION db_admin.firefighter_roles()
RETURNS TABLE (role name, kind text, needs_approval boolean)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT f.role, f.kind, f.needs_approval FROM db_admin.firefighter_role f ORDER BY f.role;
$fn$;

-- Takes the role's lock for the rest of the caller's transaction: the broker holds it
-- while it changes the role's secret outside an activation (tombstone, repair), so
-- that no issue activates and publishes in between.
CREATE OR REPLACE FUNCTION db_admin.lock_firefighter_role(p_role name)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  PERFORM db_admin.firefighter_lock(db_admin.firefighter_role_checked(p_role));
END
$fn$;

-- The grant whose password the role holds: the one activated last since the role was
-- last expired. It may have ended already while an earlier, longer grant is still live
-- (the role stays valid until the latest expiry, with the password of the last
-- activation). NULL when the role holds no password set by a grant.
CREATE OR REPLACE FUNCTION db_admin.current_firefighter_grant(p_role name)
RETURNS uuid
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT g.grant_id FROM db_admin.firefighter_grant g
  WHERE g.role = p_role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL
  ORDER BY g.activated_at DESC LIMIT 1;
$fn$;

-- The secret version (ClientRequestToken) that holds the role's password: the rotated
-- version of current_firefighter_grant, or that grant's own. NULL as that function is.
CREATE OR REPLACE FUNCTION db_admin.current_firefighter_version(p_role name)
RETURNS uuid
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT COALESCE(g.password_version, g.grant_id) FROM db_admin.firefighter_grant g
  WHERE g.role = p_role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL
  ORDER BY g.activated_at DESC LIMIT 1;
$fn$;

-- The role's activated grants whose expiry passed and whose end is not recorded yet
-- (the role stays valid while a longer grant is live): what the sweep ends next.
CREATE OR REPLACE FUNCTION db_admin.ended_firefighter_grants(p_role name)
RETURNS TABLE (grant_id uuid, incident_id text, requester text, requester_key text, expires_at timestamptz)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT g.grant_id, g.incident_id, g.requester, g.requester_key, g.expires_at
  FROM db_admin.firefighter_grant g
  WHERE g.role = p_role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL
    AND g.expires_at <= pg_catalog.clock_timestamp()
  ORDER BY g.activated_at, g.grant_id;
$fn$;

-- Ends some grants of a shared role and keeps the others (a revoke of one party's
-- grants, or the sweep when one of overlapping grants expired). Under the role's lock it
-- closes the role's activated open grants listed in p_grant_ids ('revoked') and every
-- one whose expiry passed ('expired'); ids of other roles or of closed grants are
-- ignored. When a live grant is left, the ended holders' password must not work on:
-- the role's password becomes p_password (a SCRAM-SHA-256 verifier, or 32+ characters),
-- valid until the latest live expiry, and the grant activated last records p_version as
-- the secret version that holds it (see current_firefighter_version); both are required
-- then (FFB04). When none is left, the role is expired as expire_firefighter_password
-- does (PASSWORD NULL VALID UNTIL 'epoch', what it owns removed) and p_password is not
-- used. A role that needs approval (rw) is never given a password here, which only the
-- broker's login would know: a revoke of one of its grants ends all of them (each is
-- returned), and an expired grant of it overlapped by a live one is left to end with the
-- last. Sessions survive: the caller terminates them (a shared role's sessions cannot be
-- told apart). Returns one row per grant it closed, with the number of live grants
-- left; no row and no change when nothing was to end.
CREATE OR REPLACE FUNCTION db_admin.end_firefighter_grants(
  p_role name, p_grant_ids uuid[], p_password text DEFAULT NULL, p_version uuid DEFAULT NULL)
RETURNS TABLE (grant_id uuid, incident_id text, requester text, requester_key text, approver text,
               approver_key text, request_id uuid, expires_at timestamptz, closed_reason text, live_left integer)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET password_encryption = 'scram-sha-256'
AS $fn$
DECLARE
  v_role name;
  v_now timestamptz;
  v_left integer;
  v_until timestamptz;
  v_holder uuid;
  v_ended db_admin.firefighter_grant[];
  v_needs boolean;
BEGIN
  v_role := db_admin.firefighter_role_checked(p_role);
  PERFORM db_admin.firefighter_lock(v_role);
  v_now := pg_catalog.clock_timestamp();
  -- A role that needs approval gets no password from the broker's login alone: a
  -- revoke of one of its grants ends every live grant of it, and a grant that expired
  -- while another is live ends with the last one (as before: the sweep).
  SELECT f.needs_approval INTO v_needs FROM db_admin.firefighter_role f WHERE f.role = v_role;
  IF v_needs AND EXISTS (
      SELECT FROM db_admin.firefighter_grant g
      WHERE g.role = v_role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL AND g.expires_at > v_now
        AND g.grant_id <> ALL (COALESCE(p_grant_ids, '{}'::uuid[]))) THEN
    IF NOT EXISTS (
        SELECT FROM db_admin.firefighter_grant g
        WHERE g.role = v_role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL AND g.expires_at > v_now
          AND g.grant_id = ANY (COALESCE(p_grant_ids, '{}'::uuid[]))) THEN
      RETURN;
    END IF;
    SELECT pg_catalog.array_agg(g.grant_id) INTO p_grant_ids FROM db_admin.firefighter_grant g
    WHERE g.role = v_role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL;
  END IF;
  WITH closed AS (
    UPDATE db_admin.firefighter_grant g
    SET closed_at = v_now, closed_reason = CASE WHEN g.expires_at > v_now THEN 'revoked' ELSE 'expired' END
    WHERE g.role = v_role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL
      AND (g.expires_at <= v_now OR g.grant_id = ANY (COALESCE(p_grant_ids, '{}'::uuid[])))
    RETURNING g AS r)
  SELECT pg_catalog.array_agg(c.r) INTO v_ended FROM closed c;
  IF v_ended IS NULL THEN
    RETURN;
  END IF;

  SELECT pg_catalog.count(*)::integer, pg_catalog.max(g.expires_at) INTO v_left, v_until
  FROM db_admin.firefighter_grant g
  WHERE g.role = v_role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL AND g.expires_at > v_now;
  IF v_left = 0 THEN
    EXECUTE pg_catalog.format('ALTER ROLE %I PASSWORD NULL VALID UNTIL %L', v_role, 'epoch');
    PERFORM db_admin.firefighter_drop_owned(v_role);
  ELSE
    IF p_password IS NULL OR p_version IS NULL THEN
      RAISE EXCEPTION 'live grants of % are left: a new password and its secret version are required',
        pg_catalog.quote_ident(v_role) USING ERRCODE = 'FFB04';
    END IF;
    PERFORM db_admin.firefighter_check_password(p_password);
    BEGIN
      EXECUTE pg_catalog.format('ALTER ROLE %I PASSWORD %L VALID UNTIL %L', v_role, p_password, v_until);
    EXCEPTION WHEN OTHERS THEN
      -- Re-raise without the statement text, which holds the password.
      RAISE EXCEPTION 'could not set the password of role %: %', pg_catalog.quote_ident(v_role), SQLERRM
        USING ERRCODE = SQLSTATE;
    END;
    SELECT g.grant_id INTO v_holder FROM db_admin.firefighter_grant g
    WHERE g.role = v_role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL
    ORDER BY g.activated_at DESC LIMIT 1;
    UPDATE db_admin.firefighter_grant g SET password_version = p_version WHERE g.grant_id = v_holder;
  END IF;
  RETURN QUERY SELECT e.grant_id, e.incident_id, e.requester, e.requester_key, e.approver, e.approver_key,
    e.request_id, e.expires_at, e.closed_reason, v_left
  FROM pg_catalog.unnest(v_ended) e ORDER BY e.activated_at, e.grant_id;
END
$fn$;

-- Functions whose result columns changed since an earlier bootstrap: CREATE OR REPLACE
-- cannot change a result type, so the old form is dropped once (it has not the column).
DO $d$
DECLARE
  f record;
BEGIN
  FOR f IN SELECT * FROM (VALUES
    ('db_admin.live_firefighter_grants()', 'requester_key'),
    ('db_admin.attach_firefighter_task_token(uuid, text, text)', 'state'),
    ('db_admin.firefighter_request_status(uuid)', 'requester_proof'),
    ('db_admin.firefighter_request_status(uuid)', 'kind'),
    ('db_admin.pending_firefighter_requests()', 'kind')) AS v(sig, col) LOOP
    IF EXISTS (SELECT FROM pg_catalog.pg_proc p
               WHERE p.oid = pg_catalog.to_regprocedure(f.sig) AND NOT (f.col = ANY (p.proargnames))) THEN
      EXECUTE 'DROP FUNCTION ' || f.sig;
    END IF;
  END LOOP;
END $d$;

-- The live grants, for status answers, revoke authority and the sweep's repair of
-- half-done issues. The role's password is the one of the grant activated last.
CREATE OR REPLACE FUNCTION db_admin.live_firefighter_grants()
RETURNS TABLE (grant_id uuid, role name, incident_id text, requester text, approver text,
               issued_at timestamptz, expires_at timestamptz, activated_at timestamptz,
               requester_key text, approver_key text, request_id uuid)
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT g.grant_id, g.role, g.incident_id, g.requester, g.approver, g.issued_at, g.expires_at, g.activated_at,
         g.requester_key, g.approver_key, g.request_id
  FROM db_admin.firefighter_grant g
  WHERE g.activated_at IS NOT NULL AND g.closed_at IS NULL AND g.expires_at > pg_catalog.clock_timestamp()
  ORDER BY g.role, g.activated_at;
$fn$;

RESET ROLE;
RESET client_min_messages;
