// Package secretsmanager is the broker's Secrets Manager adapter: Store keeps each
// firefighter role's password in its own secret (broker.SecretName), writes a
// grant's password as the AWSPENDING version named by the grant id, moves
// AWSCURRENT to it once the database has committed the grant, and replaces it with
// the role's tombstone at expiry, so that AWSCURRENT never holds a password the
// database refuses. Its errors are *broker.Error values whose text never holds a
// password.
package secretsmanager
