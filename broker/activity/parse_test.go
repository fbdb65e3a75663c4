package activity_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ffbroker/ffbroker/broker/activity"
)

// Lines as PostgreSQL 13 to 18 write them with Aurora's prefix, and some with others.
const (
	ts       = "2026-11-21 18:54:34 UTC"
	sslPG13  = " SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256, compression=off)"
	sslPG14  = " SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)"
	ambigApp = ":[9]:LOG:  connection authorized: user=u database=d:[9]:LOG:  connection authorized: user=u database=d application_name="
)

var at = time.Date(2026, 11, 21, 18, 54, 34, 0, time.UTC)

func TestParse(t *testing.T) {
	type want struct {
		kind                activity.Kind
		user, db, app, host string
		port, ident, method string
		pid                 int
		repl, ssl, prefixed bool
		time                time.Time
		noTime              bool
	}
	auth := func(user, db string) want {
		return want{kind: activity.KindAuthorized, user: user, db: db, host: "10.0.0.1", port: "5432", pid: 77, prefixed: true, time: at}
	}
	with := func(w want, f func(*want)) want { f(&w); return w }
	line := func(user, db, msgUser, msgDB string) string {
		return ts + ":10.0.0.1(5432):" + user + "@" + db + ":[77]:LOG:  connection authorized: user=" + msgUser + " database=" + msgDB
	}
	tests := []struct {
		name string
		line string
		want want
	}{
		{"plain", line("alice", "app", "alice", "app"), auth("alice", "app")},
		{"application and SSL, 14+", line("alice", "app", "alice", "app") + " application_name=psql" + sslPG14,
			with(auth("alice", "app"), func(w *want) { w.app, w.ssl = "psql", true })},
		{"SSL, 13 (compression)", line("alice", "app", "alice", "app") + sslPG13, with(auth("alice", "app"), func(w *want) { w.ssl = true })},
		{"GSS", line("alice", "app", "alice", "app") + " GSS (authenticated=yes, encrypted=yes, principal=alice@EXAMPLE.COM)", auth("alice", "app")},
		{"space in the user", line("john doe", "app", "john doe", "app"), auth("john doe", "app")},
		{"quotes", line(`o'brien "x"`, "app", `o'brien "x"`, "app"), auth(`o'brien "x"`, "app")},
		{"@ in the user", line("a@b", "app", "a@b", "app"), auth("a@b", "app")},
		{"@ in user and database", line("a@b", "c@d", "a@b", "c@d"), auth("a@b", "c@d")},
		{"user imitating the prefix", line("x:[1]:LOG:  y", "app", "x:[1]:LOG:  y", "app"), auth("x:[1]:LOG:  y", "app")},
		{"user imitating the message", line("user=evil database=app", "app", "user=evil database=app", "app"), auth("user=evil database=app", "app")},
		{"user imitating a field", line("bob application_name=x", "app", "bob application_name=x", "app"), auth("bob application_name=x", "app")},
		{"database imitating the message", line("bob", "x database=y", "bob", "x database=y"), auth("bob", "x database=y")},
		{"=", line("=", "=", "=", "="), auth("=", "=")},
		{"unicode", line("ユーザー", "データ", "ユーザー", "データ"), auth("ユーザー", "データ")},
		{"newline, indented in the message", line("nl\nx", "app", "nl\n\tx", "app"), auth("nl\nx", "app")},
		{"newline in the first word of a long name", line("abcdefg\nhijklmnop", "app", "abcdefg\n\thijklmnop", "app"), auth("abcdefg\nhijklmnop", "app")},
		{"newline past the first word", line("abcdefghij\nk", "app", "abcdefghij\n\tk", "app"), auth("abcdefghij\nk", "app")},
		{"newline past the first word, not indented", line("abcdefghij\nk", "app", "abcdefghij\nk", "app"), want{kind: activity.KindAmbiguous, prefixed: true, time: at}},
		{"newline not indented: not the server's line", line("nl\nx", "app", "nl\nx", "app"), want{kind: activity.KindAmbiguous, prefixed: true, time: at}},
		{"prefix and message disagree", line("alice", "app", "mallory", "app"), want{kind: activity.KindAmbiguous, prefixed: true, time: at}},
		// The second reading would need a database name of more than 63 bytes.
		{"application name imitating the message", ts + ":10.0.0.1(5432):u@d:[9]:LOG:  connection authorized: user=u database=d application_name=" + ambigApp,
			with(auth("u", "d"), func(w *want) { w.pid, w.app = 9, ambigApp })},
		{"verbose (SQLSTATE)", strings.Replace(line("alice", "app", "alice", "app"), "LOG:  ", "LOG:  00000: ", 1), auth("alice", "app")},
		{"milliseconds (%m)", strings.Replace(line("alice", "app", "alice", "app"), " UTC", ".250 UTC", 1),
			with(auth("alice", "app"), func(w *want) { w.time = at.Add(250 * time.Millisecond) })},
		{"numeric zone", strings.Replace(line("alice", "app", "alice", "app"), " UTC", " +0530", 1),
			with(auth("alice", "app"), func(w *want) { w.time = at.Add(-5*time.Hour - 30*time.Minute) })},
		{"unknown zone: no time", strings.Replace(line("alice", "app", "alice", "app"), " UTC", " CET", 1),
			with(auth("alice", "app"), func(w *want) { w.time, w.noTime = time.Time{}, true })},
		{"IPv6 client", strings.Replace(line("alice", "app", "alice", "app"), "10.0.0.1(5432)", "2001:db8::1"+"(5432)", 1),
			with(auth("alice", "app"), func(w *want) { w.host = "2001:db8::1" })},
		{"IPv6 loopback", strings.Replace(line("alice", "app", "alice", "app"), "10.0.0.1(5432)", "::1"+"(5432)", 1),
			with(auth("alice", "app"), func(w *want) { w.host = "::1" })},
		{"IPv4-mapped IPv6", strings.Replace(line("alice", "app", "alice", "app"), "10.0.0.1(5432)", "::ffff:10.0.0.5"+"(5432)", 1),
			with(auth("alice", "app"), func(w *want) { w.host = "::ffff:10.0.0.5" })},
		{"IPv6 unspecified", strings.Replace(line("alice", "app", "alice", "app"), "10.0.0.1(5432)", "::"+"(5432)", 1),
			with(auth("alice", "app"), func(w *want) { w.host = "::" })},
		{"IPv6 with a zone", strings.Replace(line("alice", "app", "alice", "app"), "10.0.0.1(5432)", "fe80::1%eth0"+"(5432)", 1),
			with(auth("alice", "app"), func(w *want) { w.host = "fe80::1%eth0" })},
		{"IPv6 in full", strings.Replace(line("alice", "app", "alice", "app"), "10.0.0.1(5432)", "2001:0db8:0000:0000:0000:ff00:0042:8329"+"(5432)", 1),
			with(auth("alice", "app"), func(w *want) { w.host = "2001:0db8:0000:0000:0000:ff00:0042:8329" })},
		{"host name (log_hostname)", strings.Replace(line("alice", "app", "alice", "app"), "10.0.0.1(5432)", "ip-10-0-0-5.eu-west-1.compute.internal"+"(5432)", 1),
			with(auth("alice", "app"), func(w *want) { w.host = "ip-10-0-0-5.eu-west-1.compute.internal" })},
		{"short host name", strings.Replace(line("alice", "app", "alice", "app"), "10.0.0.1(5432)", "localhost"+"(5432)", 1),
			with(auth("alice", "app"), func(w *want) { w.host = "localhost" })},
		{"host name with underscore", strings.Replace(line("alice", "app", "alice", "app"), "10.0.0.1(5432)", "db_client-1"+"(5432)", 1),
			with(auth("alice", "app"), func(w *want) { w.host = "db_client-1" })},
		{"unix socket", strings.Replace(line("alice", "app", "alice", "app"), "10.0.0.1(5432)", "[local]", 1),
			with(auth("alice", "app"), func(w *want) { w.host, w.port = "[local]", "" })},
		{"trailing newline", line("alice", "app", "alice", "app") + "\r\n", auth("alice", "app")},
		{"next line of the same entry (verbose)", line("alice", "app", "alice", "app") + "\n" + ts + ":10.0.0.1(5432):alice@app:[77]:LOCATION:  PerformAuthentication, postinit.c:300",
			auth("alice", "app")},
		{"continuation the server does not write", line("alice", "app", "alice", "app") + "\n\tmore", want{kind: activity.KindAmbiguous, prefixed: true, time: at}},
		{"a newline and another prefix", line("alice", "app", "alice", "app") + "\n" + ts + ":10.0.0.1(5432):bob@app:[78]:LOG:  x",
			want{kind: activity.KindAmbiguous, prefixed: true, time: at}},
		{"logical replication", ts + ":10.0.0.1(5432):repl@app:[77]:LOG:  replication connection authorized: user=repl application_name=sub",
			with(auth("repl", "app"), func(w *want) { w.repl, w.app = true, "sub" })},
		{"physical replication", ts + ":10.0.0.1(5432):repl@[unknown]:[77]:LOG:  replication connection authorized: user=repl" + sslPG14,
			with(auth("repl", "[unknown]"), func(w *want) { w.repl, w.ssl = true, true })},
		{"received", ts + ":10.0.0.1(5432):[unknown]@[unknown]:[77]:LOG:  connection received: host=10.0.0.1 port=5432",
			want{kind: activity.KindReceived, host: "10.0.0.1", port: "5432", pid: 77, prefixed: true, time: at}},
		{"received on a socket", ts + ":[local]:[unknown]@[unknown]:[77]:LOG:  connection received: host=[local]",
			want{kind: activity.KindReceived, host: "[local]", pid: 77, prefixed: true, time: at}},
		{"authenticated, 17+", ts + `:10.0.0.1(5432):alice@app:[77]:LOG:  connection authenticated: identity="alice" method=scram-sha-256 (/rdsdbdata/config/pg_hba.conf:5)`,
			want{kind: activity.KindAuthenticated, user: "alice", db: "app", host: "10.0.0.1", port: "5432", pid: 77, prefixed: true, time: at,
				ident: "alice", method: "scram-sha-256"}},
		{"authenticated, trust", ts + `:[local]:postgres@postgres:[77]:LOG:  connection authenticated: user="postgres" method=trust (/x/pg_hba.conf:1)`,
			want{kind: activity.KindAuthenticated, user: "postgres", db: "postgres", host: "[local]", pid: 77, prefixed: true, time: at,
				ident: "postgres", method: "trust"}},
		{"too many connections", ts + `:10.0.0.1(5432):alice@app:[77]:FATAL:  too many connections for role "alice"`,
			want{kind: activity.KindRefused, prefixed: true, time: at}},
		{"not permitted to log in", ts + `:[local]:alice@app:[77]:FATAL:  role "alice" is not permitted to log in`,
			want{kind: activity.KindRefused, prefixed: true, time: at}},
		{"no such database", ts + `:::1(5432):alice@nodb:[77]:FATAL:  database "nodb" does not exist`,
			want{kind: activity.KindRefused, prefixed: true, time: at}},
		{"no replication privilege, 16+", ts + `:10.0.0.1(5432):alice@[unknown]:[77]:FATAL:  permission denied to start WAL sender`,
			want{kind: activity.KindRefused, prefixed: true, time: at}},
		{"terminated session: not a refusal", ts + `:10.0.0.1(5432):alice@app:[77]:FATAL:  terminating connection due to administrator command`,
			want{kind: activity.KindOther, prefixed: true, time: at}},
		{"connection ready, 18", ts + `:10.0.0.1(5432):alice@app:[77]:LOG:  connection ready: setup total=8.123 ms, fork=0.512 ms, authentication=4.100 ms`,
			want{kind: activity.KindReady, prefixed: true, time: at}},
		{"other message", ts + ":10.0.0.1(5432):alice@app:[77]:LOG:  disconnection: session time: 0:00:01.002 user=alice database=app host=10.0.0.1 port=5432",
			want{kind: activity.KindOther, time: at}},
		{"empty %r (a background process)", ts + "::@:[77]:LOG:  connection authorized: user=alice database=app",
			want{kind: activity.KindOther, prefixed: true, time: at}},
		// Spoofs: a prefixed line is read from its own message, never from text in it.
		{"spoof: a statement", ts + ":10.0.0.1(5432):mallory@app:[77]:LOG:  statement: SELECT 'LOG:  connection authorized: user=victim database=app'",
			want{kind: activity.KindOther, prefixed: true, time: at}},
		{"spoof: a statement with the prefix", ts + ":10.0.0.1(5432):mallory@app:[77]:LOG:  statement: SELECT '" + ts + ":10.0.0.1(5432):victim@app:[1]:LOG:  connection authorized: user=victim database=app'",
			want{kind: activity.KindAmbiguous, prefixed: true, time: at}},
		{"spoof: an identifier in an error", ts + `:10.0.0.1(5432):mallory@app:[77]:ERROR:  relation "x:[1]:LOG:  connection authorized: user=victim database=app" does not exist at character 15`,
			want{kind: activity.KindAmbiguous, prefixed: true, time: at}},
		{"spoof: a failed login's database name", ts + `:10.0.0.1(5432):victim@x:[1]:LOG:  connection authorized: user=victim database=x:[77]:FATAL:  password authentication failed for user "victim"`,
			want{kind: activity.KindAmbiguous, prefixed: true, time: at}},
		{"spoof: a failed login's database name with a newline", ts + ":10.0.0.1(5432):victim@x:[1]:LOG:  connection authorized: user=victim database=x\n:[77]:FATAL:  password authentication failed for user \"victim\"",
			want{kind: activity.KindAmbiguous, prefixed: true, time: at}},
		{"spoof: a failed login's database name ending in a GSS field", ts + `:10.0.0.1(5432):victim@:[1]:LOG:  connection authorized: user=victim database= GSS (:[77]:FATAL:  password authentication failed for user "victim"`,
			want{kind: activity.KindAmbiguous, prefixed: true, time: at}},
		{"spoof: a refusal in a database name", ts + `:10.0.0.1(5432):victim@x:[1]:FATAL:  role "y:[77]:LOG:  statement: SELECT 1`,
			want{kind: activity.KindRefused, prefixed: true, time: at}},
		{"default prefix (%m [%p])", "2026-11-21 18:54:34.500 UTC [77] LOG:  connection authorized: user=bob database=app application_name=psql",
			want{kind: activity.KindAuthorized, user: "bob", db: "app", app: "psql", time: at.Add(500 * time.Millisecond)}},
		{"no prefix at all", "LOG:  connection authorized: user=bob database=app", want{kind: activity.KindAuthorized, user: "bob", db: "app", noTime: true}},
		{"other prefix, ambiguous user", "[77] LOG:  connection authorized: user=x database=y database=app", want{kind: activity.KindAmbiguous, noTime: true}},
		{"other prefix, received", "[77] LOG:  connection received: host=10.0.0.9 port=1", want{kind: activity.KindReceived, host: "10.0.0.9", port: "1", noTime: true}},
		{"truncated", ts + ":10.0.0.1(5432):alice@app:[77]:LOG:  connection authorized: user=ali", want{kind: activity.KindAmbiguous, prefixed: true, time: at}},
		{"empty", "", want{kind: activity.KindOther, noTime: true}},
		{"garbage", "\x00\xff\xfe:[:[@@]]:LOG:  ", want{kind: activity.KindOther, noTime: true}},
		{"100 KB", strings.Repeat("x", 100<<10), want{kind: activity.KindOther, noTime: true}},
		{"100 KB authorized", line(strings.Repeat("a", 100<<10), "app", strings.Repeat("a", 100<<10), "app"), want{kind: activity.KindOther, noTime: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := activity.Parse([]byte(tc.line))
			got := want{kind: l.Kind, user: string(l.User), db: string(l.Database), app: string(l.Application), host: string(l.Host),
				port: string(l.Port), ident: string(l.Identity), method: string(l.Method), pid: l.PID, repl: l.Replication, ssl: l.SSL,
				prefixed: l.Prefixed, time: l.Time, noTime: l.Time.IsZero()}
			w := tc.want
			if w.time.IsZero() {
				w.noTime = true
			}
			if w.kind != activity.KindAuthorized && w.kind != activity.KindReceived && w.kind != activity.KindAuthenticated {
				// Only the kind (and the time) matter for lines that are not read.
				got = want{kind: got.kind, prefixed: got.prefixed && w.prefixed, time: got.time, noTime: got.noTime}
			}
			if got != w {
				t.Errorf("Parse(%.200q)\n got %+v\nwant %+v", tc.line, got, w)
			}
		})
	}
}

// Two ways of reading the user by position, as a naive reader does: the fifth
// ':'-separated field of the line up to its '@' (the prefix), and the first
// space-separated word of the message after "user=".
func prefixPositionUser(line string) string {
	f := strings.Split(line, ":")
	if len(f) < 5 {
		return ""
	}
	u, _, _ := strings.Cut(f[4], "@")
	return u
}

func messagePositionUser(line string) string {
	_, msg, ok := strings.Cut(line, "connection authorized: ")
	if !ok {
		return ""
	}
	return strings.TrimPrefix(strings.Fields(msg)[0], "user=")
}

// Position-based parsing misreads names with spaces, '@', ':' or text that looks
// like the message; Parse reads every one of them exactly (TestHostileLogContent
// does the same with lines the real server wrote, through the whole job).
func TestParseBeatsPositions(t *testing.T) {
	names := []string{"plain", "john doe", "o'brien", `dq"x`, "a@b", "x:[1]:LOG:  y", "user=evil database=postgres", "ユーザー", "=", "x: y"}
	for _, read := range []struct {
		name string
		user func(string) string
	}{{"prefix fields", prefixPositionUser}, {"message words", messagePositionUser}} {
		var wrong []string
		for _, n := range names {
			if read.user(line(n, "app", n, "app")) != n {
				wrong = append(wrong, n)
			}
		}
		if len(wrong) == 0 {
			t.Errorf("reading by %s got every name right; the comparison proves nothing", read.name)
		}
		t.Logf("reading by %s misreads %q", read.name, wrong)
	}
	for _, n := range names {
		if got := activity.Parse([]byte(line(n, "app", n, "app"))); got.Kind != activity.KindAuthorized || string(got.User) != n {
			t.Errorf("Parse read %q as %s %q; want %q", n, got.Kind, got.User, n)
		}
	}
}

func line(user, db, msgUser, msgDB string) string {
	return ts + ":10.0.0.1(5432):" + user + "@" + db + ":[77]:LOG:  connection authorized: user=" + msgUser + " database=" + msgDB
}

// Every cut of a real line, and random bytes flipped in it, never yields a login
// of another user.
func TestParseTruncatedAndCorrupted(t *testing.T) {
	full := line("a@b c", "d b", "a@b c", "d b") + " application_name=psql" + sslPG14
	for i := range len(full) + 1 {
		if l := activity.Parse([]byte(full[:i])); l.Kind == activity.KindAuthorized && string(l.User) != "a@b c" {
			t.Errorf("Parse of the first %d bytes read user %q", i, l.User)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := []byte(full)
		for range 1 + r.IntN(3) {
			b[r.IntN(len(b))] = byte(r.IntN(256))
		}
		l := activity.Parse(b)
		if l.Kind == activity.KindAuthorized && !bytes.Contains(b, append([]byte("user="), l.User...)) {
			t.Fatalf("Parse(%q) read user %q, which the line does not name", b, l.User)
		}
	}
}

// Parse and SameSession allocate nothing on any path: Aurora's prefix, a line
// without it (the bare path), each kind of message, a refusal.
func TestParseAllocatesNothing(t *testing.T) {
	authorized := line("alice", "app", "alice", "app") + " application_name=psql" + sslPG14
	key := activity.Parse([]byte(authorized)).Session
	for _, l := range []struct {
		name, line string
		kind       activity.Kind
	}{
		{"authorized", authorized, activity.KindAuthorized},
		{"received", ts + ":10.0.0.1(5432):[unknown]@[unknown]:[77]:LOG:  connection received: host=10.0.0.1 port=5432", activity.KindReceived},
		{"ready", ts + ":10.0.0.1(5432):alice@app:[77]:LOG:  connection ready: setup total=1.2 ms", activity.KindReady},
		{"refused", ts + ":10.0.0.1(5432):alice@app:[77]:FATAL:  permission denied to start WAL sender", activity.KindRefused},
		{"bare authorized", "2024-01-02 03:04:05 UTC [77] LOG:  connection authorized: user=alice database=app application_name=psql SSL enabled (protocol=TLSv1.3)", activity.KindAuthorized},
		{"bare replication", "2024-01-02 03:04:05 UTC [77] LOG:  replication connection authorized: user=alice application_name=x GSS (authenticated=yes)", activity.KindAuthorized},
		{"bare received", "2024-01-02 03:04:05 UTC [77] LOG:  connection received: host=10.0.0.1 port=5432", activity.KindReceived},
		{"bare authenticated", `2024-01-02 03:04:05 UTC [77] LOG:  connection authenticated: identity="alice" method=scram-sha-256`, activity.KindAuthenticated},
	} {
		b := []byte(l.line)
		if got := activity.Parse(b); got.Kind != l.kind {
			t.Errorf("%s: Parse(%q).Kind = %v; want %v", l.name, l.line, got.Kind, l.kind)
		}
		if n := testing.AllocsPerRun(1000, func() { activity.Parse(b) }); n != 0 {
			t.Errorf("%s: Parse allocates %v times per line; want 0", l.name, n)
		}
		if parsed := activity.Parse(b); parsed.Kind == activity.KindReady || parsed.Kind == activity.KindRefused {
			if n := testing.AllocsPerRun(1000, func() { activity.SameSession(parsed, key) }); n != 0 {
				t.Errorf("%s: SameSession allocates %v times; want 0", l.name, n)
			}
		}
	}
}

// readyLine is a prefixed "connection ready" line with the given %t, %r and %p.
func readyLine(t, r, pid string) string {
	return t + ":" + r + ":u@d:[" + pid + "]:LOG:  connection ready: setup total=1.0 ms"
}

// %r's host is read exactly when every byte is one of an address or host name
// ([0-9A-Za-z.:%_-]), up to 256 bytes; a port of 1 to 5 digits; a pid of 1 to 10
// digits. Every byte value is tried in each place, and random mixes of the bytes
// at the classes' edges.
func TestParseRemoteAndPIDBytes(t *testing.T) {
	isHost := func(s string) bool {
		for _, c := range []byte(s) {
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || strings.IndexByte(".:%-_", c) >= 0) {
				return false
			}
		}
		return len(s) > 0 && len(s) <= 256
	}
	digits := func(s string, most int) bool {
		return len(s) > 0 && len(s) <= most && strings.Trim(s, "0123456789") == ""
	}
	check := func(host, port, pid string) {
		t.Helper()
		l := activity.Parse([]byte(readyLine(ts, host+"("+port+")", pid)))
		want := isHost(host) && digits(port, 5) && digits(pid, 10)
		if got := l.Kind == activity.KindReady && string(l.Host) == host && string(l.Port) == port; got != want {
			t.Fatalf("host %q port %q pid %q: read %v (%s %q %q); want %v", host, port, pid, got, l.Kind, l.Host, l.Port, want)
		}
		if want {
			n, _ := strconv.Atoi(pid)
			if l.PID != n {
				t.Fatalf("pid %q read as %d", pid, l.PID)
			}
		}
	}
	for c := range 256 {
		b := string(rune(c))
		if c >= 0x80 {
			b = string([]byte{byte(c)})
		}
		check("a"+b+"z", "5432", "77")
		check("10.0.0.1", "5"+b, "77")
		check("10.0.0.1", "5432", "7"+b)
	}
	r := rand.New(rand.NewPCG(3, 4))
	edge := "./09:;-_%(aAzZ\x00\xff\x7f\x80\xfa1"
	mix := func(n int) string {
		b := make([]byte, 1+r.IntN(n))
		for i := range b {
			b[i] = edge[r.IntN(len(edge))]
		}
		return string(b)
	}
	for range 100000 {
		h := "h" + mix(12) // not ':' first: a %r of ":" alone is the empty one
		check(h, "5432", "77")
		check("10.0.0.1", mix(7), "77")
		check("10.0.0.1", "5432", mix(11))
		check("10.0.0.1", "5432", strconv.Itoa(r.IntN(1e10)))
	}
	long := strings.Repeat("1234.6:8", 40)
	check(long[:256], "5432", "77")
	check(long[:257], "5432", "77")
	check(strings.Repeat("h", 256), "5432", "77")
	check(strings.Repeat("h", 257), "5432", "77")
}

// %t and %m are read as the time package formats them, every second of random
// days of the years a log may carry, with and without fractions; a day past the
// end of its month rolls over as time.Date does.
func TestParseTime(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 200000 {
		want := time.Unix(r.Int64N(8000*365*86400)-1000*365*86400, int64(r.IntN(1000))*1e6).UTC()
		for _, layout := range []string{"2006-01-02 15:04:05.000 MST", "2006-01-02 15:04:05 MST"} {
			if layout == "2006-01-02 15:04:05 MST" {
				want = want.Truncate(time.Second)
			}
			s := readyLine(want.Format(layout), "[local]", "1")
			if got := activity.Parse([]byte(s)); !got.Time.Equal(want) || got.Kind != activity.KindReady {
				t.Fatalf("Parse(%q) = %s at %v; want ready at %v", s, got.Kind, got.Time, want)
			}
		}
	}
	for y := 1000; y <= 9999; y += 7 {
		for m := 1; m <= 12; m++ {
			for _, d := range []int{1, 28, 29, 30, 31} {
				want := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
				s := readyLine(fmt.Sprintf("%04d-%02d-%02d 00:00:00 UTC", y, m, d), "[local]", "1")
				if got := activity.Parse([]byte(s)).Time; !got.Equal(want) {
					t.Fatalf("Parse(%q).Time = %v; want %v", s, got, want)
				}
			}
		}
	}
}
