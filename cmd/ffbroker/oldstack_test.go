package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/ffbroker/ffbroker/internal/awstest"
)

// A stack deployed before the RolePrefix and SecretPrefix outputs existed has none:
// configure --stack refuses it and says what to do, instead of saving no prefixes
// (connect would then read the default deployment's secret, in an account that may
// run one). With the flags it saves them. (Red team 4.)
func TestConfigureFromAnOlderStack(t *testing.T) {
	srv := shared.Moto(t)
	ctx := context.Background()
	tpl := `{"Resources":{"T":{"Type":"AWS::SNS::Topic"}},"Outputs":{
"ApiUrl":{"Value":"https://abc124.execute-api.us-east-1.amazonaws.com/prod"},
"ServerId":{"Value":"arn:aws:cloudformation:us-east-1:123456789012:stack/ffb-old/1"},
"ReadOnlySecretName":{"Value":"firefighter/acme/acme_pg_firefighter_ro"},
"ReadWriteSecretName":{"Value":"firefighter/acme/acme_pg_firefighter_rw"}}}`
	if _, err := cloudformation.NewFromConfig(srv.Config(ctx)).CreateStack(ctx, &cloudformation.CreateStackInput{
		StackName: aws.String("ffb-old"), TemplateBody: aws.String(tpl)}); err != nil {
		t.Fatal(err)
	}
	e := baseEnv(t).with("AWS_ENDPOINT_URL", srv.Endpoint, "AWS_ACCESS_KEY_ID", awstest.AccessKeyID, "AWS_SECRET_ACCESS_KEY", awstest.SecretAccessKey)
	code, out, errOut := clientRun(t, e, "configure", "--stack", "ffb-old", "--json")
	if code != exitFailed || out != "" || !strings.Contains(errOut, "--role-prefix and --secret-prefix") {
		t.Errorf("configure --stack of a stack without RolePrefix/SecretPrefix outputs = %d %q %q; want a refusal naming the flags", code, out, errOut)
	}
	code, out, errOut = clientRun(t, e, "configure", "--stack", "ffb-old", "--role-prefix", "acme_pg", "--secret-prefix", "firefighter/acme", "--json")
	var got clientConfig
	if err := json.Unmarshal([]byte(out), &got); code != exitOK || err != nil || got.RolePrefix != "acme_pg" || got.SecretPrefix != "firefighter/acme" {
		t.Errorf("configure --stack ffb-old with both flags = %d %+v %q; want them saved", code, got, errOut)
	}
}
