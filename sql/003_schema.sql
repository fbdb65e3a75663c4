-- Section 5: the application schema and the hardening of schema public.
-- Runs connected to the application database.

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)

SET ROLE :"owner_role";

SELECT pg_catalog.format('CREATE SCHEMA %I AUTHORIZATION %I', :'app_schema', :'owner_role')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = :'app_schema') \gexec

SELECT pg_catalog.format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', :'app_schema') \gexec
SELECT pg_catalog.format('GRANT USAGE ON SCHEMA %I TO %I', :'app_schema', r)
FROM pg_catalog.unnest(ARRAY[:'app_role', :'ff_ro_role', :'ff_rw_role']) AS r \gexec
-- The migrator reaches the schema through SET ROLE owner; the broker never needs it.

-- Schema public: from PostgreSQL 15 on it belongs to pg_database_owner, that is to the
-- owner role here, which revokes CREATE (and USAGE: no application object lives there).
-- Before 15 it belongs to the bootstrap superuser, which the Aurora master is not:
-- nobody but that superuser (rdsadmin on Aurora) can revoke PUBLIC's CREATE on it.
SELECT pg_catalog.pg_has_role(current_user, n.nspowner, 'USAGE') AS owns_public
FROM pg_catalog.pg_namespace n WHERE n.nspname = 'public' \gset
\if :owns_public
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
REVOKE USAGE ON SCHEMA public FROM PUBLIC;
\else
SELECT pg_catalog.format('DO $notice$ BEGIN RAISE NOTICE %L, %L; END $notice$', '%', pg_catalog.format(
  'ffbroker: schema public of database %s is owned by %s, which this role cannot act as: '
  'PUBLIC keeps CREATE on it until that owner runs REVOKE CREATE, USAGE ON SCHEMA public FROM PUBLIC',
  pg_catalog.quote_ident(pg_catalog.current_database()), n.nspowner::regrole))
FROM pg_catalog.pg_namespace n WHERE n.nspname = 'public' \gexec
\endif

RESET ROLE;
