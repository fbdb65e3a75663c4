package deploytest

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ffbroker/ffbroker/internal/awstest"
)

// workflow is the approval state machine running in moto, with its surroundings:
// the approvals topic (delivered raw to an SQS queue the test reads, as an approver
// would read the mail) and the two functions it invokes. moto's Lambda runs no code:
// each invocation answers with the next result queued by answerLambda.
type workflow struct {
	srv      *awstest.Server
	sfn      *sfn.Client
	sqs      *sqs.Client
	arn      string
	issueARN string
	expARN   string
}

// newWorkflow resets moto and deploys the workflow with the given approval timeout.
func newWorkflow(t *testing.T, timeoutSeconds int) *workflow {
	t.Helper()
	srv := moto.Get(t)
	ctx := t.Context()
	if err := srv.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := srv.Config(ctx)
	w := &workflow{srv: srv, sfn: sfn.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg)}

	// An SDK retry of a CreateRole that did reach a loaded moto answers EntityAlreadyExists.
	var exists *iamtypes.EntityAlreadyExistsException
	_, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{
		RoleName:                 aws.String("ffbroker-test"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","states.amazonaws.com"]},"Action":"sts:AssumeRole"}]}`),
	})
	if err != nil && !errors.As(err, &exists) {
		t.Fatal(err)
	}
	roleARN := aws.String("arn:aws:iam::" + awstest.AccountID + ":role/ffbroker-test")
	fns := lambda.NewFromConfig(cfg)
	for _, name := range []string{"ffbroker-issue", "ffbroker-expire"} {
		out, err := fns.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName:  aws.String(name),
			Runtime:       lambdatypes.RuntimeProvidedal2023,
			Architectures: []lambdatypes.Architecture{lambdatypes.ArchitectureArm64},
			Handler:       aws.String("bootstrap"),
			Role:          roleARN,
			Code:          &lambdatypes.FunctionCode{ZipFile: bootstrapZip(t)},
		})
		if err != nil {
			t.Fatal(err)
		}
		if name == "ffbroker-issue" {
			w.issueARN = aws.ToString(out.FunctionArn)
		} else {
			w.expARN = aws.ToString(out.FunctionArn)
		}
	}

	def := motoDefinition(t, timeoutSeconds)
	for placeholder, arn := range map[string]string{
		"arn:aws:lambda:us-east-1:123456789012:function:ffbroker-issue":  w.issueARN,
		"arn:aws:lambda:us-east-1:123456789012:function:ffbroker-expire": w.expARN,
	} {
		if !strings.Contains(def, placeholder) {
			t.Fatalf("the definition does not reference %s", placeholder)
		}
		def = strings.ReplaceAll(def, placeholder, arn)
	}
	sm, err := w.sfn.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("ffbroker-approval"),
		Definition: aws.String(def), RoleArn: roleARN, Type: sfntypes.StateMachineTypeStandard})
	if err != nil {
		t.Fatalf("CreateStateMachine: %v", err)
	}
	w.arn = aws.ToString(sm.StateMachineArn)
	return w
}

// bootstrapZip is a deployment package; moto stores it and never runs it.
func bootstrapZip(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	f, err := z.Create("bootstrap")
	if err == nil {
		_, err = f.Write([]byte("#!/bin/sh\n"))
	}
	if err == nil {
		err = z.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// answerLambda queues the results of the next Lambda invocations, in order.
func (w *workflow) answerLambda(t *testing.T, results ...any) {
	t.Helper()
	var encoded []string
	for _, r := range results {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		encoded = append(encoded, string(b))
	}
	body, _ := json.Marshal(map[string]any{"results": encoded, "region": awstest.Region, "account_id": awstest.AccountID})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, w.srv.Endpoint+"/moto-api/static/lambda-simple/response", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("queue Lambda results: HTTP %d", resp.StatusCode)
	}
}

// start starts an execution with the given input.
func (w *workflow) start(t *testing.T, input map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(input)
	out, err := w.sfn.StartExecution(t.Context(), &sfn.StartExecutionInput{StateMachineArn: aws.String(w.arn),
		Name: aws.String("ffb-test-" + fmt.Sprint(time.Now().UnixNano())), Input: aws.String(string(b))})
	if err != nil {
		t.Fatalf("StartExecution: %v", err)
	}
	return aws.ToString(out.ExecutionArn)
}

// token waits for the wait step to be scheduled and returns its task token, as the
// issue function receives it.
func (w *workflow) token(t *testing.T, execARN string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		h, err := w.sfn.GetExecutionHistory(t.Context(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(execARN), MaxResults: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, inv := range invocations(t, h.Events) {
			if tok, _ := inv.Payload["task_token"].(string); tok != "" {
				return tok
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("no wait step with a task token within 20s")
	return ""
}

// finish waits for the execution to end and returns its history, oldest first.
func (w *workflow) finish(t *testing.T, execARN string) []sfntypes.HistoryEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		d, err := w.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(execARN)})
		if err != nil {
			t.Fatalf("DescribeExecution: %v", err)
		}
		if d.Status != sfntypes.ExecutionStatusRunning {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("execution still RUNNING after 30s; history:\n%s", w.dump(t, execARN))
		case <-time.After(200 * time.Millisecond):
		}
	}
	h, err := w.sfn.GetExecutionHistory(t.Context(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(execARN), MaxResults: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return h.Events
}

// dump is the execution's history, one event per line: type, state, error.
func (w *workflow) dump(t *testing.T, execARN string) string {
	h, err := w.sfn.GetExecutionHistory(context.Background(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(execARN), MaxResults: 1000})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, e := range h.Events {
		fmt.Fprintf(&b, "%d %s", e.Id, e.Type)
		if d := e.StateEnteredEventDetails; d != nil {
			fmt.Fprintf(&b, " %s", aws.ToString(d.Name))
		}
		if d := e.TaskFailedEventDetails; d != nil {
			fmt.Fprintf(&b, " %s: %s", aws.ToString(d.Error), aws.ToString(d.Cause))
		}
		if d := e.ExecutionFailedEventDetails; d != nil {
			fmt.Fprintf(&b, " %s: %s", aws.ToString(d.Error), aws.ToString(d.Cause))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// outcome is how an execution ended: SUCCEEDED, or the error it failed with.
func outcome(events []sfntypes.HistoryEvent) string {
	for _, e := range events {
		switch {
		case e.Type == sfntypes.HistoryEventTypeExecutionSucceeded:
			return "SUCCEEDED"
		case e.Type == sfntypes.HistoryEventTypeExecutionFailed && e.ExecutionFailedEventDetails != nil:
			return "FAILED " + aws.ToString(e.ExecutionFailedEventDetails.Error)
		case e.Type == sfntypes.HistoryEventTypeExecutionFailed:
			return "FAILED"
		}
	}
	return "unfinished"
}

// invocation is one Lambda call the workflow scheduled.
type invocation struct {
	Function string
	Payload  map[string]any
}

// invocations lists the Lambda calls in the history, in order.
func invocations(t *testing.T, events []sfntypes.HistoryEvent) []invocation {
	t.Helper()
	var out []invocation
	for _, e := range events {
		d := e.TaskScheduledEventDetails
		if e.Type != sfntypes.HistoryEventTypeTaskScheduled || d == nil || aws.ToString(d.ResourceType) != "lambda" {
			continue
		}
		var p struct {
			FunctionName string
			Payload      map[string]any
		}
		if err := json.Unmarshal([]byte(aws.ToString(d.Parameters)), &p); err != nil {
			t.Fatalf("TaskScheduled parameters %s: %v", aws.ToString(d.Parameters), err)
		}
		out = append(out, invocation{Function: p.FunctionName, Payload: p.Payload})
	}
	return out
}

// requestID is the request the test workflows are for.
const requestID = "3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b"

// issueResult is what the issue function answers (broker.IssueOutput), expiring
// in a second so that the workflow moves on to the expire step at once.
func issueResult() map[string]any {
	return map[string]any{
		"grant_id":       requestID,
		"role":           "my_pg_firefighter_rw",
		"secret_arn":     "arn:aws:secretsmanager:us-east-1:123456789012:secret:firefighter/my-pg/my_pg_firefighter_rw-AbCdEf",
		"secret_version": "3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b",
		"expires_at":     time.Now().UTC().Add(time.Second).Format(time.RFC3339Nano),
		"reused":         false,
	}
}

func jsonRoundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestWorkflowExecutions runs the approval workflow in moto along each of its paths
// and checks what reaches the functions: only the request id (and, for the wait, the
// token and the execution's own ARN), never a requester or an approver.
func TestWorkflowExecutions(t *testing.T) {
	input := map[string]any{"request_id": requestID}
	awaitPayload := func(execARN, token string) map[string]any {
		return map[string]any{"action": "await", "request_id": requestID, "task_token": token, "execution_arn": execARN}
	}
	issuePayload := map[string]any{"action": "issue", "request_id": requestID}
	expirePayload := map[string]any{"action": "expire", "grant_id": requestID, "role": "my_pg_firefighter_rw", "request_id": requestID}
	waiting := map[string]any{"request_id": requestID, "state": "pending"}

	t.Run("approved", func(t *testing.T) {
		w := newWorkflow(t, 3600)
		w.answerLambda(t, waiting, issueResult(), map[string]any{"expired": []any{}, "repaired": []any{}})
		execARN := w.start(t, input)
		token := w.token(t, execARN)
		if _, err := w.sfn.SendTaskSuccess(t.Context(), &sfn.SendTaskSuccessInput{TaskToken: aws.String(token),
			Output: aws.String(`{"request_id":"` + requestID + `","decision":"approve"}`)}); err != nil {
			t.Fatalf("SendTaskSuccess: %v", err)
		}
		events := w.finish(t, execARN)
		if got := outcome(events); got != "SUCCEEDED" {
			t.Fatalf("execution = %s; want SUCCEEDED\n%s", got, w.dump(t, execARN))
		}
		want := []invocation{{w.issueARN, awaitPayload(execARN, token)}, {w.issueARN, issuePayload}, {w.expARN, expirePayload}}
		if got := invocations(t, events); !reflect.DeepEqual(jsonRoundTrip(t, got), jsonRoundTrip(t, want)) {
			t.Errorf("Lambda calls = %v; want %v", got, want)
		}
	})

	t.Run("denied", func(t *testing.T) {
		w := newWorkflow(t, 3600)
		w.answerLambda(t, waiting)
		execARN := w.start(t, input)
		token := w.token(t, execARN)
		if _, err := w.sfn.SendTaskFailure(t.Context(), &sfn.SendTaskFailureInput{TaskToken: aws.String(token),
			Error: aws.String("Denied"), Cause: aws.String("denied by a second person")}); err != nil {
			t.Fatalf("SendTaskFailure: %v", err)
		}
		events := w.finish(t, execARN)
		if got := outcome(events); got != "FAILED Denied" {
			t.Errorf("execution = %s; want FAILED Denied\n%s", got, w.dump(t, execARN))
		}
		if got := invocations(t, events); len(got) != 1 {
			t.Errorf("Lambda calls after a denial = %v; want only the wait step", got)
		}
	})

	t.Run("approval times out", func(t *testing.T) {
		w := newWorkflow(t, 1)
		w.answerLambda(t, waiting, map[string]any{"request_id": requestID, "state": "expired"})
		execARN := w.start(t, input)
		events := w.finish(t, execARN)
		if got := outcome(events); got != "FAILED Denied" {
			t.Errorf("execution = %s; want FAILED Denied\n%s", got, w.dump(t, execARN))
		}
		got := invocations(t, events)
		if len(got) != 2 || !reflect.DeepEqual(jsonRoundTrip(t, got[1]), jsonRoundTrip(t, invocation{w.issueARN, map[string]any{"action": "timeout", "request_id": requestID}})) {
			t.Errorf("Lambda calls = %v; want the wait step, then the timeout step with the request id", got)
		}
	})
}
