-- The activity job's decisions: what blocks a drop, the verdict per role, the plan,
-- the enforcement (lock, drop, unlock when the lock was wrong) and the manual unlock.

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)
-- CREATE ... IF NOT EXISTS and DROP ... IF EXISTS print no NOTICE; WARNINGs still print.
SET client_min_messages = warning;

SET ROLE :"admin_role";

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

RESET ROLE;
RESET client_min_messages;
