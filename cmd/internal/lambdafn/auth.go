package lambdafn

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/ffbroker/ffbroker/broker"
	"github.com/ffbroker/ffbroker/identity"
)

// Authenticator finds who is calling an API route: the identity proof in the call is
// checked (bound to this deployment and this exact request, fresh) and forwarded to
// STS, and the caller is STS's answer. API Gateway's own requestContext.identity is a
// cross-check only: when it names someone, it must name the same principal.
type Authenticator struct {
	Verifier *identity.Verifier
	// Approvers is the approvers' allowlist (FFB_APPROVERS).
	Approvers identity.Patterns
	// Requesters is the on-call allowlist of who may ask for access (FFB_REQUESTERS).
	Requesters identity.Patterns
	// Accounts are the AWS accounts whose principals may call (FFB_ACCOUNTS); a
	// caller from any other account is refused, whatever its name.
	Accounts []string
	// kept is set for checking proofs from the ledgers (see LedgerProofs).
	kept bool
}

// Caller verifies the proof of req, whose decoded body is body.
func (a Authenticator) Caller(ctx context.Context, req events.APIGatewayProxyRequest, body []byte) (broker.Caller, error) {
	if a.Verifier == nil {
		return broker.Caller{}, broker.Errorf(broker.CodeInternal, "no identity verifier configured")
	}
	if err := consistent(req); err != nil {
		return broker.Caller{}, err
	}
	proof := header(req, identity.Header)
	if proof == "" {
		return broker.Caller{}, broker.Errorf(broker.CodeUnauthenticated,
			"the call carries no identity proof (header %s); call the API with the ffbroker client", identity.Header)
	}
	c, err := a.CallerOf(ctx, proof, identity.Request{Method: req.HTTPMethod, Path: req.Path, Query: query(req), Body: body})
	if err != nil {
		return broker.Caller{}, err
	}
	if gw := req.RequestContext.Identity.UserArn; gw != "" && gw != c.ARN {
		return broker.Caller{}, broker.Errorf(broker.CodeUnauthenticated, "the identity proof names another caller than the one API Gateway verified")
	}
	return c, nil
}

// CallerOf verifies proof for the API request r and returns the caller, with the
// proof and r's body kept for the ledgers.
func (a Authenticator) CallerOf(ctx context.Context, proof string, r identity.Request) (broker.Caller, error) {
	if a.Verifier == nil {
		return broker.Caller{}, broker.Errorf(broker.CodeInternal, "no identity verifier configured")
	}
	c, err := a.Verifier.Verify(ctx, proof, r)
	if err != nil {
		code := broker.CodeUnauthenticated
		switch identity.ReasonOf(err) {
		case identity.ReasonUnavailable:
			code = broker.CodeUnavailable
		case identity.ReasonStale:
			code = broker.CodeConflict
		}
		msg := "the identity proof was refused"
		var ie *identity.Error
		if errors.As(err, &ie) && ie.Message != "" {
			msg += ": " + ie.Message
		}
		if code == broker.CodeConflict {
			code, msg = broker.CodeUnauthenticated, msg+" (sign a fresh one)"
			if a.kept {
				code = broker.CodeConflict
			}
		}
		return broker.Caller{}, &broker.Error{Code: code, Op: "verify identity", Message: msg, Err: err}
	}
	if !slices.Contains(a.Accounts, c.Account) || c.Principal.Account != c.Account {
		return broker.Caller{}, broker.Errorf(broker.CodeUnauthenticated, "callers from account %s are not accepted by this deployment", safeAccount(c.Account))
	}
	out := a.Standing(c.Principal)
	out.Proof, out.Body, out.UserID = proof, r.Body, c.UserID
	return out, nil
}

// Standing is the caller p is, with what this deployment's allowlists let it do
// (broker.Standing).
func (a Authenticator) Standing(p identity.Principal) broker.Caller {
	return broker.Standing(p, a.Approvers, a.Requesters)
}

// LedgerProofs checks the identity proofs kept in the request and approval ledgers
// (broker.ProofChecker) the way a live call's is checked, but as old as STS itself
// accepts a signature (KeptProofMaxAge): the issue function checks the requester's
// and the approver's, the approve function the requester's. A proof too old to check
// is a conflict.
type LedgerProofs struct{ auth Authenticator }

// KeptProofMaxAge is how old a kept proof may be when the issue step checks it: STS
// refuses signatures older than 15 minutes.
const KeptProofMaxAge = 14 * time.Minute

// DecideProofMaxAge is how old the requester's proof may be when a decision is made:
// younger than KeptProofMaxAge, so that the issue step (and its retries) can still
// check it after the approval.
const DecideProofMaxAge = 12 * time.Minute

// NewLedgerProofs returns the checker of kept proofs for a's deployment, accepting
// proofs up to maxAge old (KeptProofMaxAge or DecideProofMaxAge).
func NewLedgerProofs(a Authenticator, maxAge time.Duration) LedgerProofs {
	if a.Verifier != nil {
		v := *a.Verifier
		v.MaxAge = maxAge
		a.Verifier = &v
	}
	a.kept = true
	return LedgerProofs{auth: a}
}

// CheckProof verifies a kept proof against the request it is bound to.
func (p LedgerProofs) CheckProof(ctx context.Context, kp broker.KeptProof) (broker.Caller, error) {
	return p.auth.CallerOf(ctx, kp.Proof, identity.Request{Method: kp.Method, Path: kp.Path, Body: kp.Body})
}

// consistent refuses an event whose parts disagree with what the proof binds: the
// handlers act on the resource's path parameters and on the query, so the path must be
// the resource with exactly those parameters, and the single- and multi-valued query
// must say the same. A direct invoke could otherwise keep a captured proof's path and
// aim the call elsewhere.
func consistent(req events.APIGatewayProxyRequest) error {
	want, rest := "", req.Resource
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			want += rest
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return broker.Errorf(broker.CodeUnauthenticated, "the event's resource is malformed")
		}
		name := strings.TrimSuffix(rest[i+1:i+j], "+")
		v, ok := req.PathParameters[name]
		if !ok || v == "" {
			return broker.Errorf(broker.CodeUnauthenticated, "the event's path parameters do not match its path")
		}
		want += rest[:i] + url.PathEscape(v)
		rest = rest[i+j+1:]
	}
	if len(req.PathParameters) != strings.Count(req.Resource, "{") || req.Path != want {
		return broker.Errorf(broker.CodeUnauthenticated, "the event's path parameters do not match its path")
	}
	for k, v := range req.QueryStringParameters {
		if mv, ok := req.MultiValueQueryStringParameters[k]; len(req.MultiValueQueryStringParameters) > 0 && (!ok || len(mv) == 0 || mv[len(mv)-1] != v) {
			return broker.Errorf(broker.CodeUnauthenticated, "the event's query parameters disagree")
		}
	}
	for k := range req.MultiValueQueryStringParameters {
		if _, ok := req.QueryStringParameters[k]; !ok {
			return broker.Errorf(broker.CodeUnauthenticated, "the event's query parameters disagree")
		}
	}
	return nil
}

// safeAccount is an account id fit for a message: twelve digits or "(unknown)".
func safeAccount(a string) string {
	if len(a) != 12 || strings.Trim(a, "0123456789") != "" {
		return "(unknown)"
	}
	return a
}

// header returns the value of the named header, whatever its case.
func header(req events.APIGatewayProxyRequest, name string) string {
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	for k, v := range req.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

// query is the request's query string as the client sent it.
func query(req events.APIGatewayProxyRequest) url.Values {
	q := url.Values{}
	if len(req.MultiValueQueryStringParameters) > 0 {
		for k, vs := range req.MultiValueQueryStringParameters {
			q[k] = append([]string(nil), vs...)
		}
		return q
	}
	for k, v := range req.QueryStringParameters {
		q.Set(k, v)
	}
	return q
}

// authenticated runs fn for a verified caller, or answers 401 with a
// request.rejected audit record.
func authenticated(ctx context.Context, a Authenticator, b *broker.Broker, req events.APIGatewayProxyRequest, body []byte,
	fn func(broker.Caller) events.APIGatewayProxyResponse) events.APIGatewayProxyResponse {
	c, err := a.Caller(ctx, req, body)
	if err != nil {
		b.Reject(ctx, rejected(ctx, req), err)
		resp := respondError(err)
		if resp.StatusCode == http.StatusUnauthorized {
			resp.Headers["WWW-Authenticate"] = "FFBroker-IAM"
		}
		return resp
	}
	return fn(c)
}
