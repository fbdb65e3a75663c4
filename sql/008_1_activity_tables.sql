-- The activity job: the last login of every login role, read from the
-- PostgreSQL connection log in CloudWatch Logs; the job's checkpoint; and the
-- inactivity policy (lock after N days, drop after M days or mark ready to delete).
-- Runs connected to the application database. Everything here is owned by the admin.
-- This file: the tables; the functions follow in 008_2 (clock and policy), 008_3 (the
-- log's checkpoint and logins) and 008_4 (plan and enforce); the policy row, the exclude
-- list and EXECUTE for the activity monitor in 008_9.
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

RESET ROLE;
RESET client_min_messages;
