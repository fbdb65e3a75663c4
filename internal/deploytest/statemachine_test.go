package deploytest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/ffbroker/ffbroker/internal/awstest"
)

const aslPath = "statemachine/approval.asl.json"

// loadASL returns the definition file as it is (with ${...} placeholders) and
// parsed.
func loadASL(t *testing.T) (string, map[string]any) {
	t.Helper()
	raw := string(mustRead(t, repoFile(t, aslPath)))
	var def map[string]any
	if err := json.Unmarshal([]byte(raw), &def); err != nil {
		t.Fatalf("%s is not valid JSON: %v", aslPath, err)
	}
	return raw, def
}

var placeholder = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// substitute does what CloudFormation does with DefinitionSubstitutions.
func substitute(t *testing.T, raw string, values map[string]string) string {
	t.Helper()
	return placeholder.ReplaceAllStringFunc(raw, func(m string) string {
		v, ok := values[m[2:len(m)-1]]
		if !ok {
			t.Fatalf("no value for placeholder %s", m)
		}
		return v
	})
}

// TestASLSubstitutions: the template points at the definition file and fills
// exactly the placeholders it has.
func TestASLSubstitutions(t *testing.T) {
	tpl := loadTemplate(t)
	sm := obj(t, resource(t, tpl, "ApprovalStateMachine", "AWS::Serverless::StateMachine"), "Properties")
	if got := str(t, sm, "DefinitionUri"); got != aslPath {
		t.Errorf("DefinitionUri = %q; want %q", got, aslPath)
	}
	if got := str(t, sm, "Type"); got != "STANDARD" {
		t.Errorf("Type = %q; want STANDARD (executions wait up to a day for approval and hours for expiry)", got)
	}
	group := list(at(t, sm, "Logging", "Destinations"))[0]
	ref := list(at(t, group, "CloudWatchLogsLogGroup", "LogGroupArn", "Fn::GetAtt"))[0].(string)
	resource(t, tpl, ref, "AWS::Logs::LogGroup")

	want := map[string]any{
		"IssueFunctionArn":       map[string]any{"Fn::GetAtt": []any{"IssueFunction", "Arn"}},
		"ExpireFunctionArn":      map[string]any{"Fn::GetAtt": []any{"ExpireFunction", "Arn"}},
		"ApprovalTimeoutSeconds": map[string]any{"Ref": "ApprovalTimeoutSeconds"},
	}
	if got := obj(t, sm, "DefinitionSubstitutions"); !reflect.DeepEqual(got, want) {
		t.Errorf("DefinitionSubstitutions = %v; want %v", got, want)
	}
	raw, _ := loadASL(t)
	used := map[string]any{}
	for _, m := range placeholder.FindAllStringSubmatch(raw, -1) {
		used[m[1]] = true
	}
	if got := keys(used); !slices.Equal(got, keys(want)) {
		t.Errorf("%s placeholders = %v; want exactly the substitutions %v", aslPath, got, keys(want))
	}
}

func TestASLStructure(t *testing.T) {
	_, def := loadASL(t)
	for _, err := range validateASL(def) {
		t.Error(err)
	}
}

// TestASLContract pins the workflow's states and data flow to the contract the
// handlers follow.
func TestASLContract(t *testing.T) {
	_, def := loadASL(t)
	states := obj(t, def, "States")
	state := func(name, typ string) map[string]any {
		t.Helper()
		st := obj(t, states, name)
		if got := str(t, st, "Type"); got != typ {
			t.Fatalf("state %s is a %s; want %s", name, got, typ)
		}
		return st
	}
	eq := func(what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v; want %v", what, got, want)
		}
	}

	if got := str(t, def, "StartAt"); got != "ApprovalSettings" {
		t.Errorf("StartAt = %q; want ApprovalSettings (every execution waits for a decision)", got)
	}
	eq("ApprovalSettings Next", state("ApprovalSettings", "Pass")["Next"], "WaitForApproval")

	wait := state("WaitForApproval", "Task")
	eq("WaitForApproval Resource", wait["Resource"], "arn:aws:states:::lambda:invoke.waitForTaskToken")
	eq("WaitForApproval function", at(t, wait, "Parameters", "FunctionName"), "${IssueFunctionArn}")
	// The token goes to the issue function, which keeps it in the database: never to
	// a topic people read.
	eq("WaitForApproval Payload", at(t, wait, "Parameters", "Payload"), map[string]any{
		"action": "await", "request_id.$": "$.request_id", "task_token.$": "$$.Task.Token", "execution_arn.$": "$$.Execution.Id",
	})
	eq("WaitForApproval TimeoutSecondsPath", wait["TimeoutSecondsPath"], "$.approval_settings.timeout_seconds")
	eq("ApprovalSettings Parameters", at(t, states, "ApprovalSettings", "Parameters"),
		map[string]any{"timeout_seconds.$": "States.StringToJson('${ApprovalTimeoutSeconds}')"})
	// No heartbeat: nobody heartbeats a human decision, so any HeartbeatSeconds (it
	// must be below the timeout) would only cut the approval window short.
	for _, k := range []string{"HeartbeatSeconds", "HeartbeatSecondsPath"} {
		if v, ok := wait[k]; ok {
			t.Errorf("WaitForApproval %s = %v; want none", k, v)
		}
	}
	eq("ApprovalSettings ResultPath", at(t, states, "ApprovalSettings", "ResultPath"), "$.approval_settings")
	// The decision's output carries no trust: it is dropped.
	if rp, ok := wait["ResultPath"]; !ok || rp != nil {
		t.Errorf("WaitForApproval ResultPath = %v; want null (the decision's output is not kept)", rp)
	}
	eq("WaitForApproval catchers", catchers(t, wait), map[string]string{"States.Timeout": "RecordTimeout", "States.ALL": "Denied"})
	checkRetries(t, "WaitForApproval", wait)
	eq("WaitForApproval Next", wait["Next"], "Issue")

	record := state("RecordTimeout", "Task")
	eq("RecordTimeout function", at(t, record, "Parameters", "FunctionName"), "${IssueFunctionArn}")
	eq("RecordTimeout Payload", at(t, record, "Parameters", "Payload"), map[string]any{"action": "timeout", "request_id.$": "$.request_id"})
	eq("RecordTimeout Next", record["Next"], "Denied")
	eq("Denied Error", state("Denied", "Fail")["Error"], "Denied")

	issue := state("Issue", "Task")
	eq("Issue Resource", issue["Resource"], "arn:aws:states:::lambda:invoke")
	eq("Issue Parameters", issue["Parameters"], map[string]any{"FunctionName": "${IssueFunctionArn}",
		"Payload": map[string]any{"action": "issue", "request_id.$": "$.request_id"}})
	eq("Issue ResultSelector", issue["ResultSelector"], map[string]any{
		"grant_id.$": "$.Payload.grant_id", "expires_at.$": "$.Payload.expires_at",
		"role.$": "$.Payload.role", "secret_arn.$": "$.Payload.secret_arn",
	})
	eq("Issue ResultPath", issue["ResultPath"], "$.grant")
	checkRetries(t, "Issue", issue)
	for _, e := range []string{"InvalidInputError", "ForbiddenError", "ConflictError", "States.ALL"} {
		if got := catchers(t, issue)[e]; got != "IssueFailed" {
			t.Errorf("Issue catches %s -> %q; want IssueFailed", e, got)
		}
	}
	state("IssueFailed", "Fail")
	eq("Issue Next", issue["Next"], "WaitForExpiry")

	eq("WaitForExpiry TimestampPath", state("WaitForExpiry", "Wait")["TimestampPath"], "$.grant.expires_at")
	eq("WaitForExpiry Next", states["WaitForExpiry"].(map[string]any)["Next"], "PastExpiry")
	eq("PastExpiry Next", state("PastExpiry", "Wait")["Next"], "Expire")

	expire := state("Expire", "Task")
	eq("Expire Resource", expire["Resource"], "arn:aws:states:::lambda:invoke")
	eq("Expire function", at(t, expire, "Parameters", "FunctionName"), "${ExpireFunctionArn}")
	eq("Expire Payload", at(t, expire, "Parameters", "Payload"), map[string]any{
		"action": "expire", "grant_id.$": "$.grant.grant_id", "role.$": "$.grant.role", "request_id.$": "$.request_id",
	})
	checkRetries(t, "Expire", expire)
	eq("Expire Next", expire["Next"], "Done")
	state("Done", "Succeed")
}

// catchers maps each error name a state catches to its Catch target.
func catchers(t *testing.T, st map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, c := range list(st["Catch"]) {
		for _, e := range list(at(t, c, "ErrorEquals")) {
			out[e.(string)] = str(t, c, "Next")
		}
	}
	return out
}

// checkRetries requires a Lambda step to retry what is worth retrying, with backoff.
func checkRetries(t *testing.T, name string, st map[string]any) {
	t.Helper()
	retried := map[string]bool{}
	for _, r := range list(st["Retry"]) {
		if rate, _ := at(t, r, "BackoffRate").(float64); rate <= 1 {
			t.Errorf("%s Retry %v: BackoffRate %v; want > 1", name, at(t, r, "ErrorEquals"), rate)
		}
		for _, e := range list(at(t, r, "ErrorEquals")) {
			retried[e.(string)] = true
		}
	}
	for _, e := range []string{"UnavailableError", "Lambda.ServiceException", "Lambda.TooManyRequestsException"} {
		if !retried[e] {
			t.Errorf("%s does not retry %s", name, e)
		}
	}
	for _, e := range []string{"InvalidInputError", "ForbiddenError", "NotFoundError", "ConflictError", "InternalError", "States.ALL"} {
		if retried[e] {
			t.Errorf("%s retries %s; a refusal must not be retried", name, e)
		}
	}
}

// motoDefinition is the definition with placeholders filled for moto's account and
// region, and the given approval timeout.
func motoDefinition(t *testing.T, timeoutSeconds int) string {
	t.Helper()
	raw, _ := loadASL(t)
	prefix := fmt.Sprintf("arn:aws:lambda:%s:%s:function:", awstest.Region, awstest.AccountID)
	return substitute(t, raw, map[string]string{
		"IssueFunctionArn":       prefix + "ffbroker-issue",
		"ExpireFunctionArn":      prefix + "ffbroker-expire",
		"ApprovalTopicArn":       fmt.Sprintf("arn:aws:sns:%s:%s:ffbroker-approvals", awstest.Region, awstest.AccountID),
		"ApprovalTimeoutSeconds": strconv.Itoa(timeoutSeconds),
	})
}

// TestASLOnMoto creates the state machine in moto's Step Functions, whose ASL
// parser refuses malformed definitions, and checks that it does refuse a broken copy.
func TestASLOnMoto(t *testing.T) {
	srv := moto.Get(t)
	client := sfn.NewFromConfig(srv.Config(t.Context()))
	role := fmt.Sprintf("arn:aws:iam::%s:role/ffbroker-approval", awstest.AccountID)

	def := motoDefinition(t, 3600)
	if _, err := client.CreateStateMachine(t.Context(), &sfn.CreateStateMachineInput{
		Name: aws.String("ffbroker-approval-validate"), Definition: aws.String(def), RoleArn: aws.String(role),
	}); err != nil {
		t.Fatalf("CreateStateMachine(%s) = %v; want the definition accepted", aslPath, err)
	}

	broken := strings.Replace(def, `"TimestampPath"`, `"TimestampPathh"`, 1)
	if broken == def {
		t.Fatal("the definition has no TimestampPath to break")
	}
	if _, err := client.CreateStateMachine(t.Context(), &sfn.CreateStateMachineInput{
		Name: aws.String("ffbroker-approval-broken"), Definition: aws.String(broken), RoleArn: aws.String(role),
	}); err == nil {
		t.Error("CreateStateMachine accepted a definition with an unknown field; moto is not validating (execute_state_machine off?)")
	}
}
