package activity

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"
)

// FilterPattern is the server-side filter of FilterLogEvents: only the connection
// lines travel (the replication form matches too), PostgreSQL 18's "connection
// ready", and the FATAL lines that may refuse an authorized session. Lines it lets
// through that are not connection lines are counted and ignored.
const FilterPattern = `?"connection authorized" ?"connection received" ?"connection ready" ?"FATAL"`

// LogsAPI is the part of the CloudWatch Logs client the job calls;
// *cloudwatchlogs.Client implements it.
type LogsAPI interface {
	FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error)
}

// Backoff of the reader while CloudWatch Logs throttles (on top of the SDK's own
// retries): full jitter from retryBase doubling to retryCap, at most retryAttempts
// calls for one page.
const (
	retryBase     = 200 * time.Millisecond
	retryCap      = 5 * time.Second
	retryAttempts = 8
)

// reader fetches the pages of one log group and time range.
type reader struct {
	client   LogsAPI
	group    string
	pageSize int32
	// budget reports how long the reader may still wait before the run must stop.
	budget func() time.Duration
}

// page fetches the events from startMs to endMs (both inclusive, in time order),
// after token when it is not empty.
func (r *reader) page(ctx context.Context, startMs, endMs int64, token string) (*cloudwatchlogs.FilterLogEventsOutput, error) {
	in := &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName:  aws.String(r.group),
		StartTime:     aws.Int64(startMs),
		EndTime:       aws.Int64(endMs),
		FilterPattern: aws.String(FilterPattern),
		Limit:         aws.Int32(r.pageSize),
		// Ignored by AWS, which always interleaves the streams in time order; emulators
		// need it to do the same.
		//lint:ignore SA1019 moto_server interleaves the streams only when asked to
		Interleaved: aws.Bool(true),
	}
	if token != "" {
		in.NextToken = aws.String(token)
	}
	for attempt := 0; ; attempt++ {
		out, err := r.client.FilterLogEvents(ctx, in)
		if err == nil {
			return out, nil
		}
		if !throttled(err) || attempt+1 >= retryAttempts {
			return nil, err
		}
		wait := jitter(attempt)
		if wait >= r.budget() {
			return nil, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// throttled reports an error that a later call may not get: throttling or a
// service that is briefly unavailable.
func throttled(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "ThrottlingException", "LimitExceededException", "ServiceUnavailableException",
		"TooManyRequestsException", "RequestLimitExceeded":
		return true
	}
	return false
}

// jitter returns a random wait from 0 to min(retryCap, retryBase*2^attempt).
func jitter(attempt int) time.Duration {
	ceiling := retryCap
	if attempt < 10 {
		ceiling = min(retryCap, retryBase<<attempt)
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// cwEvent is one event of a FilterLogEvents page.
type cwEvent = types.FilteredLogEvent
