-- Section 4: the application database, owned by the NOLOGIN owner, and its privileges.
-- CREATE DATABASE cannot run in a transaction block; \gexec runs it on its own.

SELECT pg_catalog.format(
  'CREATE DATABASE %I OWNER %I TEMPLATE template0 ENCODING %L CONNECTION LIMIT 200',
  :'db_name', :'owner_role', 'UTF8')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = :'db_name') \gexec

-- Nobody connects or creates temporary tables by default; each role that needs to
-- connect gets CONNECT by name (newer Aurora versions require it explicitly).
SELECT pg_catalog.format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db_name') \gexec

SELECT pg_catalog.format('GRANT CONNECT ON DATABASE %I TO %I', :'db_name', r)
FROM unnest(ARRAY[:'admin_role', :'owner_role', :'migrator_role', :'app_role',
                  :'ff_ro_role', :'ff_rw_role', :'broker_role', :'approver_role', :'activity_role']) AS r \gexec

SELECT pg_catalog.format('GRANT CONNECT ON DATABASE %I TO CURRENT_USER', :'db_name') \gexec
