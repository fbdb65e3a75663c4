package lambdafn

import (
	"context"
	"encoding/json"
	"errors"
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
		return strings.Replace(w.arn, ":stateMachine:", ":execution:", 1) + ":" + ExecutionName(requestID), nil
	}
	return "", &broker.Error{Code: broker.CodeUnavailable, Op: "start workflow", Message: "the approval workflow could not be started; retry", Err: err}
}

// DecisionOutput is what an approval hands to the waiting workflow; it carries no
// trust (the issue step reads the approval from the database).
type DecisionOutput struct {
	RequestID string `json:"request_id"`
	Decision  string `json:"decision"`
}

// Resume ends the wait of the workflow that holds token: an approval lets it go on to
// the issue step, a denial fails it with error Denied.
func (w *Workflow) Resume(ctx context.Context, token broker.Token, requestID, decision string) error {
	var err error
	if decision == "approve" {
		out, _ := json.Marshal(DecisionOutput{RequestID: requestID, Decision: decision})
		_, err = w.sfn.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(string(token)), Output: aws.String(string(out))})
	} else {
		_, err = w.sfn.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(string(token)),
			Error: aws.String("Denied"), Cause: aws.String("denied by a second person")})
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
