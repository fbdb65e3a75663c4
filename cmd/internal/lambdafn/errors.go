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
