// Package testenv starts what most of ffbroker's test packages share: one throwaway
// Aurora-like PostgreSQL cluster (internal/pgtest) and one moto_server
// (internal/awstest) for the whole package, stopped when its tests end.
package testenv
