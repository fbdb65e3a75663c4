-- Section 10: conservative session settings for the firefighter roles, and the
-- application's default search_path (a convenience, not a security boundary).

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)

SELECT pg_catalog.format('ALTER ROLE %I IN DATABASE %I SET %s', s.r, :'db_name', s.setting)
FROM (VALUES
  (:'ff_ro_role', 1, 'statement_timeout = ''5min'''),
  (:'ff_ro_role', 2, 'idle_in_transaction_session_timeout = ''2min'''),
  (:'ff_rw_role', 3, 'statement_timeout = ''5min'''),
  (:'ff_rw_role', 4, 'lock_timeout = ''5s'''),
  (:'ff_rw_role', 5, 'idle_in_transaction_session_timeout = ''2min'''),
  (:'app_role', 6, pg_catalog.format('search_path = %I, public', :'app_schema')),
  (:'migrator_role', 7, pg_catalog.format('search_path = %I, public', :'app_schema'))
) AS s(r, n, setting) ORDER BY s.n \gexec
