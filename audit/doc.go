// Package audit defines ffbroker's audit record and the sinks that store it.
//
// Every change of state in ffbroker leaves a Record: one JSON object per line, with
// schema "ffbroker.audit/v1". The broker writes the intent record before it touches
// the database and issues nothing when the write fails, so every Sink returns the
// error of the underlying write instead of buffering or dropping records: an error
// from Write means "not recorded".
//
// Two sinks exist: JSONSink writes lines to an io.Writer (stdout, which Lambda ships
// to CloudWatch Logs), and CloudWatchSink puts events into a dedicated CloudWatch
// Logs group synchronously. Multi fans one record out to several sinks, and WriteAll
// sends many records through a sink's batch path when it has one.
//
// A Record never carries a password or a SCRAM verifier. Its fields are identifiers,
// codes, times and counts; the only free text is Message, which callers fill with
// fixed wording and never with input, secrets or error text.
package audit
