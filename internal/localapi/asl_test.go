package localapi

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestRewriteApprovalDefinition rewrites the real definition: every lambda:invoke
// task gets its .waitForTaskToken form with the token under TokenKey, the task that
// already waited keeps its own token field, and nothing else changes.
func TestRewriteApprovalDefinition(t *testing.T) {
	raw, err := os.ReadFile("../../statemachine/approval.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := Rewrite(raw)
	if err != nil {
		t.Fatalf("Rewrite(approval.asl.json) error = %v; want the definition local-api runs", err)
	}
	want := map[string]TaskPlan{
		"WaitForApproval": {TokenField: "task_token"},
		"RecordTimeout":   {Rewritten: true, TokenField: TokenKey},
		"Issue":           {Rewritten: true, TokenField: TokenKey},
		"Expire":          {Rewritten: true, TokenField: TokenKey},
	}
	if !reflect.DeepEqual(plan.Tasks, want) {
		t.Errorf("Rewrite plan = %v; want %v", plan.Tasks, want)
	}
	// Undoing the rewrite gives the original definition back, field for field.
	var got, orig map[string]any
	if err := json.Unmarshal([]byte(plan.Definition), &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &orig); err != nil {
		t.Fatal(err)
	}
	for name, tp := range plan.Tasks {
		st := got["States"].(map[string]any)[name].(map[string]any)
		payload := st["Parameters"].(map[string]any)["Payload"].(map[string]any)
		if !tp.Rewritten {
			if st["Resource"] != lambdaInvokeWait {
				t.Errorf("state %s Resource = %v; want it kept as %s", name, st["Resource"], lambdaInvokeWait)
			}
			if _, ok := payload[TokenKey+".$"]; ok {
				t.Errorf("state %s: the reserved key was added to a task that already waited", name)
			}
			continue
		}
		if st["Resource"] != lambdaInvokeWait || payload[TokenKey+".$"] != "$$.Task.Token" {
			t.Errorf("state %s = Resource %v, payload %v; want %s with %s.$ = $$.Task.Token", name, st["Resource"], payload, lambdaInvokeWait, TokenKey)
		}
		st["Resource"] = lambdaInvoke
		delete(payload, TokenKey+".$")
	}
	if !reflect.DeepEqual(got, orig) {
		t.Errorf("the rewritten definition differs from the original beyond the Lambda tasks:\n%s", plan.Definition)
	}
}

// TestRewriteRefuses: a definition with a state or Task resource the runner does not
// follow is refused with a message naming it.
func TestRewriteRefuses(t *testing.T) {
	task := func(resource, payload string) string {
		return `{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"` + resource + `","Parameters":{"FunctionName":"f","Payload":` + payload + `},"End":true}}}`
	}
	for _, tc := range []struct {
		name, def, want string
	}{
		{"unknown task resource", task("arn:aws:states:::sqs:sendMessage", `{"a":1}`), `Task resource "arn:aws:states:::sqs:sendMessage"`},
		{"legacy function ARN", task("arn:aws:lambda:us-east-1:123456789012:function:f", `{"a":1}`), "does not run the Task resource"},
		{"lambda .sync", task("arn:aws:states:::lambda:invoke.sync", `{"a":1}`), "does not run the Task resource"},
		{"map state", `{"StartAt":"M","States":{"M":{"Type":"Map","End":true}}}`, `states of type "Map"`},
		{"parallel state", `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[],"End":true}}}`, `states of type "Parallel"`},
		{"payload path", task(lambdaInvoke, `"x"`), "Payload is an object"},
		{"reserved key taken", task(lambdaInvoke, `{"`+TokenKey+`.$":"$"}`), "reserved key"},
		{"wait without token", task(lambdaInvokeWait, `{"a":1}`), "no $$.Task.Token"},
		{"no states", `{"StartAt":"A"}`, "no States"},
		{"not JSON", `{`, "not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := Rewrite([]byte(tc.def))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Rewrite(%s) = %v, %v; want an error containing %q", tc.def, plan, err, tc.want)
			}
		})
	}
}
