-- Section 9: the db_admin schema, the firefighter grant ledger and the SECURITY DEFINER
-- functions that are the broker's only powers. Everything here is owned by the admin.
--
-- Every function: SECURITY DEFINER, SET search_path = pg_catalog, pg_temp, every object
-- schema-qualified, EXECUTE revoked from PUBLIC and granted to the broker by name.
-- Refusals carry their own SQLSTATE so callers need not parse messages:
--   FFB01 role not allowed        FFB02 password or verifier refused
--   FFB03 hours out of range      FFB04 missing or malformed argument
--   FFB05 grant id reused for another role or incident
--   FFB06 approver is the requester

SELECT pg_catalog.format('CREATE SCHEMA IF NOT EXISTS db_admin AUTHORIZATION %I', :'admin_role') \gexec

SET ROLE :"admin_role";

REVOKE ALL ON SCHEMA db_admin FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA db_admin REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- The allowlist: the only roles the functions will ever alter.
CREATE TABLE IF NOT EXISTS db_admin.firefighter_role (
  role name PRIMARY KEY,
  kind text NOT NULL UNIQUE CHECK (kind IN ('ro', 'rw'))
);
REVOKE ALL ON db_admin.firefighter_role FROM PUBLIC;
INSERT INTO db_admin.firefighter_role (role, kind)
VALUES (:'ff_ro_role', 'ro'), (:'ff_rw_role', 'rw')
ON CONFLICT DO NOTHING;

-- The ledger: one row per grant. The broker first reserves a grant (its expiry is fixed
-- then, from the database clock, so the secret written next can carry it), then
-- activates it by setting the password: activation is the point where the grant exists.
-- A grant is live while it is activated, not closed, and expires_at is in the future.
CREATE TABLE IF NOT EXISTS db_admin.firefighter_grant (
  grant_id      uuid PRIMARY KEY,
  role          name NOT NULL REFERENCES db_admin.firefighter_role (role),
  incident_id   text,
  requester     text NOT NULL,
  approver      text,
  issued_at     timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  activated_at  timestamptz,
  closed_at     timestamptz,
  closed_reason text CHECK (closed_reason IN ('expired', 'revoked', 'abandoned')),
  CHECK (expires_at > issued_at AND expires_at <= issued_at + interval '2 hours'),
  CHECK (approver IS NULL OR approver <> requester)
);
REVOKE ALL ON db_admin.firefighter_grant FROM PUBLIC;
CREATE INDEX IF NOT EXISTS firefighter_grant_open_idx
  ON db_admin.firefighter_grant (role, expires_at) WHERE closed_at IS NULL;

-- Internal: resolves p_role against the allowlist and refuses anything privileged.
CREATE OR REPLACE FUNCTION db_admin.firefighter_role_checked(p_role name)
RETURNS name
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_role name;
BEGIN
  SELECT f.role INTO v_role FROM db_admin.firefighter_role f WHERE f.role = p_role;
  IF v_role IS NULL THEN
    RAISE EXCEPTION 'role % is not allowed for firefighter password rotation', pg_catalog.quote_ident(p_role)
      USING ERRCODE = 'FFB01';
  END IF;
  IF NOT EXISTS (
    SELECT FROM pg_catalog.pg_roles r
    WHERE r.rolname = v_role AND r.rolcanlogin
      AND NOT (r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls)) THEN
    RAISE EXCEPTION 'role % is missing or has attributes a firefighter role must not have', pg_catalog.quote_ident(v_role)
      USING ERRCODE = 'FFB01';
  END IF;
  RETURN v_role;
END
$fn$;

-- Internal: serialises every change of one firefighter role within the transaction.
CREATE OR REPLACE FUNCTION db_admin.firefighter_lock(p_role name)
RETURNS void
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('ffbroker.firefighter'), pg_catalog.hashtext(p_role::text));
$fn$;

-- Internal: the checks every issuing call shares. Raises FFB03/FFB04/FFB06.
CREATE OR REPLACE FUNCTION db_admin.firefighter_check_request(
  p_grant_id uuid, p_hours integer, p_incident_id text, p_requester text, p_approver text)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF p_grant_id IS NULL THEN
    RAISE EXCEPTION 'grant id is required' USING ERRCODE = 'FFB04';
  END IF;
  IF p_hours IS NULL OR p_hours < 1 OR p_hours > 2 THEN
    RAISE EXCEPTION 'temporary password validity must be between 1 and 2 hours' USING ERRCODE = 'FFB03';
  END IF;
  IF p_incident_id IS NOT NULL AND p_incident_id !~ '^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,127}$' THEN
    RAISE EXCEPTION 'malformed incident id' USING ERRCODE = 'FFB04';
  END IF;
  IF p_requester IS NULL OR pg_catalog.length(p_requester) NOT BETWEEN 1 AND 2048 THEN
    RAISE EXCEPTION 'requester is required' USING ERRCODE = 'FFB04';
  END IF;
  IF p_approver IS NOT NULL AND p_approver = p_requester THEN
    RAISE EXCEPTION 'the approver must not be the requester' USING ERRCODE = 'FFB06';
  END IF;
END
$fn$;

-- Internal: refuses anything but a SCRAM-SHA-256 verifier of PostgreSQL's exact form or
-- plaintext of 32+ characters. Raises FFB02.
CREATE OR REPLACE FUNCTION db_admin.firefighter_check_password(p_password text)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF p_password IS NULL THEN
    RAISE EXCEPTION 'temporary password must be at least 32 characters' USING ERRCODE = 'FFB02';
  ELSIF p_password LIKE 'SCRAM-SHA-256$%' THEN
    IF p_password !~ '^SCRAM-SHA-256\$[1-9][0-9]{3,8}:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$' THEN
      RAISE EXCEPTION 'malformed SCRAM-SHA-256 verifier' USING ERRCODE = 'FFB02';
    END IF;
  ELSIF p_password ~* '^md5[0-9a-f]{32}$' THEN
    RAISE EXCEPTION 'md5 password hashes are not accepted' USING ERRCODE = 'FFB02';
  ELSIF pg_catalog.length(p_password) < 32 THEN
    RAISE EXCEPTION 'temporary password must be at least 32 characters' USING ERRCODE = 'FFB02';
  END IF;
END
$fn$;

-- Step 1 of the broker's issue: reserves grant p_grant_id and fixes its expiry from the
-- database clock, without touching the role. Returns state 'reserved' for a new or
-- retried reservation, or 'active' with the live grant of the same role and incident
-- (or of this grant id) when there is one: the caller then reuses it.
CREATE OR REPLACE FUNCTION db_admin.reserve_firefighter_grant(
  p_grant_id uuid,
  p_role name,
  p_hours integer,
  p_incident_id text,
  p_requester text,
  p_approver text DEFAULT NULL
)
RETURNS TABLE (grant_id uuid, expires_at timestamptz, state text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_role name;
  v_now timestamptz;
  v_row db_admin.firefighter_grant%ROWTYPE;
BEGIN
  v_role := db_admin.firefighter_role_checked(p_role);
  PERFORM db_admin.firefighter_check_request(p_grant_id, p_hours, p_incident_id, p_requester, p_approver);
  PERFORM db_admin.firefighter_lock(v_role);
  v_now := pg_catalog.clock_timestamp();

  SELECT g.* INTO v_row FROM db_admin.firefighter_grant g WHERE g.grant_id = p_grant_id;
  IF FOUND THEN
    IF v_row.role <> v_role OR v_row.incident_id IS DISTINCT FROM p_incident_id THEN
      RAISE EXCEPTION 'grant id % belongs to another role or incident', p_grant_id USING ERRCODE = 'FFB05';
    END IF;
    IF v_row.closed_at IS NOT NULL OR v_row.expires_at <= v_now THEN
      RAISE EXCEPTION 'grant % is closed or expired', p_grant_id USING ERRCODE = 'FFB05';
    END IF;
    RETURN QUERY SELECT v_row.grant_id, v_row.expires_at,
      CASE WHEN v_row.activated_at IS NULL THEN 'reserved' ELSE 'active' END;
    RETURN;
  END IF;

  IF p_incident_id IS NOT NULL THEN
    SELECT g.* INTO v_row FROM db_admin.firefighter_grant g
    WHERE g.role = v_role AND g.incident_id = p_incident_id AND g.activated_at IS NOT NULL
      AND g.closed_at IS NULL AND g.expires_at > v_now
    ORDER BY g.expires_at DESC LIMIT 1;
    IF FOUND THEN
      RETURN QUERY SELECT v_row.grant_id, v_row.expires_at, 'active'::text;
      RETURN;
    END IF;
  END IF;

  INSERT INTO db_admin.firefighter_grant
    (grant_id, role, incident_id, requester, approver, issued_at, expires_at)
  VALUES (p_grant_id, v_role, p_incident_id, p_requester, p_approver, v_now, v_now + p_hours * interval '1 hour');
  RETURN QUERY SELECT p_grant_id, v_now + p_hours * interval '1 hour', 'reserved'::text;
END
$fn$;

-- The extended form the broker calls (step 2 of its issue): sets the role's password and
-- activates grant p_grant_id, using the expiry of its reservation when there is one, else
-- reserving and activating at once. Idempotent on p_grant_id: a retry returns the active
-- grant with reused = true, as does a request for the same role and incident while its
-- grant is live. p_password is a SCRAM-SHA-256 verifier computed by the caller, or
-- plaintext of 32+ characters. The role stays valid until the latest live grant ends.
CREATE OR REPLACE FUNCTION db_admin.issue_firefighter_password(
  p_grant_id uuid,
  p_role name,
  p_password text,
  p_hours integer,
  p_incident_id text,
  p_requester text,
  p_approver text DEFAULT NULL
)
RETURNS TABLE (grant_id uuid, expires_at timestamptz, valid_until timestamptz, reused boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET password_encryption = 'scram-sha-256'
AS $fn$
DECLARE
  v_role name;
  v_res record;
  v_other record;
  v_until timestamptz;
BEGIN
  v_role := db_admin.firefighter_role_checked(p_role);
  PERFORM db_admin.firefighter_check_password(p_password);
  SELECT r.* INTO v_res
  FROM db_admin.reserve_firefighter_grant(p_grant_id, v_role, p_hours, p_incident_id, p_requester, p_approver) AS r;

  IF v_res.state = 'active' THEN
    SELECT r.rolvaliduntil INTO v_until FROM pg_catalog.pg_roles r WHERE r.rolname = v_role;
    RETURN QUERY SELECT v_res.grant_id, v_res.expires_at, v_until, true;
    RETURN;
  END IF;

  -- Another request for the same incident activated first while this one was reserved:
  -- return that grant and abandon this reservation.
  IF p_incident_id IS NOT NULL THEN
    SELECT g.grant_id, g.expires_at INTO v_other FROM db_admin.firefighter_grant g
    WHERE g.role = v_role AND g.incident_id = p_incident_id AND g.grant_id <> v_res.grant_id
      AND g.activated_at IS NOT NULL AND g.closed_at IS NULL AND g.expires_at > pg_catalog.clock_timestamp()
    ORDER BY g.expires_at DESC LIMIT 1;
    IF FOUND THEN
      UPDATE db_admin.firefighter_grant g SET closed_at = pg_catalog.clock_timestamp(), closed_reason = 'abandoned'
      WHERE g.grant_id = v_res.grant_id;
      SELECT r.rolvaliduntil INTO v_until FROM pg_catalog.pg_roles r WHERE r.rolname = v_role;
      RETURN QUERY SELECT v_other.grant_id, v_other.expires_at, v_until, true;
      RETURN;
    END IF;
  END IF;

  SELECT pg_catalog.max(g.expires_at) INTO v_until FROM db_admin.firefighter_grant g
  WHERE g.role = v_role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL
    AND g.expires_at > pg_catalog.clock_timestamp();
  v_until := GREATEST(v_res.expires_at, v_until);

  BEGIN
    EXECUTE pg_catalog.format('ALTER ROLE %I PASSWORD %L VALID UNTIL %L', v_role, p_password, v_until);
  EXCEPTION WHEN OTHERS THEN
    -- Re-raise without the statement text, which holds the password.
    RAISE EXCEPTION 'could not set the password of role %: %', pg_catalog.quote_ident(v_role), SQLERRM
      USING ERRCODE = SQLSTATE;
  END;

  UPDATE db_admin.firefighter_grant g SET activated_at = pg_catalog.clock_timestamp()
  WHERE g.grant_id = v_res.grant_id;

  RETURN QUERY SELECT v_res.grant_id, v_res.expires_at, v_until, false;
END
$fn$;

-- The seed's function, same signature and checks, for manual use by a DBA. The grant is
-- recorded with the session user as requester and no incident.
CREATE OR REPLACE FUNCTION db_admin.set_firefighter_password(
  p_role name,
  p_password text,
  p_hours integer DEFAULT 2
)
RETURNS timestamptz
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT i.expires_at
  FROM db_admin.issue_firefighter_password(
    pg_catalog.gen_random_uuid(), p_role, p_password, p_hours, NULL, session_user::text, NULL) AS i;
$fn$;

-- Expires the role's password now and closes every open grant and reservation of the
-- role (a revoke). Returns the number of active grants closed. Existing sessions
-- survive: see terminate_firefighter_sessions.
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

-- For each firefighter role with no live grant left and anything still to take back
-- (a password not expired at the epoch, an active grant not yet closed, a session):
-- expire the password, close its grants and terminate its sessions. Reservations whose
-- expiry passed without activation are closed as abandoned; a reservation still in
-- flight is left to its issue. A second run finds nothing to do and returns no row.
CREATE OR REPLACE FUNCTION db_admin.sweep_expired_firefighters()
RETURNS TABLE (role name, grants_closed integer, sessions_terminated integer)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_role name;
  v_now timestamptz;
BEGIN
  FOR v_role IN SELECT f.role FROM db_admin.firefighter_role f ORDER BY f.role LOOP
    PERFORM db_admin.firefighter_lock(v_role);
    v_now := pg_catalog.clock_timestamp();
    UPDATE db_admin.firefighter_grant g SET closed_at = v_now, closed_reason = 'abandoned'
    WHERE g.role = v_role AND g.activated_at IS NULL AND g.closed_at IS NULL AND g.expires_at <= v_now;
    CONTINUE WHEN EXISTS (
      SELECT FROM db_admin.firefighter_grant g
      WHERE g.role = v_role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL AND g.expires_at > v_now);
    PERFORM pg_catalog.pg_stat_clear_snapshot();
    CONTINUE WHEN NOT (
      EXISTS (SELECT FROM pg_catalog.pg_roles r
              WHERE r.rolname = v_role AND r.rolvaliduntil IS DISTINCT FROM 'epoch'::timestamptz)
      OR EXISTS (SELECT FROM db_admin.firefighter_grant g
                 WHERE g.role = v_role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL)
      OR EXISTS (SELECT FROM pg_catalog.pg_stat_activity a
                 WHERE a.usename = v_role AND a.pid <> pg_catalog.pg_backend_pid()));
    EXECUTE pg_catalog.format('ALTER ROLE %I PASSWORD NULL VALID UNTIL %L', v_role, 'epoch');
    UPDATE db_admin.firefighter_grant g SET closed_at = v_now, closed_reason = 'expired'
    WHERE g.role = v_role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL;
    GET DIAGNOSTICS grants_closed = ROW_COUNT;
    role := v_role;
    sessions_terminated := db_admin.terminate_firefighter_sessions(v_role);
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

-- The live grants, for status answers and for the sweep's repair of half-done issues.
-- The role's password is the one of the grant activated last.
CREATE OR REPLACE FUNCTION db_admin.live_firefighter_grants()
RETURNS TABLE (grant_id uuid, role name, incident_id text, requester text, approver text,
               issued_at timestamptz, expires_at timestamptz, activated_at timestamptz)
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT g.grant_id, g.role, g.incident_id, g.requester, g.approver, g.issued_at, g.expires_at, g.activated_at
  FROM db_admin.firefighter_grant g
  WHERE g.activated_at IS NOT NULL AND g.closed_at IS NULL AND g.expires_at > pg_catalog.clock_timestamp()
  ORDER BY g.role, g.activated_at;
$fn$;

-- EXECUTE: nobody by default; the broker gets exactly its functions.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA db_admin FROM PUBLIC;

RESET ROLE;
SET ROLE :"admin_role";
SELECT pg_catalog.format('GRANT USAGE ON SCHEMA db_admin TO %I', :'broker_role') \gexec
SELECT pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %I', f, :'broker_role')
FROM unnest(ARRAY[
  'db_admin.set_firefighter_password(name, text, integer)',
  'db_admin.reserve_firefighter_grant(uuid, name, integer, text, text, text)',
  'db_admin.issue_firefighter_password(uuid, name, text, integer, text, text, text)',
  'db_admin.expire_firefighter_password(name)',
  'db_admin.terminate_firefighter_sessions(name)',
  'db_admin.sweep_expired_firefighters()',
  'db_admin.firefighter_status()',
  'db_admin.live_firefighter_grants()',
  'db_admin.lock_firefighter_role(name)',
  'db_admin.current_firefighter_grant(name)'
]) AS f \gexec
RESET ROLE;
