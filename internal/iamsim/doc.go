// Package iamsim evaluates AWS IAM requests with an IAM policy evaluator made by
// others, @cloud-copilot/iam-simulate (npm, AGPL, used by tests only, pinned in
// package.json): moto stores resource policies but does not enforce them. Evaluate
// runs simulate.mjs with node, feeding it JSON; the package is found in
// FFB_IAMSIM_MODULES (a node_modules directory) or the Makefile's .cache/npm.
// Without node or the package a test is skipped loudly, and fails under CI=true.
//
// Template reads a CloudFormation template's policies with the intrinsic functions
// resolved for a test account, region and parameters.
package iamsim
