-- Section 7: privileges on objects the owner creates later. They apply only to objects
-- created by the owner role itself: migrations must SET ROLE owner before DDL.

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)

SELECT pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I %s', :'owner_role', :'app_schema', d)
FROM pg_catalog.unnest(ARRAY[
  pg_catalog.format('GRANT SELECT, INSERT, UPDATE ON TABLES TO %I', :'app_role'),
  pg_catalog.format('GRANT USAGE, SELECT ON SEQUENCES TO %I', :'app_role'),
  pg_catalog.format('GRANT EXECUTE ON FUNCTIONS TO %I', :'app_role'),
  pg_catalog.format('GRANT SELECT ON TABLES TO %I', :'ff_ro_role'),
  pg_catalog.format('GRANT SELECT ON SEQUENCES TO %I', :'ff_ro_role'),
  pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', :'ff_rw_role'),
  pg_catalog.format('GRANT USAGE, SELECT ON SEQUENCES TO %I', :'ff_rw_role'),
  'REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC'
]) WITH ORDINALITY AS t(d, n) ORDER BY n \gexec

-- A per-schema default cannot take away a built-in default: PUBLIC's EXECUTE on new
-- functions is only removed by a default without IN SCHEMA. Functions the owner creates
-- anywhere are then executable only by those granted (the app, above).
SELECT pg_catalog.format('ALTER DEFAULT PRIVILEGES FOR ROLE %I REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC', :'owner_role') \gexec
