package lambdafn

import (
	"net/http"

	"github.com/ffbroker/ffbroker/broker"
)

// httpStatus returns the HTTP status of an API answer with code: 400 for a malformed
// request, 413 for an oversized one, 422 for a well-formed request with unacceptable
// values, 401, 403, 404 and 409 for their codes (409 also for lifetime_exceeded and too_many_grants), 503 for the unavailable codes
// (unavailable, database_unavailable, aws_access_denied), and 500 for CodeInternal
// and any unknown code.
func httpStatus(code broker.Code) int {
	switch code {
	case broker.CodeInvalidJSON, broker.CodeInvalidRequest:
		return http.StatusBadRequest
	case broker.CodeBodyTooLarge:
		return http.StatusRequestEntityTooLarge
	case broker.CodeInvalidRole, broker.CodeInvalidIncident, broker.CodeInvalidHours, broker.CodeInvalidReason, broker.CodeInvalidPassword:
		return http.StatusUnprocessableEntity
	case broker.CodeUnauthenticated:
		return http.StatusUnauthorized
	case broker.CodeForbidden:
		return http.StatusForbidden
	case broker.CodeNotFound:
		return http.StatusNotFound
	case broker.CodeConflict, broker.CodeLifetimeExceeded, broker.CodeTooManyGrants:
		return http.StatusConflict
	case broker.CodeUnavailable, broker.CodeDatabaseUnavailable, broker.CodeAWSAccessDenied:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}
