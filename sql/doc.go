// Package sqlscripts embeds ffbroker's role model, the plain psql scripts of this
// directory (bootstrap.sql and the numbered files it includes, see README.md), so
// that the operator CLI can run them through psql; its tests prove the scripts'
// behaviour on a real PostgreSQL.
//
// The package lives in sql/ because go:embed cannot reach a parent directory, and it
// is named sqlscripts, not sql, so that it does not shadow database/sql. It holds
// nothing but the embedding: the check of a live database against the role model is
// package drift (sql/drift).
package sqlscripts
