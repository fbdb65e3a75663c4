package identity

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Signer makes proofs with the caller's own credentials: a SigV4-signed
// sts:GetCallerIdentity request whose signed headers bind it to one deployment
// and one API request. It never sends the request itself.
type Signer struct {
	// Credentials are the caller's AWS credentials; a proof carries the access
	// key id and session token, never the secret key.
	Credentials aws.CredentialsProvider
	// Region is the signing region; it must be the region of the verifier's STS
	// endpoint (the API's region), not necessarily the caller's default.
	Region string
	// Endpoint is the STS endpoint base URL; "" is the SDK's regional default,
	// https://sts.<Region>.amazonaws.com in the aws partition.
	Endpoint string
	// ServerID names the deployment the proof is for (e.g. the stack name).
	ServerID string
	// Now returns the signing time; nil is time.Now.
	Now func() time.Time
}

// NewSigner returns a Signer with cfg's credentials and region and the STS
// endpoint the SDK's configuration names (AWS_ENDPOINT_URL_STS, the shared
// config's services section, cfg.BaseEndpoint / AWS_ENDPOINT_URL), else the
// regional default.
func NewSigner(cfg aws.Config, serverID string) *Signer {
	return &Signer{
		Credentials: cfg.Credentials,
		Region:      cfg.Region,
		Endpoint:    configuredEndpoint(cfg),
		ServerID:    serverID,
	}
}

// Proof returns the value of the Header for the API request r: the base64url
// (unpadded) JSON of the signed STS request's method, URL, headers and body.
func (s *Signer) Proof(ctx context.Context, r Request) (string, error) {
	if !validServerID(s.ServerID) {
		return "", errors.New("identity: signer: the server id must be 1 to 128 visible ASCII characters")
	}
	if s.Credentials == nil {
		return "", errors.New("identity: signer: no AWS credentials")
	}
	if s.Region == "" {
		return "", errors.New("identity: signer: no region")
	}
	endpoint, err := stsEndpoint(ctx, s.Endpoint, s.Region)
	if err != nil {
		return "", fmt.Errorf("identity: signer: %w", err)
	}
	creds, err := s.Credentials.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("identity: signer: retrieve AWS credentials: %w", err)
	}
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return "", errors.New("identity: signer: the AWS credentials have no access key")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint.String(), strings.NewReader(stsBody))
	if err != nil {
		return "", fmt.Errorf("identity: signer: %w", err)
	}
	req.Header.Set(hdrContentType, stsContentType)
	req.Header.Set(ServerIDHeader, s.ServerID)
	req.Header.Set(DigestHeader, Digest(r))
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	payload := sha256.Sum256([]byte(stsBody))
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(payload[:]), stsService, s.Region, now()); err != nil {
		return "", fmt.Errorf("identity: signer: sign the STS request: %w", err)
	}
	headers := req.Header.Clone()
	headers.Set(hdrContentLength, strconv.Itoa(len(stsBody))) // signed from req.ContentLength
	b, err := json.Marshal(wireProof{Method: req.Method, URL: req.URL.String(), Headers: headers, Body: stsBody})
	if err != nil {
		return "", fmt.Errorf("identity: signer: encode the proof: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
