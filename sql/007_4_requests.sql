-- Requests and approvals: submit a request, keep the workflow's task token, expire a
-- request, its status, the pending requests, and the approver's decision.

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)
-- CREATE ... IF NOT EXISTS and DROP ... IF EXISTS print no NOTICE; WARNINGs still print.
SET client_min_messages = warning;

SET ROLE :"admin_role";

-- Records a request for a role that needs approval (broker login). p_requester and
-- p_requester_key are the verified caller's ARN and principal key. The request waits
-- for a decision until decide_by, fixed here from the admin's approval timeout. The same
-- person asking again for the same role and incident while a request is pending gets
-- that request back (reused = true).
DROP FUNCTION IF EXISTS db_admin.submit_firefighter_request(uuid, name, text, integer, text, text, text);
CREATE OR REPLACE FUNCTION db_admin.submit_firefighter_request(
  p_request_id uuid,
  p_role name,
  p_incident_id text,
  p_hours integer,
  p_reason text,
  p_requester text,
  p_requester_key text,
  p_requester_proof text DEFAULT NULL,
  p_request_body text DEFAULT NULL
)
RETURNS TABLE (request_id uuid, state text, created_at timestamptz, decide_by timestamptz, reused boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_role name;
  v_now timestamptz;
  v_timeout integer;
  v_row db_admin.firefighter_request%ROWTYPE;
BEGIN
  v_role := db_admin.firefighter_role_checked(p_role);
  PERFORM db_admin.firefighter_check_request(p_request_id, p_hours, p_incident_id, p_requester, NULL);
  IF p_incident_id IS NULL THEN
    RAISE EXCEPTION 'incident id is required' USING ERRCODE = 'FFB04';
  END IF;
  IF p_requester_key IS NULL OR pg_catalog.length(p_requester_key) NOT BETWEEN 1 AND 2048 THEN
    RAISE EXCEPTION 'requester key is required' USING ERRCODE = 'FFB04';
  END IF;
  IF p_reason IS NOT NULL AND pg_catalog.length(p_reason) > 2000 THEN
    RAISE EXCEPTION 'reason is too long' USING ERRCODE = 'FFB04';
  END IF;
  PERFORM db_admin.firefighter_lock(v_role);
  v_now := pg_catalog.clock_timestamp();

  SELECT r.* INTO v_row FROM db_admin.firefighter_request r WHERE r.request_id = p_request_id;
  IF FOUND THEN
    IF v_row.role <> v_role OR v_row.incident_id <> p_incident_id OR v_row.requester_key <> p_requester_key
       OR v_row.kind <> 'issue' THEN
      RAISE EXCEPTION 'request id % belongs to another request', p_request_id USING ERRCODE = 'FFB05';
    END IF;
    RETURN QUERY SELECT v_row.request_id, v_row.state, v_row.created_at, v_row.decide_by, false;
    RETURN;
  END IF;

  SELECT r.* INTO v_row FROM db_admin.firefighter_request r
  WHERE r.role = v_role AND r.incident_id = p_incident_id AND r.requester_key = p_requester_key
    AND r.kind = 'issue' AND r.state = 'pending' AND r.decide_by > v_now
  ORDER BY r.created_at DESC LIMIT 1;
  IF FOUND THEN
    -- The same person asking again confirms the request with a fresh proof and the
    -- ARN of that session. What the approvers were shown (role, incident, hours,
    -- reason) never changes under a pending request: a different ask is refused.
    IF v_row.hours <> p_hours OR v_row.reason <> coalesce(p_reason, '') THEN
      RAISE EXCEPTION 'request % of yours for this role and incident is pending with % hour(s) and its own reason; it keeps what the approvers were shown', v_row.request_id, v_row.hours
        USING ERRCODE = 'FFB15';
    END IF;
    IF p_requester_proof IS NOT NULL THEN
      UPDATE db_admin.firefighter_request r SET requester_proof = p_requester_proof, request_body = p_request_body,
        requester = p_requester, reason = coalesce(p_reason, ''), hours = p_hours
      WHERE r.request_id = v_row.request_id;
    END IF;
    RETURN QUERY SELECT v_row.request_id, v_row.state, v_row.created_at, v_row.decide_by, true;
    RETURN;
  END IF;

  SELECT s.value INTO v_timeout FROM db_admin.firefighter_setting s WHERE s.name = 'approval_timeout_seconds';
  INSERT INTO db_admin.firefighter_request
    (request_id, role, incident_id, hours, reason, requester, requester_key, state, created_at, decide_by,
     requester_proof, request_body)
  VALUES (p_request_id, v_role, p_incident_id, p_hours, coalesce(p_reason, ''), p_requester, p_requester_key,
          'pending', v_now, v_now + coalesce(v_timeout, 3600) * interval '1 second', p_requester_proof, p_request_body);
  RETURN QUERY SELECT p_request_id, 'pending'::text, v_now, v_now + coalesce(v_timeout, 3600) * interval '1 second', false;
END
$fn$;

-- Keeps the approval workflow's task token with its pending request (broker login, the
-- workflow's wait step). The execution must be the request's own (named ffb-<request
-- id>, started by the broker at submit): another execution is refused, and a retry of
-- the wait (a new token from the same execution) replaces the token. Returns the request
-- for the notification.
CREATE OR REPLACE FUNCTION db_admin.attach_firefighter_task_token(
  p_request_id uuid,
  p_task_token text,
  p_execution_arn text
)
RETURNS TABLE (request_id uuid, role name, incident_id text, hours integer, reason text,
               requester text, created_at timestamptz, decide_by timestamptz, state text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_row db_admin.firefighter_request%ROWTYPE;
BEGIN
  IF p_task_token IS NULL OR pg_catalog.length(p_task_token) NOT BETWEEN 1 AND 8192
     OR p_execution_arn IS NULL OR p_execution_arn !~ '^arn:aws[a-z-]*:states:[a-z0-9-]+:[0-9]{12}:execution:[A-Za-z0-9_-]+:[A-Za-z0-9_-]{1,80}$' THEN
    RAISE EXCEPTION 'task token and execution arn are required' USING ERRCODE = 'FFB04';
  END IF;
  SELECT r.* INTO v_row FROM db_admin.firefighter_request r WHERE r.request_id = p_request_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no request %', p_request_id USING ERRCODE = 'FFB10';
  END IF;
  -- A decision made before the wait stored its token: the caller resumes the workflow
  -- with it at once.
  IF v_row.state NOT IN ('pending', 'approved', 'denied') THEN
    RAISE EXCEPTION 'request % is already %', p_request_id, v_row.state USING ERRCODE = 'FFB08';
  END IF;
  IF p_execution_arn NOT LIKE '%:ffb-' || p_request_id::text
     OR (v_row.execution_arn IS NOT NULL AND v_row.execution_arn <> p_execution_arn) THEN
    RAISE EXCEPTION 'execution is not the workflow of request %', p_request_id USING ERRCODE = 'FFB05';
  END IF;
  UPDATE db_admin.firefighter_request r SET task_token = p_task_token, execution_arn = p_execution_arn
  WHERE r.request_id = p_request_id;
  RETURN QUERY SELECT v_row.request_id, v_row.role, v_row.incident_id, v_row.hours, v_row.reason,
                      v_row.requester, v_row.created_at, v_row.decide_by, v_row.state;
END
$fn$;

-- Ends a pending request whose approval window closed (broker login, the workflow's
-- timeout step). Returns the request's state afterwards; a request decided meanwhile
-- keeps its decision.
CREATE OR REPLACE FUNCTION db_admin.expire_firefighter_request(p_request_id uuid)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_state text;
BEGIN
  UPDATE db_admin.firefighter_request r SET state = 'expired', decided_at = pg_catalog.clock_timestamp()
  WHERE r.request_id = p_request_id AND r.state = 'pending'
    AND r.decide_by <= pg_catalog.clock_timestamp() + interval '1 minute'
  RETURNING r.state INTO v_state;
  IF v_state IS NULL THEN
    SELECT r.state INTO v_state FROM db_admin.firefighter_request r WHERE r.request_id = p_request_id;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'no request %', p_request_id USING ERRCODE = 'FFB10';
    END IF;
  END IF;
  RETURN v_state;
END
$fn$;

-- One request and its decision with both identity proofs, without the task token
-- (broker and approver logins).
CREATE OR REPLACE FUNCTION db_admin.firefighter_request_status(p_request_id uuid)
RETURNS TABLE (request_id uuid, role name, incident_id text, hours integer, reason text,
               requester text, requester_key text, state text, created_at timestamptz,
               decide_by timestamptz, grant_id uuid, decision text, approver text,
               approver_key text, comment text, decided_at timestamptz,
               requester_proof text, request_body text, approver_proof text, decision_body text,
               kind text, extends_grant uuid, request_path text)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT r.request_id, r.role, r.incident_id, r.hours, r.reason, r.requester, r.requester_key,
         CASE WHEN r.state = 'pending' AND r.decide_by <= pg_catalog.clock_timestamp() THEN 'expired' ELSE r.state END,
         r.created_at, r.decide_by, r.grant_id, a.decision, a.approver, a.approver_key, a.comment, a.decided_at,
         r.requester_proof, r.request_body, a.approver_proof, a.decision_body, r.kind, r.extends_grant, r.request_path
  FROM db_admin.firefighter_request r
  LEFT JOIN db_admin.firefighter_approval a ON a.request_id = r.request_id
  WHERE r.request_id = p_request_id;
$fn$;

-- The requests still waiting for a decision, oldest first (approver login, for
-- GET /approvals), without task tokens.
CREATE OR REPLACE FUNCTION db_admin.pending_firefighter_requests()
RETURNS TABLE (request_id uuid, role name, incident_id text, hours integer, reason text,
               requester text, requester_key text, created_at timestamptz, decide_by timestamptz,
               kind text, extends_grant uuid)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT r.request_id, r.role, r.incident_id, r.hours, r.reason, r.requester, r.requester_key, r.created_at, r.decide_by,
         r.kind, r.extends_grant
  FROM db_admin.firefighter_request r
  WHERE r.state = 'pending' AND r.decide_by > pg_catalog.clock_timestamp()
  ORDER BY r.created_at
  LIMIT 200;
$fn$;

-- Records a second person's decision on a pending request (approver login only, the
-- approve function). Refuses the requester (FFB06, compared by principal key), a request
-- already decided otherwise (FFB08), a closed window (FFB09) and an unknown request
-- (FFB10). The same decision by the same person again is a retry and returns the
-- request. Returns the workflow's task token for the approve function to resume it.
DROP FUNCTION IF EXISTS db_admin.decide_firefighter_request(uuid, text, text, text, text);
CREATE OR REPLACE FUNCTION db_admin.decide_firefighter_request(
  p_request_id uuid,
  p_decision text,
  p_approver text,
  p_approver_key text,
  p_comment text DEFAULT NULL,
  p_approver_proof text DEFAULT NULL,
  p_decision_body text DEFAULT NULL
)
RETURNS TABLE (request_id uuid, state text, role name, incident_id text, hours integer, reason text,
               requester text, decided_at timestamptz, task_token text, execution_arn text, retried boolean)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_req db_admin.firefighter_request%ROWTYPE;
  v_appr db_admin.firefighter_approval%ROWTYPE;
  v_now timestamptz;
BEGIN
  IF p_request_id IS NULL OR p_decision IS NULL OR p_decision NOT IN ('approve', 'deny') THEN
    RAISE EXCEPTION 'request id and a decision of approve or deny are required' USING ERRCODE = 'FFB04';
  END IF;
  IF p_approver IS NULL OR pg_catalog.length(p_approver) NOT BETWEEN 1 AND 2048
     OR p_approver_key IS NULL OR pg_catalog.length(p_approver_key) NOT BETWEEN 1 AND 2048 THEN
    RAISE EXCEPTION 'approver is required' USING ERRCODE = 'FFB04';
  END IF;
  IF p_comment IS NOT NULL AND pg_catalog.length(p_comment) > 500 THEN
    RAISE EXCEPTION 'comment is too long' USING ERRCODE = 'FFB04';
  END IF;
  SELECT r.* INTO v_req FROM db_admin.firefighter_request r WHERE r.request_id = p_request_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no request %', p_request_id USING ERRCODE = 'FFB10';
  END IF;
  IF pg_catalog.lower(v_req.requester_key) = pg_catalog.lower(p_approver_key) THEN
    RAISE EXCEPTION 'the approver must not be the requester' USING ERRCODE = 'FFB06';
  END IF;
  v_now := pg_catalog.clock_timestamp();
  IF v_req.state <> 'pending' THEN
    SELECT a.* INTO v_appr FROM db_admin.firefighter_approval a WHERE a.request_id = p_request_id;
    IF FOUND AND pg_catalog.lower(v_appr.approver_key) = pg_catalog.lower(p_approver_key) AND v_appr.decision = p_decision THEN
      RETURN QUERY SELECT v_req.request_id, v_req.state, v_req.role, v_req.incident_id, v_req.hours, v_req.reason,
                          v_req.requester, v_appr.decided_at, v_req.task_token, v_req.execution_arn, true;
      RETURN;
    END IF;
    RAISE EXCEPTION 'request % is already %', p_request_id, v_req.state USING ERRCODE = 'FFB08';
  END IF;
  IF v_req.decide_by <= v_now THEN
    RAISE EXCEPTION 'the approval window of request % has closed', p_request_id USING ERRCODE = 'FFB09';
  END IF;
  INSERT INTO db_admin.firefighter_approval
    (request_id, decision, approver, approver_key, comment, decided_at, recorded_by, approver_proof, decision_body)
  VALUES (p_request_id, p_decision, p_approver, p_approver_key, coalesce(p_comment, ''), v_now, session_user,
          p_approver_proof, p_decision_body);
  UPDATE db_admin.firefighter_request r
  SET state = CASE WHEN p_decision = 'approve' THEN 'approved' ELSE 'denied' END, decided_at = v_now
  WHERE r.request_id = p_request_id;
  RETURN QUERY SELECT v_req.request_id, CASE WHEN p_decision = 'approve' THEN 'approved' ELSE 'denied' END,
                      v_req.role, v_req.incident_id, v_req.hours, v_req.reason, v_req.requester, v_now,
                      v_req.task_token, v_req.execution_arn, false;
END
$fn$;

RESET ROLE;
RESET client_min_messages;
