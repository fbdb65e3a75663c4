package secretsmanager_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/secretsmanager"
	"github.com/ffbroker/ffbroker/internal/awstest"
	"github.com/ffbroker/ffbroker/internal/secretstest"
)

// A function role whose IAM policy lacks the Secrets Manager permissions, for real:
// moto checks every call after the setup against the caller's IAM policies (and
// answers 403; AWS answers AccessDeniedException, TestStoreFaults). The
// store's error is aws_access_denied with category iam_policy, in the message and in
// the log line, and the password is in neither.
func TestStoreIAMPolicyDenied(t *testing.T) {
	const setupCalls = 3 // CreateUser, CreateAccessKey, PutUserPolicy
	srv := awstest.Start(t, awstest.WithAuthAfter(setupCalls))
	ctx := t.Context()
	ic := iam.NewFromConfig(srv.Config(ctx))
	user := aws.String("ffb-issue-function-without-secrets")
	if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: user}); err != nil {
		t.Fatal(err)
	}
	key, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: user})
	if err != nil {
		t.Fatal(err)
	}
	// The role may read the secrets but not write them: a policy that forgot PutSecretValue
	// and CreateSecret.
	if _, err := ic.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: user, PolicyName: aws.String("read-only"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["secretsmanager:DescribeSecret","secretsmanager:GetSecretValue","secretsmanager:ListSecretVersionIds"],"Resource":"*"}]}`)}); err != nil {
		t.Fatal(err)
	}
	cfg := srv.Config(ctx)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey), "")
	store := secretsmanager.New(sm.NewFromConfig(cfg), "", nil)

	id := secretstest.GrantID(t)
	v := secretstest.GrantValue(t, id)
	_, _, err = store.PutPending(ctx, secretsTestRole, id, v)
	if err == nil {
		t.Fatal("PutPending with a role that may not write secrets: error = nil; want a refusal")
	}
	if broker.ErrorCode(err) != broker.CodeAWSAccessDenied || broker.ErrorCategory(err) != broker.CategoryIAMPolicy {
		t.Errorf("PutPending error = %v; want code aws_access_denied, category iam_policy", err)
	}
	if msg := broker.ErrorMessage(err); !strings.HasSuffix(msg, "(category iam_policy)") {
		t.Errorf("ErrorMessage = %q; want it to end with (category iam_policy)", msg)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Error("request failed", "error", err)
	var line struct {
		Error struct{ Code, Category, Cause string } `json:"error"`
	}
	if e := json.Unmarshal(buf.Bytes(), &line); e != nil || line.Error.Code != "aws_access_denied" || line.Error.Category != "iam_policy" ||
		!strings.Contains(line.Error.Cause, "StatusCode: 403") {
		t.Errorf("log line %s (%v); want code aws_access_denied, category iam_policy and the 403 cause", buf.String(), e)
	}
	if p := v.Password.Reveal(); strings.Contains(buf.String(), p) || strings.Contains(err.Error(), p) {
		t.Error("the error or its log line holds the password")
	}
}
