// Package awsretry is ffbroker's one retry policy for AWS calls and its one
// classifier of AWS errors.
//
// New is the retryer every SDK client of the functions and the CLI uses (set as
// aws.Config.Retryer by Apply where they load their configuration): the SDK's
// standard retryer with a deliberate attempt budget (MaxAttempts), a short backoff
// cap (MaxBackoff), and the server-side error codes that some services answer
// without a 5xx status added to the SDK's own lists of throttling and transient
// errors (retry.DefaultThrottleErrorCodes, retry.DefaultRetryableErrorCodes), so
// that no caller needs a retry loop of its own.
//
// Transient tells a caller, once the SDK gave up, whether a later call may succeed
// (the broker's code unavailable) or not; RetryableCode does the same for an error
// code read from an answer the SDK did not parse (the identity proof's STS call).
package awsretry
