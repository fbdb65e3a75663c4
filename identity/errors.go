package identity

import (
	"errors"
	"strings"
)

// Reason is the stable, machine-readable kind of an Error. Reasons are safe to
// show to callers and to write into audit records; never rename one.
type Reason string

// Reasons for which Verify refuses a proof.
const (
	// ReasonMissing means the API request carried no proof.
	ReasonMissing Reason = "missing"
	// ReasonMalformed means the proof is not a well-formed, signed
	// sts:GetCallerIdentity request: bad encoding, too large, unknown fields,
	// bad headers, an Authorization header that is not SigV4 or whose signature
	// does not cover the headers the binding needs.
	ReasonMalformed Reason = "malformed"
	// ReasonStale means the proof's X-Amz-Date is older than the verifier's
	// MaxAge or more than a minute in the future.
	ReasonStale Reason = "stale"
	// ReasonWrongServer means the proof was made for another deployment
	// (X-Ffb-Server-Id differs from the verifier's ServerID).
	ReasonWrongServer Reason = "wrong_server"
	// ReasonWrongRequest means the proof was made for another API request
	// (X-Ffb-Request-Digest differs from the digest of the request it came with).
	ReasonWrongRequest Reason = "wrong_request"
	// ReasonWrongAction means the signed request is not exactly
	// sts:GetCallerIdentity: another action, extra parameters, a query string,
	// or a signature for another service.
	ReasonWrongAction Reason = "wrong_action"
	// ReasonWrongEndpoint means the signed request is addressed to another host,
	// path or region than the verifier's own STS endpoint.
	ReasonWrongEndpoint Reason = "wrong_endpoint"
	// ReasonRefused means STS refused the signed request (a bad or forged
	// signature, an unknown key, expired credentials) or answered with an
	// identity that is not accepted (a federated user, an unknown ARN form).
	ReasonRefused Reason = "refused"
	// ReasonUnavailable means the identity could not be checked: STS was
	// unreachable, throttled, answered 5xx or nonsense, or the verifier itself
	// is misconfigured. The same proof may succeed later (within MaxAge).
	ReasonUnavailable Reason = "unavailable"
)

// Error is Verify's one error type: a stable Reason, a message that is safe to
// show, and an internal cause for logs.
//
// Neither Message nor Err ever holds the proof, a signature, a session token or
// a secret key: messages name the field that is wrong, never its value.
type Error struct {
	// Reason is the stable kind of the refusal.
	Reason Reason
	// Message says in lower case what is wrong, without echoing the proof.
	Message string
	// Err is the optional cause (a network error, say), for logs and errors.Is/As.
	Err error
}

// Error returns "identity: reason: message: cause", leaving out the empty parts.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("identity: ")
	b.WriteString(string(e.Reason))
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause, so errors.Is and errors.As see through an Error.
func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of the first *Error in err's chain, "" when err is
// nil or holds no *Error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// refuse returns an *Error with reason and message and no cause.
func refuse(reason Reason, message string) *Error {
	return &Error{Reason: reason, Message: message}
}
