-- ffbroker role model bootstrap.
--
-- Run as the cluster's master user (NOSUPERUSER, CREATEROLE, CREATEDB on Aurora),
-- connected to the postgres database:
--
--   psql -X -v ON_ERROR_STOP=1 [-v prefix=my_pg] [-v db_name=my-pg-db] \
--        [-v app_schema=my-pg-db-schema] [-v flavor=aurora|postgres] \
--        -h HOST -U MASTER -d postgres -f sql/bootstrap.sql
--
-- Idempotent: a second run changes nothing and fails nothing. See sql/README.md.

\set ON_ERROR_STOP on
\set QUIET on

-- Names resolve in pg_catalog only (and this session's own temporary schema): never in
-- a schema another role can write, such as public on a cluster upgraded from 14.
SET search_path = pg_catalog, pg_temp;

\if :{?prefix}
\else
  \set prefix my_pg
\endif
\if :{?db_name}
\else
  \set db_name my-pg-db
\endif
\if :{?app_schema}
\else
  \set app_schema my-pg-db-schema
\endif
\if :{?flavor}
\else
  \set flavor aurora
\endif

-- Role names derived from the prefix.
\set admin_role :prefix _admin
\set owner_role :prefix _owner
\set migrator_role :prefix _migrator
\set app_role :prefix _app
\set ff_ro_role :prefix _firefighter_ro
\set ff_rw_role :prefix _firefighter_rw
\set broker_role :prefix _password_broker
\set activity_role :prefix _activity_monitor
\set approver_role :prefix _password_approver

\ir 000_preflight.sql
\ir 001_roles.sql
\ir 002_database.sql

\connect -reuse-previous=on :"db_name"
-- A new session: its search_path is the master's default again.
SET search_path = pg_catalog, pg_temp;
\ir 000_preflight.sql

\ir 003_schema.sql
\ir 004_object_grants.sql
\ir 005_default_privileges.sql
\ir 006_guardrails.sql
\ir 007_1_db_admin_tables.sql
\ir 007_2_grant_issue.sql
\ir 007_3_grant_takeback.sql
\ir 007_4_requests.sql
\ir 007_5_extensions.sql
\ir 007_6_notices.sql
\ir 007_9_db_admin_grants.sql
\ir 008_1_activity_tables.sql
\ir 008_2_activity_policy.sql
\ir 008_3_activity_logins.sql
\ir 008_4_activity_enforce.sql
\ir 008_9_activity_grants.sql

\echo 'ffbroker bootstrap complete for database' :"db_name"
