package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"

	"github.com/ffbroker/ffbroker/cmd/internal/config"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
	"github.com/ffbroker/ffbroker/identity"
)

// function is one Lambda function as invoke and local-api run it: its kind and its
// handler's constructor.
type function struct {
	kind    lambdafn.Function
	handler func(*lambdafn.Deps) lambdafn.Handler
}

// functionTable returns the four functions by the name invoke takes.
func functionTable() map[string]function {
	return map[string]function{
		"issue":    {lambdafn.FunctionIssue, func(d *lambdafn.Deps) lambdafn.Handler { return lambdafn.NewIssueHandler(d).Handle }},
		"expire":   {lambdafn.FunctionExpire, func(d *lambdafn.Deps) lambdafn.Handler { return lambdafn.NewExpireHandler(d).Handle }},
		"approve":  {lambdafn.FunctionApprove, func(d *lambdafn.Deps) lambdafn.Handler { return lambdafn.NewApproveHandler(d).Handle }},
		"activity": {lambdafn.FunctionActivity, func(d *lambdafn.Deps) lambdafn.Handler { return lambdafn.NewActivityHandler(d).Handle }},
	}
}

func runInvoke(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		c.flags("invoke").Usage()
		if len(args) == 0 {
			return &usageError{msg: "name a function: issue, expire, approve or activity"}
		}
		return nil
	}
	fn, ok := functionTable()[args[0]]
	if !ok {
		return &usageError{msg: fmt.Sprintf("unknown function %q: want issue, expire, approve or activity", args[0])}
	}
	fs := c.flags("invoke")
	event := fs.String("event", "", "the event file, or - for standard input")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	if *event == "" {
		return &usageError{msg: "--event is required"}
	}
	raw, err := readEvent(c, *event)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	d, err := c.deps(ctx, fn.kind)
	if err != nil {
		return err
	}
	defer d.Close(context.Background())
	if d.Config.ServerID == "" && fn.kind != lambdafn.FunctionActivity {
		return &configError{err: errors.New("FFB_SERVER_ID: required to sign API events (the deployment's name)")}
	}
	if raw, err = lambdafn.SignEvent(ctx, identity.NewSigner(d.AWS, d.Config.ServerID), raw); err != nil {
		return err
	}
	out, err := fn.handler(d)(ctx, raw)
	if err != nil {
		b, _ := json.Marshal(map[string]string{"errorType": reflect.TypeOf(err).Elem().Name(), "errorMessage": err.Error()})
		fmt.Fprintln(c.stderr, string(b))
		return errSilent
	}
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func readEvent(c *cli, name string) (json.RawMessage, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(c.stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("read the event: %w", err)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("the event is not JSON")
	}
	return b, nil
}

func runEvent(ctx context.Context, c *cli, args []string) error {
	if len(args) != 2 || args[0] != "sign" {
		return &usageError{msg: "usage: ffbroker event sign FILE|-"}
	}
	raw, err := readEvent(c, args[1])
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	cfg, err := config.Load(c.getenv)
	if err != nil {
		return &configError{err: err}
	}
	awsCfg, err := c.awsConfig(ctx, c.g.region)
	if err != nil {
		return err
	}
	if cfg.ServerID == "" {
		return &configError{err: errors.New("FFB_SERVER_ID: required to sign an API event (the deployment's name)")}
	}
	signed, err := lambdafn.SignEvent(ctx, identity.NewSigner(awsCfg, cfg.ServerID), raw)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.stdout, string(signed))
	return err
}
