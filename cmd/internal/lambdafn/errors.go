package lambdafn

import (
	"github.com/ffbroker/ffbroker/broker"
)

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

// InternalError is returned to Step Functions for anything else; it carries no detail.
type InternalError struct{ Message string }

func (e *InternalError) Error() string { return e.Message }

// stepError turns a broker error into the named type Step Functions matches. The
// message is the broker's user-facing one, never internal detail.
func stepError(err error) error {
	if err == nil {
		return nil
	}
	msg := broker.ErrorMessage(err)
	switch code := broker.ErrorCode(err); {
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
	default:
		return &InternalError{Message: "internal error"}
	}
}
