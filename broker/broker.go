package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/google/uuid"
)

// Database is what the broker needs from PostgreSQL (postgres.Store in production).
// ActivateGrant passes publish the role's state as its activation sees it (the new
// grant live) and reports a commit that failed after publish with a
// *CommitUncertainError.
type Database interface {
	ReserveGrant(ctx context.Context, r GrantRequest) (Reservation, error)
	ActivateGrant(ctx context.Context, r GrantRequest, v Verifier, publish func(context.Context, RoleState) error) (Activation, error)
	LiveGrants(ctx context.Context) ([]Grant, error)
	Expire(ctx context.Context, role string) (int, error)
	Terminate(ctx context.Context, role string) (int, error)
	Sweep(ctx context.Context) ([]SweepResult, error)
	Status(ctx context.Context) ([]RoleStatus, error)
	WithRoleLock(ctx context.Context, role string, fn func(ctx context.Context, st RoleState) error) error
	// EndGrants ends the live grants of role that ids name and those whose expiry
	// passed, under the role's lock; rotate gives the password of the grants left
	// (written as a pending version), publish makes it current before the commit.
	EndGrants(ctx context.Context, role string, ids []string, rotate func(ctx context.Context, st RoleState) (Rotation, error),
		publish func(ctx context.Context, r Rotation) error) (Ending, error)
	SubmitRequest(ctx context.Context, r NewAccessRequest) (Submitted, error)
	SubmitExtension(ctx context.Context, r NewAccessRequest) (Submitted, error)
	ExtendGrant(ctx context.Context, r ExtendRequest) (Extension, error)
	AttachTaskToken(ctx context.Context, requestID string, token Token, executionARN string) (AccessRequest, error)
	ExpireRequest(ctx context.Context, requestID string) (string, error)
	AccessRequest(ctx context.Context, requestID string) (AccessRequest, error)
	ClaimNotice(ctx context.Context, requestID, kind string) (bool, error)
	ClaimExpiryWarnings(ctx context.Context, within time.Duration) ([]Grant, error)
	// ApprovalRoles reads which firefighter roles need a second person's approval
	// (db_admin.firefighter_role.needs_approval): the one source of that rule.
	ApprovalRoles(ctx context.Context) ([]RoleApproval, error)
}

// RoleApproval is one firefighter role as the database's role table says: its name,
// its kind and whether a second person must approve its grants.
type RoleApproval struct {
	Role          string
	Kind          Role
	NeedsApproval bool
}

// Secrets is what the broker needs from Secrets Manager (secretsmanager.Store in production).
type Secrets interface {
	PutPending(ctx context.Context, role, versionID string, v SecretValue) (SecretRef, SecretValue, error)
	Promote(ctx context.Context, role, versionID string) (SecretRef, error)
	DiscardPending(ctx context.Context, role, versionID string) error
	Current(ctx context.Context, role string) (SecretValue, SecretRef, error)
	PutTombstone(ctx context.Context, role string, v SecretValue) (SecretRef, error)
	PendingVersions(ctx context.Context, role string) ([]string, error)
	SetExpiry(ctx context.Context, role, grantID string, expiresAt time.Time) error
	// Readers returns the reader records kept with role's secret (none when it does
	// not exist); AddReader keeps one more, creating the secret with tombstone if it
	// does not exist.
	Readers(ctx context.Context, role string) ([]ReaderRecord, error)
	AddReader(ctx context.Context, role string, r ReaderRecord, tombstone SecretValue) error
	// SetReaders makes role's secret readable by exactly readers and the functions
	// (its resource policy) and forgets the records drop.
	SetReaders(ctx context.Context, role string, readers []Reader, drop []ReaderRecord) error
}

// Target is where a firefighter connects with the issued password; it is written into
// the secret next to the password.
type Target struct {
	Host    string
	Port    int
	DBName  string
	SSLMode string
}

// Config holds a Broker's dependencies, built once per Lambda cold start. The issue
// and expire functions have DB and Secrets (the broker's login); the approve function
// has only Approvals (the approver's login): no function holds both.
type Config struct {
	Policy    Policy
	DB        Database
	Secrets   Secrets
	Approvals Approvals
	// Workflow starts and resumes approval workflows; nil means no role can be
	// requested that needs approval.
	Workflow Workflow
	// Notifier tells approvers and requesters; nil sends nothing.
	Notifier Notifier
	// ExpiryWarning is how long before a grant's end the sweep warns its requester
	// (DefaultExpiryWarning in the functions); zero warns nobody.
	ExpiryWarning time.Duration
	// Proofs checks the identity proofs kept in the ledgers: the approve function
	// checks the requester's, the issue function the approver's. Without it, nothing
	// can be decided or issued that needs approval.
	Proofs ProofChecker
	// Instances reaches every instance of the cluster (Aurora's readers) to end a
	// role's sessions at expiry and revoke; nil means the database is one instance.
	Instances Instances
	// LifetimeCap is the longest a grant may live from its issue, extensions
	// included (DefaultLifetimeCap in the functions, at most MaxLifetimeCap); zero
	// leaves the database's ceiling (MaxLifetimeCap) alone to decide.
	LifetimeCap time.Duration
	// Audit receives every record; an error writing the intent record stops the issue.
	Audit  audit.Sink
	Target Target
	// Rand is the source of passwords, salts and grant ids; nil means crypto/rand.
	Rand io.Reader
	// Logger receives operational logs (never a secret); nil means slog.Default().
	Logger *slog.Logger
}

// Broker issues firefighter passwords.
type Broker struct {
	cfg Config
}

// New checks cfg and returns a Broker.
func New(cfg Config) (*Broker, error) {
	if err := cfg.Policy.Check(); err != nil {
		return nil, fmt.Errorf("broker: policy: %w", err)
	}
	switch {
	case cfg.Audit == nil:
		return nil, errors.New("broker: Audit is required")
	case cfg.DB == nil && cfg.Approvals == nil:
		return nil, errors.New("broker: DB and Secrets, or Approvals, are required")
	case (cfg.DB == nil) != (cfg.Secrets == nil):
		return nil, errors.New("broker: DB and Secrets go together")
	case cfg.DB != nil && (cfg.Target.Host == "" || cfg.Target.DBName == "" || cfg.Target.Port <= 0):
		return nil, errors.New("broker: target host, port and database are required")
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Broker{cfg: cfg}, nil
}

// Policy returns the broker's policy.
func (b *Broker) Policy() Policy { return b.cfg.Policy }

// NeedsApproval reports whether role ("ro", "rw" or the full role name) needs a
// second person's approval, as the database's role table says (see validate); a role
// that is not a firefighter role reports false, and asking for it is refused.
func (b *Broker) NeedsApproval(ctx context.Context, role string) (bool, error) {
	kind, err := b.cfg.Policy.parseRole(role)
	if err != nil {
		return false, nil
	}
	return b.needsApproval(ctx, kind)
}

// validate checks r against the policy, with whether it needs approval read from
// the database (needsApproval).
func (b *Broker) validate(ctx context.Context, r Request) (ValidRequest, error) {
	v, err := b.cfg.Policy.Validate(r)
	if err != nil {
		return ValidRequest{}, err
	}
	if v.NeedsApproval, err = b.needsApproval(ctx, v.Kind); err != nil {
		return ValidRequest{}, err
	}
	return v, nil
}

// needsApproval is the one source of "needs approval": the database's role table
// (db_admin.firefighter_role.needs_approval, which keeps rw needing it), read on every
// call; a role the table does not list under the policy's name needs approval (fail
// closed). A broker without a database issues nothing and falls back to the policy's
// ApprovalRequired.
func (b *Broker) needsApproval(ctx context.Context, kind Role) (bool, error) {
	if b.cfg.DB == nil {
		needs, listed := b.cfg.Policy.ApprovalRequired[kind]
		return needs || !listed, nil
	}
	roles, err := b.cfg.DB.ApprovalRoles(ctx)
	if err != nil {
		return false, err
	}
	for _, r := range roles {
		if r.Kind == kind && r.Role == b.cfg.Policy.RoleName(kind) {
			return r.NeedsApproval, nil
		}
	}
	return true, nil
}

// IssueInput is one request for a password of a role that needs no approval (roles
// that need one go through Submit and IssueApproved).
type IssueInput struct {
	// Request is the caller's request (decoded body).
	Request Request
	// Requester and RequesterKey are the verified caller and its principal key, never
	// values from the request body.
	Requester    string
	RequesterKey string
	// RequesterUserID is STS's unique id of the requester: the secret's resource
	// policy lets it read (see Caller.UserID).
	RequesterUserID string
	// GrantID makes a retry resume the same grant; empty means a new random id.
	GrantID string
	// RequestID is the Lambda or API request id, for the audit trail.
	RequestID string
	// Source names the entry point.
	Source audit.Source
}

// IssueOutput is the answer to an issue. It never holds the password: the caller reads
// the secret with its own permissions.
type IssueOutput struct {
	GrantID       string    `json:"grant_id"`
	Role          string    `json:"role"`
	SecretARN     string    `json:"secret_arn"`
	SecretVersion string    `json:"secret_version,omitempty"`
	ExpiresAt     time.Time `json:"expires_at"`
	// Reused reports that a live grant for the same incident and role was returned
	// and the password was not rotated.
	Reused bool `json:"reused"`
	// Extended reports an extension of a live grant (POST /access/{role}/extend): the
	// password was not rotated, ExpiresAt is the new expiry and PreviousExpiresAt the
	// old one.
	Extended          bool       `json:"extended,omitempty"`
	PreviousExpiresAt *time.Time `json:"previous_expires_at,omitempty"`
}

// Issue issues a password of a role that needs no approval to an authenticated
// requester; a role that needs one is refused (see Submit).
func (b *Broker) Issue(ctx context.Context, in IssueInput) (IssueOutput, error) {
	rec := audit.Record{RequestID: in.RequestID, Requester: in.Requester, RequesterKey: in.RequesterKey,
		IncidentID: in.Request.IncidentID, Source: in.Source}
	v, err := b.validate(ctx, in.Request)
	if err != nil {
		return IssueOutput{}, b.reject(ctx, rec, err)
	}
	rec.TargetRole = v.RoleName
	if err := reviewDirectIssue(in.Requester, in.RequesterKey, v); err != nil {
		return IssueOutput{}, b.reject(ctx, rec, err)
	}
	if b.cfg.DB != nil {
		if err := b.checkGrantCap(ctx, rec, v.RoleName, v.IncidentID, in.RequesterKey); err != nil {
			return IssueOutput{}, err
		}
	}
	caller := Caller{ARN: in.Requester, Key: in.RequesterKey, UserID: in.RequesterUserID}
	return b.issueValid(ctx, v, GrantRequest{GrantID: in.GrantID, Requester: in.Requester, RequesterKey: in.RequesterKey}, rec,
		func(ctx context.Context, grantID string) error {
			return b.recordReader(ctx, v.RoleName, grantID, caller)
		})
}

// issueValid turns a validated request into a working, stored, audited, time-limited
// password, in the order of DESIGN.md's Current secret works: intent record -> reservation
// (expiry from the database clock) -> AWSPENDING secret version (ClientRequestToken =
// grant id) -> password set in the database (the grant exists from this commit) ->
// AWSCURRENT moved to the version -> issued record. A retry with the same grant id
// resumes where the first call stopped. greq brings the requester, and for a role that
// needs approval the request id; the rest comes from v. reader records who may read
// the grant's secret: the new grant's once it is reserved, before any password is
// written, or the live grant returned instead. The secret's resource policy, naming
// the new grant's requester, is written inside the activation before AWSCURRENT
// moves: a policy that cannot be written issues nothing (unavailable; a retry
// resumes).
func (b *Broker) issueValid(ctx context.Context, v ValidRequest, greq GrantRequest, rec audit.Record, reader func(ctx context.Context, grantID string) error) (IssueOutput, error) {
	if b.cfg.DB == nil {
		return IssueOutput{}, b.reject(ctx, rec, Errorf(CodeInternal, "this function does not issue passwords"))
	}
	rec.TargetRole = v.RoleName
	grantID, err := b.grantID(greq.GrantID)
	if err != nil {
		return IssueOutput{}, b.reject(ctx, rec, err)
	}
	rec.GrantID = grantID
	greq.GrantID, greq.Role, greq.Hours, greq.IncidentID = grantID, v.RoleName, v.Hours, v.IncidentID

	intent := rec
	intent.Event, intent.Outcome, intent.Message = audit.EventPasswordIssuing, audit.OutcomePending, "issuing a firefighter password"
	if err := b.cfg.Audit.Write(ctx, intent); err != nil {
		return IssueOutput{}, &Error{Code: CodeUnavailable, Op: "audit intent",
			Message: "the audit record could not be written; nothing was issued", Err: err}
	}

	out, published, err := b.issue(ctx, greq, &rec, reader)
	if err == nil && !published {
		// A live grant was returned: its secret's policy names this requester from now on.
		err = reader(ctx, out.GrantID)
		if err == nil {
			err = b.publishReaders(ctx, greq.Role)
		}
		if err != nil {
			err = &Error{Code: CodeUnavailable, Op: "secret readers", Message: "the grant is live but its secret does not let you read it yet; retry", Err: err}
		}
	}
	if err != nil {
		fail := rec
		fail.Event, fail.Outcome, fail.ErrorCode, fail.Message = audit.EventPasswordIssued, audit.OutcomeFailure, string(ErrorCode(err)), "issue failed"
		b.writeBestEffort(ctx, fail)
		return IssueOutput{}, err
	}
	done := rec
	done.Event, done.Outcome, done.ExpiresAt = audit.EventPasswordIssued, audit.OutcomeSuccess, out.ExpiresAt
	done.GrantID, done.SecretARN, done.SecretVersion = out.GrantID, out.SecretARN, out.SecretVersion
	done.Message = "firefighter password issued"
	if out.Reused {
		done.Message = "live grant for this incident returned; password not rotated"
	}
	b.writeBestEffort(ctx, done)
	return out, nil
}

// issue reserves, writes and activates greq's grant; published reports that its
// activation wrote the secret's policy (false when a live grant was returned).
func (b *Broker) issue(ctx context.Context, greq GrantRequest, rec *audit.Record, reader func(ctx context.Context, grantID string) error) (out IssueOutput, published bool, err error) {
	res, err := b.cfg.DB.ReserveGrant(ctx, greq)
	if err != nil {
		return IssueOutput{}, false, err
	}
	if res.Active {
		out, err := b.reuse(ctx, greq, res)
		return out, false, err
	}
	rec.ExpiresAt = res.ExpiresAt
	// Who may read this grant's secret, kept before its password is written.
	if err := reader(ctx, greq.GrantID); err != nil {
		return IssueOutput{}, false, &Error{Code: CodeUnavailable, Op: "secret readers", Message: "who may read the secret could not be recorded; nothing was issued, retry", Err: err}
	}

	password, err := GeneratePassword(b.cfg.Rand, DefaultPasswordLength)
	if err != nil {
		return IssueOutput{}, false, &Error{Code: CodeInternal, Op: "generate password", Err: err}
	}
	value := b.connection(greq.Role)
	value.Password, value.ExpiresAt, value.Status = password, res.ExpiresAt, SecretActive
	value.GrantID, value.IncidentID = greq.GrantID, greq.IncidentID
	ref, stored, err := b.cfg.Secrets.PutPending(ctx, greq.Role, greq.GrantID, value)
	if err != nil {
		return IssueOutput{}, false, err
	}
	rec.SecretARN, rec.SecretVersion = ref.ARN, ref.VersionID
	// On a retry the stored version keeps the first call's password: use that one.
	verifier, err := GenerateVerifier(b.cfg.Rand, stored.Password)
	if err != nil {
		return IssueOutput{}, false, &Error{Code: CodeInternal, Op: "scram verifier", Err: err}
	}
	var current SecretRef
	promoted := false
	act, err := b.cfg.DB.ActivateGrant(ctx, greq, verifier, func(ctx context.Context, st RoleState) error {
		// The policy naming the new reader first: AWSCURRENT never holds a password
		// that the policy does not guard.
		if err := b.syncReaders(ctx, greq.Role, st); err != nil {
			return &Error{Code: CodeUnavailable, Op: "secret readers",
				Message: "the secret's resource policy could not be written; nothing was issued, retry", Err: err}
		}
		promoted = true
		current, err = b.promoteVersion(ctx, greq.Role, greq.GrantID)
		return err
	})
	var commitErr *CommitUncertainError
	switch {
	case errors.As(err, &commitErr):
		b.repairCurrent(ctx, greq.Role)
		return IssueOutput{}, false, &Error{Code: CodeUnavailable, Op: "activate grant", Message: "the database did not commit the grant; retry", Err: err}
	case err != nil && promoted:
		// The promotion was tried and the transaction rolled back: AWSCURRENT may
		// name the password the database just took back (a label moved before its
		// answer was lost). Put the live grant's version back before answering.
		b.repairCurrent(ctx, greq.Role)
		return IssueOutput{}, false, err
	case err != nil:
		if ErrorCode(err) != CodeUnavailable {
			// The database refused: the grant does not exist, so neither may its version.
			b.discardBestEffort(ctx, greq)
		}
		return IssueOutput{}, false, err
	case act.Reused:
		if act.GrantID != greq.GrantID {
			// The same incident's request activated first: this version is not needed.
			b.discardBestEffort(ctx, greq)
		}
		out, err := b.reuse(ctx, greq, Reservation{GrantID: act.GrantID, ExpiresAt: act.ExpiresAt, Active: true})
		return out, false, err
	}
	if act.ValidUntil.After(act.ExpiresAt) { // a longer grant of the role is live
		b.tagValidity(ctx, greq.Role)
	}
	return IssueOutput{GrantID: greq.GrantID, Role: greq.Role, SecretARN: current.ARN, SecretVersion: greq.GrantID,
		ExpiresAt: act.ExpiresAt}, true, nil
}

// tagValidity records on role's secret how long the password of its current
// version works when that is later than the version says: the role's VALID UNTIL
// follows its longest live grant, whichever grant's password it holds, and connect
// reads the tag (EffectiveExpiry). It reads the role's grants and AWSCURRENT under
// the role's lock, so a later issue, extension or revoke cannot be overwritten by
// a tag that was decided before it. Best effort: the tag tells holders how long
// they may connect, it grants nothing.
func (b *Broker) tagValidity(ctx context.Context, role string) {
	err := b.cfg.DB.WithRoleLock(ctx, role, func(ctx context.Context, st RoleState) error {
		var until time.Time
		for _, g := range st.Live {
			if g.ExpiresAt.After(until) {
				until = g.ExpiresAt
			}
		}
		if st.Current == "" || until.IsZero() {
			return nil
		}
		cur, _, err := b.cfg.Secrets.Current(ctx, role)
		if err != nil || cur.GrantID != st.Current || !until.After(cur.ExpiresAt) {
			return err // AWSCURRENT is not the role's password: the sweep repairs it
		}
		return b.cfg.Secrets.SetExpiry(ctx, role, cur.GrantID, until)
	})
	if err != nil {
		b.cfg.Logger.WarnContext(ctx, "the secret's expiry tags may not say how long the password works", "role", role, "error", err)
	}
}

// connection returns role's secret value without a password or a grant: where its
// holders connect.
func (b *Broker) connection(role string) SecretValue {
	return SecretValue{Engine: "postgres", Host: b.cfg.Target.Host, Port: b.cfg.Target.Port,
		DBName: b.cfg.Target.DBName, Username: role, SSLMode: b.cfg.Target.SSLMode}
}

// reuse answers with a live grant: the same incident's, or this grant id's when a retry
// finds it already active. Its secret version was made current before its commit, and
// may since have been replaced by a later grant's: the current one is what logs in.
func (b *Broker) reuse(ctx context.Context, greq GrantRequest, res Reservation) (IssueOutput, error) {
	_, ref, err := b.cfg.Secrets.Current(ctx, greq.Role)
	if err != nil {
		return IssueOutput{}, err
	}
	return IssueOutput{GrantID: res.GrantID, Role: greq.Role, SecretARN: ref.ARN, SecretVersion: ref.VersionID,
		ExpiresAt: res.ExpiresAt, Reused: res.GrantID != greq.GrantID}, nil
}

// repairCurrent puts the version of the grant whose password the role holds back in
// AWSCURRENT after a commit or a promotion failed behind a promotion. When the role
// holds no password of a grant (it was expired since), AWSCURRENT becomes the
// tombstone: the version it may name now holds a password the database took back.
func (b *Broker) repairCurrent(ctx context.Context, role string) {
	err := b.cfg.DB.WithRoleLock(ctx, role, func(ctx context.Context, st RoleState) error {
		var err error
		switch {
		case st.CurrentVersion != "":
			_, err = b.promoteVersion(ctx, role, st.CurrentVersion)
		case len(st.Live) == 0:
			_, err = b.tombstone(ctx, role)
		}
		return err
	})
	if err != nil {
		b.cfg.Logger.ErrorContext(ctx, "AWSCURRENT may name an uncommitted password until the next sweep", "role", role, "error", err)
	}
}

// promoteVersion makes versionID AWSCURRENT. It runs while the database holds the
// role's lock, so it does not retry: the SDK client's retryer (broker/awsretry)
// already retried throttling and server failures, a label race is settled inside
// Promote, and what fails after that fails the issue (unavailable), which the
// caller retries with the same grant id and the sweep repairs.
func (b *Broker) promoteVersion(ctx context.Context, role, versionID string) (SecretRef, error) {
	ref, err := b.cfg.Secrets.Promote(ctx, role, versionID)
	if err != nil {
		return SecretRef{}, &Error{Code: CodeUnavailable, Op: "promote secret",
			Message: "the secret could not be made current; nothing was issued, retry", Err: err}
	}
	return ref, nil
}

func (b *Broker) grantID(given string) (string, error) {
	if given == "" {
		id, err := uuid.NewRandomFromReader(b.cfg.Rand)
		if err != nil {
			return "", &Error{Code: CodeInternal, Op: "grant id", Err: err}
		}
		return id.String(), nil
	}
	id, err := uuid.Parse(given)
	if err != nil || id.String() != given {
		return "", Errorf(CodeInvalidRequest, "grant id must be a lower-case UUID")
	}
	return given, nil
}

// reject records a refused request and returns its error.
func (b *Broker) reject(ctx context.Context, rec audit.Record, err error) error {
	b.writeBestEffort(ctx, RejectedRecord(rec, err))
	return err
}

// RejectedRecord returns rec as the request.rejected record of err: the event, the
// outcome, err's code and a fixed message (never err's text, which may quote input).
func RejectedRecord(rec audit.Record, err error) audit.Record {
	rec.Event, rec.Outcome, rec.ErrorCode, rec.Message = audit.EventRequestRejected, audit.OutcomeRejected, string(ErrorCode(err)), "request rejected"
	return rec
}

// Reject records a request refused before it reached the broker (e.g. a body that
// does not decode) and returns err.
func (b *Broker) Reject(ctx context.Context, rec audit.Record, err error) error {
	return b.reject(ctx, rec, err)
}

func (b *Broker) writeBestEffort(ctx context.Context, rec audit.Record) {
	if err := b.cfg.Audit.Write(ctx, rec); err != nil {
		b.cfg.Logger.ErrorContext(ctx, "audit record not written", "event", string(rec.Event), "grant_id", rec.GrantID, "error", err)
	}
}

func (b *Broker) discardBestEffort(ctx context.Context, greq GrantRequest) {
	if err := b.cfg.Secrets.DiscardPending(ctx, greq.Role, greq.GrantID); err != nil {
		b.cfg.Logger.WarnContext(ctx, "pending secret version left for the sweep", "role", greq.Role, "grant_id", greq.GrantID, "error", err)
	}
}

// Record writes an audit record for an event the broker's callers handle themselves
// (a workflow started, an approval). Its error is an *Error with code unavailable.
func (b *Broker) Record(ctx context.Context, rec audit.Record) error {
	if err := b.cfg.Audit.Write(ctx, rec); err != nil {
		return &Error{Code: CodeUnavailable, Op: "audit", Message: "the audit record could not be written", Err: err}
	}
	return nil
}
