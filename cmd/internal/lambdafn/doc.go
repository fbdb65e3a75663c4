// Package lambdafn holds the handlers of ffbroker's four Lambda functions and the
// dependencies they build once per cold start. The mains in cmd/issue, cmd/expire,
// cmd/approve and cmd/activity only build a handler and start the Lambda runtime; the
// operator CLI (ffbroker invoke) runs the very same handlers in-process.
//
// Each handler takes the raw event and recognises the shapes its function receives:
// API Gateway REST proxy events (the requester is the authenticated IAM caller from
// requestContext, never a field of the body), Step Functions task input (an object
// with an "action"), and EventBridge scheduled events. Any other shape is refused with
// a typed error and a request.rejected audit record. API events always get an HTTP
// answer; Step Functions input gets named error types (InvalidInputError,
// ForbiddenError, NotFoundError, ConflictError, UnavailableError, InternalError) so the
// state machine can Retry and Catch them.
package lambdafn
