package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
)

func runConfigure(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("configure")
	stack := fs.String("stack", "", "the CloudFormation stack of ffbroker: its outputs ApiUrl, ServerId, RolePrefix and SecretPrefix are read with your credentials")
	serverID := fs.String("server-id", "", "the stack output ServerId (with --api)")
	rolePrefix := fs.String("role-prefix", "", "the stack's RolePrefix (default my_pg)")
	secretPrefix := fs.String("secret-prefix", "", "the stack's SecretPrefix (default firefighter)")
	if err := parse(fs, args); err != nil {
		return err
	}
	cc := clientConfig{APIURL: c.g.api, ServerID: *serverID, Region: c.g.region, RolePrefix: *rolePrefix, SecretPrefix: *secretPrefix}
	switch {
	case *stack != "" && (cc.APIURL != "" || cc.ServerID != ""):
		return &usageError{msg: "give --stack, or --api and --server-id, not both"}
	case *stack != "":
		if err := c.fromStack(ctx, *stack, &cc); err != nil {
			return err
		}
	case cc.APIURL == "" || cc.ServerID == "":
		return &usageError{msg: "give --stack NAME, or --api URL and --server-id ID (the stack outputs ApiUrl and ServerId)"}
	}
	p := c.configPath()
	if p == "" {
		return &configError{err: fmt.Errorf("no place for the configuration: set FFB_CONFIG or HOME")}
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(cc, "", "  ")
	if err := os.WriteFile(p, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return c.emit(cc, func(w io.Writer) {
		fmt.Fprintf(w, "saved %s\n  api:       %s\n  server id: %s\n", p, cc.APIURL, cc.ServerID)
		if cc.Region != "" {
			fmt.Fprintf(w, "  region:    %s\n", cc.Region)
		}
		fmt.Fprintln(w, "try: ffbroker status")
	})
}

// fromStack fills cc from the stack's outputs.
func (c *cli) fromStack(ctx context.Context, stack string, cc *clientConfig) error {
	cfg, err := c.awsConfig(ctx, c.g.region)
	if err != nil {
		return err
	}
	out, err := cloudformation.NewFromConfig(cfg).DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		return fmt.Errorf("read the outputs of stack %s: %w", stack, err)
	}
	if len(out.Stacks) != 1 {
		return fmt.Errorf("stack %s: %d stacks found", stack, len(out.Stacks))
	}
	outputs := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		outputs[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	cc.APIURL, cc.ServerID, cc.Region = outputs["ApiUrl"], outputs["ServerId"], cfg.Region
	if cc.APIURL == "" || cc.ServerID == "" {
		return fmt.Errorf("stack %s has no ApiUrl and ServerId outputs: is it an ffbroker stack?", stack)
	}
	// The stack's parameters, unless a flag gave them. Without them connect would
	// read the default deployment's secrets, so a stack that predates these outputs
	// is refused rather than saved without its prefixes.
	cc.RolePrefix = cmp.Or(cc.RolePrefix, outputs["RolePrefix"])
	cc.SecretPrefix = cmp.Or(cc.SecretPrefix, outputs["SecretPrefix"])
	if cc.RolePrefix == "" || cc.SecretPrefix == "" {
		return fmt.Errorf("stack %s has no RolePrefix and SecretPrefix outputs (it predates them): update the stack, "+
			"or give --role-prefix and --secret-prefix (its RolePrefix and SecretPrefix parameters)", stack)
	}
	return nil
}
