package audit

import (
	"context"
	"fmt"
)

// Sink stores audit records. Write returns nil only once the record is stored as
// durably as the sink can make it; callers treat any error as "not recorded".
type Sink interface {
	Write(ctx context.Context, r Record) error
}

// BatchSink is a Sink that can also store many records at once (the activity job's
// login records); JSONSink and CloudWatchSink are BatchSinks.
type BatchSink interface {
	Sink
	WriteBatch(ctx context.Context, records []Record) error
}

// WriteAll writes the records to s: through WriteBatch when s is a BatchSink,
// otherwise one Write at a time, stopping at the first error. After an error some
// records may have been stored; writing them all again can duplicate those.
func WriteAll(ctx context.Context, s Sink, records []Record) error {
	if b, ok := s.(BatchSink); ok {
		return b.WriteBatch(ctx, records)
	}
	for i, r := range records {
		if err := s.Write(ctx, r); err != nil {
			return fmt.Errorf("audit: wrote %d of %d records: %w", i, len(records), err)
		}
	}
	return nil
}
