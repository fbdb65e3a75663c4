// Package localapi serves ffbroker's REST API on this machine like
// `sam local start-api`, with the functions' own handlers and configuration, against
// PostgreSQL and moto_server (AWS_ENDPOINT_URL); `ffbroker local-api` runs it.
//
// Routes come from template.yaml at start: every Api event of a function is served by
// that function's handler, built once as its Lambda builds it at cold start from the
// FFB_* environment plus what the stack would set (FFB_STATE_MACHINE_ARN,
// FFB_NOTIFY_TOPIC_ARN, FFB_AUDIT_LOG_GROUP, and FFB_SERVER_ID and FFB_ACCOUNTS when
// unset). The handlers come in through Options.Functions: cmd/ffbroker builds them
// with config.LoadLocal and lambdafn (Check, BuildWith; the approve function on its own
// database login), which Go's internal-package rule keeps this package from
// importing. Each HTTP
// call becomes the events.APIGatewayProxyRequest of API Gateway's REST proxy
// integration (Resource, Path without the stage, path parameters, single- and
// multi-valued query and headers, the body, base64 when it is not UTF-8, a
// requestContext with stage "local"); an optional /prod prefix is accepted, so a
// client configured with the stack's ApiUrl works unchanged. The answer is the
// handler's status, headers and body. API Gateway's IAM authorization cannot run
// here: requestContext.identity.userArn stays empty, and the handlers' check of the
// identity proof against moto's STS (moto IAM users and roles stand for people) is
// the only check of who calls, as it is the one that counts in AWS.
//
// At start it creates in moto what the stack would have when it is missing: the audit
// log group, the approvals topic, the Lambda functions the workflow names
// (placeholder packages) and the approval state machine from its DefinitionUri with
// DefinitionSubstitutions filled as CloudFormation does.
//
// The approval workflow runs for real: moto executes the definition, but cannot run
// Lambda code, so Rewrite turns each lambda:invoke task into its .waitForTaskToken
// form with the task token under TokenKey, and a runner follows the executions'
// histories and runs every scheduled Lambda task once on the owning function's
// handler with the payload moto built, answering with SendTaskSuccess (the
// lambda:invoke result, the output as Payload) or SendTaskFailure (the error's type
// name and the runtime's error payload, as a Lambda function error). Tasks that
// already waited for a token are run but not answered: the approve function resumes
// them. A definition with a state or Task resource the runner does not follow is
// refused at start.
//
// moto 5.2 cannot start a second execution in one account and region (see
// accounts); each execution runs on a copy of the state machine in a moto account
// of its own, and the execution ARNs carry that account.
package localapi
