package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// ConflictError stands for a handler's named error type (lambdafn.ConflictError).
type ConflictError struct{ Message string }

func (e *ConflictError) Error() string { return e.Message }

// TestInvokeNamesErrors: a handler's failure gets the error name the Go Lambda
// runtime reports (the type name, which the ASL's Retry and Catch match), and each
// invocation has a Lambda context with a request id.
func TestInvokeNamesErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		handler  Handler
		wantType string
		wantOut  string
	}{
		{"named error", func(context.Context, json.RawMessage) (any, error) { return nil, &ConflictError{"taken"} }, "ConflictError", ""},
		{"wrapped error", func(context.Context, json.RawMessage) (any, error) { return nil, fmt.Errorf("x: %w", errors.New("y")) }, "wrapError", ""},
		{"panic", func(context.Context, json.RawMessage) (any, error) { panic("boom") }, "string", ""},
		{"output", func(ctx context.Context, raw json.RawMessage) (any, error) {
			lc, ok := lambdacontext.FromContext(ctx)
			if !ok || lc.AwsRequestID == "" || lc.InvokedFunctionArn != "arn:fn" {
				return nil, errors.New("no Lambda context")
			}
			return map[string]string{"got": string(raw)}, nil
		}, "", `{"got":"{\"a\":1}"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &function{kind: "issue", arn: "arn:fn", handler: tc.handler}
			out, fail := f.invoke(context.Background(), json.RawMessage(`{"a":1}`))
			switch {
			case tc.wantType != "" && (fail == nil || fail.Type != tc.wantType):
				t.Errorf("invoke = %s, %+v; want error type %s", out, fail, tc.wantType)
			case tc.wantType == "" && (fail != nil || string(out) != tc.wantOut):
				t.Errorf("invoke = %s, %+v; want %s", out, fail, tc.wantOut)
			}
		})
	}
}
