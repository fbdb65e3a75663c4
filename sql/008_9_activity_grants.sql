-- The policy row and the exclude list the psql variables give, and EXECUTE for the
-- activity monitor only.

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)
-- CREATE ... IF NOT EXISTS and DROP ... IF EXISTS print no NOTICE; WARNINGs still print.
SET client_min_messages = warning;

SET ROLE :"admin_role";

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
