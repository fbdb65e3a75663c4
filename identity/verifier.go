package identity

import (
	"context"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Defaults of a Verifier.
const (
	// DefaultMaxAge is how old a proof's X-Amz-Date may be when MaxAge is 0.
	DefaultMaxAge = 5 * time.Minute
	// maxFuture is how far in the future a proof's X-Amz-Date may be (clock skew).
	maxFuture = time.Minute
	// defaultTimeout bounds one STS call of the default HTTP client.
	defaultTimeout = 5 * time.Second
)

// Verifier checks proofs: their binding to this deployment and to the API
// request they came with, their age, and then, by forwarding the signed request
// to STS, whose credentials signed them. Its STS endpoint comes from its own
// configuration, never from the proof.
type Verifier struct {
	// ServerID is this deployment's server id; proofs for another are refused.
	ServerID string
	// Endpoint is the STS base URL the verifier forwards to; "" is the SDK's
	// regional default for Region. A proof must be addressed to its host.
	Endpoint string
	// Region is the STS region; a proof's credential scope must name it.
	Region string
	// HTTPClient sends the STS request; nil is a client with a short timeout.
	// Redirects are never followed, whatever the client says.
	HTTPClient *http.Client
	// MaxAge is how old a proof may be; 0 is DefaultMaxAge. Dates more than a
	// minute in the future are refused too.
	MaxAge time.Duration
	// Now returns the current time; nil is time.Now.
	Now func() time.Time
	// TrustedSessionRoles are role names or role ARNs whose session names AWS
	// enforces, besides AWSReservedSSO_* roles (see ParsePrincipal).
	TrustedSessionRoles []string
}

// NewVerifier returns a Verifier for cfg's region and the STS endpoint the
// SDK's configuration names (as NewSigner finds it), else the regional default.
func NewVerifier(cfg aws.Config, serverID string, trustedSessionRoles []string) *Verifier {
	return &Verifier{
		ServerID:            serverID,
		Endpoint:            configuredEndpoint(cfg),
		Region:              cfg.Region,
		TrustedSessionRoles: trustedSessionRoles,
	}
}

// Caller is a verified caller: what STS answered and the principal it stands for.
type Caller struct {
	// ARN is the caller's ARN as STS returned it.
	ARN string
	// Account is the caller's account id as STS returned it.
	Account string
	// UserID is STS's unique id of the caller (AIDA... or AROA...:session).
	UserID string
	// Principal is who the ARN stands for, with the two-person key.
	Principal Principal
}

// Verify checks proof for the API request r and returns the caller STS names.
// Every check that needs no network runs first; only a proof that passes them
// all is forwarded to STS. Every error is an *Error.
func (v *Verifier) Verify(ctx context.Context, proof string, r Request) (Caller, error) {
	if !validServerID(v.ServerID) {
		return Caller{}, refuse(ReasonUnavailable, "the verifier has no valid server id")
	}
	endpoint, err := stsEndpoint(ctx, v.Endpoint, v.Region)
	if err != nil {
		return Caller{}, &Error{Reason: ReasonUnavailable, Message: "the verifier's STS endpoint is misconfigured", Err: err}
	}
	if err := CheckTrustedSessionRoles(v.TrustedSessionRoles); err != nil {
		return Caller{}, &Error{Reason: ReasonUnavailable, Message: "the verifier's trusted session roles are misconfigured", Err: err}
	}
	sr, err := v.check(proof, r, endpoint)
	if err != nil {
		return Caller{}, err
	}
	answer, err := v.forward(ctx, sr, endpoint)
	if err != nil {
		return Caller{}, err
	}
	pr, err := ParsePrincipal(answer.Arn, v.TrustedSessionRoles)
	if err != nil {
		return Caller{}, err
	}
	if pr.Account != answer.Account || answer.UserID == "" {
		return Caller{}, refuse(ReasonUnavailable, "sts answered an inconsistent identity")
	}
	return Caller{ARN: answer.Arn, Account: answer.Account, UserID: answer.UserID, Principal: pr}, nil
}

// now returns the verifier's current time.
func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// maxAge returns the verifier's MaxAge or its default.
func (v *Verifier) maxAge() time.Duration {
	if v.MaxAge > 0 {
		return v.MaxAge
	}
	return DefaultMaxAge
}

// client returns the HTTP client for STS, never following redirects.
func (v *Verifier) client() *http.Client {
	c := http.Client{Timeout: defaultTimeout}
	if v.HTTPClient != nil {
		c = *v.HTTPClient
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}
