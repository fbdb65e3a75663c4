package broker

import "time"

// GrantRequest is what the database needs to reserve or activate a grant.
type GrantRequest struct {
	GrantID    string
	Role       string
	Hours      int
	IncidentID string
	// Requester and RequesterKey are the verified requester and its principal key.
	Requester    string
	RequesterKey string
	// RequestID is the approved request a role that needs approval is issued
	// against; the database takes the approver from its approval ledger.
	RequestID string
}

// ExtendRequest is what the database needs to extend a live grant: the requester's
// grant of Role for IncidentID gets Hours more from now; RequestID is the approved
// extension request for a role that needs approval.
type ExtendRequest struct {
	Role         string
	IncidentID   string
	Hours        int
	Requester    string
	RequesterKey string
	RequestID    string
	// LifetimeCap is the longest the grant may live from its issue (whole hours);
	// zero leaves the database's 12-hour ceiling alone.
	LifetimeCap time.Duration
}

// Extension is the answer of ExtendGrant.
type Extension struct {
	GrantID           string
	PreviousExpiresAt time.Time
	ExpiresAt         time.Time
	// ValidUntil is the role's VALID UNTIL after the extension.
	ValidUntil time.Time
	// Approver approved the extension (or the grant), if anyone did.
	Approver string
	// Reused reports a retry of an extension already carried out.
	Reused bool
}

// Reservation is the answer of ReserveGrant.
type Reservation struct {
	// GrantID is the reserved grant, or the live grant returned instead.
	GrantID string
	// ExpiresAt was fixed from the database clock.
	ExpiresAt time.Time
	// Active reports a live grant that the caller should reuse instead of issuing.
	Active bool
}

// Activation is the answer of ActivateGrant.
type Activation struct {
	GrantID   string
	ExpiresAt time.Time
	// ValidUntil is the role's VALID UNTIL: the latest expiry of its live grants.
	ValidUntil time.Time
	// Reused reports that the grant was already active (a retry) or that a live grant
	// of the same role and incident was returned: the password was not changed.
	Reused bool
}

// RoleState is a role's grants as read under its lock.
type RoleState struct {
	// Live are the role's live grants.
	Live []Grant
	// Current is the grant whose password the role holds (activated last since the
	// role was last expired, possibly ended already); empty when none.
	Current string
	// CurrentVersion is the secret version that holds the role's password: Current's
	// own, or the version its password was rotated to when other grants ended.
	CurrentVersion string
	// Ended are the grants whose expiry passed and whose end is not recorded yet
	// (read by EndGrants only).
	Ended []Grant
}

// Rotation is a new password for the grants of a role that stay live while others
// end: the secret version (AWSPENDING) that holds it and its verifier. The zero
// Rotation is none (no grant is left); Skip says that nothing is to end, so nothing
// is changed (a grant whose expiry passes meanwhile is the next sweep's).
type Rotation struct {
	VersionID string
	Verifier  Verifier
	Skip      bool
}

// EndedGrant is a grant an EndGrants closed and why: "revoked" or "expired".
type EndedGrant struct {
	Grant
	Reason string
}

// Ending is what EndGrants did: the grants it closed, how many live grants of the
// role are left, and the rotation published for them (zero when none was).
type Ending struct {
	Ended    []EndedGrant
	LiveLeft int
	Rotated  Rotation
}

// SweepResult is one role the sweep took back, or failed to: Failure then says why
// (SQLSTATE and message) and the other roles' results stand.
type SweepResult struct {
	Role               string
	GrantsClosed       int
	SessionsTerminated int
	Failure            string
}

// RoleStatus is the state of one firefighter role.
type RoleStatus struct {
	Role string
	// ValidUntil is the role's VALID UNTIL; the epoch means expired.
	ValidUntil time.Time
	// NoExpiry reports a password with no VALID UNTIL (never set by the broker).
	NoExpiry   bool
	LiveGrants int
	Sessions   int
}

// CommitUncertainError is what a Database's ActivateGrant returns when the commit
// failed after publish succeeded: the secret may name a password the database does
// not hold, so the caller must repair the role's current secret. Any Database may
// return it (wrapped or not); the broker matches it with errors.As.
type CommitUncertainError struct {
	// Err is the commit's failure.
	Err error
}

// Error returns "commit failed: " and the cause.
func (e *CommitUncertainError) Error() string { return "commit failed: " + e.Err.Error() }

// Unwrap returns the commit's failure.
func (e *CommitUncertainError) Unwrap() error { return e.Err }
