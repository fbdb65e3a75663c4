package lambdafn

import (
	"net/http"
	"testing"

	"github.com/ffbroker/ffbroker/broker"
)

func TestHTTPStatus(t *testing.T) {
	tests := []struct {
		code broker.Code
		want int
	}{
		{broker.CodeInvalidJSON, http.StatusBadRequest},
		{broker.CodeInvalidRequest, http.StatusBadRequest},
		{broker.CodeBodyTooLarge, http.StatusRequestEntityTooLarge},
		{broker.CodeInvalidRole, http.StatusUnprocessableEntity},
		{broker.CodeInvalidIncident, http.StatusUnprocessableEntity},
		{broker.CodeInvalidHours, http.StatusUnprocessableEntity},
		{broker.CodeInvalidReason, http.StatusUnprocessableEntity},
		{broker.CodeInvalidPassword, http.StatusUnprocessableEntity},
		{broker.CodeUnauthenticated, http.StatusUnauthorized},
		{broker.CodeForbidden, http.StatusForbidden},
		{broker.CodeNotFound, http.StatusNotFound},
		{broker.CodeConflict, http.StatusConflict},
		{broker.CodeUnavailable, http.StatusServiceUnavailable},
		{broker.CodeDatabaseUnavailable, http.StatusServiceUnavailable},
		{broker.CodeAWSAccessDenied, http.StatusServiceUnavailable},
		{broker.CodeInternal, http.StatusInternalServerError},
		{"bogus", http.StatusInternalServerError},
		{"", http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(string(tt.code), func(t *testing.T) {
			if got := httpStatus(tt.code); got != tt.want {
				t.Errorf("httpStatus(%q) = %d; want %d", tt.code, got, tt.want)
			}
		})
	}
}
