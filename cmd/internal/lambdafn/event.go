package lambdafn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

// shape is the kind of event a handler received.
type shape int

const (
	shapeUnknown shape = iota
	shapeAPI
	shapeStep
	shapeSchedule
)

// probe holds the fields that tell the event shapes apart.
type probe struct {
	HTTPMethod     *string          `json:"httpMethod"`
	RequestContext *json.RawMessage `json:"requestContext"`
	Action         *string          `json:"action"`
	DetailType     *string          `json:"detail-type"`
	Source         *string          `json:"source"`
}

// classify tells which shape raw has; the action of a Step Functions input is
// returned with it.
func classify(raw json.RawMessage) (shape, string) {
	var p probe
	if err := json.Unmarshal(raw, &p); err != nil {
		return shapeUnknown, ""
	}
	switch {
	case p.HTTPMethod != nil && p.RequestContext != nil:
		return shapeAPI, ""
	case p.DetailType != nil && *p.DetailType == "Scheduled Event" && p.Source != nil && *p.Source == "aws.events":
		return shapeSchedule, ""
	case p.Action != nil && p.HTTPMethod == nil:
		return shapeStep, *p.Action
	}
	return shapeUnknown, ""
}

// decodeStrict decodes a Step Functions input into v, refusing unknown fields.
func decodeStrict(raw json.RawMessage, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return broker.Errorf(broker.CodeInvalidRequest, "the event does not have the expected fields")
	}
	return nil
}

// rejected is the audit record of a refused API call, before anyone is verified.
func rejected(ctx context.Context, req events.APIGatewayProxyRequest) audit.Record {
	return audit.Record{RequestID: requestID(ctx, &req), Source: audit.SourceAPI}
}

// body returns the request body, decoding base64 when API Gateway encoded it, and
// refusing bodies over broker.MaxBodyBytes.
func body(req events.APIGatewayProxyRequest) ([]byte, error) {
	b := []byte(req.Body)
	if req.IsBase64Encoded {
		d, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			return nil, broker.Errorf(broker.CodeInvalidRequest, "the body is not valid base64")
		}
		b = d
	}
	if len(b) > broker.MaxBodyBytes {
		return nil, broker.Errorf(broker.CodeBodyTooLarge, "request body is too large")
	}
	return b, nil
}

// requestID is the Lambda request id, or the API Gateway one.
func requestID(ctx context.Context, req *events.APIGatewayProxyRequest) string {
	if req != nil && req.RequestContext.RequestID != "" {
		return req.RequestContext.RequestID
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		return lc.AwsRequestID
	}
	return ""
}

// errorBody is the API's error answer (DESIGN.md, Typed refusals).
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// respond encodes v as a JSON API answer.
func respond(status int, v any) events.APIGatewayProxyResponse {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
	}
	return events.APIGatewayProxyResponse{StatusCode: status, Body: string(b),
		Headers: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}}
}

// respondError answers with the error's code and user-facing message only; a
// failure on the service's side (a 5xx answer) is also logged with its
// category and sanitized cause (logFailure).
func respondError(err error) events.APIGatewayProxyResponse {
	var e errorBody
	code := broker.ErrorCode(err)
	if httpStatus(code) >= http.StatusInternalServerError {
		logFailure(slog.Default(), err)
	}
	e.Error.Code, e.Error.Message = string(code), broker.ErrorMessage(err)
	if httpStatus(code) == http.StatusInternalServerError {
		e.Error.Code = string(broker.CodeInternal)
	}
	return respond(httpStatus(code), e)
}

// rejecter records a refused event (the broker, or sinkRejecter where there is none).
type rejecter interface {
	Reject(ctx context.Context, rec audit.Record, err error) error
}

// brokerHandler is what the handlers of the issue, expire and approve functions
// share: the broker, the authenticator of API callers, and the function's name.
type brokerHandler struct {
	Broker *broker.Broker
	Auth   Authenticator
	fn     Function
}

func newBrokerHandler(d *Deps, fn Function) brokerHandler {
	return brokerHandler{Broker: d.Broker, Auth: d.Authenticator(), fn: fn}
}

// refuse refuses an event of the wrong shape for the function (see unsupported).
func (h brokerHandler) refuse(ctx context.Context) error {
	return unsupported(ctx, h.Broker, string(h.fn))
}

// serveAPI decodes raw as an API Gateway event and answers it with api.
func (h brokerHandler) serveAPI(ctx context.Context, raw json.RawMessage,
	api func(context.Context, events.APIGatewayProxyRequest) events.APIGatewayProxyResponse) (any, error) {
	var req events.APIGatewayProxyRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, h.refuse(ctx)
	}
	return api(ctx, req), nil
}

// unsupported refuses an event of the wrong shape, with an audit record.
func unsupported(ctx context.Context, b rejecter, fn string) error {
	err := broker.Errorf(broker.CodeInvalidRequest, "the %s function does not accept this event", fn)
	b.Reject(ctx, audit.Record{RequestID: requestID(ctx, nil), Source: audit.SourceStepFunctions}, err)
	return &InvalidInputError{Message: broker.ErrorMessage(err)}
}

// routeNotFound answers an API route this function does not serve.
func routeNotFound(ctx context.Context, b rejecter, req events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	err := broker.Errorf(broker.CodeNotFound, "no such route")
	b.Reject(ctx, rejected(ctx, req), err)
	return respondError(err)
}
