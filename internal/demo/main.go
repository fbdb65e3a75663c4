package main

import (
	"bufio"
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
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/internal/awstest"
	"github.com/ffbroker/ffbroker/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

const (
	incident         = "INC-4242"
	brokerPassword   = "demo-broker-password-not-for-production-0123"
	approverPassword = "demo-approver-password-not-for-production-0123"
	auditGroup       = "/ffbroker/audit"
	// schedule runs the sweep as EventBridge's schedule invokes the expire function:
	// the functions' own configuration and AWS credentials, in local mode.
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
	// names are the default names, which the demo's bootstrap uses.
	names  pgtest.RoleModel
	moto   *awstest.Server
	awsCfg aws.Config
	bin    string
	keys   map[string][2]string // user -> access key id, secret
	arns   map[string]string    // user -> IAM user ARN
	// env is the functions' environment (local-api and the schedule).
	env []string
	// homes are the people's home directories (their client configuration).
	homes map[string]string
	// inboxes are SQS queues subscribed to the notifications topic with the
	// README's filter policies: "approvers" and "alice".
	inboxes map[string]string
	// api and serverID are where local-api serves and the server id proofs bind to.
	api, serverID string
	tmp           string
	step          int
	seen          []string // passwords seen by the demo, searched for in the audit trail
	token         string   // the workflow's task token, searched for in the audit trail
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
	d := &demo{ctx: ctx, bin: filepath.Join(root, "bin", "ffbroker"), keys: map[string][2]string{}, arns: map[string]string{},
		names: pgtest.Vars{}.Model(), homes: map[string]string{}, inboxes: map[string]string{}}
	if _, err := os.Stat(d.bin); err != nil {
		return fmt.Errorf("build the CLI first (make demo does): %w", err)
	}
	tmp, err := os.MkdirTemp("", "ffbroker-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	d.tmp = tmp

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

	d.heading("The API: ffbroker local-api serves the template's routes with the functions' handlers (as sam local start-api would)")
	stopAPI, err := d.startLocalAPI()
	if err != nil {
		return err
	}
	defer stopAPI()

	d.heading("alice and bob configure their clients: only their AWS keys and the API's address, no database settings")
	for _, who := range []string{"alice", "bob"} {
		if _, err := d.ffb(who, "configure", "--api", d.api+"/prod", "--server-id", d.serverID); err != nil {
			return err
		}
	}

	d.heading("alice (on call) asks for read-only access for " + incident)
	if _, err := d.ffb("alice", "issue", "--role", "ro", "--incident", incident, "--reason", "checkout errors: read the orders"); err != nil {
		return err
	}
	d.heading("alice connects with the stored secret (psql gets the password through a private passfile): SELECT works, UPDATE is refused")
	if _, err := d.ffb("alice", "connect", "--role", "ro", "--", "-X", "-c", `SELECT order_no, status FROM `+d.orders()+` ORDER BY id`); err != nil {
		return err
	}
	if _, err := d.ffbExpectFail("alice", "connect", "--role", "ro", "--", "-X", "-v", "ON_ERROR_STOP=1", "-c", `UPDATE `+d.orders()+` SET status = 'cancelled'`); err != nil {
		return err
	}

	d.heading("alice asks for read-write and waits: the request ledger records it, the approval workflow starts in moto")
	waiting := d.ffbAsync("alice", "issue", "--role", "rw", "--incident", incident, "--reason", "cancel the stuck order ORD-1002", "--wait")
	requestID, err := d.pendingFor("bob")
	if err != nil {
		return err
	}
	if err := d.showRequest(requestID); err != nil {
		return err
	}
	if err := d.inbox("approvers", requestID); err != nil {
		return err
	}

	d.heading("alice is an approver too, but not of her own request: the database refuses it")
	if _, err := d.ffbExpectFail("alice", "approve", requestID, "--yes", "--comment", "I checked it myself"); err != nil {
		return err
	}

	d.heading("bob lists what waits for him and approves it; the workflow's issue step issues it; alice's waiting command ends")
	if _, err := d.ffb("bob", "requests"); err != nil {
		return err
	}
	if _, err := d.ffb("bob", "approve", requestID, "--yes", "--comment", "matches "+incident); err != nil {
		return err
	}
	if err := waiting(); err != nil {
		return err
	}
	if err := d.showApproval(requestID); err != nil {
		return err
	}
	if err := d.showGrant(requestID); err != nil {
		return err
	}
	if err := d.inbox("alice", requestID); err != nil {
		return err
	}

	d.heading("alice fixes one row in a transaction, previewing it first; TRUNCATE stays refused")
	fix := `BEGIN;
SELECT id, order_no, status FROM ` + d.orders() + ` WHERE order_no = 'ORD-1002';
UPDATE ` + d.orders() + ` SET status = 'cancelled' WHERE order_no = 'ORD-1002' AND status = 'created' RETURNING id, order_no, status;
COMMIT;`
	if _, err := d.ffb("alice", "connect", "--role", "rw", "--", "-X", "-v", "ON_ERROR_STOP=1", "-c", fix); err != nil {
		return err
	}
	if _, err := d.ffbExpectFail("alice", "connect", "--role", "rw", "--", "-X", "-v", "ON_ERROR_STOP=1", "-c", `TRUNCATE `+d.orders()); err != nil {
		return err
	}

	d.heading("alice needs more time to read: she extends her read-only grant (the password is not rotated); 3 hours is refused")
	if _, err := d.ffb("alice", "extend", "--role", "ro", "--incident", incident, "--hours", "2", "--reason", "still reading the logs"); err != nil {
		return err
	}
	if _, err := d.ffbExpectFail("alice", "extend", "--role", "ro", "--incident", incident, "--hours", "3"); err != nil {
		return err
	}
	if _, err := d.ffb("alice", "status"); err != nil {
		return err
	}

	d.heading("The incident is over: alice revokes read-only while a session is still open")
	session, old, err := d.openSession(broker.RoleRO)
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
	fmt.Println("   the open session was terminated")
	if c, err := d.cluster.Connect(ctx, d.names.FirefighterRO, old, d.names.DB); err == nil {
		c.Close(ctx)
		return errors.New("the revoked password still logs in")
	}
	fmt.Println("   a new login with the old password is refused")
	if _, err := d.ffbExpectFail("alice", "connect", "--role", "ro"); err != nil {
		return err
	}

	d.heading("Two hours later: the scheduled sweep takes read-write back (time moved on in the ledger)")
	rwSession, _, err := d.openSession(broker.RoleRW)
	if err != nil {
		return err
	}
	defer rwSession.Close(context.Background())
	if err := d.superExec(`UPDATE db_admin.firefighter_grant SET issued_at = issued_at - interval '2 hours', expires_at = expires_at - interval '2 hours' WHERE role = ` + quoteLiteral(d.names.FirefighterRW)); err != nil {
		return err
	}
	if _, err := d.ffb(schedule, "--local", "invoke", "expire", "--event", "events/expire-schedule.json"); err != nil {
		return err
	}
	if _, err := rwSession.Exec(ctx, "SELECT 1"); err == nil {
		return errors.New("the read-write session survived the sweep")
	}
	fmt.Println("   the read-write session was terminated by the sweep")
	if _, err := d.ffb("alice", "status"); err != nil {
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
	if err := d.cluster.SetPassword(d.ctx, d.names.Broker, brokerPassword); err != nil {
		return err
	}
	if err := d.cluster.SetPassword(d.ctx, d.names.Approver, approverPassword); err != nil {
		return err
	}
	if err := d.cluster.SetPassword(d.ctx, d.names.Migrator, "demo-migrator-password-0123456789"); err != nil {
		return err
	}
	c, err := d.cluster.Connect(d.ctx, d.names.Migrator, "demo-migrator-password-0123456789", d.names.DB)
	if err != nil {
		return err
	}
	defer c.Close(d.ctx)
	_, err = c.Exec(d.ctx, `SET ROLE `+pgx.Identifier{d.names.Owner}.Sanitize()+`;
CREATE TABLE `+d.orders()+` (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, order_no text NOT NULL UNIQUE,
  status text NOT NULL DEFAULT 'created', updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO `+d.orders()+` (order_no, status) VALUES ('ORD-1001', 'paid'), ('ORD-1002', 'created'), ('ORD-1003', 'shipped');
RESET ROLE;`)
	if err == nil {
		fmt.Printf("   the migrator created %s through SET ROLE %s\n", d.orders(), d.names.Owner)
	}
	return err
}

// prepareAWS creates the people (IAM users alice and bob with access keys) and the
// notifications topic with two inboxes: an SQS queue for the approvers (filter
// audience=approvers) and one for alice (filter recipient=her principal key), as the
// README subscribes e-mail addresses. local-api creates the rest of the stack.
func (d *demo) prepareAWS() error {
	ctx := d.ctx
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
		home := filepath.Join(d.tmp, u)
		if err := os.MkdirAll(home, 0o700); err != nil {
			return err
		}
		d.homes[u] = home
	}
	d.keys[schedule] = [2]string{awstest.AccessKeyID, awstest.SecretAccessKey}
	topic, err := sns.NewFromConfig(d.awsCfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("ffbroker-notifications")})
	if err != nil {
		return err
	}
	sq := sqs.NewFromConfig(d.awsCfg)
	for name, filter := range map[string]string{
		"approvers": `{"audience":["approvers"]}`,
		"alice":     `{"recipient":["` + d.arns["alice"] + `"]}`,
	} {
		q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-inbox")})
		if err != nil {
			return err
		}
		d.inboxes[name] = aws.ToString(q.QueueUrl)
		attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
		if err != nil {
			return err
		}
		if _, err := sns.NewFromConfig(d.awsCfg).Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"),
			Endpoint:   aws.String(attrs.Attributes["QueueArn"]),
			Attributes: map[string]string{"RawMessageDelivery": "true", "FilterPolicy": filter}}); err != nil {
			return err
		}
	}
	d.env = []string{
		"FFB_DB_HOST=" + d.cluster.Host, "FFB_DB_PORT=" + strconv.Itoa(d.cluster.Port), "FFB_DB_NAME=" + d.names.DB,
		"FFB_DB_USER=" + d.names.Broker, "FFB_DB_AUTH=password", "FFB_DB_PASSWORD=" + brokerPassword,
		"FFB_APPROVER_DB_PASSWORD=" + approverPassword,
		"FFB_DB_SSLMODE=disable", "FFB_TARGET_SSLMODE=disable", "FFB_AUDIT_LOG_GROUP=" + auditGroup, "FFB_AUDIT_QUIET=1",
		"FFB_CLUSTER_ID=demo", "FFB_SERVER_ID=ffbroker-demo", "FFB_ACCOUNTS=" + awstest.AccountID,
		"FFB_APPROVERS=" + d.arns["alice"] + "," + d.arns["bob"], "FFB_REQUESTERS=" + d.arns["alice"] + "," + d.arns["bob"],
		"FFB_NOTIFY_TOPIC_ARN=" + aws.ToString(topic.TopicArn),
		"FFB_TRUSTED_SESSION_ROLES=", "FFB_AUDIT_STDOUT=",
	}
	fmt.Println("   IAM users alice and bob (FFB_REQUESTERS and FFB_APPROVERS name both: on-call engineers approve each other's requests);")
	fmt.Println("   the notifications topic with two inboxes (SQS queues): the approvers' (audience=approvers) and alice's (recipient=alice)")
	return nil
}

// startLocalAPI starts bin/ffbroker local-api with the functions' configuration on a
// free port, waits for its ready line and returns how to stop it.
func (d *demo) startLocalAPI() (func(), error) {
	args := []string{"local-api", "--listen", "127.0.0.1:0", "--stack-name", "ffbroker-demo"}
	fmt.Printf("$ [functions] ffbroker %s\n", quoteArgs(args))
	ctx, cancel := context.WithCancel(d.ctx)
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Env = d.environ(schedule)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	logPath := filepath.Join(d.tmp, "local-api.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		cancel()
		return nil, err
	}
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	stop := func() {
		cancel()
		_ = cmd.Wait()
		logFile.Close()
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("local-api did not start: %v\n%s", err, log)
	}
	fmt.Print(indent(line))
	if log, err := os.ReadFile(logPath); err == nil {
		for _, l := range strings.Split(string(log), "\n") {
			if strings.HasPrefix(l, "local-api: ") {
				fmt.Println("   " + l)
			}
		}
	}
	// "local API on http://ADDR (server id ID)"
	fields := strings.Fields(line)
	if len(fields) < 7 || !strings.HasPrefix(fields[3], "http://") {
		stop()
		return nil, fmt.Errorf("unexpected ready line %q", line)
	}
	d.api, d.serverID = fields[3], strings.TrimSuffix(fields[6], ")")
	return stop, nil
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
	cmd.Env = d.environ(user)
	cmd.Stdin = strings.NewReader(stdin)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	fmt.Print(indent(buf.String()))
	return buf.String(), err
}

// ffbAsync starts a command of user's that runs on (issue --wait) and returns a
// function that waits for it to succeed and prints what it printed.
func (d *demo) ffbAsync(user string, args ...string) func() error {
	fmt.Printf("$ [%s] ffbroker %s &\n", user, quoteArgs(args))
	cmd := exec.CommandContext(d.ctx, d.bin, args...)
	cmd.Env = d.environ(user)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Start()
	return func() error {
		if err == nil {
			err = cmd.Wait()
		}
		fmt.Printf("   [%s's ffbroker %s, which was waiting:]\n", user, args[0])
		fmt.Print(indent(buf.String()))
		if err != nil {
			return fmt.Errorf("ffbroker %s: %w", strings.Join(args, " "), err)
		}
		return nil
	}
}

// environ is the environment of bin/ffbroker run as user. A person's client gets
// their AWS keys, the AWS endpoint (moto) and region, and a home of its own for the
// configuration file: no FFB_* variable at all, no database configuration. The
// functions (local-api, the schedule) get the functions' configuration.
func (d *demo) environ(user string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "AWS_ENDPOINT_URL=" + d.moto.Endpoint, "AWS_REGION=" + awstest.Region,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_ACCESS_KEY_ID=" + d.keys[user][0], "AWS_SECRET_ACCESS_KEY=" + d.keys[user][1], "TMPDIR=" + os.TempDir()}
	if home, ok := d.homes[user]; ok {
		return append(env, "HOME="+home, "FFB_WAIT_INTERVAL=300ms")
	}
	return append(append(env, "HOME="+d.tmp), d.env...)
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

// pendingFor waits until who's list of pending requests shows one, and returns its
// id (as bob's client reads it: ffbroker requests --json).
func (d *demo) pendingFor(who string) (string, error) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		cmd := exec.CommandContext(d.ctx, d.bin, "requests", "--json")
		cmd.Env = d.environ(who)
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("ffbroker requests as %s: %w", who, err)
		}
		var list struct {
			Requests []struct {
				ID string `json:"request_id"`
			} `json:"requests"`
		}
		if err := json.Unmarshal(out, &list); err != nil {
			return "", err
		}
		if len(list.Requests) == 1 {
			return list.Requests[0].ID, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "", fmt.Errorf("no pending request reached %s's list", who)
}

// showRequest waits for the workflow's wait step to keep its task token with the
// request, then prints the request ledger's row as the superuser reads it and checks
// it: pending, alice's, undecided.
func (d *demo) showRequest(requestID string) error {
	var state, requester string
	var stored bool
	var decisions int
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		err := d.superQueryRow(`SELECT r.state, r.requester, r.task_token IS NOT NULL,
			(SELECT count(*) FROM db_admin.firefighter_approval a WHERE a.request_id = r.request_id)
			FROM db_admin.firefighter_request r WHERE r.request_id = $1`, []any{requestID}, &state, &requester, &stored, &decisions)
		if err != nil {
			return err
		}
		if stored || time.Now().After(deadline) {
			break
		}
	}
	fmt.Printf("   request ledger: %s %s, requester %s, task token stored: %t, decisions: %d\n", requestID, state, requester, stored, decisions)
	if state != "pending" || requester != d.arns["alice"] || decisions != 0 || !stored {
		return fmt.Errorf("request %s is %s by %s with %d decision(s), token stored %t; want pending, by alice, undecided, stored",
			requestID, state, requester, decisions, stored)
	}
	fmt.Println("   the workflow's wait step (run by local-api as the issue function) stored its task token with the request: no person ever handles it")
	return d.superQueryRow(`SELECT task_token FROM db_admin.firefighter_request WHERE request_id = $1`, []any{requestID}, &d.token)
}

// inbox prints the notifications about requestID that reached the inbox name, and
// checks that none holds the task token or a password.
func (d *demo) inbox(name, requestID string) error {
	sq := sqs.NewFromConfig(d.awsCfg)
	owner := name + "'s"
	if strings.HasSuffix(name, "s") {
		owner = name + "'"
	}
	var titles []string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		out, err := sq.ReceiveMessage(d.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(d.inboxes[name]), WaitTimeSeconds: 1, MaxNumberOfMessages: 10})
		if err != nil {
			return err
		}
		for _, m := range out.Messages {
			body := aws.ToString(m.Body)
			for _, secret := range append([]string{d.token}, d.seen...) {
				if secret != "" && strings.Contains(body, secret) {
					return fmt.Errorf("a notification in the %s inbox holds a task token or a password", name)
				}
			}
			var msg struct {
				Content struct {
					Title     string   `json:"title"`
					NextSteps []string `json:"nextSteps"`
				} `json:"content"`
			}
			if json.Unmarshal([]byte(body), &msg) == nil && strings.Contains(body, requestID) {
				titles = append(titles, msg.Content.Title)
				fmt.Printf("   %s inbox: %q; next: %s\n", owner, msg.Content.Title, strings.Join(msg.Content.NextSteps, " | "))
			}
		}
		if len(titles) > 0 && len(out.Messages) == 0 {
			break
		}
	}
	if len(titles) == 0 {
		return fmt.Errorf("no notification reached %s's inbox", name)
	}
	fmt.Println("   (none holds a task token or a password)")
	return nil
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
	if decision != "approve" || approver != d.arns["bob"] || recordedBy != d.names.Approver || state != "issued" {
		return fmt.Errorf("the approval ledger holds %s by %s recorded by %s; want approve by bob recorded by %s", decision, approver, recordedBy, d.names.Approver)
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
	if role != d.names.FirefighterRW || requester != d.arns["alice"] || approver != d.arns["bob"] || state != "issued" {
		return fmt.Errorf("the grant ledger holds %s for %s approved by %s (request %s); want rw for alice approved by bob, issued", role, requester, approver, state)
	}
	return nil
}

// openSession logs in with the role's current secret, as a firefighter's psql would
// (the demo reads the passfile connect writes, to hold a session open).
func (d *demo) openSession(kind broker.Role) (*pgx.Conn, string, error) {
	role := d.names.Firefighter(kind)
	cmd := exec.CommandContext(d.ctx, d.bin, "connect", "--role", string(kind), "--psql", "/bin/sh",
		"--", "-c", `cat "$PGPASSFILE"`)
	cmd.Env = d.environ("alice")
	out, err := cmd.Output()
	if err != nil {
		return nil, "", err
	}
	fields := strings.Split(strings.TrimSpace(string(out)), ":")
	password := fields[len(fields)-1]
	if password == "" {
		return nil, "", errors.New("no password in the secret")
	}
	d.seen = append(d.seen, password)
	c, err := d.cluster.Connect(d.ctx, role, password, d.names.DB)
	if err != nil {
		return nil, "", err
	}
	fmt.Printf("   a session of %s is open (pid %d)\n", role, c.PgConn().PID())
	return c, password, nil
}

// orders is the demo's table, schema-qualified and quoted for SQL text.
func (d *demo) orders() string { return pgx.Identifier{d.names.AppSchema, "orders"}.Sanitize() }

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (d *demo) superQueryRow(sql string, args []any, dest ...any) error {
	c, err := d.cluster.ConnectSuper(d.ctx, d.names.DB)
	if err != nil {
		return err
	}
	defer c.Close(d.ctx)
	return c.QueryRow(d.ctx, sql, args...).Scan(dest...)
}

func (d *demo) superExec(sql string) error {
	c, err := d.cluster.ConnectSuper(d.ctx, d.names.DB)
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
