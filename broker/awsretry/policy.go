package awsretry

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// MaxAttempts is how many times one SDK operation is sent, the first time
// included, while AWS throttles or fails on its side. Some calls run while the
// database holds the role's advisory lock (the promotion of a grant's secret
// version, the tombstone), so the budget is small: with MaxBackoff, one operation
// waits at most (MaxAttempts-1) × MaxBackoff before it gives up and the caller
// answers unavailable, which the client and the next sweep retry.
const MaxAttempts = 4

// MaxBackoff caps the jittered exponential wait between two attempts.
const MaxBackoff = 2 * time.Second

// serverErrorCodes returns the error codes of server-side failures that some
// services answer without a 5xx status (or that emulators answer with 400). Each
// call builds a new set: the SDK's retryer keeps the one it is given.
func serverErrorCodes() map[string]struct{} {
	return map[string]struct{}{
		"InternalServiceError":        {}, // Secrets Manager's own
		"InternalFailure":             {},
		"InternalServerError":         {},
		"ServiceUnavailable":          {},
		"ServiceUnavailableException": {},
	}
}

// New returns a new retryer of the policy; it is an aws.Config.Retryer. Each
// client gets its own, with its own retry quota.
func New() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = MaxAttempts
		o.MaxBackoff = MaxBackoff
		o.Retryables = append(o.Retryables, retry.RetryableErrorCode{Codes: serverErrorCodes()})
	})
}

// Apply returns cfg with the policy as its retryer. The policy's budget holds
// whatever AWS_MAX_ATTEMPTS or AWS_RETRY_MODE say.
func Apply(cfg aws.Config) aws.Config {
	cfg.Retryer = New
	cfg.RetryMaxAttempts = 0
	cfg.RetryMode = ""
	return cfg
}

// RetryableCode reports whether an AWS error code means "later", not "no":
// throttling, a transient or a server-side failure.
func RetryableCode(code string) bool {
	_, throttle := retry.DefaultThrottleErrorCodes[code]
	_, retryable := retry.DefaultRetryableErrorCodes[code]
	_, server := serverErrorCodes()[code]
	return throttle || retryable || server
}

// Transient reports whether err, returned by an SDK operation after the policy's
// retries, may not happen to a later call: throttling, a server-side failure
// (a 5xx or 429 status, a server fault or code), the network, a timeout, or the
// caller's context ending. Anything else (a refusal, a bad request, a missing
// resource) is not.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorFault() == smithy.FaultServer || RetryableCode(ae.ErrorCode())) {
		return true
	}
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && (status.HTTPStatusCode() == 429 || status.HTTPStatusCode() >= 500) {
		return true
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}
