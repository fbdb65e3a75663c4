package localapi

import (
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/uuid"
)

// Stage is the stage name local-api puts in every event's requestContext.
const Stage = "local"

// StagePrefix is the deployed API's stage: a path under it is served as the same
// path without it, so a client configured with the stack's ApiUrl (…/prod) works.
const StagePrefix = "/prod"

// MaxBodyBytes is API Gateway's payload limit for REST APIs (10 MB); a larger body
// is refused before any handler runs, as API Gateway does.
const MaxBodyBytes = 10 << 20

// match finds the route of method and the escaped path (stage removed) and returns
// it with its path parameters, URL-decoded.
func match(routes []Route, method, path string) (Route, map[string]string, bool) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, r := range routes {
		if r.Method != method && r.Method != "ANY" {
			continue
		}
		if params, ok := matchResource(r.Resource, segs); ok {
			return r, params, true
		}
	}
	return Route{}, nil, false
}

// matchResource matches the path segments against a resource such as
// /access/{role} or /files/{proxy+}.
func matchResource(resource string, segs []string) (map[string]string, bool) {
	tmpl := strings.Split(strings.TrimPrefix(resource, "/"), "/")
	params := map[string]string{}
	for i, t := range tmpl {
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "+}") {
			if i >= len(segs) {
				return nil, false
			}
			v, err := url.PathUnescape(strings.Join(segs[i:], "/"))
			if err != nil || v == "" {
				return nil, false
			}
			params[t[1:len(t)-2]] = v
			return params, true
		}
		if i >= len(segs) {
			return nil, false
		}
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			v, err := url.PathUnescape(segs[i])
			if err != nil || v == "" {
				return nil, false
			}
			params[t[1:len(t)-1]] = v
			continue
		}
		if t != segs[i] {
			return nil, false
		}
	}
	if len(tmpl) != len(segs) {
		return nil, false
	}
	if len(params) == 0 {
		return nil, true
	}
	return params, true
}

// stripStage removes the optional /prod stage prefix from an escaped path.
func stripStage(path string) string {
	if path == StagePrefix {
		return "/"
	}
	if strings.HasPrefix(path, StagePrefix+"/") {
		return strings.TrimPrefix(path, StagePrefix)
	}
	return path
}

// proxyEvent builds the event API Gateway's REST proxy integration would send for r
// on route rt: Resource is the route template, Path the request path without the
// stage, the single- and multi-valued query and headers, the body (base64 when it is
// not UTF-8) and a requestContext. RequestContext.Identity.UserArn stays empty: API
// Gateway's IAM authorization does not run here, the handlers' identity proof check
// is the check.
func proxyEvent(r *http.Request, rt Route, path string, params map[string]string, body []byte, account string, now time.Time) events.APIGatewayProxyRequest {
	ev := events.APIGatewayProxyRequest{
		Resource:       rt.Resource,
		Path:           path,
		HTTPMethod:     r.Method,
		PathParameters: params,
	}
	if len(r.Header) > 0 || r.Host != "" {
		ev.Headers, ev.MultiValueHeaders = map[string]string{}, map[string][]string{}
		if r.Host != "" {
			ev.Headers["Host"], ev.MultiValueHeaders["Host"] = r.Host, []string{r.Host}
		}
		for k, vs := range r.Header {
			if len(vs) == 0 {
				continue
			}
			ev.Headers[k] = vs[len(vs)-1]
			ev.MultiValueHeaders[k] = append([]string(nil), vs...)
		}
	}
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters, ev.MultiValueQueryStringParameters = map[string]string{}, map[string][]string{}
		for k, vs := range q {
			ev.QueryStringParameters[k] = vs[len(vs)-1]
			ev.MultiValueQueryStringParameters[k] = append([]string(nil), vs...)
		}
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	source, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		source = r.RemoteAddr
	}
	ev.RequestContext = events.APIGatewayProxyRequestContext{
		AccountID:        account,
		ResourceID:       "local",
		Stage:            Stage,
		RequestID:        uuid.NewString(),
		Identity:         events.APIGatewayRequestIdentity{SourceIP: source, UserAgent: r.UserAgent()},
		ResourcePath:     rt.Resource,
		Path:             "/" + Stage + path,
		HTTPMethod:       r.Method,
		RequestTime:      now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
		RequestTimeEpoch: now.UnixMilli(),
		APIID:            "local",
		Protocol:         r.Proto,
	}
	return ev
}

// writeResponse writes a handler's API Gateway answer to w.
func writeResponse(w http.ResponseWriter, resp events.APIGatewayProxyResponse) {
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		w.Header().Del(k)
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			writeError(w, http.StatusBadGateway, "internal", "internal error")
			return
		}
		body = b
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusBadGateway
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError answers in the API's error shape, {"error":{"code","message"}}.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(mustJSON(map[string]any{"error": map[string]string{"code": code, "message": message}}))
}
