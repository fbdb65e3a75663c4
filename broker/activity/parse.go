package activity

import (
	"bytes"
	"math"
	"time"
)

// Kind says what a log line is, as far as the activity job is concerned.
type Kind uint8

// Kinds of lines.
const (
	KindOther         Kind = iota // any other line: other messages, garbage, oversized lines
	KindReceived                  // "connection received: host=... port=..."
	KindAuthorized                // "[replication ]connection authorized: user=...": the session may still be refused
	KindAuthenticated             // 17+'s "connection authenticated: identity=... method=..."
	KindAmbiguous                 // an authorized line whose user cannot be read with certainty: nobody's login
	KindReady                     // 18's "connection ready: setup total=...": the session opened
	KindRefused                   // a FATAL line that refuses a session after its authorized line (see refused)
)

// String returns the kind's name.
func (k Kind) String() string {
	names := [...]string{"other", "received", "authorized", "authenticated", "ambiguous", "ready", "refused"}
	if int(k) < len(names) {
		return names[k]
	}
	return "other"
}

// MaxLineBytes bounds the lines Parse reads (a connection line has a few hundred bytes).
const MaxLineBytes = 4 << 10

// maxName is the longest name the server logs (NAMEDATALEN-1); maxUserAt, of "%u@%d".
const (
	maxName   = 63
	maxUserAt = 2*maxName + 1
)

// Line is one parsed log line; its slices point into the message given to Parse.
type Line struct {
	Kind     Kind      // what the line is; the other fields are set as far as it allows
	Prefixed bool      // it starts with Aurora's %t:%r: and was read as %t:%r:%u@%d:[%p]: only
	Time     time.Time // %t (or %m) in UTC; zero when missing or in another named zone
	// Host and Port are the client's address (%r, or a received line's host=
	// and port=): IPv4, IPv6 (zone included), a host name, or "[local]".
	Host, Port []byte
	PID        int // the backend's process id (%p); 0 when unknown
	// Session ties the lines of one backend together: for an authorized line
	// its "%r:%u@%d:[%p]:" as written; for another prefixed line the text from
	// %r on, whose end of prefix is not known (see KindAfter).
	Session []byte
	// User and Database are an authorized line's (Database from the prefix for
	// replication), and an authenticated line's when the prefix leaves no doubt.
	User, Database   []byte
	Application      []byte // an authorized line's application_name (cut at an imitated SSL or GSS field)
	Replication, SSL bool   // "replication connection authorized"; "SSL enabled"
	Identity, Method []byte // an authenticated line's identity (or user) and method
}

// Texts as PostgreSQL 13 to 18 write them (Aurora logs in English).
const (
	msgReceived      = "connection received: "
	msgAuthorized    = "connection authorized: user="
	msgReplAuth      = "replication connection authorized: user="
	msgAuthenticated = "connection authenticated: "
	msgReady         = "connection ready: "
	fieldDatabase    = " database="
	fieldApplication = " application_name="
	fieldSSLStrict   = " SSL enabled (protocol="
	fieldGSSStrict   = " GSS (authenticated="
	fieldMethod      = `" method=`
	levelLog         = "LOG:  "
)

// refused reports a FATAL message with which the server refuses a session after
// its authorized line (miscinit.c, postinit.c); one that ends an open session
// (terminated, lost, timed out) is not one.
func refused(m []byte) bool {
	for _, r := range [...]string{
		`too many connections for role "`, `too many connections for database "`,
		`role "`, `database "`, // ... is not permitted to log in, does not exist, is not accepting connections
		`permission denied for database "`, `cannot connect to invalid database "`,
		`remaining connection slots are reserved`, `sorry, too many clients already`,
		`must be superuser or replication role to start walsender`, `permission denied to start WAL sender`,
		`must be superuser to connect in binary upgrade mode`, `database locale is incompatible with operating system`,
	} {
		if hasPrefix(m, r) {
			return true
		}
	}
	return false
}

// Parse reads one log line (one CloudWatch Logs event) without allocating. It
// never fails: a line it cannot read is KindOther, an authorized line whose user
// cannot be told for certain KindAmbiguous. A line that starts with Aurora's
// %t:%r: is read as %t:%r:%u@%d:[%p]:LEVEL:  message, from its own message only,
// never from text inside it that looks like one. An authorized line is read when
// the prefix's %u and the message's user= agree, the names fit 63 bytes and the
// message ends as the server ends it: names with spaces, quotes, '@', ':',
// newlines or imitations of the prefix are read exactly, or refused when two
// readings fit. Other lines are read from the message alone (Prefixed false).
func Parse(msg []byte) (l Line) {
	parse(&l, msg)
	return l
}

// parse reads msg into l and returns the work done on a prefixed line (places
// tried as the prefix's end, name bytes compared), bounded whatever the line.
func parse(l *Line, msg []byte) int {
	if m, ok := bytes.CutSuffix(msg, []byte("\n")); ok {
		msg = bytes.TrimSuffix(m, []byte("\r"))
	}
	if len(msg) == 0 || len(msg) > MaxLineBytes {
		return 0
	}
	t, rest, ok := readTime(msg)
	if ok && rest[0] == ':' {
		if host, port, ud, ok := readRemote(rest[1:]); ok {
			l.Time, l.Prefixed = t, true
			if len(host) == 0 {
				return 0 // no client: a background process, never a connection line
			}
			return readPrefixed(l, msg, rest[1:], ud, host, port)
		}
	}
	readBare(l, msg)
	l.Time = t
	return 0
}

// readTime reads "2006-01-02 15:04:05[.fraction] ZONE" at the start of b: the
// time in UTC (zero for a zone zoneOffset does not know) and what follows the zone.
func readTime(b []byte) (time.Time, []byte, bool) {
	if len(b) < len("2006-01-02 15:04:05")+3 || b[4] != '-' || b[7] != '-' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, nil, false
	}
	y, mo, d := number(b[0:4]), number(b[5:7]), number(b[8:10])
	h, mi, s := number(b[11:13]), number(b[14:16]), number(b[17:19])
	b, ns := b[19:], 0
	if n := leadingDigits(b[1:min(len(b), 10)]); b[0] == '.' && n > 0 {
		ns, b = number(b[1:1+n])*int(math.Pow10(9-n)), b[1+n:]
	}
	end := bytes.IndexAny(b[min(len(b), 1):min(len(b), 34)], ": ") // the zone: 1 to 32 bytes after ' '
	if len(b) == 0 || b[0] != ' ' || end <= 0 || y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60 {
		return time.Time{}, nil, false
	}
	offset, known := zoneOffset(b[1 : 1+end])
	if !known {
		return time.Time{}, b[1+end:], true
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC).Add(-offset), b[1+end:], true
}

// zoneOffset returns the offset of a zone: UTC, GMT, Z, UCT, ±HH or ±HHMM.
func zoneOffset(z []byte) (time.Duration, bool) {
	switch string(z) {
	case "UTC", "GMT", "Z", "UCT":
		return 0, true
	}
	h, m := -1, -1
	if len(z) == 3 || len(z) == 5 {
		h, m = number(z[1:3]), number(z[3:])
	}
	if z[0] != '+' && z[0] != '-' || h < 0 || h > 15 || m < 0 || m > 59 {
		return 0, false
	}
	d := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
	if z[0] == '-' {
		return -d, true
	}
	return d, true
}

// readRemote reads %r and its ':' at the start of b: "host(port)" (1 to 256
// bytes of [0-9A-Za-z.:%_-]: IPv4, IPv6 as "fe80::1%eth0", a host name; 1 to 5
// digits), "[local]" (port nil) or nothing (no client: host empty).
func readRemote(b []byte) (host, port, rest []byte, ok bool) {
	h := 0
	for h < len(b) && h <= 256 && isHostByte(b[h]) {
		h++
	}
	if h > 0 && h <= 256 && h < len(b) && b[h] == '(' {
		p := leadingDigits(b[h+1 : min(len(b), h+7)])
		if p >= 1 && p <= 5 && hasPrefix(b[h+1+p:], "):") {
			return b[:h], b[h+1 : h+1+p], b[h+p+3:], true
		}
	}
	if hasPrefix(b, "[local]:") {
		return b[:7], nil, b[8:], true
	}
	return b[:0], nil, b[min(len(b), 1):], hasPrefix(b, ":") // no client, or no %r
}

func isHostByte(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '.' || c == ':' || c == '%' || c == '-' || c == '_'
}

// readPrefixed reads ud, "%u@%d:[%p]:LEVEL:  message", into l (line: the event,
// sess: from %r on). The names may hold anything, even ":[1]:LOG:  ", so each
// place within the longest "%u@%d" where ":[%p]:" may start is tried: an
// authorized line needs exactly one reading that agrees with its message (else
// KindAmbiguous); otherwise the first place followed by a known message after an
// '@' tells the kind. It returns the work done.
func readPrefixed(l *Line, line, sess, ud, host, port []byte) int {
	work, auths, authMsgs, authPID, authKey, other := 0, 0, 0, 0, 0, -1
	for k := 1; k+1 < min(len(ud), maxUserAt+2); k++ {
		if ud[k] != ':' || ud[k+1] != '[' {
			continue
		}
		work++
		pid, digits, lv, msg, ok := readPIDLevel(ud[k+2:])
		if !ok {
			continue
		}
		switch kind, repl, fixed := messageKind(lv, msg); {
		case kind == KindAuthorized:
			authMsgs++
			keyEnd := k + 2 + digits + 2 // ud[:keyEnd] is "%u@%d:[%p]:"
			fits, w := readAuthorized(l, auths == 0, ud[:k], msg[fixed:], repl, line[:len(line)-len(ud)+keyEnd])
			work += w
			if fits {
				auths++
				authPID, authKey = pid, len(sess)-len(ud)+keyEnd
			}
		case kind != KindOther && other < 0 && bytes.IndexByte(ud[:k], '@') >= 0:
			other = k
		}
	}
	switch {
	case auths > 1 || auths == 0 && authMsgs > 0:
		*l = Line{Kind: KindAmbiguous, Prefixed: true, Time: l.Time}
	case auths == 1:
		l.Session, l.PID, l.Host, l.Port = sess[:authKey], authPID, host, port
	case other >= 0:
		pid, _, lv, msg, _ := readPIDLevel(ud[other+2:])
		l.Kind, _, _ = messageKind(lv, msg)
		l.Session, l.PID, l.Host, l.Port = sess, pid, host, port
		switch l.Kind {
		case KindReceived: // its host and port are the message's own
			l.Host, l.Port = readReceived(msg[len(msgReceived):])
		case KindAuthenticated:
			l.Identity, l.Method = readAuthenticated(msg[len(msgAuthenticated):])
			if u, d, ok := bytes.Cut(ud[:other], []byte("@")); ok && bytes.IndexByte(d, '@') < 0 {
				l.User, l.Database = u, d
			}
		}
	}
	return work
}

// readPIDLevel reads "123]:LEVEL:  " and returns the pid, its digits, the level
// and the message (without the "00000: " of log_error_verbosity = verbose).
func readPIDLevel(b []byte) (pid, digits int, lv, msg []byte, ok bool) {
	digits = leadingDigits(b[:min(len(b), 10)])
	if digits == 0 || !hasPrefix(b[digits:], "]:") {
		return 0, 0, nil, nil, false
	}
	msg = b[digits+2:]
	c := bytes.IndexByte(msg[:min(len(msg), 16)], ':')
	if c <= 0 || !hasPrefix(msg[c+1:], "  ") {
		return 0, 0, nil, nil, false
	}
	lv, msg = msg[:c], msg[c+3:]
	if (string(lv) == "LOG" || string(lv) == "FATAL") && len(msg) >= 7 && hasPrefix(msg[5:], ": ") && isSQLState(msg[:5]) {
		msg = msg[7:]
	}
	return number(b[:digits]), digits, lv, msg, true
}

// messageKind reads the start of a message of level lv: its kind, whether an
// authorized message is a replication one, and the length of the fixed text.
func messageKind(lv, m []byte) (kind Kind, repl bool, fixed int) {
	if string(lv) == "FATAL" && refused(m) {
		return KindRefused, false, 0
	}
	for i, t := range [...]string{msgAuthorized, msgReplAuth, msgAuthenticated, msgReceived, msgReady} {
		if string(lv) == "LOG" && hasPrefix(m, t) {
			return [...]Kind{KindAuthorized, KindAuthorized, KindAuthenticated, KindReceived, KindReady}[i], t == msgReplAuth, len(t)
		}
	}
	return KindOther, false, 0
}

// readAuthorized reads an authorized message after "user=" (msg) against r, the
// "%u@%d" before one place the prefix may end (prefix: the line up to its end).
// The message repeats the names (a newline indented with a tab), then ' ' or its
// end where r has '@': the one split that fits is where the two part ways. Only
// the known fields may follow, up to the event's end or a newline and the same
// prefix. Only with fill is l set. It returns whether it fits and the bytes compared.
func readAuthorized(l *Line, fill bool, r, msg []byte, repl bool, prefix []byte) (bool, int) {
	at, n := commonIndented(r[:min(len(r), maxName+1)], msg)
	user, db, tail := r[:at], r[min(at+1, len(r)):], msg[n:]
	if at == 0 || at > maxName || at >= len(r) || r[at] != '@' || len(db) == 0 || len(db) > maxName {
		return false, at
	}
	work := at
	if !repl {
		d, m := commonIndented(db, tail[min(len(tail), len(fieldDatabase)):])
		if work += d; !hasPrefix(tail, fieldDatabase) || d != len(db) {
			return false, work
		}
		tail = tail[len(fieldDatabase)+m:]
	}
	if nl := bytes.IndexByte(tail, '\n'); nl >= 0 {
		if !bytes.HasPrefix(tail[nl+1:], prefix) {
			return false, work
		}
		tail = tail[:nl]
	}
	// Nothing, application_name (anything, last but for SSL and GSS), or SSL or GSS.
	if !hasPrefix(tail, fieldApplication) && len(tail) > 0 &&
		(!hasPrefix(tail, fieldSSLStrict) && !hasPrefix(tail, fieldGSSStrict) || tail[len(tail)-1] != ')') {
		return false, work
	}
	if fill {
		l.Kind, l.User, l.Database, l.Replication = KindAuthorized, user, db, repl
		l.Application, l.SSL = readFields(tail)
	}
	return true, work
}

// commonIndented returns how many bytes of r msg starts with, as the server
// writes r in a message ("\n" then a tab), and how many bytes of msg that took.
func commonIndented(r, msg []byte) (i, n int) {
	for ; i < len(r) && n < len(msg) && r[i] == msg[n]; i, n = i+1, n+1 {
		if r[i] == '\n' {
			if !hasPrefix(msg[n+1:], "\t") {
				break
			}
			n++
		}
	}
	return i, n
}

// readFields reads, after an authorized message's names, the application name up
// to its first SSL or GSS field (neither's text can start inside the other's) and SSL.
func readFields(t []byte) (app []byte, ssl bool) {
	app, ok := bytes.CutPrefix(t, []byte(fieldApplication))
	if !ok {
		return nil, hasPrefix(t, fieldSSLStrict) // SSL or GSS first, if any
	}
	end := len(app)
	if i := bytes.Index(app, []byte(fieldSSLStrict)); i >= 0 {
		end, ssl = i, true
	}
	if i := bytes.Index(app[:end], []byte(fieldGSSStrict)); i >= 0 {
		end = i
	}
	return app[:end], ssl
}

// readReceived reads "host=H port=P" (or "host=[local]").
func readReceived(m []byte) (host, port []byte) {
	m, ok := bytes.CutPrefix(m, []byte("host="))
	if !ok {
		return nil, nil
	}
	if h, p, ok := bytes.Cut(m, []byte(" ")); ok && hasPrefix(p, "port=") {
		return h, p[len("port="):]
	}
	return m, nil
}

// readAuthenticated reads identity="X" method=M or user="X" method=M. X may hold
// quotes, so it ends at the last `" method=`.
func readAuthenticated(m []byte) (identity, method []byte) {
	m, ok := bytes.CutPrefix(m, []byte(`identity="`))
	if !ok {
		m, ok = bytes.CutPrefix(m, []byte(`user="`))
	}
	if i := bytes.LastIndex(m, []byte(fieldMethod)); ok && i >= 0 {
		method, _, _ = bytes.Cut(m[i+len(fieldMethod):], []byte(" "))
		return m[:i], method
	}
	return nil, nil
}

// readBare reads a line with another prefix from its one message after "LOG:  "
// (best effort, Prefixed false): the user ends at the one " database=", or for
// replication at the first known field.
func readBare(l *Line, msg []byte) {
	i := bytes.Index(msg, []byte(msgAuthorized))
	if i < 0 {
		if j := bytes.Index(msg, []byte(msgReceived)); j >= 0 && bytes.HasSuffix(msg[:j], []byte(levelLog)) {
			l.Kind = KindReceived
			l.Host, l.Port = readReceived(msg[j+len(msgReceived):])
		} else if j := bytes.Index(msg, []byte(msgAuthenticated)); j >= 0 && bytes.HasSuffix(msg[:j], []byte(levelLog)) {
			l.Kind = KindAuthenticated
			l.Identity, l.Method = readAuthenticated(msg[j+len(msgAuthenticated):])
		}
		return
	}
	lead, repl := bytes.CutSuffix(msg[:i], []byte("replication "))
	rest, _, _ := bytes.Cut(msg[i+len(msgAuthorized):], []byte("\n"))
	user, name, ok := bytes.Cut(rest, []byte(fieldDatabase)) // name: the one cut at a field
	switch {
	case bytes.Contains(msg[i+1:], []byte(msgAuthorized)):
		l.Kind = KindAmbiguous
		return
	case !bytes.HasSuffix(lead, []byte(levelLog)):
		return
	case repl:
		user, name = nil, rest
	case !ok || bytes.Contains(name, []byte(fieldDatabase)):
		l.Kind = KindAmbiguous
		return
	}
	end := len(name)
	for _, f := range [...]string{fieldApplication, " SSL enabled (", " GSS ("} {
		if i := bytes.Index(name[:end], []byte(f)); i >= 0 {
			end = i
		}
	}
	l.Kind, l.Replication, l.User, l.Database = KindAuthorized, repl, user, name[:end]
	if repl {
		l.User, l.Database = name[:end], nil
	}
	l.Application, l.SSL = readFields(name[end:])
}

// SameSession reports whether l, a ready or refused line, was written by the
// backend whose authorized line has Session key (key, then l's own message).
func SameSession(l Line, key []byte) bool {
	k, ok := KindAfter(l, key)
	return ok && k == l.Kind && (k == KindReady || k == KindRefused)
}

// KindAfter reads l, a prefixed line other than an authorized one, as written by
// the backend whose authorized line has Session key: when l.Session starts with
// key, the kind of the message after key, and true. It may differ from l.Kind,
// read at the first place the prefix may end (a database name can imitate one).
func KindAfter(l Line, key []byte) (Kind, bool) {
	if l.Kind == KindAuthorized || len(key) < 4 || !bytes.HasPrefix(l.Session, key) {
		return KindOther, false
	}
	open := bytes.LastIndex(key, []byte(":["))
	if open < 0 || open+2+leadingDigits(key[open+2:])+2 != len(key) {
		return KindOther, false
	}
	_, _, lv, msg, ok := readPIDLevel(l.Session[open+2:])
	if kind, _, _ := messageKind(lv, msg); ok && kind != KindAuthorized {
		return kind, true
	}
	return KindOther, ok
}

// sessionPIDs calls yield with each pid that may end the prefix of a line whose
// text from %r on is sess, in order, until yield returns false.
func sessionPIDs(sess []byte, yield func(pid int) bool) {
	for k := 0; k+1 < min(len(sess), 256+2+maxUserAt+2); k++ { // %r(port):%u@%d:[
		if !hasPrefix(sess[k:], ":[") {
			continue
		}
		if pid, _, _, _, ok := readPIDLevel(sess[k+2:]); ok && !yield(pid) {
			return
		}
	}
}

// hasPrefix is bytes.HasPrefix for a string prefix, without a conversion.
func hasPrefix(b []byte, s string) bool { return len(b) >= len(s) && string(b[:len(s)]) == s }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// leadingDigits is the number of ASCII digits at the start of b.
func leadingDigits(b []byte) int {
	i := 0
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

// number is the value of b, at most 10 ASCII digits (0 for none), or -1.
func number(b []byte) int {
	if len(b) > 10 || leadingDigits(b) != len(b) {
		return -1
	}
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
}

// isSQLState reports characters of [0-9A-Z] only.
func isSQLState(b []byte) bool {
	return len(bytes.Trim(b, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")) == 0
}
