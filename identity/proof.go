package identity

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Header is the HTTP header that carries the proof on an API call.
const Header = "X-Ffb-Identity"

// ServerIDHeader is the signed header inside the STS request that names the
// deployment the proof is for (e.g. the stack name).
const ServerIDHeader = "X-Ffb-Server-Id"

// DigestHeader is the signed header inside the STS request that holds the
// Digest of the API request the proof is for.
const DigestHeader = "X-Ffb-Request-Digest"

// MaxProofSize is the largest proof (the header value) Verify decodes, in bytes.
const MaxProofSize = 16 << 10

// maxServerIDLen bounds a server id; stack names have at most 128 characters.
const maxServerIDLen = 128

// The one STS request a proof may be.
const (
	stsService     = "sts"
	stsBody        = "Action=GetCallerIdentity&Version=2011-06-15"
	stsContentType = "application/x-www-form-urlencoded; charset=utf-8"
	amzDateFormat  = "20060102T150405Z"
	signingAlgo    = "AWS4-HMAC-SHA256"
	scopeTerminal  = "aws4_request"
)

// Header names as they appear, canonicalised, in a proof.
const (
	hdrAuthorization = "Authorization"
	hdrAmzDate       = "X-Amz-Date"
	hdrContentLength = "Content-Length"
	hdrContentType   = "Content-Type"
	hdrHost          = "Host"
)

// wireProof is the JSON a proof encodes: the signed STS request, verbatim.
type wireProof struct {
	Method  string              `json:"method"`
	URL     string              `json:"url"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
}

// validServerID reports whether id can be a server id: 1 to 128 visible ASCII
// characters, so that SigV4's whitespace folding cannot make two ids sign alike.
func validServerID(id string) bool {
	if id == "" || len(id) > maxServerIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// configuredEndpoint returns the STS base endpoint the SDK's own configuration
// names (AWS_ENDPOINT_URL_STS, the services section of the shared config,
// cfg.BaseEndpoint / AWS_ENDPOINT_URL), or "" for the regional default.
func configuredEndpoint(cfg aws.Config) string {
	if ep := sts.NewFromConfig(cfg).Options().BaseEndpoint; ep != nil {
		return *ep
	}
	return ""
}

// stsEndpoint returns the STS URL a proof is sent to: endpoint with path "/",
// or, when endpoint is "", the SDK's regional default for region.
func stsEndpoint(ctx context.Context, endpoint, region string) (*url.URL, error) {
	if endpoint == "" {
		if region == "" {
			return nil, fmt.Errorf("no region and no STS endpoint")
		}
		ep, err := sts.NewDefaultEndpointResolverV2().ResolveEndpoint(ctx, sts.EndpointParameters{Region: aws.String(region)})
		if err != nil {
			return nil, fmt.Errorf("resolve the STS endpoint of region %s: %w", region, err)
		}
		u := ep.URI
		return checkEndpoint(&u)
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("STS endpoint is not a URL")
	}
	return checkEndpoint(u)
}

// checkEndpoint accepts an http(s) base URL with a host, no credentials, no
// query and no path but "/", and returns it with path "/".
func checkEndpoint(u *url.URL) (*url.URL, error) {
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Trim(u.Path, "/") != "" {
		return nil, fmt.Errorf("STS endpoint %q is not an http(s) base URL", u.Redacted())
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/"}, nil
}
