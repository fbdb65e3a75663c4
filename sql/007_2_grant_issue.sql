-- Issuing a firefighter password: the checks every issue shares, the approval behind a
-- grant of a role that needs one, reserve (step 1), issue (step 2) and the manual
-- set_firefighter_password. Tables: 007_1_db_admin_tables.sql; SQLSTATEs: there too.

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)
-- CREATE ... IF NOT EXISTS and DROP ... IF EXISTS print no NOTICE; WARNINGs still print.
SET client_min_messages = warning;

SET ROLE :"admin_role";

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

-- The signatures before the request ledger (approver passed by the caller): gone, so
-- that no caller can name its own approver.
DROP FUNCTION IF EXISTS db_admin.issue_firefighter_password(uuid, name, text, integer, text, text, text);
DROP FUNCTION IF EXISTS db_admin.reserve_firefighter_grant(uuid, name, integer, text, text, text);

-- Internal: the approval behind a grant of a role that needs one. Locks the request and
-- checks that it is for this role, incident, hours and requester, was approved by
-- another person through another login, and is not used by another grant. Returns the
-- request with the approver, or, when the request was already consumed, with the grant
-- that consumed it (the caller then reuses that grant). Raises FFB05/FFB07/FFB10.
CREATE OR REPLACE FUNCTION db_admin.firefighter_approved_request(
  p_request_id uuid, p_role name, p_hours integer, p_incident_id text, p_requester_key text, p_grant_id uuid)
RETURNS TABLE (state text, grant_id uuid, approver text, approver_key text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_req db_admin.firefighter_request%ROWTYPE;
  v_appr db_admin.firefighter_approval%ROWTYPE;
BEGIN
  IF p_request_id IS NULL THEN
    RAISE EXCEPTION 'role % needs an approved request', pg_catalog.quote_ident(p_role) USING ERRCODE = 'FFB07';
  END IF;
  SELECT r.* INTO v_req FROM db_admin.firefighter_request r WHERE r.request_id = p_request_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no request %', p_request_id USING ERRCODE = 'FFB10';
  END IF;
  IF v_req.role <> p_role OR v_req.incident_id IS DISTINCT FROM p_incident_id OR v_req.hours <> p_hours
     OR pg_catalog.lower(v_req.requester_key) IS DISTINCT FROM pg_catalog.lower(p_requester_key) THEN
    RAISE EXCEPTION 'request % is for another role, incident, validity or requester', p_request_id USING ERRCODE = 'FFB05';
  END IF;
  IF v_req.kind <> 'issue' THEN
    RAISE EXCEPTION 'request % asks to extend a grant, not for a new one', p_request_id USING ERRCODE = 'FFB05';
  END IF;
  IF v_req.state = 'issued' THEN
    RETURN QUERY SELECT v_req.state, v_req.grant_id, NULL::text, NULL::text;
    RETURN;
  END IF;
  IF v_req.state <> 'approved' THEN
    RAISE EXCEPTION 'request % is not approved (it is %)', p_request_id, v_req.state USING ERRCODE = 'FFB07';
  END IF;
  IF v_req.grant_id IS NOT NULL AND v_req.grant_id <> p_grant_id THEN
    RAISE EXCEPTION 'request % is being issued by another grant', p_request_id USING ERRCODE = 'FFB05';
  END IF;
  SELECT a.* INTO v_appr FROM db_admin.firefighter_approval a WHERE a.request_id = p_request_id;
  IF NOT FOUND OR v_appr.decision <> 'approve' OR pg_catalog.lower(v_appr.approver_key) = pg_catalog.lower(v_req.requester_key)
     OR v_appr.recorded_by = session_user THEN
    RAISE EXCEPTION 'request % has no approval by a second person', p_request_id USING ERRCODE = 'FFB07';
  END IF;
  -- Nobody's request is never issued: the issue step checks the kept proof with STS.
  IF v_req.requester_proof IS NULL OR v_req.requester_proof = '' THEN
    RAISE EXCEPTION 'request % carries no proof of its requester', p_request_id USING ERRCODE = 'FFB07';
  END IF;
  IF v_appr.decided_at < pg_catalog.clock_timestamp() - interval '1 hour' THEN
    RAISE EXCEPTION 'the approval of request % is older than an hour; ask again', p_request_id USING ERRCODE = 'FFB07';
  END IF;
  UPDATE db_admin.firefighter_request r SET grant_id = p_grant_id WHERE r.request_id = p_request_id;
  RETURN QUERY SELECT v_req.state, p_grant_id, v_appr.approver, v_appr.approver_key;
END
$fn$;

-- Internal: step 1 of an issue. p_manual is true only when a DBA calls the manual
-- function by hand (see set_firefighter_password); it alone skips the approval.
CREATE OR REPLACE FUNCTION db_admin.firefighter_reserve(
  p_grant_id uuid, p_role name, p_hours integer, p_incident_id text, p_requester text,
  p_requester_key text, p_request_id uuid, p_manual boolean)
RETURNS TABLE (grant_id uuid, expires_at timestamptz, state text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_role name;
  v_now timestamptz;
  v_needs boolean;
  v_row db_admin.firefighter_grant%ROWTYPE;
  v_appr record;
  v_approver text;
  v_approver_key text;
BEGIN
  v_role := db_admin.firefighter_role_checked(p_role);
  PERFORM db_admin.firefighter_check_request(p_grant_id, p_hours, p_incident_id, p_requester, NULL);
  PERFORM db_admin.firefighter_lock(v_role);
  v_now := pg_catalog.clock_timestamp();

  SELECT f.needs_approval INTO v_needs FROM db_admin.firefighter_role f WHERE f.role = v_role;
  IF p_request_id IS NOT NULL OR (v_needs AND NOT p_manual) THEN
    SELECT a.* INTO v_appr
    FROM db_admin.firefighter_approved_request(p_request_id, v_role, p_hours, p_incident_id, p_requester_key, p_grant_id) AS a;
    IF v_appr.state = 'issued' THEN
      SELECT g.* INTO v_row FROM db_admin.firefighter_grant g WHERE g.grant_id = v_appr.grant_id;
      IF NOT FOUND OR v_row.closed_at IS NOT NULL OR v_row.expires_at <= v_now THEN
        RAISE EXCEPTION 'request % was used by a grant that has ended; ask again', p_request_id USING ERRCODE = 'FFB05';
      END IF;
      RETURN QUERY SELECT v_row.grant_id, v_row.expires_at, 'active'::text;
      RETURN;
    END IF;
    v_approver := v_appr.approver;
    v_approver_key := v_appr.approver_key;
  END IF;

  SELECT g.* INTO v_row FROM db_admin.firefighter_grant g WHERE g.grant_id = p_grant_id;
  IF FOUND THEN
    IF v_row.role <> v_role OR v_row.incident_id IS DISTINCT FROM p_incident_id
       OR v_row.request_id IS DISTINCT FROM p_request_id THEN
      RAISE EXCEPTION 'grant id % belongs to another role, incident or request', p_grant_id USING ERRCODE = 'FFB05';
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
      IF p_request_id IS NOT NULL THEN
        UPDATE db_admin.firefighter_request r SET state = 'issued', issued_at = v_now, grant_id = v_row.grant_id
        WHERE r.request_id = p_request_id;
      END IF;
      RETURN QUERY SELECT v_row.grant_id, v_row.expires_at, 'active'::text;
      RETURN;
    END IF;
  END IF;

  -- One person holds at most 3 grants of a role at once (each keeps a reader record in
  -- a tag of the role's secret, and a secret holds 50 tags); a DBA's manual issue has
  -- no requester key and is not counted.
  IF p_requester_key IS NOT NULL AND (
       SELECT pg_catalog.count(DISTINCT g.incident_id) FROM db_admin.firefighter_grant g
       WHERE g.role = v_role AND g.closed_at IS NULL AND g.expires_at > v_now
         AND pg_catalog.lower(g.requester_key) = pg_catalog.lower(p_requester_key)
         AND g.incident_id IS DISTINCT FROM p_incident_id) >= 3 THEN
    RAISE EXCEPTION '% holds live or reserved grants of % for 3 other incidents, the most one person may: revoke one or let it expire',
      p_requester, pg_catalog.quote_ident(v_role) USING ERRCODE = 'FFB17';
  END IF;

  INSERT INTO db_admin.firefighter_grant
    (grant_id, role, incident_id, requester, requester_key, approver, approver_key, request_id, issued_at, expires_at)
  VALUES (p_grant_id, v_role, p_incident_id, p_requester, p_requester_key, v_approver, v_approver_key,
          p_request_id, v_now, v_now + p_hours * interval '1 hour');
  RETURN QUERY SELECT p_grant_id, v_now + p_hours * interval '1 hour', 'reserved'::text;
END
$fn$;

-- Step 1 of the broker's issue: reserves grant p_grant_id and fixes its expiry from the
-- database clock, without touching the role. Returns state 'reserved' for a new or
-- retried reservation, or 'active' with the live grant of the same role and incident
-- (or of this grant id, or of the request) when there is one: the caller then reuses
-- it. For a role that needs approval, p_request_id must name a request approved by a
-- second person (see firefighter_approved_request); the approver is taken from the
-- approval ledger, never from the caller.
CREATE OR REPLACE FUNCTION db_admin.reserve_firefighter_grant(
  p_grant_id uuid,
  p_role name,
  p_hours integer,
  p_incident_id text,
  p_requester text,
  p_requester_key text DEFAULT NULL,
  p_request_id uuid DEFAULT NULL
)
RETURNS TABLE (grant_id uuid, expires_at timestamptz, state text)
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT r.grant_id, r.expires_at, r.state
  FROM db_admin.firefighter_reserve(p_grant_id, p_role, p_hours, p_incident_id, p_requester,
                                    p_requester_key, p_request_id, false) AS r;
$fn$;

-- Internal: step 2 of an issue (see issue_firefighter_password).
CREATE OR REPLACE FUNCTION db_admin.firefighter_issue(
  p_grant_id uuid, p_role name, p_password text, p_hours integer, p_incident_id text,
  p_requester text, p_requester_key text, p_request_id uuid, p_manual boolean)
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
  FROM db_admin.firefighter_reserve(p_grant_id, v_role, p_hours, p_incident_id, p_requester,
                                    p_requester_key, p_request_id, p_manual) AS r;

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
      IF p_request_id IS NOT NULL THEN
        UPDATE db_admin.firefighter_request r SET state = 'issued', issued_at = pg_catalog.clock_timestamp(),
          grant_id = v_other.grant_id
        WHERE r.request_id = p_request_id;
      END IF;
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
  IF p_request_id IS NOT NULL THEN
    UPDATE db_admin.firefighter_request r SET state = 'issued', issued_at = pg_catalog.clock_timestamp()
    WHERE r.request_id = p_request_id;
  END IF;

  RETURN QUERY SELECT v_res.grant_id, v_res.expires_at, v_until, false;
END
$fn$;

-- The extended form the broker calls (step 2 of its issue): sets the role's password and
-- activates grant p_grant_id, using the expiry of its reservation when there is one, else
-- reserving and activating at once. Idempotent on p_grant_id: a retry returns the active
-- grant with reused = true, as does a request for the same role and incident while its
-- grant is live. p_password is a SCRAM-SHA-256 verifier computed by the caller, or
-- plaintext of 32+ characters. The role stays valid until the latest live grant ends.
-- For a role that needs approval, p_request_id names the approved request, which the
-- activation consumes: one approval, one grant.
CREATE OR REPLACE FUNCTION db_admin.issue_firefighter_password(
  p_grant_id uuid,
  p_role name,
  p_password text,
  p_hours integer,
  p_incident_id text,
  p_requester text,
  p_requester_key text DEFAULT NULL,
  p_request_id uuid DEFAULT NULL
)
RETURNS TABLE (grant_id uuid, expires_at timestamptz, valid_until timestamptz, reused boolean)
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT i.grant_id, i.expires_at, i.valid_until, i.reused
  FROM db_admin.firefighter_issue(p_grant_id, p_role, p_password, p_hours, p_incident_id, p_requester,
                                  p_requester_key, p_request_id, false) AS i;
$fn$;

-- The manual function (set_firefighter_password), for a DBA by hand. The grant is
-- recorded with the session user as requester and no incident. A role that needs
-- approval (rw) is refused unless the session user is the admin or a member of it (the
-- DBA by hand): the broker's login never gets read-write access through it.
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
  -- current_user is the function's owner, the admin.
  SELECT i.expires_at
  FROM db_admin.firefighter_issue(
    pg_catalog.gen_random_uuid(), p_role, p_password, p_hours, NULL, session_user::text, NULL, NULL,
    pg_catalog.pg_has_role(session_user, current_user, 'MEMBER')) AS i;
$fn$;

RESET ROLE;
RESET client_min_messages;
