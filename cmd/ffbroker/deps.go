package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
)

// deps builds the same dependencies a Lambda builds at cold start, from this shell's
// FFB_* variables and AWS credentials.
func (c *cli) deps(ctx context.Context) (*lambdafn.Deps, error) {
	cfg, err := lambdafn.LoadConfig(c.getenv)
	if err != nil {
		return nil, &configError{err: err}
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, &configError{err: fmt.Errorf("aws: %w", err)}
	}
	d, err := lambdafn.BuildWith(cfg, awsCfg, c.stderrAudit())
	if err != nil {
		return nil, &configError{err: err}
	}
	return d, nil
}

// stderrAudit is where the CLI's audit records go when no log group is configured:
// stderr, so stdout stays the command's answer.
func (c *cli) stderrAudit() interface{ Write([]byte) (int, error) } {
	if c.getenv("FFB_AUDIT_STDOUT") == "1" {
		return c.stdout
	}
	return auditWriter{c}
}

type auditWriter struct{ c *cli }

func (a auditWriter) Write(p []byte) (int, error) {
	if a.c.getenv("FFB_AUDIT_QUIET") == "1" {
		return len(p), nil
	}
	return a.c.stderr.Write(p)
}

// whoami is the caller's IAM identity, the requester or approver of what the CLI does.
func whoami(ctx context.Context, awsCfg aws.Config) (string, error) {
	out, err := sts.NewFromConfig(awsCfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("who is calling (sts get-caller-identity): %w", err)
	}
	return aws.ToString(out.Arn), nil
}

// open builds the dependencies and returns a function that closes the database
// connection they opened.
func (c *cli) open(ctx context.Context) (*lambdafn.Deps, func(), error) {
	d, err := c.deps(ctx)
	if err != nil {
		return nil, nil, err
	}
	return d, func() { d.Store.Close(context.Background()) }, nil
}

// caller is open plus the caller's IAM identity, for commands that act as someone.
func (c *cli) caller(ctx context.Context) (*lambdafn.Deps, string, func(), error) {
	d, done, err := c.open(ctx)
	if err != nil {
		return nil, "", nil, err
	}
	me, err := whoami(ctx, d.AWS)
	if err != nil {
		done()
		return nil, "", nil, err
	}
	return d, me, done, nil
}
