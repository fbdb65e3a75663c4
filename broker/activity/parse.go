package activity

import (
	"bytes"
	"encoding/binary"
	"math/bits"
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

// Message texts, as PostgreSQL 13 to 18 write them (not translated: Aurora logs
// in English).
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
	fieldHost        = "host="
	fieldPort        = " port="
	fieldIdentity    = `identity="`
	fieldUserQuoted  = `user="`
	fieldMethod      = `" method=`
	levelLog         = "LOG:  "
	colonBracket     = ":["
	unknownUserAt    = "[unknown]@[unknown]:["
	localHost        = "[local]"
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
		if len(m) >= len(r) && string(m[:len(r)]) == r {
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

// parse reads msg into l and returns a measure of the work done: the candidate
// ends of the prefix tried plus the bytes compared for them. It is bounded by
// a constant (the prefix's names are at most 63 bytes), whatever the line.
func parse(l *Line, msg []byte) int {
	msg = trimEOL(msg)
	if len(msg) == 0 || len(msg) > MaxLineBytes {
		return 0
	}
	t, rest, tsOK := parseTimestamp(msg)
	if tsOK && rest[0] == ':' {
		sess := rest[1:]
		if hostEnd, portEnd, restAt, form := parseRemote(sess); form != remoteNone {
			l.Time, l.Prefixed = t, true
			if form == remoteEmpty {
				return 1 // no client: a background process, never a connection line
			}
			// Offsets into msg rather than sub-slices: the arguments fit
			// in registers.
			sessAt := len(msg) - len(sess)
			return parsePrefixed(l, msg, sessAt, sessAt+restAt, hostEnd, portEnd)
		}
	}
	parseBare(l, msg)
	l.Time = t
	return len(msg)
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
	if len(b) >= 24 {
		// Aurora's own form, "2006-01-02 15:04:05 UTC" and then ':' or ' ',
		// read as three words with no byte loads: the separators and " UTC"
		// compared under a mask, the digits tested as below (the lanes
		// outside the masks are the separators, which are known not to carry
		// into the next lane, and the last byte, whose carry leaves the word).
		// Anything else, or a value out of range, takes the general path.
		w1, w2, w3 := binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]), binary.LittleEndian.Uint64(b[16:])
		const (
			sep1, sepMask1   = '-'<<32 | '-'<<56, 0xFF0000FF00000000                           // "2006-01-": '-' at 4 and 7
			sep2, sepMask2   = ' '<<16 | ':'<<40, 0x0000FF0000FF0000                           // "02 15:04": ' ' at 2, ':' at 5
			sep3, sepMask3   = ':' | ' '<<24 | 'U'<<32 | 'T'<<40 | 'C'<<48, 0x00FFFFFFFF0000FF // ":05 UTC:"
			dig1, dig2, dig3 = 0x00FFFF00FFFFFFFF, 0xFFFF00FFFF00FFFF, 0x0000000000FFFF00
		)
		notDigits := ((w1&nibbles^threes)|((w1+sixes)&nibbles^threes))&dig1 |
			((w2&nibbles^threes)|((w2+sixes)&nibbles^threes))&dig2 |
			((w3&nibbles^threes)|((w3+sixes)&nibbles^threes))&dig3
		if w1&sepMask1 == sep1 && w2&sepMask2 == sep2 && w3&sepMask3 == sep3 && notDigits == 0 && (b[23] == ':' || b[23] == ' ') {
			p1, p2, p3 := pairs(w1), pairs(w2), pairs(w3)
			year := int(p1&0xFF)*100 + int(p1>>16&0xFF)
			month, day := int(p1>>40&0xFF), int(p2&0xFF)
			hour, minute, sec := int(p2>>24&0xFF), int(p2>>48&0xFF), int(p3>>8&0xFF)
			if month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 && sec <= 60 {
				var days int64
				if yy := uint(year - 2000); yy < 100 {
					days = days2000s(yy, uint(month), uint(day)) // inlined
				} else {
					days = daysFromCivil(year, month, day)
				}
				unix := days*86400 + int64(hour*3600+minute*60+sec)
				return time.Unix(unix, 0).UTC(), b[23:], true
			}
		}
	}
	if len(b) < layoutLen+3 || b[4] != '-' || b[7] != '-' || b[10] != ' ' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, nil, false
	}
	_ = b[21]
	// The digits, eight bytes at a time: a byte is a digit when its high nibble
	// is 3 and stays 3 after adding 6 (no carry crosses a byte: a byte that
	// would carry fails the first test).
	const (
		m1 = 0x00FFFF00FFFFFFFF // "2006-01-": digits at 0-3, 5, 6
		m2 = 0xFFFF00FFFF00FFFF // "02 15:04": digits at 0, 1, 3, 4, 6, 7
	)
	w1, w2 := binary.LittleEndian.Uint64(b[0:8]), binary.LittleEndian.Uint64(b[8:16])
	if w1&m1&nibbles != threes&m1 || (w1+sixes)&m1&nibbles != threes&m1 ||
		w2&m2&nibbles != threes&m2 || (w2+sixes)&m2&nibbles != threes&m2 || !isDigit(b[17]) || !isDigit(b[18]) {
		return time.Time{}, nil, false
	}
	// The values, two digits at a time: with every byte cut to its low nibble
	// (a digit's value; at most 15 for the separators), lane k of
	// 10*v + v>>8 is 10*digit(k) + digit(k+1), at most 165: no lane carries
	// into the next.
	p1, p2 := pairs(w1), pairs(w2)
	year := int(p1&0xFF)*100 + int(p1>>16&0xFF)
	month, day := int(p1>>40&0xFF), int(p2&0xFF)
	hour, minute, sec := int(p2>>24&0xFF), int(p2>>48&0xFF), int(b[17]-'0')*10+int(b[18]-'0')
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
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
	if len(b) > i+3 && b[i] == 'U' && b[i+1] == 'T' && b[i+2] == 'C' && (b[i+3] == ':' || b[i+3] == ' ') {
		// Aurora's zone, without the general search.
		unix := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
		return time.Unix(unix, int64(nsec)).UTC(), b[i+3:], true
	}
	end := i
	for end < len(b) && end-i <= 32 && b[end] != ':' && b[end] != ' ' {
		end++
	}
	if end == i || end >= len(b) || end-i > 32 {
		return time.Time{}, nil, false
	}
	offset, known := zoneOffset(b[i:end])
	if !known {
		return time.Time{}, b[end:], true
	}
	unix := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec) - int64(offset/time.Second)
	return time.Unix(unix, int64(nsec)).UTC(), b[end:], true
}

// pairs returns the eight bytes of w (all digits or separators) with lane k
// holding 10*(w's lane k & 15) + (lane k+1 & 15): the two-digit number that
// starts there (see parseTimestamp).
func pairs(w uint64) uint64 {
	v := w & (lanes * 0x0F)
	return v*10 + v>>8
}

// daysFromCivil is the number of days from 1970-01-01 to y-m-d (y from 1000 to
// 9999; a day 31 of a short month rolls over as time.Date does), after H.
// Hinnant's days_from_civil, in unsigned arithmetic.
func daysFromCivil(y, m, d int) int64 {
	if y >= 2000 && y < 2100 && m >= 1 && m <= 12 {
		// Every fourth year is a leap year in this century: no division.
		return days2000s(uint(y-2000), uint(m), uint(d))
	}
	yy, mm := uint(y), uint(m)
	if mm <= 2 {
		yy--
		mm += 12
	}
	era := yy / 400
	yoe := yy - era*400
	doy := (153*(mm-3)+2)/5 + uint(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097+doe) - 719468
}

// days2000s is daysFromCivil for the year 2000+yy (yy < 100, m from 1 to 12):
// every fourth year is a leap year in this century, so no division; the days
// before each month (of a common year) come from a table of 16-bit values.
func days2000s(yy, m, d uint) int64 {
	const before = "\x00\x00\x1f\x00\x3b\x00\x5a\x00\x78\x00\x97\x00\xb5\x00\xd4\x00\xf3\x00\x11\x01\x30\x01\x4e\x01"
	cum := uint(before[2*(m-1)]) | uint(before[2*(m-1)+1])<<8
	days := 10957 + 365*yy + (yy+3)>>2 + cum + d - 1
	if m > 2 && yy&3 == 0 {
		days++
	}
	return int64(days)
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
	h, ok := digits2(z[1:3])
	m := 0
	if len(z) == 5 {
		var okm bool
		if m, okm = digits2(z[3:5]); !okm {
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

// Forms of %r.
const (
	remoteNone  = iota // not a %r: the line does not have Aurora's prefix
	remoteEmpty        // empty: a process without a client
	remoteLocal        // [local]: a Unix socket
	remoteHost         // host(port)
)

// Bytes of a host in %r: IPv4 and IPv6 addresses (with a %zone), host names.
const (
	hostCharsLo = 1<<'%' | 1<<'-' | 1<<'.' | 0x3FF<<'0' | 1<<':'
	hostCharsHi = 0x3FFFFFF<<('A'-64) | 1<<('_'-64) | 0x3FFFFFF<<('a'-64)
)

// hostTable has a 1 at every host byte (see hostCharsLo and hostCharsHi).
const hostTable = "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x01\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x00\x00\x00\x00\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x00\x00\x00\x01\x00\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

// isHostChar is hostTable as bit masks (TestHostTable keeps them in step).
func isHostChar(c byte) bool {
	if c < 64 {
		return hostCharsLo>>c&1 != 0
	}
	return c < 128 && hostCharsHi>>(c-64)&1 != 0
}

// parseRemote reads %r and its colon: "host(port):" where host is an IP address
// (IPv6 included: "::1", "::ffff:10.0.0.5", "fe80::1%eth0") or a host name,
// "[local]:", or ":" (no client). It returns the form (remoteNone for none)
// and, as offsets into b, the end of the host (b[:hostEnd]), of the port
// (b[hostEnd+1:portEnd]; 0 when there is none) and where the rest starts.
func parseRemote(b []byte) (hostEnd, portEnd, restAt, form int) {
	i := addrRun(b)
	// The host run stops at the first byte that is not a host byte, or at 256
	// bytes (a longer run is no host: the next byte is not '('). An address
	// in digits, '.' and ':' ends at '(', which is none.
	if i < len(b) && b[i] != '(' {
		for i < len(b) && i <= 255 && hostTable[b[i]] == 1 {
			i++
		}
	}
	if i > 0 && i < len(b) && b[i] == '(' {
		j := i + 1
		if i+9 <= len(b) {
			// The port's digits, eight bytes at once: 1 to 5 of them, then
			// "):" in the same word (at most the word's seventh and eighth
			// bytes).
			w := binary.LittleEndian.Uint64(b[i+1:])
			if d := digitRun(w); d >= 1 && d <= 5 && w>>(8*d)&0xFFFF == ')'|':'<<8 {
				return i, i + 1 + d, i + 3 + d, remoteHost
			}
			j = i // no port: not host(port)
		} else {
			for j < len(b) && isDigit(b[j]) && j-i <= 5 {
				j++
			}
		}
		if j > i+1 && j+1 < len(b) && b[j] == ')' && b[j+1] == ':' {
			return i, j, j + 2, remoteHost
		}
	}
	if len(b) > len(localHost) && b[len(localHost)] == ':' && string(b[:len(localHost)]) == "[local]" {
		return len(localHost), 0, len(localHost) + 1, remoteLocal
	}
	if len(b) > 0 && b[0] == ':' {
		return 0, 0, 1, remoteEmpty
	}
	return 0, 0, 0, remoteNone
}

// SWAR ("SIMD within a register") constants: a byte repeated in every lane of
// a uint64 loaded little-endian (the first byte of the text is the lowest).
const (
	lanes   = 0x0101010101010101
	highs   = 0x8080808080808080
	nibbles = 0xF0F0F0F0F0F0F0F0
	threes  = 0x3030303030303030
	sixes   = 0x0606060606060606
)

// digitRun returns how many of the eight bytes of w (the first one in the low
// byte) are ASCII digits before the first that is not; 8 if all are. A byte is
// a digit when its high nibble is 3 and stays 3 after adding 6. Adding 6 carries
// out of a byte only from 0xFA up, which fails the first test; a carry can only
// spoil the lanes after the first non-digit, which are not looked at.
func digitRun(w uint64) int {
	nd := (w&nibbles ^ threes) | ((w+sixes)&nibbles ^ threes)
	return bits.TrailingZeros64(nd) / 8
}

// addrRun returns how many bytes at the start of b, up to 256, are '.', ':' or
// digits (the bytes of IPv4 and most IPv6 addresses), eight at a time; the
// byte-wise host loop takes over from there (letters, '%', '-', '_').
func addrRun(b []byte) int {
	i := 0
	if len(b) >= 16 {
		// Most addresses end within two words (IPv4 always): both are tested
		// before the first branch.
		n1, n2 := notAddr(binary.LittleEndian.Uint64(b)), notAddr(binary.LittleEndian.Uint64(b[8:]))
		if n1 != 0 {
			return bits.TrailingZeros64(n1) / 8
		}
		if n2 != 0 {
			return 8 + bits.TrailingZeros64(n2)/8
		}
		i = 16
	}
	for i+8 <= len(b) && i < 256 {
		if n := notAddr(binary.LittleEndian.Uint64(b[i:])); n != 0 {
			return i + bits.TrailingZeros64(n)/8
		}
		i += 8
	}
	return i
}

// notAddr has the high bit set in each lane of w (the first byte in the low
// lane) that is not '.', ':' or a digit, and maybe in lanes after such a lane;
// the lowest one set is exact.
func notAddr(w uint64) uint64 {
	// A byte below 0x80 is in '.' (0x2E) .. ':' (0x3A) when adding 0x80-0x2E
	// sets its high bit and adding 0x80-0x3B does not; neither sum carries
	// out of such a byte. '/' (0x2F) is in the range but no host byte: it is
	// the has-zero-byte test on w XOR '/'. A byte from 0x80 up fails (its own
	// high bit), and any carry or borrow it causes only spoils the lanes after
	// it.
	ge := w + lanes*(0x80-0x2E)
	gt := w + lanes*(0x80-0x3B)
	slash := w ^ lanes*'/'
	isSlash := (slash - lanes) &^ slash
	return ^(ge &^ gt &^ w &^ isSlash) & highs
}

// indexBracket is bytes.IndexByte(b, '['), with the first 24 bytes tested
// three words at a time in line (a name and its "@%d:[" are mostly that short;
// a call costs more than the test). In w XOR '[' a '[' is a zero byte: the
// classic has-zero-byte test sets the high bit of the first one exactly (a
// borrow can only set bits in the lanes after a zero).
func indexBracket(b []byte) int {
	if len(b) < 24 {
		return bytes.IndexByte(b, '[')
	}
	const ones = lanes
	x1 := binary.LittleEndian.Uint64(b) ^ ones*'['
	x2 := binary.LittleEndian.Uint64(b[8:]) ^ ones*'['
	x3 := binary.LittleEndian.Uint64(b[16:]) ^ ones*'['
	z1, z2, z3 := (x1-ones)&^x1&highs, (x2-ones)&^x2&highs, (x3-ones)&^x3&highs
	switch {
	case z1 != 0:
		return bits.TrailingZeros64(z1) / 8
	case z2 != 0:
		return 8 + bits.TrailingZeros64(z2)/8
	case z3 != 0:
		return 16 + bits.TrailingZeros64(z3)/8
	}
	if i := bytes.IndexByte(b[24:], '['); i >= 0 {
		return 24 + i
	}
	return -1
}

// parsePrefixed reads "%u@%d:[%p]:LEVEL:  message" (ud, line[udAt:]) into l;
// line is the whole event, sess (line[sessAt:]) the text from %r on, and %r's
// host is sess[:hostEnd], its port sess[hostEnd+1:portEnd] (none when portEnd
// is 0). The user and database are free text that
// may contain anything, even ":[123]:LOG:  ", so every place within the longest
// "%u@%d" where the ":[%p]:" part could end them is tried, and an authorized line
// is accepted only when exactly one reading agrees with its message. A line
// where an authorized message follows a pid but no reading agrees is
// KindAmbiguous. It returns the work done (see parse).
func parsePrefixed(l *Line, line []byte, sessAt, udAt, hostEnd, portEnd int) int {
	sess, ud := line[sessAt:], line[udAt:]
	host := sess[:hostEnd]
	var port []byte // nil for [local]
	if portEnd > 0 {
		port = sess[hostEnd+1 : portEnd]
	}
	otherAt, otherPID := -1, 0
	otherKind := KindOther
	var otherMsg []byte
	auths, authMsgs, work := 0, 0, 0
	window := ud[:min(len(ud), maxUserAt+len(colonBracket))]
	base := len(line) - len(ud)
	t := l.Time
	var authPID, authKey int
	off := 0
	if len(ud) >= len(unknownUserAt) && string(ud[:16]) == "[unknown]@[unkno" && string(ud[16:21]) == "wn]:[" {
		// A received line's "[unknown]@[unknown]:[": its first two '[' cannot
		// end a prefix (no ':' before them). (Compared in place, at most 16
		// bytes at a time: the compiler loads eight bytes at once where
		// bytes.HasPrefix would call memequal.)
		off = len(unknownUserAt) - 1
	}
	unknown := off > 0 // then ud[:k] holds an '@' for every candidate k
	if unknown {
		// The common received line, "[unknown]@[unknown]:[%p]:LOG:
		// connection received: host=H port=P" with H and P the very host and
		// port of %r, up to the end of the line. The loop below would try
		// the '[' at off first (k = off-1, where the prefix compare above saw
		// ':'), find this message, and then scan the rest of the window: H
		// holds host bytes only and P digits, so no '[' follows and that scan
		// would find no other place where the prefix may end. Read it as the
		// loop and readReceived would, without the loop and the scans.
		k := off - 1
		pid, _, level, msg, ok := parsePIDLevel(ud[k+2:])
		if ok {
			if kind, _, fixed := messageKind(level, msg); kind == KindReceived && receivedEcho(msg[fixed:], host, port) {
				m := msg[fixed+len(fieldHost):]
				l.Kind, l.Host, l.Port = KindReceived, m[:len(host)], m[len(host)+len(fieldPort):]
				l.Session, l.PID = sess, pid
				l.Prefixed, l.Time = true, t
				return 1 // the one candidate the loop would have tried
			}
		}
	}
	brackets := 0
	for off < len(window) {
		i := 0
		if window[off] != '[' { // a received line's next '[' is right there
			if brackets == 0 {
				// The first '[', mostly close: see indexBracket.
				i = indexBracket(window[off:])
			} else {
				// After a message: mostly none.
				i = bytes.IndexByte(window[off:], '[')
			}
			if i < 0 {
				break
			}
		}
		brackets++
		k := off + i - 1 // where ":[" would start
		off += i + 1
		if k < 1 || ud[k] != ':' {
			continue
		}
		work++
		pid, digits, level, msg, ok := parsePIDLevel(ud[k+2:])
		if !ok {
			continue
		}
		kind, repl, fixed := messageKind(level, msg)
		if level != levelOtherID {
			// "123]:LOG:  " or "123]:FATAL:  " (and a SQLSTATE), then the
			// fixed start of a known message: no '[' in them, so the next
			// place that may end the prefix lies after them.
			off = max(off, len(ud)-len(msg)+fixed)
		}
		if kind == KindAuthorized {
			authMsgs++
			keyEnd := k + 2 + digits + 2
			dst := l
			if auths > 0 {
				dst = nil // a second reading: only whether it fits matters
			}
			ok, w, rest := readAuthorized(dst, ud[:k], msg[fixed:], repl, line[:base+keyEnd])
			work += w
			if ok {
				auths++
				authPID, authKey = pid, len(sess)-len(ud)+keyEnd
				if brackets == 1 && off < len(ud)-rest {
					// The first '[' of the window: the names hold none, nor do
					// their copies in the message; what may still end a prefix
					// lies after them.
					off = len(ud) - rest
				}
			}
			continue
		}
		if otherAt < 0 && kind != KindOther && (unknown || bytes.IndexByte(ud[:k], '@') >= 0) {
			otherAt, otherPID, otherKind, otherMsg = k, pid, kind, msg
		}
	}
	switch {
	case auths > 1 || (auths == 0 && authMsgs > 0):
		*l = Line{Kind: KindAmbiguous, Prefixed: true, Time: t}
		return work
	case auths == 1:
		l.Session, l.PID, l.Host, l.Port = sess[:authKey], authPID, host, port
	case otherAt < 0:
		return work
	default:
		k := otherAt
		readOther(l, ud[:k], otherKind, otherMsg)
		l.Session, l.PID = sess, otherPID
		if l.Kind != KindReceived { // a received line's host and port are its own
			l.Host, l.Port = host, port
		}
	}
	l.Prefixed, l.Time = true, t
	return work
}

// Levels parsePIDLevel tells apart.
const (
	levelOtherID = iota
	levelLogID
	levelFatalID
)

// pidLen is the number of digits at the start of b.
func pidLen(b []byte) int {
	i := 0
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

// parsePIDLevel reads "123]:LEVEL:  " (the level may also be followed by a
// SQLSTATE, "LOG:  00000: ", with log_error_verbosity = verbose) and returns the
// pid, its number of digits, the level (LOG, FATAL or another) and the message.
func parsePIDLevel(b []byte) (pid, digits, level int, msg []byte, ok bool) {
	if len(b) >= 18 {
		// Fast path, no byte loop: the pid's digits and "]:LOG:  " or
		// "]:FATAL:  " compared eight bytes at a time. A pid has at most seven
		// digits on Linux; a longer one takes the general path below.
		w := binary.LittleEndian.Uint64(b)
		if d := digitRun(w); d > 0 && d < 8 {
			pid := digitsValue(w, d)
			switch binary.LittleEndian.Uint64(b[d:]) {
			case w64("]:LOG:  "):
				return pid, d, levelLogID, sqlState(b[d+8:]), true
			case w64("]:FATAL:"):
				if b[d+8] == ' ' && b[d+9] == ' ' {
					return pid, d, levelFatalID, sqlState(b[d+10:]), true
				}
			}
		}
	}
	i := 0
	for i < len(b) && isDigit(b[i]) && i < 10 {
		pid = pid*10 + int(b[i]-'0')
		i++
	}
	if i == 0 || i+2 > len(b) || b[i] != ']' || b[i+1] != ':' {
		return 0, 0, 0, nil, false
	}
	b = b[i+2:]
	switch {
	case len(b) >= 6 && string(b[:6]) == "LOG:  ": // compared in place, no call
		level, b = levelLogID, b[6:]
	case len(b) >= 8 && string(b[:8]) == "FATAL:  ":
		level, b = levelFatalID, b[8:]
	default:
		// Another level ("ERROR:  ", "STATEMENT:  ", ...): a place where the
		// prefix may end, whose message is never a connection line.
		c := bytes.IndexByte(b[:min(len(b), 16)], ':')
		if c <= 0 || c+3 > len(b) || b[c+1] != ' ' || b[c+2] != ' ' {
			return 0, 0, 0, nil, false
		}
		return pid, i, levelOtherID, b[c+3:], true
	}
	return pid, i, level, sqlState(b), true
}

// receivedEcho reports whether m, a received message after its fixed start,
// is exactly "host=" + host + " port=" + port, with port not empty (so host and
// port are a remoteHost %r: host bytes and digits, never '[' or ' ').
func receivedEcho(m, host, port []byte) bool {
	h := len(fieldHost) + len(host)
	return len(port) > 0 && len(m) == h+len(fieldPort)+len(port) && string(m[:len(fieldHost)]) == "host=" &&
		string(m[h:h+len(fieldPort)]) == " port=" && bytes.Equal(m[len(fieldHost):h], host) && bytes.Equal(m[h+len(fieldPort):], port)
}

// sqlState drops the "00000: " that log_error_verbosity = verbose writes
// after the level.
func sqlState(b []byte) []byte {
	if len(b) >= 7 && b[5] == ':' && b[6] == ' ' && isSQLState(b[:5]) {
		return b[7:]
	}
	return b
}

// digitsValue is the number the first d (1 to 7) bytes of w spell, all digits
// (see digitRun). Shifting them to the top of the word puts zero lanes, read as
// leading zeros, in front; then each step joins neighbouring lanes into one
// twice as wide: 10*high+low, 100*high+low, 10000*high+low (the well-known
// eight-digit multiply-and-shift).
func digitsValue(w uint64, d int) int {
	v := (w - threes) << (8 * (8 - d)) // digit values in the top d lanes, zeros below
	v = v*10 + v>>8                    // byte lanes 0, 2, 4, 6: two digits, at most 99
	v &= 0x00FF00FF00FF00FF
	v = v*100 + v>>16 // 16-bit lanes 0, 2: four digits, at most 9999
	v &= 0x0000FFFF0000FFFF
	v = v*10000 + v>>32 // low 32 bits: eight digits
	return int(v & 0xFFFFFFFF)
}

// w64 is the eight bytes of s as a little-endian word. For a constant s the
// compiler reads the word out of the read-only string: no code runs.
func w64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// otherKind is the kind of a message that is not an authorized one.
func otherKind(level int, msg []byte) Kind {
	if k, _, _ := messageKind(level, msg); k != KindAuthorized {
		return k
	}
	return KindOther
}

// messageKind reads the fixed start of a LOG or FATAL message: it returns the
// message's kind (KindOther for none), whether an authorized message is a
// replication one, and the length of the fixed start, which holds no '['.
// (Constants are compared in place at most 16 bytes at a time, which the
// compiler turns into 8-byte loads and compares; bytes.HasPrefix, or a longer
// constant, would call memequal.)
func messageKind(level int, m []byte) (kind Kind, repl bool, fixed int) {
	switch {
	case level == levelFatalID:
		if refused(m) {
			return KindRefused, false, 0
		}
	case level != levelLogID || len(m) < len(msgReady):
	case string(m[:11]) == "connection ":
		switch r := m[11:]; {
		case len(r) >= 17 && string(r[:16]) == "authorized: user" && r[16] == '=':
			return KindAuthorized, false, len(msgAuthorized)
		case len(r) >= 15 && string(r[:15]) == "authenticated: ":
			return KindAuthenticated, false, len(msgAuthenticated)
		case len(r) >= 10 && string(r[:10]) == "received: ":
			return KindReceived, false, len(msgReceived)
		case string(r[:7]) == "ready: ":
			return KindReady, false, len(msgReady)
		}
	case len(m) >= len(msgReplAuth) && string(m[:16]) == "replication conn" && string(m[16:32]) == "ection authorize" &&
		string(m[32:40]) == "d: user=":
		return KindAuthorized, true, len(msgReplAuth)
	}
	return KindOther, false, 0
}

// readAuthorized reads an authorized message, from "user=" on (msg), against
// the prefix's "%u@%d" (r); repl tells a replication message, prefix is the
// whole line up to the message's level. The message repeats the user (and the
// database) exactly, except that the server indents a newline in the message
// with a tab. Where the message reads user=U database=D (or, for replication,
// user=U and then nothing or a known field), the message has ' ' or its end
// where r has the '@' after U: so the one split that can fit is at the first
// byte where r and the message part ways, and only if r has an '@' there. After
// the names the message must end as the server ends it: the known fields, then
// the end of the event or a newline and the same prefix (the next line of the
// entry). With a nil l it only reports whether the reading fits. It also
// returns the bytes compared and the length of what follows the names.
func readAuthorized(l *Line, r, msg []byte, repl bool, prefix []byte) (bool, int, int) {
	at, n := commonIndented(r, msg)
	work := at
	if at == 0 || at > maxName || at >= len(r) || r[at] != '@' {
		return false, work, 0
	}
	user, db, tail := r[:at], r[at+1:], msg[n:]
	if len(db) == 0 || len(db) > maxName {
		return false, work, 0
	}
	if !repl {
		if len(tail) < len(fieldDatabase) || string(tail[:len(fieldDatabase)]) != " database=" {
			return false, work, 0
		}
		// The message repeats the whole database name, indented as the server
		// writes it (the same reading as the user's, which must end at r's end).
		d, m := commonIndented(db, tail[len(fieldDatabase):])
		work += len(db)
		if d != len(db) {
			return false, work, 0
		}
		tail = tail[len(fieldDatabase)+m:]
	}
	rest := len(tail)
	if len(tail) == 0 {
		// Nothing after the names: no newline to look for, no fields.
		if l != nil {
			l.Kind, l.User, l.Database, l.Replication = KindAuthorized, user, db, repl
		}
		return true, work, 0
	}
	if nl := bytes.IndexByte(tail, '\n'); nl >= 0 {
		next := tail[nl+1:]
		if !bytes.HasPrefix(next, prefix) {
			return false, work, 0
		}
		tail = tail[:nl]
	}
	// What may follow the names, up to the end: nothing, the application
	// name (anything, it is last but for the SSL and GSS fields), or the SSL
	// and GSS fields alone, which end with ')'. Each field name is compared
	// once, for this test and for the reading (as readTail does).
	app := isAppField(tail)
	ssl := !app && isSSLField(tail)
	if !app && len(tail) > 0 && ((!ssl && !isGSSField(tail)) || tail[len(tail)-1] != ')') {
		return false, work, 0
	}
	if l != nil {
		l.Kind, l.User, l.Database, l.Replication = KindAuthorized, user, db, repl
		if app {
			l.Application, l.SSL = cutFields(tail[len(fieldApplication):])
		} else {
			l.SSL = ssl
		}
	}
	return true, work, rest
}

// commonIndented returns how many bytes of r the message repeats from its start,
// as the server writes r in a message (each "\n" followed by a tab), and how many
// bytes of msg that took.
func commonIndented(r, msg []byte) (int, int) {
	// Fast path: compare eight bytes at a time; names rarely hold a newline.
	i, n := 0, min(len(r), len(msg))
	nl := false
	for i+8 <= n {
		w := binary.LittleEndian.Uint64(r[i:])
		if x := w ^ binary.LittleEndian.Uint64(msg[i:]); x != 0 {
			d := bits.TrailingZeros64(x) / 8
			nl = nl || hasNewline(w&(1<<(8*d)-1)|^uint64(0)<<(8*d)&0x0101010101010101*'x')
			i += d
			break
		}
		nl = nl || hasNewline(w)
		i += 8
	}
	for ; i < n && r[i] == msg[i]; i++ {
		nl = nl || r[i] == '\n'
	}
	if !nl {
		return i, i
	}
	i, n = 0, 0
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

// hasNewline reports whether one of the eight bytes of w is '\n' (the classic
// has-zero-byte test on w XOR '\n' in every byte).
func hasNewline(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	x := w ^ ones*'\n'
	return (x-ones)&^x&highs != 0
}

// readOther reads the received, authenticated, ready and refused messages
// (msg, of the kind given), whose user is not in the message (or not reliably).
func readOther(l *Line, r []byte, kind Kind, msg []byte) {
	l.Kind = kind
	switch kind {
	case KindReceived:
		readReceived(l, msg[len(msgReceived):])
	case KindAuthenticated:
		readAuthenticated(l, msg[len(msgAuthenticated):])
		if at := bytes.IndexByte(r, '@'); at >= 0 && bytes.IndexByte(r[at+1:], '@') < 0 {
			l.User, l.Database = r[:at], r[at+1:]
		}
	}
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
	if l.Kind == KindAuthorized || !bytes.HasPrefix(l.Session, key) || len(key) < 4 {
		return KindOther, false
	}
	// key ends with ":[%p]:"; re-read the level and message after it.
	open := bytes.LastIndex(key, []byte(colonBracket))
	if open < 0 || pidLen(key[open+2:])+open+4 != len(key) {
		return KindOther, false
	}
	_, _, level, msg, ok := parsePIDLevel(l.Session[open+2:])
	if !ok {
		return KindOther, false
	}
	return otherKind(level, msg), true
}

// isAppField, isSSLField and isGSSField report t starting with
// fieldApplication, fieldSSLStrict and fieldGSSStrict, compared in place at
// most 16 bytes at a time (8-byte loads, no call; see messageKind).
func isAppField(t []byte) bool {
	return len(t) >= len(fieldApplication) && string(t[:16]) == " application_nam" && string(t[16:18]) == "e="
}

func isSSLField(t []byte) bool {
	return len(t) >= len(fieldSSLStrict) && string(t[:16]) == " SSL enabled (pr" && string(t[16:23]) == "otocol="
}

func isGSSField(t []byte) bool {
	return len(t) >= len(fieldGSSStrict) && string(t[:16]) == " GSS (authentica" && string(t[16:20]) == "ted="
}

// readTail reads application_name and the SSL flag after the database.
func readTail(l *Line, t []byte) {
	if !isAppField(t) {
		l.SSL = isSSLField(t) // after the names: SSL or GSS first, if any
		return
	}
	l.Application, l.SSL = cutFields(t[len(fieldApplication):])
}

// cutFields returns app up to its first SSL or GSS field, and whether it holds
// an SSL field. It is the same as cutting app at the first fieldSSLStrict and
// then at the first fieldGSSStrict before that, in one scan of app's '('
// instead of two substring searches or a test at every space: each field holds
// a '(' at a fixed place (" SSL enabled (" and " GSS ("), so every place a
// field starts is 13 or 5 bytes before a '('. Neither field can start inside
// the other (no byte of one starts the other's text), so fields that fit do not
// overlap, and the '(' of an earlier field comes before the '(' of a later one:
// the first '(' at which one fits is where the name ends.
func cutFields(app []byte) ([]byte, bool) {
	const sslParen, gssParen = len(" SSL enabled "), len(" GSS ")
	for off := 0; ; {
		j := bytes.IndexByte(app[off:], '(')
		if j < 0 {
			return app, false
		}
		q := off + j
		if q >= sslParen && isSSLField(app[q-sslParen:]) {
			return app[:q-sslParen], true
		}
		if q >= gssParen && isGSSField(app[q-gssParen:]) {
			// An SSL field, if any, lies after this GSS field.
			i := q - gssParen
			return app[:i], bytes.Contains(app[i+len(fieldGSSStrict):], []byte(fieldSSLStrict))
		}
		off = q + 1
	}
}

// readReceived reads "host=H port=P" (or "host=[local]").
func readReceived(l *Line, m []byte) {
	if len(m) < len(fieldHost) || string(m[:len(fieldHost)]) != "host=" {
		return
	}
	m = m[len(fieldHost):]
	if i := bytes.IndexByte(m, ' '); i >= 0 && len(m)-i >= len(fieldPort) && string(m[i:i+len(fieldPort)]) == " port=" {
		l.Host, l.Port = m[:i], m[i+len(fieldPort):]
		return
	}
	l.Host = m
}

// readAuthenticated reads identity="X" method=M or user="X" method=M. X may hold
// quotes, so it ends at the last `" method=`.
func readAuthenticated(l *Line, m []byte) {
	switch {
	case len(m) >= len(fieldIdentity) && string(m[:len(fieldIdentity)]) == `identity="`:
		m = m[len(fieldIdentity):]
	case len(m) >= len(fieldUserQuoted) && string(m[:len(fieldUserQuoted)]) == `user="`:
		m = m[len(fieldUserQuoted):]
	default:
		return
	}
	i := lastMethod(m)
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

// lastMethod is bytes.LastIndex(m, fieldMethod) without its rolling hash over
// the whole of m: the last '"' that starts fieldMethod, trying each '"' from
// the end (the text after the method has few or none).
func lastMethod(m []byte) int {
	for end := len(m); ; {
		i := bytes.LastIndexByte(m[:end], '"')
		if i < 0 {
			return -1
		}
		if len(m)-i >= len(fieldMethod) && string(m[i:i+len(fieldMethod)]) == `" method=` {
			return i
		}
		end = i
	}
}

// parseBare reads a line with an unknown prefix from its message alone, which
// must appear once, after "LOG:  ". The user ends at the one " database="
// (two of them make the line ambiguous); a replication line's user ends at the
// first known field, which a name that imitates one would defeat: lines
// without Aurora's prefix are read on a best-effort basis (Line.Prefixed false).
func parseBare(l *Line, msg []byte) {
	i := bytes.Index(msg, []byte(msgAuthorized))
	if i < 0 {
		bareOther(l, msg)
		return
	}
	if bytes.Contains(msg[i+1:], []byte(msgAuthorized)) {
		*l = Line{Kind: KindAmbiguous}
		return
	}
	repl := i >= len("replication ") && string(msg[i-len("replication "):i]) == "replication "
	start := i
	if repl {
		start -= len("replication ")
	}
	if start < len(levelLog) || string(msg[start-len(levelLog):start]) != levelLog {
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
	d := bytes.Index(rest, []byte(fieldDatabase))
	if d < 0 || bytes.Contains(rest[d+1:], []byte(fieldDatabase)) {
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
	for _, f := range [...]string{fieldApplication, fieldSSL, fieldGSS} {
		if i := bytes.Index(b[:end], []byte(f)); i >= 0 {
			end = i
		}
	}
	return end
}

// bareOther reads received and authenticated lines with an unknown prefix.
func bareOther(l *Line, msg []byte) {
	if i := bytes.Index(msg, []byte(msgReceived)); i >= len(levelLog) && string(msg[i-len(levelLog):i]) == levelLog {
		*l = Line{Kind: KindReceived}
		readReceived(l, msg[i+len(msgReceived):])
		return
	}
	if i := bytes.Index(msg, []byte(msgAuthenticated)); i >= len(levelLog) && string(msg[i-len(levelLog):i]) == levelLog {
		*l = Line{Kind: KindAuthenticated}
		readAuthenticated(l, msg[i+len(msgAuthenticated):])
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digits2 reads two ASCII digits.
func digits2(b []byte) (int, bool) {
	return int(b[0]-'0')*10 + int(b[1]-'0'), isDigit(b[0]) && isDigit(b[1])
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

// sessionPIDs calls yield with every pid that may end the prefix of a line whose
// text from %r on is sess (the Session of a prefixed line other than an authorized one), in order, until
// yield returns false.
func sessionPIDs(sess []byte, yield func(pid int) bool) {
	window := sess[:min(len(sess), 256+2+maxUserAt+len(colonBracket))]
	for off := 0; off < len(window); {
		i := bytes.Index(window[off:], []byte(colonBracket))
		if i < 0 {
			return
		}
		k := off + i
		off = k + 1
		if pid, _, _, _, ok := parsePIDLevel(sess[k+2:]); ok && !yield(pid) {
			return
		}
	}
}
