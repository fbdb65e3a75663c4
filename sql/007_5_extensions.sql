-- Extensions of a live grant: the checks, the extension request and the extension
-- within the lifetime cap (db_admin.firefighter_extension).

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)
-- CREATE ... IF NOT EXISTS and DROP ... IF EXISTS print no NOTICE; WARNINGs still print.
SET client_min_messages = warning;

SET ROLE :"admin_role";

-- Internal: the live grant of p_role for p_incident_id that p_requester_key may
-- extend, locked. Raises FFB12 when there is none, FFB13 when it is another person's.
-- The caller holds the role's lock.
CREATE OR REPLACE FUNCTION db_admin.firefighter_extendable_grant(p_role name, p_incident_id text, p_requester_key text)
RETURNS db_admin.firefighter_grant
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_row db_admin.firefighter_grant%ROWTYPE;
BEGIN
  SELECT g.* INTO v_row FROM db_admin.firefighter_grant g
  WHERE g.role = p_role AND g.incident_id = p_incident_id AND g.activated_at IS NOT NULL
    AND g.closed_at IS NULL AND g.expires_at > pg_catalog.clock_timestamp()
  ORDER BY g.expires_at DESC LIMIT 1
  FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no live grant of % for this incident', pg_catalog.quote_ident(p_role) USING ERRCODE = 'FFB12';
  END IF;
  IF v_row.requester_key IS NULL OR pg_catalog.lower(v_row.requester_key) <> pg_catalog.lower(p_requester_key) THEN
    RAISE EXCEPTION 'only the requester of the live grant of % for this incident may extend it', pg_catalog.quote_ident(p_role)
      USING ERRCODE = 'FFB13';
  END IF;
  RETURN v_row;
END
$fn$;

-- Internal: the checks every extension call shares. Raises FFB03/FFB04.
CREATE OR REPLACE FUNCTION db_admin.firefighter_check_extension(
  p_hours integer, p_incident_id text, p_requester text, p_requester_key text)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF p_hours IS NULL OR p_hours < 1 OR p_hours > 2 THEN
    RAISE EXCEPTION 'an extension must be of 1 or 2 hours' USING ERRCODE = 'FFB03';
  END IF;
  IF p_incident_id IS NULL OR p_incident_id !~ '^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,127}$' THEN
    RAISE EXCEPTION 'missing or malformed incident id' USING ERRCODE = 'FFB04';
  END IF;
  IF p_requester IS NULL OR pg_catalog.length(p_requester) NOT BETWEEN 1 AND 2048
     OR p_requester_key IS NULL OR pg_catalog.length(p_requester_key) NOT BETWEEN 1 AND 2048 THEN
    RAISE EXCEPTION 'requester and requester key are required' USING ERRCODE = 'FFB04';
  END IF;
END
$fn$;

-- Records a request to extend a live grant of a role that needs approval (broker
-- login, POST /access/{role}/extend). The grant is the caller's own live grant of the
-- role for the incident (FFB12 none, FFB13 another person's); p_request_path is the
-- path the requester's proof is bound to. The same person's pending extension of the
-- same grant is returned instead (reused). Once approved by a second person through
-- the approver's login, extend_firefighter_grant with p_request_id carries it out.
CREATE OR REPLACE FUNCTION db_admin.submit_firefighter_extension(
  p_request_id uuid,
  p_role name,
  p_incident_id text,
  p_hours integer,
  p_reason text,
  p_requester text,
  p_requester_key text,
  p_requester_proof text,
  p_request_body text,
  p_request_path text
)
RETURNS TABLE (request_id uuid, state text, created_at timestamptz, decide_by timestamptz, reused boolean, grant_id uuid)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_role name;
  v_now timestamptz;
  v_timeout integer;
  v_grant db_admin.firefighter_grant%ROWTYPE;
  v_row db_admin.firefighter_request%ROWTYPE;
BEGIN
  v_role := db_admin.firefighter_role_checked(p_role);
  IF p_request_id IS NULL THEN
    RAISE EXCEPTION 'request id is required' USING ERRCODE = 'FFB04';
  END IF;
  PERFORM db_admin.firefighter_check_extension(p_hours, p_incident_id, p_requester, p_requester_key);
  IF p_reason IS NOT NULL AND pg_catalog.length(p_reason) > 2000 THEN
    RAISE EXCEPTION 'reason is too long' USING ERRCODE = 'FFB04';
  END IF;
  IF p_request_path IS NULL OR p_request_path !~ '^/access/[A-Za-z0-9_%.-]{1,80}/extend$' THEN
    RAISE EXCEPTION 'request path must be /access/{role}/extend' USING ERRCODE = 'FFB04';
  END IF;
  IF NOT (SELECT f.needs_approval FROM db_admin.firefighter_role f WHERE f.role = v_role) THEN
    RAISE EXCEPTION 'role % needs no approval: extend its grant directly', pg_catalog.quote_ident(v_role) USING ERRCODE = 'FFB04';
  END IF;
  PERFORM db_admin.firefighter_lock(v_role);
  v_now := pg_catalog.clock_timestamp();
  v_grant := db_admin.firefighter_extendable_grant(v_role, p_incident_id, p_requester_key);

  SELECT r.* INTO v_row FROM db_admin.firefighter_request r WHERE r.request_id = p_request_id;
  IF FOUND THEN
    IF v_row.role <> v_role OR v_row.incident_id <> p_incident_id OR v_row.requester_key <> p_requester_key
       OR v_row.kind <> 'extend' THEN
      RAISE EXCEPTION 'request id % belongs to another request', p_request_id USING ERRCODE = 'FFB05';
    END IF;
    RETURN QUERY SELECT v_row.request_id, v_row.state, v_row.created_at, v_row.decide_by, false, v_row.extends_grant;
    RETURN;
  END IF;

  SELECT r.* INTO v_row FROM db_admin.firefighter_request r
  WHERE r.role = v_role AND r.incident_id = p_incident_id AND r.requester_key = p_requester_key
    AND r.kind = 'extend' AND r.extends_grant = v_grant.grant_id AND r.state = 'pending' AND r.decide_by > v_now
  ORDER BY r.created_at DESC LIMIT 1;
  IF FOUND THEN
    -- The same person asking again confirms the request with a fresh proof; what
    -- the approvers were shown never changes under a pending request.
    IF v_row.hours <> p_hours OR v_row.reason <> coalesce(p_reason, '') THEN
      RAISE EXCEPTION 'extension request % of yours is pending with % hour(s) and its own reason; it keeps what the approvers were shown', v_row.request_id, v_row.hours
        USING ERRCODE = 'FFB15';
    END IF;
    IF p_requester_proof IS NOT NULL THEN
      UPDATE db_admin.firefighter_request r SET requester_proof = p_requester_proof, request_body = p_request_body,
        request_path = p_request_path, requester = p_requester, reason = coalesce(p_reason, ''), hours = p_hours
      WHERE r.request_id = v_row.request_id;
    END IF;
    RETURN QUERY SELECT v_row.request_id, v_row.state, v_row.created_at, v_row.decide_by, true, v_grant.grant_id;
    RETURN;
  END IF;

  SELECT s.value INTO v_timeout FROM db_admin.firefighter_setting s WHERE s.name = 'approval_timeout_seconds';
  INSERT INTO db_admin.firefighter_request
    (request_id, role, incident_id, hours, reason, requester, requester_key, state, created_at, decide_by,
     requester_proof, request_body, kind, extends_grant, request_path)
  VALUES (p_request_id, v_role, p_incident_id, p_hours, coalesce(p_reason, ''), p_requester, p_requester_key,
          'pending', v_now, v_now + coalesce(v_timeout, 3600) * interval '1 second', p_requester_proof, p_request_body,
          'extend', v_grant.grant_id, p_request_path);
  RETURN QUERY SELECT p_request_id, 'pending'::text, v_now, v_now + coalesce(v_timeout, 3600) * interval '1 second',
                      false, v_grant.grant_id;
END
$fn$;

-- Extends the caller's live grant of p_role for p_incident_id (broker login): its
-- expiry becomes now + p_hours (so never more than 2 hours from now, by the database
-- clock), clipped to the grant's issue + p_lifetime_hours (the lifetime cap, from 2 to
-- 12; NULL or more than 12 is 12, the ceiling), the role's VALID UNTIL follows (the
-- latest live grant), and the password is not touched. FFB16 refuses a grant already
-- at its cap: its requester asks again for a new grant and password. Refuses FFB12 no live grant for the incident, FFB13 another person's
-- grant, FFB14 a grant that already ends at or after the new expiry (an extension
-- never shortens). For a role that needs approval, p_request_id must name an extension
-- request for this grant approved by a second person through another login (FFB05,
-- FFB07, FFB10 as for an issue); carried out once, a retry returns the same result with
-- reused = true. Every extension is kept in db_admin.firefighter_extension.
DROP FUNCTION IF EXISTS db_admin.extend_firefighter_grant(name, text, integer, text, text, uuid);
CREATE OR REPLACE FUNCTION db_admin.extend_firefighter_grant(
  p_role name,
  p_incident_id text,
  p_hours integer,
  p_requester text,
  p_requester_key text,
  p_request_id uuid DEFAULT NULL,
  p_lifetime_hours integer DEFAULT NULL
)
RETURNS TABLE (grant_id uuid, previous_expires_at timestamptz, expires_at timestamptz, valid_until timestamptz,
               approver text, reused boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_role name;
  v_now timestamptz;
  v_new timestamptz;
  v_until timestamptz;
  v_needs boolean;
  v_grant db_admin.firefighter_grant%ROWTYPE;
  v_req db_admin.firefighter_request%ROWTYPE;
  v_appr db_admin.firefighter_approval%ROWTYPE;
  v_ext db_admin.firefighter_extension%ROWTYPE;
  v_cap timestamptz;
BEGIN
  v_role := db_admin.firefighter_role_checked(p_role);
  PERFORM db_admin.firefighter_check_extension(p_hours, p_incident_id, p_requester, p_requester_key);
  IF p_lifetime_hours IS NOT NULL AND p_lifetime_hours < 2 THEN
    RAISE EXCEPTION 'the lifetime cap must be from 2 to 12 hours' USING ERRCODE = 'FFB04';
  END IF;
  PERFORM db_admin.firefighter_lock(v_role);
  v_now := pg_catalog.clock_timestamp();
  SELECT f.needs_approval INTO v_needs FROM db_admin.firefighter_role f WHERE f.role = v_role;

  IF p_request_id IS NULL AND v_needs THEN
    RAISE EXCEPTION 'role % needs an approved extension request', pg_catalog.quote_ident(v_role) USING ERRCODE = 'FFB07';
  END IF;
  IF p_request_id IS NOT NULL THEN
    SELECT r.* INTO v_req FROM db_admin.firefighter_request r WHERE r.request_id = p_request_id FOR UPDATE;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'no request %', p_request_id USING ERRCODE = 'FFB10';
    END IF;
    IF v_req.kind <> 'extend' OR v_req.role <> v_role OR v_req.incident_id IS DISTINCT FROM p_incident_id
       OR v_req.hours <> p_hours OR pg_catalog.lower(v_req.requester_key) IS DISTINCT FROM pg_catalog.lower(p_requester_key) THEN
      RAISE EXCEPTION 'request % is not an extension of this role, incident, validity and requester', p_request_id
        USING ERRCODE = 'FFB05';
    END IF;
    IF v_req.state = 'issued' THEN
      SELECT e.* INTO v_ext FROM db_admin.firefighter_extension e WHERE e.request_id = p_request_id;
      SELECT g.* INTO v_grant FROM db_admin.firefighter_grant g WHERE g.grant_id = v_req.grant_id;
      -- A retried step answers the extension it made, while the grant lives; once
      -- the grant ended (revoked, expired) a replay is refused, not re-announced.
      IF v_grant.closed_at IS NOT NULL OR v_grant.expires_at <= v_now THEN
        RAISE EXCEPTION 'extension request % was carried out and its grant has ended', p_request_id USING ERRCODE = 'FFB05';
      END IF;
      SELECT r.rolvaliduntil INTO v_until FROM pg_catalog.pg_roles r WHERE r.rolname = v_role;
      RETURN QUERY SELECT v_grant.grant_id, v_ext.old_expires_at, v_grant.expires_at, v_until, v_ext.approver, true;
      RETURN;
    END IF;
    IF v_req.state <> 'approved' THEN
      RAISE EXCEPTION 'request % is not approved (it is %)', p_request_id, v_req.state USING ERRCODE = 'FFB07';
    END IF;
    SELECT a.* INTO v_appr FROM db_admin.firefighter_approval a WHERE a.request_id = p_request_id;
    IF NOT FOUND OR v_appr.decision <> 'approve' OR pg_catalog.lower(v_appr.approver_key) = pg_catalog.lower(v_req.requester_key)
       OR v_appr.recorded_by = session_user THEN
      RAISE EXCEPTION 'request % has no approval by a second person', p_request_id USING ERRCODE = 'FFB07';
    END IF;
    IF v_req.requester_proof IS NULL OR v_req.requester_proof = '' THEN
      RAISE EXCEPTION 'request % carries no proof of its requester', p_request_id USING ERRCODE = 'FFB07';
    END IF;
    IF v_appr.decided_at < v_now - interval '1 hour' THEN
      RAISE EXCEPTION 'the approval of request % is older than an hour; ask again', p_request_id USING ERRCODE = 'FFB07';
    END IF;
  END IF;

  v_grant := db_admin.firefighter_extendable_grant(v_role, p_incident_id, p_requester_key);
  IF p_request_id IS NOT NULL AND v_req.extends_grant <> v_grant.grant_id THEN
    RAISE EXCEPTION 'the grant request % extends has ended; ask again', p_request_id USING ERRCODE = 'FFB05';
  END IF;
  v_cap := v_grant.issued_at + LEAST(coalesce(p_lifetime_hours, 12), 12) * interval '1 hour';
  v_new := LEAST(v_now + LEAST(p_hours, 2) * interval '1 hour', v_cap);
  IF v_new <= v_grant.expires_at AND v_new = v_cap THEN
    RAISE EXCEPTION 'the grant has reached its lifetime cap of % hours (it ends at %): ask again for a new password',
      LEAST(coalesce(p_lifetime_hours, 12), 12),
      pg_catalog.to_char(v_cap AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') USING ERRCODE = 'FFB16';
  END IF;
  IF v_new <= v_grant.expires_at THEN
    RAISE EXCEPTION 'the grant already ends at %, later than an extension of % hours from now would',
      pg_catalog.to_char(v_grant.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), p_hours USING ERRCODE = 'FFB14';
  END IF;

  UPDATE db_admin.firefighter_grant g SET expires_at = v_new, extended_at = v_now WHERE g.grant_id = v_grant.grant_id;
  INSERT INTO db_admin.firefighter_extension
    (grant_id, request_id, requester, requester_key, approver, approver_key, extended_at, old_expires_at,
     new_expires_at, recorded_by)
  VALUES (v_grant.grant_id, p_request_id, p_requester, p_requester_key, v_appr.approver, v_appr.approver_key, v_now,
          v_grant.expires_at, v_new, session_user);
  IF p_request_id IS NOT NULL THEN
    UPDATE db_admin.firefighter_request r SET state = 'issued', issued_at = v_now, grant_id = v_grant.grant_id
    WHERE r.request_id = p_request_id;
  END IF;

  SELECT pg_catalog.max(g.expires_at) INTO v_until FROM db_admin.firefighter_grant g
  WHERE g.role = v_role AND g.activated_at IS NOT NULL AND g.closed_at IS NULL AND g.expires_at > v_now;
  EXECUTE pg_catalog.format('ALTER ROLE %I VALID UNTIL %L', v_role, v_until);

  RETURN QUERY SELECT v_grant.grant_id, v_grant.expires_at, v_new, v_until,
                      coalesce(v_appr.approver, v_grant.approver), false;
END
$fn$;

RESET ROLE;
RESET client_min_messages;
