-- Notifications: the broker's login claims a notice (or an expiry warning) before it
-- publishes, so that people are told once.

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)
-- CREATE ... IF NOT EXISTS and DROP ... IF EXISTS print no NOTICE; WARNINGs still print.
SET client_min_messages = warning;

SET ROLE :"admin_role";

-- Claims the notice p_kind of request p_request_id (broker login). Returns true for the
-- first claim, false when it was claimed before. Raises FFB04 (kind) and FFB10 (request).
CREATE OR REPLACE FUNCTION db_admin.claim_firefighter_notice(p_request_id uuid, p_kind text)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF p_kind IS NULL OR p_kind NOT IN ('approval_needed', 'issued', 'timed_out', 'extended') THEN
    RAISE EXCEPTION 'notice kind must be approval_needed, issued, timed_out or extended' USING ERRCODE = 'FFB04';
  END IF;
  IF p_request_id IS NULL OR NOT EXISTS (SELECT FROM db_admin.firefighter_request r WHERE r.request_id = p_request_id) THEN
    RAISE EXCEPTION 'no request %', p_request_id USING ERRCODE = 'FFB10';
  END IF;
  INSERT INTO db_admin.firefighter_notice (request_id, kind, claimed_at)
  VALUES (p_request_id, p_kind, pg_catalog.clock_timestamp())
  ON CONFLICT DO NOTHING;
  RETURN FOUND;
END
$fn$;

-- Claims the expiry warnings due (broker login, the sweep): every live grant with a
-- requester key that ends within p_within_seconds (60 to 7200) and whose requester was
-- not yet warned of this expiry. Each grant is returned to one caller only (the row
-- lock makes a concurrent sweep skip it) and is marked with the expiry it was warned of.
CREATE OR REPLACE FUNCTION db_admin.claim_firefighter_expiry_warnings(p_within_seconds integer)
RETURNS TABLE (grant_id uuid, role name, incident_id text, requester text, requester_key text,
               request_id uuid, expires_at timestamptz)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_now timestamptz;
BEGIN
  IF p_within_seconds IS NULL OR p_within_seconds NOT BETWEEN 60 AND 7200 THEN
    RAISE EXCEPTION 'the warning window must be between 60 and 7200 seconds' USING ERRCODE = 'FFB04';
  END IF;
  v_now := pg_catalog.clock_timestamp();
  RETURN QUERY
  WITH warned AS (
    UPDATE db_admin.firefighter_grant g SET expiry_warned_for = g.expires_at
    WHERE g.activated_at IS NOT NULL AND g.closed_at IS NULL AND g.requester_key IS NOT NULL
      AND g.expires_at > v_now AND g.expires_at <= v_now + p_within_seconds * interval '1 second'
      AND g.expiry_warned_for IS DISTINCT FROM g.expires_at
    RETURNING g.grant_id, g.role, g.incident_id, g.requester, g.requester_key, g.request_id, g.expires_at)
  SELECT w.grant_id, w.role, w.incident_id, w.requester, w.requester_key, w.request_id, w.expires_at
  FROM warned w ORDER BY w.expires_at, w.grant_id;
END
$fn$;

RESET ROLE;
RESET client_min_messages;
