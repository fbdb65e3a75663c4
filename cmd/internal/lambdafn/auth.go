package lambdafn

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/identity"
)

// Authenticator finds who is calling an API route: the identity proof in the call is
// checked (bound to this deployment and this exact request, fresh) and forwarded to
// STS, and the caller is STS's answer. API Gateway's own requestContext.identity is a
// cross-check only: when it names someone, it must name the same principal.
type Authenticator struct {
	Verifier *identity.Verifier
	// Approvers is the approvers' allowlist (FFB_APPROVERS).
	Approvers identity.Patterns
}

// Caller verifies the proof of req, whose decoded body is body.
func (a Authenticator) Caller(ctx context.Context, req events.APIGatewayProxyRequest, body []byte) (broker.Caller, error) {
	if a.Verifier == nil {
		return broker.Caller{}, broker.Errorf(broker.CodeInternal, "no identity verifier configured")
	}
	proof := header(req, identity.Header)
	if proof == "" {
		return broker.Caller{}, broker.Errorf(broker.CodeUnauthenticated,
			"the call carries no identity proof (header %s); call the API with the ffbroker client", identity.Header)
	}
	c, err := a.Verifier.Verify(ctx, proof, identity.Request{Method: req.HTTPMethod, Path: req.Path, Query: query(req), Body: body})
	if err != nil {
		code := broker.CodeUnauthenticated
		if identity.ReasonOf(err) == identity.ReasonUnavailable {
			code = broker.CodeUnavailable
		}
		msg := "the identity proof was refused"
		var ie *identity.Error
		if errors.As(err, &ie) && ie.Message != "" {
			msg += ": " + ie.Message
		}
		return broker.Caller{}, &broker.Error{Code: code, Op: "verify identity", Message: msg, Err: err}
	}
	if gw := req.RequestContext.Identity.UserArn; gw != "" && gw != c.ARN {
		return broker.Caller{}, broker.Errorf(broker.CodeUnauthenticated, "the identity proof names another caller than the one API Gateway verified")
	}
	return broker.Caller{ARN: c.ARN, Key: c.Principal.Key, CanApprove: a.Approvers.Match(c.Principal)}, nil
}

// header returns the value of the named header, whatever its case.
func header(req events.APIGatewayProxyRequest, name string) string {
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, v := range req.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// query is the request's query string as the client sent it.
func query(req events.APIGatewayProxyRequest) url.Values {
	q := url.Values{}
	if len(req.MultiValueQueryStringParameters) > 0 {
		for k, vs := range req.MultiValueQueryStringParameters {
			q[k] = append([]string(nil), vs...)
		}
		return q
	}
	for k, v := range req.QueryStringParameters {
		q.Set(k, v)
	}
	return q
}

// authenticated runs fn for a verified caller, or answers 401 with a
// request.rejected audit record.
func authenticated(ctx context.Context, a Authenticator, b *broker.Broker, req events.APIGatewayProxyRequest, body []byte,
	fn func(broker.Caller) events.APIGatewayProxyResponse) events.APIGatewayProxyResponse {
	c, err := a.Caller(ctx, req, body)
	if err != nil {
		b.Reject(ctx, rejected(ctx, req), err)
		resp := respondError(err)
		if resp.StatusCode == http.StatusUnauthorized {
			resp.Headers["WWW-Authenticate"] = "FFBroker-IAM"
		}
		return resp
	}
	return fn(c)
}
