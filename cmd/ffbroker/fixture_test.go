package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/ffbroker/ffbroker/internal/awstest"
	"github.com/ffbroker/ffbroker/internal/pgtest"
)

const (
	brokerPassword   = "cli-test-broker-password-0123456789"
	approverPassword = "cli-test-approver-password-0123456789"
)

// fixture is one bootstrapped role model (its own prefix and database in the shared
// cluster), two real IAM users in moto (alice requests, bob approves) and the approval
// state machine deployed in moto's Step Functions, with the environment the CLI reads
// pointing at all of it as alice on the broker's login.
type fixture struct {
	prefix string
	names  pgtest.RoleModel
	srv    *awstest.Server
	users  map[string]iamUser
	// stateMachine is the approval workflow's ARN (FFB_STATE_MACHINE_ARN).
	stateMachine string
	// workflowRole is the IAM role the workflows and their functions run as.
	workflowRole string
}

// iamUser is an IAM user created in moto with an access key.
type iamUser struct {
	ARN, KeyID, Secret string
}

// setup bootstraps a role model with prefix, gives the broker's and the approver's
// logins their local passwords, creates the IAM users <prefix>-alice and <prefix>-bob
// (FFB_REQUESTERS names both, FFB_APPROVERS bob), deploys the approval workflow and sets the environment.
func setup(t *testing.T, prefix string) *fixture {
	t.Helper()
	ctx := context.Background()
	srv := shared.Moto(t)
	v := pgtest.Vars{Prefix: prefix, DBName: prefix + "-db", Flavor: "aurora"}
	if _, err := shared.Cluster.Bootstrap(ctx, v); err != nil {
		t.Fatal(err)
	}
	f := &fixture{prefix: prefix, names: v.Model(), srv: srv, users: map[string]iamUser{}}
	if err := shared.Cluster.SetPassword(ctx, f.names.Broker, brokerPassword); err != nil {
		t.Fatal(err)
	}
	if err := shared.Cluster.SetPassword(ctx, f.names.Approver, approverPassword); err != nil {
		t.Fatal(err)
	}
	cfg := srv.Config(ctx)
	ic := iam.NewFromConfig(cfg)
	for _, who := range []string{"alice", "bob"} {
		name := prefix + "-" + who
		u, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		k, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		f.users[who] = iamUser{ARN: aws.ToString(u.User.Arn), KeyID: aws.ToString(k.AccessKey.AccessKeyId),
			Secret: aws.ToString(k.AccessKey.SecretAccessKey)}
	}
	f.stateMachine = f.deployWorkflow(t, awstest.Region)
	for k, v := range map[string]string{
		"FFB_DB_HOST": shared.Cluster.Host, "FFB_DB_PORT": strconv.Itoa(shared.Cluster.Port), "FFB_DB_NAME": f.names.DB,
		"FFB_DB_USER": f.names.Broker, "FFB_DB_AUTH": "password", "FFB_DB_PASSWORD": brokerPassword,
		"FFB_DB_SSLMODE": "disable", "FFB_TARGET_SSLMODE": "disable",
		"FFB_ROLE_PREFIX": prefix, "FFB_SECRET_PREFIX": "firefighter/" + prefix, "FFB_AUDIT_QUIET": "1",
		"FFB_SERVER_ID": "ffbroker-" + prefix, "FFB_ACCOUNTS": awstest.AccountID, "FFB_STATE_MACHINE_ARN": f.stateMachine, "FFB_APPROVERS": f.users["bob"].ARN,
		"FFB_REQUESTERS":   f.users["alice"].ARN + "," + f.users["bob"].ARN,
		"FFB_AUDIT_STDOUT": "", "FFB_AUDIT_LOG_GROUP": "", "FFB_NOTIFY_TOPIC_ARN": "", "FFB_TRUSTED_SESSION_ROLES": "",
		"AWS_ENDPOINT_URL": srv.Endpoint, "AWS_REGION": awstest.Region, "AWS_DEFAULT_REGION": awstest.Region,
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_PROFILE": "", "AWS_SESSION_TOKEN": "",
	} {
		t.Setenv(k, v)
	}
	f.as(t, "alice")
	return f
}

// as makes the shell's AWS credentials those of user (alice or bob) for the rest of t.
func (f *fixture) as(t *testing.T, user string) {
	t.Helper()
	u, ok := f.users[user]
	if !ok {
		t.Fatalf("no IAM user %q in the fixture", user)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", u.KeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", u.Secret)
}

// asApprover makes the CLI log in as the approver's login, as the approve function
// does, for the rest of t.
func (f *fixture) asApprover(t *testing.T) {
	t.Helper()
	t.Setenv("FFB_DB_USER", f.names.Approver)
	t.Setenv("FFB_DB_PASSWORD", approverPassword)
}

// deployWorkflow creates, in region, the two functions the approval workflow invokes
// (moto's Lambda runs no code) and the workflow itself, and returns its ARN.
//
// moto 5 cannot start an execution in a region where an earlier one exists (it
// deep-copies the region's backend, running executions and their locks included), so
// a test that starts a second workflow runs it in another region.
func (f *fixture) deployWorkflow(t *testing.T, region string) string {
	t.Helper()
	ctx := context.Background()
	cfg := f.srv.Config(ctx)
	cfg.Region = region
	if f.workflowRole == "" {
		if err := f.srv.SetConfig(ctx, json.RawMessage(`{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}`)); err != nil {
			t.Fatal(err)
		}
		role, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(f.prefix + "-workflow"),
			AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","states.amazonaws.com"]},"Action":"sts:AssumeRole"}]}`)})
		if err != nil {
			t.Fatal(err)
		}
		f.workflowRole = aws.ToString(role.Role.Arn)
	}
	functions := map[string]string{}
	lc := lambda.NewFromConfig(cfg)
	for _, fn := range []string{"issue", "expire"} {
		name := f.prefix + "-" + fn
		out, err := lc.CreateFunction(ctx, &lambda.CreateFunctionInput{
			FunctionName: aws.String(name), Runtime: lambdatypes.RuntimeProvidedal2023,
			Architectures: []lambdatypes.Architecture{lambdatypes.ArchitectureArm64}, Handler: aws.String("bootstrap"),
			Role: aws.String(f.workflowRole), Code: &lambdatypes.FunctionCode{ZipFile: bootstrapZip(t)}})
		var exists *lambdatypes.ResourceConflictException
		switch {
		case errors.As(err, &exists):
			// The SDK retried a create whose answer was lost (a loaded moto): the
			// function is ours.
			got, gerr := lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
			if gerr != nil {
				t.Fatal(err, gerr)
			}
			functions[fn] = aws.ToString(got.Configuration.FunctionArn)
		case err != nil:
			t.Fatal(err)
		default:
			functions[fn] = aws.ToString(out.FunctionArn)
		}
	}
	def, err := os.ReadFile(filepath.Join("..", "..", "statemachine", "approval.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	definition := strings.NewReplacer("${IssueFunctionArn}", functions["issue"], "${ExpireFunctionArn}", functions["expire"],
		"${ApprovalTimeoutSeconds}", "3600").Replace(string(def))
	sm, err := sfn.NewFromConfig(cfg).CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String(f.prefix + "-approval"),
		Definition: aws.String(definition), RoleArn: aws.String(f.workflowRole), Type: sfntypes.StateMachineTypeStandard})
	if err != nil {
		t.Fatalf("CreateStateMachine in %s: %v", region, err)
	}
	return aws.ToString(sm.StateMachineArn)
}

// inRegion points the CLI at region for the rest of t, with a workflow of its own.
func (f *fixture) inRegion(t *testing.T, region string) {
	t.Helper()
	arn := f.deployWorkflow(t, region)
	t.Setenv("AWS_REGION", region)
	t.Setenv("AWS_DEFAULT_REGION", region)
	t.Setenv("FFB_STATE_MACHINE_ARN", arn)
}

// bootstrapZip is a deployment package; moto stores it and never runs it.
func bootstrapZip(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	z := zip.NewWriter(&buf)
	w, err := z.Create("bootstrap")
	if err == nil {
		_, err = w.Write([]byte("#!/bin/sh\n"))
	}
	if err == nil {
		err = z.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// stepPayload waits until the execution schedules the Lambda task whose payload has
// the given action, and returns that payload: the input the state machine built for
// the issue function (with the task token, for the wait step). moto's Lambda cannot
// run the handler, so the tests hand this payload to it in-process.
func (f *fixture) stepPayload(t *testing.T, execARN, action string) string {
	t.Helper()
	c := sfn.NewFromConfig(f.srv.Config(context.Background()), regionOf(execARN))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		h, err := c.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(execARN), MaxResults: 1000})
		if err != nil {
			t.Fatalf("GetExecutionHistory(%s): %v", execARN, err)
		}
		for _, ev := range h.Events {
			d := ev.TaskScheduledEventDetails
			if ev.Type != sfntypes.HistoryEventTypeTaskScheduled || d == nil {
				continue
			}
			var p struct {
				Payload json.RawMessage `json:"Payload"`
			}
			var step struct {
				Action string `json:"action"`
			}
			if json.Unmarshal([]byte(aws.ToString(d.Parameters)), &p) == nil && json.Unmarshal(p.Payload, &step) == nil && step.Action == action {
				return string(p.Payload)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("execution %s never scheduled its %q step", execARN, action)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// regionOf selects the region of an ARN for a client.
func regionOf(arn string) func(*sfn.Options) {
	return func(o *sfn.Options) {
		if parts := strings.Split(arn, ":"); len(parts) > 3 {
			o.Region = parts[3]
		}
	}
}
