-- EXECUTE on the db_admin functions of 007: nobody by default, the broker and the
-- approver each exactly their own.

SET search_path = pg_catalog, pg_temp; -- never a schema others can write (see bootstrap.sql)
-- CREATE ... IF NOT EXISTS and DROP ... IF EXISTS print no NOTICE; WARNINGs still print.
SET client_min_messages = warning;

SET ROLE :"admin_role";

-- EXECUTE: nobody by default; the broker and the approver get exactly their functions.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA db_admin FROM PUBLIC;

RESET ROLE;
SET ROLE :"admin_role";
GRANT USAGE ON SCHEMA db_admin TO :"broker_role", :"approver_role";
-- One GRANT EXECUTE per line, in this form: ffbroker verify reads these lines (from the
-- scripts built into it) as the functions each login must be able to execute.
GRANT EXECUTE ON FUNCTION db_admin.set_firefighter_password(name, text, integer) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.reserve_firefighter_grant(uuid, name, integer, text, text, text, uuid) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.issue_firefighter_password(uuid, name, text, integer, text, text, text, uuid) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.expire_firefighter_password(name) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.terminate_firefighter_sessions(name) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.sweep_expired_firefighters() TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.firefighter_status() TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.firefighter_roles() TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.live_firefighter_grants() TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.lock_firefighter_role(name) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.current_firefighter_grant(name) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.current_firefighter_version(name) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.ended_firefighter_grants(name) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.end_firefighter_grants(name, uuid[], text, uuid) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.submit_firefighter_request(uuid, name, text, integer, text, text, text, text, text) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.attach_firefighter_task_token(uuid, text, text) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.expire_firefighter_request(uuid) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.firefighter_request_status(uuid) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.submit_firefighter_extension(uuid, name, text, integer, text, text, text, text, text, text) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.extend_firefighter_grant(name, text, integer, text, text, uuid, integer) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.claim_firefighter_notice(uuid, text) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.claim_firefighter_expiry_warnings(integer) TO :"broker_role";
GRANT EXECUTE ON FUNCTION db_admin.decide_firefighter_request(uuid, text, text, text, text, text, text) TO :"approver_role";
GRANT EXECUTE ON FUNCTION db_admin.pending_firefighter_requests() TO :"approver_role";
GRANT EXECUTE ON FUNCTION db_admin.firefighter_request_status(uuid) TO :"approver_role";
GRANT EXECUTE ON FUNCTION db_admin.firefighter_status() TO :"approver_role";
GRANT EXECUTE ON FUNCTION db_admin.live_firefighter_grants() TO :"approver_role";
RESET ROLE;
RESET client_min_messages;
