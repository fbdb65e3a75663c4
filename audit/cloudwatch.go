package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// Limits of one PutLogEvents call.
const (
	maxBatchEvents = 10_000
	maxBatchBytes  = 1_048_576
	eventOverhead  = 26 // bytes counted per event on top of its message
	maxEventBytes  = maxBatchBytes - eventOverhead
	maxBatchSpan   = 24 * time.Hour
	// Events further in the past or future are rejected by the service; a margin
	// allows for clock skew between the caller and AWS.
	maxEventAge    = 14*24*time.Hour - 5*time.Minute
	maxEventFuture = 2*time.Hour - 5*time.Minute
	// maxSequenceRetries bounds the retries with a corrected sequence token.
	maxSequenceRetries = 10
)

// CWLogsAPI is the part of the CloudWatch Logs client that CloudWatchSink calls;
// *cloudwatchlogs.Client implements it.
type CWLogsAPI interface {
	CreateLogStream(ctx context.Context, in *cloudwatchlogs.CreateLogStreamInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error)
	PutLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error)
}

// CloudWatchOptions tunes a CloudWatchSink; the zero value is ready to use. The
// sink retries nothing itself: throttling and server failures are retried by the
// client's SDK retryer (broker/awsretry in the functions).
type CloudWatchOptions struct {
	// Now returns the time for records without one and for the age checks; nil
	// means time.Now.
	Now func() time.Time
}

// CloudWatchSink puts records into one log stream of a CloudWatch Logs group,
// synchronously: Write returns only after PutLogEvents accepted the event, so the
// record is durable before the caller changes anything.
//
// The log group must exist (it is provisioned with its retention and encryption);
// the stream is created on first use. Several sinks, in one process or many, may
// share a stream: when the service asks for a sequence token (moto, older AWS
// behaviour) the sink takes the expected one and retries, which after a
// DataAlreadyAcceptedException can store a record twice rather than lose it.
// A CloudWatchSink is safe for concurrent use; its writes are serialised.
type CloudWatchSink struct {
	client CWLogsAPI
	group  string
	stream string
	opts   CloudWatchOptions

	mu    sync.Mutex
	ready bool    // the stream is known to exist
	token *string // next sequence token, when the service hands one out
}

// NewCloudWatchSink returns a sink that writes to the stream in the group.
func NewCloudWatchSink(client CWLogsAPI, group, stream string, opts CloudWatchOptions) *CloudWatchSink {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &CloudWatchSink{client: client, group: group, stream: stream, opts: opts}
}

// Write puts r as one log event and returns once CloudWatch Logs accepted it.
func (s *CloudWatchSink) Write(ctx context.Context, r Record) error {
	return s.WriteBatch(ctx, []Record{r})
}

// WriteBatch puts the records in time order, in as few PutLogEvents calls as the
// API's limits allow (10,000 events, 1,048,576 bytes with 26 bytes per event, a
// span of at most 24 hours). Records are checked first: an invalid record, or one
// older than 14 days or more than 2 hours ahead, fails the batch before anything
// is written. A failure later leaves the earlier calls' records stored; the error
// says how many.
func (s *CloudWatchSink) WriteBatch(ctx context.Context, records []Record) error {
	events, err := s.events(records)
	if err != nil {
		return err
	}
	if len(events) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.ensureStream(ctx); err != nil {
		return err
	}
	written := 0
	for _, batch := range batches(events) {
		if err := s.put(ctx, batch); err != nil {
			if len(events) > 1 {
				err = fmt.Errorf("audit: wrote %d of %d records: %w", written, len(events), err)
			}
			return err
		}
		written += len(batch)
	}
	return nil
}

// events encodes and checks the records and sorts them by time.
func (s *CloudWatchSink) events(records []Record) ([]types.InputLogEvent, error) {
	now := s.opts.Now()
	oldest, newest := now.Add(-maxEventAge), now.Add(maxEventFuture)
	events := make([]types.InputLogEvent, 0, len(records))
	for _, r := range records {
		r, line, err := encode(r, s.opts.Now)
		if err != nil {
			return nil, err
		}
		switch {
		case len(line) > maxEventBytes:
			return nil, fmt.Errorf("audit: %s record is %d bytes; cloudwatch logs takes at most %d", r.Event, len(line), maxEventBytes)
		case r.Time.Before(oldest):
			return nil, fmt.Errorf("audit: %s record time %s is more than 14 days old; cloudwatch logs would reject it", r.Event, r.Time.Format(time.RFC3339))
		case r.Time.After(newest):
			return nil, fmt.Errorf("audit: %s record time %s is more than 2 hours ahead; cloudwatch logs would reject it", r.Event, r.Time.Format(time.RFC3339))
		}
		events = append(events, types.InputLogEvent{
			Message:   aws.String(string(line)),
			Timestamp: aws.Int64(r.Time.UnixMilli()),
		})
	}
	slices.SortStableFunc(events, func(a, b types.InputLogEvent) int {
		return cmp.Compare(*a.Timestamp, *b.Timestamp)
	})
	return events, nil
}

// batches splits time-ordered events into PutLogEvents-sized batches.
func batches(events []types.InputLogEvent) [][]types.InputLogEvent {
	var out [][]types.InputLogEvent
	start, size := 0, 0
	for i, e := range events {
		n := len(*e.Message) + eventOverhead
		span := time.Duration(*e.Timestamp-*events[start].Timestamp) * time.Millisecond
		if i > start && (i-start == maxBatchEvents || size+n > maxBatchBytes || span >= maxBatchSpan) {
			out = append(out, events[start:i])
			start, size = i, 0
		}
		size += n
	}
	return append(out, events[start:])
}

// ensureStream creates the log stream unless it is known to exist.
func (s *CloudWatchSink) ensureStream(ctx context.Context) error {
	if s.ready {
		return nil
	}
	_, err := s.client.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{
		LogGroupName:  aws.String(s.group),
		LogStreamName: aws.String(s.stream),
	})
	var exists *types.ResourceAlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("audit: create log stream %q in group %q: %w", s.stream, s.group, err)
	}
	s.ready, s.token = true, nil
	return nil
}

// put sends one batch, following the service's sequence token and re-creating the
// stream once if it has vanished.
func (s *CloudWatchSink) put(ctx context.Context, events []types.InputLogEvent) error {
	sequenceRetries, recreated := 0, false
	for {
		out, err := s.client.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
			LogGroupName:  aws.String(s.group),
			LogStreamName: aws.String(s.stream),
			LogEvents:     events,
			SequenceToken: s.token,
		})
		if err == nil {
			s.token = out.NextSequenceToken
			return rejected(out.RejectedLogEventsInfo)
		}
		if token, ok := expectedToken(err); ok && sequenceRetries < maxSequenceRetries {
			s.token = token
			sequenceRetries++
			continue
		}
		var notFound *types.ResourceNotFoundException
		if errors.As(err, &notFound) && !recreated {
			recreated, s.ready = true, false
			if err := s.ensureStream(ctx); err != nil {
				return err
			}
			continue
		}
		return fmt.Errorf("audit: put log events to %q in group %q: %w", s.stream, s.group, err)
	}
}

// expectedToken returns the sequence token the service asked for, when err is a
// sequence-token complaint. A nil token means "send none".
func expectedToken(err error) (*string, bool) {
	var invalid *types.InvalidSequenceTokenException
	var accepted *types.DataAlreadyAcceptedException
	var token *string
	var message string
	switch {
	case errors.As(err, &invalid):
		token, message = invalid.ExpectedSequenceToken, invalid.ErrorMessage()
	case errors.As(err, &accepted):
		token, message = accepted.ExpectedSequenceToken, accepted.ErrorMessage()
	default:
		return nil, false
	}
	if token == nil { // older answers put the token only at the end of the message
		if i := strings.LastIndexByte(message, ' '); i >= 0 && strings.Contains(message, "sequenceToken") {
			token = aws.String(message[i+1:])
		}
	}
	if token != nil && (*token == "" || *token == "null") {
		token = nil
	}
	return token, true
}

// rejected turns a PutLogEvents rejection report into an error: those events were
// not stored.
func rejected(info *types.RejectedLogEventsInfo) error {
	if info == nil {
		return nil
	}
	var parts []string
	if i := info.TooOldLogEventEndIndex; i != nil {
		parts = append(parts, fmt.Sprintf("events before index %d too old", *i))
	}
	if i := info.ExpiredLogEventEndIndex; i != nil {
		parts = append(parts, fmt.Sprintf("events before index %d past retention", *i))
	}
	if i := info.TooNewLogEventStartIndex; i != nil {
		parts = append(parts, fmt.Sprintf("events from index %d too new", *i))
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("audit: cloudwatch logs rejected events: %s", strings.Join(parts, ", "))
}
