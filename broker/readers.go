package broker

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ffbroker/ffbroker/audit"
)

// Reader is one principal that role's secret lets read it (GetSecretValue), as the
// secret's resource policy names it by STS's unique id (the condition key aws:userid).
type Reader struct {
	// UserID is STS's UserId of the requester: AIDA... for an IAM user, the account
	// id for root, "<role unique id>:<session name>" for a trusted session; for a
	// role whose every session is one person, the role's unique id alone.
	UserID string
	// AllSessions reports a role key: every session of the role UserID names reads
	// (aws:userid "<role unique id>:*"); the wildcard never stands for a trusted
	// session's name, which is the person.
	AllSessions bool
	// Until is when the latest live grant of this principal on the role ends: the
	// policy denies it from then on, even before the broker rewrites the policy.
	Until time.Time
}

// ReaderRecord is who asked for a ledger entry, kept with role's secret so that the
// broker can rewrite the secret's resource policy whenever the set of live grants
// changes: ID is the grant id (a read-write request's id is its grant's id).
type ReaderRecord struct {
	ID          string
	UserID      string
	AllSessions bool
	// At is when the record was written; a record without a live grant is dropped
	// once it is older than readerRecordGrace.
	At time.Time
}

// readerRecordGrace is how long a reader record without a live grant is kept: it is
// written as its grant is reserved, before the activation, which takes less than
// this; once its grant has ended, the next policy sync drops it.
const readerRecordGrace = 15 * time.Minute

// MaxLiveGrantsPerPerson is how many live grants of one role one person may hold at
// once, for different incidents (the database backs it: FFB17). Each keeps a reader
// record in a tag of the role's secret, and Secrets Manager allows 50 tags: what one
// person does cannot use them up.
const MaxLiveGrantsPerPerson = 3

var (
	uniqueIDPattern = regexp.MustCompile(`^[A-Za-z0-9]{16,128}$`) // AWS: upper case; moto: lower case
	accountPattern  = regexp.MustCompile(`^[0-9]{12}$`)
)

// readerOf returns the reader record of caller c for ledger entry id: the principal
// the secret's resource policy names for c's principal key, from the UserId STS
// answered for c's proof. The UserId must agree with c's ARN (a session's UserId ends
// with the ARN's session name).
func readerOf(c Caller, id string, at time.Time) (ReaderRecord, error) {
	bad := func(what string) error {
		return Errorf(CodeUnauthenticated, "the caller's unique id from STS does not fit its ARN (%s)", what)
	}
	r := ReaderRecord{ID: id, At: at}
	switch {
	case strings.HasPrefix(c.Key, "session/"), strings.Contains(c.Key, ":role/"):
		uid, session, ok := strings.Cut(c.UserID, ":")
		arnSession := c.ARN[strings.LastIndexByte(c.ARN, '/')+1:]
		if !ok || !uniqueIDPattern.MatchString(uid) || session != arnSession || !strings.Contains(c.ARN, ":assumed-role/") {
			return ReaderRecord{}, bad("assumed role")
		}
		if strings.HasPrefix(c.Key, "session/") {
			r.UserID = c.UserID // exactly this session: its name is the person
		} else {
			r.UserID, r.AllSessions = uid, true // every session of the role is one person
		}
	case strings.HasSuffix(c.Key, ":root"):
		if !accountPattern.MatchString(c.UserID) {
			return ReaderRecord{}, bad("root")
		}
		r.UserID = c.UserID
	case strings.Contains(c.Key, ":user/"):
		if !uniqueIDPattern.MatchString(c.UserID) {
			return ReaderRecord{}, bad("user")
		}
		r.UserID = c.UserID
	default:
		return ReaderRecord{}, bad("principal key")
	}
	return r, nil
}

// recordReader keeps, with role's secret, that caller c asked for ledger entry id, so
// that the secret's resource policy lets c read it while the grant id is live. A
// caller without a UserId (only callers built by hand, never one the edge verified)
// is recorded as nobody: the policy then lets only the functions read.
func (b *Broker) recordReader(ctx context.Context, role, id string, c Caller) error {
	if c.UserID == "" {
		b.cfg.Logger.WarnContext(ctx, "caller without a unique id: the secret's policy will not let it read", "role", role)
		return nil
	}
	r, err := readerOf(c, id, time.Now())
	if err != nil {
		return err
	}
	if err := b.cfg.Secrets.AddReader(ctx, role, r, b.connection(role).Tombstone()); err != nil {
		return &Error{Code: CodeUnavailable, Op: "record reader", Message: "who may read the secret could not be recorded; retry", Err: err}
	}
	return nil
}

// publishReaders rewrites role's resource policy under the role's lock (see syncReaders).
func (b *Broker) publishReaders(ctx context.Context, role string) error {
	return b.cfg.DB.WithRoleLock(ctx, role, func(ctx context.Context, st RoleState) error {
		return b.syncReaders(ctx, role, st)
	})
}

// syncReaders makes role's secret readable by exactly the requesters of its live
// grants (st, read under the role's lock) and the functions: the secret's resource
// policy denies everyone else. Each reader is denied from the end of its latest live
// grant on, so an expiry takes effect at its time even before the next sweep; a
// revoke takes effect when this runs. Records of grants that ended long ago are
// dropped: a record is written as its grant is reserved, so one older than
// readerRecordGrace without a live grant belongs to a grant that has ended or never
// went live.
func (b *Broker) syncReaders(ctx context.Context, role string, st RoleState) error {
	return b.setReaders(ctx, role, st.Live)
}

// setReaders makes role's secret readable by exactly the requesters of grants (live
// ones, read under the role's lock) and the functions, as syncReaders describes.
// Ending grants passes the grants that stay live, so that the ended holders are
// denied before the password rotated for the others exists.
func (b *Broker) setReaders(ctx context.Context, role string, grants []Grant) error {
	records, err := b.cfg.Secrets.Readers(ctx, role)
	if err != nil {
		return err
	}
	live := make(map[string]time.Time, len(grants))
	for _, g := range grants {
		live[g.ID] = g.ExpiresAt
	}
	type principal struct {
		id  string
		all bool
	}
	until := map[principal]time.Time{}
	var order []principal
	var drop []ReaderRecord
	for _, r := range records {
		end, ok := live[r.ID]
		if !ok {
			if time.Since(r.At) > readerRecordGrace {
				drop = append(drop, r)
			}
			continue
		}
		p := principal{r.UserID, r.AllSessions}
		if _, seen := until[p]; !seen {
			order = append(order, p)
		}
		if end.After(until[p]) {
			until[p] = end
		}
	}
	readers := make([]Reader, 0, len(order))
	for _, p := range order {
		readers = append(readers, Reader{UserID: p.id, AllSessions: p.all, Until: until[p]})
	}
	if err := b.cfg.Secrets.SetReaders(ctx, role, readers, drop); err != nil {
		return fmt.Errorf("the secret's readers: %w", err)
	}
	return nil
}

// checkGrantCap refuses (too_many_grants, audited) a new grant of role for incident
// to the person key when they hold MaxLiveGrantsPerPerson live grants of the role for
// other incidents. A request for an incident whose live grant is returned adds none.
func (b *Broker) checkGrantCap(ctx context.Context, rec audit.Record, role, incident, key string) error {
	grants, err := b.cfg.DB.LiveGrants(ctx)
	if err != nil {
		return err
	}
	if err := reviewGrantCap(grants, role, incident, key); err != nil {
		return b.reject(ctx, rec, err)
	}
	return nil
}
