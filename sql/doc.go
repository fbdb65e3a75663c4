// Package sql holds ffbroker's role model as plain psql scripts (bootstrap.sql and the
// numbered files it includes, see README.md) and the Go side of them: it embeds the
// scripts, so that the operator CLI can run them through psql, and it verifies a live
// database against them, so that drift from the role model shows up as failed checks.
package sql
