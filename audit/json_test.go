package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestJSONSinkWrite(t *testing.T) {
	at := time.Date(2026, 11, 21, 18, 30, 0, 123456789, time.UTC)
	fixed := func() time.Time { return at.In(time.FixedZone("EST", -5*3600)) }
	tests := []struct {
		name   string
		record Record
		want   string
	}{
		{
			name:   "every field",
			record: fullRecord(at),
			want: `{"schema":"ffbroker.audit/v1","time":"2026-11-21T18:30:00.123456789Z","event":"password.expired",` +
				`"outcome":"success","request_id":"c6af9ac6-7b61-11e6-9a41-93e8deadbeef","incident_id":"INC-1234",` +
				`"requester":"arn:aws:sts::123456789012:assumed-role/oncall/alice",` +
				`"approver":"arn:aws:sts::123456789012:assumed-role/oncall/bob","target_role":"my_pg_firefighter_rw",` +
				`"expires_at":"2026-11-21T20:30:00.123456789Z","grant_id":"5f0c3a8e-1d2b-4c5d-8e9f-0a1b2c3d4e5f",` +
				`"secret_arn":"arn:aws:secretsmanager:us-east-1:123456789012:secret:firefighter/my-pg/my_pg_firefighter_rw-AbCdEf",` +
				`"secret_version":"5f0c3a8e-1d2b-4c5d-8e9f-0a1b2c3d4e5f","source":"schedule","error_code":"none",` +
				`"message":"password expired <after> grant end & sessions ended","grants_closed":1,"sessions_terminated":0}` + "\n",
		},
		{
			name:   "time and schema stamped",
			record: Record{Event: EventPasswordIssuing, Outcome: OutcomePending, Source: SourceCLI, TargetRole: "my_pg_firefighter_ro"},
			want: `{"schema":"ffbroker.audit/v1","time":"2026-11-21T18:30:00.123456789Z","event":"password.issuing",` +
				`"outcome":"pending","target_role":"my_pg_firefighter_ro","source":"cli"}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			s := NewJSONSink(&buf)
			s.Now = fixed
			if err := s.Write(t.Context(), tt.record); err != nil {
				t.Fatalf("JSONSink.Write() error = %v", err)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("JSONSink.Write() wrote\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestJSONSinkFails(t *testing.T) {
	valid := Record{Event: EventPasswordIssuing, Outcome: OutcomePending, Source: SourceAPI}
	broken := errors.New("write /dev/stdout: broken pipe")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		w       io.Writer
		ctx     context.Context
		record  Record
		wantErr error // nil: any error
	}{
		{name: "writer fails", w: failingWriter{broken}, ctx: t.Context(), record: valid, wantErr: broken},
		{name: "short write", w: shortWriter{}, ctx: t.Context(), record: valid, wantErr: io.ErrShortWrite},
		{name: "context cancelled", w: &bytes.Buffer{}, ctx: cancelled, record: valid, wantErr: context.Canceled},
		{name: "invalid record", w: &bytes.Buffer{}, ctx: t.Context(), record: Record{Event: EventPasswordIssued}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := NewJSONSink(tt.w).Write(tt.ctx, tt.record)
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("JSONSink.Write() error = %v; want %v", err, tt.wantErr)
			}
			if buf, ok := tt.w.(*bytes.Buffer); ok && buf.Len() > 0 {
				t.Errorf("JSONSink.Write() failed but wrote %q", buf.String())
			}
		})
	}
}

func TestJSONSinkConcurrentLines(t *testing.T) {
	var buf bytes.Buffer
	s := NewJSONSink(&buf)
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				r := Record{Event: EventLoginObserved, Outcome: OutcomeSuccess, Source: SourceSchedule, Message: strings.Repeat("x", w*50+i)}
				if err := s.Write(t.Context(), r); err != nil {
					t.Errorf("JSONSink.Write() error = %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	lines := 0
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines++
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d %q is not a record: %v", lines, sc.Text(), err)
		}
	}
	if got, want := lines, writers*each; got != want {
		t.Errorf("concurrent JSONSink.Write() lines = %d; want %d", got, want)
	}
}

func TestJSONSinkWriteBatch(t *testing.T) {
	var buf bytes.Buffer
	s := NewJSONSink(&buf)
	records := []Record{
		{Event: EventRoleLocked, Outcome: OutcomeDryRun, Source: SourceSchedule, TargetRole: "app_b"},
		{Event: EventRoleLocked, Outcome: OutcomeDryRun, Source: SourceSchedule, TargetRole: "app_a"},
	}
	if err := WriteAll(t.Context(), s, records); err != nil {
		t.Fatalf("WriteAll(JSONSink) error = %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if got, want := len(lines), len(records); got != want {
		t.Fatalf("WriteAll(JSONSink) wrote %d lines; want %d", got, want)
	}
	for i, line := range lines {
		var got Record
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		if got.TargetRole != records[i].TargetRole {
			t.Errorf("line %d target_role = %q; want %q (the order given)", i, got.TargetRole, records[i].TargetRole)
		}
	}

	buf.Reset()
	records = append(records, Record{Event: EventRoleLocked})
	if err := s.WriteBatch(t.Context(), records); err == nil || buf.Len() > 0 {
		t.Errorf("JSONSink.WriteBatch(with an invalid record) error = %v, wrote %d bytes; want an error and nothing written", err, buf.Len())
	}
}

// failingWriter fails every write with err.
type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// shortWriter accepts one byte less than it is given, without an error.
type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) - 1, nil }
