// Package lambdafn holds the handlers of ffbroker's four Lambda functions and the
// dependencies they build once per cold start. The mains in cmd/issue, cmd/expire,
// cmd/approve and cmd/activity only build a handler and start the Lambda runtime; the
// operator CLI (ffbroker invoke) runs the very same handlers in-process.
//
// Each handler takes the raw event and recognises the shapes its function receives:
// API Gateway REST proxy events (the requester is the authenticated IAM caller from
// requestContext, never a field of the body), Step Functions task input (an object
// with an "action"), and EventBridge scheduled events. Any other shape is refused with
// a typed error and a request.rejected audit record.
//
// This package is the edge where broker's error codes get their outside names: API
// events always get an HTTP answer whose status comes from the code (status.go);
// Step Functions input gets named error types (InvalidInputError, ForbiddenError,
// NotFoundError, ConflictError, UnavailableError, InternalError) so the state machine
// can Retry and Catch them. workflow.go is the whole Go contract of the approval
// workflow (statemachine/approval.asl.json): the steps' actions, inputs and outputs,
// the error names, and the task-token wait; workflow_test.go checks the definition
// against it.
package lambdafn
