package lambdafn

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/ffbroker/ffbroker/broker"
)

// NewLogger returns the functions' operational logger: JSON lines on w (Lambda sends
// stderr to the function's log group), never holding a secret (broker.Error's
// LogValue gives the code, category, message and a sanitized cause).
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil))
}

// logFailure writes the log line of a failure on the service's side: its code,
// category, caller-facing message and sanitized cause, so that a first deployment's
// mistake (no TLS, the CA bundle, the password, rds_iam, the security group, an IAM
// policy) can be told from the log alone.
func logFailure(l *slog.Logger, err error) {
	l.LogAttrs(context.Background(), slog.LevelError, "request failed",
		slog.String("error_code", string(broker.ErrorCode(err))),
		slog.String("category", string(broker.ErrorCategory(err))),
		slog.Any("error", errorLogValue(err)))
}

// errorLogValue is err's broker.Error as a log value, or its text when it has none.
func errorLogValue(err error) slog.Value {
	var e *broker.Error
	if errors.As(err, &e) {
		return e.LogValue()
	}
	return slog.StringValue(err.Error())
}

// InvalidInputError is returned to Step Functions for input the broker refuses.
type InvalidInputError struct{ Message string }

func (e *InvalidInputError) Error() string { return e.Message }

// ForbiddenError is returned to Step Functions when the caller may not do this.
type ForbiddenError struct{ Message string }

func (e *ForbiddenError) Error() string { return e.Message }

// NotFoundError is returned to Step Functions when the thing named does not exist.
type NotFoundError struct{ Message string }

func (e *NotFoundError) Error() string { return e.Message }

// ConflictError is returned to Step Functions when the state forbids the change.
type ConflictError struct{ Message string }

func (e *ConflictError) Error() string { return e.Message }

// UnavailableError is returned to Step Functions for a failure worth retrying.
type UnavailableError struct{ Message string }

func (e *UnavailableError) Error() string { return e.Message }

// InternalError is returned to Step Functions for anything else. It carries no detail,
// except for a failure with a category (database_unavailable, aws_access_denied),
// whose message names the category, as the API answer does.
type InternalError struct{ Message string }

func (e *InternalError) Error() string { return e.Message }

// stepError turns a broker error into the named type Step Functions matches. The
// message is the broker's user-facing one, never internal detail.
func stepError(err error) error {
	if err == nil {
		return nil
	}
	msg := broker.ErrorMessage(err)
	code := broker.ErrorCode(err)
	if broker.HTTPStatus(code) >= 500 {
		logFailure(slog.Default(), err)
	}
	switch {
	case code == broker.CodeUnavailable:
		return &UnavailableError{Message: msg}
	case code == broker.CodeForbidden, code == broker.CodeUnauthenticated:
		return &ForbiddenError{Message: msg}
	case code == broker.CodeNotFound:
		return &NotFoundError{Message: msg}
	case code == broker.CodeConflict:
		return &ConflictError{Message: msg}
	case broker.HTTPStatus(code) >= 400 && broker.HTTPStatus(code) < 500:
		return &InvalidInputError{Message: msg}
	case code == broker.CodeDatabaseUnavailable || code == broker.CodeAWSAccessDenied:
		return &InternalError{Message: msg}
	default:
		return &InternalError{Message: "internal error"}
	}
}
