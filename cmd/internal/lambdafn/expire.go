package lambdafn

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

// ExpireHandler serves the expire function: the scheduled sweep (EventBridge), the
// workflow's "expire" step at a grant's expiry, and DELETE /access/{role} (revoke).
type ExpireHandler struct{ brokerHandler }

// NewExpireHandler returns the expire function's handler.
func NewExpireHandler(d *Deps) *ExpireHandler {
	return &ExpireHandler{newBrokerHandler(d, FunctionExpire)}
}

// Handle answers one event of the expire function.
func (h *ExpireHandler) Handle(ctx context.Context, raw json.RawMessage) (any, error) {
	switch sh, action := classify(raw); {
	case sh == shapeSchedule:
		var ev events.CloudWatchEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, h.refuse(ctx)
		}
		out, err := h.Broker.Sweep(ctx, ev.ID, audit.SourceSchedule)
		return out, stepError(err)
	case sh == shapeStep && action == ActionExpire:
		var in ExpireStep
		if err := decodeStrict(raw, &in); err != nil {
			return nil, stepError(h.Broker.Reject(ctx, audit.Record{RequestID: requestID(ctx, nil), Source: audit.SourceStepFunctions}, err))
		}
		// The grant's expiry arrived: the sweep takes the role back if no other grant
		// is live, and repairs anything left half done.
		out, err := h.Broker.Sweep(ctx, or(in.RequestID, requestID(ctx, nil)), audit.SourceStepFunctions)
		return out, stepError(err)
	case sh == shapeAPI:
		return h.serveAPI(ctx, raw, h.api)
	}
	return nil, h.refuse(ctx)
}

func (h *ExpireHandler) api(ctx context.Context, req events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	if req.HTTPMethod != http.MethodDelete || req.Resource != "/access/{role}" {
		return routeNotFound(ctx, h.Broker, req)
	}
	raw, err := body(req)
	if err != nil {
		return respondError(h.Broker.Reject(ctx, rejected(ctx, req), err))
	}
	return authenticated(ctx, h.Auth, h.Broker, req, raw, func(c broker.Caller) events.APIGatewayProxyResponse {
		out, err := h.Broker.Revoke(ctx, broker.RevokeInput{Role: req.PathParameters["role"], IncidentID: query(req).Get("incident_id"),
			Caller: c, RequestID: requestID(ctx, &req), Source: audit.SourceAPI})
		if err != nil {
			return respondError(err)
		}
		return respond(http.StatusOK, out)
	})
}
