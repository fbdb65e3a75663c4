package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/ffbroker/ffbroker/broker"
)

func TestErrorCode(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want broker.Code
	}{
		{"nil", nil, ""},
		{"plain error", io.EOF, broker.CodeInternal},
		{"context error", context.DeadlineExceeded, broker.CodeInternal},
		{"broker error", broker.Errorf(broker.CodeInvalidHours, "hours must be from 1 to 2"), broker.CodeInvalidHours},
		{"wrapped broker error", fmt.Errorf("issue: %w", broker.Errorf(broker.CodeConflict, "grant revoked")), broker.CodeConflict},
		{"joined", errors.Join(io.EOF, broker.Errorf(broker.CodeNotFound, "no grant")), broker.CodeNotFound},
		{"unknown code", &broker.Error{Code: "bogus", Message: "x"}, broker.CodeInternal},
		{"empty code", &broker.Error{Message: "x"}, broker.CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := broker.ErrorCode(tt.err); got != tt.want {
				t.Errorf("ErrorCode(%v) = %q; want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorMessageHidesInternalDetail(t *testing.T) {
	cause := errors.New("pq: password authentication failed for user my_pg_password_broker at 10.0.0.7")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"plain error", cause, "internal error"},
		{"internal with message", &broker.Error{Code: broker.CodeInternal, Message: "db host 10.0.0.7 down", Err: cause}, "internal error"},
		{"unknown code", &broker.Error{Code: "bogus", Message: "leak", Err: cause}, "internal error"},
		{"user error keeps message, drops cause", &broker.Error{Code: broker.CodeInvalidRole, Message: "role must be ro or rw", Op: "validate", Err: cause}, "role must be ro or rw"},
		{"wrapped user error", fmt.Errorf("handler: %w", broker.Errorf(broker.CodeForbidden, "approver must not be the requester")), "approver must not be the requester"},
		{"user error without message", &broker.Error{Code: broker.CodeUnavailable, Err: cause}, "service temporarily unavailable, retry later"},
		{"category follows the message", &broker.Error{Code: broker.CodeDatabaseUnavailable, Category: broker.CategoryTLS, Message: "the database refused the TLS handshake", Err: cause},
			"the database refused the TLS handshake (category tls)"},
		{"wrapped category", fmt.Errorf("status: %w", &broker.Error{Code: broker.CodeUnavailable, Category: broker.CategoryNetwork, Message: "the database is unreachable"}),
			"the database is unreachable (category network)"},
		{"internal hides its category too", &broker.Error{Code: broker.CodeInternal, Category: broker.CategoryTLS, Message: "x", Err: cause}, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := broker.ErrorMessage(tt.err); got != tt.want {
				t.Errorf("ErrorMessage(%v) = %q; want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestErrorString(t *testing.T) {
	cause := io.ErrUnexpectedEOF
	tests := []struct {
		name string
		err  *broker.Error
		want string
	}{
		{"all parts", &broker.Error{Code: broker.CodeUnavailable, Message: "database busy", Op: "issue", Err: cause}, "issue: unavailable: database busy: unexpected EOF"},
		{"code and message", broker.Errorf(broker.CodeInvalidHours, "hours must be from 1 to %d", 2), "invalid_hours: hours must be from 1 to 2"},
		{"no message", &broker.Error{Code: broker.CodeNotFound}, "not_found: not found"},
		{"no code", &broker.Error{Err: cause}, "internal: internal error: unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestErrorUnwrap(t *testing.T) {
	err := fmt.Errorf("expire: %w", &broker.Error{Code: broker.CodeUnavailable, Err: context.DeadlineExceeded})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(%v, context.DeadlineExceeded) = false; want true", err)
	}
	var e *broker.Error
	if !errors.As(err, &e) || e.Code != broker.CodeUnavailable {
		t.Errorf("errors.As(%v, *Error) = %v; want code unavailable", err, e)
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", io.EOF, false},
		{"unavailable", broker.Errorf(broker.CodeUnavailable, "too many connections"), true},
		{"wrapped unavailable", fmt.Errorf("x: %w", broker.Errorf(broker.CodeUnavailable, "throttled")), true},
		{"conflict", broker.Errorf(broker.CodeConflict, "conflict"), false},
		{"internal", broker.Errorf(broker.CodeInternal, "boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := broker.Retryable(tt.err); got != tt.want {
				t.Errorf("Retryable(%v) = %v; want %v", tt.err, got, tt.want)
			}
		})
	}
}
