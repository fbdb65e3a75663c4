package main

import "context"

// commandTable returns every subcommand of ffbroker by name: the one place the
// commands are listed. It builds a new table on each call, so nothing in the
// package holds state.
func commandTable() map[string]command {
	return map[string]command{
		// Asking for, following, deciding and taking back access (access.go).
		"issue": {
			summary: "ask for firefighter access for an incident (rw waits for a second person's approval)",
			usage: "--role ro|rw --incident ID [--hours 1|2] --reason TEXT [--wait]\n" +
				"example: ffbroker issue --role ro --incident INC-1234 --reason 'checkout latency'\n" +
				"Read-write answers with a request id; --wait (the default on a terminal) follows it until it is\n" +
				"issued, denied or timed out. The password is never printed: use 'ffbroker connect'.",
			run: runIssue,
		},
		"request": {
			summary: "show one access request (pending, approved, denied, expired, issued); --wait follows it",
			usage:   "REQUEST_ID [--wait]\nexample: ffbroker request 3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b --wait",
			run:     runRequest,
		},
		"revoke": {
			summary: "take a role back now: expire, end every grant and session, tombstone the secret",
			usage:   "--role ro|rw --incident ID\nexample: ffbroker revoke --role rw --incident INC-1234",
			run:     runRevoke,
		},
		"status": {
			summary: "show both firefighter roles: valid until, live grants, sessions",
			usage:   "\nexample: ffbroker status --json",
			run:     runStatus,
		},
		"requests": {
			summary: "list the pending requests you may decide (approvers; never your own)",
			usage:   "\nexample: ffbroker requests",
			run:     runRequests,
		},
		"approvals": {
			summary: "the same list as 'requests'",
			usage:   "\nexample: ffbroker approvals --json",
			run:     runRequests,
		},
		"approve": {
			summary: "approve another person's pending read-write request",
			usage: "REQUEST_ID [--comment TEXT] [--yes]\nexample: ffbroker approve 3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b --comment 'matches INC-1234'\n" +
				"On a terminal it shows the request (requester, role, incident, hours, reason, age) and asks before it approves;\n" +
				"--yes approves without asking, and is required when stdin is not a terminal (scripts).",
			run: func(ctx context.Context, c *cli, args []string) error { return runDecide(ctx, c, "approve", args) },
		},
		"deny": {
			summary: "deny a pending read-write request, saying why",
			usage:   "REQUEST_ID --comment TEXT\nexample: ffbroker deny 3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b --comment 'use read-only first'",
			run:     func(ctx context.Context, c *cli, args []string) error { return runDecide(ctx, c, "deny", args) },
		},
		"sweep": {
			summary: "expire every role with no live grant left and repair half-done issues (what the schedule runs; local only)",
			usage:   "\nexample: ffbroker --local sweep",
			run:     runSweep,
		},
		// Extending a live grant (extend.go).
		"extend": {
			summary: "more time for your live grant of an incident (at most 2 hours from now; rw needs approval again)",
			usage: "--role ro|rw --incident ID [--hours 1|2] [--reason TEXT] [--wait]\n" +
				"example: ffbroker extend --role ro --incident INC-1234 --hours 1 --reason 'still bisecting'\n" +
				"The password is not rotated: open sessions and other holders keep working. Read-write answers with\n" +
				"a request id that a second person approves (ffbroker approve ID); --wait follows it.",
			run: runExtend,
		},
		// Psql with the stored secret (connect.go).
		"connect": {
			summary: "read the role's secret with your own AWS credentials and start psql (the password through a private passfile)",
			usage: "--role ro|rw [--ca-file PEM] [--psql PATH] [-- PSQL-ARGS...]\n" +
				"example: ffbroker connect --role ro --ca-file ~/rds-global-bundle.pem -- -c 'SELECT count(*) FROM \"my-pg-db-schema\".orders'\n" +
				"The CA bundle (--ca-file, FFB_CA_FILE or PGSSLROOTCERT) lets psql verify the server (sslmode verify-full):\n" +
				"https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem for Aurora.",
			run: runConnect,
		},
		// The client configuration (configure.go).
		"configure": {
			summary: "save where the ffbroker API is: from the stack's outputs, or given by hand",
			usage: "--stack NAME | --api URL --server-id ID [--role-prefix P] [--secret-prefix P]\n" +
				"example: ffbroker configure --stack ffbroker --region eu-west-1\n" +
				"Writes FFB_CONFIG, else $XDG_CONFIG_HOME/ffbroker/config.json, else ~/.config/ffbroker/config.json;\n" +
				"FFB_API_URL and FFB_SERVER_ID in the environment override it.",
			run: runConfigure,
		},
		// The inactive-role job (activity.go).
		"activity": {
			summary: "login activity and inactive roles: report (plan only), run (read logs, dry run), apply, unlock",
			usage: "report|run|apply|unlock [--role NAME]\n" +
				"example: ffbroker activity report; ffbroker activity unlock --role analyst_bob\n" +
				"Reads FFB_ACTIVITY_* (log group, lock/drop days, exclude list) and logs in as FFB_ACTIVITY_DB_USER.",
			run: runActivity,
		},
		// The role model, for DBAs (dba.go).
		"bootstrap": {
			summary: "run sql/bootstrap.sql through psql as the master user (or print the command)",
			usage: "--host HOST [--port 5432] --user MASTER [--prefix my_pg] [--db-name my-pg-db] [--app-schema my-pg-db-schema] [--flavor aurora|postgres] [--print]\n" +
				"example: PGPASSWORD=... ffbroker bootstrap --host my-pg.cluster-abc.eu-west-1.rds.amazonaws.com --user postgres\n" +
				"The password comes from PGPASSWORD or ~/.pgpass, as for psql; sslmode from PGSSLMODE (default verify-full with PGSSLROOTCERT).",
			run: runBootstrap,
		},
		"verify": {
			summary: "check a live database against the role model: each check pass/fail with the reason (drift detector)",
			usage: "--dsn 'host=... user=MASTER dbname=my-pg-db' [--prefix my_pg] [--db-name my-pg-db] [--app-schema my-pg-db-schema]\n" +
				"example: PGPASSWORD=... ffbroker verify --dsn 'host=my-pg.cluster-abc.eu-west-1.rds.amazonaws.com user=postgres dbname=my-pg-db sslmode=verify-full'\n" +
				"Exits 1 when any check fails.",
			run: runVerify,
		},
		// The handlers on one event (invoke.go).
		"invoke": {
			summary: "run a Lambda handler locally on an event (same code as the deployed function)",
			usage: "issue|expire|approve|activity --event FILE|-\n" +
				"example: ffbroker invoke issue --event events/issue-api-ro.json\n" +
				"An API Gateway event gets a fresh identity proof signed with your AWS credentials (FFB_SERVER_ID names the deployment).\n" +
				"Prints the handler's answer as JSON and exits 0; a handler error is printed as JSON on stderr with exit 1.",
			run: runInvoke,
		},
		"event": {
			summary: "sign an API Gateway sample event with your identity proof, for sam local invoke",
			usage:   "sign FILE|-\nexample: ffbroker event sign events/issue-api-ro.json > /tmp/signed.json && sam local invoke IssueFunction -e /tmp/signed.json",
			run:     runEvent,
		},
		// The local API (localapi.go).
		"local-api": {
			summary: "serve the template's REST API locally with the functions' handlers (like sam local start-api)",
			usage: "[--listen 127.0.0.1:3000] [--allow-remote] [--template template.yaml] [--stack-name ffbroker-local] [--parameter Name=Value ...]\n" +
				"example: AWS_ENDPOINT_URL=http://127.0.0.1:5000 FFB_DB_HOST=127.0.0.1 ... ffbroker local-api --listen 127.0.0.1:3000\n" +
				"Reads the functions' FFB_* configuration and AWS_ENDPOINT_URL (moto); the approve function logs in as\n" +
				"FFB_APPROVER_DB_USER (default <FFB_ROLE_PREFIX>_password_approver) with FFB_APPROVER_DB_PASSWORD.\n" +
				"Creates in moto what the stack would have, runs the approval workflow's Lambda steps in-process, prints\n" +
				"\"local API on http://ADDR (server id ID)\" when ready and serves until interrupted. Clients may use\n" +
				"http://ADDR or http://ADDR/prod as the API URL and must bind their identity proofs to the server id.\n" +
				"For tests: no IAM authorization runs, and moto's STS verifies no signature; a non-loopback --listen\n" +
				"is refused unless --allow-remote.",
			run: runLocalAPI,
		},
	}
}
