-- The activity job: the last login of every login role, read from the
-- PostgreSQL connection log in CloudWatch Logs; the job's checkpoint; and the
-- inactivity policy (lock after N days, drop after M days or mark ready to delete).
-- Runs connected to the application database. Everything here is owned by the admin.
--
-- Every function: SECURITY DEFINER, SET search_path = pg_catalog, pg_temp, every object
-- schema-qualified, EXECUTE revoked from PUBLIC; the job's own login role
-- (:activity_role) gets EXECUTE on the functions it calls, nothing else. No function
-- builds SQL text from its arguments: log text reaches only parameters and
-- comparisons; ALTER/DROP ROLE take their name from pg_roles, quoted with %I.
--
-- The policy's clock is db_admin.activity_now(): clock_timestamp() plus the shift in
-- db_admin.activity_clock, which only the admin can change (0 in production; tests
-- and drills move time with it instead of sleeping).
--
-- Refusals carry their own SQLSTATE (FFB01-FFB06 are 007's):
--   FFB04 missing or malformed argument   FFB07 role not locked by the activity job
--   FFB08 the admin cannot manage the role
--   FFB09 the checkpoint moved: another run committed first
--   FFB11 a lock or drop threshold looser than the admin's policy (db_admin.activity_policy)
--   FFB21 a drop of a role the job did not lock, a grace period earlier, with the log read past the lock
--   42704 (undefined_object) no such role

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)
-- The idempotent CREATE ... IF NOT EXISTS and DROP ... IF EXISTS below would print a
-- NOTICE ("already exists, skipping") on every run; WARNINGs, which a DBA must read, still print.
SET client_min_messages = warning;

-- The inactivity policy's thresholds, in days (0: never), for the policy row
-- below. A DBA sets them with -v activity_lock_days=N -v activity_drop_days=M: the
-- first bootstrap writes the row (90 and 180 when not given), and a later run
-- changes it only when they are given.
\if :{?activity_lock_days}
  \set activity_policy_given true
\else
  \set activity_lock_days 90
  \set activity_policy_given false
\endif
\if :{?activity_drop_days}
  \set activity_policy_given true
\else
  \set activity_drop_days 180
\endif

SET ROLE :"admin_role";

-- The inactivity policy: one row, admin-owned, the floor of every lock and drop
-- threshold the job may use. The job's login reads it (activity_policy()) and may
-- ask for stricter thresholds (more days, or 0: never), never looser ones.
CREATE TABLE IF NOT EXISTS db_admin.activity_policy (
  id              boolean PRIMARY KEY DEFAULT true CHECK (id),
  lock_after_days integer NOT NULL CHECK (lock_after_days BETWEEN 0 AND 36500),
  drop_after_days integer NOT NULL CHECK (drop_after_days BETWEEN 0 AND 36500),
  updated_at      timestamptz NOT NULL,
  updated_by      name NOT NULL,
  CHECK (lock_after_days = 0 OR drop_after_days = 0 OR drop_after_days > lock_after_days)
);
REVOKE ALL ON db_admin.activity_policy FROM PUBLIC;
-- The least time between the job's lock of a role and its drop (a drop is
-- irreversible: the owner has that long to be seen in the log, or to ask).
ALTER TABLE db_admin.activity_policy ADD COLUMN IF NOT EXISTS drop_grace_hours integer NOT NULL DEFAULT 24
  CHECK (drop_grace_hours BETWEEN 1 AND 8760);

-- The policy's clock shift: one row, admin-only.
CREATE TABLE IF NOT EXISTS db_admin.activity_clock (
  id    boolean PRIMARY KEY DEFAULT true CHECK (id),
  shift interval NOT NULL DEFAULT interval '0'
);
REVOKE ALL ON db_admin.activity_clock FROM PUBLIC;
INSERT INTO db_admin.activity_clock (id) VALUES (true) ON CONFLICT DO NOTHING;

-- Roles the policy never touches, by name: the model's roles, Aurora's own, and every
-- role that ran this bootstrap (the master user). Computed exclusions come on top
-- (see activity_exclusion). A DBA may add rows.
CREATE TABLE IF NOT EXISTS db_admin.activity_protected_role (
  role   name PRIMARY KEY,
  reason text NOT NULL
);
REVOKE ALL ON db_admin.activity_protected_role FROM PUBLIC;
INSERT INTO db_admin.activity_protected_role (role, reason)
VALUES (:'admin_role', 'admin'), (:'owner_role', 'owner'), (:'migrator_role', 'migrator'),
       (:'app_role', 'app'), (:'broker_role', 'password broker'),
       (:'ff_ro_role', 'firefighter'), (:'ff_rw_role', 'firefighter'),
       (:'activity_role', 'activity monitor'),
       ('rdsadmin', 'aurora'), ('rdstopmgr', 'aurora'), ('rdsrepladmin', 'aurora'), ('rdsproxyadmin', 'aurora'),
       (session_user, 'master')
ON CONFLICT DO NOTHING;

-- The deployment's exclude list (FFB_ACTIVITY_EXCLUDE), by exact name: roles the
-- policy never touches, whatever list the job passes (its own list only adds).
-- Admin-only: the bootstrap variable activity_exclude or activity_set_exclude.
CREATE TABLE IF NOT EXISTS db_admin.activity_exclude (
  role       text PRIMARY KEY CHECK (pg_catalog.length(role) BETWEEN 1 AND 1024),
  updated_at timestamptz NOT NULL,
  updated_by name NOT NULL
);
REVOKE ALL ON db_admin.activity_exclude FROM PUBLIC;

-- One row per login role: its last login (from the log, or the time the job first saw
-- the role) and the policy's state. Keyed by oid: a role dropped and created again
-- under the same name starts afresh.
CREATE TABLE IF NOT EXISTS db_admin.role_activity (
  role_oid            oid PRIMARY KEY,
  role                name NOT NULL,
  first_seen          timestamptz NOT NULL,
  last_login          timestamptz NOT NULL,
  last_log_login      timestamptz,
  last_host           text,
  last_attempt        timestamptz,
  status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'locked', 'ready_to_delete')),
  locked_at           timestamptz,
  previous_conn_limit integer,
  marked_at           timestamptz,
  CHECK ((status = 'active') = (locked_at IS NULL)),
  CHECK ((status = 'ready_to_delete') = (marked_at IS NOT NULL))
);
REVOKE ALL ON db_admin.role_activity FROM PUBLIC;
-- The lock's evidence: the database's own clock at the lock (log times are real
-- times, locked_at is the policy's clock) and the last login the lock was based on.
-- A login dated before locked_log_at that is newer than locked_last_login shows
-- the lock was wrong (activity_decide: unlock).
ALTER TABLE db_admin.role_activity ADD COLUMN IF NOT EXISTS locked_log_at timestamptz;
ALTER TABLE db_admin.role_activity ADD COLUMN IF NOT EXISTS locked_last_login timestamptz;
UPDATE db_admin.role_activity SET locked_log_at = COALESCE(locked_log_at, locked_at),
  locked_last_login = COALESCE(locked_last_login, last_login)
WHERE status <> 'active' AND (locked_log_at IS NULL OR locked_last_login IS NULL);
CREATE INDEX IF NOT EXISTS role_activity_role_idx ON db_admin.role_activity (role);

-- The reader's progress per log group: every event with a timestamp below through_ms
-- is done, and so are those at through_ms whose ids are listed (CloudWatch Logs
-- returns events in timestamp order). version makes each page's commit a
-- compare-and-set, so two runs never both count a page.
CREATE TABLE IF NOT EXISTS db_admin.activity_checkpoint (
  source         text PRIMARY KEY,
  through_ms     bigint NOT NULL CHECK (through_ms >= 0),
  ids_at_through text[] NOT NULL DEFAULT '{}',
  version        bigint NOT NULL CHECK (version > 0),
  events         bigint NOT NULL DEFAULT 0,
  logins         bigint NOT NULL DEFAULT 0,
  updated_at     timestamptz NOT NULL
);
REVOKE ALL ON db_admin.activity_checkpoint FROM PUBLIC;
-- The sessions authorized before through_ms whose fate (opened or refused) the
-- lines after it tell: the job keeps them here between runs.
ALTER TABLE db_admin.activity_checkpoint ADD COLUMN IF NOT EXISTS pending jsonb NOT NULL DEFAULT '[]';

-- Firefighter logins seen in the log, each tied to the grant live at that moment
-- (NULL: no grant was live). The key makes a login's audit record happen once.
CREATE TABLE IF NOT EXISTS db_admin.firefighter_login (
  source      text NOT NULL,
  event_id    text NOT NULL,
  role        name NOT NULL,
  login_at    timestamptz NOT NULL,
  host        text,
  grant_id    uuid REFERENCES db_admin.firefighter_grant (grant_id),
  observed_at timestamptz NOT NULL,
  PRIMARY KEY (source, event_id)
);
REVOKE ALL ON db_admin.firefighter_login FROM PUBLIC;
CREATE INDEX IF NOT EXISTS firefighter_login_grant_idx ON db_admin.firefighter_login (grant_id);

-- The policy's clock: the database clock plus the admin's shift.
CREATE OR REPLACE FUNCTION db_admin.activity_now()
RETURNS timestamptz
LANGUAGE sql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT pg_catalog.clock_timestamp()
         + COALESCE((SELECT c.shift FROM db_admin.activity_clock c WHERE c.id), interval '0');
$fn$;

-- The shift in force, so a report shows a clock that is not the real one.
CREATE OR REPLACE FUNCTION db_admin.activity_clock_shift()
RETURNS interval
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT COALESCE((SELECT c.shift FROM db_admin.activity_clock c WHERE c.id), interval '0');
$fn$;

-- Sets the inactivity policy (the admin's, or a DBA's as the admin; nobody else
-- may execute it) and returns it. Raises FFB04 for thresholds out of range.
CREATE OR REPLACE FUNCTION db_admin.activity_set_policy(p_lock_days integer, p_drop_days integer)
RETURNS TABLE (lock_after_days integer, drop_after_days integer)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF p_lock_days IS NULL OR p_drop_days IS NULL OR p_lock_days NOT BETWEEN 0 AND 36500
     OR p_drop_days NOT BETWEEN 0 AND 36500 THEN
    RAISE EXCEPTION 'lock and drop days must be 0 (off) to 36500' USING ERRCODE = 'FFB04';
  END IF;
  IF p_lock_days > 0 AND p_drop_days > 0 AND p_drop_days <= p_lock_days THEN
    RAISE EXCEPTION 'drop days must be more than lock days' USING ERRCODE = 'FFB04';
  END IF;
  INSERT INTO db_admin.activity_policy AS p (id, lock_after_days, drop_after_days, updated_at, updated_by)
  VALUES (true, p_lock_days, p_drop_days, pg_catalog.clock_timestamp(), session_user)
  ON CONFLICT (id) DO UPDATE SET lock_after_days = EXCLUDED.lock_after_days, drop_after_days = EXCLUDED.drop_after_days,
    updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
  WHERE (p.lock_after_days, p.drop_after_days) IS DISTINCT FROM (EXCLUDED.lock_after_days, EXCLUDED.drop_after_days);
  RETURN QUERY SELECT p.lock_after_days, p.drop_after_days FROM db_admin.activity_policy p WHERE p.id;
END
$fn$;

-- Sets the least time between a lock by the job and a drop (the admin's, like
-- activity_set_policy) and returns it. Raises FFB04 outside 1 to 8760 hours, or
-- without a policy row.
CREATE OR REPLACE FUNCTION db_admin.activity_set_drop_grace(p_hours integer)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF p_hours IS NULL OR p_hours NOT BETWEEN 1 AND 8760 THEN
    RAISE EXCEPTION 'the drop grace must be 1 to 8760 hours' USING ERRCODE = 'FFB04';
  END IF;
  UPDATE db_admin.activity_policy p SET drop_grace_hours = p_hours, updated_at = pg_catalog.clock_timestamp(),
    updated_by = session_user
  WHERE p.id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no activity policy: set it first with db_admin.activity_set_policy' USING ERRCODE = 'FFB04';
  END IF;
  RETURN p_hours;
END
$fn$;

-- Replaces the deployment's exclude list (the admin's, like activity_set_policy) and
-- returns how many names it holds. Raises FFB04 for NULL, empty names or more than
-- 1000.
CREATE OR REPLACE FUNCTION db_admin.activity_set_exclude(p_roles text[])
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  IF p_roles IS NULL OR pg_catalog.cardinality(p_roles) > 1000 OR pg_catalog.array_position(p_roles, NULL) IS NOT NULL
     OR EXISTS (SELECT FROM pg_catalog.unnest(p_roles) AS u(r) WHERE pg_catalog.length(u.r) NOT BETWEEN 1 AND 1024) THEN
    RAISE EXCEPTION 'the exclude list must be an array of at most 1000 non-empty names' USING ERRCODE = 'FFB04';
  END IF;
  DELETE FROM db_admin.activity_exclude;
  INSERT INTO db_admin.activity_exclude (role, updated_at, updated_by)
  SELECT DISTINCT u.r, pg_catalog.clock_timestamp(), session_user FROM pg_catalog.unnest(p_roles) AS u(r);
  RETURN (SELECT pg_catalog.count(*)::integer FROM db_admin.activity_exclude);
END
$fn$;

-- The policy in force, for the job's report and its own check.
CREATE OR REPLACE FUNCTION db_admin.activity_policy()
RETURNS TABLE (lock_after_days integer, drop_after_days integer, updated_at timestamptz)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT p.lock_after_days, p.drop_after_days, p.updated_at FROM db_admin.activity_policy p WHERE p.id;
$fn$;

-- Internal: refuses policy arguments out of range (FFB04) and thresholds looser
-- than the admin's policy (FFB11): a threshold must be 0 (never) or at least the
-- policy's, and the policy's 0 (never) admits only 0. No policy row: FFB11.
CREATE OR REPLACE FUNCTION db_admin.activity_check_policy(p_lock_days integer, p_drop_days integer, p_exclude text[])
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_policy db_admin.activity_policy%ROWTYPE;
BEGIN
  IF p_lock_days IS NULL OR p_drop_days IS NULL OR p_lock_days NOT BETWEEN 0 AND 36500
     OR p_drop_days NOT BETWEEN 0 AND 36500 THEN
    RAISE EXCEPTION 'lock and drop days must be 0 (off) to 36500' USING ERRCODE = 'FFB04';
  END IF;
  IF p_lock_days > 0 AND p_drop_days > 0 AND p_drop_days <= p_lock_days THEN
    RAISE EXCEPTION 'drop days must be more than lock days' USING ERRCODE = 'FFB04';
  END IF;
  IF p_exclude IS NULL OR pg_catalog.cardinality(p_exclude) > 1000 OR pg_catalog.array_position(p_exclude, NULL) IS NOT NULL THEN
    RAISE EXCEPTION 'the exclude list must be an array of at most 1000 names' USING ERRCODE = 'FFB04';
  END IF;
  SELECT p.* INTO v_policy FROM db_admin.activity_policy p WHERE p.id;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no activity policy: the admin sets it with db_admin.activity_set_policy' USING ERRCODE = 'FFB11';
  END IF;
  IF p_lock_days > 0 AND (v_policy.lock_after_days = 0 OR p_lock_days < v_policy.lock_after_days) THEN
    RAISE EXCEPTION 'lock after % days is looser than the policy''s % (0: never)', p_lock_days, v_policy.lock_after_days
      USING ERRCODE = 'FFB11';
  END IF;
  IF p_drop_days > 0 AND (v_policy.drop_after_days = 0 OR p_drop_days < v_policy.drop_after_days) THEN
    RAISE EXCEPTION 'drop after % days is looser than the policy''s % (0: never)', p_drop_days, v_policy.drop_after_days
      USING ERRCODE = 'FFB11';
  END IF;
END
$fn$;

-- Internal: why the policy must leave a role alone, or NULL: p_exclude (the job's
-- list) adds to the deployment's (activity_exclude). Names compare as text, so a
-- long name is never truncated into another one.
CREATE OR REPLACE FUNCTION db_admin.activity_exclusion(p_role_oid oid, p_exclude text[])
RETURNS text
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT CASE
    WHEN r.oid IS NULL THEN 'role does not exist'
    WHEN p.reason IS NOT NULL THEN 'protected: ' || p.reason
    WHEN r.rolname::text = ANY (p_exclude)
      OR EXISTS (SELECT FROM db_admin.activity_exclude x WHERE x.role = r.rolname::text) THEN 'exclude list'
    WHEN NOT r.rolcanlogin THEN 'cannot log in'
    WHEN r.rolsuper THEN 'superuser'
    WHEN pg_catalog.pg_has_role(r.oid, pg_catalog.to_regrole('rds_superuser'), 'MEMBER') THEN 'member of rds_superuser'
    WHEN r.rolcreaterole THEN 'createrole (an administrator)'
    WHEN r.oid = (SELECT s.oid FROM pg_catalog.pg_roles s WHERE s.rolname = session_user) THEN 'the job''s own login'
  END
  FROM (SELECT p_role_oid AS oid) AS q
  LEFT JOIN pg_catalog.pg_roles r ON r.oid = q.oid
  LEFT JOIN db_admin.activity_protected_role p ON p.role = r.rolname;
$fn$;

-- Internal: what keeps a role from being dropped, or NULL: objects it owns or holds
-- privileges on in any database of the cluster (pg_shdepend), and roles that inherit
-- from it or may SET ROLE to it (the admin's own ADMIN OPTION grant aside).
-- Privileges on databases themselves (CONNECT, TEMPORARY) do not count: every login
-- role needs CONNECT, and the drop revokes them (see activity_enforce).
CREATE OR REPLACE FUNCTION db_admin.activity_dependents(p_role_oid oid)
RETURNS text
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT NULLIF(pg_catalog.concat_ws('; ',
    CASE WHEN d.owns > 0 THEN pg_catalog.format('owns %s object(s)', d.owns) END,
    CASE WHEN d.acls > 0 THEN pg_catalog.format('holds privileges on %s object(s)', d.acls) END,
    CASE WHEN d.other > 0 THEN pg_catalog.format('%s other dependencies', d.other) END,
    CASE WHEN m.members > 0 THEN pg_catalog.format('granted to %s role(s)', m.members) END), '')
  FROM (
    SELECT pg_catalog.count(*) FILTER (WHERE s.deptype = 'o') AS owns,
           pg_catalog.count(*) FILTER (WHERE s.deptype = 'a') AS acls,
           pg_catalog.count(*) FILTER (WHERE s.deptype NOT IN ('o', 'a')) AS other
    FROM pg_catalog.pg_shdepend s
    WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND s.refobjid = p_role_oid
      AND NOT (s.classid = 'pg_catalog.pg_database'::pg_catalog.regclass AND s.deptype = 'a')
  ) AS d,
  (
    SELECT pg_catalog.count(*) AS members
    FROM pg_catalog.pg_auth_members a
    WHERE a.roleid = p_role_oid
      AND a.member <> (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
      AND (pg_catalog.current_setting('server_version_num')::integer < 160000
           OR (pg_catalog.to_jsonb(a) ->> 'inherit_option')::boolean
           OR (pg_catalog.to_jsonb(a) ->> 'set_option')::boolean)
  ) AS m;
$fn$;

-- Internal: whether this function's owner (the admin) may change the role. From
-- PostgreSQL 16 on, ALTER ROLE and DROP ROLE on another role need CREATEROLE and
-- ADMIN OPTION on it; before 16, CREATEROLE covers every role but superusers and
-- REPLICATION or BYPASSRLS roles.
CREATE OR REPLACE FUNCTION db_admin.activity_can_manage(p_role_oid oid)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT CASE
    WHEN pg_catalog.current_setting('server_version_num')::integer >= 160000
      THEN pg_catalog.pg_has_role(current_user, r.oid, 'USAGE WITH ADMIN OPTION')
    ELSE NOT (r.rolsuper OR r.rolreplication OR r.rolbypassrls)
  END
  FROM pg_catalog.pg_roles r WHERE r.oid = p_role_oid;
$fn$;

-- Internal: brings role_activity in line with pg_roles. New login roles start with
-- "now" (the policy's clock) as their last login; rows of dropped roles go; renamed
-- roles keep their history; a lock lifted by hand (CONNECTION LIMIT no longer 0)
-- ends the job's lock and restarts the role's inactivity count from now.
CREATE OR REPLACE FUNCTION db_admin.activity_sync()
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_now timestamptz := db_admin.activity_now();
BEGIN
  DELETE FROM db_admin.role_activity a
  WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.oid = a.role_oid);
  UPDATE db_admin.role_activity a SET role = r.rolname
  FROM pg_catalog.pg_roles r WHERE r.oid = a.role_oid AND r.rolname <> a.role;
  -- A lock lifted by hand restarts the inactivity count from now, exactly as
  -- activity_unlock does: the DBA who lifted it vouches for the role.
  UPDATE db_admin.role_activity a
  SET status = 'active', locked_at = NULL, marked_at = NULL, previous_conn_limit = NULL,
      locked_log_at = NULL, locked_last_login = NULL, last_login = v_now
  FROM pg_catalog.pg_roles r
  WHERE r.oid = a.role_oid AND a.status <> 'active' AND r.rolconnlimit <> 0;
  INSERT INTO db_admin.role_activity (role_oid, role, first_seen, last_login)
  SELECT r.oid, r.rolname, v_now, v_now FROM pg_catalog.pg_roles r WHERE r.rolcanlogin
  ON CONFLICT (role_oid) DO NOTHING;
END
$fn$;

-- Functions whose arguments or results changed: the old forms go (once).
DROP FUNCTION IF EXISTS db_admin.activity_commit_page(text, bigint, bigint, text[], integer, integer);
DROP FUNCTION IF EXISTS db_admin.activity_record_logins(text, text[], text[], timestamptz[], text[]);
SELECT pg_catalog.format('DROP FUNCTION %s', p.oid::pg_catalog.regprocedure)
FROM pg_catalog.pg_proc p
WHERE p.oid IN (pg_catalog.to_regprocedure('db_admin.activity_checkpoint(text)'),
                pg_catalog.to_regprocedure('db_admin.activity_plan(integer, integer, text[])'),
                pg_catalog.to_regprocedure('db_admin.activity_decide(integer, integer, text[], oid)'))
  AND NOT (p.proargnames @> ARRAY['pending'] OR p.proargnames @> ARRAY['last_attempt']) \gexec
SELECT pg_catalog.format('DROP FUNCTION %s', p.oid::pg_catalog.regprocedure)
FROM pg_catalog.pg_proc p
WHERE p.oid IN (pg_catalog.to_regprocedure('db_admin.activity_plan(integer, integer, text[])'),
                pg_catalog.to_regprocedure('db_admin.activity_decide(integer, integer, text[], oid)'))
  AND NOT p.proargnames @> ARRAY['locked_at'] \gexec

-- The reader's checkpoint for one log group; no row before the first commit.
CREATE OR REPLACE FUNCTION db_admin.activity_checkpoint(p_source text)
RETURNS TABLE (through_ms bigint, ids_at_through text[], version bigint, events bigint, logins bigint, updated_at timestamptz,
               pending jsonb)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT c.through_ms, c.ids_at_through, c.version, c.events, c.logins, c.updated_at, c.pending
  FROM db_admin.activity_checkpoint c WHERE c.source = p_source;
$fn$;

-- Moves the checkpoint of p_source after a page, if it is still at p_version (0: no
-- checkpoint yet), and returns the new version. Call it in the transaction that
-- records the page's logins: both commit, or neither. Raises FFB09 when another run
-- moved the checkpoint, FFB04 for bad arguments, a move backwards or one past the
-- clock (the later of clock_timestamp() and activity_now(), plus 5 minutes for the
-- job's own clock): a checkpoint in the future would make every later run read
-- nothing while the roles age into a lock and a drop. p_pending is
-- the reader's sessions not settled yet (a JSON array of at most 10000).
CREATE OR REPLACE FUNCTION db_admin.activity_commit_page(
  p_source text, p_version bigint, p_through_ms bigint, p_ids text[], p_events integer, p_logins integer,
  p_pending jsonb)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_row db_admin.activity_checkpoint%ROWTYPE;
BEGIN
  IF p_source IS NULL OR pg_catalog.length(p_source) NOT BETWEEN 1 AND 512 OR p_version IS NULL OR p_version < 0
     OR p_through_ms IS NULL OR p_through_ms < 0 OR p_ids IS NULL OR pg_catalog.cardinality(p_ids) > 100000
     OR pg_catalog.array_position(p_ids, NULL) IS NOT NULL
     OR p_events IS NULL OR p_events < 0 OR p_logins IS NULL OR p_logins < 0
     OR p_pending IS NULL OR pg_catalog.jsonb_typeof(p_pending) <> 'array' OR pg_catalog.jsonb_array_length(p_pending) > 10000 THEN
    RAISE EXCEPTION 'malformed checkpoint' USING ERRCODE = 'FFB04';
  END IF;
  IF p_through_ms > pg_catalog.floor(pg_catalog.date_part('epoch',
       GREATEST(pg_catalog.clock_timestamp(), db_admin.activity_now()) + interval '5 minutes') * 1000) THEN
    RAISE EXCEPTION 'checkpoint of % cannot move past the clock', p_source USING ERRCODE = 'FFB04';
  END IF;
  SELECT c.* INTO v_row FROM db_admin.activity_checkpoint c WHERE c.source = p_source FOR UPDATE;
  IF NOT FOUND THEN
    IF p_version <> 0 THEN
      RAISE EXCEPTION 'checkpoint of % is gone', p_source USING ERRCODE = 'FFB09';
    END IF;
    INSERT INTO db_admin.activity_checkpoint AS c (source, through_ms, ids_at_through, version, events, logins, updated_at, pending)
    VALUES (p_source, p_through_ms, p_ids, 1, p_events, p_logins, pg_catalog.clock_timestamp(), p_pending)
    ON CONFLICT (source) DO NOTHING;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'checkpoint of % moved: another run committed first', p_source USING ERRCODE = 'FFB09';
    END IF;
    RETURN 1;
  END IF;
  IF v_row.version <> p_version THEN
    RAISE EXCEPTION 'checkpoint of % moved: another run committed first', p_source USING ERRCODE = 'FFB09';
  END IF;
  IF p_through_ms < v_row.through_ms THEN
    RAISE EXCEPTION 'checkpoint of % cannot move back', p_source USING ERRCODE = 'FFB04';
  END IF;
  UPDATE db_admin.activity_checkpoint c
  SET through_ms = p_through_ms, ids_at_through = p_ids, version = c.version + 1,
      events = c.events + p_events, logins = c.logins + p_logins, updated_at = pg_catalog.clock_timestamp(),
      pending = p_pending
  WHERE c.source = p_source;
  RETURN v_row.version + 1;
END
$fn$;

-- Records logins read from the log (parallel arrays, at most 20000): for each role
-- that exists under exactly that name, the newest login whose session opened
-- (p_opened) becomes its last login (a login while the job has it locked is only
-- an attempt: the server refused it), and its client host is kept. A session the
-- server refused after authorizing it (p_opened false) is only an attempt. Logins dated in the future count as now. Returns the
-- firefighter logins not recorded before, each with the grant that was live at that
-- moment (activated, not yet expired or closed; the latest activated wins; the log's
-- whole seconds are allowed for) or NULLs when none was.
CREATE OR REPLACE FUNCTION db_admin.activity_record_logins(
  p_source text, p_event_ids text[], p_roles text[], p_times timestamptz[], p_hosts text[], p_opened boolean[])
RETURNS TABLE (event_id text, role name, login_at timestamptz, host text, grant_id uuid, incident_id text,
               requester text, approver text, expires_at timestamptz)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_n integer := pg_catalog.cardinality(p_event_ids);
BEGIN
  IF p_source IS NULL OR pg_catalog.length(p_source) NOT BETWEEN 1 AND 512 OR v_n IS NULL OR v_n > 20000
     OR pg_catalog.cardinality(p_roles) IS DISTINCT FROM v_n OR pg_catalog.cardinality(p_times) IS DISTINCT FROM v_n
     OR pg_catalog.cardinality(p_hosts) IS DISTINCT FROM v_n OR pg_catalog.cardinality(p_opened) IS DISTINCT FROM v_n
     OR pg_catalog.array_position(p_opened, NULL) IS NOT NULL THEN
    RAISE EXCEPTION 'logins must be parallel arrays of at most 20000 entries' USING ERRCODE = 'FFB04';
  END IF;
  PERFORM db_admin.activity_sync();
  RETURN QUERY
  WITH l AS (
    SELECT u.e, r.oid, r.rolname, LEAST(u.t, pg_catalog.clock_timestamp()) AS t, pg_catalog.left(NULLIF(u.h, ''), 255) AS h, u.o
    FROM ROWS FROM (pg_catalog.unnest(p_event_ids), pg_catalog.unnest(p_roles), pg_catalog.unnest(p_times),
                    pg_catalog.unnest(p_hosts), pg_catalog.unnest(p_opened)) AS u(e, n, t, h, o)
    JOIN pg_catalog.pg_roles r ON r.rolname::text = u.n
    WHERE u.e IS NOT NULL AND u.t IS NOT NULL
  ),
  n AS (
    SELECT a.role_oid,
           pg_catalog.max(l.t) FILTER (WHERE l.o AND (a.locked_at IS NULL OR l.t < COALESCE(a.locked_log_at, a.locked_at))) AS before_lock,
           pg_catalog.max(l.t) FILTER (WHERE NOT l.o OR (a.locked_at IS NOT NULL AND l.t >= COALESCE(a.locked_log_at, a.locked_at))) AS after_lock,
           pg_catalog.max(l.t) FILTER (WHERE l.o) AS newest,
           (pg_catalog.array_agg(l.h ORDER BY l.t DESC) FILTER (WHERE l.o))[1] AS host
    FROM l JOIN db_admin.role_activity a ON a.role_oid = l.oid
    GROUP BY a.role_oid
  ),
  upd AS (
    UPDATE db_admin.role_activity a
    SET last_login = GREATEST(a.last_login, n.before_lock),
        last_log_login = GREATEST(a.last_log_login, n.newest),
        last_host = CASE WHEN n.newest IS NOT NULL AND (a.last_log_login IS NULL OR n.newest >= a.last_log_login)
                         THEN n.host ELSE a.last_host END,
        last_attempt = GREATEST(a.last_attempt, n.after_lock)
    FROM n WHERE a.role_oid = n.role_oid
    RETURNING a.role_oid
  ),
  ins AS (
    INSERT INTO db_admin.firefighter_login AS f (source, event_id, role, login_at, host, grant_id, observed_at)
    SELECT p_source, l.e, l.rolname, l.t, l.h,
      (SELECT g.grant_id FROM db_admin.firefighter_grant g
       WHERE g.role = l.rolname AND g.activated_at IS NOT NULL
         AND pg_catalog.date_trunc('second', g.activated_at) <= l.t
         AND l.t < g.expires_at AND (g.closed_at IS NULL OR l.t < g.closed_at)
       ORDER BY g.activated_at DESC LIMIT 1),
      pg_catalog.clock_timestamp()
    FROM l JOIN db_admin.firefighter_role fr ON fr.role = l.rolname
    WHERE l.o
    ON CONFLICT ON CONSTRAINT firefighter_login_pkey DO NOTHING
    RETURNING f.event_id, f.role, f.login_at, f.host, f.grant_id
  )
  SELECT i.event_id, i.role, i.login_at, i.host, g.grant_id, g.incident_id, g.requester, g.approver, g.expires_at
  FROM ins i LEFT JOIN db_admin.firefighter_grant g ON g.grant_id = i.grant_id
  ORDER BY i.login_at, i.event_id;
END
$fn$;

-- The login of the calling role (the job's own) seen last in the log: the proof that
-- the connection log reaches the job. NULL before the first one.
CREATE OR REPLACE FUNCTION db_admin.activity_log_proof()
RETURNS timestamptz
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT a.last_log_login FROM db_admin.role_activity a
  JOIN pg_catalog.pg_roles r ON r.oid = a.role_oid WHERE r.rolname = session_user;
$fn$;

-- Internal: whether the job's lock of a role may end in a drop, or why not (NULL:
-- it may). A drop is irreversible, so the role must have been locked by the job
-- (status locked or ready_to_delete) at least the policy's drop grace ago, the
-- log must have been read past the moment of the lock (a checkpoint beyond it,
-- no session of the role dated before it still waiting to be settled), and no
-- login dated before the lock may have been seen since (that undoes the lock).
CREATE OR REPLACE FUNCTION db_admin.activity_drop_block(p_role_oid oid)
RETURNS text
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
  SELECT CASE
    WHEN a.role_oid IS NULL OR a.status = 'active' OR a.locked_at IS NULL THEN 'not locked by the activity job'
    WHEN a.last_login > COALESCE(a.locked_last_login, a.last_login) THEN 'a login dated before the lock was seen since'
    WHEN a.locked_at > db_admin.activity_now()
         - COALESCE((SELECT p.drop_grace_hours FROM db_admin.activity_policy p WHERE p.id), 24) * interval '1 hour'
      THEN pg_catalog.format('locked at %s, less than the drop grace of %s hours ago', a.locked_at,
             COALESCE((SELECT p.drop_grace_hours FROM db_admin.activity_policy p WHERE p.id), 24))
    WHEN NOT EXISTS (SELECT FROM db_admin.activity_checkpoint c
                     WHERE c.through_ms >= pg_catalog.date_part('epoch', COALESCE(a.locked_log_at, a.locked_at)) * 1000)
      THEN 'the connection log was not read past the lock yet'
    WHEN EXISTS (SELECT FROM db_admin.activity_checkpoint c, pg_catalog.jsonb_array_elements(c.pending) AS e(s)
                 WHERE e.s -> 'login' ->> 'role' = a.role
                   AND (e.s ->> 'event_ms')::bigint < pg_catalog.date_part('epoch', COALESCE(a.locked_log_at, a.locked_at)) * 1000)
      THEN 'a session of the role dated before the lock is not settled yet'
  END
  FROM (SELECT p_role_oid AS oid) AS q
  LEFT JOIN db_admin.role_activity a ON a.role_oid = q.oid;
$fn$;

-- Internal: the policy's verdict for every tracked role (or one, p_role_oid):
--   active, excluded, locked (waiting), ready_to_delete (waiting for a DBA),
--   lock, drop, mark, unlock (to do), live_session, cannot_manage (to do but
--   blocked; then intended says what).
-- Inactivity is activity_now() - last_login; a role is due for a drop after
-- p_drop_days, for a lock after p_lock_days (0 turns either off). A role due for a
-- drop is locked first and dropped only once activity_drop_block allows it; one
-- with dependents (activity_dependents) is marked instead. A role the job locked
-- whose login dated before the lock has been seen since is unlocked.
CREATE OR REPLACE FUNCTION db_admin.activity_decide(p_lock_days integer, p_drop_days integer, p_exclude text[], p_role_oid oid)
RETURNS TABLE (role_oid oid, role name, action text, intended text, last_login timestamptz, last_log_login timestamptz,
               inactive_days double precision, status text, connection_limit integer, previous_conn_limit integer, reason text,
               last_attempt timestamptz, locked_at timestamptz)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_now timestamptz := db_admin.activity_now();
BEGIN
  PERFORM pg_catalog.pg_stat_clear_snapshot();
  RETURN QUERY
  WITH s AS (
    SELECT a.role_oid, r.rolname, a.last_login, a.last_log_login, a.last_attempt, a.status, r.rolconnlimit, a.previous_conn_limit,
           a.locked_at, db_admin.activity_exclusion(r.oid, p_exclude) AS excluded,
           v_now - a.last_login AS idle,
           a.status <> 'active' AND a.last_login > COALESCE(a.locked_last_login, a.last_login) AS contradicted
    FROM db_admin.role_activity a JOIN pg_catalog.pg_roles r ON r.oid = a.role_oid
    WHERE p_role_oid IS NULL OR a.role_oid = p_role_oid
  ),
  d AS (
    SELECT s.*,
      CASE WHEN s.contradicted THEN 'unlock'
           WHEN p_drop_days > 0 AND s.idle >= p_drop_days * interval '1 day' THEN 'drop'
           WHEN p_lock_days > 0 AND s.idle >= p_lock_days * interval '1 day' THEN 'lock'
           ELSE 'none' END AS due,
      CASE WHEN s.excluded IS NULL THEN db_admin.activity_dependents(s.role_oid) END AS dependents
    FROM s
  ),
  w AS (
    SELECT d.*,
      CASE WHEN d.due = 'drop' AND d.dependents IS NULL AND d.status <> 'active' THEN db_admin.activity_drop_block(d.role_oid) END
        AS drop_block,
      CASE
        WHEN d.due = 'unlock' THEN 'unlock'
        WHEN d.due = 'drop' AND d.dependents IS NOT NULL THEN
          CASE WHEN d.status = 'ready_to_delete' THEN 'ready_to_delete' ELSE 'mark' END
        WHEN d.due = 'drop' AND d.status = 'active' THEN 'lock'
        WHEN d.due = 'drop' AND db_admin.activity_drop_block(d.role_oid) IS NULL THEN 'drop'
        WHEN d.due IN ('lock', 'drop') AND d.status = 'active' THEN 'lock'
        ELSE d.status
      END AS want
    FROM d
  ),
  b AS (
    SELECT w.*,
      CASE
        WHEN w.excluded IS NOT NULL THEN 'excluded'
        WHEN w.want NOT IN ('lock', 'drop', 'mark', 'unlock') THEN w.want
        WHEN NOT (w.want = 'mark' AND w.status <> 'active') AND NOT COALESCE(db_admin.activity_can_manage(w.role_oid), false)
          THEN 'cannot_manage'
        WHEN w.want <> 'unlock' AND EXISTS (SELECT FROM pg_catalog.pg_stat_activity x WHERE x.usesysid = w.role_oid)
          THEN 'live_session'
        ELSE w.want
      END AS verdict
    FROM w
  )
  SELECT b.role_oid, b.rolname, b.verdict,
    CASE WHEN b.excluded IS NULL AND b.want IN ('lock', 'drop', 'mark', 'unlock') THEN b.want END,
    b.last_login, b.last_log_login,
    pg_catalog.date_part('epoch', b.idle) / 86400.0,
    b.status, b.rolconnlimit, b.previous_conn_limit,
    CASE b.verdict
      WHEN 'excluded' THEN b.excluded
      WHEN 'mark' THEN b.dependents
      WHEN 'locked' THEN b.drop_block
      WHEN 'ready_to_delete' THEN COALESCE(b.dependents, b.drop_block)
      WHEN 'unlock' THEN pg_catalog.format('a login at %s, dated before the lock at %s, was seen since', b.last_login, b.locked_at)
      WHEN 'cannot_manage' THEN CASE WHEN pg_catalog.current_setting('server_version_num')::integer >= 160000
        THEN 'the admin has no ADMIN OPTION on this role' ELSE 'a REPLICATION or BYPASSRLS role needs a superuser' END
      WHEN 'live_session' THEN 'the role has a live session'
    END,
    b.last_attempt, b.locked_at
  FROM b ORDER BY b.rolname;
END
$fn$;

-- The plan: the policy's verdict for every login role the job tracks (see
-- activity_decide), after bringing the tracking up to date. Changes no role.
CREATE OR REPLACE FUNCTION db_admin.activity_plan(p_lock_days integer, p_drop_days integer, p_exclude text[] DEFAULT '{}')
RETURNS TABLE (role name, action text, intended text, last_login timestamptz, last_log_login timestamptz,
               inactive_days double precision, status text, connection_limit integer, previous_conn_limit integer, reason text,
               last_attempt timestamptz, locked_at timestamptz)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
  PERFORM db_admin.activity_check_policy(p_lock_days, p_drop_days, p_exclude);
  PERFORM db_admin.activity_sync();
  RETURN QUERY
  SELECT d.role, d.action, d.intended, d.last_login, d.last_log_login, d.inactive_days, d.status,
         d.connection_limit, d.previous_conn_limit, d.reason, d.last_attempt, d.locked_at
  FROM db_admin.activity_decide(p_lock_days, p_drop_days, p_exclude, NULL) AS d;
END
$fn$;

-- Carries out one planned action (lock, drop, mark or unlock) on one role, after
-- deciding again under the role's lock with the same policy: nothing happens unless
-- the verdict is still p_action. Returns the result: locked, dropped, marked (locked
-- if it was not, and marked ready to delete; also when a drop found dependents),
-- unlocked (a login dated before the lock: the previous connection limit is back),
-- live_session or cannot_manage (blocked), or plan_changed (the verdict is another
-- one now; reason says which). A refused ALTER or DROP never fails the call. A drop
-- that activity_drop_block does not allow raises FFB21, whatever the plan says.
CREATE OR REPLACE FUNCTION db_admin.activity_enforce(
  p_role name, p_action text, p_lock_days integer, p_drop_days integer, p_exclude text[] DEFAULT '{}')
RETURNS TABLE (role name, result text, previous_conn_limit integer, reason text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_oid oid;
  v_plan record;
  v_now timestamptz;
  v_action text := p_action;
  v_db name;
BEGIN
  PERFORM db_admin.activity_check_policy(p_lock_days, p_drop_days, p_exclude);
  IF p_action IS NULL OR p_action NOT IN ('lock', 'drop', 'mark', 'unlock') THEN
    RAISE EXCEPTION 'action must be lock, drop, mark or unlock' USING ERRCODE = 'FFB04';
  END IF;
  role := p_role;
  SELECT r.oid INTO v_oid FROM pg_catalog.pg_roles r WHERE r.rolname = p_role;
  IF v_oid IS NULL THEN
    result := 'plan_changed';
    reason := 'the role does not exist';
    RETURN NEXT;
    RETURN;
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('ffbroker.activity'), pg_catalog.hashtext(p_role::text));
  PERFORM db_admin.activity_sync();
  IF p_action = 'drop' THEN
    reason := db_admin.activity_drop_block(v_oid);
    IF reason IS NOT NULL THEN
      RAISE EXCEPTION 'role % may not be dropped: %', pg_catalog.quote_ident(p_role), reason USING ERRCODE = 'FFB21';
    END IF;
  END IF;
  SELECT d.* INTO v_plan FROM db_admin.activity_decide(p_lock_days, p_drop_days, p_exclude, v_oid) AS d;
  IF NOT FOUND THEN
    result := 'plan_changed';
    reason := 'the role is not tracked';
    RETURN NEXT;
    RETURN;
  END IF;
  IF v_plan.action IN ('live_session', 'cannot_manage') AND v_plan.intended = v_action THEN
    result := v_plan.action;
    reason := v_plan.reason;
    RETURN NEXT;
    RETURN;
  END IF;
  IF v_plan.action <> v_action THEN
    result := 'plan_changed';
    reason := 'the policy now says ' || v_plan.action;
    RETURN NEXT;
    RETURN;
  END IF;
  previous_conn_limit := CASE WHEN v_plan.status = 'active' THEN v_plan.connection_limit ELSE v_plan.previous_conn_limit END;
  v_now := db_admin.activity_now();

  IF v_action = 'unlock' THEN
    BEGIN
      EXECUTE pg_catalog.format('ALTER ROLE %I CONNECTION LIMIT %s', p_role, COALESCE(v_plan.previous_conn_limit, -1));
    EXCEPTION WHEN insufficient_privilege THEN
      result := 'cannot_manage';
      reason := SQLERRM;
      RETURN NEXT;
      RETURN;
    END;
    UPDATE db_admin.role_activity a
    SET status = 'active', locked_at = NULL, marked_at = NULL, previous_conn_limit = NULL,
        locked_log_at = NULL, locked_last_login = NULL
    WHERE a.role_oid = v_oid;
    result := 'unlocked';
    reason := v_plan.reason;
    RETURN NEXT;
    RETURN;
  END IF;

  IF v_action = 'drop' THEN
    BEGIN
      -- CONNECT and TEMPORARY on databases go with the role (revoked as the owner of
      -- the database, where the admin is one; elsewhere the DROP fails, and all of
      -- this rolls back to a mark).
      FOR v_db IN
        SELECT d.datname FROM pg_catalog.pg_shdepend s JOIN pg_catalog.pg_database d ON d.oid = s.objid
        WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND s.refobjid = v_oid
          AND s.classid = 'pg_catalog.pg_database'::pg_catalog.regclass AND s.deptype = 'a'
      LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON DATABASE %I FROM %I', v_db, p_role);
      END LOOP;
      EXECUTE pg_catalog.format('DROP ROLE %I', p_role);
      DELETE FROM db_admin.role_activity a WHERE a.role_oid = v_oid;
      result := 'dropped';
    EXCEPTION
      WHEN insufficient_privilege THEN
        result := 'cannot_manage';
        reason := SQLERRM;
      WHEN dependent_objects_still_exist THEN
        v_action := 'mark';
        reason := SQLERRM;
    END;
    IF result IS NOT NULL THEN
      RETURN NEXT;
      RETURN;
    END IF;
  END IF;

  IF v_plan.status = 'active' THEN
    BEGIN
      EXECUTE pg_catalog.format('ALTER ROLE %I CONNECTION LIMIT 0', p_role);
    EXCEPTION WHEN insufficient_privilege THEN
      result := 'cannot_manage';
      reason := SQLERRM;
      RETURN NEXT;
      RETURN;
    END;
    UPDATE db_admin.role_activity a
    SET status = CASE WHEN v_action = 'mark' THEN 'ready_to_delete' ELSE 'locked' END,
        locked_at = v_now, previous_conn_limit = v_plan.connection_limit,
        locked_log_at = pg_catalog.clock_timestamp(), locked_last_login = a.last_login,
        marked_at = CASE WHEN v_action = 'mark' THEN v_now END
    WHERE a.role_oid = v_oid;
  ELSE
    UPDATE db_admin.role_activity a SET status = 'ready_to_delete', marked_at = v_now WHERE a.role_oid = v_oid;
  END IF;
  result := CASE WHEN v_action = 'mark' THEN 'marked' ELSE 'locked' END;
  RETURN NEXT;
END
$fn$;

-- Gives a role locked by the job its logins back: restores the connection limit it
-- had before the lock and restarts its inactivity count from now (the policy's
-- clock). Raises 42704 for no such role, FFB07 when the job did not lock it, FFB08
-- when the admin may not alter it.
CREATE OR REPLACE FUNCTION db_admin.activity_unlock(p_role name)
RETURNS TABLE (role name, connection_limit integer)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
  v_oid oid;
  v_row db_admin.role_activity%ROWTYPE;
  v_limit integer;
BEGIN
  SELECT r.oid INTO v_oid FROM pg_catalog.pg_roles r WHERE r.rolname = p_role;
  IF v_oid IS NULL THEN
    RAISE EXCEPTION 'role % does not exist', pg_catalog.quote_ident(COALESCE(p_role, '')) USING ERRCODE = 'undefined_object';
  END IF;
  PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('ffbroker.activity'), pg_catalog.hashtext(p_role::text));
  PERFORM db_admin.activity_sync();
  SELECT a.* INTO v_row FROM db_admin.role_activity a WHERE a.role_oid = v_oid;
  IF NOT FOUND OR v_row.status = 'active' THEN
    RAISE EXCEPTION 'role % is not locked by the activity job', pg_catalog.quote_ident(p_role) USING ERRCODE = 'FFB07';
  END IF;
  v_limit := COALESCE(v_row.previous_conn_limit, -1);
  BEGIN
    EXECUTE pg_catalog.format('ALTER ROLE %I CONNECTION LIMIT %s', p_role, v_limit);
  EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'the admin cannot manage role %: %', pg_catalog.quote_ident(p_role), SQLERRM USING ERRCODE = 'FFB08';
  END;
  UPDATE db_admin.role_activity a
  SET status = 'active', locked_at = NULL, marked_at = NULL, previous_conn_limit = NULL,
      locked_log_at = NULL, locked_last_login = NULL, last_login = db_admin.activity_now()
  WHERE a.role_oid = v_oid;
  role := p_role;
  connection_limit := v_limit;
  RETURN NEXT;
END
$fn$;

-- EXECUTE: nobody by default; the activity monitor gets exactly its functions.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA db_admin FROM PUBLIC;

-- The policy row: written by the first run (or when the variables are given).
\if :activity_policy_given
SELECT (SELECT pg_catalog.count(*) FROM db_admin.activity_set_policy(:'activity_lock_days'::integer,
  :'activity_drop_days'::integer)) AS activity_policy_rows \gset
\else
SELECT CASE WHEN NOT EXISTS (SELECT FROM db_admin.activity_policy)
  THEN (SELECT pg_catalog.count(*) FROM db_admin.activity_set_policy(:'activity_lock_days'::integer,
        :'activity_drop_days'::integer)) END AS activity_policy_rows \gset
\endif

-- The deployment's exclude list: replaced when the variable is given (comma-separated,
-- or a JSON array for names with a comma, as FFB_ACTIVITY_EXCLUDE), kept otherwise.
\if :{?activity_exclude}
SELECT pg_catalog.ltrim(:'activity_exclude') LIKE '[%' AS activity_exclude_json \gset
\if :activity_exclude_json
SELECT db_admin.activity_set_exclude(ARRAY(SELECT pg_catalog.jsonb_array_elements_text(:'activity_exclude'::jsonb)))
  AS activity_exclude_roles \gset
\else
SELECT db_admin.activity_set_exclude(ARRAY(SELECT pg_catalog.btrim(u.r)
  FROM pg_catalog.unnest(pg_catalog.string_to_array(:'activity_exclude', ',')) AS u(r) WHERE pg_catalog.btrim(u.r) <> ''))
  AS activity_exclude_roles \gset
\endif
\endif

RESET ROLE;
SET ROLE :"admin_role";
GRANT USAGE ON SCHEMA db_admin TO :"activity_role";
-- One GRANT EXECUTE per line, in this form: ffbroker verify reads these lines (from the
-- scripts built into it) as the functions the activity monitor must be able to execute.
GRANT EXECUTE ON FUNCTION db_admin.activity_now() TO :"activity_role";
GRANT EXECUTE ON FUNCTION db_admin.activity_clock_shift() TO :"activity_role";
GRANT EXECUTE ON FUNCTION db_admin.activity_policy() TO :"activity_role";
GRANT EXECUTE ON FUNCTION db_admin.activity_checkpoint(text) TO :"activity_role";
GRANT EXECUTE ON FUNCTION db_admin.activity_commit_page(text, bigint, bigint, text[], integer, integer, jsonb) TO :"activity_role";
GRANT EXECUTE ON FUNCTION db_admin.activity_record_logins(text, text[], text[], timestamp with time zone[], text[], boolean[]) TO :"activity_role";
GRANT EXECUTE ON FUNCTION db_admin.activity_log_proof() TO :"activity_role";
GRANT EXECUTE ON FUNCTION db_admin.activity_plan(integer, integer, text[]) TO :"activity_role";
GRANT EXECUTE ON FUNCTION db_admin.activity_enforce(name, text, integer, integer, text[]) TO :"activity_role";
GRANT EXECUTE ON FUNCTION db_admin.activity_unlock(name) TO :"activity_role";
RESET ROLE;
RESET client_min_messages;
