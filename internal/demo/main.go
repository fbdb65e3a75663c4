// Command demo walks ffbroker's incident story end to end on this machine: it starts a
// throwaway Aurora-like PostgreSQL and moto_server, bootstraps the role model as the
// master user, and drives bin/ffbroker (the same handlers the Lambdas run) through an
// incident: read-only access, read-write with a second person's approval, a data fix,
// revoke with a live session, the expiry sweep, and the audit trail. Everything it
// started is stopped at the end, also on Ctrl-C or failure. Run it with make demo.
package main

import (
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
	incident       = "INC-4242"
	brokerPassword = "demo-broker-password-not-for-production-0123"
	auditGroup     = "/ffbroker/audit"
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
	env     []string
	step    int
	seen    []string // passwords seen by the demo, searched for in the audit trail
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
	d := &demo{ctx: ctx, bin: filepath.Join(root, "bin", "ffbroker"), keys: map[string][2]string{}}
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
	fmt.Printf("moto_server (Secrets Manager, Step Functions, SNS, SQS, CloudWatch Logs, IAM, STS) on %s\n", d.moto.Endpoint)
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

	d.heading("alice asks for read-write: it waits for a second person")
	if _, err := d.ffb("alice", "issue", "--role", "rw", "--incident", incident, "--reason", "cancel the stuck order ORD-1002"); err != nil {
		return err
	}
	token, err := d.approvalToken()
	if err != nil {
		return err
	}
	fmt.Println("the approvals topic delivered the request with its task token to the approvers")
	d.heading("alice cannot approve her own request")
	if _, err := d.ffbExpectFail("alice", "approve", "--token", token); err != nil {
		return err
	}
	d.heading("bob approves as the second person")
	if _, err := d.ffb("bob", "approve", "--token", token, "--comment", "matches "+incident); err != nil {
		return err
	}
	d.heading("Step Functions runs the issue step (moto cannot run Lambda here: the demo hands the step's input to the same handler)")
	step, err := d.issueStepInput()
	if err != nil {
		return err
	}
	if _, err := d.ffbStdin("bob", step, "invoke", "issue", "--event", "-"); err != nil {
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
	if _, err := d.ffb("alice", "invoke", "expire", "--event", "events/expire-schedule.json"); err != nil {
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

// prepareDatabase does what the DBA and a migration would: passwords for the broker
// (local password mode; in AWS it logs in with an IAM token) and an orders table
// created by the migrator through SET ROLE owner.
func (d *demo) prepareDatabase() error {
	if err := d.cluster.SetPassword(d.ctx, "my_pg_password_broker", brokerPassword); err != nil {
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

// prepareAWS creates the IAM users, the audit log group, the approvals topic with a
// queue standing in for the approvers' inbox, and the approval state machine.
func (d *demo) prepareAWS() error {
	ctx := d.ctx
	if err := d.moto.SetConfig(ctx, json.RawMessage(`{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}`)); err != nil {
		return err
	}
	ic := iam.NewFromConfig(d.awsCfg)
	for _, u := range []string{"alice", "bob"} {
		if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(u)}); err != nil {
			return err
		}
		k, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(u)})
		if err != nil {
			return err
		}
		d.keys[u] = [2]string{aws.ToString(k.AccessKey.AccessKeyId), aws.ToString(k.AccessKey.SecretAccessKey)}
	}
	if _, err := cloudwatchlogs.NewFromConfig(d.awsCfg).CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(auditGroup)}); err != nil {
		return err
	}
	topic, err := sns.NewFromConfig(d.awsCfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("ffbroker-approvals")})
	if err != nil {
		return err
	}
	sq := sqs.NewFromConfig(d.awsCfg)
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("approvers-inbox")})
	if err != nil {
		return err
	}
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		return err
	}
	if _, err := sns.NewFromConfig(d.awsCfg).Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
		Endpoint: aws.String(attrs.Attributes["QueueArn"]), Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		return err
	}
	def, err := os.ReadFile("statemachine/approval.asl.json")
	if err != nil {
		return err
	}
	definition := strings.NewReplacer("${ApprovalTopicArn}", aws.ToString(topic.TopicArn),
		"${IssueFunctionArn}", "arn:aws:lambda:us-east-1:123456789012:function:ffbroker-issue",
		"${ExpireFunctionArn}", "arn:aws:lambda:us-east-1:123456789012:function:ffbroker-expire",
		"${ApprovalTimeoutSeconds}", "3600").Replace(string(def))
	sm, err := sfn.NewFromConfig(d.awsCfg).CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("ffbroker-approval"),
		Definition: aws.String(definition), RoleArn: aws.String("arn:aws:iam::123456789012:role/ffbroker-approval")})
	if err != nil {
		return err
	}
	d.env = []string{
		"FFB_DB_HOST=" + d.cluster.Host, "FFB_DB_PORT=" + strconv.Itoa(d.cluster.Port), "FFB_DB_NAME=my-pg-db",
		"FFB_DB_USER=my_pg_password_broker", "FFB_DB_AUTH=password", "FFB_DB_PASSWORD=" + brokerPassword,
		"FFB_DB_SSLMODE=disable", "FFB_TARGET_SSLMODE=disable", "FFB_AUDIT_LOG_GROUP=" + auditGroup, "FFB_AUDIT_QUIET=1",
		"FFB_STATE_MACHINE_ARN=" + aws.ToString(sm.StateMachineArn), "FFB_CLUSTER_ID=demo",
		"AWS_ENDPOINT_URL=" + d.moto.Endpoint, "AWS_REGION=" + awstest.Region, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "APPROVALS_QUEUE=" + aws.ToString(q.QueueUrl),
	}
	fmt.Println("   IAM users alice and bob, audit log group, approvals topic (an SQS queue stands in for the approvers' inbox), approval state machine")
	return nil
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
	cmd.Env = append(os.Environ(), d.env...)
	cmd.Env = append(cmd.Env, "AWS_ACCESS_KEY_ID="+d.keys[user][0], "AWS_SECRET_ACCESS_KEY="+d.keys[user][1])
	cmd.Stdin = strings.NewReader(stdin)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	fmt.Print(indent(buf.String()))
	return buf.String(), err
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

// approvalToken reads the approval request from the approvers' inbox.
func (d *demo) approvalToken() (string, error) {
	sq := sqs.NewFromConfig(d.awsCfg)
	url := envValue(d.env, "APPROVALS_QUEUE")
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out, err := sq.ReceiveMessage(d.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 1})
		if err != nil {
			return "", err
		}
		for _, m := range out.Messages {
			var msg struct {
				TaskToken  string `json:"task_token"`
				Requester  string `json:"requester"`
				IncidentID string `json:"incident_id"`
				Role       string `json:"role"`
			}
			body := aws.ToString(m.Body)
			if err := json.Unmarshal([]byte(body), &msg); err != nil {
				var env struct{ Message string }
				if json.Unmarshal([]byte(body), &env) == nil {
					_ = json.Unmarshal([]byte(env.Message), &msg)
				}
			}
			if msg.TaskToken != "" {
				fmt.Printf("   approval request: role %s, incident %s, requester %s\n", msg.Role, msg.IncidentID, msg.Requester)
				return msg.TaskToken, nil
			}
		}
	}
	return "", errors.New("no approval request reached the approvers' inbox")
}

func envValue(env []string, key string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

// issueStepInput is the input Step Functions gave the workflow's issue step.
func (d *demo) issueStepInput() (string, error) {
	c := sfn.NewFromConfig(d.awsCfg)
	arn := envValue(d.env, "FFB_STATE_MACHINE_ARN")
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		list, err := c.ListExecutions(d.ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(arn)})
		if err != nil {
			return "", err
		}
		for _, e := range list.Executions {
			h, err := c.GetExecutionHistory(d.ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: e.ExecutionArn, MaxResults: 1000})
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
				var step struct {
					Action string `json:"action"`
				}
				if json.Unmarshal([]byte(aws.ToString(ev.TaskScheduledEventDetails.Parameters)), &p) == nil &&
					json.Unmarshal(p.Payload, &step) == nil && step.Action == "issue" {
					return string(p.Payload), nil
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "", errors.New("the workflow never reached its issue step")
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
	cmd.Env = append(os.Environ(), d.env...)
	cmd.Env = append(cmd.Env, "AWS_ACCESS_KEY_ID="+d.keys[user][0], "AWS_SECRET_ACCESS_KEY="+d.keys[user][1])
	out, err := cmd.Output()
	return string(out), err
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
		fmt.Printf("   %s %-20s %-8s %-22s %-9s %s %s\n", str(r["time"])[11:19], r["event"], r["outcome"], str(r["target_role"]),
			str(r["incident_id"]), strings.TrimPrefix(who, "<nil>"), counts(r))
	}
	for _, ev := range out.Events {
		msg := aws.ToString(ev.Message)
		for _, secret := range append([]string{"SCRAM-SHA-256", "\"password\""}, d.seen...) {
			if strings.Contains(msg, secret) {
				return fmt.Errorf("an audit record holds a password or a verifier: %s", msg)
			}
		}
	}
	fmt.Printf("   %d records; checked: none holds a password or a verifier\n", len(out.Events))
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
