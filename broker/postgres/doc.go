// Package postgres is ffbroker's PostgreSQL adapter: a Connector that logs in as
// one login (an RDS IAM auth token per connection over TLS verify-full, or a
// password for local use) and sorts every failure to connect into the broker's
// codes and failure categories; one Session that holds one connection per warm
// Lambda with one policy for retrying and classifying errors (a connect retry on a
// refused slot, one retry of a statement that never reached the server, one table
// of SQLSTATEs); and the stores on it: Store, the broker's Database, and
// ApprovalStore, the approver login's Approvals. The activity job's store
// (package activity) runs on a Session too.
package postgres
