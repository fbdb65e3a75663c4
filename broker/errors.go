package broker

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Code is the stable, machine-readable kind of an Error.
//
// Codes are part of the API: they appear in HTTP error bodies, in audit
// records (error_code) and in Step Functions error names. Never rename one.
type Code string

// Error codes.
const (
	// CodeInvalidJSON means the request body is not well-formed JSON.
	CodeInvalidJSON Code = "invalid_json"
	// CodeInvalidRequest means the request is well-formed JSON but not a
	// request: empty body, not an object, unknown or repeated fields, or data
	// after the object.
	CodeInvalidRequest Code = "invalid_request"
	// CodeInvalidRole means the role is missing, not a string or not one of
	// the two firefighter roles.
	CodeInvalidRole Code = "invalid_role"
	// CodeInvalidIncident means the incident id is missing, not a string or
	// does not match the incident pattern.
	CodeInvalidIncident Code = "invalid_incident"
	// CodeInvalidHours means the validity is not an integer from 1 to the
	// policy's maximum.
	CodeInvalidHours Code = "invalid_hours"
	// CodeInvalidReason means the reason is not a string, too long or holds
	// control characters.
	CodeInvalidReason Code = "invalid_reason"
	// CodeInvalidPassword means the database refused the form of a password
	// or verifier.
	CodeInvalidPassword Code = "invalid_password"
	// CodeBodyTooLarge means the request body exceeds MaxBodyBytes.
	CodeBodyTooLarge Code = "body_too_large"
	// CodeUnauthenticated means the call carries no valid identity proof: missing,
	// stale, for another deployment or request, or refused by STS.
	CodeUnauthenticated Code = "unauthenticated"
	// CodeForbidden means the caller may not do what it asked, for example
	// approve its own request.
	CodeForbidden Code = "forbidden"
	// CodeNotFound means the grant, role or approval asked for does not exist.
	CodeNotFound Code = "not_found"
	// CodeConflict means the request conflicts with the current state, for
	// example a grant that was already revoked.
	CodeConflict Code = "conflict"
	// CodeUnavailable means a dependency is busy or throttling (database
	// lock or connection limit, AWS throttling); the same request may succeed
	// if retried later.
	CodeUnavailable Code = "unavailable"
	// CodeInternal means anything else; its detail is never shown to callers.
	CodeInternal Code = "internal"
)

// Error is the broker's one error type: a stable Code, a message that is safe to
// show to the caller, and an internal cause that is not.
//
// Message is lower-case, names fields rather than echoing input, and never
// holds a password, a verifier or a raw request body. Op and Err are for logs
// only; ErrorMessage never returns them.
type Error struct {
	// Code is the stable kind of the error.
	Code Code
	// Message is the user-facing description, shown to callers unless Code
	// is CodeInternal.
	Message string
	// Op optionally names the operation that failed, for logs (e.g. "issue").
	Op string
	// Err is the wrapped cause, for logs and errors.Is/As; never shown to
	// callers.
	Err error
}

// Error returns "op: code: message: cause", leaving out the empty parts; it is
// meant for logs, not for callers (see ErrorMessage).
func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	code := e.Code
	if code == "" {
		code = CodeInternal
	}
	b.WriteString(string(code))
	msg := e.Message
	if msg == "" {
		msg = defaultMessage(code)
	}
	b.WriteString(": ")
	b.WriteString(msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause, so errors.Is and errors.As see through an Error.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an Error with the given code and a message formatted with
// fmt.Sprintf.
//
// The message is shown to callers: never format a secret or raw input into it.
// To attach a cause, set the returned Error's Err field; %w is not supported.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, CodeInternal
// when there is none (or its code is unknown), and "" when err is nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && known(e.Code) {
		return e.Code
	}
	return CodeInternal
}

// ErrorMessage returns the message that is safe to show to a caller: the
// Message of the first *Error in err's chain, or "internal error" when err
// carries no *Error or its code is CodeInternal or unknown. It returns "" for
// a nil err.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if !errors.As(err, &e) || !known(e.Code) || e.Code == CodeInternal {
		return defaultMessage(CodeInternal)
	}
	if e.Message == "" {
		return defaultMessage(e.Code)
	}
	return e.Message
}

// HTTPStatus returns the HTTP status for code: 400 for a malformed request,
// 413 for an oversized one, 422 for a well-formed request with unacceptable
// values, 401, 403, 404, 409 and 503 for their codes, and 500 for CodeInternal and
// any unknown code.
func HTTPStatus(code Code) int {
	switch code {
	case CodeInvalidJSON, CodeInvalidRequest:
		return http.StatusBadRequest
	case CodeBodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case CodeInvalidRole, CodeInvalidIncident, CodeInvalidHours, CodeInvalidReason, CodeInvalidPassword:
		return http.StatusUnprocessableEntity
	case CodeUnauthenticated:
		return http.StatusUnauthorized
	case CodeForbidden:
		return http.StatusForbidden
	case CodeNotFound:
		return http.StatusNotFound
	case CodeConflict:
		return http.StatusConflict
	case CodeUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Retryable reports whether err is worth retrying unchanged, which is the case
// only for CodeUnavailable.
func Retryable(err error) bool {
	return ErrorCode(err) == CodeUnavailable
}

// known reports whether code is one of the declared codes.
func known(code Code) bool {
	return defaultMessage(code) != ""
}

// defaultMessage is the message for an Error that has none, and "" for an
// unknown code.
func defaultMessage(code Code) string {
	switch code {
	case CodeInvalidJSON:
		return "request body is not valid json"
	case CodeInvalidRequest:
		return "invalid request"
	case CodeInvalidRole:
		return "invalid role"
	case CodeInvalidIncident:
		return "invalid incident id"
	case CodeInvalidHours:
		return "invalid hours"
	case CodeInvalidReason:
		return "invalid reason"
	case CodeInvalidPassword:
		return "the database refused the password"
	case CodeBodyTooLarge:
		return "request body is too large"
	case CodeUnauthenticated:
		return "the call carries no valid identity proof"
	case CodeForbidden:
		return "forbidden"
	case CodeNotFound:
		return "not found"
	case CodeConflict:
		return "conflict"
	case CodeUnavailable:
		return "service temporarily unavailable, retry later"
	case CodeInternal:
		return "internal error"
	default:
		return ""
	}
}
