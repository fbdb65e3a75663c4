package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"unicode/utf8"

	"github.com/ffbroker/ffbroker/audit"
)

// MaxCommentLength is the longest comment on a decision, in characters.
const MaxCommentLength = 500

// DecideInput is a second person's decision on a pending request.
type DecideInput struct {
	AccessRequestID string
	// Body is the decision as the caller sent it (POST /approvals/{request_id}):
	// {"decision":"approve"|"deny","comment":"..."}, decoded strictly by Decide.
	Body   []byte
	Caller Caller
	// RequestID is the API or Lambda request id, for the audit trail.
	RequestID string
	Source    audit.Source
}

// DecideOutput is the answer to Decide.
type DecideOutput struct {
	RequestID string `json:"request_id"`
	Decision  string `json:"decision"`
	State     string `json:"state"`
	// WorkflowResumed reports that the waiting workflow took the decision; when false
	// the decision is recorded and the request stays as decided.
	WorkflowResumed bool `json:"workflow_resumed"`
}

// Decide records a second person's decision and resumes the workflow waiting for it.
// reviewDecide refuses a caller not on the approvers' list and the requester (by
// principal key); the database refuses the requester again, a request already decided
// otherwise, and a closed window. The
// decision is recorded in the audit trail after it took effect, with what happened.
func (b *Broker) Decide(ctx context.Context, in DecideInput) (DecideOutput, error) {
	rec := audit.Record{RequestID: in.RequestID, AccessRequestID: in.AccessRequestID, Approver: in.Caller.ARN,
		ApproverKey: in.Caller.Key, Source: in.Source}
	dec, err := decodeDecision(in.Body)
	if err == nil {
		err = checkDecision(in, dec)
	}
	if err != nil {
		return DecideOutput{}, b.reject(ctx, rec, err)
	}
	if b.cfg.Approvals == nil {
		return DecideOutput{}, b.reject(ctx, rec, Errorf(CodeInternal, "no approvals ledger configured"))
	}
	pending, err := b.cfg.Approvals.AccessRequest(ctx, in.AccessRequestID)
	if err != nil {
		return DecideOutput{}, b.reject(ctx, rec, err)
	}
	rec.Requester, rec.RequesterKey, rec.IncidentID, rec.TargetRole = pending.Requester, pending.RequesterKey, pending.IncidentID, pending.Role
	if err := reviewDecide(in.Caller, pending); err != nil {
		return DecideOutput{}, b.reject(ctx, rec, err)
	}
	if pending.State == StatePending {
		if err := b.checkRequester(ctx, pending); err != nil {
			return DecideOutput{}, b.reject(ctx, rec, err)
		}
	}
	d, err := b.cfg.Approvals.Decide(ctx, Decision{RequestID: in.AccessRequestID, Decision: dec.Decision,
		Approver: in.Caller.ARN, ApproverKey: in.Caller.Key, Comment: dec.Comment, Proof: in.Caller.Proof, Body: in.Caller.Body})
	if err != nil {
		return DecideOutput{}, b.reject(ctx, rec, err)
	}
	req := d.Request
	rec.Requester, rec.IncidentID, rec.TargetRole = req.Requester, req.IncidentID, req.Role
	out := DecideOutput{RequestID: req.ID, Decision: dec.Decision, State: req.State}

	rec.Event, rec.Outcome, rec.Message = audit.EventAccessApproved, audit.OutcomeSuccess, "approved by a second person"
	kind := NotifyApproved
	if dec.Decision == "deny" {
		rec.Event, rec.Outcome, rec.Message = audit.EventAccessDenied, audit.OutcomeDenied, "denied by a second person"
		kind = NotifyDenied
	}
	switch {
	case d.TaskToken == "" || b.cfg.Workflow == nil:
		rec.Message += "; no workflow waits for it"
	default:
		if err := b.cfg.Workflow.Resume(ctx, d.TaskToken, req.ID, dec.Decision); err != nil {
			rec.Message += "; the workflow did not take it"
			rec.ErrorCode = string(ErrorCode(err))
			b.writeBestEffort(ctx, rec)
			return DecideOutput{}, err
		}
		out.WorkflowResumed = true
	}
	b.writeBestEffort(ctx, rec)
	if !d.Retried {
		// The decision's answer has no requester key: the same request read before has.
		req.RequesterKey = pending.RequesterKey
		b.notify(ctx, rec, Notification{Kind: kind, Request: req})
	}
	return out, nil
}

// decisionBody is the body of POST /approvals/{request_id}.
type decisionBody struct {
	Decision string `json:"decision"`
	Comment  string `json:"comment"`
}

// decodeDecision decodes a decision body strictly: one JSON object of at most
// MaxBodyBytes with only decision and comment, both strings.
func decodeDecision(body []byte) (decisionBody, error) {
	var d decisionBody
	if len(body) > MaxBodyBytes {
		return d, Errorf(CodeBodyTooLarge, "request body is larger than %d bytes", MaxBodyBytes)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return d, Errorf(CodeInvalidRequest, "request body is empty")
	}
	if !utf8.Valid(body) {
		return d, Errorf(CodeInvalidJSON, "request body is not valid utf-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return d, Errorf(CodeInvalidRequest, `the body must be {"decision":"approve"|"deny","comment":"..."}`)
	}
	if _, err := dec.Token(); err != io.EOF {
		return d, Errorf(CodeInvalidRequest, "request body has data after the json object")
	}
	return d, nil
}

// checkDecision checks a decision's input: a verified caller, a request id, a
// decision and a comment, by an approver (reviewApprover).
func checkDecision(in DecideInput, d decisionBody) error {
	switch {
	case !in.Caller.authenticated():
		return checkCaller(in.Caller)
	case checkUUID(in.AccessRequestID, "request_id") != nil:
		return checkUUID(in.AccessRequestID, "request_id")
	case d.Decision != "approve" && d.Decision != "deny":
		return Errorf(CodeInvalidRequest, "decision must be approve or deny")
	case !utf8.ValidString(d.Comment) || utf8.RuneCountInString(d.Comment) > MaxCommentLength || hasUnsafeRune(d.Comment):
		return Errorf(CodeInvalidReason, "comment must be at most %d characters, without control characters", MaxCommentLength)
	}
	return reviewApprover(in.Caller)
}

// PendingOutput is the answer of Pending: the requests the caller may decide.
type PendingOutput struct {
	Requests []AccessRequest `json:"requests"`
}

// Pending lists the requests waiting for a decision that the caller may decide: none
// unless the caller is an approver, and never the caller's own.
func (b *Broker) Pending(ctx context.Context, caller Caller, requestID string) (PendingOutput, error) {
	rec := audit.Record{RequestID: requestID, Approver: caller.ARN, Source: audit.SourceAPI}
	if err := checkCaller(caller); err != nil {
		return PendingOutput{}, b.reject(ctx, rec, err)
	}
	out := PendingOutput{Requests: []AccessRequest{}}
	if !caller.CanApprove {
		return out, nil
	}
	if b.cfg.Approvals == nil {
		return PendingOutput{}, Errorf(CodeInternal, "no approvals ledger configured")
	}
	all, err := b.cfg.Approvals.Pending(ctx)
	if err != nil {
		return PendingOutput{}, err
	}
	for _, r := range all {
		if mayDecide(caller, r) {
			out.Requests = append(out.Requests, r)
		}
	}
	return out, nil
}
