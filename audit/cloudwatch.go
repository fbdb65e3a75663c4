package audit

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/smithy-go"
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

// CloudWatchOptions tunes a CloudWatchSink; the zero value is ready to use.
type CloudWatchOptions struct {
	// MaxAttempts bounds the calls for one request while CloudWatch Logs throttles
	// or is unavailable, on top of the SDK client's own retries; 0 means 5.
	MaxAttempts int
	// BaseDelay is the backoff before the first retry, doubled for each further one
	// and jittered; 0 means 100ms.
	BaseDelay time.Duration
	// MaxDelay caps one backoff; 0 means 5s.
	MaxDelay time.Duration
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
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = 100 * time.Millisecond
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = 5 * time.Second
	}
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
	err := s.withBackoff(ctx, func(ctx context.Context) error {
		_, err := s.client.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{
			LogGroupName:  aws.String(s.group),
			LogStreamName: aws.String(s.stream),
		})
		return err
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
		var out *cloudwatchlogs.PutLogEventsOutput
		err := s.withBackoff(ctx, func(ctx context.Context) error {
			var err error
			out, err = s.client.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
				LogGroupName:  aws.String(s.group),
				LogStreamName: aws.String(s.stream),
				LogEvents:     events,
				SequenceToken: s.token,
			})
			return err
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

// withBackoff calls op until it succeeds, fails for a reason other than throttling,
// or has been tried MaxAttempts times; it waits between tries unless ctx ends.
func (s *CloudWatchSink) withBackoff(ctx context.Context, op func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil || !retryable(err) || attempt >= s.opts.MaxAttempts {
			return err
		}
		t := time.NewTimer(s.backoff(attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
	}
}

// backoff returns the jittered wait before retry number attempt (from 1).
func (s *CloudWatchSink) backoff(attempt int) time.Duration {
	d := s.opts.BaseDelay << min(attempt-1, 30)
	if d <= 0 || d > s.opts.MaxDelay {
		d = s.opts.MaxDelay
	}
	return d/2 + rand.N(d/2+1)
}

// retryable reports whether err says the service is throttling or unavailable.
func retryable(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded",
		"ServiceUnavailableException", "ServiceUnavailable":
		return true
	}
	return false
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
