package localapi

import (
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestTemplateRoutes reads the routes from template.yaml: each Api event of a
// function, owned by that function.
func TestTemplateRoutes(t *testing.T) {
	tmpl, err := LoadTemplate("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range tmpl.Routes {
		got[r.Method+" "+r.Resource] = r.Function
	}
	for route, fn := range map[string]string{
		"POST /access": "issue", "GET /access": "issue", "GET /requests/{request_id}": "issue",
		"DELETE /access/{role}": "expire", "GET /approvals": "approve", "POST /approvals/{request_id}": "approve",
	} {
		if got[route] != fn {
			t.Errorf("LoadTemplate: route %s owned by %q; want %q (routes %v)", route, got[route], fn, got)
		}
	}
	if tmpl.Defaults["ApprovalTimeoutSeconds"] != "3600" {
		t.Errorf("ApprovalTimeoutSeconds default = %q; want 3600", tmpl.Defaults["ApprovalTimeoutSeconds"])
	}
	name, err := tmpl.resolve(tmpl.StateMachine.Name, pseudo{StackName: "st"}, nil, nil)
	if err != nil || name != "st-approval" {
		t.Errorf("state machine name = %q, %v; want st-approval", name, err)
	}
}

// TestMatch finds routes and their path parameters; other paths match nothing.
func TestMatch(t *testing.T) {
	routes := []Route{{"DELETE", "/access/{role}", "expire"}, {"GET", "/access", "issue"}, {"POST", "/access/{role}/extend", "issue"}}
	for _, tc := range []struct {
		method, path string
		want         string
		params       map[string]string
	}{
		{"GET", "/access", "/access", nil},
		{"DELETE", "/access/ro", "/access/{role}", map[string]string{"role": "ro"}},
		{"DELETE", "/access/my%20role", "/access/{role}", map[string]string{"role": "my role"}},
		{"POST", "/access/rw/extend", "/access/{role}/extend", map[string]string{"role": "rw"}},
		{"POST", "/access", "", nil},
		{"GET", "/access/ro", "", nil},
		{"DELETE", "/access/", "", nil},
		{"GET", "/nothing", "", nil},
	} {
		rt, params, ok := match(routes, tc.method, stripStage(tc.path))
		if ok != (tc.want != "") || rt.Resource != tc.want || !reflect.DeepEqual(params, tc.params) {
			t.Errorf("match(%s %s) = %v %v %v; want %q %v", tc.method, tc.path, rt, params, ok, tc.want, tc.params)
		}
	}
	for in, want := range map[string]string{"/prod/access": "/access", "/prod": "/", "/production": "/production", "/access": "/access"} {
		if got := stripStage(in); got != want {
			t.Errorf("stripStage(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestProxyEvent builds the event as API Gateway's REST proxy integration does.
func TestProxyEvent(t *testing.T) {
	r := httptest.NewRequest("DELETE", "http://127.0.0.1:3000/prod/access/ro?incident_id=INC-1&x=1&x=2", strings.NewReader(""))
	r.Header.Add("X-Multi", "a")
	r.Header.Add("X-Multi", "b")
	now := time.Unix(1700000000, 0)
	ev := proxyEvent(r, Route{"DELETE", "/access/{role}", "expire"}, "/access/ro", map[string]string{"role": "ro"}, nil, "123456789012", now)
	if ev.Resource != "/access/{role}" || ev.Path != "/access/ro" || ev.HTTPMethod != "DELETE" || ev.PathParameters["role"] != "ro" {
		t.Errorf("event = %+v; want resource, stage-less path, method and path parameters", ev)
	}
	if ev.QueryStringParameters["x"] != "2" || !reflect.DeepEqual(ev.MultiValueQueryStringParameters["x"], []string{"1", "2"}) || ev.QueryStringParameters["incident_id"] != "INC-1" {
		t.Errorf("query = %v / %v; want the last value single, all values multi", ev.QueryStringParameters, ev.MultiValueQueryStringParameters)
	}
	if ev.Headers["X-Multi"] != "b" || !reflect.DeepEqual(ev.MultiValueHeaders["X-Multi"], []string{"a", "b"}) || ev.Headers["Host"] != "127.0.0.1:3000" {
		t.Errorf("headers = %v / %v", ev.Headers, ev.MultiValueHeaders)
	}
	rc := ev.RequestContext
	if rc.Stage != Stage || rc.ResourcePath != "/access/{role}" || rc.HTTPMethod != "DELETE" || rc.RequestID == "" || rc.Identity.UserArn != "" || rc.AccountID != "123456789012" {
		t.Errorf("requestContext = %+v; want stage local, resource path, method, a request id, no userArn", rc)
	}
	bin := proxyEvent(r, Route{}, "/", nil, []byte{0xff, 0xfe}, "", now)
	if !bin.IsBase64Encoded || bin.Body != "//4=" {
		t.Errorf("binary body = %q base64 %v; want base64 //4=", bin.Body, bin.IsBase64Encoded)
	}
	text := proxyEvent(r, Route{}, "/", nil, []byte(`{"a":"é"}`), "", now)
	if text.IsBase64Encoded || text.Body != `{"a":"é"}` {
		t.Errorf("UTF-8 body = %q base64 %v; want it as is", text.Body, text.IsBase64Encoded)
	}
}
