package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"

	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
)

func init() {
	register("invoke", command{
		summary: "run a Lambda handler locally on an event (same code as the deployed function)",
		usage: "issue|expire|approve|activity --event FILE|-\n" +
			"example: ffbroker invoke issue --event events/issue-api-ro.json\n" +
			"Prints the handler's answer as JSON and exits 0; a handler error is printed as JSON on stderr with exit 1.",
		run: runInvoke,
	})
}

var functions = map[string]func(*lambdafn.Deps) lambdafn.Handler{
	"issue":    func(d *lambdafn.Deps) lambdafn.Handler { return lambdafn.NewIssueHandler(d).Handle },
	"expire":   func(d *lambdafn.Deps) lambdafn.Handler { return lambdafn.NewExpireHandler(d).Handle },
	"approve":  func(d *lambdafn.Deps) lambdafn.Handler { return lambdafn.NewApproveHandler(d).Handle },
	"activity": func(d *lambdafn.Deps) lambdafn.Handler { return lambdafn.NewActivityHandler(d).Handle },
}

func runInvoke(ctx context.Context, c *cli, args []string) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		c.flags("invoke").Usage()
		if len(args) == 0 {
			return &usageError{msg: "name a function: issue, expire, approve or activity"}
		}
		return nil
	}
	fn, ok := functions[args[0]]
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
	d, err := c.deps(ctx)
	if err != nil {
		return err
	}
	defer d.Store.Close(context.Background())
	out, err := fn(d)(ctx, raw)
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
