package audit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// JSONSink writes each record as one JSON object on its own line, for stdout in a
// Lambda (which ships it to CloudWatch Logs) or a file. It is safe for concurrent
// use; lines never interleave.
type JSONSink struct {
	// Now returns the time for records without one; nil means time.Now. Set it
	// before the first write.
	Now func() time.Time

	mu sync.Mutex
	w  io.Writer
}

// NewJSONSink returns a sink that writes lines to w.
func NewJSONSink(w io.Writer) *JSONSink {
	return &JSONSink{w: w}
}

// Write writes r as one line and returns the writer's error, so that a broken
// stdout stops the caller (fail closed).
func (s *JSONSink) Write(ctx context.Context, r Record) error {
	return s.WriteBatch(ctx, []Record{r})
}

// WriteBatch writes the records, in the order given, with one call to the writer.
// An invalid record fails the batch before anything is written.
func (s *JSONSink) WriteBatch(ctx context.Context, records []Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("audit: write json: %w", err)
	}
	var buf bytes.Buffer
	for _, r := range records {
		_, line, err := encode(r, s.Now)
		if err != nil {
			return err
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	if buf.Len() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.w.Write(buf.Bytes())
	if err == nil && n < buf.Len() {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("audit: write json: %w", err)
	}
	return nil
}
