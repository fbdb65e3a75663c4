-- Section 6: privileges on objects that already exist in the application schema.
-- Granted as the owner, so re-runs after new migrations are safe.

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)

SET ROLE :"owner_role";

-- app: SELECT, INSERT, UPDATE only; no DELETE, TRUNCATE, REFERENCES, TRIGGER, MAINTAIN.
SELECT pg_catalog.format('GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA %I TO %I', :'app_schema', :'app_role') \gexec
SELECT pg_catalog.format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', :'app_schema', :'app_role') \gexec
SELECT pg_catalog.format('GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA %I TO %I', :'app_schema', :'app_role') \gexec

-- firefighter_ro: SELECT only.
SELECT pg_catalog.format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO %I', :'app_schema', :'ff_ro_role') \gexec
SELECT pg_catalog.format('GRANT SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', :'app_schema', :'ff_ro_role') \gexec

-- firefighter_rw: narrow DML; no TRUNCATE, no DDL (DDL goes through the migrator).
SELECT pg_catalog.format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', :'app_schema', :'ff_rw_role') \gexec
SELECT pg_catalog.format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', :'app_schema', :'ff_rw_role') \gexec

RESET ROLE;
