package activity

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
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

// reader fetches the pages of one log group and time range.
type reader struct {
	client   LogsAPI
	group    string
	pageSize int32
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
	// Throttling is retried by the client's SDK retryer (broker/awsretry).
	return r.client.FilterLogEvents(ctx, in)
}

// cwEvent is one event of a FilterLogEvents page.
type cwEvent = types.FilteredLogEvent
