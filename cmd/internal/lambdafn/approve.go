package lambdafn

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

// ApproveHandler serves the approve function: GET /approvals, the requests the caller
// may decide, and POST /approvals/{request_id}, a second person's decision. Its
// database login records decisions and nothing else; task tokens never reach people.
type ApproveHandler struct{ brokerHandler }

// NewApproveHandler returns the approve function's handler.
func NewApproveHandler(d *Deps) *ApproveHandler {
	return &ApproveHandler{newBrokerHandler(d, FunctionApprove)}
}

// Handle answers one event of the approve function.
func (h *ApproveHandler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	if sh, _ := classify(raw); sh == shapeAPI {
		return h.serveAPI(ctx, raw, h.api)
	}
	return nil, h.refuse(ctx)
}

func (h *ApproveHandler) api(ctx context.Context, req events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	raw, err := body(req)
	if err != nil {
		return respondError(h.Broker.Reject(ctx, rejected(ctx, req), err))
	}
	route := req.HTTPMethod + " " + req.Resource
	if route != "GET /approvals" && route != "POST /approvals/{request_id}" {
		return routeNotFound(ctx, h.Broker, req)
	}
	return authenticated(ctx, h.Auth, h.Broker, req, raw, func(c broker.Caller) events.APIGatewayProxyResponse {
		if route == "GET /approvals" {
			out, err := h.Broker.Pending(ctx, c, requestID(ctx, &req))
			if err != nil {
				return respondError(err)
			}
			return respond(http.StatusOK, out)
		}
		out, err := h.Broker.Decide(ctx, broker.DecideInput{AccessRequestID: req.PathParameters["request_id"], Body: raw, Caller: c,
			RequestID: requestID(ctx, &req), Source: audit.SourceAPI})
		if err != nil {
			return respondError(err)
		}
		return respond(http.StatusOK, out)
	})
}
