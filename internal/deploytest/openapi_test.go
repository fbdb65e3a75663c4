package deploytest

import (
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestOpenAPIValid(t *testing.T) {
	bin := requireTool(t, "openapi-spec-validator", "pip install openapi-spec-validator")
	out, err := run(t, time.Minute, nil, bin, "openapi.yaml")
	if err != nil {
		t.Errorf("openapi-spec-validator openapi.yaml: %v\n%s", err, out)
	}
	if !strings.HasPrefix(string(mustRead(t, repoFile(t, "openapi.yaml"))), "openapi: 3.0.") {
		t.Error("openapi.yaml does not start with `openapi: 3.0.x`; the API is described in OpenAPI 3.0")
	}
}

// TestOpenAPIValidatorCatches proves that the validation test can fail.
func TestOpenAPIValidatorCatches(t *testing.T) {
	bin := requireTool(t, "openapi-spec-validator", "pip install openapi-spec-validator")
	bad := strings.Replace(string(mustRead(t, repoFile(t, "openapi.yaml"))), "$ref: \"#/components/schemas/Grant\"", "$ref: \"#/components/schemas/NoSuchSchema\"", 1)
	path := t.TempDir() + "/openapi.yaml"
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, time.Minute, nil, bin, path); err == nil {
		t.Errorf("openapi-spec-validator accepted a $ref to a missing schema:\n%s", out)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestOpenAPIMatchesTemplate: openapi.yaml describes exactly the routes that
// template.yaml's Api events serve, every operation is signed with SigV4, and every
// error answer has the {"error":{"code","message"}} body.
func TestOpenAPIMatchesTemplate(t *testing.T) {
	spec := loadYAML(t, repoFile(t, "openapi.yaml"))
	var got []string
	for path, item := range obj(t, spec, "paths") {
		for method, op := range obj(t, item) {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			route := strings.ToUpper(method) + " " + path
			got = append(got, route)
			checkOperation(t, spec, route, obj(t, op))
		}
	}
	sort.Strings(got)
	want := keys(templateRoutes(t, loadTemplate(t)))
	if !slices.Equal(got, want) {
		t.Errorf("openapi.yaml routes = %v; template.yaml Api events = %v", got, want)
	}

	// Both at once: API Gateway's SigV4 and the functions' own identity proof.
	if got := at(t, spec, "security"); !reflect.DeepEqual(got, []any{map[string]any{"sigv4": []any{}, "identityProof": []any{}}}) {
		t.Errorf("security = %v; want [{sigv4: [], identityProof: []}] for every operation", got)
	}
	proof := obj(t, spec, "components", "securitySchemes", "identityProof")
	if str(t, proof, "in") != "header" || str(t, proof, "name") != "X-Ffb-Identity" {
		t.Errorf("securitySchemes.identityProof = %v; want the X-Ffb-Identity header", proof)
	}
	scheme := obj(t, spec, "components", "securitySchemes", "sigv4")
	for k, want := range map[string]string{"type": "apiKey", "in": "header", "name": "Authorization", "x-amazon-apigateway-authtype": "awsSigv4"} {
		if got := str(t, scheme, k); got != want {
			t.Errorf("securitySchemes.sigv4.%s = %q; want %q", k, got, want)
		}
	}
}

// The success statuses of each route, from the contract.
var successStatuses = map[string][]string{
	"POST /access":                 {"201", "202"},
	"POST /access/{role}/extend":   {"200", "202"},
	"GET /access":                  {"200"},
	"DELETE /access/{role}":        {"200"},
	"POST /approvals/{request_id}": {"200"},
	"GET /approvals":               {"200"},
	"GET /requests/{request_id}":   {"200"},
}

func checkOperation(t *testing.T, spec map[string]any, route string, op map[string]any) {
	t.Helper()
	if _, ok := op["security"]; ok {
		t.Errorf("%s overrides the global security; want SigV4 everywhere", route)
	}
	var success []string
	for status, resp := range obj(t, op, "responses") {
		if status[0] == '2' {
			success = append(success, status)
			continue
		}
		ref := str(t, resp, "$ref")
		name, ok := strings.CutPrefix(ref, "#/components/responses/")
		if !ok {
			t.Errorf("%s %s: $ref %q; want a shared error response", route, status, ref)
			continue
		}
		if got := str(t, spec, "components", "responses", name, "content", "application/json", "schema", "$ref"); got != "#/components/schemas/Error" {
			t.Errorf("%s %s: schema %q; want #/components/schemas/Error", route, status, got)
		}
	}
	sort.Strings(success)
	if want := successStatuses[route]; !slices.Equal(success, want) {
		t.Errorf("%s success statuses = %v; want %v", route, success, want)
	}
}
