// Command demo walks ffbroker's incident story end to end on this machine, told
// through the client as the on-call engineer and the approver live it: it starts a
// throwaway Aurora-like PostgreSQL and moto_server, bootstraps the role model as the
// master user (the DBA's step, local), and starts `ffbroker local-api`, which serves
// the template's REST API with the functions' handlers and runs the approval workflow
// in moto. alice (on call) and bob (approver) are IAM users in moto whose clients have
// their AWS keys and the API's address, nothing else: no database configuration.
// alice gets read-only access and connects; her read-write request waits for a second
// person (her own approval is refused); bob lists and approves it, the workflow issues
// it, alice's waiting command prints it; she fixes a row, extends her read-only grant,
// revokes it with a live session; the scheduled sweep takes read-write back; the
// notifications each of them received and the audit trail are shown. Everything it
// started is stopped at the end, also on Ctrl-C or failure. Run it with make demo.
package main
