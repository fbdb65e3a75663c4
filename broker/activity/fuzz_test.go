package activity_test

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ffbroker/ffbroker/broker/activity"
)

// FuzzParse: any bytes at all. Parse never panics, every slice it returns lies in
// the input, and a login it reads names a user the line spells out after "user=".
// The seed corpus (run by go test) is the table of TestParse and real lines.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		line("alice", "app", "alice", "app") + " application_name=psql" + sslPG14,
		line("a@b", "c@d", "a@b", "c@d"),
		line("x:[1]:LOG:  y", "app", "x:[1]:LOG:  y", "app"),
		line("nl\nx", "app", "nl\n\tx", "app"),
		ts + ":10.0.0.1(5432):u@d:[9]:LOG:  connection authorized: user=u database=d application_name=" + ambigApp,
		ts + ":10.0.0.1(5432):[unknown]@[unknown]:[77]:LOG:  connection received: host=10.0.0.1 port=5432",
		ts + ":10.0.0.1(5432):repl@[unknown]:[77]:LOG:  replication connection authorized: user=repl" + sslPG14,
		ts + `:10.0.0.1(5432):alice@app:[77]:LOG:  connection authenticated: identity="alice" method=scram-sha-256 (/x:5)`,
		"2026-11-21 18:54:34.500 UTC [77] LOG:  connection authorized: user=bob database=app",
		"\x00\xff:[", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		l := activity.Parse(b)
		if !bytes.Equal(in, b) {
			t.Fatal("Parse changed its input")
		}
		for _, s := range [][]byte{l.User, l.Database, l.Application, l.Host, l.Port, l.Identity, l.Method} {
			if len(s) > 0 && !within(b, s) {
				t.Fatalf("Parse(%q) returned %q, which is not a part of the line", b, s)
			}
		}
		if l.Kind == activity.KindAuthorized && !bytes.Contains(b, append([]byte("user="), indent(l.User)...)) {
			t.Fatalf("Parse(%q) read user %q, which the message does not name", b, l.User)
		}
	})
}

// FuzzRoundTrip: names as PostgreSQL would log them (1-63 bytes, no NUL; the
// application name printable ASCII). A line the server would write is read back
// with exactly those names, or refused as ambiguous; never misread.
func FuzzRoundTrip(f *testing.F) {
	f.Add("alice", "app", "psql", false)
	f.Add("a@b", "c@d", "", false)
	f.Add("user=x database=y", "y", " database=", true)
	f.Add("x:[1]:LOG:  connection authorized: user=x", "d", "", false)
	f.Add("u", "d", ambigApp[:63], false)
	f.Add("nl\n\tx", "d\n", "", true)
	f.Fuzz(func(t *testing.T, user, db, app string, repl bool) {
		if !pgName(user) || !pgName(db) || len(app) > 63 || strings.ContainsFunc(app, func(r rune) bool { return r < 32 || r > 126 }) {
			t.Skip()
		}
		msg := "connection authorized: user=" + indentString(user) + " database=" + indentString(db)
		if repl {
			msg = "replication connection authorized: user=" + indentString(user)
		}
		if app != "" {
			msg += " application_name=" + app
		}
		in := ts + ":10.0.0.1(5432):" + user + "@" + db + ":[77]:LOG:  " + msg
		l := activity.Parse([]byte(in))
		switch {
		case l.Kind == activity.KindAmbiguous:
		case l.Kind != activity.KindAuthorized || string(l.User) != user || string(l.Database) != db || l.Replication != repl:
			t.Fatalf("Parse(%q) = %s user %q db %q repl %v; want user %q db %q repl %v", in, l.Kind, l.User, l.Database, l.Replication, user, db, repl)
		}
	})
}

// pgName reports a name the server could log: 1-63 bytes, no NUL, valid UTF-8.
func pgName(s string) bool {
	return len(s) > 0 && len(s) <= 63 && !strings.ContainsRune(s, 0) && utf8.ValidString(s)
}

// indent writes a name as the server does in a message: a tab after each newline.
func indent(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\n\t")) }

func indentString(s string) string { return strings.ReplaceAll(s, "\n", "\n\t") }

// within reports whether s is a subslice of b.
func within(b, s []byte) bool {
	if len(b) == 0 {
		return false
	}
	start := &b[0]
	for i := range b {
		if &b[i] == &s[0] {
			return i+len(s) <= len(b) && start != nil
		}
	}
	return false
}
