package awsretry_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/awsretry"
	"github.com/ffbroker/ffbroker/broker/secretsmanager"
	"github.com/ffbroker/ffbroker/internal/awstest"
)

// throttledConfig returns an SDK configuration with the policy that reaches moto
// through a Throttler. The environment asks for 10 attempts, which the policy
// ignores; the waits between attempts are cut to a millisecond so the test does
// not sleep (the attempts, not the waits, are what it checks).
func throttledConfig(t *testing.T, srv *awstest.Server) (aws.Config, *awstest.Throttler) {
	t.Helper()
	th := awstest.Throttle(t, srv.Endpoint, 0)
	cfg := th.Config(t.Context())
	cfg.RetryMaxAttempts = 10
	cfg = awsretry.Apply(cfg)
	policy := cfg.Retryer
	cfg.Retryer = func() aws.Retryer { return retry.AddWithMaxBackoffDelay(policy(), time.Millisecond) }
	return cfg, th
}

// A throttled operation is sent again by the SDK client, up to MaxAttempts round
// trips in all, and the callers (the Secrets Manager store, the CloudWatch Logs
// audit sink) make one operation of it: no retry of their own on top.
func TestPolicyRetriesThrottling(t *testing.T) {
	srv := awstest.Start(t)
	cfg, th := throttledConfig(t, srv)
	client := sm.NewFromConfig(cfg)
	ctx := t.Context()
	if _, err := client.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("firefighter/my-pg/my_pg_firefighter_ro"),
		SecretString: aws.String(`{"status":"expired"}`)}); err != nil {
		t.Fatalf("CreateSecret() error = %v", err)
	}
	logs := cloudwatchlogs.NewFromConfig(cfg)
	if _, err := logs.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/ffbroker/audit")}); err != nil {
		t.Fatalf("CreateLogGroup() error = %v", err)
	}
	store := secretsmanager.New(client, "", nil)

	calls := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"GetSecretValue", func(ctx context.Context) error {
			_, err := client.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("firefighter/my-pg/my_pg_firefighter_ro")})
			return err
		}},
		{"Store.Current", func(ctx context.Context) error {
			_, _, err := store.Current(ctx, "my_pg_firefighter_ro")
			return err
		}},
		{"CloudWatchSink.Write", func(ctx context.Context) error {
			// A new stream each time: the sink's first call is CreateLogStream.
			sink := audit.NewCloudWatchSink(logs, "/ffbroker/audit", fmt.Sprintf("s-%d", time.Now().UnixNano()), audit.CloudWatchOptions{})
			return sink.Write(ctx, audit.Record{Event: audit.EventPasswordExpired, Outcome: audit.OutcomeSuccess, Source: audit.SourceSchedule})
		}},
	}
	tests := []struct {
		throttled  int
		wantTrips  int
		wantFailed bool
	}{
		{throttled: 0, wantTrips: 1},
		{throttled: 1, wantTrips: 2},
		{throttled: awsretry.MaxAttempts - 1, wantTrips: awsretry.MaxAttempts},
		{throttled: awsretry.MaxAttempts, wantTrips: awsretry.MaxAttempts, wantFailed: true},
		{throttled: 3 * awsretry.MaxAttempts, wantTrips: awsretry.MaxAttempts, wantFailed: true},
	}
	for _, c := range calls {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s throttled %d times", c.name, tt.throttled), func(t *testing.T) {
				th.Reset(tt.throttled)
				err := c.call(t.Context())
				trips := th.Requests()
				if c.name == "CloudWatchSink.Write" && !tt.wantFailed {
					trips -= 1 // PutLogEvents after the stream exists
				}
				if trips != tt.wantTrips {
					t.Errorf("%s with %d throttling answers made %d round trips; want %d", c.name, tt.throttled, trips, tt.wantTrips)
				}
				if got := err != nil; got != tt.wantFailed {
					t.Fatalf("%s with %d throttling answers error = %v; want failed %v", c.name, tt.throttled, err, tt.wantFailed)
				}
				if err == nil {
					return
				}
				if !awsretry.Transient(err) {
					t.Errorf("Transient(%v) = false; want true for throttling", err)
				}
				if c.name == "Store.Current" && broker.ErrorCode(err) != broker.CodeUnavailable {
					t.Errorf("Store.Current() throttled error = %v; want code unavailable", err)
				}
			})
		}
	}
}

func TestApplyOverridesTheEnvironment(t *testing.T) {
	cfg := awsretry.Apply(aws.Config{RetryMaxAttempts: 10, RetryMode: aws.RetryModeAdaptive})
	if cfg.RetryMaxAttempts != 0 || cfg.RetryMode != "" || cfg.Retryer == nil {
		t.Fatalf("Apply() = attempts %d, mode %q, retryer set %v; want 0, \"\", true", cfg.RetryMaxAttempts, cfg.RetryMode, cfg.Retryer != nil)
	}
	if got := cfg.Retryer().MaxAttempts(); got != awsretry.MaxAttempts {
		t.Errorf("Apply().Retryer().MaxAttempts() = %d; want %d", got, awsretry.MaxAttempts)
	}
}

func TestTransient(t *testing.T) {
	op := func(err error) error {
		return &smithy.OperationError{ServiceID: "Secrets Manager", OperationName: "PutSecretValue", Err: err}
	}
	status := func(code int) error {
		resp := &smithyhttp.Response{Response: &http.Response{StatusCode: code}}
		return op(&awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{Response: resp, Err: errors.New("answer")}})
	}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"ThrottlingException", op(&smithy.GenericAPIError{Code: "ThrottlingException"}), true},
		{"Throttling (query protocol)", op(&smithy.GenericAPIError{Code: "Throttling"}), true},
		{"LimitExceededException", op(&smithy.GenericAPIError{Code: "LimitExceededException"}), true},
		{"RequestLimitExceeded", op(&smithy.GenericAPIError{Code: "RequestLimitExceeded"}), true},
		{"InternalServiceError type", op(&smtypes.InternalServiceError{Message: aws.String("x")}), true},
		{"InternalServiceError code", &smithy.GenericAPIError{Code: "InternalServiceError"}, true},
		{"ServiceUnavailable code", &smithy.GenericAPIError{Code: "ServiceUnavailable"}, true},
		{"server fault", &smithy.GenericAPIError{Code: "Whatever", Fault: smithy.FaultServer}, true},
		{"http 503", status(503), true},
		{"http 429", status(429), true},
		{"http 403", status(403), false},
		{"network", op(&smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("refused")}}), true},
		{"deadline", fmt.Errorf("sending: %w", context.DeadlineExceeded), true},
		{"canceled", context.Canceled, true},
		{"AccessDeniedException", op(&smithy.GenericAPIError{Code: "AccessDeniedException", Fault: smithy.FaultClient}), false},
		{"ResourceNotFoundException", op(&smtypes.ResourceNotFoundException{Message: aws.String("x")}), false},
		{"InvalidParameterException", op(&smithy.GenericAPIError{Code: "InvalidParameterException", Fault: smithy.FaultClient}), false},
		{"plain error", errors.New("bad"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := awsretry.Transient(tt.err); got != tt.want {
				t.Errorf("Transient(%v) = %v; want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestRetryableCode(t *testing.T) {
	for code, want := range map[string]bool{
		"Throttling": true, "ThrottlingException": true, "RequestThrottled": true, "TooManyRequestsException": true,
		"RequestLimitExceeded": true, "ServiceUnavailable": true, "InternalFailure": true,
		"InvalidClientTokenId": false, "SignatureDoesNotMatch": false, "AccessDenied": false, "": false,
	} {
		if got := awsretry.RetryableCode(code); got != want {
			t.Errorf("RetryableCode(%q) = %v; want %v", code, got, want)
		}
	}
}
