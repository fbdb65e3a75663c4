package lambdafn

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/broker"
)

// Step Functions sees a failure with a category as an InternalError (not retried)
// whose message names the category, and internal detail never.
func TestStepErrorNamesTheCategory(t *testing.T) {
	cause := errors.New("failed to connect to `user=my_pg_password_broker`: tls error: server refused TLS connection")
	tests := []struct {
		name     string
		err      error
		wantType string
		wantMsg  string
	}{
		{"database_unavailable", &broker.Error{Code: broker.CodeDatabaseUnavailable, Category: broker.CategoryTLS, Message: "the database refused the TLS handshake", Err: cause},
			"*lambdafn.InternalError", "the database refused the TLS handshake (category tls)"},
		{"aws_access_denied", &broker.Error{Code: broker.CodeAWSAccessDenied, Category: broker.CategoryIAMPolicy, Message: "secrets manager refused the function's IAM role", Err: cause},
			"*lambdafn.InternalError", "secrets manager refused the function's IAM role (category iam_policy)"},
		{"unavailable", &broker.Error{Code: broker.CodeUnavailable, Category: broker.CategoryConnectionLimit, Message: "the database refused a new connection, retry later", Err: cause},
			"*lambdafn.UnavailableError", "the database refused a new connection, retry later (category connection_limit)"},
		{"internal", &broker.Error{Code: broker.CodeInternal, Message: "internal detail only for logs", Err: cause}, "*lambdafn.InternalError", "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := stepError(tt.err)
			if typ := typeName(got); typ != tt.wantType || got.Error() != tt.wantMsg {
				t.Errorf("stepError(%v) = %s %q; want %s %q", tt.err, typ, got, tt.wantType, tt.wantMsg)
			}
		})
	}
}

func TestLogFailureLine(t *testing.T) {
	var buf bytes.Buffer
	err := &broker.Error{Code: broker.CodeDatabaseUnavailable, Category: broker.CategoryPassword, Message: "the database refused the login's password",
		Err: errors.New("failed SASL auth: FATAL: password authentication failed (SQLSTATE 28P01)")}
	logFailure(NewLogger(&buf), err)
	var line struct {
		Level, Msg, ErrorCode, Category string
		Error                           struct{ Code, Category, Message, Cause string }
	}
	dec := json.NewDecoder(strings.NewReader(strings.NewReplacer(`"error_code"`, `"ErrorCode"`).Replace(buf.String())))
	if e := dec.Decode(&line); e != nil {
		t.Fatalf("log line %q: %v", buf.String(), e)
	}
	if line.Level != "ERROR" || line.Msg != "request failed" || line.ErrorCode != "database_unavailable" || line.Category != "password" ||
		line.Error.Category != "password" || !strings.Contains(line.Error.Cause, "28P01") || line.Error.Message == "" {
		t.Errorf("logFailure wrote %s; want level ERROR, msg request failed, code, category and cause", buf.String())
	}
}

func typeName(err error) string {
	switch err.(type) {
	case *InternalError:
		return "*lambdafn.InternalError"
	case *UnavailableError:
		return "*lambdafn.UnavailableError"
	}
	return "other"
}
