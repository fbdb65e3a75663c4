package localapi

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// setup creates in moto what the stack would have.
type setup struct {
	ctx    context.Context
	aws    aws.Config
	tmpl   *Template
	env    Env
	out    io.Writer
	params map[string]string
	p      pseudo
}

// setupResult is what the functions and the runner need from the setup.
type setupResult struct {
	// overlay is the environment the stack gives the functions beyond the shell's.
	overlay      map[string]string
	stateMachine string
	roleARN      string
	plan         *Plan
	// functionARNs are the moto ARNs of the functions, by kind.
	functionARNs map[string]string
	// workflowFunctions are the functions the definition invokes: ARN -> kind.
	workflowFunctions map[string]string
}

func (s *setup) say(format string, args ...any) {
	fmt.Fprintf(s.out, "local-api: "+format+"\n", args...)
}

func (s *setup) run() (*setupResult, error) {
	res := &setupResult{overlay: map[string]string{}, functionARNs: map[string]string{}, workflowFunctions: map[string]string{}}
	if err := s.motoExecutes(); err != nil {
		return nil, err
	}
	var err error
	if res.roleARN, err = s.role(); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(s.tmpl.Functions))
	for id := range s.tmpl.Functions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	arns := map[string]string{}
	for _, id := range ids {
		kind := s.tmpl.Functions[id]
		res.functionARNs[kind] = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s-%s", s.p.Region, s.p.Account, s.p.StackName, kind)
		arns[id] = res.functionARNs[kind]
	}
	// The definition: DefinitionSubstitutions filled the way CloudFormation does.
	def := string(s.tmpl.StateMachine.Definition)
	keys := make([]string, 0, len(s.tmpl.StateMachine.Substitutions))
	for k := range s.tmpl.StateMachine.Substitutions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := s.tmpl.StateMachine.Substitutions[k]
		if ga, ok := v.(map[string]any)["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
			id, _ := ga[0].(string)
			if kind, isFn := s.tmpl.Functions[id]; isFn {
				if err := s.function(arns[id], kind, res.roleARN); err != nil {
					return nil, err
				}
				res.workflowFunctions[arns[id]] = kind
			}
		}
		val, err := s.tmpl.resolve(v, s.p, s.params, arns)
		if err != nil {
			return nil, fmt.Errorf("DefinitionSubstitutions %s: %w", k, err)
		}
		def = strings.ReplaceAll(def, "${"+k+"}", val)
	}
	if res.plan, err = Rewrite([]byte(def)); err != nil {
		return nil, fmt.Errorf("statemachine: %w", err)
	}
	if res.stateMachine, err = s.stateMachine(res.plan.Definition, res.roleARN); err != nil {
		return nil, err
	}
	res.overlay["FFB_STATE_MACHINE_ARN"] = res.stateMachine
	if res.overlay["FFB_NOTIFY_TOPIC_ARN"], err = s.topic(); err != nil {
		return nil, err
	}
	if res.overlay["FFB_AUDIT_LOG_GROUP"], err = s.logGroup(); err != nil {
		return nil, err
	}
	if s.env.ServerID == "" {
		res.overlay["FFB_SERVER_ID"] = s.p.StackName
	}
	if s.env.Accounts == "" {
		res.overlay["FFB_ACCOUNTS"] = s.p.Account
	}
	return res, nil
}

// motoExecutes turns on moto's execution of state machines (off by default: moto
// then only records executions) and its Lambda without Docker, through moto's own
// configuration API at AWS_ENDPOINT_URL.
func (s *setup) motoExecutes() error {
	ep := s.env.EndpointURL
	if ep == "" {
		return errors.New("AWS_ENDPOINT_URL: required (local-api runs against moto_server)")
	}
	body := `{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}`
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, strings.TrimRight(ep, "/")+"/moto-api/config", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("configure moto at %s: %w", ep, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("configure moto at %s: HTTP %d (is it moto_server?)", ep, resp.StatusCode)
	}
	s.say("moto at %s executes state machines", ep)
	return nil
}

// role is the IAM role the functions and the workflow run as in moto.
func (s *setup) role() (string, error) {
	c := iam.NewFromConfig(s.aws)
	name := s.p.StackName + "-local"
	if out, err := c.GetRole(s.ctx, &iam.GetRoleInput{RoleName: aws.String(name)}); err == nil {
		return aws.ToString(out.Role.Arn), nil
	}
	out, err := c.CreateRole(s.ctx, &iam.CreateRoleInput{RoleName: aws.String(name),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":["lambda.amazonaws.com","states.amazonaws.com"]},"Action":"sts:AssumeRole"}]}`)})
	var exists *iamtypes.EntityAlreadyExistsException
	if errors.As(err, &exists) {
		return fmt.Sprintf("arn:aws:iam::%s:role/%s", s.p.Account, name), nil
	}
	if err != nil {
		return "", fmt.Errorf("create the IAM role %s in moto: %w", name, err)
	}
	s.say("created IAM role %s", aws.ToString(out.Role.Arn))
	return aws.ToString(out.Role.Arn), nil
}

// function makes sure moto has the Lambda function arn (a placeholder package:
// moto stores it, local-api runs the handler).
func (s *setup) function(arn, kind, role string) error {
	c := lambda.NewFromConfig(s.aws)
	name := arn[strings.LastIndex(arn, ":")+1:]
	if _, err := c.GetFunction(s.ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)}); err == nil {
		s.say("found Lambda function %s (%s)", name, kind)
		return nil
	}
	var zipped bytes.Buffer
	z := zip.NewWriter(&zipped)
	if w, err := z.Create("bootstrap"); err == nil {
		_, _ = w.Write([]byte("#!/bin/sh\n# local-api runs this function's handler in-process\n"))
	}
	if err := z.Close(); err != nil {
		return err
	}
	_, err := c.CreateFunction(s.ctx, &lambda.CreateFunctionInput{FunctionName: aws.String(name), Runtime: lambdatypes.RuntimeProvidedal2023,
		Architectures: []lambdatypes.Architecture{lambdatypes.ArchitectureArm64}, Handler: aws.String("bootstrap"),
		Role: aws.String(role), Code: &lambdatypes.FunctionCode{ZipFile: zipped.Bytes()}})
	var exists *lambdatypes.ResourceConflictException
	if errors.As(err, &exists) {
		// Created meanwhile, or by this very call when the SDK retried it after its
		// answer was lost.
		s.say("found Lambda function %s (%s)", name, kind)
		return nil
	}
	if err != nil {
		return fmt.Errorf("create the Lambda function %s in moto: %w", name, err)
	}
	s.say("created Lambda function %s (%s; its handler runs in local-api)", name, kind)
	return nil
}

// stateMachine makes sure the approval state machine exists and returns its ARN:
// FFB_STATE_MACHINE_ARN when set, else the template's Name in this account.
func (s *setup) stateMachine(definition, role string) (string, error) {
	arn := s.env.StateMachineARN
	if arn == "" {
		name, err := s.tmpl.resolve(s.tmpl.StateMachine.Name, s.p, s.params, nil)
		if err != nil {
			return "", fmt.Errorf("the state machine's Name: %w", err)
		}
		arn = fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", s.p.Region, s.p.Account, name)
	}
	c := sfn.NewFromConfig(s.aws)
	_, err := c.DescribeStateMachine(s.ctx, &sfn.DescribeStateMachineInput{StateMachineArn: aws.String(arn)})
	var missing *sfntypes.StateMachineDoesNotExist
	switch {
	case err == nil:
		s.say("found state machine %s (executions run on copies with local-api's definition)", arn)
		return arn, nil
	case !errors.As(err, &missing):
		return "", fmt.Errorf("describe the state machine %s in moto: %w", arn, err)
	}
	if acct := arnAccount(arn); acct != s.p.Account {
		return "", fmt.Errorf("FFB_STATE_MACHINE_ARN: %s is in account %s, local-api runs in %s", arn, acct, s.p.Account)
	}
	out, err := c.CreateStateMachine(s.ctx, &sfn.CreateStateMachineInput{Name: aws.String(arn[strings.LastIndex(arn, ":")+1:]),
		Definition: aws.String(definition), RoleArn: aws.String(role), Type: sfntypes.StateMachineTypeStandard})
	if err != nil {
		return "", fmt.Errorf("create the approval state machine in moto: %w", err)
	}
	s.say("created state machine %s from %s (Lambda tasks rewritten to .waitForTaskToken)", aws.ToString(out.StateMachineArn), "the template's DefinitionUri")
	return aws.ToString(out.StateMachineArn), nil
}

// topic makes sure the approvals topic exists: FFB_NOTIFY_TOPIC_ARN's name, else
// <stack>-ApprovalTopic.
func (s *setup) topic() (string, error) {
	c := sns.NewFromConfig(s.aws)
	arn := s.env.NotifyTopicARN
	if arn != "" {
		if _, err := c.GetTopicAttributes(s.ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)}); err == nil {
			s.say("found SNS topic %s", arn)
			return arn, nil
		}
	}
	name := s.p.StackName + "-ApprovalTopic"
	if arn != "" {
		name = arn[strings.LastIndex(arn, ":")+1:]
	}
	out, err := c.CreateTopic(s.ctx, &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("create the SNS topic %s in moto: %w", name, err)
	}
	s.say("created SNS topic %s", aws.ToString(out.TopicArn))
	return aws.ToString(out.TopicArn), nil
}

// logGroup makes sure the audit log group exists: FFB_AUDIT_LOG_GROUP, else
// <stack>-AuditLogGroup.
func (s *setup) logGroup() (string, error) {
	c := cloudwatchlogs.NewFromConfig(s.aws)
	name := s.env.AuditLogGroup
	if name == "" {
		name = s.p.StackName + "-AuditLogGroup"
	}
	out, err := c.DescribeLogGroups(s.ctx, &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(name)})
	if err != nil {
		return "", fmt.Errorf("describe the log group %s in moto: %w", name, err)
	}
	for _, g := range out.LogGroups {
		if aws.ToString(g.LogGroupName) == name {
			s.say("found audit log group %s", name)
			return name, nil
		}
	}
	if _, err := c.CreateLogGroup(s.ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(name)}); err != nil {
		return "", fmt.Errorf("create the audit log group %s in moto: %w", name, err)
	}
	s.say("created audit log group %s", name)
	return name, nil
}
