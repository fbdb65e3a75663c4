package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// newLogGroup returns a client of the shared moto server and a log group made for t.
func newLogGroup(t *testing.T) (*cloudwatchlogs.Client, string) {
	t.Helper()
	srv := moto.Get(t)
	client := cloudwatchlogs.NewFromConfig(srv.Config(t.Context()))
	group := "/ffbroker/audit/" + regexp.MustCompile(`[^A-Za-z0-9_./-]`).ReplaceAllString(t.Name(), "-")
	if _, err := client.CreateLogGroup(t.Context(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(group)}); err != nil {
		t.Fatalf("CreateLogGroup(%s) error = %v", group, err)
	}
	t.Cleanup(func() {
		_, err := client.DeleteLogGroup(context.Background(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(group)})
		if err != nil {
			t.Errorf("DeleteLogGroup(%s) error = %v", group, err)
		}
	})
	return client, group
}

// readEvents returns every event of the stream, oldest first.
func readEvents(t *testing.T, client *cloudwatchlogs.Client, group, stream string) []types.OutputLogEvent {
	t.Helper()
	var events []types.OutputLogEvent
	var token *string
	for {
		out, err := client.GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{
			LogGroupName:  aws.String(group),
			LogStreamName: aws.String(stream),
			StartFromHead: aws.Bool(true),
			NextToken:     token,
		})
		if err != nil {
			t.Fatalf("GetLogEvents(%s, %s) error = %v", group, stream, err)
		}
		if len(out.Events) == 0 {
			return events
		}
		events = append(events, out.Events...)
		token = out.NextForwardToken
	}
}

// streams returns the names of the group's log streams.
func streams(t *testing.T, client *cloudwatchlogs.Client, group string) []string {
	t.Helper()
	out, err := client.DescribeLogStreams(t.Context(), &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String(group)})
	if err != nil {
		t.Fatalf("DescribeLogStreams(%s) error = %v", group, err)
	}
	var names []string
	for _, s := range out.LogStreams {
		names = append(names, aws.ToString(s.LogStreamName))
	}
	return names
}

// login returns a valid record numbered i at time at.
func login(i int, at time.Time) Record {
	return Record{
		Time:       at,
		Event:      EventLoginObserved,
		Outcome:    OutcomeSuccess,
		Source:     SourceSchedule,
		TargetRole: "my_pg_firefighter_ro",
		GrantID:    fmt.Sprintf("grant-%05d", i),
		RequestID:  "3f1e6f0e-activity-scan",
		Message:    "login observed in the connection log",
	}
}

func TestCloudWatchSinkWrite(t *testing.T) {
	client, group := newLogGroup(t)
	sink := NewCloudWatchSink(client, group, "broker", CloudWatchOptions{})
	r := fullRecord(time.Now().Add(-time.Minute))

	if err := sink.Write(t.Context(), r); err != nil {
		t.Fatalf("CloudWatchSink.Write() error = %v", err)
	}
	if got, want := strings.Join(streams(t, client, group), ","), "broker"; got != want {
		t.Errorf("log streams after the first Write = %q; want %q", got, want)
	}
	events := readEvents(t, client, group, "broker")
	if got, want := len(events), 1; got != want {
		t.Fatalf("GetLogEvents after one Write = %d events; want %d", got, want)
	}
	want, err := r.MarshalJSON() // what the sink sends: &, < and > unescaped
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(events[0].Message); got != string(want) {
		t.Errorf("GetLogEvents message =\n%s\nwant\n%s", got, want)
	}
	if got, want := aws.ToInt64(events[0].Timestamp), r.Time.UnixMilli(); got != want {
		t.Errorf("GetLogEvents timestamp = %d; want the record's time %d", got, want)
	}
}

func TestCloudWatchSinkWriteBatch(t *testing.T) {
	client, group := newLogGroup(t)
	counter := &scripted{CWLogsAPI: client}
	sink := NewCloudWatchSink(counter, group, "activity", CloudWatchOptions{})

	const n = 25_000
	start := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	records := make([]Record, n)
	for i := range records {
		records[i] = login(i, start.Add(time.Duration(i)*time.Millisecond))
	}
	rand.Shuffle(n, func(i, j int) { records[i], records[j] = records[j], records[i] })

	if err := WriteAll(t.Context(), sink, records); err != nil {
		t.Fatalf("WriteAll(CloudWatchSink, %d records) error = %v", n, err)
	}
	for i, c := range counter.calls {
		if c.events > maxBatchEvents || c.bytes > maxBatchBytes {
			t.Errorf("PutLogEvents call %d: %d events, %d bytes; want at most %d, %d", i, c.events, c.bytes, maxBatchEvents, maxBatchBytes)
		}
	}
	if got := len(counter.calls); got < 3 {
		t.Errorf("PutLogEvents calls for %d records = %d; want at least 3", n, got)
	}

	events := readEvents(t, client, group, "activity")
	if got, want := len(events), n; got != want {
		t.Fatalf("GetLogEvents after WriteBatch(%d) = %d events; want %d", n, got, want)
	}
	for i, e := range events {
		var got Record
		if err := json.Unmarshal([]byte(aws.ToString(e.Message)), &got); err != nil {
			t.Fatalf("event %d %q: %v", i, aws.ToString(e.Message), err)
		}
		if want := fmt.Sprintf("grant-%05d", i); got.GrantID != want {
			t.Fatalf("event %d grant_id = %q; want %q (complete and in time order)", i, got.GrantID, want)
		}
	}
}

func TestCloudWatchSinkBatchSpan(t *testing.T) {
	client, group := newLogGroup(t)
	counter := &scripted{CWLogsAPI: client}
	sink := NewCloudWatchSink(counter, group, "activity", CloudWatchOptions{})
	now := time.Now()
	records := []Record{login(2, now), login(0, now.Add(-30*time.Hour)), login(1, now.Add(-6*time.Hour))}

	if err := sink.WriteBatch(t.Context(), records); err != nil {
		t.Fatalf("WriteBatch(records 30 hours apart) error = %v", err)
	}
	if got, want := len(counter.calls), 2; got != want {
		t.Errorf("PutLogEvents calls for records 30 hours apart = %d; want %d (24 hours at most per call)", got, want)
	}
	if got, want := len(readEvents(t, client, group, "activity")), len(records); got != want {
		t.Errorf("GetLogEvents after WriteBatch = %d events; want %d", got, want)
	}
}

func TestCloudWatchSinkSharedStream(t *testing.T) {
	client, group := newLogGroup(t)
	a := NewCloudWatchSink(client, group, "shared", CloudWatchOptions{})
	b := NewCloudWatchSink(client, group, "shared", CloudWatchOptions{})
	now := time.Now()
	for i, s := range []*CloudWatchSink{a, b, a, b} {
		if err := s.Write(t.Context(), login(i, now.Add(time.Duration(i)*time.Millisecond))); err != nil {
			t.Fatalf("Write %d to the shared stream error = %v", i, err)
		}
	}
	if got, want := len(readEvents(t, client, group, "shared")), 4; got != want {
		t.Errorf("GetLogEvents of the shared stream = %d events; want %d", got, want)
	}
}

func TestCloudWatchSinkRecreatesStream(t *testing.T) {
	client, group := newLogGroup(t)
	sink := NewCloudWatchSink(client, group, "broker", CloudWatchOptions{})
	if err := sink.Write(t.Context(), login(0, time.Now())); err != nil {
		t.Fatalf("first Write() error = %v", err)
	}
	if _, err := client.DeleteLogStream(t.Context(), &cloudwatchlogs.DeleteLogStreamInput{
		LogGroupName: aws.String(group), LogStreamName: aws.String("broker"),
	}); err != nil {
		t.Fatalf("DeleteLogStream() error = %v", err)
	}
	if err := sink.Write(t.Context(), login(1, time.Now())); err != nil {
		t.Fatalf("Write() after the stream was deleted error = %v", err)
	}
	if got, want := len(readEvents(t, client, group, "broker")), 1; got != want {
		t.Errorf("GetLogEvents of the re-created stream = %d events; want %d", got, want)
	}
}

func TestCloudWatchSinkFailsClosed(t *testing.T) {
	client, group := newLogGroup(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	now := time.Now()
	tests := []struct {
		name    string
		group   string
		ctx     context.Context
		record  Record
		wantErr string
		wantAPI bool // whether CloudWatch Logs was called at all
	}{
		{name: "missing log group", group: group + "-missing", record: login(0, now), wantErr: "ResourceNotFoundException", wantAPI: true},
		{name: "invalid record", record: Record{Event: EventPasswordIssuing, Source: SourceAPI}, wantErr: "no outcome"},
		{name: "older than 14 days", record: login(0, now.Add(-15*24*time.Hour)), wantErr: "14 days"},
		{name: "more than 2 hours ahead", record: login(0, now.Add(3*time.Hour)), wantErr: "2 hours"},
		{name: "too large", record: func() Record { r := login(0, now); r.Requester = strings.Repeat("x", maxEventBytes); return r }(), wantErr: "bytes"},
		{name: "context cancelled", ctx: cancelled, record: login(0, now), wantErr: "context canceled", wantAPI: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, ctx := group, t.Context()
			if tt.group != "" {
				g = tt.group
			}
			if tt.ctx != nil {
				ctx = tt.ctx
			}
			api := &scripted{CWLogsAPI: client}
			err := NewCloudWatchSink(api, g, "broker-"+strings.ReplaceAll(tt.name, " ", "-"), CloudWatchOptions{}).Write(ctx, tt.record)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("CloudWatchSink.Write() error = %v; want one containing %q", err, tt.wantErr)
			}
			if got := api.creates+len(api.calls) > 0; got != tt.wantAPI {
				t.Errorf("CloudWatchSink.Write() called the API: %t; want %t", got, tt.wantAPI)
			}
		})
	}
	if got := streams(t, client, group); len(got) != 0 {
		t.Errorf("log streams after failed writes = %v; want none", got)
	}
}

func TestCloudWatchSinkRecovers(t *testing.T) {
	client, group := newLogGroup(t)
	throttled := fail(&types.ThrottlingException{Message: aws.String("Rate exceeded")})
	unavailable := fail(&types.ServiceUnavailableException{Message: aws.String("try later")})
	tests := []struct {
		name       string
		answers    []answer
		wantErr    string   // "" means success
		wantTokens []string // SequenceToken sent by each call; "" for none
	}{
		{
			name:       "invalid sequence token",
			answers:    []answer{fail(&types.InvalidSequenceTokenException{ExpectedSequenceToken: aws.String("4957")})},
			wantTokens: []string{"", "4957"},
		},
		{
			name:       "data already accepted",
			answers:    []answer{fail(&types.DataAlreadyAcceptedException{ExpectedSequenceToken: aws.String("4958")})},
			wantTokens: []string{"", "4958"},
		},
		{
			name: "token only in message",
			answers: []answer{fail(&types.InvalidSequenceTokenException{
				Message: aws.String("The given sequenceToken is invalid. The next expected sequenceToken is: 4959"),
			})},
			wantTokens: []string{"", "4959"},
		},
		{
			name:       "expected token null",
			answers:    []answer{fail(&types.InvalidSequenceTokenException{ExpectedSequenceToken: aws.String("null")})},
			wantTokens: []string{"", ""},
		},
		{
			// The SDK client's retryer (broker/awsretry) retries throttling; the sink
			// makes one call of it (TestPolicyRetriesThrottling counts the round trips).
			name:       "throttled",
			answers:    []answer{throttled},
			wantErr:    "ThrottlingException",
			wantTokens: []string{""},
		},
		{
			name:       "unavailable",
			answers:    []answer{unavailable},
			wantErr:    "ServiceUnavailableException",
			wantTokens: []string{""},
		},
		{
			name: "events rejected",
			answers: []answer{func() (*cloudwatchlogs.PutLogEventsOutput, error) {
				return &cloudwatchlogs.PutLogEventsOutput{RejectedLogEventsInfo: &types.RejectedLogEventsInfo{TooNewLogEventStartIndex: aws.Int32(0)}}, nil
			}},
			wantErr:    "rejected events: events from index 0 too new",
			wantTokens: []string{""},
		},
		{
			name:       "not a retryable error",
			answers:    []answer{fail(&types.InvalidParameterException{Message: aws.String("bad")})},
			wantErr:    "InvalidParameterException",
			wantTokens: []string{""},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &scripted{CWLogsAPI: client, answers: tt.answers}
			sink := NewCloudWatchSink(api, group, fmt.Sprintf("recovers-%d", i), CloudWatchOptions{})
			err := sink.Write(t.Context(), login(i, time.Now()))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("CloudWatchSink.Write() error = %v; want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("CloudWatchSink.Write() error = %v; want one containing %q", err, tt.wantErr)
			}
			var tokens []string
			for _, c := range api.calls {
				tokens = append(tokens, c.token)
			}
			if got, want := strings.Join(tokens, ","), strings.Join(tt.wantTokens, ","); got != want {
				t.Errorf("PutLogEvents sequence tokens = [%s]; want [%s]", got, want)
			}
		})
	}
}

// answer is one scripted PutLogEvents result.
type answer func() (*cloudwatchlogs.PutLogEventsOutput, error)

// fail returns an answer that fails with err.
func fail(err error) answer {
	return func() (*cloudwatchlogs.PutLogEventsOutput, error) { return nil, err }
}

// scripted passes calls to the real client after its scripted answers are used up,
// and notes what each PutLogEvents call sent. It injects what moto cannot produce:
// throttling, sequence-token complaints and rejected events.
type scripted struct {
	CWLogsAPI
	mu      sync.Mutex
	answers []answer
	creates int
	calls   []putCall
}

// putCall is what one PutLogEvents call sent.
type putCall struct {
	events, bytes int
	token         string
}

func (s *scripted) CreateLogStream(ctx context.Context, in *cloudwatchlogs.CreateLogStreamInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.CreateLogStreamOutput, error) {
	s.mu.Lock()
	s.creates++
	s.mu.Unlock()
	return s.CWLogsAPI.CreateLogStream(ctx, in, optFns...)
}

func (s *scripted) PutLogEvents(ctx context.Context, in *cloudwatchlogs.PutLogEventsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.PutLogEventsOutput, error) {
	s.mu.Lock()
	c := putCall{events: len(in.LogEvents), token: aws.ToString(in.SequenceToken)}
	for _, e := range in.LogEvents {
		c.bytes += len(aws.ToString(e.Message)) + eventOverhead
	}
	s.calls = append(s.calls, c)
	var next answer
	if len(s.answers) > 0 {
		next, s.answers = s.answers[0], s.answers[1:]
	}
	s.mu.Unlock()
	if next != nil {
		return next()
	}
	return s.CWLogsAPI.PutLogEvents(ctx, in, optFns...)
}
