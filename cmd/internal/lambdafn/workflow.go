package lambdafn

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/ffbroker/ffbroker/broker"
)

// StepFunctions is the part of the Step Functions API the approval workflow needs.
type StepFunctions interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	SendTaskSuccess(ctx context.Context, in *sfn.SendTaskSuccessInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
	SendTaskFailure(ctx context.Context, in *sfn.SendTaskFailureInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
}

// Workflow is the approval state machine as the broker sees it (broker.Workflow).
type Workflow struct {
	sfn StepFunctions
	arn string
}

// NewWorkflow returns the approval workflow of state machine arn.
func NewWorkflow(c StepFunctions, stateMachineARN string) *Workflow {
	return &Workflow{sfn: c, arn: stateMachineARN}
}

// ExecutionName is the name of request id's workflow: one execution per request, so
// a second start finds the first, and the wait step can tell its own execution.
func ExecutionName(requestID string) string { return "ffb-" + requestID }

// WorkflowInput is the execution input: the request id and nothing else.
type WorkflowInput struct {
	RequestID string `json:"request_id"`
}

// The actions of the workflow's Lambda steps: the "action" field of each step's
// payload (statemachine/approval.asl.json), which classify reads to tell a step's
// input from other events.
const (
	// ActionAwait is the wait step (.waitForTaskToken) of the issue function: its
	// input is an AwaitStep.
	ActionAwait = "await"
	// ActionIssue is the issue step of the issue function: its input is a
	// RequestStep, its output a broker.IssueOutput.
	ActionIssue = "issue"
	// ActionTimeout is the issue function's step that records a decision that never
	// came: its input is a RequestStep.
	ActionTimeout = "timeout"
	// ActionExpire is the expire function's step at the grant's expiry: its input is
	// an ExpireStep.
	ActionExpire = "expire"
)

// AwaitStep is the input of the workflow's wait step: the request id, the task token
// Step Functions made for the wait, and the execution's own ARN.
type AwaitStep struct {
	Action       string `json:"action"`
	RequestID    string `json:"request_id"`
	TaskToken    string `json:"task_token"`
	ExecutionARN string `json:"execution_arn"`
}

// RequestStep is the input of the workflow's issue and timeout steps: only the
// request id. Anything else (a requester, an approver) is refused.
type RequestStep struct {
	Action    string `json:"action"`
	RequestID string `json:"request_id"`
}

// ExpireStep is the input of the workflow's expire step.
type ExpireStep struct {
	Action    string `json:"action"`
	GrantID   string `json:"grant_id"`
	Role      string `json:"role"`
	RequestID string `json:"request_id,omitempty"`
}

// RequestState is the output of the wait and timeout steps: the request and its
// state after the step. The workflow does not read it.
type RequestState struct {
	RequestID string `json:"request_id"`
	State     string `json:"state"`
}

// The error names the workflow's Retry and Catch match. Step Functions names a Go
// handler's error by its type name, so each is the name of the error type below;
// ErrorDenied is the error Resume fails a denied wait with.
const (
	ErrorInvalidInput = "InvalidInputError"
	ErrorForbidden    = "ForbiddenError"
	ErrorNotFound     = "NotFoundError"
	ErrorConflict     = "ConflictError"
	ErrorUnavailable  = "UnavailableError"
	ErrorInternal     = "InternalError"
	ErrorDenied       = "Denied"
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

// InternalError is returned to Step Functions for anything else. It carries no detail,
// except for a failure with a category (database_unavailable, aws_access_denied),
// whose message names the category, as the API answer does.
type InternalError struct{ Message string }

func (e *InternalError) Error() string { return e.Message }

// stepError turns a broker error into the named type Step Functions matches, by its
// code. The message is the broker's user-facing one, never internal detail. A
// failure on the service's side (UnavailableError, InternalError) is also logged
// with its category and sanitized cause.
func stepError(err error) error {
	if err == nil {
		return nil
	}
	msg := broker.ErrorMessage(err)
	var out error
	switch broker.ErrorCode(err) {
	case broker.CodeInvalidJSON, broker.CodeInvalidRequest, broker.CodeBodyTooLarge, broker.CodeInvalidRole,
		broker.CodeInvalidIncident, broker.CodeInvalidHours, broker.CodeInvalidReason, broker.CodeInvalidPassword:
		return &InvalidInputError{Message: msg}
	case broker.CodeForbidden, broker.CodeUnauthenticated:
		return &ForbiddenError{Message: msg}
	case broker.CodeNotFound:
		return &NotFoundError{Message: msg}
	case broker.CodeConflict, broker.CodeLifetimeExceeded, broker.CodeTooManyGrants:
		return &ConflictError{Message: msg}
	case broker.CodeUnavailable:
		out = &UnavailableError{Message: msg}
	case broker.CodeDatabaseUnavailable, broker.CodeAWSAccessDenied:
		out = &InternalError{Message: msg}
	default:
		out = &InternalError{Message: "internal error"}
	}
	logFailure(slog.Default(), err)
	return out
}

// Start starts request id's workflow, or returns the one already started.
func (w *Workflow) Start(ctx context.Context, requestID string) (string, error) {
	input, _ := json.Marshal(WorkflowInput{RequestID: requestID})
	out, err := w.sfn.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(w.arn),
		Name: aws.String(ExecutionName(requestID)), Input: aws.String(string(input))})
	var exists *sfntypes.ExecutionAlreadyExists
	switch {
	case err == nil:
		return aws.ToString(out.ExecutionArn), nil
	case errors.As(err, &exists):
		return w.ExecutionARN(requestID), nil
	}
	return "", &broker.Error{Code: broker.CodeUnavailable, Op: "start workflow", Message: "the approval workflow could not be started; retry", Err: err}
}

// ExecutionARN is the ARN of request id's execution of the state machine:
// arn:PARTITION:states:REGION:ACCOUNT:execution:MACHINE:ffb-ID.
func (w *Workflow) ExecutionARN(requestID string) string {
	if !strings.Contains(w.arn, ":stateMachine:") {
		return "" // no state machine: the broker refuses every wait step
	}
	return strings.Replace(w.arn, ":stateMachine:", ":execution:", 1) + ":" + ExecutionName(requestID)
}

// DecisionOutput is what an approval hands to the waiting workflow; it carries no
// trust (the issue step reads the approval from the database).
type DecisionOutput struct {
	RequestID string `json:"request_id"`
	Decision  string `json:"decision"`
}

// Resume ends the wait of the workflow that holds token: an approval lets it go on to
// the issue step, a denial fails it with error ErrorDenied.
func (w *Workflow) Resume(ctx context.Context, token broker.Token, requestID, decision string) error {
	var err error
	if decision == "approve" {
		out, _ := json.Marshal(DecisionOutput{RequestID: requestID, Decision: decision})
		_, err = w.sfn.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(string(token)), Output: aws.String(string(out))})
	} else {
		_, err = w.sfn.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(string(token)),
			Error: aws.String(ErrorDenied), Cause: aws.String("denied by a second person")})
	}
	if err == nil {
		return nil
	}
	var invalid *sfntypes.InvalidToken
	var timedOut *sfntypes.TaskTimedOut
	var missing *sfntypes.TaskDoesNotExist
	if errors.As(err, &invalid) || errors.As(err, &timedOut) || errors.As(err, &missing) {
		return &broker.Error{Code: broker.CodeConflict, Op: "resume workflow", Message: "the decision is recorded, but the workflow no longer waits for it", Err: err}
	}
	return &broker.Error{Code: broker.CodeUnavailable, Op: "resume workflow", Message: "the decision is recorded, but the workflow did not answer; retry", Err: err}
}
