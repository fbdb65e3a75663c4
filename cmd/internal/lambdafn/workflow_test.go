package lambdafn

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/broker"
)

// aslDefinition is the part of statemachine/approval.asl.json the contract covers.
type aslDefinition struct {
	States map[string]struct {
		Type       string
		Error      string
		Parameters struct {
			FunctionName string
			Payload      map[string]any
		}
		ResultSelector map[string]string
		Retry, Catch   []struct{ ErrorEquals []string }
	}
}

func loadDefinition(t *testing.T) aslDefinition {
	t.Helper()
	raw, err := os.ReadFile("../../../statemachine/approval.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	var def aslDefinition
	if err := json.Unmarshal(raw, &def); err != nil {
		t.Fatalf("statemachine/approval.asl.json: %v", err)
	}
	return def
}

// jsonFields lists the JSON names of struct v's fields, as encoding/json sees them.
func jsonFields(v any) []string {
	var names []string
	typ := reflect.TypeOf(v)
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch name {
		case "-":
			continue
		case "":
			name = f.Name
		}
		names = append(names, name)
	}
	return names
}

// Each error name of the contract is the Go type name Step Functions sees, and
// stepError names each code directly.
func TestStepErrorNames(t *testing.T) {
	tests := []struct {
		code broker.Code
		want string
	}{
		{broker.CodeInvalidJSON, ErrorInvalidInput},
		{broker.CodeInvalidRequest, ErrorInvalidInput},
		{broker.CodeBodyTooLarge, ErrorInvalidInput},
		{broker.CodeInvalidRole, ErrorInvalidInput},
		{broker.CodeInvalidIncident, ErrorInvalidInput},
		{broker.CodeInvalidHours, ErrorInvalidInput},
		{broker.CodeInvalidReason, ErrorInvalidInput},
		{broker.CodeInvalidPassword, ErrorInvalidInput},
		{broker.CodeUnauthenticated, ErrorForbidden},
		{broker.CodeForbidden, ErrorForbidden},
		{broker.CodeNotFound, ErrorNotFound},
		{broker.CodeConflict, ErrorConflict},
		{broker.CodeUnavailable, ErrorUnavailable},
		{broker.CodeDatabaseUnavailable, ErrorInternal},
		{broker.CodeAWSAccessDenied, ErrorInternal},
		{broker.CodeInternal, ErrorInternal},
		{"bogus", ErrorInternal},
	}
	for _, tt := range tests {
		t.Run(string(tt.code), func(t *testing.T) {
			got := stepError(&broker.Error{Code: tt.code, Message: "m"})
			typ := reflect.TypeOf(got)
			if typ.Kind() != reflect.Pointer || typ.Elem().Name() != tt.want || typ.Elem().PkgPath() != "github.com/ffbroker/ffbroker/cmd/internal/lambdafn" {
				t.Errorf("stepError(code %s) = %T; want *lambdafn.%s", tt.code, got, tt.want)
			}
		})
	}
	if err := stepError(nil); err != nil {
		t.Errorf("stepError(nil) = %v; want nil", err)
	}
	var unavailable *UnavailableError
	if err := stepError(errors.New("plain")); errors.As(err, &unavailable) || err.Error() != "internal error" {
		t.Errorf("stepError(plain error) = %T %q; want an InternalError without detail", err, err)
	}
}

// contractErrors are the error names a state may retry or catch besides the
// States.* and Lambda.* names of Step Functions itself.
var contractErrors = []string{ErrorInvalidInput, ErrorForbidden, ErrorNotFound, ErrorConflict, ErrorUnavailable, ErrorInternal}

// The approval workflow follows the contract: every custom error name it retries or
// catches is one of the contract's, a denial fails with ErrorDenied, every Lambda
// step's payload has the step's action and only fields its input type decodes (the
// handlers refuse unknown fields), and the issue step's result selector reads only
// fields of broker.IssueOutput.
func TestWorkflowFollowsContract(t *testing.T) {
	def := loadDefinition(t)
	steps := map[string]struct {
		action string
		input  any
	}{
		"WaitForApproval": {ActionAwait, AwaitStep{}},
		"Issue":           {ActionIssue, RequestStep{}},
		"RecordTimeout":   {ActionTimeout, RequestStep{}},
		"Expire":          {ActionExpire, ExpireStep{}},
	}
	denied := false
	for name, st := range def.States {
		for _, entry := range append(st.Retry, st.Catch...) {
			for _, e := range entry.ErrorEquals {
				if !strings.HasPrefix(e, "States.") && !strings.HasPrefix(e, "Lambda.") && !slices.Contains(contractErrors, e) {
					t.Errorf("state %s matches error %s; the contract's errors are %v", name, e, contractErrors)
				}
			}
		}
		if st.Type == "Fail" && st.Error == ErrorDenied {
			denied = true
		}
		if st.Parameters.Payload == nil {
			continue
		}
		step, ok := steps[name]
		if !ok {
			t.Errorf("state %s invokes a function with %v; the contract has no such step", name, st.Parameters.Payload)
			continue
		}
		if got := st.Parameters.Payload["action"]; got != step.action {
			t.Errorf("state %s action = %v; want %q", name, got, step.action)
		}
		fields := jsonFields(step.input)
		for k := range st.Parameters.Payload {
			if k = strings.TrimSuffix(k, ".$"); !slices.Contains(fields, k) {
				t.Errorf("state %s passes field %q; %T decodes only %v", name, k, step.input, fields)
			}
		}
		delete(steps, name)
	}
	for name := range steps {
		t.Errorf("the workflow has no state %s", name)
	}
	if !denied {
		t.Errorf("no Fail state has error %s", ErrorDenied)
	}
	issued := jsonFields(broker.IssueOutput{})
	selector := def.States["Issue"].ResultSelector
	if len(selector) == 0 {
		t.Error("state Issue has no ResultSelector")
	}
	for k, v := range selector {
		if f, ok := strings.CutPrefix(v, "$.Payload."); !ok || !slices.Contains(issued, f) {
			t.Errorf("Issue ResultSelector %s reads %s; broker.IssueOutput has %v", k, v, issued)
		}
	}
}
