-- Section 9: the db_admin schema, the firefighter grant ledger and the SECURITY DEFINER
-- functions that are the broker's only powers. Everything here is owned by the admin.
--
-- Every function: SECURITY DEFINER, SET search_path = pg_catalog, pg_temp, every object
-- schema-qualified, EXECUTE revoked from PUBLIC and granted to the broker by name.
-- Refusals carry their own SQLSTATE so callers need not parse messages:
--   FFB01 role not allowed        FFB02 password or verifier refused
--   FFB03 hours out of range      FFB04 missing or malformed argument
--   FFB05 grant id or request reused for another role, incident or grant
--   FFB06 approver is the requester       FFB07 no approval for a role that needs one
--   FFB08 request already decided         FFB09 approval window closed
--   FFB10 no such request
--   FFB12 no live grant of the role for the incident (extend)
--   FFB13 the caller is not the requester of that grant (extend)
--   FFB14 the grant already ends later than the extension would (extend)
--   FFB15 a pending request of the same person asks for other hours or another reason
--   FFB16 the grant has reached its lifetime cap: ask again for a new password (extend)
--   FFB17 the requester holds 3 live or reserved grants of the role for other incidents

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)
-- The idempotent CREATE ... IF NOT EXISTS and DROP ... IF EXISTS below would print a
-- NOTICE ("already exists, skipping") on every run; WARNINGs, which a DBA must read, still print.
SET client_min_messages = warning;

SELECT pg_catalog.format('CREATE SCHEMA IF NOT EXISTS db_admin AUTHORIZATION %I', :'admin_role') \gexec

SET ROLE :"admin_role";

REVOKE ALL ON SCHEMA db_admin FROM PUBLIC;
ALTER DEFAULT PRIVILEGES IN SCHEMA db_admin REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

-- The allowlist: the only roles the functions will ever alter.
-- needs_approval: rw always (the two-person rule), ro not unless a DBA sets it; set when
-- the row or the column is added, so a re-run keeps a DBA's choice.
CREATE TABLE IF NOT EXISTS db_admin.firefighter_role (
  role name PRIMARY KEY,
  kind text NOT NULL UNIQUE CHECK (kind IN ('ro', 'rw'))
);
REVOKE ALL ON db_admin.firefighter_role FROM PUBLIC;
ALTER TABLE db_admin.firefighter_role ADD COLUMN IF NOT EXISTS needs_approval boolean;
UPDATE db_admin.firefighter_role SET needs_approval = (kind = 'rw') WHERE needs_approval IS NULL;
ALTER TABLE db_admin.firefighter_role ALTER COLUMN needs_approval SET NOT NULL;
INSERT INTO db_admin.firefighter_role (role, kind, needs_approval)
VALUES (:'ff_ro_role', 'ro', false), (:'ff_rw_role', 'rw', true)
ON CONFLICT DO NOTHING;
DO $c$ BEGIN
  ALTER TABLE db_admin.firefighter_role ADD CONSTRAINT firefighter_role_rw_needs_approval
    CHECK (kind <> 'rw' OR needs_approval);
EXCEPTION WHEN duplicate_object THEN NULL;
END $c$;

-- Settings the logins cannot change. approval_timeout_seconds: how long a request waits
-- for a decision (psql variable approval_timeout; default 3600, from 60 to 86400).
CREATE TABLE IF NOT EXISTS db_admin.firefighter_setting (
  name  text PRIMARY KEY CHECK (name IN ('approval_timeout_seconds')),
  value integer NOT NULL CHECK (value BETWEEN 60 AND 86400)
);
REVOKE ALL ON db_admin.firefighter_setting FROM PUBLIC;
\if :{?approval_timeout}
INSERT INTO db_admin.firefighter_setting (name, value) VALUES ('approval_timeout_seconds', :'approval_timeout')
ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value
WHERE db_admin.firefighter_setting.value IS DISTINCT FROM EXCLUDED.value;
\else
INSERT INTO db_admin.firefighter_setting (name, value) VALUES ('approval_timeout_seconds', 3600)
ON CONFLICT DO NOTHING;
\endif

-- The request ledger: one row per request for a role that needs approval, written by the
-- broker with the verified requester (ARN and principal key). States: pending ->
-- approved | denied | expired; approved -> issued (consumed by exactly one grant).
CREATE TABLE IF NOT EXISTS db_admin.firefighter_request (
  request_id    uuid PRIMARY KEY,
  role          name NOT NULL REFERENCES db_admin.firefighter_role (role),
  incident_id   text NOT NULL,
  hours         integer NOT NULL CHECK (hours BETWEEN 1 AND 2),
  reason        text NOT NULL DEFAULT '' CHECK (pg_catalog.length(reason) <= 2000),
  requester     text NOT NULL,
  requester_key text NOT NULL,
  state         text NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired', 'issued')),
  created_at    timestamptz NOT NULL,
  decide_by     timestamptz NOT NULL,
  decided_at    timestamptz,
  issued_at     timestamptz,
  grant_id      uuid,
  -- The approval workflow's wait: its task token, kept here so that no person handles it.
  task_token    text,
  execution_arn text,
  CHECK (decide_by > created_at)
);
REVOKE ALL ON db_admin.firefighter_request FROM PUBLIC;
-- The requester's identity proof and the body it is bound to (POST /access), so that
-- the approve function checks with STS itself who asked: the broker's login alone
-- cannot file a request in someone else's name.
ALTER TABLE db_admin.firefighter_request ADD COLUMN IF NOT EXISTS requester_proof text
  CHECK (pg_catalog.length(requester_proof) <= 16384);
ALTER TABLE db_admin.firefighter_request ADD COLUMN IF NOT EXISTS request_body text
  CHECK (pg_catalog.length(request_body) <= 8192);
-- A proof backs one request only: the broker's login cannot copy a requester's kept
-- proof onto another row (a POST /access proof names no request id).
CREATE UNIQUE INDEX IF NOT EXISTS firefighter_request_proof_once
  ON db_admin.firefighter_request (pg_catalog.md5(requester_proof)) WHERE requester_proof IS NOT NULL;
CREATE INDEX IF NOT EXISTS firefighter_request_pending_idx
  ON db_admin.firefighter_request (role, incident_id) WHERE state = 'pending';

-- The approval ledger: at most one decision per request, written only through
-- decide_firefighter_request, which only the approver login may execute. recorded_by is
-- the login that wrote it; the issue refuses an approval its own login recorded.
CREATE TABLE IF NOT EXISTS db_admin.firefighter_approval (
  request_id   uuid PRIMARY KEY REFERENCES db_admin.firefighter_request (request_id),
  decision     text NOT NULL CHECK (decision IN ('approve', 'deny')),
  approver     text NOT NULL,
  approver_key text NOT NULL,
  comment      text NOT NULL DEFAULT '' CHECK (pg_catalog.length(comment) <= 500),
  decided_at   timestamptz NOT NULL,
  recorded_by  name NOT NULL
);
REVOKE ALL ON db_admin.firefighter_approval FROM PUBLIC;
-- The approver's identity proof and the decision body it is bound to (POST
-- /approvals/{request_id}), so that the issue function checks with STS itself who
-- decided: the approver's login alone cannot make an approval.
ALTER TABLE db_admin.firefighter_approval ADD COLUMN IF NOT EXISTS approver_proof text
  CHECK (pg_catalog.length(approver_proof) <= 16384);
ALTER TABLE db_admin.firefighter_approval ADD COLUMN IF NOT EXISTS decision_body text
  CHECK (pg_catalog.length(decision_body) <= 8192);

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
ALTER TABLE db_admin.firefighter_grant ADD COLUMN IF NOT EXISTS request_id uuid REFERENCES db_admin.firefighter_request (request_id);
ALTER TABLE db_admin.firefighter_grant ADD COLUMN IF NOT EXISTS requester_key text;
ALTER TABLE db_admin.firefighter_grant ADD COLUMN IF NOT EXISTS approver_key text;
DO $c$ BEGIN
  ALTER TABLE db_admin.firefighter_grant ADD CONSTRAINT firefighter_grant_two_people
    CHECK (approver_key IS NULL OR approver_key <> requester_key);
EXCEPTION WHEN duplicate_object THEN NULL;
END $c$;
CREATE INDEX IF NOT EXISTS firefighter_grant_open_idx
  ON db_admin.firefighter_grant (role, expires_at) WHERE closed_at IS NULL;

-- Extensions (POST /access/{role}/extend): a live grant's expiry moves later, to at
-- most 2 hours after the extension, never earlier; the password is not rotated.
-- extended_at is the last extension: the cap is 2 hours from it (or from the issue).
ALTER TABLE db_admin.firefighter_grant ADD COLUMN IF NOT EXISTS extended_at timestamptz;
DO $c$
DECLARE
  c record;
BEGIN
  -- The first form capped a grant at 2 hours from its issue (an unnamed CHECK).
  FOR c IN SELECT k.conname FROM pg_catalog.pg_constraint k
           WHERE k.conrelid = 'db_admin.firefighter_grant'::pg_catalog.regclass AND k.contype = 'c'
             AND k.conname <> 'firefighter_grant_validity'
             AND pg_catalog.pg_get_constraintdef(k.oid) LIKE '%(issued_at + %' LOOP
    EXECUTE pg_catalog.format('ALTER TABLE db_admin.firefighter_grant DROP CONSTRAINT %I', c.conname);
  END LOOP;
  ALTER TABLE db_admin.firefighter_grant ADD CONSTRAINT firefighter_grant_validity
    CHECK (expires_at > issued_at AND expires_at <= coalesce(extended_at, issued_at) + interval '2 hours');
EXCEPTION WHEN duplicate_object THEN NULL;
END $c$;

-- A request is for a new grant (issue) or for more time on a live one (extend, with
-- the grant it extends and the path its requester's proof is bound to).
ALTER TABLE db_admin.firefighter_request ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'issue'
  CHECK (kind IN ('issue', 'extend'));
ALTER TABLE db_admin.firefighter_request ADD COLUMN IF NOT EXISTS extends_grant uuid
  REFERENCES db_admin.firefighter_grant (grant_id);
ALTER TABLE db_admin.firefighter_request ADD COLUMN IF NOT EXISTS request_path text
  CHECK (pg_catalog.length(request_path) <= 300);
DO $c$ BEGIN
  ALTER TABLE db_admin.firefighter_request ADD CONSTRAINT firefighter_request_kind_grant
    CHECK ((kind = 'extend') = (extends_grant IS NOT NULL));
EXCEPTION WHEN duplicate_object THEN NULL;
END $c$;

-- The extension ledger: one row per extension, with the old and the new expiry, the
-- requester, and the approver and request for a role that needs approval.
CREATE TABLE IF NOT EXISTS db_admin.firefighter_extension (
  extension_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  grant_id       uuid NOT NULL REFERENCES db_admin.firefighter_grant (grant_id),
  request_id     uuid REFERENCES db_admin.firefighter_request (request_id),
  requester      text NOT NULL,
  requester_key  text NOT NULL,
  approver       text,
  approver_key   text,
  extended_at    timestamptz NOT NULL,
  old_expires_at timestamptz NOT NULL,
  new_expires_at timestamptz NOT NULL,
  recorded_by    name NOT NULL,
  CHECK (new_expires_at > old_expires_at AND new_expires_at <= extended_at + interval '2 hours'),
  CHECK (approver_key IS NULL OR pg_catalog.lower(approver_key) <> pg_catalog.lower(requester_key))
);
REVOKE ALL ON db_admin.firefighter_extension FROM PUBLIC;
CREATE UNIQUE INDEX IF NOT EXISTS firefighter_extension_request_once
  ON db_admin.firefighter_extension (request_id) WHERE request_id IS NOT NULL;

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

-- Internal: step 1 of an issue. p_manual is true only when a DBA calls the seed's
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
       SELECT pg_catalog.count(*) FROM db_admin.firefighter_grant g
       WHERE g.role = v_role AND g.closed_at IS NULL AND g.expires_at > v_now
         AND pg_catalog.lower(g.requester_key) = pg_catalog.lower(p_requester_key)
         AND g.incident_id IS DISTINCT FROM p_incident_id) >= 3 THEN
    RAISE EXCEPTION '% holds 3 live or reserved grants of % for other incidents, the most one person may: revoke one or let it expire',
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

-- The seed's function, same signature and checks, for manual use by a DBA. The grant is
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

-- A grant's password version: the secret version that holds the role's password when a
-- grant of the role ended while this one stayed live and the password was rotated for
-- the grants left (end_firefighter_grants). NULL: the grant's own version (its id).
ALTER TABLE db_admin.firefighter_grant ADD COLUMN IF NOT EXISTS password_version uuid;

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

-- The hard ceiling of a grant's whole life: no extension, whatever its caller passes,
-- takes a grant beyond 12 hours from its issue (NOT VALID: rows written before the cap
-- existed are not checked, every row written since is).
DO $c$ BEGIN
  ALTER TABLE db_admin.firefighter_grant ADD CONSTRAINT firefighter_grant_lifetime_ceiling
    CHECK (expires_at <= issued_at + interval '12 hours') NOT VALID;
EXCEPTION WHEN duplicate_object THEN NULL;
END $c$;

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

-- Notifications (issue 11). A notice is claimed in the database before it is published,
-- so that a retried workflow step or two functions at once tell people once: the broker
-- login claims (request, kind) and publishes only when the claim is new. A failed publish
-- is logged and audited; it is not retried.
CREATE TABLE IF NOT EXISTS db_admin.firefighter_notice (
  request_id uuid NOT NULL REFERENCES db_admin.firefighter_request (request_id),
  kind       text NOT NULL CHECK (kind IN ('approval_needed', 'issued', 'timed_out', 'extended')),
  claimed_at timestamptz NOT NULL,
  PRIMARY KEY (request_id, kind)
);
ALTER TABLE db_admin.firefighter_notice DROP CONSTRAINT IF EXISTS firefighter_notice_kind_check;
ALTER TABLE db_admin.firefighter_notice ADD CONSTRAINT firefighter_notice_kind_check
  CHECK (kind IN ('approval_needed', 'issued', 'timed_out', 'extended'));
REVOKE ALL ON db_admin.firefighter_notice FROM PUBLIC;

-- The expiry a grant's requester was warned of, so that the sweep warns once per
-- expiry: a grant whose expires_at moved later (an extension) differs from it and is
-- warned again, without anything in the extension having to remember it.
ALTER TABLE db_admin.firefighter_grant ADD COLUMN IF NOT EXISTS expiry_warned_for timestamptz;

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

-- EXECUTE: nobody by default; the broker and the approver get exactly their functions.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA db_admin FROM PUBLIC;

RESET ROLE;
SET ROLE :"admin_role";
GRANT USAGE ON SCHEMA db_admin TO :"broker_role", :"approver_role";
-- One GRANT EXECUTE per line, in this form: ffbroker verify reads these lines (from the
-- scripts built into it) as the functions each login must be able to execute.
GRANT EXECUTE ON FUNCTION db_admin.set_firefighter_password(name, text, integer) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.reserve_firefighter_grant(uuid, name, integer, text, text, text, uuid) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.issue_firefighter_password(uuid, name, text, integer, text, text, text, uuid) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.expire_firefighter_password(name) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.terminate_firefighter_sessions(name) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.sweep_expired_firefighters() TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.firefighter_status() TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.firefighter_roles() TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.live_firefighter_grants() TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.lock_firefighter_role(name) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.current_firefighter_grant(name) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.current_firefighter_version(name) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.ended_firefighter_grants(name) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.end_firefighter_grants(name, uuid[], text, uuid) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.submit_firefighter_request(uuid, name, text, integer, text, text, text, text, text) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.attach_firefighter_task_token(uuid, text, text) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.expire_firefighter_request(uuid) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.firefighter_request_status(uuid) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.submit_firefighter_extension(uuid, name, text, integer, text, text, text, text, text, text) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.extend_firefighter_grant(name, text, integer, text, text, uuid, integer) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.claim_firefighter_notice(uuid, text) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.claim_firefighter_expiry_warnings(integer) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.decide_firefighter_request(uuid, text, text, text, text, text, text) TO :"approver_role";
GRANT EXECUTE ON FUNCTION db_admin.pending_firefighter_requests() TO :"approver_role";
GRANT EXECUTE ON FUNCTION db_admin.firefighter_request_status(uuid) TO :"approver_role";
GRANT EXECUTE ON FUNCTION db_admin.firefighter_status() TO :"approver_role";
GRANT EXECUTE ON FUNCTION db_admin.live_firefighter_grants() TO :"approver_role";
RESET ROLE;
RESET client_min_messages;
