package deploytest

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
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
	queueURL string
	arn      string
	issueARN string
	expARN   string
}

// newWorkflow resets moto and deploys the workflow with the given approval timeout.
func newWorkflow(t *testing.T, timeoutSeconds int) *workflow {
	t.Helper()
	srv := awstest.Require(t, moto.srv, moto.err)
	ctx := t.Context()
	if err := srv.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := srv.Config(ctx)
	w := &workflow{srv: srv, sfn: sfn.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg)}

	role, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{
		RoleName:                 aws.String("ffbroker-test"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","states.amazonaws.com"]},"Action":"sts:AssumeRole"}]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	fns := lambda.NewFromConfig(cfg)
	for _, name := range []string{"ffbroker-issue", "ffbroker-expire"} {
		out, err := fns.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName:  aws.String(name),
			Runtime:       lambdatypes.RuntimeProvidedal2023,
			Architectures: []lambdatypes.Architecture{lambdatypes.ArchitectureArm64},
			Handler:       aws.String("bootstrap"),
			Role:          role.Role.Arn,
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

	topics := sns.NewFromConfig(cfg)
	topic, err := topics.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("ffbroker-approvals")})
	if err != nil {
		t.Fatal(err)
	}
	queue, err := w.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("ffbroker-approvers")})
	if err != nil {
		t.Fatal(err)
	}
	w.queueURL = aws.ToString(queue.QueueUrl)
	queueARN := fmt.Sprintf("arn:aws:sqs:%s:%s:ffbroker-approvers", awstest.Region, awstest.AccountID)
	if _, err := topics.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(queueARN), Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}

	def := motoDefinition(t, timeoutSeconds)
	for placeholder, arn := range map[string]string{
		"arn:aws:lambda:us-east-1:123456789012:function:ffbroker-issue":  w.issueARN,
		"arn:aws:lambda:us-east-1:123456789012:function:ffbroker-expire": w.expARN,
		"arn:aws:sns:us-east-1:123456789012:ffbroker-approvals":          aws.ToString(topic.TopicArn),
	} {
		if !strings.Contains(def, placeholder) {
			t.Fatalf("the definition does not reference %s", placeholder)
		}
		def = strings.ReplaceAll(def, placeholder, arn)
	}
	sm, err := w.sfn.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("ffbroker-approval"),
		Definition: aws.String(def), RoleArn: role.Role.Arn, Type: sfntypes.StateMachineTypeStandard})
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

// approvalMessage waits for the message the workflow published for approvers.
func (w *workflow) approvalMessage(t *testing.T) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out, err := w.sqs.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.queueURL),
			MaxNumberOfMessages: 1, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			continue
		}
		var msg map[string]any
		if err := json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &msg); err != nil {
			t.Fatalf("approval message %q is not a JSON object: %v", aws.ToString(out.Messages[0].Body), err)
		}
		return msg
	}
	t.Fatal("no approval message on the approvals topic within 20s")
	return nil
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

// The execution input the issue function starts a workflow with.
func workflowInput(needsApproval any) map[string]any {
	in := map[string]any{
		"request":    map[string]any{"role": "rw", "incident_id": "INC-1234", "hours": 1, "reason": "cancel stuck order ORD-1001"},
		"requester":  "arn:aws:iam::123456789012:user/alice",
		"request_id": "req-1",
		"grant_id":   "3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b",
	}
	if needsApproval != nil {
		in["needs_approval"] = needsApproval
	}
	return in
}

// issueResult is what the issue function answers (broker.IssueOutput), expiring
// in a second so that the workflow moves on to the expire step at once.
func issueResult() map[string]any {
	return map[string]any{
		"grant_id":       "3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b",
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
// and checks what reaches the approvers and the functions.
func TestWorkflowExecutions(t *testing.T) {
	in := workflowInput(true)
	issuePayload := map[string]any{"action": "issue", "request": in["request"], "requester": in["requester"],
		"grant_id": in["grant_id"], "request_id": in["request_id"]}
	approvedPayload := map[string]any{"approver": "arn:aws:iam::123456789012:user/bob"}
	for k, v := range issuePayload {
		approvedPayload[k] = v
	}
	expirePayload := map[string]any{"action": "expire", "grant_id": in["grant_id"], "role": "my_pg_firefighter_rw", "request_id": "req-1"}

	t.Run("no approval needed", func(t *testing.T) {
		w := newWorkflow(t, 3600)
		w.answerLambda(t, issueResult(), map[string]any{"expired": []any{}, "repaired": []any{}})
		execARN := w.start(t, workflowInput(false))
		events := w.finish(t, execARN)
		if got := outcome(events); got != "SUCCEEDED" {
			t.Fatalf("execution = %s; want SUCCEEDED\n%s", got, w.dump(t, execARN))
		}
		want := []invocation{{w.issueARN, issuePayload}, {w.expARN, expirePayload}}
		if got := invocations(t, events); !reflect.DeepEqual(jsonRoundTrip(t, got), jsonRoundTrip(t, want)) {
			t.Errorf("Lambda calls = %v; want %v (no approver without an approval)", got, want)
		}
	})

	t.Run("approved", func(t *testing.T) {
		w := newWorkflow(t, 3600)
		execARN := w.start(t, in)
		msg := w.approvalMessage(t)
		token, _ := msg["task_token"].(string)
		if token == "" {
			t.Fatalf("approval message %v has no task_token", msg)
		}
		delete(msg, "task_token")
		want := map[string]any{"execution_arn": execARN, "role": "rw", "incident_id": "INC-1234",
			"requester": in["requester"], "reason": "cancel stuck order ORD-1001", "hours": 1}
		if !reflect.DeepEqual(msg, jsonRoundTrip(t, want)) {
			t.Errorf("approval message = %v; want %v plus task_token", msg, want)
		}

		w.answerLambda(t, issueResult(), map[string]any{"expired": []any{}, "repaired": []any{}})
		if _, err := w.sfn.SendTaskSuccess(t.Context(), &sfn.SendTaskSuccessInput{TaskToken: aws.String(token),
			Output: aws.String(`{"approver":"arn:aws:iam::123456789012:user/bob","comment":"checked"}`)}); err != nil {
			t.Fatalf("SendTaskSuccess: %v", err)
		}
		events := w.finish(t, execARN)
		if got := outcome(events); got != "SUCCEEDED" {
			t.Fatalf("execution = %s; want SUCCEEDED\n%s", got, w.dump(t, execARN))
		}
		wantCalls := []invocation{{w.issueARN, approvedPayload}, {w.expARN, expirePayload}}
		if got := invocations(t, events); !reflect.DeepEqual(jsonRoundTrip(t, got), jsonRoundTrip(t, wantCalls)) {
			t.Errorf("Lambda calls = %v; want %v", got, wantCalls)
		}
	})

	t.Run("denied", func(t *testing.T) {
		w := newWorkflow(t, 3600)
		execARN := w.start(t, in)
		token, _ := w.approvalMessage(t)["task_token"].(string)
		if _, err := w.sfn.SendTaskFailure(t.Context(), &sfn.SendTaskFailureInput{TaskToken: aws.String(token),
			Error: aws.String("Denied"), Cause: aws.String("denied by a second person")}); err != nil {
			t.Fatalf("SendTaskFailure: %v", err)
		}
		events := w.finish(t, execARN)
		if got := outcome(events); got != "FAILED Denied" {
			t.Errorf("execution = %s; want FAILED Denied\n%s", got, w.dump(t, execARN))
		}
		if got := invocations(t, events); len(got) != 0 {
			t.Errorf("Lambda calls after a denial = %v; want none", got)
		}
	})

	t.Run("approval times out", func(t *testing.T) {
		w := newWorkflow(t, 1)
		w.answerLambda(t, map[string]any{"denied": true, "reason": "timeout"})
		execARN := w.start(t, in)
		events := w.finish(t, execARN)
		if got := outcome(events); got != "FAILED Denied" {
			t.Errorf("execution = %s; want FAILED Denied\n%s", got, w.dump(t, execARN))
		}
		want := []invocation{{w.issueARN, map[string]any{"action": "deny", "reason": "timeout", "request": in["request"],
			"requester": in["requester"], "request_id": in["request_id"], "grant_id": in["grant_id"]}}}
		if got := invocations(t, events); !reflect.DeepEqual(jsonRoundTrip(t, got), jsonRoundTrip(t, want)) {
			t.Errorf("Lambda calls = %v; want %v", got, want)
		}
	})

	for name, flag := range map[string]any{"no needs_approval": nil, "needs_approval is a string": "false"} {
		t.Run(name+" waits for approval", func(t *testing.T) {
			w := newWorkflow(t, 3600)
			execARN := w.start(t, workflowInput(flag))
			token, _ := w.approvalMessage(t)["task_token"].(string)
			if _, err := w.sfn.SendTaskFailure(t.Context(), &sfn.SendTaskFailureInput{TaskToken: aws.String(token),
				Error: aws.String("Denied")}); err != nil {
				t.Fatalf("SendTaskFailure: %v", err)
			}
			if got := outcome(w.finish(t, execARN)); got != "FAILED Denied" {
				t.Errorf("execution = %s; want FAILED Denied", got)
			}
		})
	}
}
