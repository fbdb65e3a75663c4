// Package deploytest checks the deployment side of ffbroker with the real tools:
// template.yaml with cfn-lint (and its IAM policies, function contract and
// concurrency against the broker's connection limit), the approval workflow
// statemachine/approval.asl.json (its structure, and executions on moto's Step
// Functions), openapi.yaml with openapi-spec-validator and against the template's
// API events, and the Makefile's build-<LogicalId> targets (linux/arm64 bootstrap).
//
// The check of the workflow against the handlers' Go contract lives beside that
// contract, in cmd/internal/lambdafn (workflow_test.go).
//
// It holds tests only. A missing tool skips its test with a loud message, and fails
// it when the environment variable CI is "true".
package deploytest
