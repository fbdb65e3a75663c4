// Package pgtest starts throwaway PostgreSQL clusters that behave like Aurora
// PostgreSQL for tests: a NOSUPERUSER master with CREATEROLE and CREATEDB, the
// rds_superuser, rds_password and rds_iam stand-in roles, scram-sha-256 password
// authentication for every TCP login, log_connections with Aurora's log_line_prefix,
// and the server log in a file that tests can read.
//
// The server runs as an unprivileged user when the tests run as root (initdb and
// postgres refuse root). The binaries come from FFB_PG_BIN when set, else from the
// directory of the initdb on PATH. A cluster is meant to be shared by the tests of a
// package: start it in TestMain with New and stop it with Close.
//
// Bootstrap runs sql/bootstrap.sql in a cluster as a DBA would; RoleModel names what
// it created, with the role names broker.Names derives; Env is one bootstrapped role
// model with passwords for its logins, shared by the tests of sql/ and sql/drift.
package pgtest
