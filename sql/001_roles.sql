-- Section 3 of the role model: the roles, their attributes and memberships.
-- Attributes and PASSWORD NULL are set only when a role is created: a re-run never
-- resets a password, a connection limit or a lock set since.

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)

SELECT pg_catalog.format('CREATE ROLE %I LOGIN CREATEDB CREATEROLE INHERIT PASSWORD NULL', :'admin_role')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'admin_role') \gexec

SELECT pg_catalog.format('CREATE ROLE %I NOLOGIN INHERIT', :'owner_role')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'owner_role') \gexec

SELECT pg_catalog.format('CREATE ROLE %I LOGIN INHERIT PASSWORD NULL', :'migrator_role')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'migrator_role') \gexec

SELECT pg_catalog.format('CREATE ROLE %I LOGIN INHERIT CONNECTION LIMIT 100 PASSWORD NULL', :'app_role')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'app_role') \gexec

SELECT pg_catalog.format('CREATE ROLE %I LOGIN INHERIT CONNECTION LIMIT 5 PASSWORD NULL VALID UNTIL %L', :'ff_ro_role', 'epoch')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'ff_ro_role') \gexec

SELECT pg_catalog.format('CREATE ROLE %I LOGIN INHERIT CONNECTION LIMIT 3 PASSWORD NULL VALID UNTIL %L', :'ff_rw_role', 'epoch')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'ff_rw_role') \gexec

SELECT pg_catalog.format('CREATE ROLE %I LOGIN INHERIT CONNECTION LIMIT 3 PASSWORD NULL', :'broker_role')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'broker_role') \gexec

-- The approve function's login: it may only record a second person's decision on a
-- pending request (db_admin.decide_firefighter_request). It cannot issue, and the
-- broker's login cannot decide: no single login produces read-write access.
SELECT pg_catalog.format('CREATE ROLE %I LOGIN INHERIT CONNECTION LIMIT 2 PASSWORD NULL', :'approver_role')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'approver_role') \gexec

-- The activity job's login: it may only execute its db_admin functions.
SELECT pg_catalog.format('CREATE ROLE %I LOGIN INHERIT CONNECTION LIMIT 2 PASSWORD NULL', :'activity_role')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'activity_role') \gexec

-- The master must be able to SET ROLE to the owner (to create the database and schema
-- owned by it) and to the admin (to create the db_admin objects owned by it). Before
-- PostgreSQL 16 CREATEROLE allowed that by itself; from 16 on, the automatic grant a
-- CREATEROLE user receives on roles it creates has SET FALSE, so grant it explicitly.
\if :pg16
SELECT pg_catalog.format('GRANT %I TO CURRENT_USER WITH SET TRUE', r)
FROM pg_catalog.unnest(ARRAY[:'owner_role', :'admin_role']) AS r
WHERE NOT pg_catalog.pg_has_role(current_user, r, 'SET') \gexec
\else
SELECT pg_catalog.format('GRANT %I TO CURRENT_USER', r)
FROM pg_catalog.unnest(ARRAY[:'owner_role', :'admin_role']) AS r
WHERE NOT pg_catalog.pg_has_role(current_user, r, 'MEMBER') \gexec
\endif

-- The admin administers the owner and the firefighter roles: from PostgreSQL 16
-- on, ALTER ROLE ... PASSWORD on another role needs ADMIN OPTION on it, and the
-- membership (inherited) lets the admin's SECURITY DEFINER functions terminate the
-- firefighters' sessions with pg_terminate_backend.
SELECT pg_catalog.format('GRANT %I TO %I WITH ADMIN OPTION', r, :'admin_role')
FROM pg_catalog.unnest(ARRAY[:'owner_role', :'ff_ro_role', :'ff_rw_role']) AS r
WHERE NOT EXISTS (
  SELECT FROM pg_catalog.pg_auth_members m
  WHERE m.roleid = r::regrole AND m.member = (:'admin_role')::regrole AND m.admin_option) \gexec

-- The migrator runs DDL through SET ROLE owner (section 8 pattern).
SELECT pg_catalog.format('GRANT %I TO %I', :'owner_role', :'migrator_role')
WHERE NOT EXISTS (
  SELECT FROM pg_catalog.pg_auth_members m
  WHERE m.roleid = (:'owner_role')::regrole AND m.member = (:'migrator_role')::regrole) \gexec

-- Aurora only: rds_password lets the admin manage passwords when
-- rds.restrict_password_commands is on; rds_iam lets the broker, the approver and the
-- activity monitor log in with an IAM token.
-- Firefighter roles never get rds_iam: their expiry relies on VALID UNTIL, which IAM
-- authentication ignores.
SELECT :'flavor' = 'aurora' AS is_aurora \gset
\if :is_aurora
SELECT pg_catalog.format('GRANT %I TO %I', g.r, g.m)
FROM (VALUES ('rds_password', :'admin_role'), ('rds_iam', :'broker_role'), ('rds_iam', :'approver_role'), ('rds_iam', :'activity_role')) AS g(r, m)
WHERE NOT EXISTS (
  SELECT FROM pg_catalog.pg_auth_members a
  WHERE a.roleid = g.r::regrole AND a.member = g.m::regrole) \gexec
\endif
