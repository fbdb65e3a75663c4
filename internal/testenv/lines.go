package testenv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/ffbroker/ffbroker/audit"
)

// Lines collects what a program or a sink writes, line by line, safely across
// goroutines: the JSON audit lines of an audit.JSONSink, a server's log, a CLI's
// output. The zero value is ready to use.
type Lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (l *Lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written so far.
func (l *Lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Records decodes every line written so far as a JSON object; a line that is not
// one fails t.
func (l *Lines) Records(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// Take decodes every line written so far as an audit record and forgets them, so
// that the next Take returns only what came after.
func (l *Lines) Take(t testing.TB) []audit.Record {
	t.Helper()
	l.mu.Lock()
	text := l.buf.String()
	l.buf.Reset()
	l.mu.Unlock()
	var out []audit.Record
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}
