// Command demo walks ffbroker's incident story end to end on this machine: it starts a
// throwaway Aurora-like PostgreSQL and moto_server, bootstraps the role model as the
// master user, and drives bin/ffbroker (the same handlers the Lambdas run) through an
// incident with two real IAM users in moto: alice gets read-only access; her
// read-write request waits in the request ledger while the approval workflow runs in
// moto's Step Functions; she cannot approve it herself; bob approves it as the approve
// function (its own database login); the workflow's issue step issues against the
// approved request; then a data fix, revoke with a live session, the expiry sweep and
// the audit trail. Everything it started is stopped at the end, also on Ctrl-C or
// failure. Run it with make demo.
package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/ffbroker/ffbroker/internal/awstest"
	"github.com/ffbroker/ffbroker/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

const (
	incident         = "INC-4242"
	brokerPassword   = "demo-broker-password-not-for-production-0123"
	approverPassword = "demo-approver-password-not-for-production-0123"
	approverLogin    = "my_pg_password_approver"
	auditGroup       = "/ffbroker/audit"
	// issueFunction runs a workflow step as the issue function would: with the
	// function's own AWS credentials, not a person's.
	issueFunction = "issue function"
	// schedule runs the sweep as EventBridge's schedule invokes the expire function.
	schedule = "schedule"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "\nDEMO FAILED: %v\n", err)
		os.Exit(1)
	}
	fmt.Println("\nDEMO COMPLETE: every step above ran for real; everything started was stopped.")
}

// demo is the running environment.
type demo struct {
	ctx     context.Context
	cluster *pgtest.Cluster
	moto    *awstest.Server
	awsCfg  aws.Config
	bin     string
	keys    map[string][2]string // user -> access key id, secret
	arns    map[string]string    // user -> IAM user ARN
	env     []string
	inbox   string // the approvers' inbox (SQS queue URL)
	// stateMachine is the approval workflow's ARN.
	stateMachine string
	step         int
	seen         []string // passwords seen by the demo, searched for in the audit trail
	token        string   // the workflow's task token, searched for in the audit trail
}

func (d *demo) heading(s string) {
	d.step++
	fmt.Printf("\n== %d. %s\n", d.step, s)
}

func run(ctx context.Context) error {
	root, err := filepath.Abs(".")
	if err != nil {
		return err
	}
	d := &demo{ctx: ctx, bin: filepath.Join(root, "bin", "ffbroker"), keys: map[string][2]string{}, arns: map[string]string{}}
	if _, err := os.Stat(d.bin); err != nil {
		return fmt.Errorf("build the CLI first (make demo does): %w", err)
	}

	d.heading("Start a throwaway Aurora-like PostgreSQL (NOSUPERUSER master, rds_* roles) and moto_server")
	if d.cluster, err = pgtest.New(ctx, pgtest.Options{}); err != nil {
		return err
	}
	defer d.cluster.Close()
	fmt.Printf("PostgreSQL %d on %s:%d, server log %s\n", d.cluster.Major, d.cluster.Host, d.cluster.Port, d.cluster.LogPath)
	if d.moto, err = awstest.New(); err != nil {
		return err
	}
	defer d.moto.Close()
	fmt.Printf("moto_server (Secrets Manager, Step Functions, Lambda, SNS, SQS, CloudWatch Logs, IAM, STS) on %s\n", d.moto.Endpoint)
	d.awsCfg = d.moto.Config(ctx)

	d.heading("The DBA bootstraps the role model as the master user: psql -f sql/bootstrap.sql")
	out, err := d.cluster.Bootstrap(ctx, pgtest.Vars{Flavor: "aurora"})
	if err != nil {
		return err
	}
	fmt.Print(indent(out))
	if err := d.prepareDatabase(); err != nil {
		return err
	}
	if err := d.prepareAWS(); err != nil {
		return err
	}

	d.heading("alice (on call) asks for read-only access for " + incident)
	if _, err := d.ffb("alice", "issue", "--role", "ro", "--incident", incident, "--reason", "checkout errors: read the orders"); err != nil {
		return err
	}
	d.heading("alice connects with the stored secret: SELECT works, UPDATE is refused")
	if _, err := d.ffb("alice", "connect", "--role", "ro", "--", "-X", "-c", `SELECT order_no, status FROM "my-pg-db-schema".orders ORDER BY id`); err != nil {
		return err
	}
	if _, err := d.ffbExpectFail("alice", "connect", "--role", "ro", "--", "-X", "-v", "ON_ERROR_STOP=1", "-c", `UPDATE "my-pg-db-schema".orders SET status = 'cancelled'`); err != nil {
		return err
	}

	d.heading("alice asks for read-write: the request ledger records it and the approval workflow starts")
	out, err = d.ffb("alice", "issue", "--role", "rw", "--incident", incident, "--reason", "cancel the stuck order ORD-1002")
	if err != nil {
		return err
	}
	requestID := field(out, "request:")
	if requestID == "" {
		return fmt.Errorf("no request id in the answer of issue --role rw")
	}
	if err := d.showRequest(requestID, false); err != nil {
		return err
	}

	d.heading("The workflow's wait step: the issue function keeps the task token with the request (moto cannot run Lambda: the demo hands the step's input to the same handler)")
	await, err := d.stepInput(requestID, "await")
	if err != nil {
		return err
	}
	if _, err := d.ffbStdin(issueFunction, await, "invoke", "issue", "--event", "-"); err != nil {
		return err
	}
	if err := d.showRequest(requestID, true); err != nil {
		return err
	}
	if err := d.approverInbox(requestID); err != nil {
		return err
	}

	d.heading("alice is an approver too, but not of her own request: the database refuses it")
	if _, err := d.ffbExpectFail("alice", "approve", requestID, "--comment", "I checked it myself"); err != nil {
		return err
	}
	if err := d.showRequest(requestID, true); err != nil {
		return err
	}

	d.heading("bob approves as the second person, as the approve function (its own login, " + approverLogin + ")")
	if _, err := d.ffb("bob", "approve", requestID, "--comment", "matches "+incident); err != nil {
		return err
	}
	if err := d.showApproval(requestID); err != nil {
		return err
	}

	d.heading("The workflow goes on to its issue step, which carries only the request id: the issue function reads the approval from the database")
	step, err := d.stepInput(requestID, "issue")
	if err != nil {
		return err
	}
	if _, err := d.ffbStdin(issueFunction, step, "invoke", "issue", "--event", "-"); err != nil {
		return err
	}
	if err := d.showGrant(requestID); err != nil {
		return err
	}

	d.heading("alice fixes one row in a transaction, previewing it first; TRUNCATE stays refused")
	fix := `BEGIN;
SELECT id, order_no, status FROM "my-pg-db-schema".orders WHERE order_no = 'ORD-1002';
UPDATE "my-pg-db-schema".orders SET status = 'cancelled' WHERE order_no = 'ORD-1002' AND status = 'created' RETURNING id, order_no, status;
COMMIT;`
	if _, err := d.ffb("alice", "connect", "--role", "rw", "--", "-X", "-v", "ON_ERROR_STOP=1", "-c", fix); err != nil {
		return err
	}
	if _, err := d.ffbExpectFail("alice", "connect", "--role", "rw", "--", "-X", "-v", "ON_ERROR_STOP=1", "-c", `TRUNCATE "my-pg-db-schema".orders`); err != nil {
		return err
	}
	if _, err := d.ffb("alice", "status"); err != nil {
		return err
	}

	d.heading("The incident is over: alice revokes read-only while a session is still open")
	session, old, err := d.openSession("my_pg_firefighter_ro")
	if err != nil {
		return err
	}
	defer session.Close(context.Background())
	if _, err := d.ffb("alice", "revoke", "--role", "ro", "--incident", incident); err != nil {
		return err
	}
	if _, err := session.Exec(ctx, "SELECT 1"); err == nil {
		return errors.New("the open session survived the revoke")
	}
	fmt.Println("the open session was terminated")
	if c, err := d.cluster.Connect(ctx, "my_pg_firefighter_ro", old, "my-pg-db"); err == nil {
		c.Close(ctx)
		return errors.New("the revoked password still logs in")
	}
	fmt.Println("a new login with the old password is refused")
	if _, err := d.ffbExpectFail("alice", "connect", "--role", "ro"); err != nil {
		return err
	}

	d.heading("Two hours later: the scheduled sweep takes read-write back (time moved on in the ledger)")
	rwSession, _, err := d.openSession("my_pg_firefighter_rw")
	if err != nil {
		return err
	}
	defer rwSession.Close(context.Background())
	if err := d.superExec(`UPDATE db_admin.firefighter_grant SET issued_at = issued_at - interval '2 hours', expires_at = expires_at - interval '2 hours' WHERE role = 'my_pg_firefighter_rw'`); err != nil {
		return err
	}
	if _, err := d.ffb(schedule, "invoke", "expire", "--event", "events/expire-schedule.json"); err != nil {
		return err
	}
	if _, err := rwSession.Exec(ctx, "SELECT 1"); err == nil {
		return errors.New("the read-write session survived the sweep")
	}
	fmt.Println("the read-write session was terminated by the sweep")
	if _, err := d.ffb("alice", "status"); err != nil {
		return err
	}
	if _, err := d.ffb("alice", "sweep"); err != nil {
		return err
	}

	d.heading("The audit trail (CloudWatch Logs group " + auditGroup + ")")
	return d.printAudit()
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("   " + l + "\n")
	}
	return b.String()
}

// prepareDatabase does what the DBA and a migration would: passwords for the broker's
// and the approver's logins (local password mode; in AWS they log in with IAM tokens) and an orders table
// created by the migrator through SET ROLE owner.
func (d *demo) prepareDatabase() error {
	if err := d.cluster.SetPassword(d.ctx, "my_pg_password_broker", brokerPassword); err != nil {
		return err
	}
	if err := d.cluster.SetPassword(d.ctx, approverLogin, approverPassword); err != nil {
		return err
	}
	if err := d.cluster.SetPassword(d.ctx, "my_pg_migrator", "demo-migrator-password-0123456789"); err != nil {
		return err
	}
	c, err := d.cluster.Connect(d.ctx, "my_pg_migrator", "demo-migrator-password-0123456789", "my-pg-db")
	if err != nil {
		return err
	}
	defer c.Close(d.ctx)
	_, err = c.Exec(d.ctx, `SET ROLE my_pg_owner;
CREATE TABLE "my-pg-db-schema".orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, order_no text NOT NULL UNIQUE,
  status text NOT NULL DEFAULT 'created', updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO "my-pg-db-schema".orders (order_no, status) VALUES ('ORD-1001', 'paid'), ('ORD-1002', 'created'), ('ORD-1003', 'shipped');
RESET ROLE;`)
	if err == nil {
		fmt.Println("   the migrator created \"my-pg-db-schema\".orders through SET ROLE my_pg_owner")
	}
	return err
}

// prepareAWS creates the IAM users, the audit log group, the notifications topic with
// a queue standing in for the approvers' inbox, the two functions the workflow invokes
// (moto stores them; it cannot run them here) and the approval state machine.
func (d *demo) prepareAWS() error {
	ctx := d.ctx
	if err := d.moto.SetConfig(ctx, json.RawMessage(`{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}`)); err != nil {
		return err
	}
	ic := iam.NewFromConfig(d.awsCfg)
	for _, u := range []string{"alice", "bob"} {
		out, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u)})
		if err != nil {
			return err
		}
		d.arns[u] = aws.ToString(out.User.Arn)
		k, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(u)})
		if err != nil {
			return err
		}
		d.keys[u] = [2]string{aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)}
	}
	d.keys[issueFunction] = [2]string{awstest.AccessKeyID, awstest.SecretAccessKey}
	d.keys[schedule] = d.keys[issueFunction]
	if _, err := cloudwatchlogs.NewFromConfig(d.awsCfg).CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(auditGroup)}); err != nil {
		return err
	}
	topic, err := sns.NewFromConfig(d.awsCfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("ffbroker-notifications")})
	if err != nil {
		return err
	}
	sq := sqs.NewFromConfig(d.awsCfg)
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("approvers-inbox")})
	if err != nil {
		return err
	}
	d.inbox = aws.ToString(q.QueueUrl)
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		return err
	}
	if _, err := sns.NewFromConfig(d.awsCfg).Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes["QueueArn"]),
		// The approvers' messages only, as README's approvers' e-mail subscription.
		Attributes: map[string]string{"RawMessageDelivery": "true", "FilterPolicy": `{"audience":["approvers"]}`}}); err != nil {
		return err
	}
	role, err := ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("ffbroker-demo"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","states.amazonaws.com"]},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		return err
	}
	functions := map[string]string{}
	for _, fn := range []string{"issue", "expire"} {
		out, err := lambda.NewFromConfig(d.awsCfg).CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName: aws.String("ffbroker-" + fn), Runtime: lambdatypes.RuntimeProvidedal2023,
			Architectures: []lambdatypes.Architecture{lambdatypes.ArchitectureArm64}, Handler: aws.String("bootstrap"),
			Role: role.Role.Arn, Code: &lambdatypes.FunctionCode{ZipFile: placeholderZip()}})
		if err != nil {
			return err
		}
		functions[fn] = aws.ToString(out.FunctionArn)
	}
	def, err := os.ReadFile("statemachine/approval.asl.json")
	if err != nil {
		return err
	}
	definition := strings.NewReplacer("${IssueFunctionArn}", functions["issue"], "${ExpireFunctionArn}", functions["expire"],
		"${ApprovalTimeoutSeconds}", "3600").Replace(string(def))
	sm, err := sfn.NewFromConfig(d.awsCfg).CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("ffbroker-approval"),
		Definition: aws.String(definition), RoleArn: role.Role.Arn})
	if err != nil {
		return err
	}
	d.stateMachine = aws.ToString(sm.StateMachineArn)
	d.env = []string{
		"FFB_DB_HOST=" + d.cluster.Host, "FFB_DB_PORT=" + strconv.Itoa(d.cluster.Port), "FFB_DB_NAME=my-pg-db",
		"FFB_DB_USER=my_pg_password_broker", "FFB_DB_AUTH=password", "FFB_DB_PASSWORD=" + brokerPassword,
		"FFB_DB_SSLMODE=disable", "FFB_TARGET_SSLMODE=disable", "FFB_AUDIT_LOG_GROUP=" + auditGroup, "FFB_AUDIT_QUIET=1",
		"FFB_STATE_MACHINE_ARN=" + d.stateMachine, "FFB_CLUSTER_ID=demo", "FFB_SERVER_ID=ffbroker-demo", "FFB_ACCOUNTS=123456789012",
		"FFB_APPROVERS=" + d.arns["alice"] + "," + d.arns["bob"], "FFB_NOTIFY_TOPIC_ARN=" + aws.ToString(topic.TopicArn),
		"FFB_TRUSTED_SESSION_ROLES=", "FFB_AUDIT_STDOUT=",
		"AWS_ENDPOINT_URL=" + d.moto.Endpoint, "AWS_REGION=" + awstest.Region, "AWS_DEFAULT_REGION=" + awstest.Region,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_PROFILE=", "AWS_SESSION_TOKEN=",
	}
	fmt.Println("   IAM users alice and bob (FFB_APPROVERS names both: on-call engineers approve each other's requests),")
	fmt.Println("   audit log group, notifications topic (an SQS queue stands in for the approvers' inbox), approval state machine")
	return nil
}

// placeholderZip is a deployment package for moto's Lambda, which stores it and never
// runs it.
func placeholderZip() []byte {
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	if w, err := z.Create("bootstrap"); err == nil {
		_, _ = w.Write([]byte("#!/bin/sh\n"))
	}
	_ = z.Close()
	return buf.Bytes()
}

// ffb runs bin/ffbroker as user, printing the command and its output.
func (d *demo) ffb(user string, args ...string) (string, error) {
	return d.ffbStdin(user, "", args...)
}

func (d *demo) ffbStdin(user, stdin string, args ...string) (string, error) {
	out, err := d.runFFB(user, stdin, args...)
	if err != nil {
		return out, fmt.Errorf("ffbroker %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// ffbExpectFail runs a command that must be refused, and shows the refusal.
func (d *demo) ffbExpectFail(user string, args ...string) (string, error) {
	out, err := d.runFFB(user, "", args...)
	if err == nil {
		return out, fmt.Errorf("ffbroker %s succeeded; it must be refused", strings.Join(args, " "))
	}
	fmt.Println("   -> refused, as it must be")
	return out, nil
}

func (d *demo) runFFB(user, stdin string, args ...string) (string, error) {
	fmt.Printf("$ [%s] ffbroker %s\n", user, quoteArgs(args))
	cmd := exec.CommandContext(d.ctx, d.bin, args...)
	cmd.Env = d.environ(user, args)
	cmd.Stdin = strings.NewReader(stdin)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	fmt.Print(indent(buf.String()))
	return buf.String(), err
}

// environ is the environment of bin/ffbroker run as user: that user's AWS credentials,
// and for approve the approve function's database login instead of the broker's.
func (d *demo) environ(user string, args []string) []string {
	env := append(os.Environ(), d.env...)
	if len(args) > 0 && args[0] == "approve" {
		env = append(env, "FFB_DB_USER="+approverLogin, "FFB_DB_PASSWORD="+approverPassword)
	}
	return append(env, "AWS_ACCESS_KEY_ID="+d.keys[user][0], "AWS_SECRET_ACCESS_KEY="+d.keys[user][1])
}

func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \n'\"$;*") {
			a = "'" + strings.ReplaceAll(strings.ReplaceAll(a, "'", `'\''`), "\n", " ") + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// field is the value after label on a line of a command's output.
func field(out, label string) string {
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), label); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// stepInput waits until request id's workflow schedules its Lambda task with action,
// and returns the payload Step Functions built for it (the execution history's
// TaskScheduled parameters), the input the deployed function would receive.
func (d *demo) stepInput(requestID, action string) (string, error) {
	c := sfn.NewFromConfig(d.awsCfg)
	arn := strings.Replace(d.stateMachine, ":stateMachine:", ":execution:", 1) + ":ffb-" + requestID
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		h, err := c.GetExecutionHistory(d.ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000})
		if err != nil {
			return "", err
		}
		for _, ev := range h.Events {
			if ev.Type != sfntypes.HistoryEventTypeTaskScheduled || ev.TaskScheduledEventDetails == nil {
				continue
			}
			var p struct {
				Payload json.RawMessage `json:"Payload"`
			}
			var step map[string]any
			if json.Unmarshal([]byte(aws.ToString(ev.TaskScheduledEventDetails.Parameters)), &p) == nil &&
				json.Unmarshal(p.Payload, &step) == nil && step["action"] == action {
				if _, ok := step["task_token"]; ok {
					step["task_token"] = "[task token: kept in the database, shown to nobody]"
				}
				shown, _ := json.Marshal(step)
				fmt.Printf("   execution %s scheduled its %s step with %s\n", arn[strings.LastIndex(arn, ":")+1:], action, shown)
				return string(p.Payload), nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "", fmt.Errorf("the workflow of request %s never reached its %s step", requestID, action)
}

// showRequest prints request id's row of the request ledger, as the superuser reads
// it, and checks that it is pending with the task token stored (or not yet).
func (d *demo) showRequest(requestID string, tokenStored bool) error {
	var state, requester string
	var stored bool
	var decisions int
	err := d.superQueryRow(`SELECT r.state, r.requester, r.task_token IS NOT NULL,
		(SELECT count(*) FROM db_admin.firefighter_approval a WHERE a.request_id = r.request_id)
		FROM db_admin.firefighter_request r WHERE r.request_id = $1`, []any{requestID}, &state, &requester, &stored, &decisions)
	if err != nil {
		return err
	}
	fmt.Printf("   request ledger: %s %s, requester %s, task token stored: %t, decisions: %d\n", requestID, state, requester, stored, decisions)
	switch {
	case state != "pending" || requester != d.arns["alice"] || decisions != 0:
		return fmt.Errorf("request %s is %s by %s with %d decision(s); want pending, by alice, undecided", requestID, state, requester, decisions)
	case stored != tokenStored:
		return fmt.Errorf("request %s: task token stored = %t; want %t", requestID, stored, tokenStored)
	}
	if tokenStored {
		fmt.Println("   the wait step stored its task token with the request: no person ever handles it")
	}
	return nil
}

// approverInbox shows the notification the approvers received, and checks that it
// carries no task token.
func (d *demo) approverInbox(requestID string) error {
	sq := sqs.NewFromConfig(d.awsCfg)
	var token string
	if err := d.superQueryRow(`SELECT task_token FROM db_admin.firefighter_request WHERE request_id = $1`, []any{requestID}, &token); err != nil {
		return err
	}
	d.token = token
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out, err := sq.ReceiveMessage(d.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(d.inbox), WaitTimeSeconds: 1})
		if err != nil {
			return err
		}
		for _, m := range out.Messages {
			body := aws.ToString(m.Body)
			if strings.Contains(body, token) {
				return errors.New("the approvers' notification holds the task token")
			}
			var msg struct {
				Content struct {
					Title     string   `json:"title"`
					NextSteps []string `json:"nextSteps"`
				} `json:"content"`
			}
			if json.Unmarshal([]byte(body), &msg) == nil && strings.Contains(body, requestID) {
				fmt.Printf("   approvers' inbox: %q (no task token in it)\n", msg.Content.Title)
				return nil
			}
		}
	}
	return errors.New("no notification reached the approvers' inbox")
}

// showApproval prints and checks the approval ledger's row: bob's decision, written
// by the approver's login.
func (d *demo) showApproval(requestID string) error {
	var decision, approver, recordedBy, state string
	err := d.superQueryRow(`SELECT a.decision, a.approver, a.recorded_by, r.state FROM db_admin.firefighter_approval a
		JOIN db_admin.firefighter_request r USING (request_id) WHERE a.request_id = $1`, []any{requestID}, &decision, &approver, &recordedBy, &state)
	if err != nil {
		return fmt.Errorf("read the approval ledger: %w", err)
	}
	fmt.Printf("   approval ledger: %s by %s (recorded by %s); request %s\n", decision, approver, recordedBy, state)
	if decision != "approve" || approver != d.arns["bob"] || recordedBy != approverLogin || state != "approved" {
		return fmt.Errorf("the approval ledger holds %s by %s recorded by %s; want approve by bob recorded by %s", decision, approver, recordedBy, approverLogin)
	}
	return nil
}

// showGrant prints and checks the grant ledger's read-write grant of request id.
func (d *demo) showGrant(requestID string) error {
	var role, requester, approver, state string
	err := d.superQueryRow(`SELECT g.role, g.requester, g.approver, r.state FROM db_admin.firefighter_grant g
		JOIN db_admin.firefighter_request r ON r.request_id = g.request_id WHERE g.request_id = $1`, []any{requestID}, &role, &requester, &approver, &state)
	if err != nil {
		return fmt.Errorf("read the grant ledger: %w", err)
	}
	fmt.Printf("   grant ledger: %s for requester %s, approver %s; request %s\n", role, requester, approver, state)
	if role != "my_pg_firefighter_rw" || requester != d.arns["alice"] || approver != d.arns["bob"] || state != "issued" {
		return fmt.Errorf("the grant ledger holds %s for %s approved by %s (request %s); want rw for alice approved by bob, issued", role, requester, approver, state)
	}
	return nil
}

// openSession logs in with the role's current secret, as a firefighter's psql would.
func (d *demo) openSession(role string) (*pgx.Conn, string, error) {
	out, err := d.runQuiet("alice", "connect", "--role", strings.TrimPrefix(role, "my_pg_firefighter_"), "--psql", "/usr/bin/env", "--")
	if err != nil {
		return nil, "", err
	}
	var password string
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "PGPASSWORD="); ok {
			password = v
		}
	}
	if password == "" {
		return nil, "", errors.New("no password in the secret")
	}
	d.seen = append(d.seen, password)
	c, err := d.cluster.Connect(d.ctx, role, password, "my-pg-db")
	if err != nil {
		return nil, "", err
	}
	fmt.Printf("   a session of %s is open (pid %d)\n", role, c.PgConn().PID())
	return c, password, nil
}

// runQuiet runs bin/ffbroker without printing (the output holds a password).
func (d *demo) runQuiet(user string, args ...string) (string, error) {
	cmd := exec.CommandContext(d.ctx, d.bin, args...)
	cmd.Env = d.environ(user, args)
	out, err := cmd.Output()
	return string(out), err
}

func (d *demo) superQueryRow(sql string, args []any, dest ...any) error {
	c, err := d.cluster.ConnectSuper(d.ctx, "my-pg-db")
	if err != nil {
		return err
	}
	defer c.Close(d.ctx)
	return c.QueryRow(d.ctx, sql, args...).Scan(dest...)
}

func (d *demo) superExec(sql string) error {
	c, err := d.cluster.ConnectSuper(d.ctx, "my-pg-db")
	if err != nil {
		return err
	}
	defer c.Close(d.ctx)
	_, err = c.Exec(d.ctx, sql)
	return err
}

func (d *demo) printAudit() error {
	cw := cloudwatchlogs.NewFromConfig(d.awsCfg)
	out, err := cw.FilterLogEvents(d.ctx, &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(auditGroup)})
	if err != nil {
		return err
	}
	if len(out.Events) == 0 {
		return errors.New("the audit log group is empty")
	}
	for _, ev := range out.Events {
		var r map[string]any
		if err := json.Unmarshal([]byte(aws.ToString(ev.Message)), &r); err != nil {
			return err
		}
		who := fmt.Sprint(r["requester"])
		if a, ok := r["approver"]; ok {
			who += " approver=" + fmt.Sprint(a)
		}
		req := str(r["access_request_id"])
		if len(req) > 8 {
			req = req[:8]
		}
		fmt.Printf("   %s %-20s %-8s %-22s %-9s %-8s %s %s\n", str(r["time"])[11:19], r["event"], r["outcome"], str(r["target_role"]),
			str(r["incident_id"]), req, strings.TrimPrefix(who, "<nil>"), counts(r))
	}
	for _, ev := range out.Events {
		msg := aws.ToString(ev.Message)
		for _, secret := range append([]string{"SCRAM-SHA-256", "\"password\""}, d.seen...) {
			if strings.Contains(msg, secret) {
				return fmt.Errorf("an audit record holds a password or a verifier: %s", msg)
			}
		}
		if d.token != "" && strings.Contains(msg, d.token) {
			return fmt.Errorf("an audit record holds the workflow's task token: %s", msg)
		}
	}
	fmt.Printf("   %d records; checked: none holds a password, a verifier or a task token\n", len(out.Events))
	return nil
}

func str(v any) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprint(v)
}

func counts(r map[string]any) string {
	var s []string
	for _, k := range []string{"grants_closed", "sessions_terminated", "error_code"} {
		if v, ok := r[k]; ok {
			s = append(s, fmt.Sprintf("%s=%v", k, v))
		}
	}
	return strings.Join(s, " ")
}
