package lambdafn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
	"github.com/ffbroker/ffbroker/internal/awstest"
)

// workflow is the real approval state machine running in moto, its approvals topic
// delivering to an SQS queue that stands in for the approvers' inbox. moto cannot run
// Lambda without Docker: it answers Lambda tasks with their own input, and each step's
// handler is tested directly with the input the state machine gave it.
type workflow struct {
	sfn   *sfn.Client
	sqs   *sqs.Client
	queue string
	arn   string
}

func newWorkflow(t *testing.T, srv *awstest.Server, name string, timeoutSeconds int) *workflow {
	t.Helper()
	ctx := context.Background()
	if err := srv.SetConfig(ctx, json.RawMessage(`{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}`)); err != nil {
		t.Fatal(err)
	}
	cfg := srv.Config(ctx)
	w := &workflow{sfn: sfn.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg)}
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	q, err := w.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	w.queue = aws.ToString(q.QueueUrl)
	attrs, err := w.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sns.NewFromConfig(cfg).Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes["QueueArn"]), Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}
	def, err := os.ReadFile("../../../statemachine/approval.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	definition := strings.NewReplacer("${ApprovalTopicArn}", aws.ToString(topic.TopicArn),
		"${IssueFunctionArn}", "arn:aws:lambda:us-east-1:123456789012:function:issue",
		"${ExpireFunctionArn}", "arn:aws:lambda:us-east-1:123456789012:function:expire",
		"${ApprovalTimeoutSeconds}", fmt.Sprint(timeoutSeconds)).Replace(string(def))
	sm, err := w.sfn.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String(name), Definition: aws.String(definition),
		RoleArn: aws.String("arn:aws:iam::123456789012:role/ffbroker-approval")})
	if err != nil {
		t.Fatalf("create the approval state machine in moto: %v", err)
	}
	w.arn = aws.ToString(sm.StateMachineArn)
	return w
}

// token waits for the approval request in the inbox and returns its task token.
func (w *workflow) token(t *testing.T) (string, map[string]any) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out, err := w.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.queue), WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			var msg map[string]any
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &msg); err == nil && msg["task_token"] != nil {
				return fmt.Sprint(msg["task_token"]), msg
			}
		}
	}
	t.Fatal("no approval request arrived")
	return "", nil
}

// finish waits until the execution stops and returns its status, error and the
// states it entered.
func (w *workflow) finish(t *testing.T, arn string) (sfntypes.ExecutionStatus, string, []string, *sfn.GetExecutionHistoryOutput) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := w.sfn.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != sfntypes.ExecutionStatusRunning || time.Now().After(deadline) {
			h, err := w.sfn.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000})
			if err != nil {
				t.Fatal(err)
			}
			var path []string
			for _, ev := range h.Events {
				if ev.StateEnteredEventDetails != nil {
					path = append(path, aws.ToString(ev.StateEnteredEventDetails.Name))
				}
			}
			return d.Status, aws.ToString(d.Error), path, h
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// taskInput returns the Lambda payload the state machine scheduled for a step.
func taskInput(t *testing.T, h *sfn.GetExecutionHistoryOutput, action string) json.RawMessage {
	t.Helper()
	for _, ev := range h.Events {
		if ev.Type != sfntypes.HistoryEventTypeTaskScheduled || ev.TaskScheduledEventDetails == nil {
			continue
		}
		var p struct {
			Payload json.RawMessage `json:"Payload"`
		}
		var step struct {
			Action string `json:"action"`
		}
		if json.Unmarshal([]byte(aws.ToString(ev.TaskScheduledEventDetails.Parameters)), &p) == nil &&
			json.Unmarshal(p.Payload, &step) == nil && step.Action == action {
			return p.Payload
		}
	}
	t.Fatalf("no %s step was scheduled", action)
	return nil
}

// approvalEvent is events/approve-api.json with the token and the caller replaced.
func approvalEvent(t *testing.T, file, token, decision, user string) json.RawMessage {
	t.Helper()
	var req events.APIGatewayProxyRequest
	if err := json.Unmarshal(readEvent(t, file), &req); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(lambdafn.Decision{TaskToken: token, Decision: decision, Comment: "checked"})
	req.Body = string(b)
	req.RequestContext.Identity.UserArn = "arn:aws:iam::123456789012:user/" + user
	raw, _ := json.Marshal(req)
	return raw
}

func TestApprovalWorkflow(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		timeout  int
		decide   func(t *testing.T, h lambdafn.Handler, token string)
		status   sfntypes.ExecutionStatus
		errName  string
		path     []string // states that must have been entered, in order
		stepName string   // the Lambda step whose input is then run through its handler
	}{
		{"approve", 3600, func(t *testing.T, h lambdafn.Handler, token string) {
			out, err := h(ctx, approvalEvent(t, "approve-api.json", token, "approve", "bob"))
			if status, body := apiAnswer(t, out); err != nil || status != 200 || body["decision"] != "approve" {
				t.Fatalf("bob approves = %d %v, %v; want 200 approve", status, body, err)
			}
		}, "", "", []string{"NeedsApproval", "WaitForApproval", "PrepareApprovedIssue", "Issue"}, "issue"},
		{"deny", 3600, func(t *testing.T, h lambdafn.Handler, token string) {
			out, err := h(ctx, approvalEvent(t, "approve-api.json", token, "deny", "bob"))
			if status, body := apiAnswer(t, out); err != nil || status != 200 || body["decision"] != "deny" {
				t.Fatalf("bob denies = %d %v, %v; want 200 deny", status, body, err)
			}
		}, sfntypes.ExecutionStatusFailed, "Denied", []string{"NeedsApproval", "WaitForApproval", "Denied"}, ""},
		{"timeout", 2, func(t *testing.T, h lambdafn.Handler, token string) {},
			sfntypes.ExecutionStatusFailed, "Denied", []string{"NeedsApproval", "WaitForApproval", "RecordTimeout", "Denied"}, "deny"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := sharedEnv(t)
			// A moto of its own for each workflow: with moto 5.2, a StartExecution after
			// another state machine's execution ran a Lambda stand-in step answered 500.
			w := newWorkflow(t, awstest.Start(t), fmt.Sprintf("ffbroker-approval-%d", i), tc.timeout)
			issue, approve := lambdafn.NewIssueHandler(e.deps), lambdafn.NewApproveHandler(e.deps)
			issue.Workflow, issue.StateMachineARN = w.sfn, w.arn
			approve.Workflow, approve.StateMachineARN = w.sfn, w.arn
			incident := fmt.Sprintf("INC-W%d", i)
			out, pending, err := issue.Submit(ctx, broker.IssueInput{Request: broker.Request{Role: "rw", IncidentID: incident, Reason: "fix"},
				Requester: "arn:aws:iam::123456789012:user/alice", RequestID: "req-w"})
			if err != nil || pending == nil {
				t.Fatalf("Submit(rw) = %+v, %+v, %v; want pending", out, pending, err)
			}
			token, msg := w.token(t)
			if msg["requester"] != "arn:aws:iam::123456789012:user/alice" || msg["incident_id"] != incident || msg["role"] != "rw" {
				t.Errorf("approval message = %v; want alice's rw request for %s", msg, incident)
			}

			// Refusals first: they must leave the workflow waiting.
			selfOut, _ := approve.Handle(ctx, approvalEvent(t, "invalid/approve-api-self.json", token, "approve", "alice"))
			if status, body := apiAnswer(t, selfOut); status != 403 {
				t.Errorf("alice approves her own request = %d %v; want 403", status, body)
			}
			unknown, _ := approve.Handle(ctx, approvalEvent(t, "approve-api.json", "not-a-token-any-workflow-waits-on", "approve", "bob"))
			if status, body := apiAnswer(t, unknown); status != 404 {
				t.Errorf("unknown token = %d %v; want 404", status, body)
			}

			tc.decide(t, approve.Handle, token)
			status, errName, path, hist := w.finish(t, pending.ExecutionARN)
			if tc.status != "" && (status != tc.status || errName != tc.errName) {
				t.Errorf("execution = %s %s; want %s %s (path %v)", status, errName, tc.status, tc.errName, path)
			}
			if !inOrder(path, tc.path) {
				t.Errorf("path = %v; want %v in order", path, tc.path)
			}
			if tc.stepName == "" {
				return
			}
			// The step's handler with the very input Step Functions gave it.
			in := taskInput(t, hist, tc.stepName)
			res, err := issue.Handle(ctx, in)
			if err != nil {
				t.Fatalf("%s step with the workflow's input: %v", tc.stepName, err)
			}
			switch got := res.(type) {
			case broker.IssueOutput:
				var step lambdafn.WorkflowInput
				_ = json.Unmarshal(in, &step)
				if step.Approver != "arn:aws:iam::123456789012:user/bob" || got.Role != e.names.FirefighterRW {
					t.Errorf("issue step input approver %q, answer %+v; want bob and rw", step.Approver, got)
				}
			case lambdafn.DenyAnswer:
				if got.Reason != "timeout" {
					t.Errorf("deny step = %+v; want reason timeout", got)
				}
			}
		})
	}
}

func inOrder(path, want []string) bool {
	i := 0
	for _, p := range path {
		if i < len(want) && p == want[i] {
			i++
		}
	}
	return i == len(want)
}
