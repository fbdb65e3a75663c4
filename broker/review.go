package broker

import (
	"slices"
	"strings"

	"github.com/ffbroker/ffbroker/identity"
)

// The rule table (DESIGN.md, The rule table): who may ask, decide, issue an approved
// request, extend and revoke is decided here, by pure functions of the caller's
// standing (Caller, set by the edge from the allowlists), the ledger's request or
// grants and, for the kept proofs, the callers STS answered for them. Nothing here
// reads a clock, a ledger or STS: the use cases fetch, these decide, and the
// db_admin functions check the same again on their own as the database's backstop.

// Standing is the caller p is, with what the allowlists let it do: the only place
// the allowlists are matched (the edge holds them, FFB_APPROVERS and FFB_REQUESTERS).
// Read-write is asked for and approved only by person-keyed principals (an IAM user,
// or a session of an Identity Center or trusted-session role): the two-person rule
// compares keys, and a role's key is everyone who can assume the role, which an
// approver can be too. A bare role session may ask only for a role that needs no
// approval, and only when the requesters' list names it; with no list, only
// person-keyed callers may, and nobody may ask for a role that needs approval (fail
// closed).
func Standing(p identity.Principal, approvers, requesters identity.Patterns) Caller {
	person, listed := p.PersonKeyed(), requesters.Match(p)
	return Caller{ARN: p.ARN, Key: p.Key,
		CanApprove:     person && approvers.Match(p),
		CanAsk:         listed || person && requesters.Empty(),
		CanAskApproval: person && listed,
	}
}

// sameKey reports whether two principal keys are one person; IAM names are
// case-insensitive and an empty key is nobody.
func sameKey(a, b string) bool { return a != "" && strings.EqualFold(a, b) }

// reviewAsk decides whether c may ask for v (Submit, Extend): a verified caller;
// for a role that needs a second person, one person on the requesters' list
// (CanAskApproval), since the two-person rule compares principal keys and a role's key
// is every session of the role; else anyone the requesters' list admits (CanAsk).
func reviewAsk(c Caller, v ValidRequest) error {
	switch {
	case !c.authenticated():
		return Errorf(CodeUnauthenticated, "the caller is not authenticated")
	case v.NeedsApproval && !c.CanAskApproval:
		return Errorf(CodeForbidden, "%s needs a second person's approval and may be asked for only by a person on the requesters' list (FFB_REQUESTERS): an IAM user or a session of an Identity Center or trusted-session role", v.Kind)
	case !v.NeedsApproval && !c.CanAsk:
		return Errorf(CodeForbidden, "the caller is not on the requesters' list (FFB_REQUESTERS)")
	}
	return nil
}

// reviewDirectIssue decides whether a password of v may be issued at once to the
// verified requester key, with no request ledger (Issue): only for a role that needs
// no approval.
func reviewDirectIssue(requester, requesterKey string, v ValidRequest) error {
	switch {
	case requester == "" || requesterKey == "":
		return Errorf(CodeUnauthenticated, "the caller is not authenticated")
	case v.NeedsApproval:
		return Errorf(CodeForbidden, "role %s needs a second person's approval", v.Kind)
	}
	return nil
}

// reviewApprover decides whether c may decide requests at all: a verified caller on
// the approvers' list whose key stands for one person (CanApprove).
func reviewApprover(c Caller) error {
	switch {
	case !c.authenticated():
		return Errorf(CodeUnauthenticated, "the caller is not authenticated")
	case !c.CanApprove:
		return Errorf(CodeForbidden, "the caller is not on the approvers' list")
	}
	return nil
}

// reviewDecide decides whether c may approve or deny req as the ledger shows it: an
// approver (reviewApprover), never its requester by principal key. A request no
// longer pending goes on to the database, which returns the same person's same
// decision again (a retry) and refuses any other (FFB08); the window is the
// database's clock's (FFB09).
func reviewDecide(c Caller, req AccessRequest) error {
	if err := reviewApprover(c); err != nil {
		return err
	}
	if sameKey(req.RequesterKey, c.Key) {
		return Errorf(CodeForbidden, "the approver must not be the requester")
	}
	return nil
}

// mayDecide reports whether c may see req among the requests to decide (Pending):
// an approver, never for its own request.
func mayDecide(c Caller, req AccessRequest) bool {
	return reviewDecide(c, req) == nil
}

// mayView reports whether c may read req (GET /requests/{id}): its requester or an
// approver.
func mayView(c Caller, req AccessRequest) bool {
	return sameKey(req.RequesterKey, c.Key) || c.CanApprove
}

// reviewIssuable decides whether req may be issued by the workflow's issue step: it
// is approved (its proofs are checked next) or issued already (a retry resumes).
func reviewIssuable(req AccessRequest) error {
	if req.State != StateApproved && req.State != StateIssued {
		return Errorf(CodeForbidden, "request %s is %s, not approved", req.ID, req.State)
	}
	return nil
}

// reviewRequesterProof decides whether the requester's kept proof vouches for req
// (before a decision and before an approved request is issued): v is the request
// the proof's body asks for and c the caller STS answered for the proof. It must ask
// for the ledger's role, incident, validity and reason, name the ledger's requester by
// ARN and key, and be by someone who may ask for a role that needs approval.
func reviewRequesterProof(req AccessRequest, v ValidRequest, c Caller) error {
	if v.RoleName != req.Role || v.IncidentID != req.IncidentID || v.Hours != req.Hours || v.Reason != req.Reason ||
		c.ARN != req.Requester || !sameKey(c.Key, req.RequesterKey) {
		return requesterProofRefused(req)
	}
	if !c.CanAskApproval {
		return Errorf(CodeForbidden, "request %s was made by %s, who may not ask for a role that needs approval (FFB_REQUESTERS lists people: IAM users or sessions of Identity Center or trusted-session roles)", req.ID, c.ARN)
	}
	return nil
}

// requesterProofRefused is the refusal of a request whose requester's proof is
// missing or does not vouch for it.
func requesterProofRefused(req AccessRequest) *Error {
	return Errorf(CodeForbidden, "request %s does not carry a valid proof of its requester", req.ID)
}

// reviewApproverProof decides whether the approver's kept proof vouches for req's
// approval (before an approved request is issued): d is the decision the proof's body
// carries and c the caller STS answered for the proof. It must approve with the
// ledger's comment, be by an approver, name the ledger's approver by ARN and key, and
// not be the requester's key.
func reviewApproverProof(req AccessRequest, d decisionBody, c Caller) error {
	if d.Decision != "approve" || d.Comment != req.Comment || !c.CanApprove || c.ARN != req.Approver ||
		!sameKey(c.Key, req.ApproverKey) || sameKey(c.Key, req.RequesterKey) {
		return approverProofRefused(req)
	}
	return nil
}

// approverProofRefused is the refusal of an approval whose approver's proof is
// missing or does not vouch for it.
func approverProofRefused(req AccessRequest) *Error {
	return Errorf(CodeForbidden, "the approval of request %s does not carry a valid proof of its approver", req.ID)
}

// reviewExtend decides whether c may extend g, the live grant of role for the
// incident (nil when there is none): only its requester, by principal key.
func reviewExtend(c Caller, role string, g *Grant) error {
	switch {
	case g == nil:
		return Errorf(CodeNotFound, "no live grant of %s for this incident", role)
	case !sameKey(g.RequesterKey, c.Key):
		return Errorf(CodeForbidden, "only the requester of the live grant of %s for this incident may extend it", role)
	}
	return nil
}

// reviewRevoke decides which of the live grants c may end by revoking role for
// incident, and returns their ids: the caller's own (as requester or approver of the
// grant, by principal key) and, for an approver, every grant of the role for the
// incident. Grants of other roles and incidents are never among them. A caller who is
// no party to a live grant of the role and no approver is forbidden, as is one who may
// end none of the incident's; with no live grant of the role, or none for the
// incident, there is nothing to revoke (not found).
func reviewRevoke(c Caller, role, incident string, live []Grant) ([]string, error) {
	onRole, found, party := false, false, c.CanApprove
	var ids []string
	for _, g := range live {
		if g.Role != role {
			continue
		}
		onRole = true
		own := sameKey(g.RequesterKey, c.Key) || sameKey(g.ApproverKey, c.Key)
		found = found || g.IncidentID == incident
		party = party || own
		if g.IncidentID == incident && (own || c.CanApprove) {
			ids = append(ids, g.ID)
		}
	}
	switch {
	case !onRole: // nothing to revoke (a second revoke), as GET /access shows everyone
		return nil, Errorf(CodeNotFound, "no live grant of %s: nothing to revoke", role)
	case !party:
		return nil, Errorf(CodeForbidden, "only the requester or approver of a live grant on %s, or an approver, may revoke it", role)
	case !found:
		return nil, Errorf(CodeNotFound, "no live grant of %s for this incident", role)
	case len(ids) == 0:
		return nil, Errorf(CodeForbidden, "only the requester or approver of the grant of %s for this incident, or an approver, may revoke it", role)
	}
	return ids, nil
}

// reviewGrantCap decides whether the person of key may hold a grant of role for one
// more incident than those held: at most MaxLiveGrantsPerPerson incidents.
// A request for an incident whose live grant is returned adds none.
func reviewGrantCap(grants []Grant, role, incident, key string) error {
	var held []string
	for _, g := range grants {
		if g.Role != role {
			continue
		}
		if incident != "" && g.IncidentID == incident {
			return nil
		}
		if sameKey(g.RequesterKey, key) && !slices.Contains(held, g.IncidentID) {
			held = append(held, g.IncidentID)
		}
	}
	if len(held) >= MaxLiveGrantsPerPerson {
		return Errorf(CodeTooManyGrants,
			"you hold %d live grants of %s already (incidents %s), the most one person may: revoke one you no longer need (ffbroker revoke --role R --incident ID) or let it expire",
			len(held), role, strings.Join(held, ", "))
	}
	return nil
}
