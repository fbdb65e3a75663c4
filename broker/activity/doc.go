// Package activity is ffbroker's activity job: it reads the
// PostgreSQL connection log that Aurora publishes to CloudWatch Logs, records the
// last login of every login role in the database, ties firefighter logins to the
// grants that were live, and applies the inactivity policy: lock a role after N days
// (CONNECTION LIMIT 0, the old limit kept for Unlock), drop it after M days when it
// owns nothing and holds no privilege anywhere in the cluster, otherwise mark it
// ready to delete. Dry run is the default.
//
// The parts, each usable alone:
//
//   - Parse reads one log line (Aurora's log_line_prefix %t:%r:%u@%d:[%p]:,
//     "connection received", "connection authorized" and its replication form,
//     PostgreSQL 17+'s "connection authenticated", 18's "connection ready", and
//     the FATAL lines that refuse a session) without allocating. A prefixed line
//     is read from its own message only, and a user name only when the prefix
//     and the message agree on it.
//   - The job settles every authorized session: refused when a FATAL of the same
//     backend (same stream, same %r:%u@%d:[%p]: prefix) follows it, opened when
//     PostgreSQL 18 writes "connection ready", when a new connection arrives
//     from its host and port, or when nothing refuses it within SettleWindow. Only opened sessions are logins; refused ones are attempts.
//     Sessions not settled at a commit wait in the checkpoint.
//   - The reader pages through FilterLogEvents with a server-side filter pattern
//     (FilterPattern); the client's SDK retryer (broker/awsretry) retries throttling.
//   - Store calls the db_admin functions of sql/008_*.sql as the job's own
//     login (<prefix>_activity_monitor) and nothing else: the checkpoint, the
//     logins, the plan, the enforcement of one action, unlock; it runs on a
//     postgres.Session, which holds its connection and retries and classifies
//     its errors as for the broker's own store.
//   - Job ties them together: Run (read, then the policy), Apply (Run without dry
//     run), Report (the plan only), Unlock, and Handler for the Lambda function.
//
// Progress is checkpointed in the database after every page, in the transaction that
// records the page's logins, so a run that reaches its time limit (the context's
// deadline, less Options.Reserve) loses nothing and the next run continues without
// counting a line twice. The policy runs only after the log has been read to the end
// of the run's window and only when the job's own last login appears in it (the proof
// that the log reaches the job); otherwise nobody could be proved inactive.
//
// The thresholds the job asks for are checked in the database against the admin's
// policy row (db_admin.activity_policy): stricter is allowed, looser is refused.
//
// Time: the policy's clock is db_admin.activity_now() in the database, never the
// Lambda's; tests move it with the admin-only shift in db_admin.activity_clock.
package activity
