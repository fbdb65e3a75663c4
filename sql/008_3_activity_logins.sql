-- The activity job's reading of the connection log: the checkpoint, a page's commit,
-- the logins it records, and the proof of what the log showed.

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)
-- CREATE ... IF NOT EXISTS and DROP ... IF EXISTS print no NOTICE; WARNINGs still print.
SET client_min_messages = warning;

SET ROLE :"admin_role";

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

RESET ROLE;
RESET client_min_messages;
