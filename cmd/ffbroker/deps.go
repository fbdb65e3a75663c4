package main

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/cmd/internal/config"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
	"github.com/ffbroker/ffbroker/identity"
)

// deps builds the same dependencies function fn builds at cold start, from this
// shell's FFB_* variables and AWS credentials.
func (c *cli) deps(ctx context.Context, fn lambdafn.Function) (*lambdafn.Deps, error) {
	cfg, err := config.Load(c.getenv)
	if err != nil {
		return nil, &configError{err: err}
	}
	awsCfg, err := c.awsConfig(ctx, c.g.region)
	if err != nil {
		return nil, err
	}
	d, err := lambdafn.BuildWith(fn, cfg, awsCfg, c.stderrAudit())
	if err != nil {
		return nil, &configError{err: err}
	}
	return d, nil
}

// stderrAudit is where the CLI's audit records go when no log group is configured:
// stderr, so stdout stays the command's answer.
func (c *cli) stderrAudit() interface{ Write([]byte) (int, error) } {
	if c.env().AuditStdout {
		return c.stdout
	}
	return auditWriter{c}
}

type auditWriter struct{ c *cli }

func (a auditWriter) Write(p []byte) (int, error) {
	if a.c.env().AuditQuiet {
		return len(p), nil
	}
	return a.c.stderr.Write(p)
}

// whoami is the caller as the functions would verify it, for the API request r that
// the command stands for: STS's answer for this shell's credentials, its principal key,
// what FFB_APPROVERS and FFB_REQUESTERS let it do and, with FFB_SERVER_ID and FFB_ACCOUNTS set, an
// identity proof for r checked as the functions check one (the ledgers keep it, and
// the other side of the two-person rule checks it again).
func whoami(ctx context.Context, d *lambdafn.Deps, r identity.Request) (broker.Caller, error) {
	out, err := sts.NewFromConfig(d.AWS).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return broker.Caller{}, fmt.Errorf("who is calling (sts get-caller-identity): %w", err)
	}
	p, err := identity.ParsePrincipal(aws.ToString(out.Arn), d.Config.TrustedSessionRoles)
	if err != nil {
		return broker.Caller{}, err
	}
	if d.Config.ServerID == "" || len(d.Config.Accounts) == 0 {
		c := d.Authenticator().Standing(p)
		c.UserID = aws.ToString(out.UserId)
		return c, nil
	}
	proof, err := identity.NewSigner(d.AWS, d.Config.ServerID).Proof(ctx, r)
	if err != nil {
		return broker.Caller{}, fmt.Errorf("sign the identity proof with your AWS credentials: %w", err)
	}
	return d.Authenticator().CallerOf(ctx, proof, r)
}

// open builds the dependencies of fn and returns a function that closes the database
// connections they opened.
func (c *cli) open(ctx context.Context, fn lambdafn.Function) (*lambdafn.Deps, func(), error) {
	d, err := c.deps(ctx, fn)
	if err != nil {
		return nil, nil, err
	}
	return d, func() { d.Close(context.Background()) }, nil
}

// caller is open plus the caller's verified identity for the API request r, for
// commands that act as someone.
func (c *cli) caller(ctx context.Context, fn lambdafn.Function, r identity.Request) (*lambdafn.Deps, broker.Caller, func(), error) {
	d, done, err := c.open(ctx, fn)
	if err != nil {
		return nil, broker.Caller{}, nil, err
	}
	me, err := whoami(ctx, d, r)
	if err != nil {
		done()
		return nil, broker.Caller{}, nil, err
	}
	return d, me, done, nil
}
