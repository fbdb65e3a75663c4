-- The db_admin schema and its tables: the allowlist, the settings, and the request,
-- approval, grant, extension and notice ledgers. The SECURITY DEFINER functions that are
-- the broker's only powers follow in 007_2 to 007_6 (one file per concern), EXECUTE for
-- the broker and the approver in 007_9. Everything here is owned by the admin.
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
--   FFB17 the requester holds live or reserved grants of the role for 3 other incidents

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

-- A grant's password version: the secret version that holds the role's password when a
-- grant of the role ended while this one stayed live and the password was rotated for
-- the grants left (end_firefighter_grants). NULL: the grant's own version (its id).
ALTER TABLE db_admin.firefighter_grant ADD COLUMN IF NOT EXISTS password_version uuid;

-- The hard ceiling of a grant's whole life: no extension, whatever its caller passes,
-- takes a grant beyond 12 hours from its issue (NOT VALID: rows written before the cap
-- existed are not checked, every row written since is).
DO $c$ BEGIN
  ALTER TABLE db_admin.firefighter_grant ADD CONSTRAINT firefighter_grant_lifetime_ceiling
    CHECK (expires_at <= issued_at + interval '12 hours') NOT VALID;
EXCEPTION WHEN duplicate_object THEN NULL;
END $c$;

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

RESET ROLE;
RESET client_min_messages;
