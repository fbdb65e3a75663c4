package lambdafn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

// Workflow is the part of the Step Functions API the approve function calls.
type Workflow interface {
	ListExecutions(ctx context.Context, in *sfn.ListExecutionsInput, optFns ...func(*sfn.Options)) (*sfn.ListExecutionsOutput, error)
	GetExecutionHistory(ctx context.Context, in *sfn.GetExecutionHistoryInput, optFns ...func(*sfn.Options)) (*sfn.GetExecutionHistoryOutput, error)
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
	SendTaskSuccess(ctx context.Context, in *sfn.SendTaskSuccessInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
	SendTaskFailure(ctx context.Context, in *sfn.SendTaskFailureInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
}

// ApproveHandler serves the approve function: POST /approvals, a second person's
// decision on a read-write request waiting in the approval workflow.
type ApproveHandler struct {
	Broker          *broker.Broker
	Workflow        Workflow
	StateMachineARN string
}

// NewApproveHandler returns the approve function's handler.
func NewApproveHandler(d *Deps) *ApproveHandler {
	return &ApproveHandler{Broker: d.Broker, Workflow: d.SFN, StateMachineARN: d.Config.StateMachineARN}
}

// Decision is the body of POST /approvals.
type Decision struct {
	TaskToken string `json:"task_token"`
	Decision  string `json:"decision"`
	Comment   string `json:"comment,omitempty"`
}

// DecisionAnswer is the answer of POST /approvals.
type DecisionAnswer struct {
	Decision     string `json:"decision"`
	ExecutionARN string `json:"execution_arn"`
}

// ApprovalOutput is what an approval hands to the workflow's next step.
type ApprovalOutput struct {
	Approver string `json:"approver"`
	Comment  string `json:"comment,omitempty"`
}

// Handle answers one event of the approve function.
func (h *ApproveHandler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	if sh, _ := classify(raw); sh == shapeAPI {
		var req events.APIGatewayProxyRequest
		if err := json.Unmarshal(raw, &req); err == nil {
			if req.HTTPMethod != http.MethodPost || req.Resource != "/approvals" {
				return routeNotFound(ctx, h.Broker, req), nil
			}
			return h.post(ctx, req), nil
		}
	}
	return nil, unsupported(ctx, h.Broker, "approve")
}

func (h *ApproveHandler) post(ctx context.Context, req events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	approver := caller(req)
	rec := audit.Record{RequestID: requestID(ctx, &req), Approver: approver, Source: audit.SourceAPI}
	d, err := decodeDecision(req)
	if err == nil && approver == "" {
		err = broker.Errorf(broker.CodeForbidden, "the caller is not authenticated")
	}
	if err != nil {
		return respondError(h.Broker.Reject(ctx, rec, err))
	}
	out, err := h.Decide(ctx, approver, rec.RequestID, audit.SourceAPI, d)
	if err != nil {
		return respondError(err)
	}
	return respond(http.StatusOK, out)
}

// Decide sends an approver's decision to the workflow waiting on d.TaskToken. The
// approver is an authenticated principal and must not be the requester; the requester
// is read from the workflow itself, never from the caller.
func (h *ApproveHandler) Decide(ctx context.Context, approver, requestID string, source audit.Source, d Decision) (DecisionAnswer, error) {
	rec := audit.Record{RequestID: requestID, Approver: approver, Source: source}
	arn, input, err := h.findExecution(ctx, d.TaskToken)
	if err != nil {
		return DecisionAnswer{}, h.Broker.Reject(ctx, rec, err)
	}
	role, _ := h.Broker.Policy().ParseRole(input.Request.Role)
	rec.Requester, rec.IncidentID, rec.TargetRole, rec.GrantID = input.Requester, input.Request.IncidentID, role, input.GrantID
	if input.Requester == approver || approver == "" {
		return DecisionAnswer{}, h.Broker.Reject(ctx, rec, broker.Errorf(broker.CodeForbidden, "the approver must not be the requester"))
	}
	rec.Event, rec.Outcome, rec.Message = audit.EventAccessApproved, audit.OutcomeSuccess, "approved by a second person"
	if d.Decision == "deny" {
		rec.Event, rec.Outcome, rec.Message = audit.EventAccessDenied, audit.OutcomeDenied, "denied by a second person"
	}
	if err := h.Broker.Record(ctx, rec); err != nil {
		return DecisionAnswer{}, err // no record, no decision
	}
	if d.Decision == "approve" {
		out, _ := json.Marshal(ApprovalOutput{Approver: approver, Comment: d.Comment})
		_, err = h.Workflow.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(d.TaskToken), Output: aws.String(string(out))})
	} else {
		_, err = h.Workflow.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{TaskToken: aws.String(d.TaskToken),
			Error: aws.String("Denied"), Cause: aws.String("denied by a second person")})
	}
	if err != nil {
		return DecisionAnswer{}, workflowError(err)
	}
	return DecisionAnswer{Decision: d.Decision, ExecutionARN: arn}, nil
}

func decodeDecision(req events.APIGatewayProxyRequest) (Decision, error) {
	raw, err := body(req)
	if err != nil {
		return Decision{}, err
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return Decision{}, broker.Errorf(broker.CodeInvalidRequest, "empty body")
	}
	var d Decision
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil || dec.More() {
		return Decision{}, broker.Errorf(broker.CodeInvalidJSON, "the body must be {\"task_token\", \"decision\", \"comment\"}")
	}
	switch {
	case d.TaskToken == "" || len(d.TaskToken) > 4096:
		return Decision{}, broker.Errorf(broker.CodeInvalidRequest, "task_token is required")
	case d.Decision != "approve" && d.Decision != "deny":
		return Decision{}, broker.Errorf(broker.CodeInvalidRequest, "decision must be approve or deny")
	case !utf8.ValidString(d.Comment) || utf8.RuneCountInString(d.Comment) > 500:
		return Decision{}, broker.Errorf(broker.CodeInvalidReason, "comment must be at most 500 characters")
	}
	return d, nil
}

// findExecution finds the running workflow that waits on token, by the parameters
// its approval step was scheduled with, and returns its ARN and input. A token no
// running workflow waits on is refused: this is how the requester of the request
// being approved is known without trusting anything the approver sent.
func (h *ApproveHandler) findExecution(ctx context.Context, token string) (string, WorkflowInput, error) {
	var next *string
	for page := 0; page < 10; page++ {
		list, err := h.Workflow.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(h.StateMachineARN),
			StatusFilter: sfntypes.ExecutionStatusRunning, NextToken: next})
		if err != nil {
			return "", WorkflowInput{}, workflowError(err)
		}
		for _, e := range list.Executions {
			ok, err := h.waitsOn(ctx, aws.ToString(e.ExecutionArn), token)
			if err != nil {
				return "", WorkflowInput{}, err
			}
			if !ok {
				continue
			}
			d, err := h.Workflow.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: e.ExecutionArn})
			if err != nil {
				return "", WorkflowInput{}, workflowError(err)
			}
			var in WorkflowInput
			if err := json.Unmarshal([]byte(aws.ToString(d.Input)), &in); err != nil || in.Requester == "" {
				return "", WorkflowInput{}, broker.Errorf(broker.CodeInternal, "the workflow's input has no requester")
			}
			return aws.ToString(e.ExecutionArn), in, nil
		}
		if next = list.NextToken; next == nil {
			break
		}
	}
	return "", WorkflowInput{}, broker.Errorf(broker.CodeNotFound, "no request waits for approval with this task token")
}

// waitsOn reports whether the execution's latest scheduled task carries token.
func (h *ApproveHandler) waitsOn(ctx context.Context, arn, token string) (bool, error) {
	hist, err := h.Workflow.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn),
		ReverseOrder: true, MaxResults: 100})
	if err != nil {
		return false, workflowError(err)
	}
	for _, ev := range hist.Events {
		if ev.Type == sfntypes.HistoryEventTypeTaskScheduled && ev.TaskScheduledEventDetails != nil {
			return strings.Contains(aws.ToString(ev.TaskScheduledEventDetails.Parameters), token), nil
		}
	}
	return false, nil
}

func workflowError(err error) error {
	var invalid *sfntypes.InvalidToken
	var timedOut *sfntypes.TaskTimedOut
	var missing *sfntypes.TaskDoesNotExist
	switch {
	case errors.As(err, &invalid), errors.As(err, &missing):
		return &broker.Error{Code: broker.CodeNotFound, Message: "no request waits for approval with this task token", Err: err}
	case errors.As(err, &timedOut):
		return &broker.Error{Code: broker.CodeConflict, Message: "the approval has timed out", Err: err}
	}
	return &broker.Error{Code: broker.CodeUnavailable, Op: "step functions", Message: "the approval workflow did not answer; retry", Err: err}
}
