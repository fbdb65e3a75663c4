// Package secretstest holds what the tests of the Secrets Manager adapter
// (broker/secretsmanager) and of the broker share: Spy, the real moto_server client
// with its calls counted and faults injected by operation name, and sample secret
// values of a grant and of its tombstone.
package secretstest
