package activity

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/ffbroker/ffbroker/broker"
)

// Defaults of Options.
const (
	// DefaultLockAfterDays and DefaultDropAfterDays are the defaults, 90 and 180 days,
	// used when none are configured.
	DefaultLockAfterDays = 90
	DefaultDropAfterDays = 180
	// DefaultPageSize is the most events FilterLogEvents returns per page.
	DefaultPageSize = 10_000
	// DefaultLogDelay keeps the newest minutes out of a run: CloudWatch Logs may
	// still be ingesting them.
	DefaultLogDelay = 5 * time.Minute
	// DefaultFirstLookback is how far back the first run reads (24 hours).
	DefaultFirstLookback = 24 * time.Hour
	// DefaultReserve is the time a run keeps for itself before its deadline: it
	// stops reading pages once less remains.
	DefaultReserve = 20 * time.Second
	// DefaultMaxLogSilence is how old the job's own newest login in the log may be
	// before the policy refuses to act (the log may not reach the job any more).
	DefaultMaxLogSilence = 72 * time.Hour
	// DefaultDropGrace is the least time between the job's lock of a role and
	// its drop.
	DefaultDropGrace = 24 * time.Hour
	// DefaultLogOverlap is how far before the checkpoint each run reads again,
	// for events CloudWatch Logs ingested late (deduplicated by event id).
	DefaultLogOverlap = 30 * time.Minute
)

// Options are the settings of one run. The zero value of every optional field
// stands for its default; Validate reports a misconfigured Options.
type Options struct {
	// LogGroup is the cluster's PostgreSQL log group,
	// /aws/rds/cluster/<cluster id>/postgresql. Required by Run and Apply.
	LogGroup string
	// LockAfterDays locks a role after this many days without a login; 0 never.
	// The database refuses (CodeForbidden) a value looser than the admin's policy
	// (db_admin.activity_policy): it must be 0 or at least the policy's.
	LockAfterDays int
	// DropAfterDays drops a role after this many days without a login when it owns
	// nothing and holds no privilege, and marks it ready to delete otherwise; 0
	// never. Must exceed LockAfterDays when both are set, and be 0 or at least
	// the admin's policy.
	DropAfterDays int
	// Apply makes the policy change roles; false (the default) is a dry run,
	// which still records logins and writes dry_run audit records.
	Apply bool
	// Exclude names roles the policy leaves alone, on top of the built-in list
	// (the model's roles, rdsadmin, the master user, roles that cannot log in,
	// superusers, rds_superuser members, CREATEROLE roles, the job's own login).
	Exclude []string
	// PageSize bounds the events per FilterLogEvents page; 0 means
	// DefaultPageSize.
	PageSize int32
	// LogDelay keeps events newer than now minus LogDelay for a later run; 0 means
	// DefaultLogDelay.
	LogDelay time.Duration
	// FirstLookback is how far back a run with no checkpoint starts; 0 means
	// DefaultFirstLookback.
	FirstLookback time.Duration
	// Reserve is the time before the context's deadline at which a run stops
	// reading; 0 means DefaultReserve.
	Reserve time.Duration
	// MaxLogSilence is the age beyond which the job's own newest login in the log
	// no longer proves that the log reaches it: the policy is then skipped; 0 means
	// DefaultMaxLogSilence, negative turns the check off (tests, drills).
	MaxLogSilence time.Duration
	// DropGrace is the least time, by the policy's clock, between the job's lock
	// of a role and its drop (a drop is irreversible: the owner has that long to
	// be seen in the log); 0 means DefaultDropGrace. The database holds a floor of
	// its own (db_admin.activity_set_drop_grace, one day by default).
	DropGrace time.Duration
	// LogOverlap is how far before the checkpoint a run reads again, for events
	// CloudWatch Logs ingested after a run had passed their time; 0 means
	// DefaultLogOverlap, negative reads from the checkpoint only.
	LogOverlap time.Duration
	// Source names the entry point in audit records; empty means schedule.
	Source audit.Source
	// RequestID is the Lambda (or CLI) request id for audit records.
	RequestID string
}

func (o Options) withDefaults() Options {
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	if o.LogDelay == 0 {
		o.LogDelay = DefaultLogDelay
	}
	if o.FirstLookback == 0 {
		o.FirstLookback = DefaultFirstLookback
	}
	if o.Reserve == 0 {
		o.Reserve = DefaultReserve
	}
	if o.MaxLogSilence == 0 {
		o.MaxLogSilence = DefaultMaxLogSilence
	}
	if o.DropGrace == 0 {
		o.DropGrace = DefaultDropGrace
	}
	if o.LogOverlap == 0 {
		o.LogOverlap = DefaultLogOverlap
	}
	if o.Source == "" {
		o.Source = audit.SourceSchedule
	}
	return o
}

// Validate reports the first misconfigured field, as a *broker.Error with
// CodeInvalidRequest that names it.
func (o Options) Validate() error {
	o = o.withDefaults()
	bad := func(field, msg string) error {
		return broker.Errorf(broker.CodeInvalidRequest, "activity options: %s: %s", field, msg)
	}
	switch {
	case o.LockAfterDays < 0 || o.LockAfterDays > 36500:
		return bad("LockAfterDays", "must be 0 (never) to 36500")
	case o.DropAfterDays < 0 || o.DropAfterDays > 36500:
		return bad("DropAfterDays", "must be 0 (never) to 36500")
	case o.LockAfterDays > 0 && o.DropAfterDays > 0 && o.DropAfterDays <= o.LockAfterDays:
		return bad("DropAfterDays", "must be more than LockAfterDays")
	case len(o.Exclude) > 1000:
		return bad("Exclude", "at most 1000 names")
	case o.PageSize < 1 || o.PageSize > 10_000:
		return bad("PageSize", "must be 1-10000")
	case o.LogDelay < 0 || o.FirstLookback < 0 || o.Reserve < 0:
		return bad("LogDelay, FirstLookback, Reserve", "must not be negative")
	case o.DropGrace < time.Hour || o.DropGrace > 365*24*time.Hour:
		return bad("DropGrace", "must be 1h to 8760h")
	case o.LogOverlap > 24*time.Hour:
		return bad("LogOverlap", "at most 24h")
	}
	for _, n := range o.Exclude {
		if n == "" || len(n) > 63 {
			return bad("Exclude", "names must be 1-63 bytes")
		}
	}
	switch o.Source {
	case audit.SourceAPI, audit.SourceStepFunctions, audit.SourceSchedule, audit.SourceCLI:
	default:
		return bad("Source", "must be api, stepfunctions, schedule or cli")
	}
	return nil
}

// needsLogGroup reports a missing log group for the runs that read the log.
func (o Options) needsLogGroup() error {
	if o.LogGroup == "" || len(o.LogGroup) > 512 {
		return broker.Errorf(broker.CodeInvalidRequest, "activity options: LogGroup: required, at most 512 characters")
	}
	return nil
}

func (o Options) policy() Policy {
	return Policy{LockAfterDays: o.LockAfterDays, DropAfterDays: o.DropAfterDays, Exclude: o.Exclude}
}

// ParseExclude reads an exclude list: comma-separated names (spaces around each
// dropped), or a JSON array of strings, taken exactly, for names that hold a
// comma or start or end with a space. Names are case-sensitive, as PostgreSQL's.
func ParseExclude(s string) ([]string, error) {
	var names []string
	if t := strings.TrimSpace(s); strings.HasPrefix(t, "[") {
		if err := json.Unmarshal([]byte(t), &names); err != nil {
			return nil, fmt.Errorf("not a JSON array of role names: %v", err)
		}
	} else {
		for _, n := range strings.Split(s, ",") {
			if n = strings.TrimSpace(n); n != "" {
				names = append(names, n)
			}
		}
	}
	for _, n := range names {
		if n == "" || len(n) > 63 || strings.IndexByte(n, 0) >= 0 || !utf8.ValidString(n) {
			return nil, fmt.Errorf("role names are 1 to 63 bytes of UTF-8 without NUL: %q", n)
		}
	}
	return names, nil
}
