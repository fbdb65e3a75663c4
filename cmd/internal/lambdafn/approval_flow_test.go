package lambdafn_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/cmd/internal/lambdafn"
	"github.com/ffbroker/ffbroker/internal/awstest"
	"github.com/ffbroker/ffbroker/internal/pgtest"
)

// flow is the real approval state machine (statemachine/approval.asl.json) running in
// a moto of its own, with the notification topic delivering to an SQS queue that stands
// in for the approvers' chat and mail, and the four functions built against it. moto
// cannot run Lambda code without Docker: each Lambda step's handler runs here with the
// exact input the state machine scheduled (read from the execution history).
type flow struct {
	*env
	sfn   *sfn.Client
	sqs   *sqs.Client
	queue string
	arn   string
	topic string
}

// newFlow bootstraps a role model named prefix and deploys the workflow in a new moto.
func newFlow(t *testing.T, prefix string, timeoutSeconds int) *flow {
	t.Helper()
	return newFlowWith(t, prefix, timeoutSeconds, nil)
}

// newFlowWith is newFlow with more of the functions' environment.
func newFlowWith(t *testing.T, prefix string, timeoutSeconds int, overrides map[string]string) *flow {
	t.Helper()
	ctx := context.Background()
	// A moto of its own: with moto 5.2, a StartExecution after another state machine's
	// execution ran a Lambda step answered 500.
	srv := awstest.Start(t)
	if err := srv.SetConfig(ctx, json.RawMessage(`{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}`)); err != nil {
		t.Fatal(err)
	}
	v := pgtest.Vars{Prefix: prefix, DBName: strings.ReplaceAll(prefix, "_", "-") + "-db", Flavor: "aurora"}
	if _, err := shared.Cluster.Bootstrap(ctx, v); err != nil {
		t.Fatal(err)
	}
	names := v.Model()
	for _, r := range []string{names.Broker, names.Approver} {
		if err := shared.Cluster.SetPassword(ctx, r, loginPassword(r)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := srv.Config(ctx)
	f := &flow{sfn: sfn.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg)}
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("ffbroker-notify")})
	if err != nil {
		t.Fatal(err)
	}
	q, err := f.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("inbox")})
	if err != nil {
		t.Fatal(err)
	}
	f.queue, f.topic = aws.ToString(q.QueueUrl), aws.ToString(topic.TopicArn)
	attrs, err := f.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
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
	definition := strings.NewReplacer(
		"${IssueFunctionArn}", "arn:aws:lambda:us-east-1:123456789012:function:issue",
		"${ExpireFunctionArn}", "arn:aws:lambda:us-east-1:123456789012:function:expire",
		"${ApprovalTimeoutSeconds}", fmt.Sprint(timeoutSeconds)).Replace(string(def))
	if m := regexp.MustCompile(`\$\{[A-Za-z]+\}`).FindString(definition); m != "" {
		t.Fatalf("the definition has a placeholder this test does not fill: %s", m)
	}
	sm, err := f.sfn.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("ffbroker-approval"), Definition: aws.String(definition),
		RoleArn: aws.String("arn:aws:iam::123456789012:role/ffbroker-approval")})
	if err != nil {
		t.Fatalf("create the approval state machine in moto: %v", err)
	}
	f.arn = aws.ToString(sm.StateMachineArn)
	env := map[string]string{"FFB_STATE_MACHINE_ARN": f.arn, "FFB_NOTIFY_TOPIC_ARN": aws.ToString(topic.TopicArn)}
	for k, v := range overrides {
		env[k] = v
	}
	e, err := newEnv(srv, names, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, d := range []*lambdafn.Deps{e.issue, e.expire, e.approve, e.activity} {
			d.Close(context.Background())
		}
	})
	f.env = e
	return f
}

// assumeRole gives user a session named session of role (created on first use, with
// a trust policy for the account), as AWS would for `aws sts assume-role`.
func (f *flow) assumeRole(t *testing.T, user, role, session string) string {
	t.Helper()
	ctx := context.Background()
	c := iam.NewFromConfig(f.srv.Config(ctx))
	if _, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(role)}); err != nil {
		if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role),
			AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}`)}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := sts.NewFromConfig(f.people[user]).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::123456789012:role/" + role), RoleSessionName: aws.String(session)})
	if err != nil {
		t.Fatal(err)
	}
	name := role + "/" + session
	cfg := f.srv.Config(ctx)
	cfg.Credentials = aws.NewCredentialsCache(staticCreds(out.Credentials.AccessKeyId, out.Credentials.SecretAccessKey, out.Credentials.SessionToken))
	f.people[name] = cfg
	return name
}

// submit is who's POST /access for rw, through the issue function; it returns the
// request id and the execution ARN.
func (f *flow) submit(t *testing.T, who, incident string) (string, string) {
	t.Helper()
	body, _ := json.Marshal(broker.Request{Role: "rw", IncidentID: incident, Hours: 1, Reason: "cancel stuck order"})
	out, err := lambdafn.NewIssueHandler(f.issue).Handle(context.Background(), f.sign(t, who, withBody(t, readEvent(t, "issue-api-rw.json"), string(body))))
	if err != nil {
		t.Fatal(err)
	}
	status, answer := apiAnswer(t, out)
	if status != 202 {
		t.Fatalf("POST /access rw as %s = %d %v; want 202", who, status, answer)
	}
	return fmt.Sprint(answer["request_id"]), fmt.Sprint(answer["execution_arn"])
}

// scheduled waits until the execution has scheduled a Lambda step with action and
// returns the step's payload.
func (f *flow) scheduled(t *testing.T, arn, action string) json.RawMessage {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		h, err := f.sfn.GetExecutionHistory(context.Background(), &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000})
		if err != nil {
			t.Fatal(err)
		}
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
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the workflow scheduled no %s step within 20s", action)
	return nil
}

// await runs the workflow's wait step: the issue function keeps the token and tells the
// approvers. It returns the task token, as someone reading the execution history could.
func (f *flow) await(t *testing.T, arn string) string {
	t.Helper()
	in := f.scheduled(t, arn, "await")
	if _, err := lambdafn.NewIssueHandler(f.issue).Handle(context.Background(), in); err != nil {
		t.Fatalf("wait step with the workflow's input: %v", err)
	}
	var step lambdafn.AwaitStep
	if err := json.Unmarshal(in, &step); err != nil || step.TaskToken == "" {
		t.Fatalf("wait step input %s has no task token", in)
	}
	return step.TaskToken
}

// decide is who's POST /approvals/{id} through the approve function.
func (f *flow) decide(t *testing.T, who, id, decision string) (int, map[string]any) {
	t.Helper()
	raw := readEvent(t, "approve-api.json")
	raw = []byte(strings.ReplaceAll(string(raw), "3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b", id))
	raw = withBody(t, raw, `{"decision":"`+decision+`","comment":"checked"}`)
	out, err := lambdafn.NewApproveHandler(f.approve).Handle(context.Background(), f.sign(t, who, raw))
	if err != nil {
		t.Fatal(err)
	}
	return apiAnswer(t, out)
}

// finish waits until the execution stops and returns its status and error.
func (f *flow) finish(t *testing.T, arn string) (sfntypes.ExecutionStatus, string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := f.sfn.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != sfntypes.ExecutionStatusRunning || time.Now().After(deadline) {
			return d.Status, aws.ToString(d.Error)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// inbox returns the notifications received so far: each a Chatbot custom notification.
func (f *flow) inbox(t *testing.T, want int) []lambdafn.ChatbotMessage {
	t.Helper()
	var got []lambdafn.ChatbotMessage
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < want && time.Now().Before(deadline) {
		out, err := f.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(f.queue), WaitTimeSeconds: 1, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			var c lambdafn.ChatbotMessage
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &c); err != nil || c.Version != "1.0" || c.Source != "custom" || c.Content.Title == "" {
				t.Fatalf("notification %q is not a Chatbot custom notification: %v", aws.ToString(m.Body), err)
			}
			got = append(got, c)
		}
	}
	return got
}

// rwGrants counts the rw grants in the ledger.
func (f *flow) rwGrants(t *testing.T) int {
	t.Helper()
	c, err := shared.Cluster.ConnectSuper(context.Background(), f.names.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var n int
	if err := c.QueryRow(context.Background(), `SELECT count(*) FROM db_admin.firefighter_grant WHERE role = $1`, f.names.FirefighterRW).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func withBody(t *testing.T, raw json.RawMessage, body string) json.RawMessage {
	t.Helper()
	var req events.APIGatewayProxyRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	req.Body = body
	out, _ := json.Marshal(req)
	return out
}

// The two-person rule end to end: the real workflow in moto, the functions on their
// own logins, people as moto IAM identities with their own credentials.
func TestTwoPersonRule(t *testing.T) {
	ctx := context.Background()

	t.Run("another person approves and the rw grant is issued", func(t *testing.T) {
		f := newFlow(t, "tp_ok", 3600)
		id, arn := f.submit(t, "alice", "INC-OK")
		token := f.await(t, arn)
		notes := f.inbox(t, 1)
		if len(notes) != 1 || !strings.Contains(notes[0].Content.Description, aliceARN) || !strings.Contains(strings.Join(notes[0].Content.NextSteps, " "), "ffbroker approve "+id) {
			t.Fatalf("approvers' notification = %+v; want alice's request with the approve command", notes)
		}
		if raw, _ := json.Marshal(notes); strings.Contains(string(raw), token) {
			t.Error("the approvers' notification carries the task token")
		}
		if status, body := f.decide(t, "alice", id, "approve"); status != 403 {
			t.Errorf("alice approves her own request = %d %v; want 403", status, body)
		}
		if status, body := f.decide(t, "mallory", id, "approve"); status != 403 {
			t.Errorf("mallory (not on the approvers' list) approves = %d %v; want 403", status, body)
		}
		status, body := f.decide(t, "bob", id, "approve")
		if status != 200 || body["state"] != "approved" || body["workflow_resumed"] != true {
			t.Fatalf("bob approves = %d %v; want 200, approved, workflow resumed", status, body)
		}
		out, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, f.scheduled(t, arn, "issue"))
		if err != nil {
			t.Fatalf("issue step with the workflow's input: %v", err)
		}
		grant, ok := out.(broker.IssueOutput)
		if !ok || grant.Role != f.names.FirefighterRW || grant.GrantID != id {
			t.Fatalf("issue step = %#v; want the rw grant of request %s", out, id)
		}
		var issued map[string]any
		for _, r := range f.audit.Records(t) {
			if r["event"] == "password.issued" && r["grant_id"] == id {
				issued = r
			}
		}
		if issued["requester"] != aliceARN || issued["approver"] != bobARN || issued["outcome"] != "success" {
			t.Errorf("password.issued record = %v; want requester alice, approver bob", issued)
		}
	})

	t.Run("a session of a role is no person: it neither asks for rw nor approves", func(t *testing.T) {
		f := newFlow(t, "tp_role", 3600)
		asked := f.assumeRole(t, "alice", "Engineer", "alice")
		again := f.assumeRole(t, "alice", "Engineer", "alice-2")
		if status, body := f.call(t, asked, accessEvent(t, "rw", "INC-ROLE")); status != 403 || errorCode(body) != "forbidden" {
			t.Errorf("assumed-role/Engineer/alice asks for rw = %d %v; want 403 forbidden", status, body)
		}
		id, arn := f.submit(t, "alice", "INC-ROLE")
		f.await(t, arn)
		if status, body := f.decide(t, again, id, "approve"); status != 403 || errorCode(body) != "forbidden" {
			t.Errorf("assumed-role/Engineer/alice-2 approves alice's request = %d %v; want 403 forbidden", status, body)
		}
		if f.rwGrants(t) != 0 {
			t.Error("a rw grant exists after a role session's approval")
		}
	})

	t.Run("a stolen task token resumes the workflow but issues nothing", func(t *testing.T) {
		f := newFlow(t, "tp_token", 3600)
		id, arn := f.submit(t, "alice", "INC-TOK")
		token := f.await(t, arn)
		// Whoever can read the execution history holds the token and states:SendTaskSuccess.
		if _, err := f.sfn.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token),
			Output: aws.String(`{"request_id":"` + id + `","decision":"approve","approver":"` + bobARN + `"}`)}); err != nil {
			t.Fatal(err)
		}
		before := len(f.audit.Records(t))
		_, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, f.scheduled(t, arn, "issue"))
		var forbidden *lambdafn.ForbiddenError
		if !errors.As(err, &forbidden) {
			t.Fatalf("issue step after a forged SendTaskSuccess = %v; want ForbiddenError", err)
		}
		recs := f.audit.Records(t)[before:]
		if len(recs) != 1 || recs[0]["event"] != "request.rejected" || recs[0]["error_code"] != "forbidden" {
			t.Errorf("audit records = %v; want one request.rejected (forbidden)", recs)
		}
		if f.rwGrants(t) != 0 {
			t.Error("a rw grant exists after a forged SendTaskSuccess")
		}
	})

	t.Run("an execution started by hand carries no request", func(t *testing.T) {
		f := newFlow(t, "tp_start", 3600)
		// Whoever has states:StartExecution names a requester of their choice: the input
		// carries no trust, and the wait step finds no such request in the ledger.
		const made = "00000000-0000-4000-8000-00000000beef"
		out, err := f.sfn.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(f.arn), Name: aws.String(lambdafn.ExecutionName(made)),
			Input: aws.String(`{"request_id":"` + made + `","requester":"` + aliceARN + `","approver":"` + bobARN + `"}`)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = lambdafn.NewIssueHandler(f.issue).Handle(ctx, f.scheduled(t, aws.ToString(out.ExecutionArn), "await"))
		var notFound *lambdafn.NotFoundError
		if !errors.As(err, &notFound) {
			t.Errorf("wait step of a hand-started execution = %v; want NotFoundError", err)
		}
		if f.rwGrants(t) != 0 {
			t.Error("a rw grant exists after a hand-started execution")
		}
	})

	t.Run("a direct invoke of a step cannot take over a request", func(t *testing.T) {
		f := newFlow(t, "tp_invoke", 3600)
		id, arn := f.submit(t, "alice", "INC-INV")
		f.await(t, arn)
		issue := lambdafn.NewIssueHandler(f.issue)
		forged := map[string]string{
			"another execution's wait":   `{"action":"await","request_id":"` + id + `","task_token":"forged","execution_arn":"arn:aws:states:us-east-1:123456789012:execution:ffbroker-approval:evil"}`,
			"issue with an approver":     `{"action":"issue","request_id":"` + id + `","approver":"` + bobARN + `"}`,
			"issue of a pending request": `{"action":"issue","request_id":"` + id + `"}`,
		}
		for name, in := range forged {
			if _, err := issue.Handle(ctx, json.RawMessage(in)); err == nil {
				t.Errorf("direct invoke, %s: succeeded; want refused", name)
			}
		}
		if f.rwGrants(t) != 0 {
			t.Error("a rw grant exists after direct invokes")
		}
		if status, body := f.decide(t, "bob", id, "approve"); status != 200 || body["workflow_resumed"] != true {
			t.Errorf("bob approves after the forgeries = %d %v; want the real workflow resumed (its token kept)", status, body)
		}
	})

	t.Run("denied", func(t *testing.T) {
		f := newFlow(t, "tp_deny", 3600)
		id, arn := f.submit(t, "alice", "INC-DENY")
		f.await(t, arn)
		if status, body := f.decide(t, "bob", id, "deny"); status != 200 || body["state"] != "denied" {
			t.Fatalf("bob denies = %d %v; want 200 denied", status, body)
		}
		if status, errName := f.finish(t, arn); status != sfntypes.ExecutionStatusFailed || errName != "Denied" {
			t.Errorf("execution = %s %s; want FAILED Denied", status, errName)
		}
		if status, body := f.decide(t, "carol", id, "approve"); status != 409 {
			t.Errorf("carol approves a denied request = %d %v; want 409", status, body)
		}
	})

	t.Run("nobody decides in time", func(t *testing.T) {
		f := newFlow(t, "tp_late", 1)
		id, arn := f.submit(t, "alice", "INC-LATE")
		f.await(t, arn)
		out, err := lambdafn.NewIssueHandler(f.issue).Handle(ctx, f.scheduled(t, arn, "timeout"))
		if err != nil {
			t.Fatalf("timeout step: %v", err)
		}
		if got := out.(lambdafn.RequestState); got.RequestID != id {
			t.Errorf("timeout step = %v; want request %s", got, id)
		}
		if status, errName := f.finish(t, arn); status != sfntypes.ExecutionStatusFailed || errName != "Denied" {
			t.Errorf("execution = %s %s; want FAILED Denied", status, errName)
		}
	})
}

func staticCreds(id, secret, token *string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: aws.ToString(id), SecretAccessKey: aws.ToString(secret), SessionToken: aws.ToString(token)}, nil
	})
}
