-- Checks the variables and the connected role, and learns the server's capabilities.
-- Included by bootstrap.sql before and after it connects to the new database.
-- A failed check raises an error, which stops psql (ON_ERROR_STOP is on).

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)

SELECT pg_catalog.format('DO $check$ BEGIN RAISE EXCEPTION %L; END $check$', m)
FROM (VALUES
  (:'flavor' NOT IN ('aurora', 'postgres'),
   pg_catalog.format('ffbroker: flavor must be aurora or postgres, not %s', :'flavor')),
  (:'prefix' !~ '^[a-z][a-z0-9_]{0,30}$',
   pg_catalog.format('ffbroker: prefix must match ^[a-z][a-z0-9_]{0,30}$, not %s', :'prefix')),
  (pg_catalog.length(:'db_name') NOT BETWEEN 1 AND 63 OR pg_catalog.length(:'app_schema') NOT BETWEEN 1 AND 63,
   'ffbroker: db_name and app_schema must be 1 to 63 characters'),
  (NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = current_user AND rolcreaterole AND rolcreatedb),
   'ffbroker: the bootstrap must run as a role with CREATEROLE and CREATEDB (the Aurora master user)'),
  (:'flavor' = 'aurora' AND pg_catalog.to_regrole('rds_iam') IS NULL,
   'ffbroker: flavor aurora needs the rds_iam and rds_password roles; use -v flavor=postgres on standard PostgreSQL'),
  -- Without it any role changes its own password: a firefighter would lock the secret's
  -- holders out and keep a password that is in no secret.
  (:'flavor' = 'aurora' AND pg_catalog.to_regrole('rds_iam') IS NOT NULL
     AND pg_catalog.lower(COALESCE(pg_catalog.current_setting('rds.restrict_password_commands', true), 'off'))
         NOT IN ('on', '1', 'true', 'yes'),
   'ffbroker: flavor aurora needs rds.restrict_password_commands = 1 in the cluster parameter group (then reboot the writer): without it a firefighter can change its own password')
) AS c(failed, m)
WHERE c.failed \gexec

SELECT
  pg_catalog.current_setting('server_version_num')::int >= 160000 AS pg16,
  r.rolsuper AS is_superuser
FROM pg_catalog.pg_roles r
WHERE r.rolname = current_user \gset

\if :is_superuser
SELECT 'DO $n$ BEGIN RAISE NOTICE ''ffbroker: running as a superuser; Aurora has none, the scripts are written for its NOSUPERUSER master''; END $n$' \gexec
\endif
