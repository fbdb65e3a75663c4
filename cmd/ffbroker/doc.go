// Command ffbroker is the client of ffbroker for on-call engineers, approvers and
// DBAs: ask for, follow, extend and take back firefighter access, list and decide
// pending requests, connect with psql; and, for DBAs and local work, bootstrap and
// verify the role model, sweep, run the Lambda handlers in-process (--local, invoke)
// and serve the API locally (local-api).
//
// Client mode is the default: with an API URL (--api, FFB_API_URL or the file that
// 'ffbroker configure' writes) every command calls the deployed REST API with the
// caller's own AWS credentials (SigV4 and an identity proof). Local mode (--local, or
// no API but FFB_DB_HOST set) runs the functions' code in this process.
//
// Global flags, anywhere on the command line: --json, --profile NAME, --region NAME,
// --api URL, --local, --version.
//
// Exit codes: 0 success; 1 the operation failed or was refused (the error is printed
// on stderr, as {"error":{"code","message"}} with --json); 2 usage error;
// 3 configuration error (no API configured, no AWS credentials); 4 the API, the
// database or AWS could not be reached or is busy: try again.
package main
