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
	// "replication connection authorized: user=...": a login.
	KindAuthorized
	// KindAuthenticated is PostgreSQL 17+'s "connection authenticated:
	// identity=... method=..." line, which precedes the authorized line.
	KindAuthenticated
	// KindAmbiguous is an authorized line whose user name cannot be read with
	// certainty (several readings fit, or none does); it is never counted as a
	// login of anybody.
	KindAmbiguous
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
	default:
		return "other"
	}
}

// MaxLineBytes bounds the lines Parse reads: a genuine connection line is a few
// hundred bytes (names are at most 63 bytes, a host name 255), so anything longer
// is KindOther without being scanned.
const MaxLineBytes = 4 << 10

// Line is one parsed log line. Its byte slices point into the message given to
// Parse: copy them before the message's buffer is reused.
type Line struct {
	// Kind says what the line is; the other fields are set as far as it allows.
	Kind Kind
	// Prefixed reports that the line carries Aurora's log_line_prefix
	// %t:%r:%u@%d:[%p]:, so its user name was checked against the prefix.
	Prefixed bool
	// Time is the line's %t (or %m) timestamp in UTC; zero when the line has
	// none or its time zone is not UTC, GMT or a numeric offset.
	Time time.Time
	// Host and Port are the client's address (%r, or the received line's own
	// host= and port=); Host is "[local]" for a Unix socket.
	Host, Port []byte
	// PID is the backend's process id (%p); 0 when unknown.
	PID int
	// User is the login role of an authorized line (and, when the prefix leaves
	// no doubt, of an authenticated one).
	User []byte
	// Database is the database of an authorized line (from the prefix for a
	// replication connection).
	Database []byte
	// Application is the application_name of an authorized line, when logged.
	Application []byte
	// Replication reports a "replication connection authorized" line.
	Replication bool
	// SSL reports that the authorized line says "SSL enabled".
	SSL bool
	// Identity and Method are the authenticated line's identity (or user) and
	// authentication method.
	Identity, Method []byte
}

// Message texts, as PostgreSQL 13 to 18 write them (not translated: Aurora logs
// in English).
var (
	msgReceived      = []byte("connection received: ")
	msgAuthorized    = []byte("connection authorized: user=")
	msgReplAuth      = []byte("replication connection authorized: user=")
	msgAuthenticated = []byte("connection authenticated: ")
	fieldDatabase    = []byte(" database=")
	fieldApplication = []byte(" application_name=")
	fieldSSL         = []byte(" SSL enabled (")
	fieldGSS         = []byte(" GSS (")
	fieldHost        = []byte("host=")
	fieldPort        = []byte(" port=")
	fieldIdentity    = []byte(`identity="`)
	fieldUserQuoted  = []byte(`user="`)
	fieldMethod      = []byte(`" method=`)
	levelLog         = []byte("LOG:  ")
	colonBracket     = []byte(":[")
	localHost        = []byte("[local]")
)

// Parse reads one PostgreSQL log line (one CloudWatch Logs event) without
// allocating. It never fails: a line it cannot read is KindOther, and an
// authorized line whose user cannot be told for certain is KindAmbiguous.
//
// With Aurora's prefix %t:%r:%u@%d:[%p]: the user name appears twice, in the
// prefix (%u) and in the message (user=...). Parse accepts a reading only when
// both agree, so user names with spaces, quotes, '@', ':', '=', newlines or
// text that imitates the prefix or the message are read exactly, or refused
// when two readings would fit; never misread. Lines with other prefixes are
// read from the message alone and are refused when a name could be split in
// more than one way.
func Parse(msg []byte) Line {
	var l Line
	parse(&l, msg)
	return l
}

func parse(l *Line, msg []byte) {
	msg = trimEOL(msg)
	if len(msg) == 0 || len(msg) > MaxLineBytes {
		return
	}
	t, rest, tsOK := parseTimestamp(msg)
	if tsOK && rest[0] == ':' {
		if host, port, after, ok := parseRemote(rest[1:]); ok && parsePrefixed(l, after) {
			l.Time, l.Prefixed = t, true
			if l.Kind != KindAmbiguous && l.Kind != KindReceived && len(l.Host) == 0 {
				l.Host, l.Port = host, port
			}
			return
		}
	}
	parseBare(l, msg)
	l.Time = t
}

// trimEOL drops one trailing "\n" or "\r\n".
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// parseTimestamp reads "YYYY-MM-DD HH:MM:SS[.fff] ZONE" at the start of b and
// returns the time in UTC (zero for a zone it does not know) and what follows
// the zone, starting with the ':' or ' ' that ends it.
func parseTimestamp(b []byte) (time.Time, []byte, bool) {
	const layoutLen = len("2006-01-02 15:04:05")
	if len(b) < layoutLen+3 || b[4] != '-' || b[7] != '-' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, nil, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > 31 ||
		hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, nil, false
	}
	i := layoutLen
	nsec := 0
	if b[i] == '.' {
		i++
		scale := 100_000_000
		start := i
		for i < len(b) && isDigit(b[i]) && i-start < 9 {
			nsec += int(b[i]-'0') * scale
			scale /= 10
			i++
		}
		if i == start {
			return time.Time{}, nil, false
		}
	}
	if i >= len(b) || b[i] != ' ' {
		return time.Time{}, nil, false
	}
	i++
	end := i
	for end < len(b) && end-i <= 32 && b[end] != ':' && b[end] != ' ' {
		end++
	}
	if end == i || end >= len(b) || end-i > 32 {
		return time.Time{}, nil, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if offset, known := zoneOffset(b[i:end]); known {
		t = t.Add(-offset)
	} else {
		t = time.Time{}
	}
	return t, b[end:], true
}

// zoneOffset returns the offset east of UTC of a %t zone: UTC, GMT, Z, or a
// numeric +HH, +HHMM (or with a minus sign).
func zoneOffset(z []byte) (time.Duration, bool) {
	switch string(z) { // no allocation: the compiler compares in place
	case "UTC", "GMT", "Z", "UCT":
		return 0, true
	}
	if len(z) != 3 && len(z) != 5 || (z[0] != '+' && z[0] != '-') {
		return 0, false
	}
	h, ok := digits(z[1:3])
	m := 0
	if len(z) == 5 {
		var okm bool
		if m, okm = digits(z[3:5]); !okm {
			return 0, false
		}
	}
	if !ok || h > 15 || m > 59 {
		return 0, false
	}
	d := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
	if z[0] == '-' {
		d = -d
	}
	return d, true
}

// parseRemote reads %r and its colon: "[local]:", ":" (no client), or
// "host(port):" where host has no '(' and no space (an IP address, IPv6
// included, or a DNS name).
func parseRemote(b []byte) (host, port, rest []byte, ok bool) {
	if len(b) > 0 && b[0] == ':' {
		return nil, nil, b[1:], true
	}
	if bytes.HasPrefix(b, localHost) && len(b) > len(localHost) && b[len(localHost)] == ':' {
		return b[:len(localHost)], nil, b[len(localHost)+1:], true
	}
	open := bytes.IndexByte(b, '(')
	if open <= 0 || open > 255 || bytes.IndexByte(b[:open], ' ') >= 0 {
		return nil, nil, nil, false
	}
	i := open + 1
	for i < len(b) && isDigit(b[i]) && i-open <= 5 {
		i++
	}
	if i == open+1 || i+1 >= len(b) || b[i] != ')' || b[i+1] != ':' {
		return nil, nil, nil, false
	}
	return b[:open], b[open+1 : i], b[i+2:], true
}

// parsePrefixed reads "%u@%d:[%p]:LEVEL:  message" into l. The user and database
// are free text that may contain anything, even ":[123]:LOG:  ", so every place
// where the ":[%p]:" part could end them is tried, and an authorized line is
// accepted only when exactly one reading agrees with its message. A line
// where an authorized message follows a pid but no reading agrees is
// KindAmbiguous: it is never read again from its message alone.
func parsePrefixed(l *Line, b []byte) bool {
	authAt, otherAt := -1, -1
	auths, authMsgs := 0, 0
	for off := 0; off < len(b); {
		i := bytes.Index(b[off:], colonBracket)
		if i < 0 {
			break
		}
		k := off + i
		off = k + 1
		_, msg, ok := parsePIDLevel(b[k+2:])
		if !ok {
			continue
		}
		if bytes.HasPrefix(msg, msgAuthorized) || bytes.HasPrefix(msg, msgReplAuth) {
			authMsgs++
			if readAuthorized(nil, b[:k], msg) {
				authAt = k
				auths++
			}
		} else if otherAt < 0 && readOther(nil, b[:k], msg) {
			otherAt = k
		}
	}
	k := authAt
	switch {
	case auths > 1 || (auths == 0 && authMsgs > 0):
		*l = Line{Kind: KindAmbiguous}
		return true
	case auths == 0 && otherAt < 0:
		return false
	case auths == 0:
		k = otherAt
	}
	pid, msg, _ := parsePIDLevel(b[k+2:])
	if auths == 1 {
		readAuthorized(l, b[:k], msg)
	} else {
		readOther(l, b[:k], msg)
	}
	l.PID = pid
	return true
}

// parsePIDLevel reads "123]:LOG:  " (the level may also be followed by a
// SQLSTATE, "LOG:  00000: ", with log_error_verbosity = verbose) and returns
// the pid and the message. Only LOG lines are connection lines.
func parsePIDLevel(b []byte) (int, []byte, bool) {
	i, pid := 0, 0
	for i < len(b) && isDigit(b[i]) && i < 10 {
		pid = pid*10 + int(b[i]-'0')
		i++
	}
	if i == 0 || i+2 > len(b) || b[i] != ']' || b[i+1] != ':' {
		return 0, nil, false
	}
	b = b[i+2:]
	if !bytes.HasPrefix(b, levelLog) {
		return 0, nil, false
	}
	b = b[len(levelLog):]
	if len(b) >= 7 && b[5] == ':' && b[6] == ' ' && isSQLState(b[:5]) {
		b = b[7:]
	}
	return pid, b, true
}

// readAuthorized reads an authorized message against the prefix's "%u@%d" (r).
// The message repeats the user (and the database) exactly, except that the
// server indents a newline in the message with a tab. Where the message reads
// user=U database=D (or, for replication, user=U and then nothing, a newline or a
// known field), the message has ' ', '\n' or its end where r has the '@' after U:
// so the one split that can fit is at the first byte where r and the message part
// ways, and only if r has an '@' there. With a nil l it only reports whether the
// reading fits.
func readAuthorized(l *Line, r, msg []byte) bool {
	repl := false
	switch {
	case bytes.HasPrefix(msg, msgAuthorized):
		msg = msg[len(msgAuthorized):]
	case bytes.HasPrefix(msg, msgReplAuth):
		msg, repl = msg[len(msgReplAuth):], true
	default:
		return false
	}
	at, n := commonIndented(r, msg)
	if at >= len(r) || r[at] != '@' {
		return false
	}
	user, db, tail := r[:at], r[at+1:], msg[n:]
	if !repl {
		if !bytes.HasPrefix(tail, fieldDatabase) {
			return false
		}
		m, ok := matchIndented(tail[len(fieldDatabase):], db)
		if !ok {
			return false
		}
		tail = tail[len(fieldDatabase)+m:]
	}
	if !knownTail(tail) {
		return false
	}
	if l != nil {
		*l = Line{Kind: KindAuthorized, User: user, Database: db, Replication: repl}
		readTail(l, tail)
	}
	return true
}

// commonIndented returns how many bytes of r the message repeats from its start,
// as the server writes r in a message (each "\n" followed by a tab), and how many
// bytes of msg that took.
func commonIndented(r, msg []byte) (int, int) {
	i, n := 0, 0
	for i < len(r) && n < len(msg) && r[i] == msg[n] {
		if r[i] == '\n' {
			if n+1 >= len(msg) || msg[n+1] != '\t' {
				break
			}
			n++
		}
		i++
		n++
	}
	return i, n
}

// readOther reads the received and authenticated messages, whose user is not
// in the message (or not reliably); with a nil l it only reports whether msg is
// one of them.
func readOther(l *Line, r, msg []byte) bool {
	switch {
	case bytes.HasPrefix(msg, msgReceived):
		if l != nil {
			*l = Line{Kind: KindReceived}
			readReceived(l, msg[len(msgReceived):])
		}
		return true
	case bytes.HasPrefix(msg, msgAuthenticated):
		if l != nil {
			*l = Line{Kind: KindAuthenticated}
			readAuthenticated(l, msg[len(msgAuthenticated):])
			if at := bytes.IndexByte(r, '@'); at >= 0 && bytes.IndexByte(r[at+1:], '@') < 0 {
				l.User, l.Database = r[:at], r[at+1:]
			}
		}
		return true
	}
	return false
}

// matchIndented reports whether msg starts with s as the server writes it in a
// message (each "\n" followed by a tab) and returns the bytes of msg it took.
func matchIndented(msg, s []byte) (int, bool) {
	if bytes.IndexByte(s, '\n') < 0 {
		return len(s), bytes.HasPrefix(msg, s)
	}
	n := 0
	for _, c := range s {
		if n >= len(msg) || msg[n] != c {
			return 0, false
		}
		n++
		if c == '\n' {
			if n >= len(msg) || msg[n] != '\t' {
				return 0, false
			}
			n++
		}
	}
	return n, true
}

// knownTail reports whether t can follow the user (replication) or the
// database in an authorized message.
func knownTail(t []byte) bool {
	return len(t) == 0 || t[0] == '\n' || bytes.HasPrefix(t, fieldApplication) ||
		bytes.HasPrefix(t, fieldSSL) || bytes.HasPrefix(t, fieldGSS)
}

// readTail reads application_name and the SSL flag after the database.
func readTail(l *Line, t []byte) {
	if nl := bytes.IndexByte(t, '\n'); nl >= 0 {
		t = t[:nl]
	}
	l.SSL = bytes.Contains(t, fieldSSL)
	if !bytes.HasPrefix(t, fieldApplication) {
		return
	}
	app := t[len(fieldApplication):]
	for _, f := range [][]byte{fieldSSL, fieldGSS} {
		if i := bytes.Index(app, f); i >= 0 {
			app = app[:i]
		}
	}
	l.Application = app
}

// readReceived reads "host=H port=P" (or "host=[local]").
func readReceived(l *Line, m []byte) {
	if !bytes.HasPrefix(m, fieldHost) {
		return
	}
	m = m[len(fieldHost):]
	if i := bytes.Index(m, fieldPort); i >= 0 {
		l.Host, l.Port = m[:i], m[i+len(fieldPort):]
		return
	}
	l.Host = m
}

// readAuthenticated reads identity="X" method=M or user="X" method=M. X may hold
// quotes, so it ends at the last `" method=`.
func readAuthenticated(l *Line, m []byte) {
	switch {
	case bytes.HasPrefix(m, fieldIdentity):
		m = m[len(fieldIdentity):]
	case bytes.HasPrefix(m, fieldUserQuoted):
		m = m[len(fieldUserQuoted):]
	default:
		return
	}
	i := bytes.LastIndex(m, fieldMethod)
	if i < 0 {
		return
	}
	l.Identity = m[:i]
	method := m[i+len(fieldMethod):]
	if sp := bytes.IndexByte(method, ' '); sp >= 0 {
		method = method[:sp]
	}
	l.Method = method
}

// parseBare reads a line with an unknown prefix from its message alone, which
// must appear once, after "LOG:  ". The user ends at the one " database="
// (two of them make the line ambiguous); a replication line's user ends at the
// first known field, which a name that imitates one would defeat: lines
// without Aurora's prefix are read on a best-effort basis (Line.Prefixed false).
func parseBare(l *Line, msg []byte) {
	i := bytes.Index(msg, msgAuthorized)
	if i < 0 {
		bareOther(l, msg)
		return
	}
	if bytes.Contains(msg[i+1:], msgAuthorized) {
		*l = Line{Kind: KindAmbiguous}
		return
	}
	repl := i >= len("replication ") && string(msg[i-len("replication "):i]) == "replication "
	start := i
	if repl {
		start -= len("replication ")
	}
	if start < len(levelLog) || !bytes.Equal(msg[start-len(levelLog):start], levelLog) {
		return
	}
	rest := msg[i+len(msgAuthorized):]
	if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
		rest = rest[:nl]
	}
	*l = Line{Kind: KindAuthorized, Replication: repl}
	if repl {
		end := firstField(rest)
		l.User = rest[:end]
		readTail(l, rest[end:])
		return
	}
	d := bytes.Index(rest, fieldDatabase)
	if d < 0 || bytes.Contains(rest[d+1:], fieldDatabase) {
		*l = Line{Kind: KindAmbiguous}
		return
	}
	l.User = rest[:d]
	db := rest[d+len(fieldDatabase):]
	end := firstField(db)
	l.Database = db[:end]
	readTail(l, db[end:])
}

// firstField returns where the first known field after a name starts in b, or
// len(b).
func firstField(b []byte) int {
	end := len(b)
	for _, f := range [][]byte{fieldApplication, fieldSSL, fieldGSS} {
		if i := bytes.Index(b[:end], f); i >= 0 {
			end = i
		}
	}
	return end
}

// bareOther reads received and authenticated lines with an unknown prefix.
func bareOther(l *Line, msg []byte) {
	if i := bytes.Index(msg, msgReceived); i >= len(levelLog) && bytes.Equal(msg[i-len(levelLog):i], levelLog) {
		*l = Line{Kind: KindReceived}
		readReceived(l, msg[i+len(msgReceived):])
		return
	}
	if i := bytes.Index(msg, msgAuthenticated); i >= len(levelLog) && bytes.Equal(msg[i-len(levelLog):i], levelLog) {
		*l = Line{Kind: KindAuthenticated}
		readAuthenticated(l, msg[i+len(msgAuthenticated):])
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digits reads a short run of ASCII digits.
func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, len(b) > 0
}

// isSQLState reports five characters of [0-9A-Z].
func isSQLState(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}
