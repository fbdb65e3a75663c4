package audit

import (
	"context"
	"errors"
	"time"
)

// errNoSink is what a Multi without sinks returns: it records nothing, so it must
// not claim success.
var errNoSink = errors.New("audit: no sink configured")

// Multi returns a sink that writes each record to every sink in order. It writes to
// all of them even when one fails, and returns the errors joined: nil only when
// every sink stored the record. A zero Time is stamped once, so all sinks agree.
// Nil sinks are left out; with none left, every write fails.
func Multi(sinks ...Sink) Sink {
	m := make(multi, 0, len(sinks))
	for _, s := range sinks {
		if s != nil {
			m = append(m, s)
		}
	}
	return m
}

// multi is the Sink that Multi returns; it is also a BatchSink.
type multi []Sink

// Write writes r to every sink.
func (m multi) Write(ctx context.Context, r Record) error {
	if len(m) == 0 {
		return errNoSink
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	var errs []error
	for _, s := range m {
		if err := s.Write(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// WriteBatch writes the records to every sink with WriteAll.
func (m multi) WriteBatch(ctx context.Context, records []Record) error {
	if len(m) == 0 {
		return errNoSink
	}
	stamped := make([]Record, len(records))
	now := time.Now()
	for i, r := range records {
		if r.Time.IsZero() {
			r.Time = now
		}
		stamped[i] = r
	}
	var errs []error
	for _, s := range m {
		if err := WriteAll(ctx, s, stamped); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
