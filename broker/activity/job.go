package activity

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/broker/awsretry"
)

// Config holds a Job's dependencies, built once per cold start.
type Config struct {
	// Store reaches the database as the job's own login. Required.
	Store *Store
	// Logs reads the cluster's log group; required by Run and Apply.
	Logs LogsAPI
	// Audit receives firefighter logins and every policy action. Required.
	Audit audit.Sink
	// Options are the settings Handler runs with.
	Options Options
	// Now returns the Lambda's time, used for the reading window and the time
	// budget only (the policy's clock is the database's); nil means time.Now.
	Now func() time.Time
	// Sessions checks every instance of the cluster for live sessions before a
	// lock or drop; nil means the database is one instance.
	Sessions Sessions
}

// Job is the activity job. It is safe for one run at a time; the database keeps
// concurrent runs from counting a page twice.
type Job struct {
	store *Store
	logs  LogsAPI
	audit audit.Sink
	opts  Options
	now   func() time.Time
	// sessions is Config.Sessions.
	sessions Sessions
}

// New returns a Job with the dependencies in cfg.
func New(cfg Config) (*Job, error) {
	switch {
	case cfg.Store == nil:
		return nil, errors.New("activity: Config.Store is required")
	case cfg.Audit == nil:
		return nil, errors.New("activity: Config.Audit is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Job{store: cfg.Store, logs: cfg.Logs, audit: cfg.Audit, opts: cfg.Options, now: cfg.Now, sessions: cfg.Sessions}, nil
}

// Run reads the log from the checkpoint to now minus opts.LogDelay, committing each
// page, then applies the policy (dry run unless opts.Apply). The policy runs only
// when the reading caught up and the job's own login in the log is recent (see
// Options.MaxLogSilence); otherwise Report.Policy.Skipped says why. When the
// context's deadline comes closer than opts.Reserve the run stops reading and
// returns its report without error: the next run continues from the checkpoint. A
// run cut short by the deadline itself returns the report so far and an error
// (CodeUnavailable); what it committed stays.
func (j *Job) Run(ctx context.Context, opts Options) (Report, error) {
	opts = opts.withDefaults()
	rep := Report{RequestID: opts.RequestID, DryRun: !opts.Apply, StartedAt: j.now()}
	if err := opts.Validate(); err != nil {
		return rep, err
	}
	if err := opts.needsLogGroup(); err != nil {
		return rep, err
	}
	if j.logs == nil {
		return rep, errors.New("activity: Config.Logs is required to read the log")
	}
	logs, err := j.readLogs(ctx, opts)
	rep.Logs = logs
	if err == nil && logs.CaughtUp {
		rep.Policy, err = j.runPolicy(ctx, opts)
	} else if err == nil {
		rep.Policy = &PolicyReport{LockAfterDays: opts.LockAfterDays, DropAfterDays: opts.DropAfterDays,
			Skipped: "the log was not read to the end of the window: " + logs.Stopped}
	}
	rep.FinishedAt = j.now()
	return rep, err
}

// Apply is Run with the policy carried out (opts.Apply set): the non-dry-run that
// `ffbroker activity apply` runs.
func (j *Job) Apply(ctx context.Context, opts Options) (Report, error) {
	opts.Apply = true
	return j.Run(ctx, opts)
}

// Report returns the policy's verdict on every tracked role without reading the log
// and without changing any role or writing audit records: what `ffbroker activity
// report` shows. New login roles are taken into the tracking (as in every run).
func (j *Job) Report(ctx context.Context, opts Options) (Report, error) {
	opts = opts.withDefaults()
	rep := Report{RequestID: opts.RequestID, DryRun: true, StartedAt: j.now()}
	if err := opts.Validate(); err != nil {
		return rep, err
	}
	pr, plan, err := j.plan(ctx, opts)
	if err == nil {
		for _, p := range plan {
			pr.Roles = append(pr.Roles, RoleReport{RolePlan: p})
		}
		rep.Policy = pr
	}
	rep.FinishedAt = j.now()
	return rep, err
}

// readLogs reads and commits the pages of the run's window. The window starts
// opts.LogOverlap before the checkpoint: CloudWatch Logs may ingest an event after
// a run passed its time, and the events read before are known by id (the
// checkpoint keeps the ids of its last LogOverlap). The reader also reads
// SettleWindow past the window's end, to learn what became of the sessions
// authorized just before it; those later events are not recorded.
func (j *Job) readLogs(ctx context.Context, opts Options) (*LogReport, error) {
	now := j.now()
	end := now.Add(-opts.LogDelay).UnixMilli()
	ck, found, err := j.store.Checkpoint(ctx, opts.LogGroup)
	if err != nil {
		return &LogReport{Group: opts.LogGroup, Stopped: "cannot read the checkpoint"}, err
	}
	if !found {
		ck = Checkpoint{ThroughMs: max(0, now.Add(-opts.FirstLookback).UnixMilli())}
	}
	rep := &LogReport{Group: opts.LogGroup, From: time.UnixMilli(ck.ThroughMs).UTC(), Until: time.UnixMilli(end).UTC(),
		Checkpoint: time.UnixMilli(ck.ThroughMs).UTC()}
	if ck.ThroughMs > end {
		rep.CaughtUp = true
		return rep, nil
	}
	r := &reader{client: j.logs, group: opts.LogGroup, pageSize: opts.PageSize}
	p := newPageState(ck, end, max(0, opts.LogOverlap))
	start := ck.ThroughMs
	if found {
		start = max(0, start-max(0, opts.LogOverlap).Milliseconds())
	}
	rep.From = time.UnixMilli(start).UTC()
	token := ""
	for {
		if j.budget(ctx, opts) <= 0 {
			rep.Stopped = "time budget: the context's deadline is near"
			return rep, nil
		}
		out, err := r.page(ctx, start, end+SettleWindow.Milliseconds(), token)
		if err != nil {
			rep.Stopped = "reading the log failed"
			return rep, logsError(ctx, err)
		}
		rep.Pages++
		token = aws.ToString(out.NextToken)
		fresh := p.read(out.Events, start, rep)
		if token == "" {
			p.settleAll()
		}
		logins := p.takeResolved(rep)
		if fresh > 0 || len(logins) > 0 {
			v, err := j.store.CommitPage(ctx, PageCommit{Source: opts.LogGroup, Version: p.version, ThroughMs: p.through,
				IDs: p.doneIDs(), Events: fresh, Logins: logins, Pending: p.pendingList()}, func(ctx context.Context, ff []FirefighterLogin) error {
				return j.observe(ctx, opts, rep, ff)
			})
			if err != nil {
				rep.Stopped = "recording a page failed"
				return rep, err
			}
			p.version = v
			rep.Events += fresh
			rep.Checkpoint = time.UnixMilli(p.through).UTC()
		}
		if token == "" {
			rep.CaughtUp = true
			return rep, nil
		}
	}
}

// budget is the time left before the run must stop reading; unlimited without a
// deadline.
func (j *Job) budget(ctx context.Context, opts Options) time.Duration {
	dl, ok := ctx.Deadline()
	if !ok {
		return time.Duration(1<<63 - 1)
	}
	return dl.Sub(j.now()) - opts.Reserve
}

// logsError turns a CloudWatch Logs failure into a *broker.Error.
func logsError(ctx context.Context, err error) error {
	e := &broker.Error{Code: broker.CodeInternal, Message: "cannot read the connection log", Op: "activity: read log", Err: err}
	if awsretry.Transient(err) || ctx.Err() != nil {
		e.Code = broker.CodeUnavailable
	}
	return e
}

// observe writes the audit records of firefighter logins; an error rolls back
// their page, which the next run reads again (fail closed).
func (j *Job) observe(ctx context.Context, opts Options, rep *LogReport, ff []FirefighterLogin) error {
	records := make([]audit.Record, 0, len(ff))
	unmatched := 0
	for _, f := range ff {
		r := audit.Record{Time: f.Time, Event: audit.EventLoginObserved, Outcome: audit.OutcomeSuccess,
			RequestID: opts.RequestID, IncidentID: f.IncidentID, Requester: f.Requester, Approver: f.Approver,
			TargetRole: f.Role, ExpiresAt: f.ExpiresAt, GrantID: f.GrantID, Source: opts.Source,
			Message: "firefighter login seen in the connection log, during its grant"}
		if f.GrantID == "" {
			r.Outcome, r.ErrorCode = audit.OutcomeFailure, ErrCodeNoLiveGrant
			r.Message = "firefighter login seen in the connection log with no live grant"
			unmatched++
		}
		records = append(records, r)
	}
	if err := audit.WriteAll(ctx, j.audit, records); err != nil {
		return &broker.Error{Code: broker.CodeUnavailable, Message: "cannot write the audit records of firefighter logins",
			Op: "activity: audit", Err: err}
	}
	rep.FirefighterLogins += len(ff)
	rep.Unmatched += unmatched
	return nil
}

// SettleWindow is how long after a session's authorized line the job waits, in
// log time, for the FATAL that refuses it (or, on PostgreSQL 18, the "connection
// ready" that opens it). The server writes either within milliseconds; the
// window is wide for the whole-second %t of the log.
const SettleWindow = 5 * time.Second

// maxPending bounds the sessions waiting for their fate; beyond it the oldest is
// taken as opened (a login: never lose one).
const maxPending = 10_000

// pendKey names a backend: its log stream and pid.
type pendKey struct {
	stream string
	pid    int
}

// addrKey names a client address on a log stream: the host and port of %r.
type addrKey struct {
	stream, host, port string
}

// pageState is the reader's position while a run goes through its pages, and
// the authorized sessions whose fate is not known yet.
type pageState struct {
	through  int64
	done     map[string]int64 // the events read, by id, with their timestamps
	overlap  int64            // how far before through the done ids are kept (ms)
	version  int64
	end      int64
	pending  map[pendKey]*PendingSession
	byAddr   map[addrKey][]*PendingSession // the pending sessions by client address (see received)
	order    []*PendingSession
	resolved []Login
	opening  map[pendKey]receivedLine // server-written received lines not followed by an authorized one yet
}

// receivedLine is a server-written "connection received" line: a backend's
// first line.
type receivedLine struct {
	host, port string
	ms         int64
}

// ReceivedWindow is how long, in log time, a received line waits for its
// authorized line: authentication_timeout's maximum (600 s), and a margin.
const ReceivedWindow = 11 * time.Minute

func newPageState(ck Checkpoint, end int64, overlap time.Duration) *pageState {
	p := &pageState{through: ck.ThroughMs, done: make(map[string]int64, len(ck.IDs)), overlap: overlap.Milliseconds(),
		version: ck.Version, end: end, pending: map[pendKey]*PendingSession{}, byAddr: map[addrKey][]*PendingSession{},
		opening: map[pendKey]receivedLine{}}
	for _, e := range ck.IDs {
		ms, id := ck.ThroughMs, e
		if i := strings.IndexByte(e, '/'); i > 0 {
			if n, err := strconv.ParseInt(e[:i], 10, 64); err == nil && n >= 0 {
				ms, id = n, e[i+1:]
			}
		}
		p.done[id] = ms
	}
	for i := range ck.Pending {
		if s := &ck.Pending[i]; s.Received {
			p.opening[pendKey{s.Stream, s.PID}] = receivedLine{host: s.Login.Host, port: s.Port, ms: s.EventMs}
		} else {
			p.add(s)
		}
	}
	return p
}

func (p *pageState) add(s *PendingSession) {
	k := pendKey{s.Stream, s.PID}
	if old := p.pending[k]; old != nil {
		p.settle(old, true) // the pid logs in again: the old backend is gone, and nothing refused it
	}
	p.pending[k] = s
	a := addrKey{s.Stream, s.Login.Host, s.Port}
	p.byAddr[a] = append(p.byAddr[a], s)
	p.order = append(p.order, s)
	if len(p.pending) > maxPending {
		p.expire(0, true)
	}
}

// settle decides a pending session: opened (a login) or not (an attempt).
func (p *pageState) settle(s *PendingSession, opened bool) {
	k := pendKey{s.Stream, s.PID}
	if p.pending[k] != s {
		return
	}
	delete(p.pending, k)
	a := addrKey{s.Stream, s.Login.Host, s.Port}
	if rest := slices.DeleteFunc(p.byAddr[a], func(o *PendingSession) bool { return o == s }); len(rest) > 0 {
		p.byAddr[a] = rest
	} else {
		delete(p.byAddr, a)
	}
	l := s.Login
	l.Refused = !opened
	p.resolved = append(p.resolved, l)
}

// expire settles, oldest first, the sessions authorized more than the settle
// window before nowMs (and, with oldest, at least the oldest one): no FATAL came,
// so they opened. A missing "connection ready" proves nothing: whether a server
// writes one cannot be learnt from the log, where any login can write a line
// that reads as one (RAISE LOG), and a login wrongly taken as refused could get
// an active role locked.
func (p *pageState) expire(nowMs int64, oldest bool) {
	i := 0
	for ; i < len(p.order); i++ {
		s := p.order[i]
		if p.pending[pendKey{s.Stream, s.PID}] != s {
			continue
		}
		if !oldest && s.EventMs+SettleWindow.Milliseconds() >= nowMs {
			break
		}
		oldest = false
		p.settle(s, true)
	}
	p.order = p.order[i:]
}

// received settles as opened the sessions pending from the address of l, a
// received line: a new connection from a client's host and port means the
// session that held them has closed, and the server writes the FATAL that
// refuses a session before it closes the socket. Without this, a user of the
// client's host could reuse the port of a session that closed within the settle
// window and, as that session's user, with a database name holding
// ":[<its pid>]:FATAL:  role ...", write a line that starts with the session's
// exact prefix and reads as its refusal.
//
// Only a received line as the server writes it counts: before authentication
// ([unknown]@[unknown]) and for the client of its own %r. A login can write a
// line that reads as a received one (RAISE LOG) naming any address, but only with
// its own %r and names in the prefix.
func (p *pageState) received(stream string, l Line, ms int64) {
	if !l.Prefixed || !serverReceived(l) {
		return
	}
	if len(p.opening) >= maxPending {
		p.forgetReceived(ms, true)
	}
	p.opening[pendKey{stream, l.PID}] = receivedLine{host: string(l.Host), port: string(l.Port), ms: ms}
	for _, s := range slices.Clone(p.byAddr[addrKey{stream, string(l.Host), string(l.Port)}]) {
		p.settle(s, true)
	}
}

// serverReceived reports whether l, a received line, has the prefix the server
// writes for one: its %r is the host and port the message names ("H(P)", or
// "[local]"), and the user and database are not known yet.
func serverReceived(l Line) bool {
	const unknown = ":[unknown]@[unknown]:["
	r := len(l.Host)
	if len(l.Port) > 0 {
		r += 1 + len(l.Port) + 1
	}
	if len(l.Session) < r+len(unknown) || !bytes.HasPrefix(l.Session, l.Host) || string(l.Session[r:r+len(unknown)]) != unknown {
		return false
	}
	if len(l.Port) == 0 {
		return true
	}
	sep := l.Session[len(l.Host)]
	return sep == '(' && bytes.Equal(l.Session[len(l.Host)+1:r-1], l.Port) && l.Session[r-1] == ')'
}

// authorize reports whether l, an authorized line, is a login to count, and
// takes the received line of its backend. A session is authorized once: the
// server writes a backend's received line, then (within authentication_timeout)
// its one authorized line, and only then runs the session's own statements.
// Where the prefix's "%u@%d" splits more than one way (an '@' in a name), a
// login could write a second authorized line (RAISE LOG) whose message reads
// the prefix another way: role a in database b@db writes "user=a@b
// database=db". Such a line counts only when the server-written received line
// of its backend (same stream, pid, host and port) came before it and no other
// authorized line took it; the session's own first line settles the prefix,
// never a later message. A prefix that splits one way names the session's own
// role whatever its message says.
func (p *pageState) authorize(stream string, l Line) bool {
	k := pendKey{stream, l.PID}
	r, ok := p.opening[k]
	delete(p.opening, k)
	if bytes.IndexByte(l.User, '@') < 0 && bytes.IndexByte(l.Database, '@') < 0 {
		return true
	}
	return ok && r.host == string(l.Host) && r.port == string(l.Port)
}

// forgetReceived drops the received lines older than ReceivedWindow before
// nowMs (their authorized line can no longer come), and with oldest at least
// the oldest one.
func (p *pageState) forgetReceived(nowMs int64, oldest bool) {
	var first pendKey
	firstMs := int64(1<<63 - 1)
	for k, r := range p.opening {
		if r.ms+ReceivedWindow.Milliseconds() < nowMs {
			delete(p.opening, k)
		} else if r.ms < firstMs {
			first, firstMs = k, r.ms
		}
	}
	if oldest && len(p.opening) >= maxPending {
		delete(p.opening, first)
	}
}

// settleAll settles every pending session: the log was read to SettleWindow past
// the window's end.
func (p *pageState) settleAll() { p.expire(1<<62, false) }

// takeResolved returns the logins and attempts settled since the last call.
func (p *pageState) takeResolved(rep *LogReport) []Login {
	out := p.resolved
	p.resolved = nil
	for _, l := range out {
		if l.Refused {
			rep.Attempts++
		} else {
			rep.Opened++
		}
	}
	return out
}

// pendingList is what the checkpoint keeps for the next run: the sessions not
// settled, then the newest received lines still waiting, at most maxPending in all.
func (p *pageState) pendingList() []PendingSession {
	out := make([]PendingSession, 0, len(p.pending)+len(p.opening))
	for _, s := range p.order {
		if p.pending[pendKey{s.Stream, s.PID}] == s {
			out = append(out, *s)
		}
	}
	p.forgetReceived(p.through, false)
	rec := make([]PendingSession, 0, len(p.opening))
	for k, r := range p.opening {
		rec = append(rec, PendingSession{Stream: k.stream, PID: k.pid, EventMs: r.ms, Port: r.port,
			Login: Login{Host: r.host}, Received: true})
	}
	slices.SortFunc(rec, func(a, b PendingSession) int {
		if a.EventMs != b.EventMs {
			return int(b.EventMs - a.EventMs)
		}
		return cmp.Or(strings.Compare(a.Stream, b.Stream), a.PID-b.PID)
	})
	return append(out, rec[:min(len(rec), max(0, maxPending-len(out)))]...)
}

// maxDoneIDs bounds the ids a checkpoint keeps (the database takes 100000); past
// it the oldest go, which shortens the overlap that late events are found in.
const maxDoneIDs = 50_000

// doneIDs are the ids of the events read in the last overlap before through, as
// "<ms>/<id>", for the checkpoint; it forgets the older ones.
func (p *pageState) doneIDs() []string {
	type ev struct {
		ms int64
		id string
	}
	keep := make([]ev, 0, len(p.done))
	for id, ms := range p.done {
		if ms >= p.through-p.overlap {
			keep = append(keep, ev{ms, id})
		} else {
			delete(p.done, id)
		}
	}
	slices.SortFunc(keep, func(a, b ev) int {
		if a.ms != b.ms {
			return int(b.ms - a.ms)
		}
		return strings.Compare(a.id, b.id)
	})
	if len(keep) > maxDoneIDs {
		for _, e := range keep[maxDoneIDs:] {
			delete(p.done, e.id)
		}
		keep = keep[:maxDoneIDs]
	}
	out := make([]string, len(keep))
	for i, e := range keep {
		out[i] = strconv.FormatInt(e.ms, 10) + "/" + e.id
	}
	return out
}

// read parses a page's events, skipping those the checkpoint (at startMs, done)
// already covers, and moves the position. Events after the window's end only
// settle pending sessions. It returns the number of new events.
func (p *pageState) read(events []cwEvent, startMs int64, rep *LogReport) int {
	fresh := 0
	for _, ev := range events {
		ts, id := aws.ToInt64(ev.Timestamp), aws.ToString(ev.EventId)
		stream := aws.ToString(ev.LogStreamName)
		if ts > p.end {
			rep.Lookahead++
			p.expire(ts, false)
			p.match(stream, Parse([]byte(aws.ToString(ev.Message))))
			continue
		}
		if _, seen := p.done[id]; !text(id, 512) || ts < startMs || seen {
			rep.Skipped++
			continue
		}
		fresh++
		if ts < p.through {
			rep.Late++
		}
		p.through = max(p.through, ts)
		p.done[id] = ts
		p.expire(ts, false)
		line := Parse([]byte(aws.ToString(ev.Message)))
		switch line.Kind {
		case KindReceived:
			rep.Received++
			p.received(stream, line, ts)
			p.match(stream, line)
		case KindAuthorized:
			rep.Authorized++
			if line.Replication {
				rep.Replication++
			}
			if !line.Prefixed {
				rep.Unprefixed++
				continue
			}
			if !roleName(line.User) {
				rep.Invalid++
				continue
			}
			if !p.authorize(stream, line) {
				rep.Reauthorized++
				continue
			}
			host := string(line.Host)
			if !text(host, 255) {
				host = ""
			}
			p.add(&PendingSession{Stream: stream, Key: bytes.Clone(line.Session), PID: line.PID, EventMs: ts, Port: string(line.Port),
				Login: Login{EventID: id, Role: string(line.User), Time: loginTime(line.Time, ts), Host: host}})
		case KindReady:
			rep.Ready++
			p.match(stream, line)
		case KindRefused:
			rep.Refused++
			p.match(stream, line)
		case KindAuthenticated:
			rep.Authenticated++
			p.match(stream, line)
		case KindAmbiguous:
			rep.Ambiguous++
		default:
			rep.Other++
		}
	}
	return fresh
}

// match settles the pending session that a prefixed line other than an
// authorized one refuses or confirms: same stream, one of the pids the line may
// carry, its exact prefix, and what the line says after that prefix (KindAfter),
// whatever Parse read it as. A refusal whose database name makes it read as
// another message at first is still a refusal of its own session.
func (p *pageState) match(stream string, l Line) {
	if !l.Prefixed || l.Kind == KindAuthorized || l.Kind == KindAmbiguous || len(p.pending) == 0 {
		return
	}
	sessionPIDs(l.Session, func(pid int) bool {
		s := p.pending[pendKey{stream, pid}]
		if s == nil {
			return true
		}
		if k, ok := KindAfter(l, s.Key); ok && (k == KindReady || k == KindRefused) {
			p.settle(s, k == KindReady)
			return false
		}
		return true
	})
}

// loginTime is the line's own time, or the event's when the line has none; the
// event's millisecond time is preferred when it falls within the line's second.
func loginTime(line time.Time, eventMs int64) time.Time {
	ev := time.UnixMilli(eventMs).UTC()
	if line.IsZero() || (!ev.Before(line) && ev.Before(line.Add(time.Second))) {
		return ev
	}
	return line
}

// roleName reports a name a role can have: 1 to 63 bytes of UTF-8 without NUL
// (the database refuses anything else, and would refuse the whole page).
func roleName(b []byte) bool {
	return len(b) > 0 && len(b) <= 63 && bytes.IndexByte(b, 0) < 0 && utf8.Valid(b)
}

// text reports a string the database accepts as text of at most n bytes.
func text(s string, n int) bool {
	return len(s) <= n && strings.IndexByte(s, 0) < 0 && utf8.ValidString(s)
}
