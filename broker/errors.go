package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Code is the stable, machine-readable kind of an Error.
//
// Codes are part of the API: they appear in HTTP error bodies and in audit
// records (error_code), and the edge (cmd/internal/lambdafn) maps each to an HTTP
// status and a Step Functions error name. Never rename one.
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
	// CodeLifetimeExceeded means a grant has lived as long as its lifetime cap
	// allows and cannot be extended: ask again for a new password.
	CodeLifetimeExceeded Code = "lifetime_exceeded"
	// CodeTooManyGrants means the requester already holds MaxLiveGrantsPerPerson
	// live grants of the role (for other incidents): revoke one or let it expire.
	CodeTooManyGrants Code = "too_many_grants"
	// CodeUnavailable means a dependency is busy or throttling (database
	// lock or connection limit, AWS throttling); the same request may succeed
	// if retried later.
	CodeUnavailable Code = "unavailable"
	// CodeDatabaseUnavailable means the broker cannot log in to the database
	// for a reason that a retry will not fix (TLS, the CA bundle, the
	// password or IAM token, the login role, the database name); its Category
	// says which, and its message is shown to callers.
	CodeDatabaseUnavailable Code = "database_unavailable"
	// CodeAWSAccessDenied means an AWS API (Secrets Manager, KMS through it)
	// refused the function's IAM role: a policy or key policy is missing a
	// permission (Category iam_policy).
	CodeAWSAccessDenied Code = "aws_access_denied"
	// CodeInternal means anything else; its detail is never shown to callers.
	CodeInternal Code = "internal"
)

// Category names the kind of a failure to reach a dependency, so that an
// operator can tell a missing CA bundle from a wrong password or a closed
// security group without seeing internal detail. ErrorMessage shows it to
// callers as "(category tls)"; logs carry it as "category".
//
// Categories are part of the API, like codes: never rename one.
type Category string

// Failure categories, with the codes they come with.
const (
	// CategoryTLS: the database server refused TLS (ssl is off), which
	// sslmode verify-full needs. Code database_unavailable.
	CategoryTLS Category = "tls"
	// CategoryCertificate: the server's certificate did not verify against
	// the CA bundle (FFB_DB_CA_FILE, the RdsCaBundleLayerArn layer) or does not
	// name the endpoint. Code database_unavailable.
	CategoryCertificate Category = "certificate"
	// CategoryPassword: the database refused the login's password (password
	// mode). Code database_unavailable.
	CategoryPassword Category = "password"
	// CategoryIAMToken: the database refused the IAM auth token (Aurora's
	// "PAM authentication failed"): the function's IAM policy lacks
	// rds-db:connect for this cluster resource id and user, or the token was
	// signed for another region or endpoint. Code database_unavailable.
	CategoryIAMToken Category = "iam_token"
	// CategoryIAMGrant: in IAM mode the database checked the token as a
	// password, which Aurora does for a login that is not a member of rds_iam
	// (or does not exist). Code database_unavailable.
	CategoryIAMGrant Category = "iam_grant"
	// CategoryLogin: the role may not log in (NOLOGIN), does not exist, or no
	// host rule admits it. Code database_unavailable.
	CategoryLogin Category = "login"
	// CategoryDatabase: the database does not exist or the login lacks its
	// CONNECT privilege. Code database_unavailable.
	CategoryDatabase Category = "database"
	// CategoryAWSCredentials: no AWS credentials to sign the IAM auth token
	// with. Code database_unavailable.
	CategoryAWSCredentials Category = "aws_credentials"
	// CategoryConnectionLimit: every connection slot of the login (its
	// CONNECTION LIMIT) or of the server is taken. Code unavailable.
	CategoryConnectionLimit Category = "connection_limit"
	// CategoryNetwork: nothing answered at the endpoint and port (a security
	// group, the subnets' routes, the port), or its name does not resolve.
	// Code unavailable.
	CategoryNetwork Category = "network"
	// CategoryServer: the database server is starting, shutting down or out of
	// resources. Code unavailable.
	CategoryServer Category = "server"
	// CategoryIAMPolicy: an AWS API refused the function's IAM role (an IAM
	// policy or a KMS key policy). Code aws_access_denied.
	CategoryIAMPolicy Category = "iam_policy"
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
	// Category optionally says which kind of dependency failure this is; it
	// is shown to callers with the message (never for CodeInternal).
	Category Category
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
	if e.Category != "" {
		b.WriteString(" (category ")
		b.WriteString(string(e.Category))
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause, so errors.Is and errors.As see through an Error.
func (e *Error) Unwrap() error { return e.Err }

// LogValue is the Error as a log group: code, category, the caller-facing
// message, the operation and the cause. The cause is the wrapped error's text,
// which the broker builds without secrets (see connectFailure and scrub).
func (e *Error) LogValue() slog.Value {
	code := e.Code
	if !known(code) {
		code = CodeInternal
	}
	msg := e.Message
	if msg == "" {
		msg = defaultMessage(code)
	}
	attrs := []slog.Attr{slog.String("code", string(code))}
	if e.Category != "" {
		attrs = append(attrs, slog.String("category", string(e.Category)))
	}
	attrs = append(attrs, slog.String("message", msg))
	if e.Op != "" {
		attrs = append(attrs, slog.String("op", e.Op))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("cause", e.Err.Error()))
	}
	return slog.GroupValue(attrs...)
}

// ErrorCategory returns the Category of the first *Error in err's chain that
// has one, or "".
func ErrorCategory(err error) Category {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return ""
		}
		if e.Category != "" {
			return e.Category
		}
		err = e.Err
	}
	return ""
}

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
// Message of the first *Error in err's chain followed by its category, as in
// "the database refused the TLS handshake (category tls)", or "internal
// error" when err carries no *Error or its code is CodeInternal or unknown. It
// returns "" for a nil err.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if !errors.As(err, &e) || !known(e.Code) || e.Code == CodeInternal {
		return defaultMessage(CodeInternal)
	}
	msg := e.Message
	if msg == "" {
		msg = defaultMessage(e.Code)
	}
	if c := ErrorCategory(err); c != "" {
		msg += " (category " + string(c) + ")"
	}
	return msg
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
	case CodeLifetimeExceeded:
		return "the grant has reached its lifetime cap: ask again for a new password"
	case CodeTooManyGrants:
		return "you hold as many live grants of the role as one person may: revoke one or let it expire"
	case CodeUnavailable:
		return "service temporarily unavailable, retry later"
	case CodeDatabaseUnavailable:
		return "the broker cannot log in to the database"
	case CodeAWSAccessDenied:
		return "an AWS API refused the function's IAM role"
	case CodeInternal:
		return "internal error"
	default:
		return ""
	}
}
