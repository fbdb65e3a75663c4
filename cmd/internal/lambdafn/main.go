package lambdafn

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/ffbroker/ffbroker/cmd/internal/config"
)

// Handler is the signature every function's handler has.
type Handler func(ctx context.Context, raw json.RawMessage) (any, error)

// Start builds a function's dependencies once (the Lambda init phase) and hands every
// event to the handler that newHandler returns. Invalid configuration fails the cold
// start with one message naming the variable.
func Start(fn Function, newHandler func(*Deps) Handler) {
	slog.SetDefault(NewLogger(os.Stderr))
	cfg, err := config.Load(config.Getenv)
	if err == nil {
		err = cfg.Check(fn)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ffbroker: configuration:", err)
		os.Exit(1)
	}
	deps, err := Build(context.Background(), fn, cfg, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ffbroker: init:", err)
		os.Exit(1)
	}
	lambda.Start(newHandler(deps))
}
