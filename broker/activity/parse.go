package activity

import (
	"bytes"
	"time"
)

// Kind says what a log line is, as far as the activity job is concerned.
type Kind uint8

// Kinds of lines.
const (
	// KindOther is any line that is not a connection line the job reads: other
	// messages, garbage, truncated or oversized lines.
	KindOther Kind = iota
	// KindReceived is "connection received: host=... port=...": a client reached
	// the server; the user is not known yet.
	KindReceived
	// KindAuthorized is "connection authorized: user=... database=..." or
	// "replication connection authorized: user=...": the server accepted the
	// credentials. The session may still be refused (see KindRefused).
	KindAuthorized
	// KindAuthenticated is PostgreSQL 17+'s "connection authenticated:
	// identity=... method=..." line, which precedes the authorized line.
	KindAuthenticated
	// KindAmbiguous is an authorized line whose user name cannot be read with
	// certainty (several readings fit, or none does); it is never counted as a
	// login of anybody.
	KindAmbiguous
	// KindReady is PostgreSQL 18's "connection ready: setup total=..." line
	// (log_connections with setup_durations): the session opened.
	KindReady
	// KindRefused is a FATAL line that refuses a session after its authorized
	// line: too many connections for the role or the database, a role that may
	// not log in, a database that does not exist or may not be connected to, no
	// replication privilege, reserved slots.
	KindRefused
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindReceived:
		return "received"
	case KindAuthorized:
		return "authorized"
	case KindAuthenticated:
		return "authenticated"
	case KindAmbiguous:
		return "ambiguous"
	case KindReady:
		return "ready"
	case KindRefused:
		return "refused"
	default:
		return "other"
	}
}

// MaxLineBytes bounds the lines Parse reads: a genuine connection line is a few
// hundred bytes (names are at most 63 bytes, a host name 255), so anything longer
// is KindOther without being scanned.
const MaxLineBytes = 4 << 10

// maxName is the longest user or database name the server writes: it cuts both
// to NAMEDATALEN-1 bytes when it reads the startup packet, before it logs them.
const maxName = 63

// maxUserAt is the longest "%u@%d" of a real prefix.
const maxUserAt = 2*maxName + 1

// Line is one parsed log line. Its byte slices point into the message given to
// Parse: copy them before the message's buffer is reused.
type Line struct {
	// Kind says what the line is; the other fields are set as far as it allows.
	Kind Kind
	// Prefixed reports that the line starts with Aurora's log_line_prefix
	// %t:%r: (so it is read as %t:%r:%u@%d:[%p]: and never from its message
	// alone); an authorized line's user name was checked against the prefix.
	Prefixed bool
	// Time is the line's %t (or %m) timestamp in UTC; zero when the line has
	// none or its time zone is not UTC, GMT or a numeric offset.
	Time time.Time
	// Host and Port are the client's address (%r, or the received line's own
	// host= and port=); Host is "[local]" for a Unix socket. %r is an IPv4 or
	// IPv6 address (zone included), or a host name with log_hostname.
	Host, Port []byte
	// PID is the backend's process id (%p); 0 when unknown.
	PID int
	// Session ties the lines of one backend together. For an authorized line it
	// is the prefix's "%r:%u@%d:[%p]:" as written; for any other prefixed line it
	// is the text from %r on, whose end of prefix is not known: KindAfter tells
	// what such a line says when the backend of an authorized line wrote it.
	Session []byte
	// User is the login role of an authorized line (and, when the prefix leaves
	// no doubt, of an authenticated one).
	User []byte
	// Database is the database of an authorized line (from the prefix for a
	// replication connection).
	Database []byte
	// Application is the application_name of an authorized line, when logged
	// (best effort: a name that imitates the SSL or GSS fields is cut there).
	Application []byte
	// Replication reports a "replication connection authorized" line.
	Replication bool
	// SSL reports that the authorized line says "SSL enabled".
	SSL bool
	// Identity and Method are the authenticated line's identity (or user) and
	// authentication method.
	Identity, Method []byte
}

// Message texts and fields, as PostgreSQL 13 to 18 write them (not translated:
// Aurora logs in English).
const (
	msgReceived      = "connection received: "
	msgAuthorized    = "connection authorized: user="
	msgReplAuth      = "replication connection authorized: user="
	msgAuthenticated = "connection authenticated: "
	msgReady         = "connection ready: "
	fieldDatabase    = " database="
	fieldApplication = " application_name="
	fieldSSL         = " SSL enabled ("
	fieldSSLStrict   = " SSL enabled (protocol="
	fieldGSS         = " GSS ("
	fieldGSSStrict   = " GSS (authenticated="
	fieldMethod      = `" method=`
	levelLog         = "LOG:  "
)

// refused reports whether m, a FATAL message, is one with which the server
// refuses a session after writing its authorized line (miscinit.c and
// postinit.c of PostgreSQL 13 to 18). A FATAL that ends an open session
// (terminated, lost, timed out) is not one.
func refused(m []byte) bool {
	for _, r := range [...]string{
		`too many connections for role "`,
		`too many connections for database "`,
		`role "`,     // ... is not permitted to log in / does not exist
		`database "`, // ... does not exist / is not currently accepting connections / has disappeared
		`permission denied for database "`,
		`cannot connect to invalid database "`,
		`remaining connection slots are reserved`,
		`must be superuser or replication role to start walsender`,
		`permission denied to start WAL sender`,
		`must be superuser to connect in binary upgrade mode`,
		`sorry, too many clients already`,
		`database locale is incompatible with operating system`,
	} {
		if hasPrefix(m, r) {
			return true
		}
	}
	return false
}

// Parse reads one PostgreSQL log line (one CloudWatch Logs event) without
// allocating. It never fails: a line it cannot read is KindOther, and an
// authorized line whose user cannot be told for certain is KindAmbiguous.
//
// A line that starts with Aurora's %t:%r: is read as %t:%r:%u@%d:[%p]:LEVEL:
// message and only so: it is a connection line only if its own message is one,
// never because text inside it (a statement, an identifier, a name in the prefix
// of another message) looks like one. The user name appears twice in an
// authorized line, in the prefix (%u) and in the message (user=...); Parse
// accepts a reading only when both agree, the names fit the server's 63 bytes,
// and the message ends as the server ends it (its known fields, then the end of
// the event or the next line of the same entry). So user names with spaces,
// quotes, '@', ':', '=', newlines or text that imitates the prefix or the message
// are read exactly, or refused when two readings would fit; never misread.
// Lines with other prefixes are read from the message alone and are refused
// when a name could be split in more than one way (Line.Prefixed false: the
// activity job counts no login from them).
func Parse(msg []byte) (l Line) {
	parse(&l, msg)
	return l
}

// parse reads msg into l and returns the work done on a prefixed line: the
// places tried as the end of its prefix plus the name bytes compared. The
// places lie within the longest "%u@%d", so the work is bounded whatever the line.
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

// readTime reads "2006-01-02 15:04:05[.fraction] ZONE" at the start of b and
// returns the time in UTC (zero for a zone zoneOffset does not know) and what
// follows the zone, which starts with the ':' or ' ' that ends it.
func readTime(b []byte) (time.Time, []byte, bool) {
	if len(b) < len("2006-01-02 15:04:05")+3 || b[4] != '-' || b[7] != '-' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, nil, false
	}
	y, mo, d := number(b[0:4]), number(b[5:7]), number(b[8:10])
	h, mi, s := number(b[11:13]), number(b[14:16]), number(b[17:19])
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60 {
		return time.Time{}, nil, false
	}
	b, ns := b[19:], 0
	if b[0] == '.' {
		n := leadingDigits(b[1:min(len(b), 10)])
		if n == 0 {
			return time.Time{}, nil, false
		}
		ns = number(b[1 : 1+n])
		for range 9 - n {
			ns *= 10
		}
		b = b[1+n:]
	}
	if len(b) == 0 || b[0] != ' ' {
		return time.Time{}, nil, false
	}
	end := bytes.IndexAny(b[1:min(len(b), 34)], ": ")
	if end <= 0 {
		return time.Time{}, nil, false
	}
	offset, known := zoneOffset(b[1 : 1+end])
	if !known {
		return time.Time{}, b[1+end:], true
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC).Add(-offset), b[1+end:], true
}

// zoneOffset returns the offset east of UTC of a %t zone: UTC, GMT, Z, UCT, or
// a numeric +HH or +HHMM (or with a minus sign).
func zoneOffset(z []byte) (time.Duration, bool) {
	switch string(z) {
	case "UTC", "GMT", "Z", "UCT":
		return 0, true
	}
	if len(z) != 3 && len(z) != 5 || z[0] != '+' && z[0] != '-' {
		return 0, false
	}
	h, m := number(z[1:3]), 0
	if len(z) == 5 {
		m = number(z[3:5])
	}
	if h < 0 || h > 15 || m < 0 || m > 59 {
		return 0, false
	}
	d := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
	if z[0] == '-' {
		d = -d
	}
	return d, true
}

// readRemote reads %r and its ':' at the start of b: "host(port)" (an IPv4 or
// IPv6 address, "::1", "::ffff:10.0.0.5", "fe80::1%eth0", or a host name: 1 to
// 256 bytes of [0-9A-Za-z.:%_-], and a port of 1 to 5 digits), "[local]" (port
// nil), or nothing (a process without a client: host empty). It returns what
// follows the ':' and false when b starts with none of them.
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
	if hasPrefix(b, ":") {
		return b[:0], nil, b[1:], true
	}
	return nil, nil, nil, false
}

// isHostByte reports a byte of a host in %r: IPv4 and IPv6 addresses (with a
// %zone) and host names.
func isHostByte(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' ||
		c == '.' || c == ':' || c == '%' || c == '-' || c == '_'
}

// readPrefixed reads ud, "%u@%d:[%p]:LEVEL:  message", into l; line is the
// whole event, sess the text from %r on, host and port are %r's. The user and
// database are free text that may hold anything, even ":[123]:LOG:  ", so every
// place within the longest "%u@%d" where ":[%p]:" may end them is tried, and an
// authorized line is accepted only when exactly one reading agrees with its
// message; when a place is followed by an authorized message but none agrees,
// the line is KindAmbiguous. Otherwise the first place followed by another
// known message (after a "%u@%d" with an '@') says what the line is. It returns
// the work done (see parse).
func readPrefixed(l *Line, line, sess, ud, host, port []byte) int {
	work, auths, authMsgs, authPID, authKey := 0, 0, 0, 0, 0
	other, otherPID, otherKind := -1, 0, KindOther
	var otherMsg []byte
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
			dst := l
			if auths > 0 {
				dst = nil // a second reading: only whether it fits matters
			}
			fits, w := readAuthorized(dst, ud[:k], msg[fixed:], repl, line[:len(line)-len(ud)+keyEnd])
			work += w
			if fits {
				auths++
				authPID, authKey = pid, len(sess)-len(ud)+keyEnd
			}
		case kind != KindOther && other < 0 && bytes.IndexByte(ud[:k], '@') >= 0:
			other, otherPID, otherKind, otherMsg = k, pid, kind, msg
		}
	}
	switch {
	case auths > 1 || auths == 0 && authMsgs > 0:
		*l = Line{Kind: KindAmbiguous, Prefixed: true, Time: l.Time}
	case auths == 1:
		l.Session, l.PID, l.Host, l.Port = sess[:authKey], authPID, host, port
	case other >= 0:
		l.Kind, l.Session, l.PID, l.Host, l.Port = otherKind, sess, otherPID, host, port
		switch otherKind {
		case KindReceived: // its host and port are the message's own
			l.Host, l.Port = readReceived(otherMsg[len(msgReceived):])
		case KindAuthenticated:
			l.Identity, l.Method = readAuthenticated(otherMsg[len(msgAuthenticated):])
			if u, d, ok := bytes.Cut(ud[:other], []byte("@")); ok && bytes.IndexByte(d, '@') < 0 {
				l.User, l.Database = u, d
			}
		}
	}
	return work
}

// A log level as readPIDLevel tells them apart.
type level uint8

const (
	levelOther level = iota
	levelLOG
	levelFATAL
)

// readPIDLevel reads "123]:LEVEL:  " (and the SQLSTATE "00000: " that
// log_error_verbosity = verbose writes after LOG and FATAL) and returns the
// pid, its number of digits, the level and the message.
func readPIDLevel(b []byte) (pid, digits int, lv level, msg []byte, ok bool) {
	digits = leadingDigits(b[:min(len(b), 10)])
	if digits == 0 || !hasPrefix(b[digits:], "]:") {
		return 0, 0, 0, nil, false
	}
	pid, msg = number(b[:digits]), b[digits+2:]
	switch {
	case hasPrefix(msg, levelLog):
		lv, msg = levelLOG, msg[len(levelLog):]
	case hasPrefix(msg, "FATAL:  "):
		lv, msg = levelFATAL, msg[len("FATAL:  "):]
	default:
		// Another level ("ERROR:  ", "STATEMENT:  ", ...): a place where the
		// prefix may end, whose message is never a connection line.
		c := bytes.IndexByte(msg[:min(len(msg), 16)], ':')
		if c <= 0 || !hasPrefix(msg[c+1:], "  ") {
			return 0, 0, 0, nil, false
		}
		return pid, digits, levelOther, msg[c+3:], true
	}
	if len(msg) >= 7 && hasPrefix(msg[5:], ": ") && isSQLState(msg[:5]) {
		msg = msg[7:]
	}
	return pid, digits, lv, msg, true
}

// messageKind reads the fixed start of a message of level lv: it returns the
// message's kind (KindOther for none), whether an authorized message is a
// replication one, and the length of the fixed start.
func messageKind(lv level, m []byte) (kind Kind, repl bool, fixed int) {
	switch {
	case lv == levelFATAL && refused(m):
		return KindRefused, false, 0
	case lv != levelLOG:
	case hasPrefix(m, msgAuthorized):
		return KindAuthorized, false, len(msgAuthorized)
	case hasPrefix(m, msgReplAuth):
		return KindAuthorized, true, len(msgReplAuth)
	case hasPrefix(m, msgAuthenticated):
		return KindAuthenticated, false, len(msgAuthenticated)
	case hasPrefix(m, msgReceived):
		return KindReceived, false, len(msgReceived)
	case hasPrefix(m, msgReady):
		return KindReady, false, len(msgReady)
	}
	return KindOther, false, 0
}

// readAuthorized reads an authorized message from after "user=" (msg) against
// r, the "%u@%d" before one place where the prefix may end; repl tells a
// replication message, prefix is the line up to that place's ":[%p]:". The
// message repeats the user and the database exactly, except that the server
// indents a newline with a tab. Where r has the '@' after the user the message
// has ' ' or its end, so the one split that can fit is where r and the message
// part ways, and only if r has an '@' there. After the names the message must
// end as the server ends it: the known fields, then the end of the event or a
// newline and the same prefix (the next line of the entry). A nil l is left
// alone. It returns whether the reading fits and the name bytes compared.
func readAuthorized(l *Line, r, msg []byte, repl bool, prefix []byte) (bool, int) {
	at, n := commonIndented(r[:min(len(r), maxName+1)], msg)
	if at == 0 || at > maxName || at >= len(r) || r[at] != '@' {
		return false, at
	}
	user, db, tail := r[:at], r[at+1:], msg[n:]
	if len(db) == 0 || len(db) > maxName {
		return false, at
	}
	work := at
	if !repl {
		if !hasPrefix(tail, fieldDatabase) {
			return false, work
		}
		d, m := commonIndented(db, tail[len(fieldDatabase):])
		if work += d; d != len(db) {
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
	// What may follow the names: nothing, the application name (anything: it
	// is last but for the SSL and GSS fields), or the SSL or GSS field alone.
	app, ssl := hasPrefix(tail, fieldApplication), hasPrefix(tail, fieldSSLStrict)
	if !app && len(tail) > 0 && (!ssl && !hasPrefix(tail, fieldGSSStrict) || tail[len(tail)-1] != ')') {
		return false, work
	}
	if l != nil {
		l.Kind, l.User, l.Database, l.Replication, l.SSL = KindAuthorized, user, db, repl, ssl
		if app {
			l.Application, l.SSL = cutFields(tail[len(fieldApplication):])
		}
	}
	return true, work
}

// commonIndented returns how many bytes of r msg repeats from its start, as the
// server writes r in a message (each "\n" followed by a tab), and how many bytes
// of msg that took.
func commonIndented(r, msg []byte) (int, int) {
	i, n := 0, 0
	for i < len(r) && n < len(msg) && r[i] == msg[n] {
		if r[i] == '\n' {
			if n+1 >= len(msg) || msg[n+1] != '\t' {
				break
			}
			n++
		}
		i, n = i+1, n+1
	}
	return i, n
}

// cutFields returns app up to its first SSL or GSS field, and whether it holds
// an SSL field (neither field's text can start inside the other's).
func cutFields(app []byte) ([]byte, bool) {
	end, ssl := len(app), false
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
		if m, ok = bytes.CutPrefix(m, []byte(`user="`)); !ok {
			return nil, nil
		}
	}
	i := bytes.LastIndex(m, []byte(fieldMethod))
	if i < 0 {
		return nil, nil
	}
	method, _, _ = bytes.Cut(m[i+len(fieldMethod):], []byte(" "))
	return m[:i], method
}

// readBare reads a line with an unknown prefix from its message alone, which
// must appear once, after "LOG:  ". The user ends at the one " database="
// (two of them make the line ambiguous); a replication line's user ends at the
// first known field, which a name that imitates one would defeat: lines
// without Aurora's prefix are read on a best-effort basis (Line.Prefixed false).
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
	if bytes.Contains(msg[i+1:], []byte(msgAuthorized)) {
		l.Kind = KindAmbiguous
		return
	}
	start, repl := i, bytes.HasSuffix(msg[:i], []byte("replication "))
	if repl {
		start -= len("replication ")
	}
	if !bytes.HasSuffix(msg[:start], []byte(levelLog)) {
		return
	}
	rest, _, _ := bytes.Cut(msg[i+len(msgAuthorized):], []byte("\n"))
	l.Kind, l.Replication = KindAuthorized, repl
	if repl {
		end := firstField(rest)
		l.User, rest = rest[:end], rest[end:]
	} else {
		user, db, ok := bytes.Cut(rest, []byte(fieldDatabase))
		if !ok || bytes.Contains(db, []byte(fieldDatabase)) {
			*l = Line{Kind: KindAmbiguous}
			return
		}
		end := firstField(db)
		l.User, l.Database, rest = user, db[:end], db[end:]
	}
	if app, ok := bytes.CutPrefix(rest, []byte(fieldApplication)); ok {
		l.Application, l.SSL = cutFields(app)
	} else {
		l.SSL = hasPrefix(rest, fieldSSLStrict) // SSL or GSS first, if any
	}
}

// firstField returns where the first known field after a name starts in b, or
// len(b).
func firstField(b []byte) int {
	end := len(b)
	for _, f := range [...]string{fieldApplication, fieldSSL, fieldGSS} {
		if i := bytes.Index(b[:end], []byte(f)); i >= 0 {
			end = i
		}
	}
	return end
}

// SameSession reports whether l, a ready or refused line, was written by the
// backend whose authorized line has Session key: l's text from %r on starts with
// key and then l's own message. An attacker cannot write such a line for another
// client's session: %r holds the client's port.
func SameSession(l Line, key []byte) bool {
	if l.Kind != KindReady && l.Kind != KindRefused {
		return false
	}
	k, ok := KindAfter(l, key)
	return ok && k == l.Kind
}

// KindAfter reads l, a prefixed line other than an authorized one, as the backend
// whose authorized line has Session key would have written it: when l's text from
// %r on starts with key, it returns the kind of the message after key (KindReady,
// KindRefused, KindReceived, KindAuthenticated or KindOther) and true. That kind
// may differ from l.Kind, which Parse took from the first place the prefix may
// end: names (a database name, free text of the client's) can make an earlier
// place read as another message.
func KindAfter(l Line, key []byte) (Kind, bool) {
	if l.Kind == KindAuthorized || len(key) < 4 || !bytes.HasPrefix(l.Session, key) {
		return KindOther, false
	}
	// key ends with ":[%p]:"; read the level and message after it again.
	open := bytes.LastIndex(key, []byte(":["))
	if open < 0 || open+2+leadingDigits(key[open+2:])+2 != len(key) {
		return KindOther, false
	}
	_, _, lv, msg, ok := readPIDLevel(l.Session[open+2:])
	if !ok {
		return KindOther, false
	}
	if kind, _, _ := messageKind(lv, msg); kind != KindAuthorized {
		return kind, true
	}
	return KindOther, true
}

// sessionPIDs calls yield with every pid that may end the prefix of a line whose
// text from %r on is sess (the Session of a prefixed line other than an
// authorized one), in order, until yield returns false.
func sessionPIDs(sess []byte, yield func(pid int) bool) {
	window := sess[:min(len(sess), 256+2+maxUserAt+2)] // %r(port):%u@%d:[
	for k := 0; k+1 < len(window); k++ {
		if window[k] != ':' || window[k+1] != '[' {
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

// number is the value of b, 1 to 10 ASCII digits, or -1 when b is not one.
func number(b []byte) int {
	if len(b) == 0 || len(b) > 10 || leadingDigits(b) != len(b) {
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
	for _, c := range b {
		if !isDigit(c) && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}
