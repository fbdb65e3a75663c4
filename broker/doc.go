// Package broker is the domain of ffbroker, the firefighter password broker for
// Aurora PostgreSQL: it decodes and validates access requests against a Policy
// that admits only the two shared firefighter roles for at most two hours,
// generates random passwords and the SCRAM-SHA-256 verifiers that are sent to
// the database in their place, holds both in types that redact themselves in
// every log, error and JSON document, and reports failures through one Error
// type whose stable Code the edges map to HTTP statuses and Step Functions
// error names.
package broker
