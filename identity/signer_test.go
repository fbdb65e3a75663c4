package identity_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/ffbroker/ffbroker/identity"
)

// TestNewSignerEndpoint checks where NewSigner and NewVerifier send proofs:
// the SDK's configured STS endpoint, else the regional default.
func TestNewSignerEndpoint(t *testing.T) {
	load := func(t *testing.T, env map[string]string, opts ...func(*config.LoadOptions) error) aws.Config {
		t.Helper()
		for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_PROFILE"} {
			t.Setenv(k, env[k])
		}
		t.Setenv("AWS_CONFIG_FILE", "/dev/null")
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
		opts = append(opts, config.WithRegion("eu-west-1"), config.WithCredentialsProvider(static(fakeCreds)))
		cfg, err := config.LoadDefaultConfig(t.Context(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cases := []struct {
		name string
		env  map[string]string
		opts []func(*config.LoadOptions) error
		want string // the proof's URL
	}{
		{"regional default", nil, nil, "https://sts.eu-west-1.amazonaws.com/"},
		{"AWS_ENDPOINT_URL", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"}, nil, "http://127.0.0.1:4566/"},
		{"AWS_ENDPOINT_URL_STS wins", map[string]string{"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:5000"}, nil, "http://127.0.0.1:5000/"},
		{"BaseEndpoint option", nil, []func(*config.LoadOptions) error{config.WithBaseEndpoint("http://localhost:9/")}, "http://localhost:9/"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := load(t, tc.env, tc.opts...)
			w := decodeProof(t, proof(t, identity.NewSigner(cfg, serverID), approveReq))
			if w.URL != tc.want {
				t.Errorf("NewSigner proof URL = %q; want %q", w.URL, tc.want)
			}
			v := identity.NewVerifier(cfg, serverID, nil)
			if v.Region != "eu-west-1" || v.ServerID != serverID {
				t.Errorf("NewVerifier() = region %q server %q; want eu-west-1, %s", v.Region, v.ServerID, serverID)
			}
			// The verifier resolves the same endpoint: the proof is not refused for its host.
			v.Now = nil
			_, err := v.Verify(t.Context(), (wire{Method: "POST", URL: tc.want + "?x", Headers: w.Headers, Body: w.Body}).encode(t), approveReq)
			if got := identity.ReasonOf(err); got != identity.ReasonWrongAction {
				t.Errorf("NewVerifier Verify(proof for %s with a query) reason = %q (%v); want wrong_action, i.e. the host was accepted", tc.want, got, err)
			}
		})
	}
}

func TestSignerProof(t *testing.T) {
	w := decodeProof(t, proof(t, &identity.Signer{Credentials: static(fakeCreds), Region: "us-east-1", Endpoint: "http://127.0.0.1:1", ServerID: serverID}, approveReq))
	if w.Method != "POST" || w.Body != "Action=GetCallerIdentity&Version=2011-06-15" || w.URL != "http://127.0.0.1:1/" {
		t.Errorf("proof = %s %s %q; want POST http://127.0.0.1:1/ with the GetCallerIdentity form", w.Method, w.URL, w.Body)
	}
	if got := w.Headers[identity.ServerIDHeader]; len(got) != 1 || got[0] != serverID {
		t.Errorf("proof %s = %q; want %q", identity.ServerIDHeader, got, serverID)
	}
	if got := w.Headers[identity.DigestHeader]; len(got) != 1 || got[0] != identity.Digest(approveReq) {
		t.Errorf("proof %s = %q; want Digest(approveReq)", identity.DigestHeader, got)
	}
	auth := w.Headers["Authorization"][0]
	for _, want := range []string{"AWS4-HMAC-SHA256 Credential=" + fakeCreds.AccessKeyID + "/", "/us-east-1/sts/aws4_request", "host", "x-amz-date", "x-amz-security-token", "x-ffb-request-digest", "x-ffb-server-id"} {
		if !contains(auth, want) {
			t.Errorf("Authorization = %q; want it to contain %q", auth, want)
		}
	}
	raw := proof(t, &identity.Signer{Credentials: static(fakeCreds), Region: "us-east-1", Endpoint: "http://127.0.0.1:1", ServerID: serverID}, approveReq)
	if contains(raw, fakeCreds.SecretAccessKey) || contains(string(mustDecode(t, raw)), fakeCreds.SecretAccessKey) {
		t.Errorf("proof contains the secret key")
	}
}

func TestSignerErrors(t *testing.T) {
	ok := identity.Signer{Credentials: static(fakeCreds), Region: "us-east-1", ServerID: serverID}
	cases := []struct {
		name string
		edit func(s *identity.Signer)
	}{
		{"no server id", func(s *identity.Signer) { s.ServerID = "" }},
		{"server id with a newline", func(s *identity.Signer) { s.ServerID = "a\nb" }},
		{"no credentials", func(s *identity.Signer) { s.Credentials = nil }},
		{"no region", func(s *identity.Signer) { s.Region = "" }},
		{"endpoint with a path", func(s *identity.Signer) { s.Endpoint = "http://127.0.0.1:1/sts" }},
		{"endpoint with a query", func(s *identity.Signer) { s.Endpoint = "http://127.0.0.1:1/?Action=GetSessionToken" }},
		{"endpoint not a URL", func(s *identity.Signer) { s.Endpoint = "::" }},
		{"credentials that fail", func(s *identity.Signer) { s.Credentials = aws.AnonymousCredentials{} }},
		{"credentials without a key", func(s *identity.Signer) { s.Credentials = emptyCreds{} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.edit(&s)
			if p, err := s.Proof(t.Context(), approveReq); err == nil {
				t.Errorf("Proof() = %q, nil; want an error", p)
			}
		})
	}
}

// emptyCreds is a provider that returns no key and no error.
type emptyCreds struct{}

// Retrieve returns empty credentials.
func (emptyCreds) Retrieve(context.Context) (aws.Credentials, error) { return aws.Credentials{}, nil }
