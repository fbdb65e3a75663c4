package localapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"runtime/debug"
	"sync"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/uuid"
)

// Handler is a Lambda function's handler: the raw event in, the answer or a
// (named) error out.
type Handler func(ctx context.Context, raw json.RawMessage) (any, error)

// Function builds one function of the template as its Lambda's init phase does.
type Function struct {
	// Build returns the function's handler for the environment getenv (the shell's
	// FFB_* variables plus what the stack would set), the SDK configuration awsCfg
	// and the writer of its audit records (Lambda's stdout), and a function that
	// closes what the handler opened. It fails with one message naming the variable
	// for invalid configuration.
	Build func(getenv func(string) string, awsCfg aws.Config, audit io.Writer) (Handler, func(), error)
}

// function is one built function. Events run one at a time, as in one Lambda
// instance.
type function struct {
	kind    string
	arn     string
	handler Handler
	close   func()
	mu      sync.Mutex
}

// invokeError is a handler's failure as the Go Lambda runtime reports it.
type invokeError struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

// invoke runs the handler on raw with a Lambda context and returns its output as
// JSON, or the failure as the Go Lambda runtime names it (the error's type name; for
// a panic, the type of its value).
func (f *function) invoke(ctx context.Context, raw json.RawMessage) (out json.RawMessage, fail *invokeError) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: uuid.NewString(), InvokedFunctionArn: f.arn})
	defer func() {
		if p := recover(); p != nil {
			slog.Default().Error("handler panicked", slog.String("function", f.kind), slog.String("stack", string(debug.Stack())))
			out, fail = nil, &invokeError{Message: fmt.Sprint(p), Type: typeName(p)}
		}
	}()
	v, err := f.handler(ctx, raw)
	if err != nil {
		return nil, &invokeError{Message: err.Error(), Type: typeName(err)}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, &invokeError{Message: err.Error(), Type: typeName(err)}
	}
	return b, nil
}

// overlayEnv is getenv with the values of overlay taking precedence.
func overlayEnv(getenv func(string) string, overlay map[string]string) func(string) string {
	own := make(map[string]string, len(overlay))
	for k, v := range overlay {
		own[k] = v
	}
	return func(k string) string {
		if v, ok := own[k]; ok {
			return v
		}
		return getenv(k)
	}
}

// typeName is the error type name the Go Lambda runtime reports for v.
func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t == nil {
		return "nil"
	}
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}
