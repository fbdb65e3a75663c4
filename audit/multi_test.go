package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// sinkFunc adapts a function to Sink, for sinks without a batch path.
type sinkFunc func(context.Context, Record) error

func (f sinkFunc) Write(ctx context.Context, r Record) error { return f(ctx, r) }

func TestMulti(t *testing.T) {
	valid := Record{Event: EventAccessApproved, Outcome: OutcomeSuccess, Source: SourceStepFunctions}
	down := errors.New("sink down")
	tests := []struct {
		name      string
		failing   bool // a failing sink sits between the two JSON sinks
		nilSinks  bool // only nil sinks
		wantErr   error
		wantLines int // in each JSON sink
	}{
		{name: "all succeed", wantLines: 1},
		{name: "one fails, others still written", failing: true, wantErr: down, wantLines: 1},
		{name: "no sinks", nilSinks: true, wantErr: errNoSink},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a, b bytes.Buffer
			sinks := []Sink{NewJSONSink(&a)}
			if tt.failing {
				sinks = append(sinks, sinkFunc(func(context.Context, Record) error { return down }))
			}
			sinks = append(sinks, nil, NewJSONSink(&b))
			if tt.nilSinks {
				sinks = []Sink{nil}
			}
			m := Multi(sinks...)
			err := m.Write(t.Context(), valid)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("Multi.Write() error = %v; want %v", err, tt.wantErr)
			}
			if got := strings.Count(a.String(), "\n"); got != tt.wantLines {
				t.Errorf("first sink after Multi.Write() has %d lines; want %d", got, tt.wantLines)
			}
			if got := strings.Count(b.String(), "\n"); got != tt.wantLines {
				t.Errorf("last sink after Multi.Write() has %d lines; want %d", got, tt.wantLines)
			}
			if tt.wantLines > 0 && a.String() != b.String() {
				t.Errorf("Multi.Write() wrote %q and %q; want the same record, same time", a.String(), b.String())
			}
		})
	}
}

func TestMultiWriteBatch(t *testing.T) {
	records := []Record{
		{Event: EventLoginObserved, Outcome: OutcomeSuccess, Source: SourceSchedule, TargetRole: "a"},
		{Event: EventLoginObserved, Outcome: OutcomeSuccess, Source: SourceSchedule, TargetRole: "b"},
		{Event: EventLoginObserved, Outcome: OutcomeSuccess, Source: SourceSchedule, TargetRole: "c"},
	}
	var buf bytes.Buffer
	var seen []string
	oneByOne := sinkFunc(func(_ context.Context, r Record) error {
		if r.TargetRole == "b" {
			return errors.New("full")
		}
		seen = append(seen, r.TargetRole)
		return nil
	})
	err := WriteAll(t.Context(), Multi(NewJSONSink(&buf), oneByOne), records)
	if err == nil || !strings.Contains(err.Error(), "wrote 1 of 3 records") {
		t.Errorf("WriteAll(Multi) error = %v; want one that says 1 of 3 records were written", err)
	}
	if got, want := strings.Count(buf.String(), "\n"), 3; got != want {
		t.Errorf("JSON sink in Multi got %d lines; want %d", got, want)
	}
	if got, want := strings.Join(seen, ","), "a"; got != want {
		t.Errorf("non-batch sink in Multi got %q; want %q (stop at the first error)", got, want)
	}
	var first Record
	if err := json.Unmarshal(bytes.SplitN(buf.Bytes(), []byte("\n"), 2)[0], &first); err != nil || first.Time.IsZero() {
		t.Errorf("first line time = %v (err %v); want it stamped", first.Time, err)
	}
}
