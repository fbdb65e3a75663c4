package lambdafn

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

// IssueHandler serves the issue function: POST /access, POST /access/{role}/extend,
// GET /access and GET /requests/{request_id} from API Gateway, and the approval workflow's "await",
// "issue" and "timeout" steps.
type IssueHandler struct{ brokerHandler }

// NewIssueHandler returns the issue function's handler.
func NewIssueHandler(d *Deps) *IssueHandler {
	return &IssueHandler{newBrokerHandler(d, FunctionIssue)}
}

// Handle answers one event of the issue function.
func (h *IssueHandler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	switch sh, action := classify(raw); {
	case sh == shapeAPI:
		return h.serveAPI(ctx, raw, h.api)
	case sh == shapeStep && action == ActionAwait:
		var in AwaitStep
		if err := decodeStrict(raw, &in); err != nil {
			return nil, stepError(h.Broker.Reject(ctx, stepRecord(ctx), err))
		}
		req, err := h.Broker.Await(ctx, broker.AwaitInput{RequestID: in.RequestID, TaskToken: broker.Token(in.TaskToken),
			ExecutionARN: in.ExecutionARN, Source: audit.SourceStepFunctions})
		if err != nil {
			return nil, stepError(err)
		}
		return RequestState{RequestID: req.ID, State: req.State}, nil
	case sh == shapeStep && action == ActionIssue:
		var in RequestStep
		if err := decodeStrict(raw, &in); err != nil {
			return nil, stepError(h.Broker.Reject(ctx, stepRecord(ctx), err))
		}
		out, err := h.Broker.IssueApproved(ctx, broker.IssueApprovedInput{AccessRequestID: in.RequestID,
			RequestID: requestID(ctx, nil), Source: audit.SourceStepFunctions})
		if err != nil {
			return nil, stepError(err)
		}
		return out, nil
	case sh == shapeStep && action == ActionTimeout:
		var in RequestStep
		if err := decodeStrict(raw, &in); err != nil {
			return nil, stepError(h.Broker.Reject(ctx, stepRecord(ctx), err))
		}
		req, err := h.Broker.ExpireRequest(ctx, broker.ExpireRequestInput{AccessRequestID: in.RequestID,
			RequestID: requestID(ctx, nil), Source: audit.SourceStepFunctions})
		if err != nil {
			return nil, stepError(err)
		}
		return RequestState{RequestID: req.ID, State: req.State}, nil
	}
	return nil, h.refuse(ctx)
}

func (h *IssueHandler) api(ctx context.Context, req events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	raw, err := body(req)
	if err != nil {
		return respondError(h.Broker.Reject(ctx, rejected(ctx, req), err))
	}
	route := req.HTTPMethod + " " + req.Resource
	switch route {
	case "POST /access", "POST /access/{role}/extend", "GET /access", "GET /requests/{request_id}":
	default:
		return routeNotFound(ctx, h.Broker, req)
	}
	return authenticated(ctx, h.Auth, h.Broker, req, raw, func(c broker.Caller) events.APIGatewayProxyResponse {
		switch route {
		case "POST /access":
			out, err := h.Broker.Submit(ctx, broker.SubmitInput{Body: raw, Caller: c, RequestID: requestID(ctx, &req), Source: audit.SourceAPI})
			switch {
			case err != nil:
				return respondError(err)
			case out.Pending != nil:
				return respond(http.StatusAccepted, out.Pending)
			}
			return respond(http.StatusCreated, out.Grant)
		case "POST /access/{role}/extend":
			out, err := h.Broker.Extend(ctx, broker.ExtendInput{Role: req.PathParameters["role"], Body: raw, Path: req.Path,
				Caller: c, RequestID: requestID(ctx, &req), Source: audit.SourceAPI})
			switch {
			case err != nil:
				return respondError(err)
			case out.Pending != nil:
				return respond(http.StatusAccepted, out.Pending)
			}
			return respond(http.StatusOK, out.Grant)
		case "GET /requests/{request_id}":
			out, err := h.Broker.AccessRequestStatus(ctx, c, req.PathParameters["request_id"])
			if err != nil {
				return respondError(err)
			}
			return respond(http.StatusOK, out)
		}
		out, err := h.Broker.Status(ctx)
		if err != nil {
			return respondError(err)
		}
		return respond(http.StatusOK, out)
	})
}

// stepRecord is the audit record of a refused workflow step.
func stepRecord(ctx context.Context) audit.Record {
	return audit.Record{RequestID: requestID(ctx, nil), Source: audit.SourceStepFunctions}
}
