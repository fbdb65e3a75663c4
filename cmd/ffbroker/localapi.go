package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/ffbroker/ffbroker/cmd/internal/config"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
	"github.com/ffbroker/ffbroker/internal/localapi"
)

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runLocalAPI(ctx context.Context, c *cli, args []string) error {
	fs := c.flags("local-api")
	listen := fs.String("listen", "127.0.0.1:3000", "address to listen on (loopback only, unless --allow-remote)")
	allowRemote := fs.Bool("allow-remote", false, "serve on an address other machines reach: anyone there can act as any moto user")
	template := fs.String("template", "template.yaml", "the SAM template whose API, functions and state machine to serve")
	stack := fs.String("stack-name", "ffbroker-local", "the stack name the template's !Sub ${AWS::StackName} stands for")
	var params multiFlag
	fs.Var(&params, "parameter", "a template parameter override Name=Value (repeatable), e.g. ApprovalTimeoutSeconds=60")
	if err := parse(fs, args); err != nil {
		return err
	}
	overrides, err := localapi.ParseParameters(params)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	// Listen first: the address bound, not the one asked for, says who can call.
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *listen, err)
	}
	remote := !l.Addr().(*net.TCPAddr).IP.IsLoopback()
	if remote && !*allowRemote {
		l.Close()
		return &usageError{msg: fmt.Sprintf("local-api: %s is not a loopback address, and local-api checks no caller for real "+
			"(moto's STS verifies no signature); listen on 127.0.0.1, or pass --allow-remote to serve other machines", l.Addr())}
	}
	fmt.Fprintln(c.stderr, "ffbroker local-api: for tests only: API Gateway's IAM authorization does not run here, and identity proofs "+
		"are checked with moto's STS, which verifies no signature: whoever reaches this address and knows a moto access key id acts as that user")
	if remote {
		fmt.Fprintf(c.stderr, "ffbroker local-api: warning: serving on %s, reachable from other machines (--allow-remote)\n", l.Addr())
	}
	// The functions' operational log, as their Lambdas write it (lambdafn.Start).
	slog.SetDefault(lambdafn.NewLogger(c.stderr))
	srv, err := localapi.New(ctx, localapi.Options{Template: *template, StackName: *stack, Parameters: overrides,
		Getenv: c.getenv, Env: localAPIEnv(config.ReadLocalAPI(c.getenv)), Log: c.stderr, Audit: c.stderrAudit(), Functions: localFunctions()})
	if err != nil {
		l.Close()
		return &configError{err: err}
	}
	fmt.Fprintf(c.stdout, "local API on http://%s (server id %s)\n", l.Addr(), srv.ServerID())
	return srv.Serve(ctx, l)
}

// localFunctions are the functions local-api runs, built as their Lambdas are
// (config.LoadLocal, Check, BuildWith); the approve function on its own login.
func localFunctions() map[string]localapi.Function {
	fns := map[string]localapi.Function{}
	for name, f := range functionTable() {
		kind, newHandler := f.kind, f.handler
		if kind == lambdafn.FunctionActivity {
			continue
		}
		fns[name] = localapi.Function{Build: func(getenv func(string) string, awsCfg aws.Config, audit io.Writer) (localapi.Handler, func(), error) {
			cfg, err := config.LoadLocal(kind, getenv)
			if err == nil {
				err = cfg.Check(kind)
			}
			if err != nil {
				return nil, nil, err
			}
			d, err := lambdafn.BuildWith(kind, cfg, awsCfg, audit)
			if err != nil {
				return nil, nil, err
			}
			return localapi.Handler(newHandler(d)), func() { d.Close(context.Background()) }, nil
		}}
	}
	return fns
}

// localAPIEnv is local-api's own configuration in its package's terms.
func localAPIEnv(e config.LocalAPI) localapi.Env {
	return localapi.Env{ServerID: e.ServerID, Accounts: e.Accounts, StateMachineARN: e.StateMachineARN,
		NotifyTopicARN: e.NotifyTopicARN, AuditLogGroup: e.AuditLogGroup, EndpointURL: e.EndpointURL}
}
