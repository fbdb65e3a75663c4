-- Section 4: the application database, owned by the NOLOGIN owner, and its privileges.
-- CREATE DATABASE cannot run in a transaction block; \gexec runs it on its own.

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)

SELECT pg_catalog.format(
  'CREATE DATABASE %I OWNER %I TEMPLATE template0 ENCODING %L CONNECTION LIMIT 200',
  :'db_name', :'owner_role', 'UTF8')
WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_database WHERE datname = :'db_name') \gexec

-- Nobody connects or creates temporary tables by default; each role that needs to
-- connect gets CONNECT by name (newer Aurora versions require it explicitly).
SELECT pg_catalog.format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db_name') \gexec

SELECT pg_catalog.format('GRANT CONNECT ON DATABASE %I TO %I', :'db_name', r)
FROM pg_catalog.unnest(ARRAY[:'admin_role', :'owner_role', :'migrator_role', :'app_role',
                  :'ff_ro_role', :'ff_rw_role', :'broker_role', :'approver_role', :'activity_role']) AS r \gexec

SELECT pg_catalog.format('GRANT CONNECT ON DATABASE %I TO CURRENT_USER', :'db_name') \gexec

-- The firefighter roles reach the application database only. Any other database they
-- may connect to (postgres and template1 grant CONNECT to PUBLIC, and before
-- PostgreSQL 15 CREATE on their schema public too) is closed when this role can act
-- as its owner (on Aurora the master owns postgres and template1): PUBLIC loses
-- CONNECT, which this role (and rds_superuser on Aurora) keeps by name, and so does
-- any firefighter grant. Where it cannot, a WARNING says so and `ffbroker verify`
-- fails. Other roles that need such a database get CONNECT by name from the DBA.
SELECT pg_catalog.format($fmt$DO $ffb$
DECLARE
  v_ff name[] := ARRAY[%L, %L]::name[];
  v_aurora boolean := %L::boolean;
  v_f name;
  d record;
BEGIN
  FOR d IN
    SELECT db.datname, db.datdba::regrole::text AS owner,
           pg_catalog.pg_has_role(current_user, db.datdba, 'USAGE') AS manageable
    FROM pg_catalog.pg_database db
    WHERE db.datallowconn AND db.datname <> %L
    ORDER BY db.datname
  LOOP
    CONTINUE WHEN NOT EXISTS (SELECT FROM pg_catalog.unnest(v_ff) f
                              WHERE pg_catalog.has_database_privilege(f, d.datname, 'CONNECT'));
    IF d.manageable THEN
      IF pg_catalog.has_database_privilege('public', d.datname, 'CONNECT') THEN
        EXECUTE pg_catalog.format('GRANT CONNECT ON DATABASE %%I TO CURRENT_USER', d.datname);
        IF v_aurora AND pg_catalog.to_regrole('rds_superuser') IS NOT NULL THEN
          EXECUTE pg_catalog.format('GRANT CONNECT ON DATABASE %%I TO rds_superuser', d.datname);
        END IF;
        EXECUTE pg_catalog.format('REVOKE CONNECT ON DATABASE %%I FROM PUBLIC', d.datname);
        RAISE NOTICE 'ffbroker: PUBLIC may no longer connect to database %%; %% keeps CONNECT: grant it by name to any other role that needs it (GRANT CONNECT ON DATABASE %% TO role)',
          pg_catalog.quote_ident(d.datname), CASE WHEN v_aurora THEN 'this role and rds_superuser' ELSE 'this role' END,
          pg_catalog.quote_ident(d.datname);
      END IF;
      FOREACH v_f IN ARRAY v_ff LOOP
        EXECUTE pg_catalog.format('REVOKE CONNECT ON DATABASE %%I FROM %%I', d.datname, v_f);
      END LOOP;
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.unnest(v_ff) f
               WHERE pg_catalog.has_database_privilege(f, d.datname, 'CONNECT')) THEN
      RAISE WARNING 'ffbroker: the firefighter roles can still connect to database %%, owned by %%, which this role cannot act as: its owner must run REVOKE CONNECT ON DATABASE %% FROM PUBLIC (and grant CONNECT by name to the roles that need it)',
        pg_catalog.quote_ident(d.datname), d.owner, pg_catalog.quote_ident(d.datname);
    END IF;
  END LOOP;
END
$ffb$$fmt$, :'ff_ro_role', :'ff_rw_role', :'flavor' = 'aurora', :'db_name') \gexec
