package lambdafn

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/google/uuid"
)

// Starter starts approval workflows (the Step Functions client).
type Starter interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, optFns ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
}

// IssueHandler serves the issue function: POST /access and GET /access from API
// Gateway, and the "issue" and "deny" steps of the approval workflow.
type IssueHandler struct {
	Broker          *broker.Broker
	Workflow        Starter
	StateMachineARN string
}

// NewIssueHandler returns the issue function's handler.
func NewIssueHandler(d *Deps) *IssueHandler {
	return &IssueHandler{Broker: d.Broker, Workflow: d.SFN, StateMachineARN: d.Config.StateMachineARN}
}

// WorkflowInput is the approval workflow's execution input, and the shape of its
// "issue" and "deny" steps' input (with Action set).
type WorkflowInput struct {
	Action        string         `json:"action,omitempty"`
	Request       broker.Request `json:"request"`
	Requester     string         `json:"requester"`
	Approver      string         `json:"approver,omitempty"`
	RequestID     string         `json:"request_id"`
	GrantID       string         `json:"grant_id"`
	NeedsApproval bool           `json:"needs_approval"`
	Reason        string         `json:"reason,omitempty"`
}

// PendingAnswer is the 202 answer when a request waits for approval.
type PendingAnswer struct {
	ExecutionARN string `json:"execution_arn"`
	Status       string `json:"status"`
}

// Handle answers one event of the issue function.
func (h *IssueHandler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	switch sh, action := classify(raw); {
	case sh == shapeAPI:
		var req events.APIGatewayProxyRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			return nil, unsupported(ctx, h.Broker, "issue")
		}
		return h.api(ctx, req), nil
	case sh == shapeStep && action == "issue":
		return h.stepIssue(ctx, raw)
	case sh == shapeStep && action == "deny":
		return h.stepDeny(ctx, raw)
	}
	return nil, unsupported(ctx, h.Broker, "issue")
}

func (h *IssueHandler) api(ctx context.Context, req events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	switch {
	case req.HTTPMethod == http.MethodPost && req.Resource == "/access":
		return h.post(ctx, req)
	case req.HTTPMethod == http.MethodGet && req.Resource == "/access":
		out, err := h.Broker.Status(ctx)
		if err != nil {
			return respondError(err)
		}
		return respond(http.StatusOK, out)
	}
	return routeNotFound(ctx, h.Broker, req)
}

func (h *IssueHandler) post(ctx context.Context, req events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	in := broker.IssueInput{Requester: caller(req), RequestID: requestID(ctx, &req), Source: audit.SourceAPI}
	rec := audit.Record{RequestID: in.RequestID, Requester: in.Requester, Source: audit.SourceAPI}
	raw, err := body(req)
	if err != nil {
		return respondError(h.Broker.Reject(ctx, rec, err))
	}
	r, err := broker.DecodeRequest(raw)
	if err != nil {
		return respondError(h.Broker.Reject(ctx, rec, err))
	}
	in.Request = r
	out, pending, err := h.Submit(ctx, in)
	switch {
	case err != nil:
		return respondError(err)
	case pending != nil:
		return respond(http.StatusAccepted, pending)
	}
	return respond(http.StatusCreated, out)
}

// Submit handles a request for access from an authenticated caller: issued at once
// when the role needs no approval, else handed to the approval workflow (the answer is
// then pending). Refusals are typed errors with a request.rejected record.
func (h *IssueHandler) Submit(ctx context.Context, in broker.IssueInput) (broker.IssueOutput, *PendingAnswer, error) {
	rec := audit.Record{RequestID: in.RequestID, Requester: in.Requester, IncidentID: in.Request.IncidentID, Source: in.Source}
	v, err := h.Broker.Policy().Validate(in.Request)
	if err == nil && in.Requester == "" {
		err = broker.Errorf(broker.CodeForbidden, "the caller is not authenticated")
	}
	if err != nil {
		return broker.IssueOutput{}, nil, h.Broker.Reject(ctx, rec, err)
	}
	if !v.NeedsApproval {
		out, err := h.Broker.Issue(ctx, in)
		return out, nil, err
	}
	arn, err := h.startWorkflow(ctx, in.Request, v, in)
	if err != nil {
		return broker.IssueOutput{}, nil, err
	}
	return broker.IssueOutput{}, &PendingAnswer{ExecutionARN: arn, Status: "pending_approval"}, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// ExecutionName derives the workflow's name from the role and the incident, so that a
// repeated request finds the running workflow instead of starting a second one.
func ExecutionName(kind broker.Role, incident string) string {
	name := "ffb-" + string(kind) + "-" + unsafeName.ReplaceAllString(incident, "_")
	if len(name) > 80 {
		name = name[:80]
	}
	return name
}

func (h *IssueHandler) startWorkflow(ctx context.Context, r broker.Request, v broker.ValidRequest, in broker.IssueInput) (string, error) {
	if h.Workflow == nil || h.StateMachineARN == "" {
		return "", broker.Errorf(broker.CodeInternal, "no approval workflow configured")
	}
	name := ExecutionName(v.Kind, v.IncidentID)
	if in.RequestID == "" {
		in.RequestID = uuid.NewString()
	}
	input, err := json.Marshal(WorkflowInput{Request: r, Requester: in.Requester, RequestID: in.RequestID,
		GrantID: uuid.NewString(), NeedsApproval: true})
	if err != nil {
		return "", &broker.Error{Code: broker.CodeInternal, Err: err}
	}
	rec := audit.Record{Event: audit.EventAccessRequested, Outcome: audit.OutcomePending, RequestID: in.RequestID,
		Requester: in.Requester, IncidentID: v.IncidentID, TargetRole: v.RoleName, Source: audit.SourceAPI,
		Message: "waiting for a second person's approval"}
	arn, started, err := h.start(ctx, name, string(input))
	if err != nil {
		return "", err
	}
	if !started {
		rec.Message = "approval already pending for this incident and role"
	}
	return arn, h.Broker.Record(ctx, rec)
}

// start starts the workflow named name. A running workflow of that name is the same
// request asked again: its ARN is returned with started false. Step Functions keeps a
// Standard execution's name for 90 days, so a finished one (denied, expired) gets a
// new request under a suffixed name.
func (h *IssueHandler) start(ctx context.Context, name, input string) (string, bool, error) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var out *sfn.StartExecutionOutput
		out, err = h.Workflow.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(h.StateMachineARN),
			Name: aws.String(name), Input: aws.String(input)})
		var exists *sfntypes.ExecutionAlreadyExists
		if err == nil {
			return aws.ToString(out.ExecutionArn), true, nil
		}
		if !errors.As(err, &exists) {
			break
		}
		arn := strings.Replace(h.StateMachineARN, ":stateMachine:", ":execution:", 1) + ":" + name
		d, derr := h.Workflow.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if derr != nil {
			return "", false, &broker.Error{Code: broker.CodeUnavailable, Op: "start workflow", Message: "the approval workflow could not be started; retry", Err: derr}
		}
		if d.Status == sfntypes.ExecutionStatusRunning {
			return arn, false, nil
		}
		base := name
		if len(base) > 71 {
			base = base[:71]
		}
		name = base + "-" + uuid.NewString()[:8]
	}
	return "", false, &broker.Error{Code: broker.CodeUnavailable, Op: "start workflow", Message: "the approval workflow could not be started; retry", Err: err}
}

func (h *IssueHandler) stepIssue(ctx context.Context, raw json.RawMessage) (any, error) {
	var in WorkflowInput
	if err := decodeStrict(raw, &in); err != nil {
		return nil, stepError(h.Broker.Reject(ctx, audit.Record{RequestID: requestID(ctx, nil), Source: audit.SourceStepFunctions}, err))
	}
	out, err := h.Broker.Issue(ctx, broker.IssueInput{Request: in.Request, Requester: in.Requester, Approver: in.Approver,
		GrantID: in.GrantID, RequestID: in.RequestID, Source: audit.SourceStepFunctions})
	if err != nil {
		return nil, stepError(err)
	}
	return out, nil
}

// DenyAnswer is the answer of the workflow's "deny" step.
type DenyAnswer struct {
	Denied bool   `json:"denied"`
	Reason string `json:"reason"`
}

// stepDeny records a request that ended without approval (denied or timed out).
func (h *IssueHandler) stepDeny(ctx context.Context, raw json.RawMessage) (any, error) {
	var in WorkflowInput
	if err := decodeStrict(raw, &in); err != nil {
		return nil, stepError(h.Broker.Reject(ctx, audit.Record{RequestID: requestID(ctx, nil), Source: audit.SourceStepFunctions}, err))
	}
	reason := in.Reason
	if reason != "timeout" {
		reason = "denied"
	}
	role, _ := h.Broker.Policy().ParseRole(in.Request.Role)
	err := h.Broker.Record(ctx, audit.Record{Event: audit.EventAccessDenied, Outcome: audit.OutcomeDenied, RequestID: in.RequestID,
		Requester: in.Requester, IncidentID: in.Request.IncidentID, TargetRole: role, GrantID: in.GrantID,
		Source: audit.SourceStepFunctions, Message: "no approval: " + reason})
	if err != nil {
		return nil, stepError(err)
	}
	return DenyAnswer{Denied: true, Reason: reason}, nil
}
