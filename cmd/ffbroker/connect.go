package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/ffbroker/ffbroker/broker"
)

func init() {
	register("connect", command{
		summary: "read the role's secret with your own AWS credentials and start psql (password via the environment only)",
		usage: "--role ro|rw [--psql PATH] [-- PSQL-ARGS...]\n" +
			"example: ffbroker connect --role ro -- -c 'SELECT count(*) FROM \"my-pg-db-schema\".orders'",
		run: runConnect,
	})
}

func runConnect(ctx context.Context, c *cli, args []string) error {
	var extra []string
	for i, a := range args {
		if a == "--" {
			args, extra = args[:i], args[i+1:]
			break
		}
	}
	fs := c.flags("connect")
	kind := fs.String("role", "", "ro or rw")
	psql := fs.String("psql", "psql", "the psql to run")
	if err := parse(fs, args); err != nil {
		return err
	}
	prefix := or(c.getenv("FFB_ROLE_PREFIX"), broker.DefaultRolePrefix)
	policy := broker.DefaultPolicy(prefix)
	role, err := policy.ParseRole(*kind)
	if err != nil {
		return &usageError{msg: broker.ErrorMessage(err)}
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return &configError{err: err}
	}
	name := or(c.getenv("FFB_SECRET_PREFIX"), broker.DefaultSecretPrefix) + "/" + role
	out, err := secretsmanager.NewFromConfig(awsCfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(name), VersionStage: aws.String("AWSCURRENT")})
	if err != nil {
		return fmt.Errorf("read secret %s with your credentials: %w", name, err)
	}
	v, err := broker.ParseSecretValue(aws.ToString(out.SecretString))
	if err != nil {
		return err
	}
	if v.Status == broker.SecretExpired || v.Password.Len() == 0 {
		return fmt.Errorf("the %s password has expired or was revoked; ask for access again: ffbroker issue --role %s --incident ID", role, *kind)
	}
	if !v.ExpiresAt.IsZero() && time.Now().After(v.ExpiresAt) {
		return fmt.Errorf("the %s password expired at %s; ask for access again", role, v.ExpiresAt.Local().Format(time.RFC3339))
	}
	cmd := exec.CommandContext(ctx, *psql, extra...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.stdin, c.stdout, c.stderr
	// Connection details, the password included, go through the environment: never on
	// the command line, where other users could read it.
	cmd.Env = append(os.Environ(), "PGHOST="+v.Host, "PGPORT="+strconv.Itoa(v.Port), "PGDATABASE="+v.DBName,
		"PGUSER="+v.Username, "PGPASSWORD="+v.Password.Reveal(), "PGSSLMODE="+or(v.SSLMode, "verify-full"),
		"PGAPPNAME=ffbroker-connect "+v.IncidentID)
	if !c.json {
		fmt.Fprintf(c.stderr, "connecting as %s to %s:%d/%s (incident %s, until %s)\n", v.Username, v.Host, v.Port, v.DBName,
			v.IncidentID, v.ExpiresAt.Local().Format(time.RFC3339))
	}
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return fmt.Errorf("psql exited with %d", ee.ExitCode())
		}
		return fmt.Errorf("run psql: %w", err)
	}
	return nil
}
