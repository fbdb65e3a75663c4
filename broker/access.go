package broker

import (
	"context"
	"errors"
	"time"

	"github.com/ffbroker/ffbroker/audit"
	"github.com/google/uuid"
)

// Request ledger states (db_admin.firefighter_request.state).
const (
	StatePending  = "pending"
	StateApproved = "approved"
	StateDenied   = "denied"
	StateExpired  = "expired"
	StateIssued   = "issued"
)

// Request kinds (db_admin.firefighter_request.kind).
const (
	// KindIssue asks for a new grant (POST /access).
	KindIssue = "issue"
	// KindExtend asks for more time on a live grant (POST /access/{role}/extend).
	KindExtend = "extend"
)

// AccessRequest is one request for a role that needs approval, as the request and
// approval ledgers in the database record it. It never holds the workflow's task token.
type AccessRequest struct {
	ID string `json:"request_id"`
	// Kind is KindIssue or KindExtend; ExtendsGrant is the grant an extension is for.
	Kind         string    `json:"kind"`
	ExtendsGrant string    `json:"extends_grant_id,omitempty"`
	Role         string    `json:"role"`
	IncidentID   string    `json:"incident_id"`
	Hours        int       `json:"hours"`
	Reason       string    `json:"reason,omitempty"`
	Requester    string    `json:"requester"`
	RequesterKey string    `json:"-"`
	State        string    `json:"state"`
	CreatedAt    time.Time `json:"created_at"`
	DecideBy     time.Time `json:"decide_by"`
	GrantID      string    `json:"grant_id,omitempty"`
	Decision     string    `json:"decision,omitempty"`
	Approver     string    `json:"approver,omitempty"`
	ApproverKey  string    `json:"-"`
	Comment      string    `json:"comment,omitempty"`
	DecidedAt    time.Time `json:"decided_at,omitzero"`
	// RequesterProof and RequestBody are the requester's identity proof and the
	// POST /access body it is bound to; ApproverProof and DecisionBody the approver's,
	// for POST /approvals/{request_id}. Never in an answer.
	RequesterProof string `json:"-"`
	RequestBody    []byte `json:"-"`
	// RequestPath is the path the requester's proof is bound to ("/access" unless an
	// extension).
	RequestPath   string `json:"-"`
	ApproverProof string `json:"-"`
	DecisionBody  []byte `json:"-"`
}

// NewAccessRequest is what the database needs to record a request.
type NewAccessRequest struct {
	ID           string
	Role         string
	IncidentID   string
	Hours        int
	Reason       string
	Requester    string
	RequesterKey string
	// Proof and Body are the requester's identity proof and the body it is bound to;
	// Path the request path, for an extension.
	Proof string
	Body  []byte
	Path  string
}

// Submitted is the answer of Database.SubmitRequest.
type Submitted struct {
	ID        string
	State     string
	CreatedAt time.Time
	DecideBy  time.Time
	// Reused reports that the same person's pending request was returned.
	Reused bool
	// GrantID is the grant an extension request is for.
	GrantID string
}

// Decided is the answer of Approvals.Decide: the request after the decision, and the
// task token of the workflow that waits for it.
type Decided struct {
	Request   AccessRequest
	TaskToken Token
	// Retried reports that the same decision by the same person was already recorded.
	Retried bool
}

// Token is a Step Functions task token. It carries no trust, but it is kept out of
// logs and answers all the same.
type Token string

// String redacts the token.
func (Token) String() string { return "[task token]" }

// KeptProof is an identity proof from a ledger with the request it is bound to.
type KeptProof struct {
	Proof  string
	Method string
	Path   string
	Body   []byte
}

// ProofChecker checks, with STS, an identity proof kept in a ledger and returns who
// made it (identity.Verifier at the edge). It is how each side of the two-person rule
// checks the other side's person itself instead of trusting the other side's login.
type ProofChecker interface {
	CheckProof(ctx context.Context, p KeptProof) (Caller, error)
}

// Workflow is what the broker needs from the approval state machine (Step Functions).
type Workflow interface {
	// Start starts the approval workflow of request id, once: a second call for the
	// same id returns the running execution.
	Start(ctx context.Context, requestID string) (executionARN string, err error)
	// Resume ends the wait of the workflow holding token with a decision.
	Resume(ctx context.Context, token Token, requestID, decision string) error
	// ExecutionARN is the ARN of request id's execution of this deployment's state
	// machine: the only execution whose wait step may keep the request's task token.
	ExecutionARN(requestID string) string
}

// Approvals is what the approve function needs from the database, through its own
// login: it records decisions and reads requests, and can do nothing else.
type Approvals interface {
	Decide(ctx context.Context, d Decision) (Decided, error)
	Pending(ctx context.Context) ([]AccessRequest, error)
	AccessRequest(ctx context.Context, id string) (AccessRequest, error)
}

// Decision is a second person's decision as the approvals ledger records it.
type Decision struct {
	RequestID   string
	Decision    string
	Approver    string
	ApproverKey string
	Comment     string
	// Proof and Body are the approver's identity proof and the body it is bound to.
	Proof string
	Body  []byte
}

// SubmitInput is a request for access from a verified caller.
type SubmitInput struct {
	// Body is the request as the caller sent it (POST /access), decoded strictly by
	// Submit (see DecodeRequest).
	Body   []byte
	Caller Caller
	// RequestID is the API or Lambda request id, for the audit trail.
	RequestID string
	Source    audit.Source
}

// SubmitOutput is the answer to Submit: a grant when no approval is needed, else the
// pending request.
type SubmitOutput struct {
	Grant   *IssueOutput   `json:"grant,omitempty"`
	Pending *PendingAnswer `json:"pending,omitempty"`
}

// PendingAnswer is the answer when a request waits for a second person.
type PendingAnswer struct {
	RequestID    string    `json:"request_id"`
	ExecutionARN string    `json:"execution_arn,omitempty"`
	Status       string    `json:"status"`
	DecideBy     time.Time `json:"decide_by"`
	Reused       bool      `json:"reused"`
}

// Submit handles a request for access: issued at once when the role needs no
// approval; else recorded in the request ledger with the verified requester and handed
// to the approval workflow, which carries only the request id.
func (b *Broker) Submit(ctx context.Context, in SubmitInput) (SubmitOutput, error) {
	rec := audit.Record{RequestID: in.RequestID, Requester: in.Caller.ARN, RequesterKey: in.Caller.Key, Source: in.Source}
	req, err := DecodeRequest(in.Body)
	if err != nil {
		return SubmitOutput{}, b.reject(ctx, rec, err)
	}
	rec.IncidentID = req.IncidentID
	v, err := b.validate(ctx, req)
	if err == nil {
		err = reviewAsk(in.Caller, v)
	}
	if err != nil {
		return SubmitOutput{}, b.reject(ctx, rec, err)
	}
	rec.TargetRole = v.RoleName
	if b.cfg.DB != nil {
		if err := b.checkGrantCap(ctx, rec, v.RoleName, v.IncidentID, in.Caller.Key); err != nil {
			return SubmitOutput{}, err
		}
	}
	if !v.NeedsApproval {
		out, err := b.issueValid(ctx, v, GrantRequest{Requester: in.Caller.ARN, RequesterKey: in.Caller.Key}, rec,
			func(ctx context.Context, grantID string) error {
				return b.recordReader(ctx, v.RoleName, grantID, in.Caller)
			})
		if err != nil {
			return SubmitOutput{}, err
		}
		return SubmitOutput{Grant: &out}, nil
	}
	if b.cfg.Workflow == nil || b.cfg.DB == nil {
		return SubmitOutput{}, b.reject(ctx, rec, &Error{Code: CodeInternal, Message: "no approval workflow configured",
			Err: errors.New("broker: Submit of a role that needs approval without a Workflow")})
	}
	id, err := b.newID()
	if err != nil {
		return SubmitOutput{}, err
	}
	sub, err := b.cfg.DB.SubmitRequest(ctx, NewAccessRequest{ID: id, Role: v.RoleName, IncidentID: v.IncidentID, Hours: v.Hours,
		Reason: v.Reason, Requester: in.Caller.ARN, RequesterKey: in.Caller.Key, Proof: in.Caller.Proof, Body: in.Caller.Body})
	if err != nil {
		return SubmitOutput{}, b.reject(ctx, rec, err)
	}
	rec.AccessRequestID = sub.ID
	// No reader record yet: the issue step records the requester, from its kept
	// proof, as the grant goes live.
	arn, err := b.cfg.Workflow.Start(ctx, sub.ID)
	if err != nil {
		return SubmitOutput{}, b.failed(ctx, rec, audit.EventAccessRequested, err)
	}
	rec.Event, rec.Outcome, rec.Message = audit.EventAccessRequested, audit.OutcomePending, "waiting for a second person's approval"
	if sub.Reused {
		rec.Message = "approval already pending for this incident and role"
	}
	b.writeBestEffort(ctx, rec)
	return SubmitOutput{Pending: &PendingAnswer{RequestID: sub.ID, ExecutionARN: arn, Status: "pending_approval",
		DecideBy: sub.DecideBy, Reused: sub.Reused}}, nil
}

// AwaitInput is the approval workflow's wait step: the task token Step Functions made
// for the wait, and the execution it belongs to.
type AwaitInput struct {
	RequestID    string
	TaskToken    Token
	ExecutionARN string
	Source       audit.Source
}

// Await keeps the workflow's task token with its pending request (so that no person
// ever handles it) and tells the approvers. Nothing in the input is trusted: the
// request and its requester come from the ledger, and only the execution of this
// deployment's state machine named for the request may keep its token (forbidden).
func (b *Broker) Await(ctx context.Context, in AwaitInput) (AccessRequest, error) {
	rec := audit.Record{AccessRequestID: in.RequestID, Source: in.Source}
	if err := checkUUID(in.RequestID, "request_id"); err != nil {
		return AccessRequest{}, b.reject(ctx, rec, err)
	}
	if b.cfg.Workflow == nil {
		return AccessRequest{}, b.reject(ctx, rec, Errorf(CodeInternal, "no approval workflow configured"))
	}
	if want := b.cfg.Workflow.ExecutionARN(in.RequestID); want == "" || in.ExecutionARN != want {
		return AccessRequest{}, b.reject(ctx, rec, Errorf(CodeForbidden, "the wait step is not this deployment's workflow of request %s", in.RequestID))
	}
	req, err := b.cfg.DB.AttachTaskToken(ctx, in.RequestID, in.TaskToken, in.ExecutionARN)
	if err != nil {
		return AccessRequest{}, b.reject(ctx, rec, err)
	}
	switch req.State {
	case StateApproved, StateDenied:
		// Decided before the wait stored its token: resume at once. The decision
		// carries no trust; the issue step checks the approval itself.
		decision := "approve"
		if req.State == StateDenied {
			decision = "deny"
		}
		if err := b.cfg.Workflow.Resume(ctx, in.TaskToken, req.ID, decision); err != nil {
			return AccessRequest{}, err
		}
	default:
		rec.IncidentID, rec.TargetRole, rec.Requester = req.IncidentID, req.Role, req.Requester
		b.notifyOnce(ctx, rec, Notification{Kind: NotifyApprovalNeeded, Request: req})
	}
	return req, nil
}

// IssueApprovedInput is the workflow's issue step: only the request id, whose
// approval the database checks.
type IssueApprovedInput struct {
	AccessRequestID string
	RequestID       string
	Source          audit.Source
}

// IssueApproved issues the password of an approved request. The request, its
// requester and its approver are read from the ledgers, and both kept identity proofs
// are checked with STS before anything is issued (forbidden when either does not
// vouch for the ledger's request); the database refuses a request that was not
// approved by another person through the approver's login, that carries no proof of
// its requester, or that was used already. Retries resume the same grant (the grant id is the request id).
func (b *Broker) IssueApproved(ctx context.Context, in IssueApprovedInput) (IssueOutput, error) {
	rec := audit.Record{RequestID: in.RequestID, AccessRequestID: in.AccessRequestID, Source: in.Source}
	if err := checkUUID(in.AccessRequestID, "request_id"); err != nil {
		return IssueOutput{}, b.reject(ctx, rec, err)
	}
	req, err := b.cfg.DB.AccessRequest(ctx, in.AccessRequestID)
	if err != nil {
		return IssueOutput{}, b.reject(ctx, rec, err)
	}
	rec.Requester, rec.RequesterKey, rec.IncidentID, rec.TargetRole = req.Requester, req.RequesterKey, req.IncidentID, req.Role
	rec.Approver, rec.ApproverKey = req.Approver, req.ApproverKey
	if err := reviewIssuable(req); err != nil {
		return IssueOutput{}, b.reject(ctx, rec, err)
	}
	var requester Caller // as STS answered for the kept proof: the secret's reader
	if req.State == StateApproved {
		// Both people, each from the proof the ledger keeps: neither login alone, nor
		// both together, can make a request nobody asked for or an approval nobody gave.
		var err error
		requester, err = b.verifyRequester(ctx, req)
		if ErrorCode(err) == CodeConflict {
			err = Errorf(CodeConflict, "request %s was approved after its requester's proof had grown too old to check: the requester asks again", req.ID)
		}
		if err == nil {
			err = b.checkApprover(ctx, req)
		}
		if err != nil {
			return IssueOutput{}, b.reject(ctx, rec, err)
		}
	}
	if req.Kind == KindExtend {
		return b.extendApproved(ctx, req, rec)
	}
	v, err := b.cfg.Policy.Validate(Request{Role: req.Role, IncidentID: req.IncidentID, Hours: req.Hours, Reason: req.Reason})
	if err != nil {
		return IssueOutput{}, b.reject(ctx, rec, err)
	}
	if err := b.checkGrantCap(ctx, rec, req.Role, req.IncidentID, req.RequesterKey); err != nil {
		return IssueOutput{}, err
	}
	// The requester is recorded as the grant's reader only now, as its grant goes
	// live (a pending request keeps no record). A retry of an issued request has no
	// fresh answer from STS: the record its first run wrote stands.
	out, err := b.issueValid(ctx, v, GrantRequest{GrantID: req.ID, Requester: req.Requester, RequesterKey: req.RequesterKey,
		RequestID: req.ID}, rec, func(ctx context.Context, grantID string) error {
		if requester.UserID == "" {
			return nil
		}
		return b.recordReader(ctx, req.Role, grantID, requester)
	})
	if err == nil {
		rec.GrantID, rec.ExpiresAt = out.GrantID, out.ExpiresAt
		b.notifyOnce(ctx, rec, Notification{Kind: NotifyIssued, Request: req, Grant: &out})
	}
	return out, err
}

// ExpireRequestInput is the workflow's timeout step.
type ExpireRequestInput struct {
	AccessRequestID string
	RequestID       string
	Source          audit.Source
}

// ExpireRequest ends a request nobody decided in time, and tells the requester. A
// request decided meanwhile keeps its decision.
func (b *Broker) ExpireRequest(ctx context.Context, in ExpireRequestInput) (AccessRequest, error) {
	rec := audit.Record{RequestID: in.RequestID, AccessRequestID: in.AccessRequestID, Source: in.Source}
	if err := checkUUID(in.AccessRequestID, "request_id"); err != nil {
		return AccessRequest{}, b.reject(ctx, rec, err)
	}
	state, err := b.cfg.DB.ExpireRequest(ctx, in.AccessRequestID)
	if err != nil {
		return AccessRequest{}, b.reject(ctx, rec, err)
	}
	req, err := b.cfg.DB.AccessRequest(ctx, in.AccessRequestID)
	if err != nil {
		return AccessRequest{}, err
	}
	rec.Requester, rec.RequesterKey, rec.IncidentID, rec.TargetRole = req.Requester, req.RequesterKey, req.IncidentID, req.Role
	if state == StateExpired {
		rec.Event, rec.Outcome, rec.Message = audit.EventAccessDenied, audit.OutcomeDenied, "no approval: timeout"
		b.writeBestEffort(ctx, rec)
		b.notifyOnce(ctx, rec, Notification{Kind: NotifyTimedOut, Request: req})
	}
	return req, nil
}

// AccessRequestStatus returns one request for its requester or for an approver.
func (b *Broker) AccessRequestStatus(ctx context.Context, caller Caller, id string) (AccessRequest, error) {
	rec := audit.Record{Requester: caller.ARN, AccessRequestID: id, Source: audit.SourceAPI}
	if err := checkCaller(caller); err != nil {
		return AccessRequest{}, b.reject(ctx, rec, err)
	}
	if err := checkUUID(id, "request_id"); err != nil {
		return AccessRequest{}, b.reject(ctx, rec, err)
	}
	var req AccessRequest
	var err error
	switch {
	case b.cfg.DB != nil:
		req, err = b.cfg.DB.AccessRequest(ctx, id)
	case b.cfg.Approvals != nil:
		req, err = b.cfg.Approvals.AccessRequest(ctx, id)
	default:
		err = Errorf(CodeInternal, "no request ledger configured")
	}
	if err != nil {
		return AccessRequest{}, err
	}
	if !mayView(caller, req) {
		return AccessRequest{}, b.reject(ctx, rec, Errorf(CodeNotFound, "no such request"))
	}
	return req, nil
}

func (b *Broker) newID() (string, error) {
	id, err := uuid.NewRandomFromReader(b.cfg.Rand)
	if err != nil {
		return "", &Error{Code: CodeInternal, Op: "new id", Err: err}
	}
	return id.String(), nil
}

// checkUUID refuses anything but a lower-case UUID for field.
func checkUUID(s, field string) error {
	id, err := uuid.Parse(s)
	if err != nil || id.String() != s {
		return Errorf(CodeInvalidRequest, "%s must be a lower-case UUID", field)
	}
	return nil
}

// checkApprover checks with STS, from the approval ledger's own copy of the approver's
// identity proof, that the approval was made by the person it names, for this request,
// as an approver, and is not the requester: the approver's login alone cannot approve.
func (b *Broker) checkApprover(ctx context.Context, req AccessRequest) error {
	if b.cfg.Proofs == nil {
		return &Error{Code: CodeInternal, Message: "no identity proof checker configured", Err: errors.New("broker: IssueApproved without Proofs")}
	}
	refused := approverProofRefused(req)
	if req.ApproverProof == "" {
		return refused
	}
	c, err := b.cfg.Proofs.CheckProof(ctx, KeptProof{Proof: req.ApproverProof, Method: "POST", Path: "/approvals/" + req.ID, Body: req.DecisionBody})
	if err != nil {
		if ErrorCode(err) == CodeUnavailable {
			return err
		}
		refused.Err = err
		return refused
	}
	d, err := decodeDecision(req.DecisionBody)
	if err != nil {
		return refused
	}
	return reviewApproverProof(req, d, c)
}

// checkRequester checks with STS, from the request ledger's own copy of the
// requester's identity proof, that the request was made by the person it names, for
// this role, incident and validity, and by someone who may ask for it: the broker's
// login cannot file a request in someone else's name, nor in nobody's. A proof older
// than STS accepts asks the requester to confirm.
func (b *Broker) checkRequester(ctx context.Context, req AccessRequest) error {
	_, err := b.verifyRequester(ctx, req)
	return err
}

// verifyRequester is checkRequester returning the requester as STS answered for its
// kept proof (its UserId names it in the secret's resource policy).
func (b *Broker) verifyRequester(ctx context.Context, req AccessRequest) (Caller, error) {
	if b.cfg.Proofs == nil {
		return Caller{}, &Error{Code: CodeInternal, Message: "no identity proof checker configured", Err: errors.New("broker: Decide without Proofs")}
	}
	refused := requesterProofRefused(req)
	if req.RequesterProof == "" {
		return Caller{}, refused
	}
	path, pathRole, ok := requestPath(req)
	if !ok {
		return Caller{}, refused
	}
	c, err := b.cfg.Proofs.CheckProof(ctx, KeptProof{Proof: req.RequesterProof, Method: "POST", Path: path, Body: req.RequestBody})
	switch {
	case ErrorCode(err) == CodeUnavailable:
		return Caller{}, err
	case ErrorCode(err) == CodeConflict:
		command := "issue"
		if req.Kind == KindExtend {
			command = "extend"
		}
		return Caller{}, Errorf(CodeConflict, "request %s was last confirmed too long ago for its proof to be checked: the requester confirms it by asking again (ffbroker %s with the same role and incident)", req.ID, command)
	case err != nil:
		refused.Err = err
		return Caller{}, refused
	}
	decode := DecodeRequest
	if req.Kind == KindExtend {
		decode = DecodeExtendRequest
	}
	r, err := decode(req.RequestBody)
	if err != nil {
		return Caller{}, refused
	}
	if req.Kind == KindExtend {
		r.Role = pathRole
	}
	v, err := b.cfg.Policy.Validate(r)
	if err != nil {
		return Caller{}, refused
	}
	if err := reviewRequesterProof(req, v, c); err != nil {
		return Caller{}, err
	}
	return c, nil
}
