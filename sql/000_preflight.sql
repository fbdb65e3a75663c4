-- Checks the variables and the connected role, and learns the server's capabilities.
-- Included by bootstrap.sql before and after it connects to the new database.

SELECT :'flavor' IN ('aurora', 'postgres') AS flavor_ok \gset
\if :flavor_ok
\else
  \echo 'flavor must be aurora or postgres, got' :'flavor'
  \quit 3
\endif

SELECT :'prefix' ~ '^[a-z][a-z0-9_]{0,30}$' AS prefix_ok \gset
\if :prefix_ok
\else
  \echo 'prefix must match ^[a-z][a-z0-9_]{0,30}$, got' :'prefix'
  \quit 3
\endif

SELECT
  current_setting('server_version_num')::int >= 160000 AS pg16,
  current_setting('server_version_num')::int >= 150000 AS pg15,
  r.rolsuper AS is_superuser,
  r.rolcreaterole AND r.rolcreatedb AS can_bootstrap
FROM pg_catalog.pg_roles r
WHERE r.rolname = current_user \gset

\if :can_bootstrap
\else
  \echo 'the bootstrap must run as a role with CREATEROLE and CREATEDB (the Aurora master user)'
  \quit 3
\endif

\if :is_superuser
  \echo 'NOTICE: running as a superuser; Aurora has none, so the scripts are written for the NOSUPERUSER master'
\endif
