-- The activity job's clock, its policy (the admin's floor, drop grace, exclude list),
-- the exclusions and the sync of db_admin.role_activity with pg_roles.
-- Tables and SQLSTATEs: 008_1_activity_tables.sql.

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)
-- CREATE ... IF NOT EXISTS and DROP ... IF EXISTS print no NOTICE; WARNINGs still print.
SET client_min_messages = warning;

SET ROLE :"admin_role";

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

RESET ROLE;
RESET client_min_messages;
