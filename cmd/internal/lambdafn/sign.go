package lambdafn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"

	"github.com/aws/aws-lambda-go/events"
	"github.com/ffbroker/ffbroker/identity"
)

// SignEvent puts a fresh identity proof made by s into an API Gateway event, bound to
// the event's method, path, query and body, as the ffbroker client does for a real
// call (ffbroker invoke, ffbroker event sign). Other events are returned unchanged.
func SignEvent(ctx context.Context, s *identity.Signer, raw json.RawMessage) (json.RawMessage, error) {
	var ev events.APIGatewayProxyRequest
	var generic map[string]any
	if json.Unmarshal(raw, &generic) != nil || generic["httpMethod"] == nil || generic["requestContext"] == nil {
		return raw, nil
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return raw, nil
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, errors.New("the event's body is not valid base64")
		}
		body = b
	}
	q := url.Values{}
	for k, v := range ev.QueryStringParameters {
		q.Set(k, v)
	}
	for k, vs := range ev.MultiValueQueryStringParameters {
		q[k] = vs
	}
	proof, err := s.Proof(ctx, identity.Request{Method: ev.HTTPMethod, Path: ev.Path, Query: q, Body: body})
	if err != nil {
		return nil, fmt.Errorf("sign the identity proof with your AWS credentials: %w", err)
	}
	headers, _ := generic["headers"].(map[string]any)
	if headers == nil {
		headers = map[string]any{}
	}
	headers[identity.Header] = proof
	generic["headers"] = headers
	if mv, ok := generic["multiValueHeaders"].(map[string]any); ok {
		mv[identity.Header] = []string{proof}
	}
	return json.Marshal(generic)
}
